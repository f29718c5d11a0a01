"""The fairness gate: metrics on hand-computed cases, aggregation and CIs, the policy, the gate, reviews,
promotion and its history, the recurring run with rollback, the scheduler, mitigation, the report, the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from assessments import governance, store
from assessments import ranking_metrics as rm
from assessments.aggregate import summarise
from assessments.document import AssessmentDocument
from assessments.evidence import Evidence
from assessments.gate import NOT_APPLICABLE, NOT_JUDGED, decide, evaluate
from assessments.policy import DEFAULT_POLICY, load_policy, parse_policy
from features.errors import LoopbaanError
from features.files import write_atomic
from models.rerank import fair_top_k, minimum_protected
from tests.assessment_fixtures import advisory, gate_app, policy_data, write_policy

V2, V3 = 1 / np.log2(3), 0.5  # position weights of positions 2 and 3


# --- per-citizen quantities, against hand-computed cases -------------------------------------------------------

def test_position_weights_are_one_over_log2_of_one_plus_position() -> None:
    assert rm.position_weights(3) == pytest.approx([1.0, V2, V3])


def test_ndcg_and_recall_in_the_top_half_per_query_by_hand() -> None:
    labels = np.array([0, 2, 1, 0, 0, 1, 0, 0, 1, 0])
    scores = np.array([3.0, 2.0, 1.0, 5.0, 4.0, 0.0, 1.0, 4.0, 3.0, 2.0])
    queries = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    ids, ndcg, recall, length = rm.quality_per_query(labels=labels, scores=scores, query_rows=queries)
    # query 0 ranks labels [0, 2, 1]: DCG = 3·v2 + 1·v3, ideal [2, 1, 0] = 3 + 1·v2; query 1 has nothing relevant
    assert ids.tolist() == [0, 2, 3] and length.tolist() == [3, 2, 3]
    assert ndcg == pytest.approx([(3 * V2 + V3) / (3 + V2), V2 / 1.0, V2 / 1.0])
    # the top half of 3 items is the first one, of 2 the first: query 0 holds neither chosen item there
    assert recall == pytest.approx([0.0, 0.0, 0.0])
    _, _, recall_right, _ = rm.quality_per_query(labels=labels, scores=-scores, query_rows=queries)
    assert recall_right == pytest.approx([0.5, 1.0, 0.0])  # reversed: [1, 2, 0] holds label 1 in place one


def test_exposure_share_and_congestion_by_hand() -> None:
    rows = np.array([0, 0, 0, 1])
    exposure = rm.exposure_per_query(values=np.array([1.0, 0.0, 1.0, 0.0]), query_rows=rows, n_queries=3)
    assert exposure[:2] == pytest.approx([(1 + V3) / (1 + V2 + V3), 0.0]) and np.isnan(exposure[2])
    assert rm.share_per_query(flags=np.array([1, 0, 1, 1]), query_rows=rows, n_queries=2) == pytest.approx([2 / 3, 1])
    items = rm.item_exposure(item_positions=np.array([2, 3, 2]), query_rows=np.array([0, 0, 1]), catalogue_size=5)
    assert items == pytest.approx([0, 0, 2.0, V2, 0])
    assert rm.gini(np.array([0, 0, 0, 4.0])) == pytest.approx(0.75)
    assert rm.gini(np.ones(7)) == pytest.approx(0.0) and rm.gini(np.zeros(3)) == 0.0
    assert rm.never_shown_share(np.array([0, 1.0, 0, 2.0])) == 0.5


def test_flip_rate_by_hand() -> None:
    flips = rm.flip_rate_per_query(before_items=np.array([1, 2, 3, 5]), before_rows=np.array([0, 0, 0, 1]),
                                   after_items=np.array([1, 2, 4, 5]), after_rows=np.array([0, 0, 0, 1]),
                                   n_queries=3)
    assert flips[:2] == pytest.approx([1 / 3, 0.0]) and np.isnan(flips[2])


def test_fair_top_k_guarantees_the_binomial_minimum() -> None:
    # binom.ppf(0.1, i, 0.5) for i = 1..5: P(X <= 0) first drops below 0.1 at i = 4
    assert minimum_protected(5, proportion=0.5, significance=0.1).tolist() == [0, 0, 0, 1, 1]
    scores, protected = np.array([5.0, 4, 3, 2, 1]), np.array([False, False, False, False, True])
    assert fair_top_k(scores, protected, k=5, proportion=0.5, significance=0.1).tolist() == [0, 1, 2, 4, 3]
    assert fair_top_k(scores, protected, k=5, proportion=0.01, significance=0.1).tolist() == [0, 1, 2, 3, 4]
    # never more than the list holds, and the protected item goes no lower than the minimum allows
    assert fair_top_k(scores[:2], protected[:2], k=10, proportion=0.9, significance=0.1).tolist() == [0, 1]


def test_fair_top_k_keeps_a_separate_minimum_for_each_guarantee() -> None:
    # minimum per prefix at p=0.5: [0, 0, 0, 1, 1]; columns: good, ready
    scores = np.array([6.0, 5, 4, 3, 2, 1])
    flags = np.array([[False, False], [False, False], [False, False], [False, False], [True, False], [False, True]])
    assert fair_top_k(scores, flags, k=5, proportion=0.5, significance=0.1).tolist() == [0, 1, 2, 4, 5]
    # an item with both takes the place of two: the one that meets the most unmet minimums comes first
    both = np.array([[False, False], [False, False], [False, False], [True, False], [False, True], [True, True]])
    assert fair_top_k(scores, both, k=4, proportion=0.5, significance=0.1).tolist() == [0, 1, 2, 5]
    # one column is the single-guarantee re-rank
    single = flags[:, :1]
    assert (fair_top_k(scores, single, k=5, proportion=0.5, significance=0.1).tolist()
            == fair_top_k(scores, single[:, 0], k=5, proportion=0.5, significance=0.1).tolist() == [0, 1, 2, 4, 3])
    # a guarantee that no remaining candidate can meet does not hold up the rest
    none_ready = np.column_stack([flags[:, 0], np.zeros(6, dtype=bool)])
    assert fair_top_k(scores, none_ready, k=5, proportion=0.5, significance=0.1).tolist() == [0, 1, 2, 4, 3]


def test_reranker_guarantees_ready_items_and_reads_older_artifacts() -> None:
    from models.rerank import ItemFacts, Reranker

    # one citizen, six candidate vacancies, best score first; quality and readiness on different items
    items = ItemFacts(kind="jobs", quality=np.array([0.9, 0.1, 0.2, 0.3, 0.5, 0.95]),
                      n_essential=np.array([5, 5, 5, 5, 0, 5]))
    features = pd.DataFrame({"essential_coverage": [0.2, 0.4, 0.6, 0.0, 0.0, 0.8]})
    positions, rows, scores = np.arange(6), np.zeros(6, dtype=np.int64), np.array([6.0, 5, 4, 3, 2, 1])
    reranker = Reranker(proportion=0.5, significance=0.1, depth=6, criterion="quality", quality_threshold=0.9,
                        guarantees=("good", "ready"))
    flags = reranker.protected(features=features, item_positions=positions, items=items)
    # good: quality >= 0.9; ready: no essential competencies, or at least 80% held
    assert flags.tolist() == [[True, False], [False, False], [False, False], [False, False], [False, True],
                              [True, True]]
    # by the fourth place one ready item is due (item 0 already counts as good): the best ready one passes item 3
    picked = reranker.select(query_rows=rows, scores=scores, features=features, item_positions=positions, k=4,
                             items=items)
    assert picked.tolist() == [0, 1, 2, 4]
    only_good = Reranker(proportion=0.5, significance=0.1, depth=6, criterion="quality", quality_threshold=0.95)
    assert only_good.select(query_rows=rows, scores=scores, features=features, item_positions=positions, k=4,
                            items=items).tolist() == [0, 1, 2, 5]
    assert Reranker.from_dict(reranker.to_dict()) == reranker
    legacy = {key: value for key, value in only_good.to_dict().items() if key != "guarantees"}
    assert Reranker.from_dict(legacy).guarantees == ("good",)
    with pytest.raises(ValueError, match="guarantees out of good, ready"):
        Reranker(proportion=0.5, significance=0.1, depth=6, criterion="quality", guarantees=("cheap",))


# --- aggregation: MetricFrame estimates, bootstrap CIs, small groups -------------------------------------------

def _policy(**changes):
    data = {**policy_data(), "sensitive_features": {"gender": "gender"}, "intersections": [],
            "policy_version": "2.0-test", **changes}
    data["checks"] = [check for check in data["checks"] if not check.get("breakdowns")]
    return parse_policy(data)


def _evidence(values: np.ndarray, genders: list[str], *, reference: np.ndarray | None = None,
              draws: np.ndarray | None = None) -> Evidence:
    reference = values if reference is None else reference
    suggestions = pd.DataFrame({"ready_surfaced": values, "ready_surfaced@reference": reference,
                                "outcome_chance_adjusted": values, "outcome_chance_adjusted@reference": reference,
                                "gender": genders})
    replicates = {} if draws is None else {"outcome_chance_adjusted": draws}
    return Evidence(kind="jobs", part="judging", outcomes=pd.DataFrame(), suggestions=suggestions,
                    shown={"model": (np.zeros(0, int), np.zeros(0, int)),
                           "reference": (np.zeros(0, int), np.zeros(0, int))}, catalogue_size=3,
                    replicates=replicates)


def _groups(summary, metric: str = "ready_surfaced", which: str = "model") -> dict[str, tuple[float, int, bool]]:
    breakdown = summary[metric].breakdowns["gender"]
    return {label: (breakdown.values[which].point[index], int(breakdown.sizes[index]), bool(breakdown.judged[index]))
            for index, label in enumerate(breakdown.labels)}


def test_group_estimates_equal_the_hand_means_for_model_and_reference_and_small_groups_are_not_judged() -> None:
    values = np.array([1, 0, 1, 0, 1, 1, 1, 1, 1, 1.0])
    reference = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1.0])
    evidence = _evidence(values, ["man"] * 4 + ["woman"] * 6, reference=reference)
    summary = summarise(evidence, policy=_policy(min_group_size=2), kind="jobs", seed=1)
    assert _groups(summary) == {"man": (pytest.approx(0.5), 4, True), "woman": (pytest.approx(1.0), 6, True)}
    assert _groups(summary, which="reference") == {"man": (pytest.approx(1.0), 4, True),
                                                   "woman": (pytest.approx(4 / 6), 6, True)}
    assert summary["ready_surfaced"].breakdowns["overall"].values["model"].point == pytest.approx([0.8])
    small = summarise(evidence, policy=_policy(min_group_size=5), kind="jobs", seed=1)
    assert _groups(small)["man"] == (pytest.approx(0.5), 4, False)  # reported, not judged


def test_bootstrap_interval_has_the_binomial_width_and_carries_model_uncertainty() -> None:
    rng = np.random.default_rng(3)
    values = (rng.random(800) < 0.3).astype(float)
    genders = ["man"] * 400 + ["woman"] * 400
    policy = _policy(min_group_size=30, bootstrap_samples=400)
    summary = summarise(_evidence(values, genders), policy=policy, kind="jobs", seed=2)
    estimates = summary["outcome_chance_adjusted"].breakdowns["gender"].values["model"]
    low, high = estimates.interval(0, 0.95)
    share = estimates.point[0]
    assert low < share < high
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(share * (1 - share) / 400), rel=0.2)
    draws = values[None, :] * rng.uniform(0.6, 1.4, size=(50, 1))  # an uncertain outcome model scales everyone
    wider = summarise(_evidence(values, genders, draws=draws), policy=policy, kind="jobs", seed=2)
    wide = wider["outcome_chance_adjusted"].breakdowns["gender"].values["model"].interval(0, 0.95)
    assert wide[1] - wide[0] > 1.5 * (high - low)


def test_congestion_over_the_catalogue_for_model_and_reference() -> None:
    evidence = Evidence(kind="jobs", part="judging", outcomes=pd.DataFrame(), suggestions=pd.DataFrame(),
                        shown={"model": (np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])),
                               "reference": (np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]))}, catalogue_size=4)
    summary = summarise(evidence, policy=_policy(), kind="jobs", seed=0)
    unseen = summary["never_shown_share"].breakdowns["overall"].values
    assert unseen["model"].point == pytest.approx([0.5]) and unseen["reference"].point == pytest.approx([0.0])
    gini = summary["exposure_gini"].breakdowns["overall"].values
    assert gini["model"].point == pytest.approx([rm.gini(np.array([2.0, 2 * V2, 0, 0]))])
    assert gini["reference"].point == pytest.approx([rm.gini(np.array([1.0, V2, 1.0, V2]))])
    checks = {check.name: check for check in evaluate(summary, policy=_policy(decision_basis="point"), kind="jobs")}
    assert checks["congestion_unseen"].status == "fail"  # half the catalogue unseen against none: +0.5 > 0.1
    assert checks["congestion_unseen"].findings[0]["value"] == pytest.approx(0.5)


def test_gate_without_evidence_and_for_metrics_a_kind_lacks() -> None:
    policy = _policy()
    checks = {check.name: check for check in evaluate({}, policy=policy, kind="careers")}
    assert checks["outcome_parity"].status == NOT_APPLICABLE
    assert checks["quality_parity_ndcg"].status == NOT_JUDGED
    passed, failed = decide(list(checks.values()), policy=policy)
    assert not passed and "quality_parity_ndcg" in failed and "outcome_parity" not in failed  # no evidence, no go
    assert decide(list(checks.values()), policy=_policy(require_evidence=False)) == (True, [])


# --- the policy ----------------------------------------------------------------------------------------------

def test_shipped_policy_is_valid_released_and_judges_the_model_against_the_reference() -> None:
    from assessments.policy import REFERENCE_RULES, released_digests

    policy = load_policy()
    assert policy.policy_version == "2.0" and released_digests()["2.0"] == policy.digest
    assert policy.reference == "competency_order" and policy.multiplicity == "holm" and policy.sign_off_required
    enforced = [check for check in policy.checks if check.enforce]
    assert {"quality_parity_ndcg", "outcome_parity", "stereotyping", "congestion_unseen"} <= {
        check.name for check in enforced}
    assert all(check.rule in REFERENCE_RULES for check in enforced)
    assert all(check.threshold == 0.8 for check in policy.checks if check.rule == "min_ratio")
    assert "recall_at_10" not in {check.metric for check in policy.checks}  # constant on lists of 10
    assert set(policy.breakdowns()) == {"gender", "age_band", "origin", "disability", "region", "gender+age_band",
                                        "origin+gender"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda data: data["checks"][0].update(threshold=1.5), "a ratio floor must be in (0, 1]"),
    (lambda data: data["checks"][0].update(metric="happiness"), "unknown metric 'happiness'"),
    (lambda data: data["checks"][0].update(breakdowns=["shoe_size"]), "unknown breakdown(s) ['shoe_size']"),
    (lambda data: data["checks"][0].update(kind_thresholds={"jobz": 0.9}),
     "unknown kind 'jobz': choose one of jobs, trainings, careers"),
    (lambda data: data["checks"][0].update(rule="min_ratio"), "is enforced with the absolute rule min_ratio"),
    (lambda data: data.update(min_group_size="many"), "min_group_size"),
    (lambda data: data.update(multiplicity="sometimes"), "multiplicity"),
    (lambda data: data["holdout"].update(tuning_share=1.0), "holdout.tuning_share"),
    (lambda data: data.update(sensitive_features={"religion": "religion"}), "unknown sensitive column(s)"),
    (lambda data: data["checks"].append(dict(data["checks"][0])), "check names must be unique"),
    (lambda data: data.update(surprise=True), "surprise: Extra inputs are not permitted"),
    (lambda data: data["checks"][8].update(rule="gap_vs_reference"), "is catalogue-wide, so its rule must be"),
    (lambda data: data["mitigation"].update(guarantees=[["good", "fast"]]), "mitigation.guarantees.0.1"),
    (lambda data: data["mitigation"].update(guarantees=[["good", "good"]]), "distinct names out of good, ready"),
    (lambda data: data["mitigation"].update(guarantees=[]), "non-empty list of variants"),
])
def test_a_malformed_policy_is_refused_with_a_clear_message(tmp_path: Path, change, message: str) -> None:
    data = policy_data()
    data["policy_version"] = "2.0-draft"
    change(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(LoopbaanError, match="is invalid") as error:
        load_policy(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_policy_file_problems_digest_and_the_old_format(tmp_path: Path) -> None:
    with pytest.raises(LoopbaanError, match="no fairness policy at"):
        load_policy(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("checks: [unclosed", encoding="utf-8")
    with pytest.raises(LoopbaanError, match="is not valid YAML"):
        load_policy(broken)
    commented = tmp_path / "commented.yaml"
    commented.write_text("# a new comment\n" + DEFAULT_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_policy(commented).digest == load_policy().digest  # layout and comments do not count
    stricter = write_policy(tmp_path, "stricter", min_group_size=50)
    assert load_policy(stricter).digest != load_policy().digest
    old = {key: value for key, value in policy_data().items() if key not in ("reference", "holdout")}
    old["policy_version"] = "1.1"
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(yaml.safe_dump(old), encoding="utf-8")
    with pytest.raises(LoopbaanError, match="in the 1.x format") as error:
        load_policy(legacy)
    assert "start from assessments/policy.yaml" in str(error.value) and "\n" not in str(error.value)


def test_changed_content_under_a_policy_version_is_refused(tmp_path: Path) -> None:
    from features.settings import Settings

    bent = tmp_path / "bent.yaml"
    data = policy_data()
    data["min_group_size"] = 5  # a looser gate under the released version's name
    bent.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(LoopbaanError, match="content differs from version 2.0 as released") as error:
        load_policy(bent)
    assert "give it a new policy_version" in str(error.value)
    # a draft version is bound to its content at first use in a home, and cannot change afterwards
    settings = Settings(home=tmp_path / "home")
    draft = write_policy(tmp_path, "draft", min_group_size=40)
    assert load_policy(draft, settings=settings).min_group_size == 40
    assert load_policy(draft, settings=settings).min_group_size == 40
    changed = yaml.safe_load(draft.read_text(encoding="utf-8"))
    changed["min_group_size"] = 10
    draft.write_text(yaml.safe_dump(changed), encoding="utf-8")
    with pytest.raises(LoopbaanError, match="first used in this home"):
        load_policy(draft, settings=settings)
    assert load_policy(draft).min_group_size == 10  # without a home nothing binds a draft


# --- append-only records -------------------------------------------------------------------------------------

def test_records_append_whole_lines_and_survive_a_cut_write(tmp_path: Path) -> None:
    path = tmp_path / "governance" / "log.jsonl"
    governance.append_record(path, {"n": 1})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"n": 2, "cut sh')  # a crash in the middle of a write
    governance.append_record(path, {"n": 3})
    assert [record["n"] for record in governance.read_records(path)] == [1, 3]
    assert path.read_text(encoding="utf-8").endswith('{"n": 3}\n')


# --- the assessment document ------------------------------------------------------------------------------------

STORED_DOCUMENT = Path(__file__).parent / "fixtures" / "assessments" / "jobs-v2-mitigated-format2.json.gz"
STORED_REPORT = STORED_DOCUMENT.with_name("jobs-v2-mitigated-format2.report.html.gz")


def test_a_stored_document_loads_typed_and_dumps_back_byte_for_byte(tmp_path: Path) -> None:
    """The fixture is the ``assessment.json`` of a mitigated version (with its tuning part) as the code before
    the typed document wrote it; store.save must write it back unchanged."""
    import gzip

    text = gzip.decompress(STORED_DOCUMENT.read_bytes()).decode("utf-8")
    document = AssessmentDocument.from_json(text)
    assert document.to_json() == text and document.to_dict() == json.loads(text)
    assert document.policy.multiplicity == "holm" and document.model.mitigation is not None
    assert document.check(document.mitigation["focus"]).threshold == document.mitigation["threshold"]
    assert document.finding_id == document.labour_market.id and document.finding_id.startswith("LM-jobs-")
    settings = _settings(tmp_path / "home")
    json_path, _ = store.save(settings, document, "<html></html>")
    assert json_path.read_text(encoding="utf-8") == text
    assert store.load(settings, document.assessment_id) == document
    # an older document without the newer keys loads, and dumps without them
    old = {key: value for key, value in json.loads(text).items() if key not in ("format", "trigger", "tuning")}
    old["model"] = {key: value for key, value in old["model"].items() if key != "content_digest"}
    loaded = AssessmentDocument.model_validate(old)
    assert loaded.format is None and loaded.model.content_digest is None and loaded.to_dict() == old


def test_the_report_of_a_stored_document_is_the_one_the_code_before_the_template_wrote(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture report is what the f-string report made of the fixture document, each inline plot replaced by
    PLOT (the figures' pixels are matplotlib's, and drawing them takes half a minute); the template must give the
    same page, byte for byte."""
    import gzip

    from assessments import _plots
    from assessments.report import render_report

    for figure in ("checks_figure", "labour_market_figure", "groups_figure", "trend_figure", "tradeoff_figure"):
        monkeypatch.setattr(_plots, figure, lambda *args, **kwargs: "PLOT")
    document = AssessmentDocument.from_json(gzip.decompress(STORED_DOCUMENT.read_bytes()).decode("utf-8"))
    assert render_report(document) == gzip.decompress(STORED_REPORT.read_bytes()).decode("utf-8")
    document.oversight["reviews"] = [{"at": "2026-01-01T00:00:00Z", "assessment_id": document.assessment_id,
                                      "decision": "reject", "reviewer": "<b>Dr. X</b>", "comment": "<script>'&'"}]
    html = render_report(document)  # what the board writes is text, never markup
    assert "<td>&lt;b&gt;Dr. X&lt;/b&gt;</td><td>&lt;script&gt;&#x27;&amp;&#x27;</td>" in html and "<script>" not in html


