"""Deliberately unfair rankers for the falsifiability tests of the fairness gate.

Each wraps a fair scorer (:class:`NoisyReference`, or a trained booster) and breaks one thing for one group, the way
a biased model could:
it looks at who the citizen is (by id, through the sensitive table) or leans on a proxy feature. The gate must
fail the check built to catch each one, on the same citizens on which the fair scorer passes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from assessments._ranking import Scorer
from assessments.evidence import Goodness, good_flags
from assessments.outcome_model import OutcomeModels, atypical
from models.gap import ready_from_features
from models.rerank import ItemFacts
from models.retrieval import reference_scores

LARGE = 1_000.0  # larger than any score difference: moves an item past every other candidate


@dataclass(frozen=True)
class NoisyReference:
    """A fair ranker by construction: the competency order with group-blind noise of its own (fixed per citizen
    and item, so an altered circumstance changes nothing by itself). It never looks at who the citizen is, nor at a
    proxy; it is the base every unfair ranker below breaks in one way."""

    kind: str
    noise: float = 0.3

    def score(self, features, *, citizen_ids, item_positions):
        keys = (np.asarray(citizen_ids, dtype=np.uint64) * np.uint64(1_000_003)
                + np.asarray(item_positions, dtype=np.uint64))
        uniform = (keys * np.uint64(2654435761) % np.uint64(2 ** 32)).astype(np.float64) / 2 ** 32
        return reference_scores(self.kind, features) * (1.0 + self.noise * (uniform - 0.5))


@dataclass(frozen=True)
class Facts:
    """What the unfair rankers need to know about citizens and items (the tests read the sensitive table)."""

    kind: str
    sensitive: pd.DataFrame  # indexed by citizen id
    items: ItemFacts
    female_share: np.ndarray
    goodness: Goodness
    outcome: OutcomeModels | None

    def member(self, citizen_ids: np.ndarray, column: str, value: object) -> np.ndarray:
        known = self.sensitive.reindex(citizen_ids)[column].to_numpy()
        return known == value


@dataclass(frozen=True)
class _GroupTargeted:
    """A fair scorer that one subclass changes for the members of one group (``column`` equal to ``value``)."""

    fair: Scorer
    facts: Facts
    column: str
    value: object

    def _fair_and_members(self, features, citizen_ids, item_positions) -> tuple[np.ndarray, np.ndarray]:
        scores = self.fair.score(features, citizen_ids=citizen_ids, item_positions=item_positions)
        return scores, self.facts.member(citizen_ids, self.column, self.value)


class Reversed(_GroupTargeted):
    """Orders one group's lists upside down: what they chose ends at the bottom."""

    def score(self, features, *, citizen_ids, item_positions):
        scores, members = self._fair_and_members(features, citizen_ids, item_positions)
        return np.where(members, -scores, scores)


class DemoteGood(_GroupTargeted):
    """Pushes every good opportunity of one group below everything else."""

    def score(self, features, *, citizen_ids, item_positions):
        scores, members = self._fair_and_members(features, citizen_ids, item_positions)
        good = np.nan_to_num(good_flags(self.facts.goodness, self.facts.outcome, self.facts.items, features,
                                        item_positions), nan=0.0)
        return scores - LARGE * good * members


class BuryReady(_GroupTargeted):
    """Pushes one group's ready items beyond the re-ranker's depth (rank 60 of 200 candidates, say)."""

    def score(self, features, *, citizen_ids, item_positions):
        scores, members = self._fair_and_members(features, citizen_ids, item_positions)
        ready = ready_from_features(self.facts.kind, features, self.facts.items.n_essential[item_positions])
        return scores - LARGE * ready * members


@dataclass(frozen=True)
class CutAtypical:
    """Cuts occupations atypical for their gender from one gender's lists."""

    fair: Scorer
    facts: Facts
    gender: str

    def score(self, features, *, citizen_ids, item_positions):
        scores = self.fair.score(features, citizen_ids=citizen_ids, item_positions=item_positions)
        gender = self.facts.sensitive.reindex(citizen_ids)["gender"].to_numpy()
        share = self.facts.female_share[item_positions]
        flagged = np.isfinite(share) & atypical(gender, np.nan_to_num(share, nan=0.5)) & (gender == self.gender)
        return scores - LARGE * flagged


class LowChanceFirst(_GroupTargeted):
    """Shows one group the items with the lowest chance of success first, where a penalty bites hardest."""

    def score(self, features, *, citizen_ids, item_positions):
        scores, members = self._fair_and_members(features, citizen_ids, item_positions)
        chance = self.facts.outcome.blind.predict(features)
        return np.where(members, -LARGE * chance, scores)


@dataclass(frozen=True)
class ProxyDriven:
    """Treats a citizen differently as soon as a proxy-laden feature shows anywhere in their candidates (hours that
    clash with care duties, a Dutch gap): their list is turned upside down."""

    fair: Scorer
    feature: str

    def score(self, features, *, citizen_ids, item_positions):
        scores = self.fair.score(features, citizen_ids=citizen_ids, item_positions=item_positions)
        shows = np.nan_to_num(features[self.feature].to_numpy(dtype=np.float64), nan=0.0) > 0
        flagged = pd.Series(shows).groupby(citizen_ids).transform("any").to_numpy()
        return np.where(flagged, -scores, scores)


@dataclass(frozen=True)
class Crowding:
    """Ranks every citizen's candidates by one global preference order of the catalogue, whoever they are: the same
    few vacancies come first for everyone who can reach them."""

    fair: Scorer

    def score(self, features, *, citizen_ids, item_positions):
        return -np.asarray(item_positions, dtype=np.float64)
