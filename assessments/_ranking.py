"""Deep candidate lists: retrieval, pair features and model scores, the best ``depth`` per query kept.

The assessment needs more than the top 10 the service shows: the re-ranker (:mod:`models.rerank`)
chooses its top 10 out of the model's best ``depth`` candidates. Retrieval and features are those of the
service (``models.retrieval``, ``features.pair_features``), so the top 10 here is what a citizen sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assessments.ranking_metrics import positions_in_list
from features.citizens import QueryContext
from models.ranker import ScoringModel
from models.resources import KindResources
from models.retrieval import DEFAULT_CANDIDATES, iter_candidates, top_per_query
from models.suggest import RankedLists


@dataclass(frozen=True)
class CandidateLists:
    """Rows grouped by query (0..n_queries-1), best model score first, at most ``depth`` per query."""

    query_rows: np.ndarray
    item_positions: np.ndarray
    scores: np.ndarray
    features: pd.DataFrame
    n_queries: int
    pool_share: np.ndarray | None = None  # per query: flagged share of the retrieval's own top ``reference_k``

    def positions(self) -> np.ndarray:
        return positions_in_list(self.query_rows)

    def top(self, k: int) -> CandidateLists:
        keep = np.flatnonzero(self.positions() <= k)
        return self.take(keep)

    def take(self, rows: np.ndarray) -> CandidateLists:
        return CandidateLists(query_rows=self.query_rows[rows], item_positions=self.item_positions[rows],
                              scores=self.scores[rows], features=self.features.iloc[rows].reset_index(drop=True),
                              n_queries=self.n_queries, pool_share=self.pool_share)

    def as_ranked(self) -> RankedLists:
        """The lists in the shape ``models.suggest`` works with (no contributions)."""
        return RankedLists(query_rows=self.query_rows, item_positions=self.item_positions, scores=self.scores,
                           features=self.features, contributions=np.zeros((len(self.scores), 0)))


def rank_candidates(*, resources: KindResources, model: ScoringModel, context: QueryContext, depth: int,
                    top_n: int = DEFAULT_CANDIDATES,
                    pool_flags: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                    reference_k: int = 10) -> CandidateLists:
    """Retrieve ``top_n`` candidates per query, score them, keep the best ``depth`` (ties: retrieval order).

    ``pool_flags(query_rows, item_positions)`` → 0/1 per candidate: its share among the retrieval's own best
    ``reference_k`` candidates of a query (the top 10 on competencies alone, before the model) is kept in
    ``pool_share``, the reference the model's top 10 is compared with.
    """
    rows, items, scores, features = [], [], [], []
    flagged = np.zeros(len(context))
    counted = np.zeros(len(context))
    for start, _, block, candidates in iter_candidates(resources.space, context, top_n=max(top_n, depth)):
        if pool_flags is not None:
            first = positions_in_list(candidates.query_rows) <= reference_k
            rows_first = candidates.query_rows[first]
            flags = np.asarray(pool_flags(rows_first, candidates.item_positions[first]), dtype=np.float64)
            flagged += np.bincount(rows_first, weights=flags, minlength=len(context))
            counted += np.bincount(rows_first, minlength=len(context))
        frame = resources.featurizer.transform(context, candidates.query_rows, candidates.item_positions,
                                               block=(start, block))
        score = model.predict(frame)
        keep = top_per_query(candidates.query_rows, score, depth)
        rows.append(candidates.query_rows[keep])
        items.append(candidates.item_positions[keep])
        scores.append(score[keep])
        features.append(frame.iloc[keep])
    if not rows:
        return CandidateLists(query_rows=np.zeros(0, np.int64), item_positions=np.zeros(0, np.int64),
                              scores=np.zeros(0), features=pd.DataFrame(columns=list(model.feature_names)),
                              n_queries=len(context))
    with np.errstate(invalid="ignore", divide="ignore"):
        pool_share = np.where(counted > 0, flagged / counted, np.nan) if pool_flags is not None else None
    return CandidateLists(query_rows=np.concatenate(rows), item_positions=np.concatenate(items),
                          scores=np.concatenate(scores), features=pd.concat(features, ignore_index=True),
                          n_queries=len(context), pool_share=pool_share)
