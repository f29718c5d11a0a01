"""A linear chance-of-success model stored as plain numbers: P = sigmoid(intercept + Σ w · standardised x).

Fitted by the fairness assessment (``assessments.outcome_model``) on historical outcomes; kept here, in
``models``, because the service applies the *blind* one (pair features only, no sensitive attribute) when a
mitigated model version re-ranks by good opportunities (``models.rerank``). Pure numpy: it travels as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LinearChance:
    """P(success) = sigmoid(intercept + Σ weight · (x - mean) / scale); NaN inputs count as 0 plus an indicator,
    and every column in ``thresholds`` adds the indicator x > 0."""

    columns: list[str]
    indicators: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    intercept: float
    good_threshold: float  # chance at or above which an item is a good opportunity
    thresholds: list[str] = field(default_factory=list)
    # (weights..., intercept) refitted on citizen-cluster bootstrap resamples of the records: the uncertainty
    # of the fit, including that several records of one citizen are not independent
    resampled: list[list[float]] | None = None

    def standardised(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.design(frame) - np.asarray(self.mean)) / np.asarray(self.scale)

    def design(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[self.columns].to_numpy(dtype=np.float64)
        flags = frame[self.indicators].isna().to_numpy(dtype=np.float64) if self.indicators else np.zeros((len(frame), 0))
        above = np.nan_to_num(frame[self.thresholds].to_numpy(dtype=np.float64), nan=0.0) > 0 if self.thresholds \
            else np.zeros((len(frame), 0))
        return np.hstack([np.nan_to_num(values, nan=0.0), flags, above.astype(np.float64)])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return sigmoid(self.standardised(frame) @ np.asarray(self.weights) + self.intercept)

    def draws(self) -> np.ndarray:
        """(draws, weights + 1) parameter vectors (last column: intercept); the fit itself when not resampled."""
        if not self.resampled:
            return np.r_[self.weights, self.intercept][None, :]
        return np.asarray(self.resampled)

    def to_dict(self, *, with_resamples: bool = True) -> dict:
        data = asdict(self)
        if not with_resamples:
            data["resampled"] = None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LinearChance:
        return cls(**data)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))
