"""The project's shared words are defined once, in :mod:`features.vocabulary` (and the gate's tags in
:mod:`features.model_tags`): the API's literals are those words, and no package spells them out again."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from features import vocabulary
from features.model_tags import FAIRNESS_TAGS, read_result, result_tags
from tests.conftest import PROJECT_ROOT

PACKAGES = ("features", "models", "assessments", "serving", "loopbaan_cli")
DEFINITIONS = (Path("features/vocabulary.py"), Path("features/model_tags.py"))
FROZEN = Path("features/vault/migrations")  # a migration is a historical record: its SQL keeps its own words
WORDS = {name: getattr(vocabulary, name) for name in ("KINDS", "OCCUPATION_KINDS", "SEARCH_KINDS", "READINESS",
                                                      "BARRIERS", "LANGUAGES", "FEEDBACK_REASONS")}
STRINGS = {vocabulary.NDCG_AT_K: "NDCG_AT_K", **{tag: "features.model_tags" for tag in FAIRNESS_TAGS}}


def _literal_strings(node: ast.expr) -> tuple[str, ...] | None:
    """The strings of a tuple/list literal of strings (None for anything else)."""
    if not isinstance(node, ast.Tuple | ast.List) or not node.elts:
        return None
    if not all(isinstance(element, ast.Constant) and isinstance(element.value, str) for element in node.elts):
        return None
    return tuple(element.value for element in node.elts)


def _word(values: tuple[str, ...] | None) -> str | None:
    return next((name for name, word in WORDS.items() if values == word), None)


def redefinitions(source: str, *, filename: str = "<source>") -> list[str]:
    """Where a module spells out a word of the vocabulary instead of importing it: a module-level tuple/list
    literal equal to one of its tuples (KINDS, ...), a ``Literal[...]`` of one of them, or the string of a metric
    key or a fairness tag anywhere."""
    tree = ast.parse(source, filename=filename)
    found = []
    for statement in tree.body:
        value = statement.value if isinstance(statement, ast.Assign | ast.AnnAssign) else None
        name = _word(_literal_strings(value)) if value is not None else None
        if name:
            found.append(f"{filename}:{statement.lineno}: a tuple equal to {name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and (
                (isinstance(node.value, ast.Name) and node.value.id == "Literal")
                or (isinstance(node.value, ast.Attribute) and node.value.attr == "Literal")):
            name = _word(_literal_strings(node.slice))
            if name:
                found.append(f"{filename}:{node.lineno}: a Literal of {name}")
        elif isinstance(node, ast.Constant) and node.value in STRINGS:
            found.append(f"{filename}:{node.lineno}: the string {node.value!r} ({STRINGS[node.value]})")
    return found


def _package_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (PROJECT_ROOT / package).rglob("*.py")
                  if path.relative_to(PROJECT_ROOT) not in DEFINITIONS
                  and not path.relative_to(PROJECT_ROOT).is_relative_to(FROZEN))


def test_no_package_spells_out_the_vocabulary() -> None:
    modules = _package_modules()
    assert len(modules) > 100  # the scan reads the packages, not an empty folder
    found = [line for path in modules
             for line in redefinitions(path.read_text(encoding="utf-8"), filename=str(path.relative_to(PROJECT_ROOT)))]
    assert found == []


@pytest.mark.parametrize("source", [
    'KINDS = ("jobs", "trainings", "careers")\n',
    'RANKERS: tuple[str, ...] = ["jobs", "trainings", "careers"]\n',
    'RECOURSE = ("jobs", "careers")\n',
    'LANGUAGES = ("nl", "en")\n',
    'from typing import Literal\nKind = Literal["jobs", "trainings", "careers"]\n',
    'import typing\ndef recourse(kind: typing.Literal["jobs", "careers"]) -> None: ...\n',
    'class Barrier:\n    barrier: Literal["commute", "licence", "language", "hours", "education"]\n',
    'FEEDBACK_REASONS = ("too_far", "not_interested", "tried_before", "cannot_meet_requirement", "other")\n',
    'Reason = Literal["too_far", "not_interested", "tried_before", "cannot_meet_requirement", "other"]\n',
    'def best(runs):\n    return max(runs, key=lambda run: run["ndcg_at_10"])\n',
    'def column(suffix):\n    return f"ndcg_at_10{suffix}"\n',
    'PASSED = "fairness.passed"\n',
])
def test_a_spelled_out_word_is_flagged(source: str) -> None:
    assert len(redefinitions(source)) == 1


def test_words_imported_from_the_vocabulary_pass() -> None:
    source = ("from features.vocabulary import KINDS, NDCG_AT_K, Kind\n"
              "ORDER = KINDS\n"
              "PAIR = ('jobs', 'trainings')\n"
              "def best(runs):\n    return max(runs, key=lambda run: run[NDCG_AT_K])\n")
    assert redefinitions(source) == []


def test_the_api_literals_are_the_vocabulary() -> None:
    from serving import schemas

    def choices(model, field: str) -> tuple:
        """The literal choices of a field typed ``Literal[...]``, ``Literal[...] | None`` or ``list[Literal[...]]``."""
        annotation = model.model_fields[field].annotation
        while get_args(annotation) and not all(isinstance(arg, str) for arg in get_args(annotation)):
            annotation = get_args(annotation)[0]
        return get_args(annotation)

    suggestion = schemas.SuggestionOut
    assert choices(suggestion, "kind") == vocabulary.KINDS
    assert choices(suggestion.model_fields["matched_competencies"].annotation.__args__[0], "label_lang") == \
        vocabulary.LANGUAGES
    assert choices(suggestion, "readiness") == vocabulary.READINESS
    assert choices(suggestion.model_fields["barriers"].annotation.__args__[0], "barrier") == vocabulary.BARRIERS
    assert choices(suggestion, "moved_by") == choices(schemas.ModelInfo, "guarantees") == vocabulary.GUARANTEES
    assert get_args(schemas.RecoursePanelResponse.model_fields["kind"].annotation) == vocabulary.OCCUPATION_KINDS
    assert get_args(schemas.SearchResponse.model_fields["kind"].annotation) == vocabulary.SEARCH_KINDS
    assert choices(schemas.FeedbackRequest, "reason") == choices(schemas.FeedbackOut, "reason") == \
        vocabulary.FEEDBACK_REASONS
    assert set(vocabulary.OCCUPATION_KINDS) < set(vocabulary.KINDS)
    assert not set(vocabulary.SEARCH_KINDS) & set(vocabulary.KINDS)  # "kinds" of the search are another concept


def test_every_barrier_is_a_vocabulary_barrier() -> None:
    from features.feature_definitions import BARRIER_FEATURES, FEATURES
    from models.suggest import _BARRIER_ACTIVE

    assert tuple(BARRIER_FEATURES) == vocabulary.BARRIERS
    assert tuple(_BARRIER_ACTIVE) == vocabulary.BARRIERS
    assert {feature.barrier for feature in FEATURES if feature.barrier} == set(vocabulary.BARRIERS)


def test_the_metric_key_is_the_key_the_metrics_write() -> None:
    from assessments.metric_catalogue import METRIC_BY_NAME
    from models.metrics import ranking_metrics

    assert vocabulary.NDCG_AT_K == f"ndcg_at_{vocabulary.K}"
    metrics = ranking_metrics(labels=[1, 0, 0], scores=[0.9, 0.5, 0.1], groups=[7, 7, 7])
    assert metrics[vocabulary.NDCG_AT_K] == 1.0 and vocabulary.RECALL_AT_K in metrics
    assert vocabulary.NDCG_AT_K in METRIC_BY_NAME


class _Client:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.tags[key] = value


@pytest.mark.parametrize("passed, failed", [(True, []), (False, ["ready_gap", "exposure_ratio"])])
def test_the_service_reads_the_verdict_the_gate_writes(passed: bool, failed: list[str]) -> None:
    from assessments.registry import VersionRef, set_result_tags
    from serving.served_models import _assessment

    client = _Client()
    ref = VersionRef(kind="jobs", name="loopbaan-jobs", version="3", run_id="run", aliases=(), tags={})
    set_result_tags(client, ref, assessment_id="a-1", passed=passed, assessed_at="2026-12-01T20:00:00Z",
                    policy_version="p-7", failed=failed)
    assert set(client.tags) == set(FAIRNESS_TAGS)
    info = _assessment(client.tags)
    assert (info.assessment_id, info.passed, info.assessed_at, info.policy_version, info.failed_checks) == (
        "a-1", passed, "2026-12-01T20:00:00Z", "p-7", failed)


def test_a_version_without_a_verdict_reads_as_unassessed() -> None:
    assert read_result({}) is None
    assert read_result({"fairness.passed": "true"}) is None  # no assessment id: no verdict
    written = result_tags(assessment_id="a-2", passed=False, assessed_at="t", policy_version="p", failed=["x"])
    assert read_result({**written, FAIRNESS_TAGS[1]: "yes"}).passed is False  # only "true" passes