def test_the_worst_finding_is_the_judged_one_nearest_to_failing_and_every_reader_names_it() -> None:
    from assessments.document import CheckOutcome, worst_finding
    from assessments.registry import flat_metrics

    findings = [{"judged": True, "value": 0.91}, {"judged": False, "detail": "too few"},
                {"judged": True, "value": 0.84}, {"judged": True, "value": 1.02}]
    assert worst_finding(findings, floor=True)["value"] == 0.84  # a floor fails from below
    assert worst_finding(findings, floor=False)["value"] == 1.02  # a maximum from above
    assert worst_finding(findings[1:2], floor=True) is None and worst_finding([], floor=False) is None
    check = CheckOutcome(name="parity", floor=True, status="pass", findings=findings)
    assert check.worst["value"] == 0.84
    metrics = flat_metrics({}, [check.model_dump()])
    assert metrics["fairness.check.parity"] == 0.84 and metrics["fairness.check.parity.passed"] == 1.0


def test_a_document_without_its_verdict_is_unreadable_and_skipped(tmp_path: Path) -> None:
    import gzip

    settings = _settings(tmp_path / "home")
    document = json.loads(gzip.decompress(STORED_DOCUMENT.read_bytes()))
    del document["passed"]
    path = store.folder_of(settings, document["assessment_id"]) / store.ASSESSMENT_FILE
    write_atomic(path, json.dumps(document), durable=False)
    with pytest.raises(LoopbaanError, match="is unreadable"):
        store.load(settings, document["assessment_id"])
    assert store.assessments_of(settings, "jobs") == []


