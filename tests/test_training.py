"""Training, tracking and suggesting end to end on the small population (trained once per session)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.citizens import cold_start_context, contexts_from_store
from features.feature_definitions import BARRIER_FEATURES, features_for
from features.population import PopulationStore
from features.settings import Settings
from models import tracking
from models.datasets import build_ranking_data
from models.evaluation import occupation_recovery
from models.resources import load_resources
from models.suggest import Suggester
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow  # trains all three kinds once per session (about a minute)

KINDS = ("jobs", "trainings", "careers")
AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def store(small_population_dir: Path) -> PopulationStore:
    return PopulationStore(small_population_dir)


@pytest.fixture(scope="module")
def settings(trained_home: Path) -> Settings:
    return Settings(home=trained_home)


@pytest.fixture(scope="module")
def suggesters(store: PopulationStore, settings: Settings) -> dict[str, Suggester]:
    out = {}
    for kind in KINDS:
        loaded = tracking.load_model(kind, alias=tracking.CHALLENGER, settings=settings)
        out[kind] = Suggester(resources=load_resources(kind, store=store, settings=settings), model=loaded.model)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_model_is_registered_with_challenger_alias_and_reloads(kind: str, settings: Settings) -> None:
    client = tracking.configure(settings)
    versions = tracking.model_versions(client, kind)
    assert len(versions) == 1 and versions[0]["aliases"] == [tracking.CHALLENGER]
    assert tracking.CHAMPION not in versions[0]["aliases"]  # only the promotion command may set it
    run = client.get_run(versions[0]["run_id"])
    for key in ("ndcg_at_10", "recall_at_10", "map", "coverage", "baseline_popularity_ndcg_at_10",
                "baseline_overlap_ndcg_at_10", "baseline_semantic_ndcg_at_10"):
        assert key in run.data.metrics, key
    assert len(run.data.params["dataset_digest"]) == 64 and run.data.params["seed"] == str(settings.seed)
    artifacts = {entry.path for entry in client.list_artifacts(run.info.run_id)}
    assert {"feature_importance.png", "shap_summary.png"} <= artifacts
    loaded = tracking.load_model(kind, alias=tracking.CHALLENGER, settings=settings)
    assert loaded.model.feature_names == list(features_for(kind))
    assert loaded.version == versions[0]["version"]

    import mlflow

    info = mlflow.models.get_model_info(f"models:/{tracking.registered_name(kind)}@{tracking.CHALLENGER}")
    assert info.signature is not None and info.saved_input_example_info is not None


def test_missing_alias_gets_a_clear_message(settings: Settings) -> None:
    from features.errors import LoopbaanError

    with pytest.raises(LoopbaanError, match="no model version of loopbaan-jobs holds the alias 'champion'"):
        tracking.load_model("jobs", alias=tracking.CHAMPION, settings=settings)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_suggestion_is_explained_exactly(kind: str, language: str, suggesters, store) -> None:
    suggester = suggesters[kind]
    citizens = store.table("citizens")["citizen_id"].to_numpy()[:5]
    context = contexts_from_store(store=store, taxonomy=suggester.resources.taxonomy, citizen_ids=citizens, as_of=AS_OF)
    lists = suggester.suggest(context, k=8, language=language)
    assert len(lists) == len(citizens)
    for suggestions in lists:
        assert len(suggestions) == 8
        assert [s.rank for s in suggestions] == list(range(1, 9))
        assert all(a.score >= b.score - 1e-9 for a, b in itertools.pairwise(suggestions))
        for suggestion in suggestions:
            explanation = suggestion.explanation
            total = explanation.base_value + sum(part.contribution for part in explanation.contributions)
            assert total == pytest.approx(suggestion.score, abs=1e-6)
            # the score is the model's own prediction for the feature values shown in the explanation
            shown = pd.DataFrame([{part.feature: np.nan if part.value is None else part.value
                                   for part in explanation.contributions}])
            assert suggester.model.predict(shown)[0] == pytest.approx(suggestion.score, abs=1e-6)
            assert {part.feature for part in explanation.contributions} == set(features_for(kind))
            effects = [abs(part.contribution) for part in explanation.contributions]
            assert effects == sorted(effects, reverse=True)
            assert all(part.sentence for part in explanation.contributions) and explanation.summary
            assert suggestion.readiness in ("ready", "bridgeable", "stretch")
            assert suggestion.title
            contributions = {part.feature: part.contribution for part in explanation.contributions}
            for barrier in suggestion.barriers:
                names = [name for name in BARRIER_FEATURES[barrier.barrier] if name in contributions]
                assert barrier.effect == pytest.approx(sum(contributions[name] for name in names))
            if suggestion.readiness == "bridgeable" and kind != "trainings":
                assert suggestion.bridging_trainings and suggestion.missing_competencies


def test_barriers_appear_only_when_present(suggesters, store) -> None:
    suggester = suggesters["jobs"]
    citizens = store.table("citizens")["citizen_id"].to_numpy()[:40]
    context = contexts_from_store(store=store, taxonomy=suggester.resources.taxonomy, citizen_ids=citizens, as_of=AS_OF)
    seen = set()
    for suggestions in suggester.suggest(context, k=10, language="en"):
        for suggestion in suggestions:
            values = {part.feature: part.value for part in suggestion.explanation.contributions}
            kinds = {barrier.barrier for barrier in suggestion.barriers}
            assert ("licence" in kinds) == (values["licence_missing"] == 1)
            assert ("commute" in kinds) == (values["commute_excess"] > 0)
            seen |= kinds
    assert seen, "forty citizens without a single barrier: the barrier check cannot be trusted"


def test_cold_start_with_competencies_or_a_typed_title(suggesters) -> None:
    suggester = suggesters["careers"]
    taxonomy = suggester.resources.taxonomy
    welder = taxonomy.occupations.index[taxonomy.occupations["label_nl"] == "lasser"][0]
    context, matched = cold_start_context(taxonomy=taxonomy, title="lasser", as_of=AS_OF)
    assert matched == taxonomy.occupations["uri"].iloc[welder]
    [suggestions] = suggester.suggest(context, k=10, language="nl")
    assert len(suggestions) == 10
    essential = taxonomy.relation_matrix("essential")
    some = taxonomy.competencies["uri"].to_numpy()[essential.indices[essential.indptr[welder]:essential.indptr[welder] + 4]]
    context, matched = cold_start_context(taxonomy=taxonomy, competency_uris=list(some), as_of=AS_OF)
    assert matched is None
    for kind in KINDS:
        [suggestions] = suggesters[kind].suggest(context, k=5, language="en")
        assert len(suggestions) == 5 and all(not s.barriers for s in suggestions)  # nothing known, nothing claimed


def test_careers_finds_an_occupation_from_part_of_its_competencies(suggesters) -> None:
    """60% of an occupation's essential competencies plus three unrelated ones: it must be in the top 10."""
    suggester = suggesters["careers"]
    sample = np.random.default_rng(11).choice(len(suggester.resources.catalogue), size=400, replace=False)
    hits = occupation_recovery(suggester=suggester, occupations=sample, seed=5, as_of=AS_OF)
    assert hits.mean() >= 0.99, f"{(~hits).sum()} of {len(hits)} occupations missed"


