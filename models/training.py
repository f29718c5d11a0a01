"""Train one kind end to end and track it: data → ranker → evaluation → MLflow run → registry (challenger)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from features.feature_definitions import features_for
from features.population.store import PopulationStore
from features.register import MODEL_TRAINING, processing
from features.settings import Settings
from features.vocabulary import K, NDCG_AT_K
from features.vault.snapshot import feedback_path
from models import tracking
from models.compute_engine import DASK, LOCAL, check_engine, engine_client
from models.datasets import CAREER_CANDIDATES, RankingData, build_ranking_data
from models.evaluation import occupation_recovery, ranking_report, suggestion_report
from models.lineage import log_lineage
from models.plots import importance_figure, shap_summary_figure
from models.ranker import ScoringModel, SuggestionRanker
from models.resources import load_resources
from models.suggest import Suggester

if TYPE_CHECKING:
    from models.distributed_training import DistributedSuggestionRanker

PIP_REQUIREMENTS = ["lightgbm==4.7.0", "numpy==2.4.6", "pandas==3.1.1", "scikit-learn==1.9.1"]
SHAP_SAMPLE = 2_000


@dataclass(frozen=True)
class TrainingResult:
    kind: str
    run_id: str
    version: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    timings_s: dict[str, float] = field(default_factory=dict)


def feedback_digest(store: PopulationStore) -> str:
    """SHA-256 of the snapshot's feedback labels ("none" without any), logged beside the dataset digest."""
    feedback = feedback_path(store.folder)
    return hashlib.sha256(feedback.read_bytes()).hexdigest() if feedback.is_file() else "none"


def _flat(prefix: str, metrics: dict) -> dict[str, float]:
    return {f"{prefix}{key}": float(value) for key, value in metrics.items() if np.isfinite(value)}


def train_kind(kind: str, *, store: PopulationStore, settings: Settings, params: dict | None = None,
               progress: bool = True, echo: Callable[[str], None] = lambda line: None, engine: str = LOCAL,
               scheduler: str | None = None) -> TrainingResult:
    """Train, evaluate on held-out citizens, log to MLflow, register as ``loopbaan-<kind>`` with alias challenger.

    ``engine="dask"`` trains with ``lightgbm.dask`` on the cluster at ``scheduler`` (a LocalCluster started here
    without one; connected first, so a wrong address fails before the data is built); everything else — data,
    evaluation, metrics, MLflow run, registration — is the same as local training.
    """
    check_engine(engine, scheduler=scheduler)
    cluster = engine_client(engine, scheduler=scheduler)
    with processing(MODEL_TRAINING), cluster as client:
        return _train_kind(kind, store=store, settings=settings, params=params, progress=progress, echo=echo,
                           client=client)


def _fit(kind: str, data: RankingData, *, params: dict | None, seed: int, progress: bool,
         client) -> SuggestionRanker | DistributedSuggestionRanker:
    train, valid = data.sets["train"], data.sets["valid"]
    if client is None:
        ranker = SuggestionRanker(kind=kind, params=params, seed=seed)
    else:
        from models.distributed_training import DistributedSuggestionRanker

        ranker = DistributedSuggestionRanker(kind=kind, client=client, params=params, seed=seed)
    return ranker.fit(train.features, train.labels, group=train.group_sizes(), eval_X=valid.features,
                      eval_y=valid.labels, eval_group=valid.group_sizes(), progress=progress)


