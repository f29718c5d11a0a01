"""Baselines each ranker must beat, scored on the same candidates as the ranker.

- ``popularity``: how often the item (a vacancy, a training, or for careers the target occupation) was a
  positive outcome in the training split, smoothed, the same for every citizen;
- ``overlap``: the IDF-weighted competency overlap alone;
- ``semantic``: the MiniLM semantic similarity alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASELINES = ("popularity", "overlap", "semantic")


class PopularityBaseline:
    """Positive outcomes per item position in the training split (scikit-learn contract)."""

    def fit(self, *, item_positions: np.ndarray, labels: np.ndarray, catalogue_size: int) -> PopularityBaseline:
        positives = np.bincount(item_positions[labels > 0], minlength=catalogue_size).astype(np.float64)
        shown = np.bincount(item_positions, minlength=catalogue_size).astype(np.float64)
        self.scores_ = positives + 0.01 * shown  # among items never chosen, the more often shown first
        return self

    def score(self, item_positions: np.ndarray) -> np.ndarray:
        return self.scores_[item_positions]


def baseline_scores(*, name: str, features: pd.DataFrame, item_positions: np.ndarray,
                    popularity: PopularityBaseline) -> np.ndarray:
    if name == "popularity":
        return popularity.score(item_positions)
    if name == "overlap":
        return features["idf_overlap"].to_numpy()
    if name == "semantic":
        return features["semantic_similarity"].to_numpy()
    raise ValueError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")


def outcome_popularity(*, store, catalogue) -> np.ndarray:
    """Positive outcomes per catalogue item over the whole population (for non-personalised lists)."""
    if catalogue.kind == "careers":
        moves = store.table("transitions")
        positions = catalogue.position_of(moves["to_occupation_uri"])
        weights = np.ones(len(positions))
    else:
        table, id_column, positive, strong = (
            ("job_outcomes", "vacancy_id", "applied", "hired") if catalogue.kind == "jobs"
            else ("training_outcomes", "training_id", "enrolled", "completed"))
        outcomes = store.table(table)
        positions = catalogue.position_of(outcomes[id_column])
        weights = outcomes[positive].to_numpy(dtype=float) + outcomes[strong].to_numpy(dtype=float)
    known = positions >= 0
    return np.bincount(positions[known], weights=weights[known], minlength=len(catalogue))