def test_careers_model_beats_its_baselines_on_held_out_citizens(settings: Settings) -> None:
    client = tracking.configure(settings)
    metrics = tracking.model_versions(client, "careers")[0]["metrics"]
    best = max(metrics[f"baseline_{name}_ndcg_at_10"] for name in ("popularity", "overlap", "semantic"))
    assert metrics["ndcg_at_10"] > best


def test_splits_do_not_leak(store: PopulationStore, settings: Settings) -> None:
    resources = load_resources("careers", store=store, settings=settings)
    data = build_ranking_data(resources, seed=3)
    roles = {role: set(ranking.citizen_ids[ranking.citizen_ids >= 0].tolist()) for role, ranking in data.sets.items()}
    assert not roles["train"] & roles["test"] and not roles["valid"] & roles["test"]
    assert not roles["train"] & roles["valid"]
    assert roles["test"] <= set(data.split["test"].tolist())
    cutoff = np.datetime64(data.time_cutoff, "D")
    for role in ("train", "valid"):
        moves = data.sets[role].citizen_ids >= 0
        assert moves.any() and (data.sets[role].dates[moves] < cutoff).all()
    test_set = data.sets["test"]
    assert (test_set.citizen_ids >= 0).all()  # cold-start queries only ever train, never test
    assert (test_set.dates >= cutoff).all()


@pytest.mark.parametrize("kind", ["jobs", "trainings"])
def test_logged_outcomes_split_by_citizen_and_time(kind: str, store: PopulationStore, settings: Settings) -> None:
    data = build_ranking_data(load_resources(kind, store=store, settings=settings), seed=3)
    roles = {role: set(ranking.citizen_ids.tolist()) for role, ranking in data.sets.items()}
    assert not roles["train"] & roles["test"] and not roles["valid"] & roles["test"]
    assert not roles["train"] & roles["valid"]
    assert data.sets["train"].dates.max() <= data.sets["test"].dates.min()
    assert data.sets["valid"].dates.max() <= data.sets["test"].dates.min()


