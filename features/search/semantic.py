"""The semantic matcher: a query encoder against fixed concept vectors in the bundled MiniLM's English space.

Each concept is one vector: the normalised mean of the bundled (untuned) MiniLM's embeddings of its English
preferred label and first few English alternatives. That space never changes, so the index is embedded once and
cached, whichever encoder embeds the queries: the untuned MiniLM itself, or a tuned bilingual student trained to
place Dutch (and English) text where the MiniLM places the concept's English labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from features.embedding_cache import cached_vectors
from features.search.encoders import SearchEncoder
from features.search.labels import LabelTable

# English alternatives per concept beside the preferred label: job titles have many telling synonyms; competency
# labels are phrases whose alternatives mostly reword them (and number 97,000, too many to embed on every install).
ENGLISH_ALTERNATIVES = {"occupations": 8, "competencies": 0}
CHUNK = 256  # queries scored together


def english_rows(table: LabelTable, *, alternatives: int | None = None) -> np.ndarray:
    """Mask of the label rows that define concept vectors: English preferred labels and the first alternatives."""
    limit = ENGLISH_ALTERNATIVES.get(table.kind, 0) if alternatives is None else alternatives
    english = table.langs == "en"
    keep = english & table.preferred
    alternative = english & ~table.preferred
    rows = np.flatnonzero(alternative)
    owners = table.owners[rows]
    starts = np.searchsorted(owners, owners, side="left")  # owners are grouped: position within the concept
    keep[rows[(np.arange(len(rows)) - starts) < limit]] = True
    return keep


@dataclass(frozen=True, eq=False)
class ConceptVectors:
    """Unit concept vectors (concepts × dimension) and the label embeddings they were averaged from."""

    matrix: np.ndarray
    label_vectors: np.ndarray
    label_rows: np.ndarray  # rows of the table the label vectors belong to, grouped by concept
    starts: np.ndarray  # first position in label_rows of each concept (length n_concepts + 1)

    def restricted(self, table: LabelTable, keep: np.ndarray) -> ConceptVectors:
        """The concept vectors averaged over only the label rows of ``table`` where ``keep`` is true (no new
        embedding: the label vectors are reused)."""
        kept = keep[self.label_rows]
        return _pooled(table, self.label_vectors[kept], self.label_rows[kept])


def concept_vectors(table: LabelTable, *, document_encoder: SearchEncoder, cache_dir: Path | None,
                    progress: bool = False) -> ConceptVectors:
    """Concept vectors of ``table`` from ``document_encoder`` (cached on disk by encoder and texts)."""
    rows = np.flatnonzero(english_rows(table))
    texts = [str(text) for text in table.texts[rows]]
    if cache_dir is None:
        vectors = document_encoder.encode(texts, progress=progress)
    else:
        vectors = cached_vectors(texts, encoder_id=document_encoder.identity, cache_dir=cache_dir, subfolder="search",
                                 name=f"{table.kind}-english-labels",
                                 encode=lambda items: document_encoder.encode(items, progress=progress))
    return _pooled(table, vectors, rows)


def _pooled(table: LabelTable, vectors: np.ndarray, rows: np.ndarray) -> ConceptVectors:
    owners = table.owners[rows]
    membership = sparse.csr_matrix((np.ones(len(owners), dtype=np.float32), (owners, np.arange(len(owners)))),
                                   shape=(table.n_concepts, len(owners)))
    matrix = np.asarray(membership @ vectors, dtype=np.float32)  # each concept's label vectors summed
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    starts = np.searchsorted(owners, np.arange(table.n_concepts + 1))
    return ConceptVectors(matrix=matrix, label_vectors=vectors, label_rows=rows, starts=starts)


class SemanticIndex:
    """Cosine between the query encoder's embedding of a query and every concept vector."""

    def __init__(self, encoder: SearchEncoder, *, vectors: ConceptVectors, table: LabelTable) -> None:
        self.encoder = encoder
        self.vectors = vectors
        self.table_ = table

    def search_many(self, queries: list[str], *, k: int,
                    closest_labels: bool = True) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per query: concept positions, cosines and the closest English label row (of ``table``; -1 for a concept
        without English labels, or for all when ``closest_labels`` is false) of the ``k`` best concepts."""
        vectors = self.encoder.encode_queries(list(queries))
        k = min(k, self.vectors.matrix.shape[0])
        out = []
        for first in range(0, len(vectors), CHUNK):
            block = vectors[first:first + CHUNK]
            similarity = block @ self.vectors.matrix.T
            top = np.argpartition(-similarity, k - 1, axis=1)[:, :k] if k < similarity.shape[1] else \
                np.tile(np.arange(similarity.shape[1]), (len(block), 1))
            for row, query in enumerate(block):
                concepts = top[row][np.argsort(-similarity[row, top[row]], kind="stable")]
                labels = np.array([self._closest_row(query, concept) if closest_labels else -1
                                   for concept in concepts.tolist()], dtype=np.int64)
                out.append((concepts.astype(np.int64), similarity[row, concepts].astype(np.float32), labels))
        return out

    def closest_label(self, query: str, concept: int) -> int:
        """The row (of ``table``) of the concept's English label closest to ``query``; -1 when it has none."""
        return self._closest_row(self.encoder.encode_queries([query])[0], concept)

    def _closest_row(self, query: np.ndarray, concept: int) -> int:
        start, end = self.vectors.starts[concept], self.vectors.starts[concept + 1]
        if end == start:
            return -1
        return int(self.vectors.label_rows[start + int(np.argmax(self.vectors.label_vectors[start:end] @ query))])
