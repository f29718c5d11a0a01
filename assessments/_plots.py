"""Plots of the report as inline PNG (base64 data URIs); figures are built without pyplot's global state."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure

from assessments.document import worst_finding
from assessments.metric_catalogue import METRIC_BY_NAME
from features.vocabulary import NDCG_AT_K

_PASS, _FAIL, _GREY = "#2e7d32", "#c62828", "#9e9e9e"


def _encode(figure: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def groups_figure(result: dict, breakdowns: list[str]) -> str:
    """Per-group estimates of the model (bars) and of the reference ranking (black ticks) with the model's
    confidence intervals, one panel per breakdown; small groups in grey."""
    info = METRIC_BY_NAME[result["metric"]]
    panels = [key for key in breakdowns if key in result.get("breakdowns", {})]
    figure = Figure(figsize=(3.0 * max(len(panels), 1), 2.9))
    for index, key in enumerate(panels):
        axis = figure.add_subplot(1, len(panels), index + 1)
        groups = [group for group in result["breakdowns"][key]["groups"] if group["model"] is not None]
        values = np.array([group["model"] for group in groups])
        low = np.array([group["model_ci"][0] if group["model_ci"][0] is not None else group["model"]
                        for group in groups])
        high = np.array([group["model_ci"][1] if group["model_ci"][1] is not None else group["model"]
                         for group in groups])
        colours = [_PASS if group["judged"] else _GREY for group in groups]
        positions = np.arange(len(groups))
        axis.barh(positions, values, color=colours, alpha=0.8, label="model")
        axis.errorbar(values, positions, xerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)],
                      fmt="none", ecolor="black", capsize=2, linewidth=0.8)
        reference = [group["reference"] if group["reference"] is not None else np.nan for group in groups]
        axis.plot(reference, positions, "|", color="black", markersize=11, label="reference")
        axis.set_yticks(positions, [group["group"] for group in groups], fontsize=7)
        axis.invert_yaxis()
        axis.set_title(key.replace("+", " × ").replace("_", " "), fontsize=8)
        axis.tick_params(axis="x", labelsize=7)
        if index == 0:
            axis.legend(fontsize=6, loc="lower right")
    figure.suptitle(f"{info.title}: model (bars) and reference ranking (|)", fontsize=9)
    figure.tight_layout()
    return _encode(figure)


def labour_market_figure(groups: list[dict], *, materiality: float) -> str:
    """Chance ratio of each trait in the historical records (1 = no penalty), with its interval."""
    figure = Figure(figsize=(6.0, 0.32 * max(len(groups), 1) + 0.9))
    axis = figure.add_subplot(1, 1, 1)
    positions = np.arange(len(groups))
    values = np.array([group["chance_ratio"] for group in groups])
    low = np.array([group["ci"][0] if group["ci"][0] is not None else group["chance_ratio"] for group in groups])
    high = np.array([group["ci"][1] if group["ci"][1] is not None else group["chance_ratio"] for group in groups])
    colours = [_FAIL if group["named"] else _GREY for group in groups]
    axis.barh(positions, values, color=colours, alpha=0.8)
    axis.errorbar(values, positions, xerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)], fmt="none",
                  ecolor="black", capsize=2, linewidth=0.8)
    axis.axvline(1.0, color="black", linewidth=0.8)
    axis.axvline(materiality, color=_FAIL, linestyle="--", linewidth=1)
    axis.set_yticks(positions, [group["group"] for group in groups], fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("chance of success with the trait / without it, all else equal (historical records)", fontsize=8)
    axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    return _encode(figure)


def checks_figure(checks: list[dict]) -> str:
    """The worst finding of every judged check against its threshold (ratio checks: higher is better)."""
    rows = []
    for check in checks:
        worst = worst_finding(check["findings"], floor=check["floor"])
        if worst is None:
            continue
        rows.append((check["name"], worst["value"], check["threshold"], check["status"], check["floor"], check["enforce"]))
    figure = Figure(figsize=(7.5, 0.32 * max(len(rows), 1) + 0.9))
    axis = figure.add_subplot(1, 1, 1)
    for position, (_, worst, threshold, status, _, enforce) in enumerate(rows):
        colour = _FAIL if status == "fail" else "#ef6c00" if status == "inconclusive" else _PASS
        axis.plot([worst], [position], "o", color=colour, markerfacecolor=colour if enforce else "none")
        axis.plot([threshold], [position], "|", color="black", markersize=12)
    axis.set_yticks(range(len(rows)), [f"{name} ({'ratio ≥' if floor else 'value ≤'})"
                                       f"{'' if enforce else ' advisory'}" for name, _, _, _, floor, enforce in rows],
                    fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("worst finding (dot) against the threshold (bar)", fontsize=8)
    axis.tick_params(axis="x", labelsize=7)
    figure.tight_layout()
    return _encode(figure)


def trend_figure(trend: list[dict], names: list[str]) -> str:
    """The worst finding of each enforced check over the assessments of the kind."""
    figure = Figure(figsize=(7.5, 3.0))
    axis = figure.add_subplot(1, 1, 1)
    labels = [f"v{entry['version']}\n{entry['assessed_at'][5:16]}" for entry in trend]
    for name in names:
        values = [entry["worst"].get(name, np.nan) for entry in trend]
        if np.isfinite(values).any():
            axis.plot(range(len(trend)), values, marker="o", label=name, linewidth=1)
    axis.set_xticks(range(len(trend)), labels, fontsize=6)
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(fontsize=6, ncol=2, loc="best")
    axis.set_ylabel("worst finding", fontsize=8)
    figure.tight_layout()
    return _encode(figure)


def setting_label(point: dict) -> str:
    """What a trade-off point's re-ranker guarantees; p = 0 is the unmitigated model (reports from before the
    guarantees were named: good opportunities)."""
    return "unmitigated" if point["proportion"] == 0 else point.get("label", "good")


def tradeoff_figure(points: list[dict], *, fairness_label: str, threshold: float | None) -> str:
    """Accuracy (NDCG@10 on the tuning citizens' logged lists) against fairness on the tuning citizens: one line
    per guarantees variant, from the unmitigated model through each re-ranking strength."""
    figure = Figure(figsize=(5.5, 3.4))
    axis = figure.add_subplot(1, 1, 1)
    start = [point for point in points if point["proportion"] == 0]  # the unmitigated model
    tried = [point for point in points if point["proportion"] > 0]
    labels = list(dict.fromkeys(setting_label(point) for point in tried))
    colours = ("#1565c0", "#6a1b9a", "#00838f", "#ef6c00")
    for index, label in enumerate(labels):
        line = start + [point for point in tried if setting_label(point) == label]
        axis.plot([point[NDCG_AT_K] for point in line], [point["fairness"] for point in line], "-o",
                  color=colours[index % len(colours)], label=f"guaranteeing {label}", markersize=4)
    for point in points:
        marker = "*" if point.get("chosen") else ""
        name = "unmitigated" if point["proportion"] == 0 else f"p={point['proportion']:g}{marker}"
        axis.annotate(name, (point[NDCG_AT_K], point["fairness"]), fontsize=6, textcoords="offset points",
                      xytext=(4, 4))
    axis.legend(fontsize=7, loc="best")
    if threshold is not None:
        axis.axhline(threshold, color=_FAIL, linestyle="--", linewidth=1)
    axis.set_xlabel("accuracy: NDCG@10 on the tuning citizens' logged lists", fontsize=8)
    axis.set_ylabel(fairness_label, fontsize=8)
    axis.tick_params(labelsize=7)
    figure.tight_layout()
    return _encode(figure)
