"""Candidate lists of held-out citizens: retrieval, pair features, a scorer's best ``depth``, the reference
ranking's top ``K``, and counts over every retrieved candidate.

The assessment needs more than the top 10 the service shows: the re-ranker (:mod:`models.rerank`) chooses its
top 10 out of the model's best ``depth`` candidates, and every enforced check compares the model's list with
the **reference ranking** of the same candidates for the same citizen — the competency-only order of retrieval
(:func:`models.retrieval.reference_scores`). "Within reach" counts (how many good or ready items a citizen's
candidates hold) are taken over every retrieved candidate, so that a model cannot shrink a citizen's
denominator by pushing those items down its own list. Retrieval and features are the service's
(``models.retrieval``, ``features.pair_features``), so the model's top 10 here is what a citizen sees.

A *scorer* is anything with ``score(features, citizen_ids=..., item_positions=...)``: a registered model
(:class:`ModelScorer`), or, in the falsifiability tests, a deliberately unfair ranker that looks at who the
citizen is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from assessments.ranking_metrics import positions_in_list
from features.citizens import QueryContext
from features.vocabulary import K
from models.ranker import ScoringModel
from models.resources import KindResources
from models.retrieval import DEFAULT_CANDIDATES, reference_scores
from models.scoring import ScoredCandidates, scored_blocks

Flags = Callable[[pd.DataFrame, np.ndarray], np.ndarray]  # (features, item positions) → 0/1 per candidate


class Scorer(Protocol):
    def score(self, features: pd.DataFrame, *, citizen_ids: np.ndarray, item_positions: np.ndarray) -> np.ndarray:
        ...


@dataclass(frozen=True)
class ModelScorer:
    """A registered model as a scorer: it sees the pair features only."""

    model: ScoringModel

    def score(self, features: pd.DataFrame, *, citizen_ids: np.ndarray, item_positions: np.ndarray) -> np.ndarray:
        return self.model.predict(features)


@dataclass(frozen=True)
class CandidateLists(ScoredCandidates):
    """Scored candidates of ``n_queries`` queries (rows 0..n_queries-1; a query may have none), best first by the
    list's own order: the scorer's scores for a model list, the reference order for the reference list."""

    n_queries: int

    def positions(self) -> np.ndarray:
        return positions_in_list(self.query_rows)

    def top(self, k: int) -> CandidateLists:
        return self.take(np.flatnonzero(self.positions() <= k))


@dataclass(frozen=True)
class Ranked:
    """One context's lists: the scorer's best ``depth``, the reference's top ``K``, and the reach counts."""

    deep: CandidateLists
    reference: CandidateLists
    reach: dict[str, np.ndarray] = field(default_factory=dict)  # flag name → per query count over all retrieved


def _lists(parts: list[ScoredCandidates], columns: list[str], n_queries: int) -> CandidateLists:
    joined = ScoredCandidates.concat(parts, columns)
    return CandidateLists(**vars(joined), n_queries=n_queries)


def rank_candidates(*, resources: KindResources, scorer: Scorer, context: QueryContext, depth: int,
                    top_n: int = DEFAULT_CANDIDATES, reach: dict[str, Flags] | None = None) -> Ranked:
    """Retrieve ``top_n`` candidates per query, score them, keep the scorer's best ``depth`` (ties: retrieval
    order) and the reference ranking's best ``K``; count each ``reach`` flag over every retrieved candidate."""
    columns = list(resources.featurizer.columns)
    citizens = context.queries["citizen_id"].to_numpy(dtype=np.int64)

    def score(features: pd.DataFrame, query_rows: np.ndarray, item_positions: np.ndarray) -> np.ndarray:
        return scorer.score(features, citizen_ids=citizens[query_rows], item_positions=item_positions)

    deep, reference = [], []
    counts = {name: np.zeros(len(context)) for name in reach or {}}
    for block in scored_blocks(resources, context, score, top_n=max(top_n, depth)):
        for name, flags in (reach or {}).items():
            counts[name] += np.bincount(block.query_rows, minlength=len(context),
                                        weights=np.asarray(flags(block.features, block.item_positions),
                                                           dtype=np.float64))
        deep.append(block.best(depth))
        reference.append(block.best(K, by=reference_scores(resources.kind, block.features)))
    return Ranked(deep=_lists(deep, columns, len(context)), reference=_lists(reference, columns, len(context)),
                  reach=counts)
