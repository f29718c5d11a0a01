"""Pair features per (query, item), in the column order of the feature definitions for the kind.

The meaning of every column is in :mod:`features.feature_definitions`; this module only computes them.
Unknown circumstances (an anonymous profile has no home, no Dutch level...) give NaN, which the
rankers treat as missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from features.citizens import QueryContext, occupation_isco_position
from features.feature_definitions import features_for
from features.match_space import MatchBlock, MatchSpace
from features.population.geography import haversine_km
from features.taxonomy import Taxonomy

LONG_TRAINING_HOURS = 120.0  # a non-online training this long clashes with care duties


class PairFeaturizer:
    """Computes the feature matrix of a kind for any set of (query row, item position) pairs."""

    def __init__(self, *, space: MatchSpace, taxonomy: Taxonomy) -> None:
        self.space = space
        self.kind = space.catalogue.kind
        self.columns = features_for(self.kind)
        isco = occupation_isco_position(taxonomy)
        item_occupation = space.catalogue.occupation
        self.item_isco = np.where(item_occupation >= 0, isco[np.maximum(item_occupation, 0)], -1)
        self.occupation_isco = isco
        occupation_vectors = (taxonomy.relation_matrix("essential")
                              + 0.5 * taxonomy.relation_matrix("optional")).tocsr()
        weighted = occupation_vectors.dot(sparse.diags(space.idf)).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        self.occupation_vectors = sparse.diags(1.0 / np.maximum(norms, 1e-12)).dot(weighted).tocsr()
        self.occupation_essential = taxonomy.relation_matrix("essential")

    def transform(self, context: QueryContext, query_rows: np.ndarray, item_positions: np.ndarray,
                  block: tuple[int, MatchBlock] | None = None) -> pd.DataFrame:
        """Features of the pairs ``(query_rows[k], item_positions[k])``; rows in the pairs' order.

        ``block`` = (start row, match block) reuses a block already computed for those queries.
        """
        query_rows = np.asarray(query_rows, dtype=np.int64)
        item_positions = np.asarray(item_positions, dtype=np.int64)
        out = np.empty((len(query_rows), len(self.columns)), dtype=np.float64)
        size = self.space.block_size()
        for start in range(0, len(context), size):
            stop = min(start + size, len(context))
            selected = np.flatnonzero((query_rows >= start) & (query_rows < stop))
            if not len(selected):
                continue
            given = block[1] if block is not None and block[0] == start else None
            match = given or self.space.block(context.profile[start:stop])
            out[selected] = self._block_features(context, match, start, stop,
                                                 query_rows[selected], item_positions[selected])
        return pd.DataFrame(out, columns=list(self.columns))

    def _block_features(self, context: QueryContext, block: MatchBlock, start: int, stop: int,
                        query_rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        local = query_rows - start
        space, catalogue = self.space, self.space.catalogue
        queries = context.queries.iloc[query_rows]
        attributes = catalogue.attributes.iloc[items]
        held_essential = block.held_essential[local, items]
        n_essential = space.n_essential[items]
        n_optional = space.n_optional[items]
        n_held = np.asarray(context.profile.sum(axis=1)).ravel()[query_rows]
        used = _pair_products(context.profile[start:stop], space.used, local, items) \
            if "profile_relevance" in self.columns else None
        values: dict[str, np.ndarray] = {
            "essential_coverage": held_essential / np.maximum(n_essential, 1),
            "optional_coverage": np.where(n_optional > 0, block.held_optional[local, items] / np.maximum(n_optional, 1),
                                          np.nan),
            "missing_essential": n_essential - held_essential,
            "idf_overlap": block.idf_overlap[local, items],
            "semantic_similarity": block.semantic[local, items],
            "already_known": held_essential / np.maximum(n_essential, 1),
            "duration_hours": attributes["duration_hours"].to_numpy(dtype=np.float64),
        }
        if used is not None:
            relevance = np.where(n_held > 0, used / np.maximum(n_held, 1), 0.0)
            coverage = values["essential_coverage"]
            values["profile_relevance"] = relevance
            values["mutual_fit"] = 2 * coverage * relevance / np.maximum(coverage + relevance, 1e-12)
        wanted = set(self.columns)
        if wanted & {"related_experience_years", "same_isco_group", "last_job_similarity"}:
            values.update(self._career_features(context, query_rows, items, start, stop, local))
        if wanted & {"commute_km", "commute_excess"}:  # online items are 0 km away
            distance = haversine_km(queries["lat"].to_numpy(), queries["lon"].to_numpy(),
                                    attributes["lat"].to_numpy(), attributes["lon"].to_numpy())
            distance = np.where(attributes["online"].to_numpy(dtype=bool), 0.0, distance)
            values["commute_km"] = distance
            values["commute_excess"] = np.maximum(distance / queries["max_commute_km"].to_numpy() - 1.0, 0.0)
        values["education_gap"] = _gap(attributes["education_level"].to_numpy(dtype=np.float64),
                                       queries["education_level"].to_numpy())
        values["dutch_gap"] = _gap(attributes["dutch_level_required"].to_numpy(dtype=np.float64),
                                   queries["dutch_level"].to_numpy())
        licence = queries["driving_licence"].to_numpy()
        required = attributes["driving_licence_required"].to_numpy(dtype=bool)
        values["licence_missing"] = np.where(np.isnan(licence), np.nan, (required & (licence == 0)).astype(float))
        values["hours_clash"] = self._hours_clash(queries, attributes)
        if "gap_relevance" in wanted:
            values["gap_relevance"] = self._gap_relevance(context, query_rows, items)
        return np.column_stack([values[name] for name in self.columns])

    def _career_features(self, context, query_rows, items, start, stop, local) -> dict[str, np.ndarray]:
        experience = context.experience[start:stop].toarray()
        item_isco = self.item_isco[items]
        years = np.where(item_isco >= 0, experience[local, np.maximum(item_isco, 0)], 0.0)
        last = context.last_occupation[query_rows]
        last_isco = np.where(last >= 0, self.occupation_isco[np.maximum(last, 0)], -2)
        item_occupation = self.space.catalogue.occupation[items]
        similarity = np.full(len(items), np.nan)
        known = (last >= 0) & (item_occupation >= 0)
        if known.any():
            left = self.occupation_vectors[last[known]]
            right = self.occupation_vectors[item_occupation[known]]
            similarity[known] = np.asarray(left.multiply(right).sum(axis=1)).ravel()
        return {
            "related_experience_years": years,
            "same_isco_group": np.where(last >= 0, (last_isco == item_isco).astype(float), np.nan),
            "last_job_similarity": similarity,
            "years_since_last_job": context.years_since_last_job[query_rows],
        }

    def _hours_clash(self, queries: pd.DataFrame, attributes: pd.DataFrame) -> np.ndarray:
        care = queries["care_duties"].to_numpy()
        part_time = queries["prefers_part_time"].to_numpy()
        if self.kind == "trainings":
            demanding = ((attributes["duration_hours"].to_numpy() >= LONG_TRAINING_HOURS)
                         & ~attributes["online"].to_numpy(dtype=bool))
            clash = (care == 1) & demanding
        else:
            irregular = attributes["irregular_hours"].to_numpy(dtype=bool)
            full_time = attributes["full_time"].to_numpy(dtype=bool)
            clash = (care == 1) & (irregular | (full_time & (part_time == 1)))
        return np.where(np.isnan(care), np.nan, clash.astype(float))

    def _gap_relevance(self, context: QueryContext, query_rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Share of what the training teaches that the query's target occupation needs and the query lacks."""
        target = context.target_occupation[query_rows]
        out = np.full(len(items), np.nan)
        known = np.flatnonzero(target >= 0)
        if not len(known):
            return out
        needed = self.occupation_essential[target[known]]
        lacking = (needed - needed.multiply(context.profile[query_rows[known]])).tocsr()
        taught = self.space.catalogue.essential[items[known]]
        overlap = np.asarray(lacking.multiply(taught).sum(axis=1)).ravel()
        out[known] = overlap / np.maximum(self.space.n_essential[items[known]], 1)
        return out


def _pair_products(queries: sparse.csr_matrix, items_matrix: sparse.csr_matrix, local: np.ndarray,
                   items: np.ndarray) -> np.ndarray:
    """Row-wise dot products ``queries[local[k]] · items_matrix[items[k]]`` for the pairs only (not every item)."""
    return np.asarray(queries[local].multiply(items_matrix[items]).sum(axis=1)).ravel()


def _gap(required: np.ndarray, have: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(have), np.nan, np.maximum(required - have, 0.0))