# --- the gate's refusals as flags ------------------------------------------------------------------------------

def _stored(settings, policy, *, at: str, passed: bool = True, digest: str | None = None) -> dict:
    document = {"assessment_id": store.new_id("jobs", "4", datetime.fromisoformat(at)), "assessed_at": at,
                "kind": "jobs", "version": "4",
                "passed": passed, "failed_checks": [] if passed else ["outcome_parity"],
                "checks": [{"name": "outcome_parity", "summary": "gap 0.20 > 0.05"}],
                "policy": {"version": policy.policy_version, "digest": digest or policy.digest},
                "model": {"content_digest": "c0ffee"}, "labour_market": None}
    store.save(settings, AssessmentDocument.model_validate(document), "<html></html>")
    return document


def test_gate_refusals_carry_one_flag_per_cause_with_its_sentence(tmp_path: Path) -> None:
    from assessments.promotion import Decision, Reason, Refusal, gate_refusals
    from features.model_tags import TAG_ASSESSMENT_ID

    settings, policy = _settings(tmp_path / "home"), load_policy()

    def flags(**given) -> list[Refusal]:
        return [reason.refusal for reason in gate_refusals(settings, kind="jobs", version="4", policy=policy,
                                                           **given)[0]]

    never = gate_refusals(settings, kind="jobs", version="4", policy=policy)[0]
    assert [reason.refusal for reason in never] == [Refusal.NEVER_ASSESSED]
    assert never[0].sentence.startswith("version 4 has never been assessed: run `loopbaan assess --kind jobs")
    document = _stored(settings, policy, at="2026-01-01T00:00:00Z")
    assert flags() == [Refusal.APPROVAL_REQUIRED]
    assert flags(tags={TAG_ASSESSMENT_ID: "jobs-v4-20260101T000000Z-aaaaaa"}) == [
        Refusal.TAG_MISMATCH, Refusal.APPROVAL_REQUIRED]
    governance.append_record(governance.governance_dir(settings) / governance.REVIEWS, {
        "assessment_id": document["assessment_id"], "kind": "jobs", "version": "4", "decision": "approve",
        "reviewer": "Dr. Peeters", "comment": "ok", "content_digest": "c0ffee", "at": "2026-01-01T00:00:00Z"})
    assert flags() == []
    _stored(settings, policy, at="2026-01-02T00:00:00Z", passed=False, digest="0" * 64)
    assert flags() == [Refusal.STALE_POLICY, Refusal.FAILED_CHECKS, Refusal.APPROVAL_REQUIRED]
    governance.append_record(governance.governance_dir(settings) / governance.REVIEWS, {
        "assessment_id": "jobs-v3-20260101T000000Z-bbbbbb", "kind": "jobs", "version": "3", "decision": "reject",
        "reviewer": "Dr. Janssens", "comment": "no", "content_digest": "c0ffee", "at": "2026-01-02T00:00:00Z"})
    reasons = gate_refusals(settings, kind="jobs", version="4", policy=policy)[0]
    assert [reason.refusal for reason in reasons] == [Refusal.STALE_POLICY, Refusal.FAILED_CHECKS,
                                                      Refusal.BOARD_REJECTED]
    assert "failed outcome_parity (outcome_parity: gap 0.20 > 0.05)" in reasons[1].sentence
    decision = Decision(promoted=False, kind="jobs", version="4", refusals=tuple(reasons))
    assert decision.refused(Refusal.BOARD_REJECTED) and not decision.refused(Refusal.APPROVAL_REQUIRED)
    assert decision.reasons == [reason.sentence for reason in reasons] and not decision.already_champion
    assert Decision(promoted=False, kind="jobs", version="4",
                    refusals=(Reason(Refusal.ALREADY_CHAMPION, "version 4 is already the champion"),)).already_champion