def test_profiles_as_of_a_date_hold_only_earlier_evidence(store: PopulationStore) -> None:
    from features.esco import load_esco

    taxonomy = load_esco()
    profiles = store.table("profiles")
    citizen = int(profiles.groupby("citizen_id")["evidence_date"].nunique().idxmax())
    dates = np.sort(profiles.loc[profiles["citizen_id"] == citizen, "evidence_date"].unique())
    middle = np.datetime64(dates[len(dates) // 2], "D")
    context = contexts_from_store(store=store, taxonomy=taxonomy, citizen_ids=np.array([citizen, citizen]),
                                  as_of=np.array([middle, np.datetime64(AS_OF, "D")]))
    early, late = context.profile[0], context.profile[1]
    mine = profiles[profiles["citizen_id"] == citizen]
    allowed = set(mine.loc[mine["evidence_date"].to_numpy().astype("datetime64[D]") <= middle, "competency_uri"].astype(str))
    held_early = set(taxonomy.competencies["uri"].to_numpy()[early.indices])
    assert held_early == allowed and early.nnz < late.nnz


def test_the_pipeline_never_reads_sensitive_attributes(small_population_dir: Path, settings: Settings) -> None:
    read: list[str] = []

    class SpyStore(PopulationStore):
        def table(self, name: str):
            read.append(name)
            return super().table(name)

    spy = SpyStore(small_population_dir)
    for kind in KINDS:
        resources = load_resources(kind, store=spy, settings=settings)
        build_ranking_data(resources, seed=1)
        loaded = tracking.load_model(kind, alias=tracking.CHALLENGER, settings=settings)
        context = contexts_from_store(store=spy, taxonomy=resources.taxonomy,
                                      citizen_ids=spy.table("citizens")["citizen_id"].to_numpy()[:3], as_of=AS_OF)
        Suggester(resources=resources, model=loaded.model).suggest(context, k=3)
    assert read and "sensitive" not in read


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPBAAN_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "loopbaan_cli", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT, timeout=600, check=False)


def test_compare_json_shows_versions_aliases_metrics_and_baselines(trained_home: Path) -> None:
    result = _cli("compare", "--json", home=trained_home)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == set(KINDS)
    for kind in KINDS:
        [version] = document[kind]["versions"]
        assert version["aliases"] == ["challenger"] and version["run_id"]
        assert set(version["metrics"]) == {"ndcg@10", "recall@10", "map", "coverage"}
        assert all(isinstance(value, float) for value in version["metrics"].values())
        assert set(document[kind]["baselines"]) == {"popularity", "overlap", "semantic"}
        assert "ndcg@10" in document[kind]["baselines"]["overlap"]
    table = _cli("compare", "--kind", "jobs", home=trained_home)
    assert table.returncode == 0 and "challenger" in table.stdout and "overlap" in table.stdout


def test_train_cli_on_a_fresh_home_registers_a_challenger(isolated_home: Path, small_population_dir: Path) -> None:
    result = _cli("train", "--kind", "trainings", "--data", str(small_population_dir), "--param",
                  "learning_rate=0.1", "--quiet", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "registered loopbaan-trainings version 1 as 'challenger'" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["train", "--kind", "pets"], "is not one of"),
    (["train", "--data", "/no/such/folder"], "no population at /no/such/folder"),
    (["train", "--param", "learning_rate"], "is not key=value"),
    (["train", "--param", "learning_rate=abc"], "needs a number"),
    (["train", "--param", "n_estimators=0"], "at least 1"),
    (["train", "--param", "objective=regression"], "objective must be one of"),
])
def test_train_bad_input_gets_a_message_not_a_traceback(args, message, isolated_home: Path) -> None:
    result = _cli(*args, home=isolated_home)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_train_on_an_empty_population_says_so(isolated_home: Path, small_population_dir: Path, tmp_path: Path) -> None:
    from features.population.schema import SCHEMAS
    from features.population.store import write_population

    source = PopulationStore(small_population_dir)
    catalogues = {"diploma_catalogue", "diploma_competencies", "trainings", "training_competencies", "vacancies",
                  "vacancy_competencies"}
    tables = {name: source.table(name) if name in catalogues else source.table(name).iloc[:0] for name in SCHEMAS}
    empty = tmp_path / "empty"
    write_population(tables=tables, out=empty, manifest=source.manifest, datasheet="empty")
    result = _cli("train", "--kind", "jobs", "--data", str(empty), "--quiet", home=isolated_home)
    assert result.returncode == 2 and "has no citizens" in result.stderr and "Traceback" not in result.stderr
