"""Per-citizen quantities of a ranking, the raw material of every fairness metric.

Fairlearn has no metrics for rankings, so each quantity here is computed per query (one citizen on one
day) and only then aggregated per group (:mod:`assessments.aggregate`). Lists are given as flat arrays
grouped by query, best item first; ``position_weights`` are the attention weights of the positions.

- ``quality_per_query``: NDCG@10 (gain 2^label - 1) and recall in the top half of an ordering of logged lists;
- ``exposure_per_query``: position-weighted mean of an item value (v_j = 1 / log2(1 + j)), e.g. the chance
  that a suggestion leads to a hire, or the share of good opportunities when the value is 0/1;
- ``share_per_query``: plain share of flagged items (ready suggestions, gender-atypical occupations);
- ``item_exposure`` / ``gini`` / ``never_shown_share``: congestion of the catalogue;
- ``flip_rate_per_query``: how much of a top k is replaced when one circumstance is altered.
"""

from __future__ import annotations

import numpy as np

from features.vocabulary import K
from models.metrics import group_bounds, per_query_metrics


def position_weights(k: int) -> np.ndarray:
    """v_j = 1 / log2(1 + j) for positions j = 1..k."""
    return 1.0 / np.log2(1.0 + np.arange(1, k + 1))


def query_bounds(query_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop of each run of equal query ids (rows must be grouped by query)."""
    return group_bounds(query_rows)


def positions_in_list(query_rows: np.ndarray) -> np.ndarray:
    """1-based position of every row within its query's run (rows grouped by query, best first)."""
    starts, stops = query_bounds(query_rows)
    lengths = stops - starts
    return np.arange(len(query_rows)) - np.repeat(starts, lengths) + 1


def quality_per_query(*, labels: np.ndarray, scores: np.ndarray, query_rows: np.ndarray,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per query with a relevant item: (query id, NDCG@K, recall in the top half, list length) of the order
    given by ``scores``.

    NDCG is the models' own computation; "the top half" is the first ``max(1, length // 2)`` positions, so the
    recall varies on lists of any length (recall@10 of a list of 10 is 1 whatever the order). Ties are broken by
    the same seeded random order as the models' evaluation.
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    query_rows = np.asarray(query_rows)
    ids, ndcg, _, _ = per_query_metrics(labels=labels, scores=scores, groups=query_rows, k=K, seed=seed)
    tie_break = np.random.default_rng(seed).random(len(labels))
    order = np.lexsort((tie_break, -scores, query_rows))
    starts, stops = group_bounds(query_rows[order])
    lengths = stops - starts
    position = np.arange(len(order)) - np.repeat(starts, lengths)
    top_half = position < np.repeat(np.maximum(1, lengths // 2), lengths)
    relevant = labels[order] > 0
    found = np.add.reduceat((relevant & top_half).astype(np.float64), starts) if len(order) else np.zeros(0)
    wanted = np.add.reduceat(relevant.astype(np.float64), starts) if len(order) else np.zeros(0)
    query_ids = query_rows[order][starts]
    keep = wanted > 0
    recall = dict(zip(query_ids[keep].tolist(), (found[keep] / wanted[keep]).tolist(), strict=True))
    length = dict(zip(query_ids.tolist(), lengths.tolist(), strict=True))
    return (ids, ndcg, np.array([recall[query] for query in ids.tolist()], dtype=np.float64),
            np.array([length[query] for query in ids.tolist()], dtype=np.int64))


def exposure_per_query(*, values: np.ndarray, query_rows: np.ndarray, n_queries: int) -> np.ndarray:
    """Σ_j v_j · value_j / Σ_j v_j per query (NaN for a query without items or with only NaN values)."""
    values = np.asarray(values, dtype=np.float64)
    weights = position_weights(int(positions_in_list(query_rows).max(initial=1)))[positions_in_list(query_rows) - 1]
    known = np.isfinite(values)
    top = np.bincount(query_rows[known], weights=(weights * values)[known], minlength=n_queries)
    bottom = np.bincount(query_rows[known], weights=weights[known], minlength=n_queries)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / bottom, np.nan)


def share_per_query(*, flags: np.ndarray, query_rows: np.ndarray, n_queries: int) -> np.ndarray:
    """Share of flagged items per query (NaN for a query without items; NaN flags are left out)."""
    flags = np.asarray(flags, dtype=np.float64)
    known = np.isfinite(flags)
    top = np.bincount(query_rows[known], weights=flags[known], minlength=n_queries)
    count = np.bincount(query_rows[known], minlength=n_queries).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, top / count, np.nan)


def item_exposure(*, item_positions: np.ndarray, query_rows: np.ndarray, catalogue_size: int) -> np.ndarray:
    """Total position-weighted attention each catalogue item receives over all lists."""
    positions = positions_in_list(query_rows)
    weights = position_weights(int(positions.max(initial=1)))[positions - 1]
    return np.bincount(np.asarray(item_positions), weights=weights, minlength=catalogue_size)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, → 1 when one holds everything."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float((2.0 * np.arange(1, n + 1) - n - 1) @ x / (n * total))


def never_shown_share(exposure: np.ndarray) -> float:
    """Share of catalogue items that no list shows."""
    exposure = np.asarray(exposure)
    return float(np.mean(exposure <= 0)) if len(exposure) else 0.0


def flip_rate_per_query(*, before_items: np.ndarray, before_rows: np.ndarray, after_items: np.ndarray,
                        after_rows: np.ndarray, n_queries: int) -> np.ndarray:
    """1 - |top_before ∩ top_after| / |top_before| per query (NaN for a query without a list before)."""
    before = set(zip(np.asarray(before_rows).tolist(), np.asarray(before_items).tolist(), strict=True))
    after = set(zip(np.asarray(after_rows).tolist(), np.asarray(after_items).tolist(), strict=True))
    kept = np.zeros(n_queries)
    for row, _item in before & after:
        kept[row] += 1
    size = np.bincount(np.asarray(before_rows), minlength=n_queries).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(size > 0, 1.0 - kept / size, np.nan)
