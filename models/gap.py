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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from features.items import ItemCatalogue

READY_SHARE = 0.8
MAX_BRIDGING = 3


def ready_from_features(kind: str, features: pd.DataFrame, n_essential: np.ndarray) -> np.ndarray:
    """``ready`` per (query, item) row exactly as :meth:`GapAnalyzer.analyse` decides it, from the pair features:
    a training by its ``dutch_gap``, anything else by ``essential_coverage`` (``n_essential``: the item's number
    of essential competencies; an item without any is ready)."""
    if kind == "trainings":
        gap = features["dutch_gap"].to_numpy(dtype=np.float64)
        return ~(np.nan_to_num(gap, nan=0.0) > 0)
    return (np.asarray(n_essential) == 0) | (features["essential_coverage"].to_numpy(dtype=np.float64) >= READY_SHARE)


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
            gap = 0.0 if dutch_gap is None or np.isnan(dutch_gap) else dutch_gap
            readiness = "ready" if gap <= 0 else "bridgeable" if gap <= 1 else "stretch"
            return Gap(matched=matched, missing=missing, readiness=readiness)
        share = len(matched) / len(essential) if len(essential) else 1.0
        bridging, uncovered = self.bridging(missing) if len(missing) else ([], 0)
        if share >= READY_SHARE:
            readiness = "ready"
        elif uncovered == 0:
            readiness = "bridgeable"
        else:
            readiness = "stretch"
        return Gap(matched=matched, missing=missing, readiness=readiness, bridging=bridging,
                   uncovered_after_bridging=uncovered)
