"""Competency match scores of queries against a whole catalogue at once (sparse products, then dense blocks).

- IDF weights come from the taxonomy's occupation–competency relations, so a competency that nearly
  every occupation asks ("communicate") weighs little and a rare one weighs much;
- an item's competency vector holds its essential competencies, IDF-weighted, unit length (optional ones
  enter the models through their own coverage feature: mixing them in dilutes the match of an item
  that lists many optional competencies);
- a semantic vector is the IDF-weighted mean of MiniLM embeddings of the competencies' English labels,
  unit length, for queries and items alike (no embedding dimension ever becomes a model input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from features.items import ItemCatalogue
from features.taxonomy import Taxonomy

_BLOCK_CELLS = 8_000_000  # queries × items per dense block
EARTH_RADIUS_KM = 6371.0


def competency_idf(taxonomy: Taxonomy) -> np.ndarray:
    relations = (taxonomy.relation_matrix("essential") + taxonomy.relation_matrix("optional")).tocsc()
    document_frequency = np.diff(relations.indptr)
    return np.log((1.0 + relations.shape[0]) / (1.0 + document_frequency)).astype(np.float32) + 1.0


def _normalise_rows(matrix):
    if sparse.issparse(matrix):
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.maximum(norms, 1e-12)).dot(matrix).tocsr().astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class MatchBlock:
    """Dense (queries × items) match scores of one block of queries."""

    held_essential: np.ndarray
    held_optional: np.ndarray
    idf_overlap: np.ndarray
    semantic: np.ndarray


class MatchSpace:
    """A catalogue prepared for matching: IDF-weighted item vectors and semantic item vectors."""

    def __init__(self, *, catalogue: ItemCatalogue, taxonomy: Taxonomy, competency_embeddings: np.ndarray) -> None:
        self.catalogue = catalogue
        self.idf = competency_idf(taxonomy)
        self.competency_embeddings = competency_embeddings
        weight = sparse.diags(self.idf)
        items = catalogue.essential
        self.item_vectors = _normalise_rows(items.dot(weight))
        self.item_embeddings = _normalise_rows(np.asarray(items.dot(weight).dot(competency_embeddings)))
        self.used = ((catalogue.essential + catalogue.optional) > 0).astype(np.float32).tocsr()
        self.used_t = self.used.T.tocsr()
        self.n_essential = np.diff(catalogue.essential.indptr).astype(np.float64)
        self.n_optional = np.diff(catalogue.optional.indptr).astype(np.float64)
        self._essential_t = catalogue.essential.T.tocsr()
        self._optional_t = catalogue.optional.T.tocsr()
        self._vectors_t = self.item_vectors.T.tocsr()
        self._item_lat = np.radians(catalogue.attributes["lat"].to_numpy(dtype=np.float64))
        self._item_lon = np.radians(catalogue.attributes["lon"].to_numpy(dtype=np.float64))

    def approximate_km(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """(queries × items) distances by the equirectangular approximation: within a region the size of
        Flanders it is within 0.1 % of the great-circle distance and several times cheaper (retrieval only)."""
        lat = np.radians(np.asarray(lat, dtype=np.float64))[:, None]
        lon = np.radians(np.asarray(lon, dtype=np.float64))[:, None]
        dx = (self._item_lon[None, :] - lon) * np.cos(0.5 * (self._item_lat[None, :] + lat))
        dy = self._item_lat[None, :] - lat
        return EARTH_RADIUS_KM * np.sqrt(dx * dx + dy * dy)

    def query_vectors(self, profile: sparse.csr_matrix) -> tuple[sparse.csr_matrix, np.ndarray]:
        weighted = profile.dot(sparse.diags(self.idf)).tocsr()
        return _normalise_rows(weighted), _normalise_rows(np.asarray(weighted.dot(self.competency_embeddings)))

    def block_size(self) -> int:
        return max(1, _BLOCK_CELLS // max(len(self.catalogue), 1))

    def block(self, profile: sparse.csr_matrix) -> MatchBlock:
        """Match scores of the profile rows against every item (call with at most ``block_size()`` rows)."""
        vectors, embeddings = self.query_vectors(profile)
        return MatchBlock(
            held_essential=profile.dot(self._essential_t).toarray(),
            held_optional=profile.dot(self._optional_t).toarray(),
            idf_overlap=vectors.dot(self._vectors_t).toarray(),
            semantic=self.semantic(embeddings),
        )

    def semantic(self, embeddings: np.ndarray) -> np.ndarray:
        """(queries × items) semantic similarity of the query embeddings with every item."""
        return embeddings @ self.item_embeddings.T
