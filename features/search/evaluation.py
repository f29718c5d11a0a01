"""Held-out evaluation: Dutch labels of concepts nobody trained on, searched among all concepts of their kind.

The split is by concept and seed; the encoder never sees the held-out concepts' Dutch text. Two regimes:

``concepts`` (unseen concepts)
    Every Dutch label of a held-out concept leaves the index too (otherwise the lexical matcher wins by exact
    match); its English labels stay. Can a Dutch title find a concept known only by its English names?
``labels`` (unseen labels)
    A held-out concept keeps its Dutch preferred label in the index and loses its Dutch alternatives, which are
    the queries: a synonym or gender form nobody indexed, for a concept the site does know in Dutch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from features.search.encoders import SearchEncoder
from features.search.fusion import ALPHA
from features.search.hybrid import DEPTH, fuse
from features.search.labels import LabelTable
from features.search.lexical import LexicalIndex
from features.search.semantic import ConceptVectors, SemanticIndex

TOP_K = (1, 5)


@dataclass(frozen=True, eq=False)
class ConceptSplit:
    """Concept positions per role; ``valid`` tunes fusion, ``test`` is reported; neither is trained on."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def held_out(self) -> np.ndarray:
        return np.concatenate([self.valid, self.test])


def split_concepts(n_concepts: int, *, seed: int, test_fraction: float = 0.2,
                   valid_fraction: float = 0.1) -> ConceptSplit:
    """A seeded random split of ``range(n_concepts)`` into train, valid and test positions (each sorted)."""
    order = np.random.default_rng(seed).permutation(n_concepts)
    n_test = int(round(test_fraction * n_concepts))
    n_valid = int(round(valid_fraction * n_concepts))
    return ConceptSplit(train=np.sort(order[n_test + n_valid:]), valid=np.sort(order[n_test:n_test + n_valid]),
                        test=np.sort(order[:n_test]))


def accuracy(rankings: list[np.ndarray], truth: np.ndarray, *, ks: tuple[int, ...] = TOP_K) -> dict[str, float]:
    """Share of queries whose true concept is among the first ``k`` of its ranking, per ``k``."""
    if not len(truth):
        return {f"top{k}": float("nan") for k in ks}
    hits = {k: 0 for k in ks}
    for ranking, expected in zip(rankings, truth.tolist(), strict=True):
        for k in ks:
            hits[k] += int(expected in ranking[:k].tolist())
    return {f"top{k}": hits[k] / len(truth) for k in ks}


REGIMES = ("concepts", "labels")
SYSTEMS = ("lexical", "untuned", "tuned", "hybrid", "hybrid_untuned")
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5)  # weights of the lexical cosine tried on the validation concepts


def regime_rows(table: LabelTable, held_out: np.ndarray, regime: str) -> np.ndarray:
    """Mask of the label rows the index may hold in ``regime`` (see the module docstring)."""
    hidden = np.isin(table.owners, held_out) & (table.langs == "nl")
    if regime == "labels":
        hidden &= ~table.preferred
    return ~hidden


def regime_index(table: LabelTable, held_out: np.ndarray, regime: str) -> LabelTable:
    """The labels the index may hold in ``regime``."""
    return table.subset(regime_rows(table, held_out, regime))


def heldout_queries(table: LabelTable, concepts: np.ndarray, *, regime: str = "concepts",
                    max_queries: int | None = None, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The Dutch labels of ``concepts`` that ``regime`` asks (all, or the alternatives), with their concepts.

    ``table`` must still hold those labels (the full table, not the index). With ``max_queries`` a seeded sample of
    the concepts' Dutch labels is drawn first, the same for both regimes: the ``labels`` queries are the
    alternatives among the ``concepts`` queries, so an encoder embeds each query once.
    """
    rows = np.flatnonzero(np.isin(table.owners, concepts) & (table.langs == "nl"))
    if max_queries is not None and len(rows) > max_queries:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_queries, replace=False))
    if regime == "labels":
        rows = rows[~table.preferred[rows]]
    return [str(text) for text in table.texts[rows]], table.owners[rows]


@dataclass(frozen=True)
class KindEvaluation:
    """Accuracy per regime (``concepts``, ``labels``), role (``valid``, ``test``) and system, and the chosen alpha."""

    results: dict[str, dict[str, dict[str, dict[str, float]]]]
    alpha: float

    @property
    def test(self) -> dict[str, dict[str, float]]:
        """The figures that count: unseen concepts, test split."""
        return self.results["concepts"]["test"]


def evaluate_kind(table: LabelTable, split: ConceptSplit, *, vectors: ConceptVectors, tuned: SearchEncoder,
                  untuned: SearchEncoder, eval_queries: int | None, seed: int) -> KindEvaluation:
    """Top-1/top-5 of every system on held-out concepts' Dutch labels, in both regimes of
    :mod:`features.search.evaluation`, searched among all concepts of the kind.

    The fusion weight alpha is chosen on the validation concepts (best mean top-5 over both regimes); the figures
    that count are those of the test concepts. Each matcher runs once per query set; the systems differ only in
    what :func:`features.search.hybrid.fuse` is given, so the evaluation ranks exactly as the search does.
    """
    semantic = {"untuned": SemanticIndex(untuned, vectors=vectors, table=table),
                "tuned": SemanticIndex(tuned, vectors=vectors, table=table)}
    lists: dict[tuple[str, str], tuple[dict, np.ndarray]] = {}
    everything = LexicalIndex().fit(table)
    for regime in REGIMES:
        lexical = everything.restricted(regime_rows(table, split.held_out, regime))
        for role, concepts, query_seed in (("valid", split.valid, seed), ("test", split.test, seed + 1)):
            limit = eval_queries if role == "test" or eval_queries is None else eval_queries // 2
            queries, truth = heldout_queries(table, concepts, regime=regime, max_queries=limit, seed=query_seed)
            found = {"lexical": lexical.search_many(queries, k=DEPTH)}
            found.update({name: index.search_many(queries, k=DEPTH, closest_labels=False)
                          for name, index in semantic.items()})
            lists[regime, role] = (found, truth)

    def scores(regime: str, role: str, alpha: float) -> dict[str, dict[str, float]]:
        found, truth = lists[regime, role]
        pairs = {"lexical": ("lexical", None), "untuned": (None, "untuned"), "tuned": (None, "tuned"),
                 "hybrid": ("lexical", "tuned"), "hybrid_untuned": ("lexical", "untuned")}
        ranked = {name: fuse(found.get(lexical), found.get(encoder), k=DEPTH, alpha=alpha)
                  for name, (lexical, encoder) in pairs.items()}
        return {name: {**accuracy([ranking.concepts for ranking in rankings], truth), "queries": float(len(truth))}
                for name, rankings in ranked.items()}

    def merit(alpha: float) -> tuple[float, float, float]:
        results = [scores(regime, "valid", alpha)["hybrid"] for regime in REGIMES]
        return (float(np.nanmean([result["top5"] for result in results])),
                float(np.nanmean([result["top1"] for result in results])), -abs(alpha - ALPHA))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a regime without queries (tiny samples) is NaN
        alpha = max(ALPHAS, key=merit)
    return KindEvaluation(results={regime: {role: scores(regime, role, alpha) for role in ("valid", "test")}
                                   for regime in REGIMES}, alpha=alpha)