# --- the scheduler ---------------------------------------------------------------------------------------------

def test_schedule_runs_every_n_hours_and_keeps_going_after_a_failed_run() -> None:
    from assessments.recurring import run_schedule

    calls, pauses = [], []

    def job() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise LoopbaanError("no population yet")

    lines = []
    assert run_schedule(every_hours=2, job=job, runs=3, sleep=pauses.append, echo=lines.append) == 3
    assert len(calls) == 3 and len(pauses) == 2 and all(7100 < pause <= 7200 for pause in pauses)
    assert any("no population yet" in line for line in lines)

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_schedule(every_hours=1, job=lambda: None, sleep=interrupt)


def test_schedule_command_stops_cleanly_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    import assessments.recurring

    def interrupted(**_):
        raise KeyboardInterrupt

    monkeypatch.setattr(assessments.recurring, "recurring_assessment", interrupted)
    result = CliRunner().invoke(gate_app(), ["schedule", "--every-hours", "1"])
    assert result.exit_code == 130 and "stopped cleanly" in result.output and "Traceback" not in result.output


# --- end to end on a trained model -----------------------------------------------------------------------------

def _train(population: Path, home: Path, *, estimators: int = 60) -> None:
    from features.population import PopulationStore
    from features.settings import Settings
    from models.training import train_kind

    train_kind("jobs", store=PopulationStore(population), settings=Settings(home=home),
               params={"n_estimators": estimators}, progress=False)


def _settings(home: Path):
    from features.settings import Settings

    return Settings(home=home)


