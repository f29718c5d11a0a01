"""The parts of the suggestion pipeline, each by its behaviour: registry, metrics, gap analysis, splits, params."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from features.errors import LoopbaanError
from features.feature_definitions import (
    FEATURES,
    KINDS,
    features_for,
    monotone_constraints,
    sentence,
)
from features.items import ItemCatalogue
from features.population.schema import SENSITIVE_COLUMNS
from models.datasets import split_citizens
from models.gap import READY_SHARE, GapAnalyzer, decide_readiness, ready_from_features
from models.metrics import catalogue_coverage, ranking_metrics
from models.ranker import parse_params

# -- feature definitions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_feature_has_a_sentence_in_both_languages(language: str) -> None:
    for feature in FEATURES:
        assert feature.meaning and feature.unit and feature.kinds
        for value in (0.0, 1.0, 0.35, 12.0):
            text = sentence(feature.name, value, language)
            assert text and "{" not in text, (feature.name, text)
        assert sentence(feature.name, float("nan"), language)


def test_sentences_differ_between_languages_and_binary_features_have_two() -> None:
    for feature in FEATURES:
        assert sentence(feature.name, 1.0, "nl") != sentence(feature.name, 1.0, "en")
        if feature.unit == "0/1":
            assert sentence(feature.name, 0.0, "en") != sentence(feature.name, 1.0, "en")


def test_every_kind_has_features_and_every_feature_a_kind() -> None:
    used = {name for kind in KINDS for name in features_for(kind)}
    assert used == {feature.name for feature in FEATURES}
    for kind in KINDS:
        assert len(monotone_constraints(kind)) == len(features_for(kind)) >= 5
    with pytest.raises(ValueError, match="unknown kind"):
        features_for("pets")


def test_no_sensitive_attribute_and_no_embedding_dimension_is_a_feature() -> None:
    forbidden = set(SENSITIVE_COLUMNS) | {"age", "gender", "origin", "disability", "province", "nationality"}
    for feature in FEATURES:
        words = set(feature.name.split("_"))
        assert not words & forbidden, feature.name
        assert not any(part.isdigit() for part in feature.name.split("_")), feature.name  # e.g. embedding_17


# -- metrics ------------------------------------------------------------------------------------------------

def test_ranking_metrics_on_a_hand_computed_example() -> None:
    labels = np.array([0, 1, 0, 2, 0, 0])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.5, 0.4])
    groups = np.array([0, 0, 0, 1, 1, 1])
    result = ranking_metrics(labels=labels, scores=scores, groups=groups)
    # group 0: relevant item at rank 2 → NDCG 1/log2(3), AP 1/2; group 1: relevant at rank 1 → 1, 1
    assert result["ndcg_at_10"] == pytest.approx((1 / np.log2(3) + 1) / 2)
    assert result["map"] == pytest.approx(0.75)
    assert result["recall_at_10"] == 1.0 and result["groups"] == 2


def test_ranking_metrics_skip_groups_without_relevant_items_and_recall_cuts_at_k() -> None:
    labels = np.r_[np.zeros(12), [0] * 11 + [1]]
    scores = np.r_[np.arange(12.0), np.arange(12.0, 0, -1)]
    groups = np.r_[np.zeros(12), np.ones(12)]
    result = ranking_metrics(labels=labels, scores=scores, groups=groups)
    assert result["groups"] == 1 and result["recall_at_10"] == 0.0 and result["ndcg_at_10"] == 0.0


def test_catalogue_coverage() -> None:
    assert catalogue_coverage(np.array([1, 1, 2, 3]), 10) == pytest.approx(0.3)


# -- gap analysis -------------------------------------------------------------------------------------------

def _training_catalogue(taught: list[list[int]], hours: list[float], n_competencies: int = 10) -> ItemCatalogue:
    rows = np.repeat(np.arange(len(taught)), [len(columns) for columns in taught])
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, np.concatenate(taught))),
                               shape=(len(taught), n_competencies))
    return ItemCatalogue(kind="trainings", ids=np.arange(1, len(taught) + 1), titles=pd.DataFrame(
        {"title_nl": [f"opleiding {i}" for i in range(len(taught))], "title_en": [f"training {i}" for i in range(len(taught))]}),
        essential=matrix, optional=sparse.csr_matrix(matrix.shape, dtype=np.float32),
        occupation=np.full(len(taught), -1), attributes=pd.DataFrame({"duration_hours": hours}))


def _held(columns: list[int], n_competencies: int = 10) -> sparse.csr_matrix:
    return sparse.csr_matrix((np.ones(len(columns)), (np.zeros(len(columns), dtype=int), columns)),
                             shape=(1, n_competencies))


def test_readiness_rules() -> None:
    gaps = GapAnalyzer(trainings=_training_catalogue([[5, 6], [7]], [40, 10]))
    essential = np.arange(10)
    enough = int(np.ceil(READY_SHARE * 10))
    assert gaps.analyse(held=_held(list(range(enough))), essential=essential, kind="jobs").readiness == "ready"
    # holds 0-4, misses 5-9: 8 and 9 are taught nowhere → stretch
    assert gaps.analyse(held=_held([0, 1, 2, 3, 4]), essential=essential, kind="jobs").readiness == "stretch"
    # misses 5, 6, 7, all taught in the catalogue → bridgeable
    gap = gaps.analyse(held=_held([0, 1, 2, 3, 4]), essential=np.arange(8), kind="jobs")
    assert gap.readiness == "bridgeable" and sorted(gap.missing.tolist()) == [5, 6, 7]
    assert sorted(gap.matched.tolist()) == [0, 1, 2, 3, 4] and gap.uncovered_after_bridging == 0
    # an item without essential competencies asks nothing: ready
    assert gaps.analyse(held=_held([1]), essential=np.array([], dtype=int), kind="jobs").readiness == "ready"


def test_bridgeable_only_when_the_shown_trainings_close_the_gap() -> None:
    gaps = GapAnalyzer(trainings=_training_catalogue([[1], [2], [3], [4]], [10, 10, 10, 10]))
    three = gaps.analyse(held=_held([0]), essential=np.arange(4), kind="jobs")
    assert three.readiness == "bridgeable" and len(three.bridging) == 3 and three.uncovered_after_bridging == 0
    four = gaps.analyse(held=_held([0]), essential=np.arange(5), kind="jobs")  # needs four trainings
    assert four.readiness == "stretch" and len(four.bridging) == 3 and four.uncovered_after_bridging == 1


def test_training_readiness_follows_the_dutch_entry_level() -> None:
    gaps = GapAnalyzer(trainings=_training_catalogue([[1]], [10]))
    for dutch_gap, expected in ((0.0, "ready"), (1.0, "bridgeable"), (2.0, "stretch"), (float("nan"), "ready")):
        assert gaps.analyse(held=_held([1]), essential=np.array([1, 2]), kind="trainings",
                            dutch_gap=dutch_gap).readiness == expected


def test_one_readiness_rule_for_a_pair_and_for_many() -> None:
    share = np.array([1.0, READY_SHARE, np.nextafter(READY_SHARE, 0), 0.5, 0.0])
    uncovered = np.array([3, 2, 0, 1, 0])
    assert decide_readiness("jobs", share=share, uncovered=uncovered).tolist() == [
        "ready", "ready", "bridgeable", "stretch", "bridgeable"]
    gaps = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    assert decide_readiness("trainings", dutch_gap=gaps).tolist() == [
        "ready", "ready", "bridgeable", "bridgeable", "stretch", "ready"]
    features = pd.DataFrame({"essential_coverage": [np.nan, 0.8, 0.79], "dutch_gap": [np.nan, 0.0, 1.0]})
    assert ready_from_features("careers", features, np.array([0, 5, 5])).tolist() == [True, True, False]
    assert ready_from_features("trainings", features, np.array([0, 5, 5])).tolist() == [True, True, False]
    analyzer = GapAnalyzer(trainings=_training_catalogue([[5, 6], [7]], [40, 10]))
    pairs = [([0, 1, 2, 3, 4, 5, 6, 7], np.arange(10)), ([0, 1, 2, 3, 4], np.arange(10)),
             ([0, 1, 2, 3, 4], np.arange(8)), ([1], np.array([], dtype=int))]
    for held, essential in pairs:  # the per-pair analysis decides by the same rule
        gap = analyzer.analyse(held=_held(held), essential=essential, kind="jobs")
        share = len(gap.matched) / len(essential) if len(essential) else 1.0
        assert gap.readiness == decide_readiness("jobs", share=share, uncovered=gap.uncovered_after_bridging)


def test_the_served_version_is_the_champion_else_an_allowed_challenger_unless_withdrawn() -> None:
    from models.tracking import CHALLENGER, CHAMPION, KindState, ServedVersion, Withdrawal, served_version

    both = KindState(aliases={CHAMPION: "2", CHALLENGER: "3"}, withdrawal=None)
    only_challenger = KindState(aliases={CHALLENGER: "3"}, withdrawal=None)
    withdrawn = KindState(aliases={CHALLENGER: "3"}, withdrawal=Withdrawal(reason="failed", at=None))
    assert served_version(both, allow_challenger=True) == ServedVersion("2", CHAMPION, False)
    assert served_version(only_challenger, allow_challenger=True) == ("3", CHALLENGER, True)
    assert served_version(only_challenger, allow_challenger=False) is None
    assert served_version(withdrawn, allow_challenger=True) is None
    assert served_version(KindState(aliases={}, withdrawal=None), allow_challenger=True) is None


def test_bridging_picks_most_coverage_then_shortest_and_at_most_three() -> None:
    trainings = _training_catalogue(
        [[1, 2, 3], [1, 2, 3], [4], [5], [6], [1]], [100, 20, 5, 5, 5, 1], n_competencies=10)
    gaps = GapAnalyzer(trainings=trainings)
    chosen, uncovered = gaps.bridging(np.array([1, 2, 3, 4, 5, 6, 9]))
    assert chosen[0] == 1  # covers three like training 0, but is shorter
    assert len(chosen) == 3 and set(chosen[1:]) <= {2, 3, 4}
    assert uncovered == 2  # one teachable competency is left after three trainings, and 9 is taught nowhere


# -- splits and parameters ----------------------------------------------------------------------------------

def test_citizen_split_is_disjoint_complete_and_seeded() -> None:
    ids = np.arange(1000, 3000)
    split = split_citizens(ids, seed=3)
    parts = [set(split[role].tolist()) for role in ("train", "valid", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert set().union(*parts) == set(ids.tolist())
    assert len(parts[0]) == 1400 and len(parts[2]) == 300
    assert np.array_equal(split_citizens(ids, seed=3)["test"], split["test"])
    assert not np.array_equal(split_citizens(ids, seed=4)["test"], split["test"])


def test_parse_params_types_values_and_rejects_bad_pairs() -> None:
    assert parse_params(["learning_rate=0.1", "num_leaves=63", "objective=rank_xendcg"]) == {
        "learning_rate": 0.1, "num_leaves": 63, "objective": "rank_xendcg"}
    assert parse_params(["lambdarank_truncation_level=5", "lambdarank_norm=false"]) == {
        "lambdarank_truncation_level": 5, "lambdarank_norm": False}
    for bad, message in (("learning_rate", "key=value"), ("colour=red", "unknown parameter"),
                         ("num_leaves=many", "whole number"), ("learning_rate=abc", "needs a number"),
                         ("n_estimators=0", "at least 1"), ("subsample=1.5", "at most 1"),
                         ("reg_lambda=-1", "positive"), ("objective=regression", "objective must be one of"),
                         ("lambdarank_norm=maybe", "true or false")):
        with pytest.raises(ValueError, match=message):
            parse_params([bad])


# -- cold start and bad input -------------------------------------------------------------------------------

def test_anonymous_profile_rejects_unknown_competency_ids() -> None:
    from features.citizens import anonymous_context
    from features.esco import load_esco

    taxonomy = load_esco()
    known = taxonomy.competencies["uri"].iloc[0]
    with pytest.raises(LoopbaanError, match="unknown competency ids: urn:nope"):
        anonymous_context(taxonomy=taxonomy, competency_uris=[known, "urn:nope"], as_of=date(2026, 6, 30))
    with pytest.raises(LoopbaanError, match="at least one"):
        anonymous_context(taxonomy=taxonomy, competency_uris=[], as_of=date(2026, 6, 30))


@pytest.mark.slow  # fits the lexical index over every occupation label (about 15 s)
def test_typed_titles_find_their_occupation_in_dutch_and_english() -> None:
    from features.esco import load_esco
    from features.title_matching import title_matcher

    matcher = title_matcher(load_esco())
    for title, expected in (("lasser", "lasser"), ("welder", "welder"), ("boekhouder", "boekhouder")):
        assert matcher.search(title, k=1)[0].label.lower() == expected
    with pytest.raises(LoopbaanError, match="empty"):
        matcher.search("  ?! ")
