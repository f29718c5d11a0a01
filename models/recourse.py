"""Recourse: what learning opens up, computed exactly from the readiness rules of :mod:`models.gap`.

- :func:`recourse` — for a bridgeable or stretch item, the smallest set of its missing essential competencies whose
  learning makes it ``ready`` (the size is exact: no smaller set makes it ready); among the sets of that size, the
  one the gap analyser's bridging rule teaches with the fewest trainings (most still-missing competencies first,
  the shortest among equals), and those trainings with their hours; competencies no training teaches are named.
- :func:`unlocking_competencies` — for a citizen, the competencies whose learning alone makes the most items of a
  catalogue ready (for jobs: the vacancies within their commute), counted exactly over the whole catalogue, each
  with the training that teaches it.
- :func:`what_if` — the citizen's query context with competencies added, for the service to re-rank with.

Readiness here is the essential-coverage rule of jobs and career steps; a training's readiness is its Dutch level,
which no competency changes, so trainings have no recourse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import sparse

from features._sparse import binary_csr
from features.citizens import QueryContext
from features.errors import LoopbaanError
from features.items import ItemCatalogue
from features.population.geography import haversine_km
from features.taxonomy import Taxonomy
from models.gap import READY_SHARE, GapAnalyzer, ready_from_features

ERR_NO_RECOURSE_FOR_TRAININGS = ("a training's readiness is its Dutch entry level, which no competency changes: "
                                 "recourse is for jobs and career steps")
ERR_UNKNOWN_COMPETENCIES = "unknown competency ids: {unknown}; choose them with the competency search"


def is_ready(*, held: np.ndarray, essential: np.ndarray) -> np.ndarray:
    """Per item, ``ready`` by the gap analyser's rule, from how many of its ``essential`` competencies are held."""
    held, essential = np.asarray(held, dtype=np.float64), np.asarray(essential)
    coverage = np.divide(held, essential, out=np.ones_like(held), where=essential > 0)
    return ready_from_features("jobs", {"essential_coverage": pd.Series(coverage, copy=False)}, essential)


def needed_to_be_ready(*, held: np.ndarray, essential: np.ndarray) -> np.ndarray:
    """Per item, how many more of its essential competencies make it ready (0 when it is): the share's estimate,
    settled by the rule itself (it may differ by one where the share lands on ``READY_SHARE`` in floating point)."""
    held, essential = np.asarray(held, dtype=np.int64), np.asarray(essential, dtype=np.int64)
    needed = np.clip(np.ceil(READY_SHARE * essential - held).astype(np.int64), 0, None)
    while (short := ~is_ready(held=held + needed, essential=essential)).any():
        needed[short] += 1
    while (spare := (needed > 0) & is_ready(held=held + needed - 1, essential=essential)).any():
        needed[spare] -= 1
    return needed


@dataclass(frozen=True)
class Lesson:
    """A training of the recourse: its catalogue position, hours, and which competencies of the set it teaches."""

    training: int
    hours: float
    teaches: np.ndarray  # competency columns


@dataclass(frozen=True)
class Recourse:
    item: int  # catalogue position
    readiness: str  # now
    learn: np.ndarray  # competency columns: the smallest set of missing essentials that makes the item ready
    lessons: tuple[Lesson, ...]
    untaught: np.ndarray  # competencies of ``learn`` that no training of the catalogue teaches

    @property
    def hours(self) -> float:
        return float(sum(lesson.hours for lesson in self.lessons))


def _taught(gaps: GapAnalyzer, training: int) -> np.ndarray:
    essential = gaps.trainings.essential
    return essential.indices[essential.indptr[training]:essential.indptr[training + 1]]


def _hours(gaps: GapAnalyzer, training: int) -> float:
    return float(np.nan_to_num(gaps.trainings.attributes["duration_hours"].to_numpy(dtype=np.float64)[training]))


@lru_cache(maxsize=8)
def _unlimited(gaps: GapAnalyzer) -> GapAnalyzer:
    """The same bridging rule without its limit on the number of trainings (a stretch may need more)."""
    return GapAnalyzer(trainings=gaps.trainings, max_bridging=len(gaps.trainings))


