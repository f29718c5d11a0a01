"""Hybrid search: the lexical and the semantic matcher, each asked for a deep list, fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from features.search.fusion import ALPHA, score_fusion
from features.search.labels import LabelTable
from features.search.lexical import LexicalIndex
from features.search.semantic import SemanticIndex
from features.taxonomy import Language

Mode = Literal["hybrid", "lexical", "semantic"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "semantic")
DEPTH = 30  # candidates asked of each matcher before fusion


@dataclass(frozen=True)
class Hit:
    """One found concept: its id, preferred label in the asked language, the label that matched, the scores.

    ``score`` is the fused score in hybrid mode (see :mod:`features.search.fusion`; above 1 when a label equals
    the query, or the query in its other gender form) and the matcher's own score otherwise;
    ``lexical``/``semantic`` are each matcher's cosine for its best label of the concept (None when that
    matcher did not list the concept).
    """

    rank: int
    uri: str
    label: str
    matched_label: str
    score: float
    lexical: float | None
    semantic: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Ranking:
    """What the matchers found for one query, before it is shown: concept positions and scores, best first."""

    concepts: np.ndarray
    scores: np.ndarray
    lexical: dict[int, tuple[float, int]]
    semantic: dict[int, tuple[float, int]]


class HybridSearch:
    """Search one kind of concept by typed text.

    Parameters
    ----------
    table : LabelTable
        The concepts and labels both indexes were fitted on.
    lexical : LexicalIndex
    semantic : SemanticIndex or None
        Without it every mode answers lexically.
    alpha : float
        Weight of the lexical cosine in the fused score (the semantic cosine gets ``1 - alpha``).
    depth : int
        Candidates asked of each matcher before fusion.
    """

    def __init__(self, *, table: LabelTable, lexical: LexicalIndex, semantic: SemanticIndex | None,
                 alpha: float = ALPHA, depth: int = DEPTH) -> None:
        self.table = table
        self.lexical = lexical
        self.semantic = semantic
        self.alpha = alpha
        self.depth = depth

    def rank_many(self, queries: list[str], *, k: int, mode: Mode = "hybrid") -> list[Ranking]:
        """The ``k`` best concepts per query; queries must already be clean (:func:`~features.search.clean_query`)."""
        if not queries:
            return []
        depth = max(self.depth, k)
        use_lexical = mode != "semantic" or self.semantic is None
        use_semantic = mode != "lexical" and self.semantic is not None
        lexical = self.lexical.search_many(queries, k=depth) if use_lexical else None
        semantic = self.semantic.search_many(queries, k=depth, closest_labels=False) if use_semantic else None
        return fuse(lexical, semantic, k=k, alpha=self.alpha)

    def hits(self, ranking: Ranking, *, lang: Language, query: str) -> list[Hit]:
        """The ranking of ``query`` as :class:`Hit` objects, labelled in ``lang``; the English label closest to the
        query is looked up only for the concepts shown that the encoder found best."""
        names = self.table.names(lang)
        out = []
        for rank, (concept, score) in enumerate(zip(ranking.concepts.tolist(), ranking.scores.tolist(),
                                                    strict=True), start=1):
            lexical_score, lexical_row = ranking.lexical.get(concept, (None, None))
            semantic_score, semantic_row = ranking.semantic.get(concept, (None, None))
            if lexical_row is not None and (semantic_row is None or lexical_score >= semantic_score):
                matched = self.lexical.table_.texts[lexical_row]
            else:
                row = self.semantic.closest_label(query, concept) if semantic_row is not None else -1
                matched = self.semantic.table_.texts[row] if row >= 0 else self.table.names_en[concept]
            out.append(Hit(rank=rank, uri=str(self.table.uris[concept]), label=str(names[concept]),
                           matched_label=str(matched), score=round(float(score), 6),
                           lexical=None if lexical_score is None else round(lexical_score, 4),
                           semantic=None if semantic_score is None else round(semantic_score, 4)))
        return out


def fuse(lexical: list | None, semantic: list | None, *, k: int, alpha: float = ALPHA) -> list[Ranking]:
    """Rankings from each matcher's per-query lists (either may be None); score fusion where both are there."""
    rankings = []
    for row in range(len(lexical if lexical is not None else semantic)):
        if lexical is not None and semantic is not None:
            concepts, scores = score_fusion(lexical[row][:2], semantic[row][:2], alpha=alpha, limit=k)
        else:
            concepts, scores, _ = (lexical if lexical is not None else semantic)[row]
            concepts, scores = concepts[:k], scores[:k]
        rankings.append(Ranking(concepts=concepts, scores=np.asarray(scores, dtype=np.float64),
                                lexical=_as_map(lexical[row]) if lexical is not None else {},
                                semantic=_as_map(semantic[row]) if semantic is not None else {}))
    return rankings


def _as_map(found: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[int, tuple[float, int]]:
    concepts, scores, rows = found
    return {int(concept): (float(score), int(row)) for concept, score, row in zip(concepts, scores, rows, strict=True)}
