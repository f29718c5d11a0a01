"""Ranking metrics over query groups: NDCG@k, recall@k, MAP, and catalogue coverage.

Groups without any relevant item are left out (NDCG and recall are undefined there); ties in a score
are broken by a seeded random order, never by the order the items were logged in.
"""

from __future__ import annotations

import numpy as np

from features.vocabulary import K, ndcg_at, recall_at


def group_bounds(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop of each run of equal group ids (rows must be grouped)."""
    groups = np.asarray(groups)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if len(groups) else np.zeros(0, np.int64)
    return starts, np.r_[starts[1:], len(groups)].astype(np.int64)


def per_query_metrics(*, labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = K,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group with a relevant item: (group id, NDCG@k with gain 2^label - 1, recall@k, average precision)."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups)
    tie_break = np.random.default_rng(seed).random(len(labels))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ids, ndcg, recall, average_precision = [], [], [], []
    for start, stop in zip(*group_bounds(groups), strict=True):
        group_labels = labels[start:stop]
        relevant = group_labels > 0
        if not relevant.any():
            continue
        ranked = group_labels[np.lexsort((tie_break[start:stop], -scores[start:stop]))]
        gains = 2.0 ** ranked[:k] - 1.0
        ideal = 2.0 ** np.sort(group_labels)[::-1][:k] - 1.0
        ndcg.append(float(gains @ discounts[:len(gains)] / (ideal @ discounts[:len(ideal)])))
        hits = ranked > 0
        recall.append(float(hits[:k].sum() / relevant.sum()))
        precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1.0)
        average_precision.append(float(precision_at_hit.mean()))
        ids.append(groups[start])
    return (np.asarray(ids), np.asarray(ndcg, dtype=np.float64), np.asarray(recall, dtype=np.float64),
            np.asarray(average_precision, dtype=np.float64))


def ranking_metrics(*, labels: np.ndarray, scores: np.ndarray, groups: np.ndarray, k: int = K,
                    seed: int = 0) -> dict[str, float]:
    """Mean NDCG@k (gain 2^label - 1), recall@k and average precision over groups with a relevant item."""
    _, ndcg, recall, average_precision = per_query_metrics(labels=labels, scores=scores, groups=groups, k=k, seed=seed)
    if not len(ndcg):
        return {ndcg_at(k): float("nan"), recall_at(k): float("nan"), "map": float("nan"), "groups": 0}
    return {ndcg_at(k): float(np.mean(ndcg)), recall_at(k): float(np.mean(recall)),
            "map": float(np.mean(average_precision)), "groups": len(ndcg)}


def catalogue_coverage(suggested_items: np.ndarray, catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one suggestion list."""
    return float(len(np.unique(suggested_items)) / max(catalogue_size, 1))
