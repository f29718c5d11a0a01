"""Free-text search for occupations and competencies in Dutch and English: lexical, semantic, and both fused."""

from features.search.encoders import SearchEncoder, base_encoder, encoder_from_folder, single_threaded
from features.search.engine import QueryResult, SearchEngine, build_engine
from features.search.hybrid import MODES, Hit, HybridSearch, Mode
from features.search.labels import LabelTable, check_kind, label_table
from features.search.lexical import LexicalIndex, cached_lexical_index
from features.search.queries import MAX_QUERY_CHARS, clean_query
from features.search.semantic import ConceptVectors, SemanticIndex, concept_vectors, english_rows

__all__ = [
    "MAX_QUERY_CHARS", "MODES", "ConceptVectors", "Hit", "HybridSearch", "LabelTable",
    "LexicalIndex", "Mode", "QueryResult", "SearchEncoder", "SearchEngine", "SemanticIndex", "base_encoder",
    "build_engine", "cached_lexical_index", "check_kind", "clean_query", "concept_vectors", "encoder_from_folder",
    "english_rows", "label_table", "single_threaded",
]
