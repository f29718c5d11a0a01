"""Calibration of binary outcomes to published group rates by raking on the logit scale."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def rake_probabilities(
    *,
    base_logit: np.ndarray,
    margins: Sequence[tuple[np.ndarray, Mapping[object, float]]],
    mask: np.ndarray | None = None,
    iterations: int = 40,
) -> np.ndarray:
    """Shift per-group logit offsets until each group's mean probability meets its target.

    Parameters
    ----------
    base_logit : array of shape (n,)
        Individual log-odds before calibration (carries any within-group structure).
    margins : sequence of (labels, targets)
        ``labels`` is an array of shape (n,) of group labels; ``targets`` maps a label to its target rate.
        Labels missing from ``targets`` are left free.
    mask : boolean array of shape (n,), optional
        Rows whose probabilities count toward the targets (e.g. only ages 20-64); offsets apply to all.

    Returns
    -------
    Calibrated probabilities of shape (n,).
    """
    current = np.asarray(base_logit, dtype=np.float64).copy()
    mask = np.ones(len(current), dtype=bool) if mask is None else mask
    for _ in range(iterations):
        worst = 0.0
        for labels, targets in margins:
            for label, target in targets.items():
                rows = labels == label
                counted = rows & mask
                if not counted.any():
                    continue
                achieved = sigmoid(current[counted]).mean()
                shift = float(logit(target) - logit(achieved))
                current[rows] += shift
                worst = max(worst, abs(shift))
        if worst < 1e-4:
            break
    return sigmoid(current)
