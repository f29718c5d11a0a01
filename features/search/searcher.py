"""One searchable kind, ready to answer: its labels, both indexes, and the encoder that answers (and why that one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.errors import LoopbaanError
from features.search.encoders import SearchEncoder, base_encoder
from features.search.fusion import ALPHA
from features.search.hybrid import Hit, HybridSearch, Mode
from features.search.labels import check_kind, label_table
from features.search.lexical import cached_lexical_index
from features.search.queries import check_k, clean_query
from features.search.semantic import SemanticIndex, concept_vectors
from features.taxonomy import Language, Taxonomy, check_language
from features.vocabulary import SearchKind

ERR_UNKNOWN_MODE = "unknown search mode {mode!r}; choose one of: hybrid, lexical, semantic."


@dataclass(frozen=True)
class QueryResult:
    """The answer to one query of a batch: hits, or the reason there are none."""

    query: str
    hits: list[Hit]
    error: str | None = None


class KindSearcher:
    """Hybrid search over one kind (occupations or competencies) with a known encoder."""

    def __init__(self, *, kind: SearchKind, search: HybridSearch, encoder_description: str) -> None:
        self.kind = kind
        self.hybrid = search
        self.encoder_description = encoder_description

    def search(self, query: str, *, lang: Language = "nl", k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        """The ``k`` best concepts for one typed query; a bad query raises :class:`LoopbaanError`."""
        return self.search_batch([clean_query(query)], lang=lang, k=k, mode=mode)[0].hits

    def search_batch(self, queries: list[str], *, lang: Language = "nl", k: int = 5,
                     mode: Mode = "hybrid") -> list[QueryResult]:
        """One :class:`QueryResult` per query, in order; bad queries get an error instead of failing the batch."""
        check_language(lang)
        check_k(k)
        _check_mode(mode)
        cleaned: list[str | None] = []
        errors: list[str | None] = []
        for query in queries:
            try:
                cleaned.append(clean_query(query))
                errors.append(None)
            except LoopbaanError as error:
                cleaned.append(None)
                errors.append(str(error))
        good = [query for query in cleaned if query is not None]
        rankings = iter(self.hybrid.rank_many(good, k=k, mode=mode))
        results = []
        for query, clean, error in zip(queries, cleaned, errors, strict=True):
            hits = self.hybrid.hits(next(rankings), lang=lang, query=clean) if clean is not None else []
            results.append(QueryResult(query=query, hits=hits, error=error))
        return results


def _check_mode(mode: str) -> None:
    if mode not in ("hybrid", "lexical", "semantic"):
        raise LoopbaanError(ERR_UNKNOWN_MODE.format(mode=mode))


def build_searcher(kind: str, *, taxonomy: Taxonomy, encoder: SearchEncoder | None, cache_dir: Path | None,
                 alpha: float = ALPHA, progress: bool = False) -> KindSearcher:
    """Index every label of ``kind`` lexically and, with a query encoder, its concepts semantically (cached on disk).

    ``encoder`` embeds the queries; the concept vectors always come from the untuned bundled MiniLM.
    """
    kind = check_kind(kind)
    table = label_table(taxonomy, kind)
    lexical = cached_lexical_index(table, cache_dir=cache_dir)
    semantic = None
    if encoder is not None:
        vectors = concept_vectors(table, document_encoder=base_encoder(), cache_dir=cache_dir, progress=progress)
        semantic = SemanticIndex(encoder, vectors=vectors, table=table)
    description = encoder.description if encoder is not None else "none (lexical only)"
    return KindSearcher(kind=kind, search=HybridSearch(table=table, lexical=lexical, semantic=semantic,
                                                       alpha=alpha),
                        encoder_description=description)
