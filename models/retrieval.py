"""Candidate retrieval: a few hundred items per query out of the whole catalogue, before ranking.

Retrieval score = IDF-weighted competency overlap + ``SEMANTIC_WEIGHT`` × semantic similarity; for jobs
it is damped by ``exp(-commute excess)`` when the home is known, so a perfect match 200 km away does not
crowd out every match nearby. A career step never suggests the query's own last occupation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.citizens import QueryContext
from features.match_space import MatchBlock, MatchSpace

SEMANTIC_WEIGHT = 0.3
DEFAULT_CANDIDATES = 200


@dataclass(frozen=True)
class Candidates:
    """Pairs (query row, item position), grouped by query, best retrieval score first within a query."""

    query_rows: np.ndarray
    item_positions: np.ndarray
    retrieval_scores: np.ndarray  # -inf for an item added because it had to be included


def competency_score(kind: str, *, idf_overlap: np.ndarray, semantic: np.ndarray,
                     commute_excess: np.ndarray | None) -> np.ndarray:
    """The retrieval score from its parts (element-wise, any shape): the one formula of the module docstring."""
    score = idf_overlap + SEMANTIC_WEIGHT * semantic
    if kind == "jobs" and commute_excess is not None:
        score = score * np.exp(-np.nan_to_num(commute_excess, nan=0.0))
    return score


def reference_scores(kind: str, features: pd.DataFrame) -> np.ndarray:
    """The retrieval score of given (query, item) pairs from their pair features: the competency-only order that
    the fairness assessment compares every model with (the model never sees it as such)."""
    excess = features["commute_excess"].to_numpy(dtype=np.float64) if "commute_excess" in features else None
    return competency_score(kind, idf_overlap=features["idf_overlap"].to_numpy(dtype=np.float64),
                            semantic=features["semantic_similarity"].to_numpy(dtype=np.float64),
                            commute_excess=excess)


def retrieval_scores(space: MatchSpace, context: QueryContext, block: MatchBlock, start: int, stop: int) -> np.ndarray:
    catalogue = space.catalogue
    excess = None
    if catalogue.kind == "jobs":
        queries = context.queries.iloc[start:stop]
        distance = space.approximate_km(queries["lat"].to_numpy(), queries["lon"].to_numpy())
        excess = np.maximum(distance / queries["max_commute_km"].to_numpy()[:, None] - 1.0, 0.0)
    score = competency_score(catalogue.kind, idf_overlap=block.idf_overlap, semantic=block.semantic,
                             commute_excess=excess)
    if catalogue.kind == "careers":
        last = context.last_occupation[start:stop]
        position = {occupation: index for index, occupation in enumerate(catalogue.occupation)}
        for row, occupation in enumerate(last):
            if occupation in position:
                score[row, position[occupation]] = -np.inf
    return score


def _top(score: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the ``top_n`` best columns, best first, and their scores (-inf marks an excluded item)."""
    if top_n < score.shape[1]:
        best = np.argpartition(-score, top_n - 1, axis=1)[:, :top_n]
    else:
        best = np.tile(np.arange(score.shape[1]), (score.shape[0], 1))
    best_scores = np.take_along_axis(score, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


def iter_candidates(space: MatchSpace, context: QueryContext, *, top_n: int = DEFAULT_CANDIDATES,
                    must_include: np.ndarray | None = None):
    """Per block of queries: ``(start, stop, block, Candidates)``; ``must_include[q]`` (an item position or -1)
    is added to query q's candidates when retrieval missed it (training data needs the positive in the list)."""
    top_n = min(top_n, len(space.catalogue))
    size = space.block_size()
    for start in range(0, len(context), size):
        stop = min(start + size, len(context))
        block = space.block(context.profile[start:stop])
        best, best_scores = _top(retrieval_scores(space, context, block, start, stop), top_n)
        rows = np.repeat(np.arange(start, stop), top_n)
        items, scores = best.ravel(), best_scores.ravel()
        keep = np.isfinite(scores)
        rows, items, scores = rows[keep], items[keep], scores[keep]
        if must_include is not None:
            wanted = must_include[start:stop]
            present = (best == wanted[:, None]).any(axis=1)
            add = np.flatnonzero(~present & (wanted >= 0))
            rows = np.concatenate([rows, start + add])
            items = np.concatenate([items, wanted[add]])
            scores = np.concatenate([scores, np.full(len(add), -np.inf)])
            order = np.argsort(rows, kind="stable")
            rows, items, scores = rows[order], items[order], scores[order]
        yield start, stop, block, Candidates(query_rows=rows, item_positions=items, retrieval_scores=scores)


def top_per_query(query_rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best-scored rows of every query, grouped by query, best first."""
    order = np.lexsort((-scores, query_rows))
    ranked_rows = query_rows[order]
    first = np.searchsorted(ranked_rows, ranked_rows, side="left")
    return order[(np.arange(len(order)) - first) < k]


def retrieve(space: MatchSpace, context: QueryContext, *, top_n: int = DEFAULT_CANDIDATES) -> Candidates:
    """The ``top_n`` best items per query by retrieval score, grouped by query, best first."""
    parts = [candidates for *_, candidates in iter_candidates(space, context, top_n=top_n)]
    return Candidates(query_rows=np.concatenate([part.query_rows for part in parts]),
                      item_positions=np.concatenate([part.item_positions for part in parts]),
                      retrieval_scores=np.concatenate([part.retrieval_scores for part in parts]))
