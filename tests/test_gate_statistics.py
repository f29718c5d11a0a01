"""The gate's statistics on simulated cases with known answers: BCa coverage of a ratio, p-values that agree
with the intervals, the multiplicity correction, standardised group means, and checks that cannot be judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assessments.aggregate import summarise
from assessments.evidence import Evidence
from assessments.gate import FAIL, INCONCLUSIVE, NOT_JUDGED, PASS, decide, evaluate
from assessments.policy import parse_policy
from assessments.statistics import Bca, adjust
from tests.assessment_fixtures import policy_data

REF = "@reference"


def _policy(checks: list[dict], **changes):
    data = {**policy_data(), "sensitive_features": {"gender": "gender"}, "intersections": [], "checks": checks,
            "policy_version": "2.0-test", **changes}
    return parse_policy(data)


def _evidence(frame: pd.DataFrame, *, outcomes: pd.DataFrame | None = None) -> Evidence:
    return Evidence(kind="jobs", part="judging", outcomes=outcomes if outcomes is not None else pd.DataFrame(),
                    suggestions=frame, shown={"model": (np.zeros(0, int), np.zeros(0, int)),
                                              "reference": (np.zeros(0, int), np.zeros(0, int))},
                    catalogue_size=3)


def _groups(rng: np.random.Generator, means: dict[str, float], sizes: dict[str, int]) -> pd.DataFrame:
    parts = [pd.DataFrame({"ready_share": (rng.random(sizes[name]) < mean).astype(float), "gender": name})
             for name, mean in means.items()]
    frame = pd.concat(parts, ignore_index=True)
    frame[f"ready_share{REF}"] = frame["ready_share"]
    return frame


ADVISORY_RATIO = [{"name": "parity", "metric": "ready_share", "rule": "min_ratio", "threshold": 0.8,
                   "enforce": False}]


@pytest.mark.slow
def test_the_bca_interval_of_a_lowest_over_highest_ratio_covers_the_true_ratio() -> None:
    """Two groups with known shares 0.45 and 0.6 (true ratio 0.75): the 95% interval of the ratio, from the same
    machinery the gate uses, covers it in at least 93% of 200 simulated samples."""
    policy = _policy(ADVISORY_RATIO, min_group_size=30)
    rng = np.random.default_rng(2026)
    covered, widths = 0, []
    for run in range(200):
        frame = _groups(rng, {"man": 0.45, "woman": 0.6}, {"man": 250, "woman": 350})
        checks = evaluate(summarise(_evidence(frame), policy=policy, kind="jobs", seed=run), policy=policy,
                          kind="jobs")
        low, high = checks[0].findings[0]["ci"]
        covered += low <= 0.75 <= high
        widths.append(high - low)
    assert covered / 200 >= 0.93, covered
    assert 0.1 < np.median(widths) < 0.4  # an interval, not everything


def test_a_p_value_is_the_interval_inverted_at_the_threshold() -> None:
    rng = np.random.default_rng(5)
    replicates = rng.normal(0.7, 0.05, 400)
    jackknife = rng.normal(0.7, 0.01, 50)
    bca = Bca.of(0.7, replicates, jackknife)
    low, high = bca.interval(0.95)
    # a floor just above the upper bound: beyond doubt at 2.5%; just below it: not
    assert bca.p_beyond(high + 0.01, upper_limit=False) < 0.025 < bca.p_beyond(high - 0.01, upper_limit=False)
    assert bca.p_beyond(low - 0.01, upper_limit=True) < 0.025 < bca.p_beyond(low + 0.01, upper_limit=True)
    # far beyond every replicate the normal tail still ranks the evidence (no floor at 1 / replicates)
    assert bca.p_beyond(1.2, upper_limit=False) < 1e-6


def test_holm_and_bonferroni_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, method="bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running maximum
    assert adjust(p, method="holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, method="none") == pytest.approx(p)
    with pytest.raises(ValueError, match="holm, bonferroni, none"):
        adjust(p, method="sidak")


def _gap_case(model: dict[str, float], reference: dict[str, float], size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for name in model:
        rows.append(pd.DataFrame({"ready_share": (rng.random(size) < model[name]).astype(float),
                                  f"ready_share{REF}": (rng.random(size) < reference[name]).astype(float),
                                  "gender": name}))
    return pd.concat(rows, ignore_index=True)


GAP_CHECK = [{"name": "gap", "metric": "ready_share", "rule": "gap_vs_reference", "threshold": 0.9}]


def test_a_model_that_widens_a_gap_fails_and_one_that_keeps_the_reference_gap_passes() -> None:
    policy = _policy(GAP_CHECK)
    same = _gap_case({"man": 0.4, "woman": 0.8}, {"man": 0.4, "woman": 0.8}, 600, seed=1)
    wider = _gap_case({"man": 0.2, "woman": 0.8}, {"man": 0.4, "woman": 0.8}, 600, seed=1)
    [kept] = evaluate(summarise(_evidence(same), policy=policy, kind="jobs", seed=0), policy=policy, kind="jobs")
    [widened] = evaluate(summarise(_evidence(wider), policy=policy, kind="jobs", seed=0), policy=policy, kind="jobs")
    # the gap itself (ratio 0.5) is in the data: the check judges only what the model adds to it
    assert kept.status == PASS and kept.findings[0]["model_ratio"] == pytest.approx(0.5, abs=0.08)
    assert widened.status == FAIL and widened.findings[0]["value"] == pytest.approx(0.5, abs=0.1)
    # a smaller widening on a few dozen citizens is beyond the threshold but not beyond doubt; the precautionary
    # basis blocks it all the same
    few = _gap_case({"man": 0.3, "woman": 0.8}, {"man": 0.4, "woman": 0.8}, 40, seed=3)
    [unsure] = evaluate(summarise(_evidence(few), policy=policy, kind="jobs", seed=0), policy=policy, kind="jobs")
    assert unsure.findings[0]["value"] < 0.9 and unsure.status == INCONCLUSIVE
    point = _policy(GAP_CHECK, decision_basis="point")
    [blocked] = evaluate(summarise(_evidence(few), policy=point, kind="jobs", seed=0), policy=point, kind="jobs")
    assert blocked.status == FAIL


def test_multiplicity_turns_a_borderline_finding_among_many_into_doubt() -> None:
    """One finding that is just beyond doubt alone is inconclusive once it is one of many enforced findings."""
    frame = _gap_case({"man": 0.25, "woman": 0.8}, {"man": 0.4, "woman": 0.8}, 200, seed=3)
    alone = _policy(GAP_CHECK, multiplicity="none")
    [single] = evaluate(summarise(_evidence(frame), policy=alone, kind="jobs", seed=0), policy=alone, kind="jobs")
    p = single.findings[0]["p"]
    many = [{"name": f"copy_{index}", "metric": "ready_share", "rule": "gap_vs_reference", "threshold": 0.9}
            for index in range(int(np.ceil(0.025 / p)) + 5)]
    corrected = _policy(many, multiplicity="bonferroni")
    results = evaluate(summarise(_evidence(frame), policy=corrected, kind="jobs", seed=0), policy=corrected,
                       kind="jobs")
    assert single.status == FAIL and 0 < p < 0.025
    assert all(check.status == INCONCLUSIVE for check in results)
    assert results[0].findings[0]["p_adjusted"] == pytest.approx(min(1.0, p * len(many)))


def test_quality_on_logged_lists_is_compared_on_the_same_mix_of_list_lengths() -> None:
    """Job seekers (20-item lists) score lower NDCG than employed citizens (10 items) whatever the order; a group
    holding more job seekers must not look worse served for that alone."""
    rng = np.random.default_rng(4)
    rows = []
    for gender, seekers in (("man", 0.8), ("woman", 0.2)):
        stratum = (rng.random(2000) < seekers).astype(int)  # 1: a list of 11-20 items
        quality = np.where(stratum == 1, 0.4, 0.8) + rng.normal(0, 0.05, 2000)
        rows.append(pd.DataFrame({"ndcg_at_10": quality, f"ndcg_at_10{REF}": quality, "stratum": stratum,
                                  "gender": gender}))
    outcomes = pd.concat(rows, ignore_index=True)
    policy = _policy([{"name": "quality", "metric": "ndcg_at_10", "rule": "min_ratio", "threshold": 0.95,
                       "enforce": False}])
    summary = summarise(_evidence(pd.DataFrame(), outcomes=outcomes), policy=policy, kind="jobs", seed=0)
    values = summary["ndcg_at_10"].breakdowns["gender"].values["model"].point
    assert values == pytest.approx([0.6, 0.6], abs=0.01)  # raw means would be 0.48 and 0.72
    [check] = evaluate(summary, policy=policy, kind="jobs")
    assert check.status == PASS


def test_a_metric_no_order_can_change_is_found_and_blocks_under_require_evidence() -> None:
    """recall@10 of lists of at most 10 items is 1 for every order: such a check would always pass. A metric is
    constant by construction when the best and the worst order of every list give the same value; its check is not
    judged, and with require_evidence the gate fails."""
    from assessments.evidence import _constant_by_construction

    single = np.array([1, 2, 1])  # three lists of one item: no order changes anything
    assert _constant_by_construction(single, np.array([0, 1, 2]), seed=0) == {"ndcg_at_10", "recall_top_half"}
    four = np.array([1, 0, 0, 0, 0, 1, 0, 0])  # lists of four with one chosen item: the order matters
    assert _constant_by_construction(four, np.repeat([0, 1], 4), seed=0) == frozenset()
    rng = np.random.default_rng(0)
    quality = rng.random(400)
    outcomes = pd.DataFrame({"ndcg_at_10": quality, f"ndcg_at_10{REF}": quality, "stratum": 0,
                             "gender": ["man", "woman"] * 200})
    policy = _policy([{"name": "quality", "metric": "ndcg_at_10", "rule": "gap_vs_reference", "threshold": 0.9}])
    constant = Evidence(kind="jobs", part="judging", outcomes=outcomes, suggestions=pd.DataFrame(),
                        shown={"model": (np.zeros(0, int), np.zeros(0, int)),
                               "reference": (np.zeros(0, int), np.zeros(0, int))}, catalogue_size=3,
                        constant=frozenset({"ndcg_at_10"}))
    checks = evaluate(summarise(constant, policy=policy, kind="jobs", seed=0), policy=policy, kind="jobs")
    assert checks[0].status == NOT_JUDGED and "constant across citizens by construction" in checks[0].summary
    assert decide(checks, policy=policy) == (False, ["quality"])
    varied = _evidence(pd.DataFrame(), outcomes=outcomes)
    checks = evaluate(summarise(varied, policy=policy, kind="jobs", seed=0), policy=policy, kind="jobs")
    assert checks[0].status == PASS


def test_a_floor_far_above_every_replicate_is_beyond_doubt_even_with_a_large_acceleration() -> None:
    """A group left with nothing (the unfair ranker's 0.00 of the reference's parity against a floor of 0.9) must
    survive a multiplicity correction over dozens of findings; a floor inside the replicates must not."""
    replicates = np.sort(np.abs(np.random.default_rng(0).normal(0.001, 0.0013, 200)))
    bca = Bca(estimate=0.0013, replicates=replicates, z0=0.113, acceleration=0.16)
    assert bca.p_beyond(0.9, upper_limit=False) < 1e-6
    assert bca.p_beyond(float(np.median(replicates)), upper_limit=False) > 0.1


@pytest.mark.parametrize("acceleration", [0.16, -0.16, 0.0])
def test_the_p_value_moves_one_way_as_the_threshold_moves_even_past_every_replicate(acceleration: float) -> None:
    """A floor far below every replicate is not beyond doubt (p 1), a floor far above is (p near 0), and in between
    a higher floor is never less doubtful; for a maximum the other way round. With a large acceleration the BCa
    inversion has a pole: a threshold past it once read as beyond doubt on the wrong side (p 0.00 for a group at a
    ratio of 1.004 against a floor of 0.8, seen in an assessment)."""
    replicates = np.sort(np.random.default_rng(1).normal(1.0, 0.002, 400))
    bca = Bca(estimate=1.0, replicates=replicates, z0=0.05, acceleration=acceleration)
    thresholds = np.concatenate([[-5.0, 0.0, 0.8, 0.99], np.quantile(replicates, np.linspace(0, 1, 21)),
                                 [1.01, 1.25, 5.0]])
    floor = [bca.p_beyond(float(threshold), upper_limit=False) for threshold in thresholds]
    maximum = [bca.p_beyond(float(threshold), upper_limit=True) for threshold in thresholds]
    assert min(floor[:3]) > 1 - 1e-6 and floor[-1] < 1e-6
    assert maximum[0] < 1e-6 and min(maximum[-2:]) > 1 - 1e-6
    assert all(later <= earlier + 1e-12 for earlier, later in zip(floor, floor[1:], strict=False))
    assert all(later >= earlier - 1e-12 for earlier, later in zip(maximum, maximum[1:], strict=False))