def _invoke(home: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.setenv("LOOPBAAN_HOME", str(home))
    return CliRunner().invoke(gate_app(), list(args))


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.output


@pytest.fixture(scope="module")
def assessed(small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A jobs ranker trained on the small population and assessed once under the shipped policy."""
    from assessments.run import run_assessment

    home = tmp_path_factory.mktemp("gate-assessed")
    _train(small_population_dir, home)
    outcome = run_assessment(kind="jobs", settings=_settings(home), policy=load_policy(), data=small_population_dir)
    return {"home": home, "outcome": outcome, "population": small_population_dir}


@pytest.mark.slow
def test_assessment_is_recorded_in_the_store_and_in_mlflow(assessed: dict) -> None:
    from models import tracking

    outcome, home = assessed["outcome"], assessed["home"]
    document = json.loads((outcome.folder / "assessment.json").read_text(encoding="utf-8"))
    assert outcome.folder == home / "reports" / "jobs" / outcome.assessment_id and outcome.report.is_file()
    assert document["format"] == 2 and document["passed"] == outcome.passed
    assert document["policy"]["digest"] == load_policy().digest and document["policy"]["multiplicity"] == "holm"
    assert {"ndcg_at_10", "recall_top_half", "good_exposure", "outcome_chance_adjusted", "ready_share",
            "atypical_share", "flip_care_duties", "flip_dutch_level", "exposure_gini",
            "never_shown_share"} <= set(document["results"])
    for metric in ("ndcg_at_10", "atypical_share", "flip_dutch_level"):
        assert set(document["results"][metric]["breakdowns"]) == set(load_policy().breakdowns())
        assert document["results"][metric]["overall"]["reference"] is not None
    assert len(document["model"]["content_digest"]) == 64 and document["model"]["lineage"]["train"] > 0
    client = tracking.configure(_settings(home))
    version = client.get_model_version("loopbaan-jobs", outcome.version)
    latest = store.latest(_settings(home), "jobs", outcome.version)  # other tests here may assess it again
    assert version.tags["fairness.assessment_id"] == latest.assessment_id
    assert version.tags["fairness.passed"] == ("true" if latest.passed else "false")
    assert version.tags["fairness.failed_checks"] == ",".join(latest.failed_checks)
    assert version.tags["fairness.policy_version"] == load_policy().policy_version
    assert version.tags["fairness.assessed_at"].endswith("Z")
    run = client.get_run(version.run_id)
    assert "fairness.ndcg_at_10.overall" in run.data.metrics
    assert "fairness.ready_surfaced.age_band.55-64.reference" in run.data.metrics
    artifacts = [entry.path for entry in client.list_artifacts(version.run_id, f"fairness/{outcome.assessment_id}")]
    assert any(path.endswith("report.html") for path in artifacts)


@pytest.mark.slow
def test_report_is_self_contained_with_every_section(assessed: dict) -> None:
    from assessments.report import SECTIONS

    html = assessed["outcome"].report.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    for text in ("Decision: ", "All data in this report are synthetic", "gender stereotype 1.00",
                 "never</b> be used for sanctions", "availability for work", "Annex III point 4", "high risk",
                 "Fundamental rights", "95% CI", "additivity", "Sample explanations", "Promotion history",
                 "Model card", "Trend across assessments", "Mitigations and trade-off", "reference ranking",
                 "judging citizens", "multiplicity correction: holm", "Labour-market finding"):
        assert text.lower() in html.lower(), text
    assert html.count("data:image/png;base64,") >= 5
    assert "http://" not in html and "https://" not in html and "<script" not in html and "<link" not in html


@pytest.mark.slow
def test_no_citizen_id_leaves_the_assessment(assessed: dict) -> None:
    from assessments.evidence import collect

    from assessments.holdout import JUDGING, TUNING

    document = json.loads((assessed["outcome"].folder / "assessment.json").read_text(encoding="utf-8"))
    keys, number_lists = [], []

    def walk(node) -> None:
        if isinstance(node, dict):
            keys.extend(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            if node and all(isinstance(value, int) and not isinstance(value, bool) for value in node):
                number_lists.append(set(node))
            for value in node:
                walk(value)

    walk(document)
    assert keys and not any("citizen" in key and "id" in key for key in keys)
    # no list of the assessed citizens' ids (the split is described by its rule, never by its members)
    holdout = assessed["outcome"].prepared.holdout.parts
    for part in (TUNING, JUDGING):
        ids = set(np.asarray(holdout[part]).tolist())
        assert not any(len(values & ids) >= 20 for values in number_lists)
    evidence = collect(assessed["outcome"].prepared)
    columns = [*evidence.suggestions.columns, *evidence.outcomes.columns]
    assert columns and not any("citizen" in column for column in columns)
    assert set(load_policy().sensitive_features) <= set(evidence.suggestions.columns)


@pytest.mark.slow
def test_readiness_from_features_matches_the_gap_analysis(assessed: dict) -> None:
    from assessments.evidence import ready_flags
    from models.suggest import RankedLists, Suggester

    prepared = assessed["outcome"].prepared
    part = prepared.parts["judging"]
    top = part.ranked.deep.top(10).take(np.arange(300))
    suggester = Suggester(resources=prepared.resources, model=prepared.model)
    ranked = RankedLists(query_rows=top.query_rows, item_positions=top.item_positions, scores=top.scores,
                         features=top.features, contributions=np.zeros((len(top.scores), 0)))
    expected = suggester.readiness(part.context, ranked) == "ready"
    flags = ready_flags(prepared, top)
    assert (flags == expected).all() and 0 < flags.sum() < len(flags)


@pytest.mark.slow
def test_bad_input_ends_in_one_clear_line(assessed: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = assessed["home"]
    _one_line_error(_invoke(home, monkeypatch, "assess", "--kind", "jobs", "--version", "99"), "has no version 99")
    _one_line_error(_invoke(home, monkeypatch, "assess", "--kind", "jobs", "--alias", "champion"),
                    "no version of loopbaan-jobs holds the alias 'champion'")
    _one_line_error(_invoke(home, monkeypatch, "assess", "--kind", "careers"), "loopbaan-careers has no registered")
    _one_line_error(_invoke(home, monkeypatch, "assess"), "give --kind")
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_version: '2.9'\nreference: competency_order\nmin_group_size: -1\n", encoding="utf-8")
    _one_line_error(_invoke(home, monkeypatch, "assess", "--kind", "jobs", "--policy", str(bad)), "is invalid")
    _one_line_error(_invoke(home, monkeypatch, "review", "--assessment", "jobs-v1-20990101T000000Z-abcdef",
                            "--approve", "--reviewer", "An", "--comment", "ok"), "no assessment jobs-v1-2099")
    _one_line_error(_invoke(home, monkeypatch, "review", "--assessment", "nonsense", "--reject", "--reviewer", "An",
                            "--comment", "no"), "is not an assessment id")
    _one_line_error(_invoke(home, monkeypatch, "review", "--assessment", assessed["outcome"].assessment_id,
                            "--reviewer", "An", "--comment", "?"), "exactly one of --approve or --reject")
    _one_line_error(_invoke(home, monkeypatch, "promote", "--kind", "jobs", "--version", "12"), "has no version 12")
    unknown_kind = _invoke(home, monkeypatch, "assess", "--kind", "pets")
    assert unknown_kind.exit_code == 2 and "Traceback" not in unknown_kind.output


def _copy_version(home: Path, *, of: str = "1") -> str:
    """A new registered version holding the same booster (and lineage) as version ``of``: a model re-registered."""
    from models import tracking

    client = tracking.configure(_settings(home))
    first = client.get_model_version("loopbaan-jobs", of)
    created = client.create_model_version("loopbaan-jobs", source=first.source, run_id=first.run_id,
                                          tags={"dataset_digest": first.tags["dataset_digest"]})
    return str(created.version)


@pytest.mark.slow
def test_promotion_only_through_the_gate_with_reviews_bound_to_the_model_and_withdrawal(
        small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from features import model_tags
    from models import tracking

    home = tmp_path_factory.mktemp("gate-story")
    _train(small_population_dir, home)
    folder = tmp_path_factory.mktemp("gate-policies")
    # Only congestion is enforced (the small population leaves too few logged lists to judge quality parity).
    lenient = str(write_policy(folder, "lenient", checks=advisory("congestion_unseen"), decision_basis="point",
                               bootstrap_samples=50, sample_citizens=500))
    data = str(small_population_dir)

    def cli(*args: str):
        return _invoke(home, monkeypatch, *args)

    def promote(version: str, policy: str = lenient):
        return cli("promote", "--kind", "jobs", "--version", version, "--policy", policy, "--json")

    def assess(version: str, policy: str = lenient) -> dict:
        return json.loads(cli("assess", "--kind", "jobs", "--version", version, "--policy", policy, "--data", data,
                              "--json").output)

    never = promote("1")
    assert never.exit_code == 1 and "has never been assessed" in never.output
    first = assess("1")
    assert first["passed"] and first["failed_checks"] == []
    waiting = promote("1")
    assert waiting.exit_code == 1 and "requires the ethics board's approval" in waiting.output
    finding = store.load(_settings(home), first["assessment_id"]).finding_id
    if finding:  # an approval that does not name the labour-market finding is refused
        _one_line_error(cli("review", "--assessment", first["assessment_id"], "--approve", "--reviewer", "Dr. Peeters",
                            "--comment", "evidence sufficient"), f"add --acknowledge {finding}")
    _one_line_error(cli("review", "--assessment", first["assessment_id"], "--approve", "--reviewer", "Dr. Peeters",
                        "--comment", "ok", "--acknowledge", "LM-jobs-00000000"), "is not a finding of assessment")
    acknowledge = ["--acknowledge", finding] if finding else []
    approved = cli("review", "--assessment", first["assessment_id"], "--approve", "--reviewer", "Dr. Peeters",
                   "--comment", "evidence sufficient", *acknowledge)
    assert approved.exit_code == 0 and "approved" in approved.output
    _one_line_error(cli("review", "--assessment", first["assessment_id"], "--reject", "--reviewer", "Dr. Janssens",
                        "--comment", "changed my mind"), "was already approved by Dr. Peeters")
    done = json.loads(promote("1").output)
    assert done["promoted"] and done["reviewer"] == "Dr. Peeters"
    client = tracking.configure(_settings(home))
    assert str(client.get_registered_model("loopbaan-jobs").aliases["champion"]) == "1"

    stricter = str(write_policy(folder, "stricter", checks=advisory("congestion_unseen"), decision_basis="point",
                                min_group_size=40))
    changed = cli("promote", "--kind", "jobs", "--version", "1", "--policy", stricter)
    assert changed.exit_code == 1 and "not the policy in force 2.0-stricter" in changed.output

    # the recurring run under a policy no version can meet: the champion fails, version 1 is re-assessed first and
    # fails too, so the kind is withdrawn and the registry says why (the service answers 503 from it)
    impossible = str(write_policy(folder, "impossible", checks=[
        {"name": "no_unseen_at_all", "metric": "never_shown_share", "rule": "excess_over_reference",
         "threshold": -1.0}], decision_basis="point", bootstrap_samples=50, sample_citizens=300))
    recurring = cli("assess", "--recurring", "--kind", "jobs", "--policy", impossible, "--data", data, "--json")
    assert recurring.exit_code == 1, recurring.output
    entry = json.loads(recurring.output)[0]
    assert entry["version"] == "1" and entry["failed_checks"] == ["no_unseen_at_all"]
    assert entry["rollback"]["action"] == "withdraw"
    registered = client.get_registered_model("loopbaan-jobs")
    assert "champion" not in (registered.aliases or {})
    assert "no earlier champion passes again" in registered.tags[model_tags.TAG_WITHDRAWN_REASON]
    assert registered.tags[model_tags.TAG_WITHDRAWN_AT].endswith("Z")
    alert = Path(entry["report"]).read_text(encoding="utf-8")
    assert "Alert:" in alert and "recurring" in alert
    # promoting again through the gate lifts the withdrawal
    third = assess("1")
    review = cli("review", "--assessment", third["assessment_id"], "--approve", "--reviewer", "Dr. Peeters",
                 "--comment", "back", *(["--acknowledge", finding] if (finding := store.load(
                     _settings(home), third["assessment_id"]).finding_id) else []))
    assert review.exit_code == 0, review.output
    assert json.loads(promote("1").output)["promoted"]
    assert model_tags.TAG_WITHDRAWN_REASON not in (client.get_registered_model("loopbaan-jobs").tags or {})
    # a rejection binds the model's content: the same booster registered again is refused too
    rejected_version = _copy_version(home)
    second = assess(rejected_version)
    assert cli("review", "--assessment", second["assessment_id"], "--reject", "--reviewer", "Dr. Janssens",
               "--comment", "not convinced").exit_code == 0
    blocked = promote(rejected_version)
    assert blocked.exit_code == 1 and "the ethics board rejected this model" in blocked.output
    copy = _copy_version(home, of=rejected_version)
    assert assess(copy)["passed"]
    refused = promote(copy)
    assert refused.exit_code == 1 and f"version {rejected_version}, the same model" in refused.output
    again = promote("1")  # the booster the board approved before is the booster it has now rejected
    assert again.exit_code == 1 and f"version {rejected_version}, the same model" in again.output

    history = governance.promotion_history(_settings(home), kind="jobs")
    assert [record["action"] for record in history] == [
        "refuse", "refuse", "promote", "refuse", "withdraw", "promote", "refuse", "refuse", "refuse"]
    assert all(record["at"].endswith("Z") and "policy_version" in record for record in history)
    reviews = governance.reviews(_settings(home), kind="jobs")
    assert [review["decision"] for review in reviews] == ["approve", "approve", "reject"]
    assert reviews[2]["content_digest"] == store.load(_settings(home), first["assessment_id"]).model.content_digest
    assert "citizen" not in (home / "governance" / "promotions.jsonl").read_text(encoding="utf-8")


@pytest.mark.slow
def test_rollback_re_assesses_each_earlier_champion_and_takes_the_first_that_passes_again(
        assessed: dict, tmp_path: Path) -> None:
    from assessments import promotion

    home = tmp_path / "home"
    shutil.copytree(assessed["home"], home)
    settings = _settings(home)
    policy = load_policy()
    digest = assessed["outcome"].document.model.content_digest
    for version in ("1", "2", "3"):
        governance.record_promotion(settings, {"action": "promote", "kind": "jobs", "to_version": version})
    governance.append_record(governance.governance_dir(settings) / governance.REVIEWS, {
        "assessment_id": "jobs-v1-20260101T000000Z-aaaaaa", "kind": "jobs", "version": "1", "decision": "approve",
        "reviewer": "Dr. Peeters", "comment": "ok", "content_digest": digest, "at": "2026-01-01T00:00:00Z"})
    asked = []

    def reassess(version: str, *, content: str = digest) -> AssessmentDocument:
        asked.append(version)  # version 2 fails again on the current data, version 1 passes
        return AssessmentDocument.model_validate({
            "assessment_id": f"jobs-v{version}-20260102T000000Z-bbbbbb", "kind": "jobs", "version": version,
            "passed": version == "1", "failed_checks": [] if version == "1" else ["outcome_parity"],
            "policy": {"version": policy.policy_version, "digest": policy.digest},
            "model": {"content_digest": content}})

    record = promotion.rollback(kind="jobs", failed_version="3", settings=settings, policy=policy,
                                assessment_id="jobs-v3-20260102T000000Z-cccccc", reassess=reassess)
    assert asked == ["2", "1"] and record["action"] == "rollback" and record["to_version"] == "1"
    assert record["assessment_id"] == "jobs-v1-20260102T000000Z-bbbbbb" and record["reviewer"] == "Dr. Peeters"
    # a candidate that passes again but was never approved by the board does not serve either
    record = promotion.rollback(kind="jobs", failed_version="1", settings=settings, policy=policy,
                                assessment_id="jobs-v1-20260103T000000Z-dddddd",
                                reassess=lambda version: reassess(version, content="another model").model_copy(
                                    update={"passed": True}))
    assert record["action"] == "withdraw" and "never approved" in record["reasons"][0]
    assert record["refusals"] == ["never_approved", "never_approved"]


@pytest.mark.slow
def test_approving_a_failed_assessment_is_refused_and_promotion_names_the_failed_checks(
        assessed: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    impossible = str(write_policy(tmp_path, "impossible", checks=[
        {"name": "no_unseen_at_all", "metric": "never_shown_share", "rule": "excess_over_reference",
         "threshold": -1.0},
        {"name": "no_flips_at_all", "metric": "flip_care_duties", "rule": "excess_over_reference",
         "threshold": -1.0}], decision_basis="point", min_group_size=5, bootstrap_samples=50))
    home = assessed["home"]
    result = _invoke(home, monkeypatch, "assess", "--kind", "jobs", "--version", "1", "--policy", impossible,
                     "--data", str(assessed["population"]), "--json")
    summary = json.loads(result.output)
    assert result.exit_code == 1 and not summary["passed"]
    assert summary["failed_checks"] == ["no_unseen_at_all", "no_flips_at_all"]
    _one_line_error(_invoke(home, monkeypatch, "review", "--assessment", summary["assessment_id"], "--approve",
                            "--reviewer", "An", "--comment", "fine"), "approving cannot override the policy")
    refused = _invoke(home, monkeypatch, "promote", "--kind", "jobs", "--version", summary["version"], "--policy",
                      impossible)
    assert refused.exit_code == 1
    assert "failed no_unseen_at_all, no_flips_at_all" in refused.output and "difference" in refused.output


@pytest.mark.slow
def test_mitigation_chooses_on_tuning_citizens_and_is_judged_on_the_others(assessed: dict, tmp_path: Path) -> None:
    from assessments import registry
    from assessments.evidence import collect, shown_top
    from assessments.holdout import JUDGING, TUNING
    from assessments.mitigation import mitigate
    from assessments.run import judge
    from models import tracking
    from models.lineage import load_lineage
    from models.suggest import Suggester

    home, small_population_dir = assessed["home"], assessed["population"]
    policy = load_policy(write_policy(tmp_path, "exposure", decision_basis="point", bootstrap_samples=50,
                                      checks=[{"name": "good_for_all", "metric": "good_exposure",
                                               "rule": "gap_vs_reference", "threshold": 1.0,
                                               "breakdowns": ["age_band"]}]))
    result = mitigate(kind="jobs", settings=_settings(home), policy=policy, data=small_population_dir, version="1")
    assert not result.base.passed and result.base.failed_checks == ["good_for_all"]
    mitigated = result.mitigated
    assert mitigated is not None and mitigated.version != result.base.version
    prepared = result.base.prepared
    tuning, judging = prepared.holdout.parts[TUNING], prepared.holdout.parts[JUDGING]
    assert len(tuning) and len(judging) and not np.intersect1d(tuning, judging).size
    info = mitigated.document.mitigation
    assert info["chosen_on"] == TUNING
    tried = [(point["guarantees"], point["proportion"]) for point in info["points"]]
    assert tried == [([], 0.0), *((variant, share) for variant in policy.mitigation.guarantees
                                  for share in policy.mitigation.proportions)]
    chosen = next(point for point in info["points"] if point.get("chosen"))
    passing = [point for point in info["points"] if point["passed"] and point["proportion"] > 0]
    assert chosen["passed"] == bool(passing)
    if passing:
        settled = [point for point in passing
                   if len(point["inconclusive"]) == min(len(other["inconclusive"]) for other in passing)]
        assert chosen in settled and chosen["ndcg_at_10"] == max(point["ndcg_at_10"] for point in settled)
    client = tracking.configure(_settings(home))
    ref = registry.resolve(client, "jobs", alias="challenger")
    reranker = registry.load_reranker(client, ref)
    # the trade-off's figures are the tuning citizens' (recomputed here), never the judging citizens'
    seed = int(result.base.document.model.seed)
    on_tuning = judge(collect(prepared, part=TUNING, reranker=reranker), policy=policy, kind="jobs", seed=seed)
    assert chosen["ndcg_at_10"] == pytest.approx(on_tuning.results["ndcg_at_10"]["overall"]["model"])
    verdict = mitigated.document
    assert verdict.results["ndcg_at_10"]["overall"]["model"] != pytest.approx(chosen["ndcg_at_10"])
    assert verdict.tuning["results"]["ndcg_at_10"]["overall"]["model"] == pytest.approx(chosen["ndcg_at_10"])
    assert verdict.data["judging_citizens"] == len(judging)
    # the mitigated version records the tuning citizens in its lineage: they never judge it
    lineage = load_lineage(client, run_id=ref.run_id, name=ref.name, version=ref.version, kind="jobs")
    assert np.array_equal(lineage[TUNING], tuning) and not np.intersect1d(lineage[TUNING], judging).size
    assert ref.version == mitigated.version and ref.tags["mitigation.method"] == "fair_top_k"
    assert ref.tags["mitigation.base_version"] == result.base.version
    assert (reranker.proportion, list(reranker.guarantees)) == (chosen["proportion"], chosen["guarantees"])
    assert ref.tags["mitigation.guarantees"] == reranker.label
    loaded = tracking.load_model("jobs", alias="challenger", settings=_settings(home))
    part = prepared.parts[JUDGING]
    features = part.ranked.deep.features.head(50)
    assert np.allclose(loaded.model.predict(features), prepared.model.predict(features))
    # what the service serves for a mitigated version is the re-ranked list the gate assessed
    assert loaded.reranker == reranker and "re-rank" in loaded.info["reranked"]
    # (on these few citizens the chosen strength may change no list: the strongest setting shows the re-ranker
    # is applied by the service, not ignored)
    plain_top = shown_top(prepared, part.ranked.deep, None)
    strongest = reranker.with_proportion(1.0)
    for served_with in (loaded.reranker, strongest, None):
        assessed = shown_top(prepared, part.ranked.deep, served_with)
        changed = [query for query in range(assessed.n_queries)
                   if not np.array_equal(assessed.item_positions[assessed.query_rows == query],
                                         plain_top.item_positions[plain_top.query_rows == query])]
        if served_with is strongest:
            assert changed, "even the strongest guarantee changed no judging citizen's list"
        picks = np.unique(np.r_[changed[:10], np.arange(10)]).astype(int)
        served = Suggester(resources=prepared.resources, model=loaded.model,
                           reranker=served_with).rank(part.context.take(picks), k=10)
        chosen_rows = np.isin(assessed.query_rows, picks)
        assert np.array_equal(picks[served.query_rows], assessed.query_rows[chosen_rows])
        assert np.array_equal(served.item_positions, assessed.item_positions[chosen_rows])
    html = mitigated.report.read_text(encoding="utf-8")
    assert "trade-off" in html and "Tuning and judging figures side by side" in html
    with pytest.raises(LoopbaanError, match="already a mitigated version"):
        mitigate(kind="jobs", settings=_settings(home), policy=policy, data=small_population_dir,
                 version=mitigated.version)


@pytest.mark.slow
def test_held_out_citizens_are_those_the_model_never_learnt_from_also_on_a_second_snapshot(
        assessed: dict, tmp_path: Path) -> None:
    """A second snapshot that shares citizens with the training data (its digest differs): the citizens the
    version trained or validated on stay out by id, and tuning and judging stay disjoint."""
    from assessments import registry
    from assessments.holdout import JUDGING, TUNING
    from features.population.store import SCHEMAS, PopulationStore, write_population
    from models import tracking
    from models.lineage import seen_citizens

    source = PopulationStore(assessed["population"])
    keep = source.table("citizens")["citizen_id"].to_numpy()[::3]  # a third of the citizens, as a new snapshot
    tables = {name: (source.table(name)[source.table(name)["citizen_id"].isin(keep)]
                     if "citizen_id" in source.table(name).columns else source.table(name)) for name in SCHEMAS}
    second = tmp_path / "second"
    write_population(tables=tables, out=second, manifest=source.manifest, datasheet="a subset")
    assert PopulationStore(second).digest() != source.digest()
    client = tracking.configure(_settings(assessed["home"]))
    lineage = registry.lineage_of(client, registry.resolve(client, "jobs", version="1"))
    learnt = seen_citizens(lineage)
    from assessments.run import run_assessment

    for folder, population in ((assessed["population"], source.table("citizens")), (second, tables["citizens"])):
        outcome = run_assessment(kind="jobs", settings=_settings(assessed["home"]), policy=load_policy(),
                                 data=folder, version="1", parts=(TUNING, JUDGING))
        parts = outcome.prepared.holdout.parts
        assert not np.intersect1d(parts[TUNING], parts[JUDGING]).size
        for ids in parts.values():
            assert not np.isin(ids, learnt).any()
        opted_out = population.loc[population["ai_opt_out"].astype(bool), "citizen_id"]
        everyone = np.union1d(parts[TUNING], parts[JUDGING])
        expected = np.setdiff1d(population["citizen_id"], np.union1d(learnt, opted_out))
        assert np.array_equal(everyone, expected)
        assert np.isin(learnt, population["citizen_id"]).any()  # the snapshot does share citizens with training
        assert outcome.document.data["seen_citizens"] == int(np.isin(population["citizen_id"], learnt).sum())


# --- the done-when on the demo's size: the real jobs ranker, a gap-amplifying one, the labour-market finding ----

BIAS_CITIZENS = 20_000  # the demo's size: smaller populations leave the outcome model too few records


@pytest.fixture(scope="module")
def bias_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The same synthetic citizens with the default historical-bias knobs and with every knob at 0, a jobs
    ranker trained on each."""
    from features.population import BiasSettings, PopulationConfig, generate_to

    out = {}
    for name, bias in (("default", BiasSettings()), ("none", BiasSettings.none())):
        folder = tmp_path_factory.mktemp(f"bias-{name}") / "population"
        generate_to(PopulationConfig(citizens=BIAS_CITIZENS, seed=42, bias=bias), out=folder, progress=False)
        home = tmp_path_factory.mktemp(f"bias-home-{name}")
        _train(folder, home, estimators=120)
        out[name] = (folder, home)
    return out


@pytest.mark.slow
def test_default_bias_the_ranker_does_not_widen_the_hiring_gap_one_built_to_does_and_the_market_is_named(
        bias_pair) -> None:
    """With the hiring knobs on, the records penalise older, non-EU and disabled citizens whatever is suggested:
    that is the labour-market finding, not a verdict on the ranker. The real ranker does not lower any group's
    chance of success against the reference ranking; a ranker that shows citizens aged 55-64 their lowest-chance
    vacancies first does, and fails the outcome check on the same judging citizens."""
    from assessments import registry
    from assessments.evidence import collect
    from assessments.holdout import JUDGING
    from assessments.run import judge, prepare_version, run_assessment
    from features.consent import opted_out_ids
    from features.population import PopulationStore
    from models import tracking
    from models.resources import load_resources
    from tests.unfair_rankers import Facts, LowChanceFirst

    folder, home = bias_pair["default"]
    settings = _settings(home)
    policy = load_policy()
    outcome = run_assessment(kind="jobs", settings=settings, policy=policy, data=folder)
    checks = {check.name: check for check in outcome.document.checks}
    assert checks["outcome_parity"].status != "fail", checks["outcome_parity"].summary
    assert checks["outcome_parity_absolute"].status != "pass"  # the penalty the market carries, as context
    finding = outcome.document.labour_market
    assert finding.id and {"age 55-64 (against 35-44)", "non-EU origin (against Belgian)",
                           "arbeidshandicap"} <= set(finding.named)
    for group in finding.groups:
        assert group["records"] > 0 and group["ci"][0] <= group["chance_ratio"] <= group["ci"][1]
    html = outcome.report.read_text(encoding="utf-8")
    assert finding.id in html and "age 55-64 (against 35-44)" in html and "ISCO" in html

    client = tracking.configure(settings)
    ref = registry.resolve(client, "jobs", version=outcome.version)
    prepared = outcome.prepared
    facts = Facts(kind="jobs", sensitive=PopulationStore(folder).table("sensitive").set_index("citizen_id"),
                  items=prepared.items, female_share=prepared.item_female_share, goodness=prepared.goodness,
                  outcome=prepared.outcome)
    amplifying = LowChanceFirst(prepared.scorer, facts, "age_band", "55-64")
    unfair = prepare_version(resources=load_resources("jobs", store=PopulationStore(folder), settings=settings),
                             model=prepared.model, lineage=registry.lineage_of(client, ref), policy=policy,
                             seed=int(outcome.document.model.seed), time_cutoff=None, version=ref.version,
                             opted_out=opted_out_ids(settings, PopulationStore(folder), datetime.now(UTC)),
                             scorer=amplifying)
    assert np.array_equal(unfair.parts[JUDGING].sample_ids, prepared.parts[JUDGING].sample_ids)  # same citizens
    verdict = judge(collect(unfair), policy=policy, kind="jobs", seed=int(outcome.document.model.seed))
    outcome_check = next(check for check in verdict.checks if check["name"] == "outcome_parity")
    assert outcome_check["status"] == "fail" and "55-64" in outcome_check["summary"], outcome_check["summary"]


@pytest.mark.slow
def test_no_historical_bias_passes_the_gate_and_names_no_finding(bias_pair) -> None:
    from assessments.run import run_assessment

    folder, home = bias_pair["none"]
    outcome = run_assessment(kind="jobs", settings=_settings(home), policy=load_policy(), data=folder)
    assert outcome.passed, outcome.failed_checks
    assert outcome.document.finding_id is None or not any(
        "55-64" in name for name in outcome.document.labour_market.named)
    assert "all set to 0" in outcome.report.read_text(encoding="utf-8")
