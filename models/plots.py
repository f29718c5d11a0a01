"""Figures logged with every run: feature importance and the SHAP summary on validation data."""

from __future__ import annotations

import numpy as np
import pandas as pd


def importance_figure(*, names: list[str], gains: np.ndarray, kind: str):
    from matplotlib.figure import Figure

    order = np.argsort(gains)
    figure = Figure(figsize=(7, 0.35 * len(names) + 1.2))
    axis = figure.subplots()
    axis.barh(np.array(names)[order], np.asarray(gains)[order] / max(float(np.sum(gains)), 1e-12), color="#2b6cb0")
    axis.set_xlabel("share of total gain")
    axis.set_title(f"Feature importance (gain), {kind}")
    figure.tight_layout()
    return figure


def shap_summary_figure(*, contributions: np.ndarray, features: pd.DataFrame, kind: str):
    """SHAP beeswarm from exact tree contributions (``pred_contrib``; last column is the base value).

    shap draws on pyplot's current figure, so a new one is opened for it (a caller's open figure is left
    alone); the caller closes the returned figure after logging.
    """
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    shap.summary_plot(contributions[:, :-1], features, show=False, max_display=len(features.columns),
                      plot_size=(8, 0.35 * len(features.columns) + 1.5))
    figure = plt.gcf()
    figure.suptitle(f"SHAP values on validation data, {kind}")
    figure.tight_layout()
    return figure