def recourse(*, held: sparse.csr_matrix, essential: np.ndarray, item: int, gaps: GapAnalyzer,
             kind: str = "jobs") -> Recourse | None:
    """The recourse of one (query, item) pair (``held``: the query's 1 × competencies row, ``essential``: the item's
    columns); None when the item is ready already."""
    if kind == "trainings":
        raise LoopbaanError(ERR_NO_RECOURSE_FOR_TRAININGS)
    gap = gaps.analyse(held=held, essential=essential, kind=kind)
    if gap.readiness == "ready":
        return None
    size = int(needed_to_be_ready(held=np.array([len(gap.matched)]), essential=np.array([len(essential)]))[0])
    order, _ = _unlimited(gaps).bridging(gap.missing)
    learn: list[int] = []
    lessons = []
    missing = set(gap.missing.tolist())
    for training in order:
        if len(learn) >= size:
            break
        teaches = [column for column in _taught(gaps, training).tolist() if column in missing][:size - len(learn)]
        missing -= set(teaches)
        learn += teaches
        lessons.append(Lesson(training=int(training), hours=_hours(gaps, training),
                              teaches=np.array(teaches, dtype=np.int64)))
    untaught = sorted(missing)[:size - len(learn)]  # what no training teaches completes the set
    learn += untaught
    return Recourse(item=int(item), readiness=gap.readiness, learn=np.array(learn, dtype=np.int64),
                    lessons=tuple(lessons), untaught=np.array(untaught, dtype=np.int64))


def recourse_for(*, context: QueryContext, row: int, catalogue: ItemCatalogue, items: Sequence[int],
                 gaps: GapAnalyzer) -> list[Recourse]:
    """The recourse of each item (catalogue positions) that is not ready for the query in ``row``."""
    essential = catalogue.essential
    found = [recourse(held=context.profile[row], essential=essential.indices[essential.indptr[item]:
                                                                             essential.indptr[item + 1]],
                      item=int(item), gaps=gaps, kind=catalogue.kind) for item in items]
    return [entry for entry in found if entry is not None]


@dataclass(frozen=True)
class Unlock:
    competency: int  # column
    items: np.ndarray  # catalogue positions that become ready once it is learnt (sorted)
    lesson: Lesson | None  # the training that teaches it (None: no training does)


def within_commute(*, context: QueryContext, row: int, catalogue: ItemCatalogue) -> np.ndarray:
    """Per item, whether it lies within the citizen's commute range (every item when the home or range is unknown,
    as the barriers claim nothing there; online items always)."""
    query = context.queries.iloc[row]
    distance = haversine_km(np.full(len(catalogue), query["lat"]), np.full(len(catalogue), query["lon"]),
                            catalogue.attributes["lat"].to_numpy(), catalogue.attributes["lon"].to_numpy())
    reachable = distance <= query["max_commute_km"]
    unknown = np.isnan(distance) | np.isnan(query["max_commute_km"])
    return reachable | unknown | catalogue.attributes["online"].to_numpy(dtype=bool)


def unlocking_competencies(*, context: QueryContext, row: int, catalogue: ItemCatalogue, gaps: GapAnalyzer,
                           commute_only: bool = True, limit: int = 10) -> list[Unlock]:
    """The competencies whose learning alone makes the most not-yet-ready items ready, most first (ties: taxonomy
    order); for jobs only the vacancies within the commute when ``commute_only``. Exact: an item becomes ready
    with one competency exactly when it needs one more and misses that one."""
    if catalogue.kind == "trainings":
        raise LoopbaanError(ERR_NO_RECOURSE_FOR_TRAININGS)
    held = context.profile[row]
    essential = catalogue.essential
    matched = np.asarray(essential @ held.T.toarray()).ravel().astype(np.int64)
    total = np.diff(essential.indptr)
    candidates = needed_to_be_ready(held=matched, essential=total) == 1
    if commute_only and catalogue.kind == "jobs":
        candidates &= within_commute(context=context, row=row, catalogue=catalogue)
    rows = np.flatnonzero(candidates)
    opened = essential[rows].tocsc()
    counts = np.diff(opened.indptr)
    counts[held.indices] = 0
    best = [int(column) for column in np.argsort(-counts, kind="stable")[:limit] if counts[column] > 0]
    unlocks = []
    for column in best:
        trainings, _ = gaps.bridging(np.array([column]))
        lesson = (Lesson(training=int(trainings[0]), hours=_hours(gaps, trainings[0]),
                         teaches=np.array([column], dtype=np.int64)) if trainings else None)
        unlocks.append(Unlock(competency=column, items=np.sort(rows[opened.indices[opened.indptr[column]:
                                                                                 opened.indptr[column + 1]]]),
                              lesson=lesson))
    return unlocks


def what_if(context: QueryContext, *, taxonomy: Taxonomy, learn: Sequence[str]) -> QueryContext:
    """The context with the competencies ``learn`` (URIs) held in every row: re-rank with it to show what changes."""
    columns = taxonomy.competency_index.get_indexer(pd.Index(list(learn), dtype=object))
    unknown = [uri for uri, column in zip(learn, columns, strict=True) if column < 0]
    if unknown:
        raise LoopbaanError(ERR_UNKNOWN_COMPETENCIES.format(unknown=", ".join(map(str, unknown[:5]))))
    added = binary_csr(np.repeat(np.arange(len(context)), len(columns)), np.tile(columns, len(context)),
                       context.profile.shape)
    profile = context.profile.maximum(added).tocsr()
    return replace(context, profile=profile.astype(context.profile.dtype))
