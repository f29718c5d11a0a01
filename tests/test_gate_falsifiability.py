"""Every enforced check of the shipped policy can fail on its own: run twice on the same citizens, once with a
ranker made unfair in exactly the way the check is for, which must fail it, and once with the fair ranker it was
made from, which must pass it.

The fair ranker is the competency order with group-blind noise (:class:`tests.unfair_rankers.NoisyReference`): fair
by construction, yet not the reference itself. (The trained rankers' own verdicts on the demo data are measured in
``test_assessments.py`` and ``docs/fairness-gate.md``; a real ranker may leave a check inconclusive, which is not
what this test is about.) The citizens are a population no ranker was fitted on; the outcome model that the
chance-of-success metrics need is fitted on a part of them left out of the assessment. The outcome check itself is
falsified on the demo-sized population in ``test_assessments.py``, where the outcome model has the records it needs
to be sure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assessments.gate import FAIL, PASS
from assessments.policy import load_policy
from tests.unfair_rankers import (
    BuryReady,
    Crowding,
    CutAtypical,
    DemoteGood,
    Facts,
    NoisyReference,
    ProxyDriven,
    Reversed,
)

CITIZENS = 8_000  # enough logged lists of judging citizens to judge quality parity per group
SAMPLE = 1_500  # judging citizens whose suggestions are ranked (the policy's 4,000 would only cost time here)


def falsification_policy():
    """The shipped policy's checks, rules and thresholds, on a smaller sample of suggestions."""
    from assessments.policy import parse_policy
    from tests.assessment_fixtures import policy_data

    return parse_policy({**policy_data(), "policy_version": "2.0-falsification", "sample_citizens": SAMPLE})


@pytest.fixture(scope="module")
def falsification(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from assessments.evidence import prepare
    from assessments.holdout import PARTS, HoldoutRule, split_holdout
    from features.population import PopulationConfig, PopulationStore, generate_to
    from features.settings import Settings
    from models.datasets import build_ranking_data
    from models.resources import load_resources

    folder = tmp_path_factory.mktemp("falsification") / "population"
    generate_to(PopulationConfig(citizens=CITIZENS, seed=11), out=folder, progress=False)
    settings = Settings(home=tmp_path_factory.mktemp("falsification-home"))
    policy = falsification_policy()
    store = PopulationStore(folder)
    resources = load_resources("jobs", store=store, settings=settings)
    ids = store.table("citizens")["citizen_id"].to_numpy()
    fitting = ids[: int(0.3 * len(ids))]  # the outcome model's records; never assessed
    holdout = split_holdout(population=ids, seen=fitting, opted_out=np.zeros(0, np.int64),
                            rule=HoldoutRule(salt=policy.holdout.salt, tuning_share=policy.holdout.tuning_share),
                            folder=str(folder), version="constructed")
    split = {"train": fitting[: int(0.8 * len(fitting))], "valid": fitting[int(0.8 * len(fitting)):],
             "test": np.concatenate([holdout.parts[part] for part in PARTS])}
    data = build_ranking_data(resources, seed=1, split=split)
    fair = NoisyReference("jobs")

    def prepared(scorer):
        return prepare(resources=resources, scorer=scorer, data=data, policy=policy, seed=1, holdout=holdout)

    base = prepared(fair)
    facts = Facts(kind="jobs", sensitive=store.table("sensitive").set_index("citizen_id"), items=base.items,
                  female_share=base.item_female_share, goodness=base.goodness, outcome=base.outcome)
    return {"prepare": prepared, "fair": fair, "facts": facts, "base": base, "policy": policy,
            "province": facts.sensitive["province"].value_counts().index[0]}


def _statuses(prepared, policy) -> dict[str, dict]:
    from assessments.evidence import collect
    from assessments.run import judge

    verdict = judge(collect(prepared), policy=policy, kind="jobs", seed=1)
    return {check["name"]: check for check in verdict.checks}


@pytest.fixture(scope="module")
def fair_checks(falsification: dict) -> dict[str, dict]:
    return _statuses(falsification["base"], falsification["policy"])


UNFAIR = {
    # women's lists turned upside down: what they chose sinks to the bottom
    "quality_parity_ndcg": lambda f: Reversed(f["fair"], f["facts"], "gender", "woman"),
    "quality_parity_recall": lambda f: Reversed(f["fair"], f["facts"], "gender", "woman"),
    # good opportunities demoted for citizens aged 55-64 only
    "good_opportunity_exposure": lambda f: DemoteGood(f["fair"], f["facts"], "age_band", "55-64"),
    # one region's ready items pushed below every other candidate (beyond the re-ranker's depth of 50)
    "readiness_parity": lambda f: BuryReady(f["fair"], f["facts"], "province", f["province"]),
    # gender-atypical occupations cut for women
    "stereotyping": lambda f: CutAtypical(f["fair"], f["facts"], "woman"),
    # a list turned over as soon as the hours clash with care duties, or a Dutch gap shows
    "counterfactual_care_duties": lambda f: ProxyDriven(f["fair"], "hours_clash"),
    "counterfactual_dutch_level": lambda f: ProxyDriven(f["fair"], "dutch_gap"),
    # one global order of the catalogue for everyone: the same few vacancies first wherever they are reached
    "congestion_concentration": lambda f: Crowding(f["fair"]),
    "congestion_unseen": lambda f: Crowding(f["fair"]),
}


def test_every_enforced_check_has_a_falsifying_ranker() -> None:
    enforced = {check.name for check in load_policy().checks if check.enforce}
    assert enforced - set(UNFAIR) == {"outcome_parity"}  # falsified on the demo-sized population


@pytest.mark.slow
@pytest.mark.parametrize("check", sorted(UNFAIR))
def test_an_unfair_ranker_fails_the_check_a_fair_one_passes_on_the_same_citizens(
        check: str, falsification: dict, fair_checks: dict[str, dict]) -> None:
    unfair = _statuses(falsification["prepare"](UNFAIR[check](falsification)), falsification["policy"])
    assert fair_checks[check]["status"] == PASS, fair_checks[check]["summary"]
    assert unfair[check]["status"] == FAIL, unfair[check]["summary"]


@pytest.mark.slow
def test_no_enforced_check_is_constant_by_construction(falsification: dict, fair_checks: dict[str, dict]) -> None:
    """No enforced metric is one that no ranking of these lists could change, and every enforced check is judged."""
    from assessments.aggregate import summarise
    from assessments.evidence import collect

    policy = falsification["policy"]
    summaries = summarise(collect(falsification["base"]), policy=policy, kind="jobs", seed=1)
    for check in policy.checks:
        if check.enforce and check.metric in summaries:
            assert not summaries[check.metric].constant, check.metric
    assert all(check["status"] != "not_judged" for check in fair_checks.values() if check["enforce"])