def _train_kind(kind: str, *, store: PopulationStore, settings: Settings, params: dict | None, progress: bool,
                echo: Callable[[str], None], client) -> TrainingResult:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    resources = load_resources(kind, store=store, settings=settings)
    data = build_ranking_data(resources, seed=settings.seed, progress=progress)
    timings["data_s"] = time.perf_counter() - started
    sizes = {role: (len(ranking.labels), ranking.n_groups) for role, ranking in data.sets.items()}
    echo(f"{kind}: data ready in {timings['data_s']:.1f} s (train {sizes['train'][1]:,} queries / "
         f"{sizes['train'][0]:,} pairs, valid {sizes['valid'][1]:,}, test {sizes['test'][1]:,} held-out queries)")

    started = time.perf_counter()
    if client is not None:
        echo(f"{kind}: training on {len(client.scheduler_info()['workers'])} Dask workers")
    ranker = _fit(kind, data, params=params, seed=settings.seed, progress=progress, client=client)
    timings["fit_s"] = time.perf_counter() - started
    engine = {"engine": LOCAL} if client is None else {"engine": DASK, "dask_workers": ranker.workers_}
    model = ScoringModel(kind=kind, booster=ranker.booster_)

    started = time.perf_counter()
    as_of = date.fromisoformat(store.manifest["config"]["as_of"])
    report = ranking_report(data=data, model=model, catalogue_size=len(resources.catalogue), seed=settings.seed)
    suggester = Suggester(resources=resources, model=model)
    metrics = {**report["model"], **suggestion_report(suggester=suggester, citizen_ids=data.split["test"],
                                                        as_of=as_of, seed=settings.seed)}
    if kind == "careers":
        hits = occupation_recovery(suggester=suggester, occupations=np.arange(len(resources.catalogue)),
                                   seed=settings.seed + 1, as_of=as_of)
        metrics[f"occupation_recovery_at_{K}"] = float(hits.mean())
    timings["evaluate_s"] = time.perf_counter() - started
    baselines = {name: values for name, values in report.items() if name != "model"}
    best = max(baselines, key=lambda name: baselines[name][NDCG_AT_K])
    metrics["lift_over_best_baseline"] = metrics[NDCG_AT_K] / max(baselines[best][NDCG_AT_K], 1e-12) - 1.0
    echo(f"{kind}: NDCG@{K} {metrics[NDCG_AT_K]:.3f} on held-out citizens vs best baseline {best} "
         f"{baselines[best][NDCG_AT_K]:.3f} ({metrics['lift_over_best_baseline']:+.1%}); "
         f"best iteration {ranker.best_iteration_}, fit {timings['fit_s']:.1f} s")

    started = time.perf_counter()
    run_id, version = _log_run(kind=kind, settings=settings, store=store, digest=store.digest(), data=data,
                               ranker=ranker, model=model, metrics=metrics, baselines=baselines, timings=timings,
                               engine=engine)
    timings["log_s"] = time.perf_counter() - started
    echo(f"{kind}: registered {tracking.registered_name(kind)} version {version} as '{tracking.CHALLENGER}' "
         f"(run {run_id})")
    return TrainingResult(kind=kind, run_id=run_id, version=version, metrics=metrics, baselines=baselines,
                          timings_s=timings)


def _log_run(*, kind: str, settings: Settings, store: PopulationStore, digest: str, data: RankingData,
             ranker: SuggestionRanker | DistributedSuggestionRanker, model: ScoringModel, metrics: dict,
             baselines: dict, timings: dict, engine: dict) -> tuple[str, str]:
    import matplotlib.pyplot as plt
    import mlflow
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    client = tracking.configure(settings)
    experiment_id = tracking.ensure_experiment(client, kind, settings)
    train, valid = data.sets["train"], data.sets["valid"]
    columns = list(features_for(kind))
    config = store.manifest["config"]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.log_params({**{f"lgbm.{key}": value for key, value in ranker.params.items()},
                           "kind": kind, "seed": settings.seed, "dataset_digest": digest,
                           "population_citizens": config["citizens"], "population_seed": config["seed"],
                           "population_as_of": config["as_of"], "population_bias": str(config.get("bias")),
                           "features": ",".join(columns), "train_queries": train.n_groups,
                           "valid_queries": valid.n_groups, "test_queries": data.sets["test"].n_groups,
                           "time_cutoff": str(data.time_cutoff), "career_candidates": CAREER_CANDIDATES,
                           "best_iteration": ranker.best_iteration_, "feedback_labels": data.feedback_labels,
                           "feedback_digest": feedback_digest(store), **engine})
        dataset = mlflow.data.from_pandas(train.features.head(10_000), name=f"{kind}-train",
                                          digest=digest[:32])
        mlflow.log_input(dataset, context="training")
        mlflow.log_metrics(_flat("", metrics))
        for name, values in baselines.items():
            mlflow.log_metrics(_flat(f"baseline_{name}_", values))
        mlflow.log_metrics({f"time_{key}": value for key, value in timings.items()})
        mlflow.set_tags({"kind": kind, "synthetic_data": "true", "population_folder": str(store.folder),
                         "best_baseline": max(
            baselines, key=lambda name: baselines[name][NDCG_AT_K])})

        figure = importance_figure(names=columns, gains=ranker.booster_.feature_importance("gain"), kind=kind)
        mlflow.log_figure(figure, "feature_importance.png")
        sample = valid.features.sample(min(SHAP_SAMPLE, len(valid.features)), random_state=settings.seed)
        figure = shap_summary_figure(contributions=model.contributions(sample), features=sample, kind=kind)
        mlflow.log_figure(figure, "shap_summary.png")
        plt.close(figure)  # the pyplot figure shap drew on, opened for it alone
        lineage = log_lineage({"train": data.split["train"], "valid": data.split["valid"]})

        example = valid.features[columns].head(5)
        info = mlflow.lightgbm.log_model(
            ranker.booster_, name="model", signature=infer_signature(example, model.predict(example)),
            input_example=example, pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=tracking.registered_name(kind))
        version = str(info.registered_model_version)
        client.set_registered_model_alias(tracking.registered_name(kind), tracking.CHALLENGER, version)
        client.set_model_version_tag(tracking.registered_name(kind), version, NDCG_AT_K,
                                     f"{metrics[NDCG_AT_K]:.4f}")
        client.set_model_version_tag(tracking.registered_name(kind), version, "dataset_digest", digest)
        for key, value in lineage.items():
            client.set_model_version_tag(tracking.registered_name(kind), version, key, value)
        return run.info.run_id, version
