"""The gap analysis of :mod:`models.gap` for many (query, item) pairs at once, as ragged columns: the nightly
batch's hot path, with the same results as :meth:`models.gap.GapAnalyzer.analyse` pair by pair (a test compares
them) and its readiness from the same rule, :func:`models.gap.decide_readiness`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from features.citizens import QueryContext
from models import batch_write
from models.gap import decide_readiness
from models.resources import KindResources


def _ragged_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of CSR rows ``rows`` in stored order: (owner = position in ``rows``, column)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owner, indices[np.repeat(starts, lengths) + offsets].astype(np.int64)


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    where = np.searchsorted(sorted_keys, keys)
    found = np.zeros(len(keys), dtype=bool)
    inside = where < len(sorted_keys)
    found[inside] = sorted_keys[where[inside]] == keys[inside]
    return found


def _offsets(owner: np.ndarray, count: int) -> np.ndarray:
    return np.r_[0, np.cumsum(np.bincount(owner, minlength=count))].astype(np.int64)


@dataclass(frozen=True)
class GapColumns:
    """:meth:`models.gap.GapAnalyzer.analyse` of many (query, item) pairs, as ragged columns."""

    readiness: np.ndarray
    matched: batch_write.Ragged
    missing: batch_write.Ragged
    bridging: batch_write.Ragged  # training positions per pair, in the order chosen
    covers: batch_write.Ragged  # per bridging training: the missing competencies it covers, in its own order


_COVER_CHUNK = 2_048  # pairs per dense (pairs × trainings) block of the greedy bridging step


def batch_gaps(resources: KindResources, context: QueryContext, query_rows: np.ndarray, items: np.ndarray,
               dutch_gap: np.ndarray | None) -> GapColumns:
    """The gap analysis of :mod:`models.gap` for every pair at once (the batch's hot path; the same results).

    Per pair: matched and missing essential competencies (in the item's order); for a training, readiness from
    the Dutch-language gap; otherwise up to ``max_bridging`` bridging trainings chosen greedily (most missing
    competencies covered, the shortest among equals, the first among those), and readiness.
    """
    n_pairs = len(items)
    essential = resources.catalogue.essential
    owner, column = _ragged_rows(essential.indptr, essential.indices, items)
    n_columns = context.profile.shape[1]
    profile = context.profile.tocsr()
    held_keys = np.sort(np.repeat(np.arange(profile.shape[0], dtype=np.int64), np.diff(profile.indptr)) * n_columns
                        + profile.indices.astype(np.int64))
    held = _member(np.asarray(query_rows, dtype=np.int64)[owner] * n_columns + column, held_keys)
    matched = batch_write.Ragged(_offsets(owner[held], n_pairs), column[held])
    missing = batch_write.Ragged(_offsets(owner[~held], n_pairs), column[~held])
    if resources.kind == "trainings":
        readiness = decide_readiness(resources.kind, dutch_gap=np.zeros(n_pairs) if dutch_gap is None else dutch_gap)
        nothing = np.zeros(0, dtype=np.int64)
        return GapColumns(readiness=readiness, matched=matched, missing=missing,
                          bridging=batch_write.Ragged(np.zeros(n_pairs + 1, dtype=np.int64), nothing),
                          covers=batch_write.Ragged(np.zeros(1, dtype=np.int64), nothing))
    bridging, covers, uncovered = _greedy_bridging(resources, owner[~held], column[~held], n_pairs=n_pairs,
                                                   n_columns=n_columns)
    n_essential = np.diff(essential.indptr)[np.asarray(items, dtype=np.int64)]
    share = np.ones(n_pairs)
    share[n_essential > 0] = np.diff(matched.offsets)[n_essential > 0] / n_essential[n_essential > 0]
    return GapColumns(readiness=decide_readiness(resources.kind, share=share, uncovered=uncovered), matched=matched,
                      missing=missing, bridging=bridging, covers=covers)


def _greedy_bridging(resources: KindResources, missing_owner: np.ndarray, missing_column: np.ndarray, *,
                     n_pairs: int, n_columns: int) -> tuple[batch_write.Ragged, batch_write.Ragged, np.ndarray]:
    """:meth:`models.gap.GapAnalyzer.bridging` for every pair at once, one greedy step for all pairs at a time.

    Returns the chosen trainings per pair, the competencies each covers (in the training's own order, as the
    live path lists them), and per pair how many missing competencies stay uncovered (unteachable included).
    """
    trainings = resources.trainings.essential.tocsr()
    taught_by = trainings.T.tocsr()  # competency → the trainings teaching it
    hours = np.nan_to_num(resources.trainings.attributes["duration_hours"].to_numpy(dtype=np.float64), nan=0.0)
    teachable = (np.diff(taught_by.indptr) > 0)[missing_column]
    uncovered = np.bincount(missing_owner[~teachable], minlength=n_pairs)
    owner, column = missing_owner[teachable], missing_column[teachable]  # still to cover, per pair
    chosen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, step, training)
    covered: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, step, competency column)
    for step in range(resources.gaps.max_bridging):
        active = np.unique(owner)
        if not len(active):
            break
        picks = _best_trainings(taught_by, hours, active, owner, column, n_columns=n_columns)
        stopped = np.isin(owner, active[picks < 0])  # nothing covers what is left: the greedy ends for that pair
        uncovered = uncovered + np.bincount(owner[stopped], minlength=n_pairs)
        owner, column = owner[~stopped], column[~stopped]
        going, picked = active[picks >= 0], picks[picks >= 0]
        chosen.append((going, np.full(len(going), step), picked))
        taught_owner, taught_column = _ragged_rows(trainings.indptr, trainings.indices, picked)
        taught_keys = going[taught_owner] * n_columns + taught_column
        remaining_keys = owner * n_columns + column
        covers = _member(taught_keys, np.sort(remaining_keys))
        covered.append((going[taught_owner][covers], np.full(int(covers.sum()), step), taught_column[covers]))
        keep = ~_member(remaining_keys, np.sort(taught_keys))
        owner, column = owner[keep], column[keep]
    uncovered = uncovered + np.bincount(owner, minlength=n_pairs)

    pair, step, training = _stack(chosen)
    order = np.lexsort((step, pair))
    pair, step, training = pair[order], step[order], training[order]
    c_pair, c_step, c_column = _stack(covered)
    order = np.lexsort((np.arange(len(c_pair)), c_step, c_pair))  # stable: each training's own column order
    c_pair, c_step, c_column = c_pair[order], c_step[order], c_column[order]
    width = resources.gaps.max_bridging + 1
    entry = np.searchsorted(pair * width + step, c_pair * width + c_step)  # the bridging entry each column belongs to
    return (batch_write.Ragged(_offsets(pair, n_pairs), training), batch_write.Ragged(_offsets(entry, len(pair)),
                                                                                      c_column), uncovered)


def _stack(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, second, third = zip(*parts, strict=True)
    return np.concatenate(first), np.concatenate(second), np.concatenate(third)


def _best_trainings(taught_by, hours: np.ndarray, active: np.ndarray, owner: np.ndarray, column: np.ndarray, *,
                    n_columns: int) -> np.ndarray:
    """Per active pair: the training covering most of its remaining columns, the shortest among equals, the first
    among those (-1 when none covers any)."""
    local = np.searchsorted(active, owner)
    picks = np.empty(len(active), dtype=np.int64)
    for start in range(0, len(active), _COVER_CHUNK):
        stop = min(start + _COVER_CHUNK, len(active))
        inside = (local >= start) & (local < stop)
        remaining = sparse.csr_matrix((np.ones(int(inside.sum()), dtype=np.float32),
                                       (local[inside] - start, column[inside])), shape=(stop - start, n_columns))
        counts = (remaining @ taught_by).toarray()  # pairs × trainings: remaining columns each training covers
        most = counts.max(axis=1)
        pick = np.argmin(np.where(counts == most[:, None], hours[None, :], np.inf), axis=1)
        picks[start:stop] = np.where(most > 0, pick, -1)
    return picks
