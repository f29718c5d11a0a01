"""Held-out evaluation: labels of concepts nobody trained on, searched among all concepts of their kind.

The split is by concept and seed; the encoder never sees the held-out concepts' Dutch text. Three regimes:

``concepts`` (unseen concepts)
    Every Dutch label of a held-out concept leaves the index too (otherwise the lexical matcher wins by exact
    match); its English labels stay. Can a Dutch title find a concept known only by its English names?
``labels`` (unseen labels)
    A held-out concept keeps its Dutch preferred label in the index and loses its Dutch alternatives, which are
    the queries: a synonym or gender form nobody indexed, for a concept the site does know in Dutch.
``english`` (unseen English labels)
    A held-out concept loses its English alternatives, from the lexical index and from its concept vector; they are
    the queries. Does tuning for Dutch cost English?

And two slices, subsets of a regime's queries:

``gender_forms`` (of ``labels``)
    The query is, word for word, an indexed label of its concept in the other gender form ("poetsman" for a concept
    indexed as "poetsvrouw").
``specialties`` (of ``concepts``; occupations only)
    The concept is a narrower occupation of another occupation: a specialty beside its broader, similar-named one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from features.search._text import fold, gender_variants
from features.search.encoders import SearchEncoder
from features.search.fusion import ALPHA
from features.search.hybrid import DEPTH, fuse
from features.search.labels import LabelTable
from features.search.lexical import LexicalIndex
from features.search.semantic import ConceptVectors, SemanticIndex
from features.taxonomy import Taxonomy

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


REGIMES = ("concepts", "labels", "english")
TUNING_REGIMES = ("concepts", "labels")  # alpha is chosen for Dutch; English is reported, not tuned on
SLICES = {"gender_forms": "labels", "specialties": "concepts"}  # slice → the regime whose queries it subsets
SYSTEMS = ("lexical", "untuned", "tuned", "hybrid", "hybrid_untuned")
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5)  # weights of the lexical cosine tried on the validation concepts


def regime_rows(table: LabelTable, held_out: np.ndarray, regime: str) -> np.ndarray:
    """Mask of the label rows the index may hold in ``regime`` (see the module docstring)."""
    held = np.isin(table.owners, held_out)
    if regime == "english":
        return ~(held & (table.langs == "en") & ~table.preferred)
    hidden = held & (table.langs == "nl")
    if regime == "labels":
        hidden &= ~table.preferred
    return ~hidden


def regime_index(table: LabelTable, held_out: np.ndarray, regime: str) -> LabelTable:
    """The labels the index may hold in ``regime``."""
    return table.subset(regime_rows(table, held_out, regime))


def heldout_queries(table: LabelTable, concepts: np.ndarray, *, regime: str = "concepts",
                    max_queries: int | None = None, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """The labels of ``concepts`` that ``regime`` asks (Dutch: all, or the alternatives; English: the alternatives),
    with their concepts.

    ``table`` must still hold those labels (the full table, not the index). With ``max_queries`` a seeded sample of
    the concepts' Dutch labels is drawn first, the same for both Dutch regimes: the ``labels`` queries are the
    alternatives among the ``concepts`` queries, so an encoder embeds each query once.
    """
    if regime == "english":
        rows = np.flatnonzero(np.isin(table.owners, concepts) & (table.langs == "en") & ~table.preferred)
    else:
        rows = np.flatnonzero(np.isin(table.owners, concepts) & (table.langs == "nl"))
    if max_queries is not None and len(rows) > max_queries:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_queries, replace=False))
    if regime == "labels":
        rows = rows[~table.preferred[rows]]
    return [str(text) for text in table.texts[rows]], table.owners[rows]


def gender_form_flags(table: LabelTable, keep: np.ndarray, queries: list[str], truth: np.ndarray) -> np.ndarray:
    """Per query: is it, in the other gender form, a label of its concept that the index (rows ``keep``) holds?"""
    indexed: dict[int, set[str]] = {}
    for row in np.flatnonzero(keep & np.isin(table.owners, truth)).tolist():
        indexed.setdefault(int(table.owners[row]), set()).add(fold(str(table.texts[row])))
    return np.array([any(fold(variant) in indexed.get(concept, ()) for variant in gender_variants(query)[1:])
                     for query, concept in zip(queries, truth.tolist(), strict=True)], dtype=bool)


def specialty_flags(taxonomy: Taxonomy, table: LabelTable) -> np.ndarray:
    """Per concept of ``table``: is it an occupation narrower than another occupation (never for competencies)?"""
    if table.kind != "occupations":
        return np.zeros(table.n_concepts, dtype=bool)
    links = taxonomy.occupation_hierarchy
    narrower = links.loc[(links["child_type"] == "Occupation") & (links["parent_type"] == "Occupation"), "child_uri"]
    return np.isin(table.uris, narrower.to_numpy())


@dataclass(frozen=True)
class KindEvaluation:
    """Accuracy per regime or slice (:data:`REGIMES`, :data:`SLICES`), role (``valid``, ``test``) and system, and
    the chosen alpha."""

    results: dict[str, dict[str, dict[str, dict[str, float]]]]
    alpha: float

    @property
    def test(self) -> dict[str, dict[str, float]]:
        """The figures that count: unseen concepts, test split."""
        return self.results["concepts"]["test"]


def evaluate_kind(table: LabelTable, split: ConceptSplit, *, vectors: ConceptVectors, tuned: SearchEncoder,
                  untuned: SearchEncoder, eval_queries: int | None, seed: int,
                  specialties: np.ndarray | None = None) -> KindEvaluation:
    """Top-1/top-5 of every system on held-out concepts' labels, in every regime and slice of
    :mod:`features.search.evaluation`, searched among all concepts of the kind.

    The fusion weight alpha is chosen on the validation concepts (best mean top-5 over the Dutch regimes); the
    figures that count are those of the test concepts. Each matcher runs once per query set; the systems differ only
    in what :func:`features.search.hybrid.fuse` is given, so the evaluation ranks exactly as the search does.
    ``specialties`` flags the concepts of the ``specialties`` slice (:func:`specialty_flags`; none when omitted).
    """
    specialties = np.zeros(table.n_concepts, dtype=bool) if specialties is None else specialties
    lists: dict[tuple[str, str], tuple[dict, np.ndarray]] = {}
    everything = LexicalIndex().fit(table)
    for regime in REGIMES:
        keep = regime_rows(table, split.held_out, regime)
        lexical = everything.restricted(keep)
        regime_vectors = vectors.restricted(table, keep) if regime == "english" else vectors
        semantic = {"untuned": SemanticIndex(untuned, vectors=regime_vectors, table=table),
                    "tuned": SemanticIndex(tuned, vectors=regime_vectors, table=table)}
        for role, concepts, query_seed in (("valid", split.valid, seed), ("test", split.test, seed + 1)):
            limit = eval_queries if role == "test" or eval_queries is None else eval_queries // 2
            queries, truth = heldout_queries(table, concepts, regime=regime, max_queries=limit, seed=query_seed)
            found = {"lexical": lexical.search_many(queries, k=DEPTH)}
            found.update({name: index.search_many(queries, k=DEPTH, closest_labels=False)
                          for name, index in semantic.items()})
            lists[regime, role] = (found, truth)
            if regime == SLICES["gender_forms"]:
                lists["gender_forms", role] = _subset(found, truth, gender_form_flags(table, keep, queries, truth))
            if regime == SLICES["specialties"]:
                lists["specialties", role] = _subset(found, truth, specialties[truth])

    def scores(name: str, role: str, alpha: float) -> dict[str, dict[str, float]]:
        found, truth = lists[name, role]
        pairs = {"lexical": ("lexical", None), "untuned": (None, "untuned"), "tuned": (None, "tuned"),
                 "hybrid": ("lexical", "tuned"), "hybrid_untuned": ("lexical", "untuned")}
        ranked = {system: fuse(found.get(lexical), found.get(encoder), k=DEPTH, alpha=alpha)
                  for system, (lexical, encoder) in pairs.items()}
        return {system: {**accuracy([ranking.concepts for ranking in rankings], truth),
                         "queries": float(len(truth))} for system, rankings in ranked.items()}

    def merit(alpha: float) -> tuple[float, float, float]:
        results = [scores(regime, "valid", alpha)["hybrid"] for regime in TUNING_REGIMES]
        return (float(np.nanmean([result["top5"] for result in results])),
                float(np.nanmean([result["top1"] for result in results])), -abs(alpha - ALPHA))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a regime without queries (tiny samples) is NaN
        alpha = max(ALPHAS, key=merit)
    return KindEvaluation(results={name: {role: scores(name, role, alpha) for role in ("valid", "test")}
                                   for name in (*REGIMES, *SLICES)}, alpha=alpha)


def _subset(found: dict[str, list], truth: np.ndarray, flags: np.ndarray) -> tuple[dict[str, list], np.ndarray]:
    picked = np.flatnonzero(flags)
    return {name: [lists[index] for index in picked.tolist()] for name, lists in found.items()}, truth[picked]
