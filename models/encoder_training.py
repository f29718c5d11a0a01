"""The bilingual search encoder as a tracked model: distil it (:mod:`features.search.distillation`), evaluate it on
held-out concepts against the lexical matcher and the untuned MiniLM (:mod:`features.search.evaluation`), log the
run to MLflow and register ``loopbaan-encoder`` (alias challenger). Which encoder the search uses is
:mod:`models.encoder_registry`.

Only training concepts are seen until the evaluation; validation and test concepts are held out entirely, and the
figures logged are those of that model. A final pass then adds the held-out concepts (with as many rehearsed ones),
so the registered encoder knows every concept's Dutch labels.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from features.minilm import ENCODER_NAME
from features.errors import LoopbaanError
from features.esco import load_esco
from features.search import (
    SearchEncoder,
    base_encoder,
    concept_vectors,
    label_table,
)
from features.search.distillation import (
    EncoderConfig,
    dutch_descriptions,
    final_pass,
    fit,
    sampled,
    student,
    training_data,
)
from features.search.encoders import sensible_threads
from features.search.evaluation import (
    REGIMES,
    SLICES,
    SYSTEMS,
    KindEvaluation,
    evaluate_kind,
    specialty_flags,
    split_concepts,
)
from features.settings import Settings
from features.vocabulary import SEARCH_KINDS
from models import tracking
from models.encoder_registry import ALPHA_TAG, KIND, MODEL_SUBFOLDER

PIP_REQUIREMENTS = ["sentence-transformers==6.2.0", "transformers==5.24.0", "torch==2.13.0"]

ERR_NO_DUTCH = "the taxonomy sample has no Dutch labels to train on; the encoder needs ESCO's Dutch labels."


# Every training text, four times: far better held-out Dutch accuracy than two capped epochs (docs/search.md).
FULL = EncoderConfig(epochs=4, max_fit_minutes=11.0, eval_queries=2_000)
QUICK = EncoderConfig(epochs=1, batch_size=32, max_examples=480, concept_sample=150, eval_queries=150,
                      max_fit_minutes=2.0, final_max_minutes=1.0)


@dataclass(frozen=True)
class EncoderTrainingResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    params: dict[str, object]
    timings_s: dict[str, float] = field(default_factory=dict)


def train_encoder(*, settings: Settings, quick: bool, progress: bool,
                  echo: Callable[[str], None] = lambda line: None,
                  config: EncoderConfig | None = None) -> EncoderTrainingResult:
    """Distil, evaluate on held-out concepts, log to MLflow and register ``loopbaan-encoder`` (alias challenger)."""
    config = config or (QUICK if quick else FULL)
    seed = settings.seed
    timings: dict[str, float] = {}
    started = time.perf_counter()
    taxonomy = load_esco()
    teacher = base_encoder()
    tables = {kind: sampled(label_table(taxonomy, kind), sample=config.concept_sample, seed=seed) for kind in SEARCH_KINDS}
    splits = {kind: split_concepts(table.n_concepts, seed=seed, test_fraction=config.test_fraction,
                                   valid_fraction=config.valid_fraction) for kind, table in tables.items()}
    vectors = {kind: concept_vectors(table, document_encoder=teacher, cache_dir=settings.cache_dir,
                                     progress=progress) for kind, table in tables.items()}
    timings["teacher_s"] = time.perf_counter() - started
    descriptions = ({kind: dutch_descriptions(taxonomy, kind, table.uris) for kind, table in tables.items()}
                    if config.descriptions else {})
    data = training_data(tables, vectors, {kind: split.train for kind, split in splits.items()}, descriptions)
    if not data.dutch:
        raise LoopbaanError(ERR_NO_DUTCH)
    sources = {source: sum(example.source == source for example in [*data.dutch, *data.english])
               for source in ("nl-label", "nl-description", "en-label")}
    echo(f"encoder: training on {', '.join(f'{len(splits[kind].train):,} {kind}' for kind in SEARCH_KINDS)} "
         f"({', '.join(f'{count:,} {source}' for source, count in sources.items())}); held out "
         + ", ".join(f"{len(splits[kind].held_out):,} {kind}" for kind in SEARCH_KINDS)
         + f"; teacher concept vectors in {timings['teacher_s']:.0f} s")

    started = time.perf_counter()
    model = student(layers=config.layers, max_tokens=config.max_tokens)
    threads = sensible_threads()
    losses = fit(model, data, config=config, seed=seed, progress=progress, echo=echo, threads=threads)
    timings["fit_s"] = time.perf_counter() - started

    started = time.perf_counter()
    tuned = SearchEncoder.from_model(model, identity=f"{KIND}-candidate-{time.time_ns()}", description="candidate",
                                     tuned=True)
    evaluations = {kind: evaluate_kind(tables[kind], splits[kind], vectors=vectors[kind], tuned=tuned,
                                       untuned=teacher, eval_queries=config.eval_queries, seed=seed,
                                       specialties=specialty_flags(taxonomy, tables[kind]))
                   for kind in SEARCH_KINDS}
    timings["evaluate_s"] = time.perf_counter() - started
    _echo_table(evaluations, echo)

    if config.final_pass:
        started = time.perf_counter()
        losses.update(final_pass(model, tables=tables, vectors=vectors, splits=splits, descriptions=descriptions,
                                  config=config, seed=seed, progress=progress, echo=echo, threads=threads))
        timings["final_pass_s"] = time.perf_counter() - started
    metrics = _metrics(evaluations, losses=losses, examples=sum(sources.values()))

    started = time.perf_counter()
    params = {**asdict(config), "quick": quick, "seed": seed, "base_model": ENCODER_NAME,
              "taxonomy": taxonomy.source, "method": "asymmetric multilingual distillation",
              "torch_threads": threads,
              **{f"examples_{source.replace('-', '_')}": count for source, count in sources.items()},
              **{f"alpha_{kind}": evaluations[kind].alpha for kind in SEARCH_KINDS},
              **{f"concepts_{kind}": tables[kind].n_concepts for kind in SEARCH_KINDS}}
    run_id, version = _log_run(model=model, settings=settings, params=params, metrics=metrics,
                               alphas={kind: evaluations[kind].alpha for kind in SEARCH_KINDS}, evaluations=evaluations,
                               timings=timings)
    timings["log_s"] = time.perf_counter() - started
    echo(f"encoder: registered {tracking.registered_name(KIND)} version {version} as '{tracking.CHALLENGER}' "
         f"(run {run_id}); fit {timings['fit_s']:.0f} s, evaluation {timings['evaluate_s']:.0f} s, final pass "
         f"{timings.get('final_pass_s', 0.0):.0f} s")
    return EncoderTrainingResult(run_id=run_id, version=version, metrics=metrics, params=params, timings_s=timings)


def _metrics(evaluations: dict[str, KindEvaluation], *, losses: dict[str, float],
             examples: int) -> dict[str, float]:
    """Flat MLflow metrics: ``<regime>_<role>_<kind>_<system>_top<k>``, query counts, and ``test_nl_<system>_top<k>``
    (unseen concepts, test split, both kinds pooled by query count: the headline figures)."""
    metrics: dict[str, float] = {**losses, "train_examples": float(examples)}
    for kind, evaluation in evaluations.items():
        for regime, roles in evaluation.results.items():
            for role, systems in roles.items():
                metrics[f"{regime}_{role}_{kind}_queries"] = systems["lexical"]["queries"]
                for system, values in systems.items():
                    for name in ("top1", "top5"):
                        if math.isfinite(values[name]):
                            metrics[f"{regime}_{role}_{kind}_{system}_{name}"] = values[name]
    for regime, prefix in (("concepts", "test_nl"), ("labels", "test_nl_labels"), ("english", "test_en")):
        for system in SYSTEMS:
            for name in ("top1", "top5"):
                pooled = [(evaluation.results[regime]["test"][system][name],
                           evaluation.results[regime]["test"][system]["queries"])
                          for evaluation in evaluations.values()]
                pooled = [(value, count) for value, count in pooled if math.isfinite(value) and count > 0]
                if pooled:
                    metrics[f"{prefix}_{system}_{name}"] = float(np.average([value for value, _ in pooled],
                                                                            weights=[count for _, count in pooled]))
    return metrics


def accuracy_table(evaluations: dict[str, KindEvaluation], *, regime: str = "concepts") -> list[str]:
    """Test accuracy in ``regime`` as text lines: one per system, top-1/top-5 for each kind."""
    header = f"{'system':16s}" + "".join(f"{kind + ' top-1':>20s}{kind + ' top-5':>20s}" for kind in SEARCH_KINDS)
    lines = [header]
    for system in SYSTEMS:
        cells = "".join(f"{evaluations[kind].results[regime]['test'][system][name]:>20.3f}"
                        for kind in SEARCH_KINDS for name in ("top1", "top5"))
        lines.append(f"{system:16s}{cells}")
    counts = ", ".join(f"{int(evaluations[kind].results[regime]['test']['lexical']['queries']):,} {kind}"
                       for kind in SEARCH_KINDS)
    alphas = ", ".join(f"{kind} {evaluations[kind].alpha:g}" for kind in SEARCH_KINDS)
    lines.append(f"(queries: {counts}; fusion alpha chosen on validation concepts: {alphas})")
    return lines


_REGIME_TITLES = {
    "concepts": "Dutch labels of held-out concepts → concept (their Dutch labels removed from the index)",
    "labels": "Dutch alternative labels of held-out concepts → concept (only their Dutch preferred label indexed)",
    "english": "English alternative labels of held-out concepts → concept (removed from the index and the vectors)",
    "gender_forms": "of those alternatives, the ones that are an indexed label in the other gender form",
    "specialties": "Dutch labels of held-out occupations narrower than another occupation (unseen concepts)",
}


def _echo_table(evaluations: dict[str, KindEvaluation], echo: Callable[[str], None]) -> None:
    for regime in (*REGIMES, *SLICES):
        echo(f"encoder: {_REGIME_TITLES[regime]}")
        for line in accuracy_table(evaluations, regime=regime):
            echo("  " + line)


def _log_run(*, model, settings: Settings, params: dict, metrics: dict, alphas: dict[str, float],
             evaluations: dict[str, KindEvaluation], timings: dict) -> tuple[str, str]:
    import mlflow
    import mlflow.sentence_transformers

    client = tracking.configure(settings)
    experiment_id = tracking.ensure_experiment(client, KIND, settings)
    name = tracking.registered_name(KIND)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{KIND}-{time.strftime('%Y%m%d-%H%M%S')}") as run:
        mlflow.log_params({key: (str(value) if value is None else value) for key, value in params.items()})
        mlflow.log_metrics(metrics)
        mlflow.log_metrics({f"time_{key}": value for key, value in timings.items()})
        mlflow.log_text("".join(f"{_REGIME_TITLES[regime]}\n" + "\n".join(accuracy_table(evaluations, regime=regime))
                                + "\n\n" for regime in (*REGIMES, *SLICES)), "heldout_accuracy.txt")
        mlflow.log_dict({kind: {"alpha": evaluation.alpha, **evaluation.results}
                         for kind, evaluation in evaluations.items()}, "heldout_accuracy.json")
        mlflow.set_tags({"kind": KIND, "base_model": ENCODER_NAME, "quick": str(params["quick"]).lower()})
        info = mlflow.sentence_transformers.log_model(model, name="model", pip_requirements=PIP_REQUIREMENTS,
                                                      registered_model_name=name)
        version = str(info.registered_model_version)
        client.set_registered_model_alias(name, tracking.CHALLENGER, version)
        for key in ("test_nl_hybrid_top5", "test_nl_tuned_top5", "test_nl_lexical_top5"):
            if key in metrics:
                client.set_model_version_tag(name, version, key, f"{metrics[key]:.4f}")
        client.set_model_version_tag(name, version, "quick", str(params["quick"]).lower())
        for kind, alpha in alphas.items():
            client.set_model_version_tag(name, version, f"{ALPHA_TAG}{kind}", f"{alpha:g}")
        return run.info.run_id, version
