"""The one candidate-scoring loop: retrieve → pair features → score, one block of queries at a time.

The service's ranker (:meth:`models.suggest.Suggester.rank`) and the fairness assessment
(:func:`assessments._ranking.rank_candidates`) both score through :func:`scored_blocks`, so the model's list that
an assessment judges is the list a citizen sees. Each caller then keeps what it needs of a block (a query's best
``depth`` by score, the reference ranking's top, counts over every candidate) before the next block is scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Self

import numpy as np
import pandas as pd

from features.citizens import QueryContext
from models.resources import KindResources
from models.retrieval import iter_candidates, top_per_query

Score = Callable[[pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]  # (features, query rows, item positions)


@dataclass(frozen=True)
class ScoredCandidates:
    """Scored (query row, item position) pairs with their pair features, grouped by query."""

    query_rows: np.ndarray
    item_positions: np.ndarray
    scores: np.ndarray
    features: pd.DataFrame

    def take(self, rows: np.ndarray) -> Self:
        return replace(self, query_rows=self.query_rows[rows], item_positions=self.item_positions[rows],
                       scores=self.scores[rows], features=self.features.iloc[rows].reset_index(drop=True))

    def best(self, k: int, *, by: np.ndarray | None = None) -> Self:
        """Each query's ``k`` best pairs, best first, by the scores or by another order ``by`` of the same rows
        (ties keep retrieval order)."""
        return self.take(top_per_query(self.query_rows, self.scores if by is None else by, k))

    @classmethod
    def concat(cls, parts: Sequence[ScoredCandidates], columns: Sequence[str]) -> ScoredCandidates:
        if not parts:
            return cls(query_rows=np.zeros(0, np.int64), item_positions=np.zeros(0, np.int64), scores=np.zeros(0),
                       features=pd.DataFrame(columns=list(columns)))
        return cls(query_rows=np.concatenate([part.query_rows for part in parts]),
                   item_positions=np.concatenate([part.item_positions for part in parts]),
                   scores=np.concatenate([part.scores for part in parts]),
                   features=pd.concat([part.features for part in parts], ignore_index=True))


def scored_blocks(resources: KindResources, context: QueryContext, score: Score, *,
                  top_n: int) -> Iterator[ScoredCandidates]:
    """Per block of queries: its ``top_n`` retrieved candidates per query, their pair features and scores."""
    for start, _, block, candidates in iter_candidates(resources.space, context, top_n=top_n):
        rows, items = candidates.query_rows, candidates.item_positions
        frame = resources.featurizer.transform(context, rows, items, block=(start, block))
        yield ScoredCandidates(query_rows=rows, item_positions=items, features=frame,
                               scores=np.asarray(score(frame, rows, items), dtype=np.float64))
