"""Gap analysis: which essential competencies match, which are missing, readiness, and bridging trainings.

Readiness of a job or career step:
- ``ready`` when the citizen holds at least ``READY_SHARE`` of its essential competencies (or it has none);
- ``bridgeable`` when the bridging trainings shown with it cover every missing essential competency;
- ``stretch`` otherwise (something missing is taught nowhere, or needs more than ``MAX_BRIDGING`` trainings).
Bridging trainings: up to ``MAX_BRIDGING``, chosen greedily, each time the training that covers the most
still-missing competencies, the shortest one among equals.

A training itself is ``ready`` when the citizen meets its Dutch-language entry level (or it is unknown),
``bridgeable`` when one level short (a language course bridges that), else ``stretch``; its "missing"
competencies are what it would teach.

:func:`readiness_levels` is that rule, over arrays of pairs (:func:`decide_readiness` gives its words): the
per-item analysis, the batch's vectorised one and the ready test on pair features (:func:`ready_from_features`)
all call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from features.items import ItemCatalogue
from features.vocabulary import READINESS

READY_SHARE = 0.8
MAX_BRIDGING = 3
_WORDS = np.asarray(READINESS, dtype=object)
_READY, _BRIDGEABLE, _STRETCH = (READINESS.index(word) for word in ("ready", "bridgeable", "stretch"))


def readiness_levels(kind: str, *, share=None, uncovered=None, dutch_gap=None) -> np.ndarray:
    """The readiness rule (see the module docstring) of many (query, item) pairs at once: per pair the position
    of its word in :data:`~features.vocabulary.READINESS` (0 ready, 1 bridgeable, 2 stretch).

    A training by its ``dutch_gap`` (unknown, NaN, counts as none); anything else by ``share``, the share of its
    essential competencies held (1 for an item without any), and ``uncovered``, how many missing competencies
    the bridging trainings leave uncovered. Every path that decides readiness calls this.
    """
    if kind == "trainings":
        gap = np.nan_to_num(np.asarray(dutch_gap, dtype=np.float64), nan=0.0)
        return np.where(gap <= 0, _READY, np.where(gap <= 1, _BRIDGEABLE, _STRETCH))
    share = np.asarray(share, dtype=np.float64)
    return np.where(share >= READY_SHARE, _READY, np.where(np.asarray(uncovered) == 0, _BRIDGEABLE, _STRETCH))


def decide_readiness(kind: str, **rule) -> np.ndarray:
    """:func:`readiness_levels` as words: one of :data:`~features.vocabulary.READINESS` per pair."""
    return _WORDS[readiness_levels(kind, **rule)]


def ready_from_features(kind: str, features: pd.DataFrame, n_essential: np.ndarray) -> np.ndarray:
    """``ready`` per (query, item) row by :func:`readiness_levels`, from the pair features: a training by its
    ``dutch_gap``, anything else by ``essential_coverage`` (``n_essential``: the item's number of essential
    competencies; an item without any is ready)."""
    if kind == "trainings":
        return readiness_levels(kind, dutch_gap=features["dutch_gap"].to_numpy(dtype=np.float64)) == _READY
    share = np.where(np.asarray(n_essential) == 0, 1.0, features["essential_coverage"].to_numpy(dtype=np.float64))
    return readiness_levels(kind, share=share, uncovered=0) == _READY


@dataclass(frozen=True)
class Gap:
    matched: np.ndarray  # competency columns
    missing: np.ndarray
    readiness: str
    bridging: list[int] = field(default_factory=list)  # training positions, in the order chosen
    uncovered_after_bridging: int = 0


class GapAnalyzer:
    """Gap analysis against a training catalogue (the one that offers the bridging trainings)."""

    def __init__(self, *, trainings: ItemCatalogue, max_bridging: int = MAX_BRIDGING) -> None:
        self.trainings = trainings
        self.max_bridging = max_bridging
        self._taught_by = trainings.essential.T.tocsr()  # competency → trainings teaching it
        self._teachable = np.diff(self._taught_by.indptr) > 0
        self._hours = np.nan_to_num(trainings.attributes["duration_hours"].to_numpy(dtype=np.float64), nan=0.0)

    def bridging(self, missing: np.ndarray) -> tuple[list[int], int]:
        """Up to ``max_bridging`` trainings covering the most missing competencies for the least duration."""
        remaining = {int(column) for column in missing if self._teachable[column]}
        chosen: list[int] = []
        taught_by = self._taught_by
        while remaining and len(chosen) < self.max_bridging:
            # the column sums of the remaining competencies' rows, without scipy's (slow) fancy row indexing
            rows = [slice(taught_by.indptr[column], taught_by.indptr[column + 1]) for column in remaining]
            covers = np.bincount(np.concatenate([taught_by.indices[row] for row in rows]),
                                 weights=np.concatenate([taught_by.data[row] for row in rows]),
                                 minlength=taught_by.shape[1])
            if covers.max() <= 0:
                break
            best = np.flatnonzero(covers == covers.max())
            pick = int(best[np.argmin(self._hours[best])])
            chosen.append(pick)
            remaining -= set(self.trainings.essential.indices[
                self.trainings.essential.indptr[pick]:self.trainings.essential.indptr[pick + 1]].tolist())
        unteachable = int((~self._teachable[missing]).sum()) if len(missing) else 0
        return chosen, len(remaining) + unteachable

    def analyse(self, *, held: sparse.csr_matrix, essential: np.ndarray, kind: str, dutch_gap: float = 0.0) -> Gap:
        """Gap of one (query, item) pair: ``held`` is the query's 1 × competencies row, ``essential`` the item's columns."""
        held_columns = held.indices
        is_held = np.isin(essential, held_columns)
        matched, missing = essential[is_held], essential[~is_held]
        if kind == "trainings":
            gap = np.nan if dutch_gap is None else dutch_gap
            return Gap(matched=matched, missing=missing, readiness=str(decide_readiness(kind, dutch_gap=gap)))
        share = len(matched) / len(essential) if len(essential) else 1.0
        bridging, uncovered = self.bridging(missing) if len(missing) else ([], 0)
        word = decide_readiness(kind, share=share, uncovered=uncovered)
        return Gap(matched=matched, missing=missing, readiness=str(word), bridging=bridging,
                   uncovered_after_bridging=uncovered)
