"""Free-text search for occupations and competencies in Dutch and English: lexical, semantic, and both fused."""

from features.search.encoders import SearchEncoder, base_encoder, encoder_from_folder, single_threaded
from features.search.searcher import QueryResult, KindSearcher, build_searcher
from features.search.hybrid import MODES, Hit, HybridSearch, Mode
from features.search.labels import LabelTable, check_kind, label_table
from features.search.lexical import LexicalIndex, cached_lexical_index
from features.search.queries import MAX_QUERY_CHARS, clean_query
from features.search.semantic import ConceptVectors, SemanticIndex, concept_vectors, english_rows

__all__ = [
    "MAX_QUERY_CHARS", "MODES", "ConceptVectors", "Hit", "HybridSearch", "LabelTable",
    "LexicalIndex", "Mode", "QueryResult", "SearchEncoder", "KindSearcher", "SemanticIndex", "base_encoder",
    "build_searcher", "cached_lexical_index", "check_kind", "clean_query", "concept_vectors", "encoder_from_folder",
    "english_rows", "label_table", "single_threaded",
]
