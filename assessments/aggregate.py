"""Per-group aggregation: Fairlearn ``MetricFrame`` for the estimates, a stratified bootstrap for their CIs.

For every metric and every breakdown (one sensitive feature, or an intersection of two) the per-citizen
values go through ``MetricFrame`` (a metric function per quantity, the values passed as sample parameters),
which gives the overall and per-group estimates. Confidence intervals come from a bootstrap that resamples
citizens within each group (so every group keeps its size in every resample), vectorised over the resamples:
Fairlearn's own bootstrap re-runs the whole MetricFrame per resample and is far too slow for 200 resamples
of thousands of citizens. The ratio (lowest / highest group) and its interval are computed on the same
resamples, over the groups large enough to be judged only.

Groups smaller than the policy's ``min_group_size`` are reported with their estimate and interval, but marked
``judged: false`` and left out of every ratio and maximum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from assessments.evidence import Evidence, catalogue_exposure
from assessments.metric_catalogue import METRIC_BY_NAME, NARROWING_COLUMNS, applies_to
from assessments.policy import Policy
from assessments.ranking_metrics import gini, never_shown_share


def _mean_metric(y_true, y_pred, *, value):
    return float(np.mean(value)) if len(value) else float("nan")


def _narrowing_metric(y_true, y_pred, *, numerator, denominator):
    bottom = float(np.mean(denominator)) if len(denominator) else 0.0
    return 1.0 - float(np.mean(numerator)) / bottom if bottom > 0 else float("nan")


def _statistic(aggregate: str, values: tuple[np.ndarray, ...], index: np.ndarray,
               draws: np.ndarray | None = None) -> np.ndarray:
    """The metric on each resample; ``index`` is (resamples, members) positions into ``values``.

    ``draws`` (draws, members): per-citizen values under each cluster-bootstrap refit of the outcome model;
    resample b uses refit b mod draws, so the interval also carries the outcome model's own uncertainty.
    """
    if aggregate == "narrowing":
        numerator, denominator = (part[index].mean(axis=1) for part in values)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, 1.0 - numerator / denominator, np.nan)
    if draws is not None:
        chosen = draws[np.arange(len(index)) % len(draws)]
        return np.take_along_axis(chosen, index, axis=1).mean(axis=1)
    return values[0][index].mean(axis=1)


def _interval(replicates: np.ndarray, level: float) -> list[float | None]:
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 2:
        return [None, None]
    tail = (1.0 - level) / 2.0
    return [float(np.quantile(finite, tail)), float(np.quantile(finite, 1.0 - tail))]


def _clean(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _values(evidence: Evidence, metric: str) -> tuple[pd.DataFrame, tuple[str, ...], np.ndarray | None] | None:
    info = METRIC_BY_NAME[metric]
    frame = evidence.outcomes if info.source == "outcomes" else evidence.suggestions
    columns = NARROWING_COLUMNS[metric] if info.aggregate == "narrowing" else (metric,)
    if any(column not in frame.columns for column in columns):
        return None
    keep = np.all(np.isfinite(frame[list(columns)].to_numpy(dtype=np.float64)), axis=1)
    if not keep.any():
        return None
    draws = evidence.replicates.get(metric)
    if draws is not None:
        draws = draws[:, keep]
        draws = np.where(np.isfinite(draws), draws, frame[columns[0]].to_numpy(dtype=np.float64)[keep])
    return frame[keep].reset_index(drop=True), columns, draws


def _metric_frame(frame: pd.DataFrame, columns: tuple[str, ...], aggregate: str, features: tuple[str, ...],
                  metric: str) -> MetricFrame:
    if aggregate == "narrowing":
        function, params = _narrowing_metric, {"numerator": frame[columns[0]].to_numpy(),
                                               "denominator": frame[columns[1]].to_numpy()}
    else:
        function, params = _mean_metric, {"value": frame[columns[0]].to_numpy(dtype=np.float64)}
    zeros = np.zeros(len(frame))
    return MetricFrame(metrics={metric: function}, y_true=zeros, y_pred=zeros,
                       sensitive_features=frame[list(features)], sample_params={metric: params})


def aggregate_metric(evidence: Evidence, metric: str, *, policy: Policy, seed: int) -> dict | None:
    """Overall and per-group estimates with CIs for every breakdown of the policy; None when not measurable."""
    found = _values(evidence, metric)
    if found is None:
        return None
    frame, columns, draws = found
    info = METRIC_BY_NAME[metric]
    arrays = tuple(frame[column].to_numpy(dtype=np.float64) for column in columns)
    rng = np.random.default_rng(seed)
    samples, level = policy.bootstrap_samples, policy.confidence_level
    everyone = rng.integers(0, len(frame), size=(samples, len(frame)))
    result = {"metric": metric, "n": len(frame), "breakdowns": {}}
    for key, features in policy.breakdowns().items():
        metric_frame = _metric_frame(frame, columns, info.aggregate, features, metric)
        if "overall" not in result:
            result["overall"] = {"value": _clean(metric_frame.overall[metric]),
                                 "ci": _interval(_statistic(info.aggregate, arrays, everyone, draws), level)}
        by_group = metric_frame.by_group[metric]
        codes = frame.groupby(list(features), sort=True).ngroup().to_numpy()
        labels = frame.groupby(list(features), sort=True).size()
        groups, judged_replicates = [], []
        for code, (label, size) in enumerate(labels.items()):
            members = np.flatnonzero(codes == code)
            replicates = _statistic(info.aggregate, tuple(part[members] for part in arrays),
                                    rng.integers(0, len(members), size=(samples, len(members))),
                                    None if draws is None else draws[:, members])
            judged = int(size) >= policy.min_group_size
            label = label if isinstance(label, tuple) else (label,)
            groups.append({"group": " × ".join(str(part) for part in label), "levels": [str(part) for part in label],
                           "n": int(size), "value": _clean(by_group.loc[label if len(label) > 1 else label[0]]),
                           "ci": _interval(replicates, level), "judged": judged})
            if judged:
                judged_replicates.append(replicates)
        result["breakdowns"][key] = {"features": list(features), "groups": groups,
                                     **_spread(groups, judged_replicates, level)}
    return result


def _spread(groups: list[dict], replicates: list[np.ndarray], level: float) -> dict:
    judged = [group for group in groups if group["judged"] and group["value"] is not None]
    if len(judged) < 2:
        return {"ratio": None, "ratio_ci": [None, None], "difference": None, "lowest": None, "highest": None,
                "judged_groups": len(judged)}
    lowest = min(judged, key=lambda group: group["value"])
    highest = max(judged, key=lambda group: group["value"])
    ratio, ratio_ci = None, [None, None]
    if lowest["value"] >= 0 and highest["value"] > 0:
        ratio = lowest["value"] / highest["value"]
        stacked = np.vstack(replicates)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio_ci = _interval(np.nanmin(stacked, axis=0) / np.nanmax(stacked, axis=0), level)
    return {"ratio": ratio, "ratio_ci": ratio_ci, "difference": highest["value"] - lowest["value"],
            "lowest": lowest["group"], "highest": highest["group"], "judged_groups": len(judged)}


def aggregate_catalogue(evidence: Evidence, *, policy: Policy, seed: int) -> dict[str, dict]:
    """Congestion over the whole catalogue, with CIs from resampling the citizens whose lists are counted."""
    from scipy import sparse

    exposure = catalogue_exposure(evidence)
    n = int(evidence.top_rows.max(initial=-1)) + 1
    out = {"exposure_gini": {"metric": "exposure_gini", "n": n, "overall": {"value": gini(exposure)}},
           "never_shown_share": {"metric": "never_shown_share", "n": n,
                                 "overall": {"value": never_shown_share(exposure)}}}
    if n == 0:
        for entry in out.values():
            entry["overall"]["ci"] = [None, None]
        return out
    positions = np.arange(len(evidence.top_rows)) - np.searchsorted(evidence.top_rows, evidence.top_rows)
    weights = 1.0 / np.log2(2.0 + positions)
    per_citizen = sparse.csr_matrix((weights, (evidence.top_rows, evidence.top_items)),
                                    shape=(n, evidence.catalogue_size))
    rng = np.random.default_rng(seed)
    ginis, unseen = [], []
    for _ in range(policy.bootstrap_samples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        resampled = np.asarray(per_citizen.T @ counts).ravel()
        ginis.append(gini(resampled))
        unseen.append(never_shown_share(resampled))
    for name, replicates in (("exposure_gini", ginis), ("never_shown_share", unseen)):
        out[name]["overall"]["ci"] = _shifted_interval(out[name]["overall"]["value"], np.asarray(replicates),
                                                     policy.confidence_level)
    return out


def _shifted_interval(point: float, replicates: np.ndarray, level: float) -> list[float | None]:
    """Percentile interval shifted by the bootstrap bias, clipped to [0, 1]: resampling citizens with replacement
    counts fewer distinct lists, which biases concentration and unseen items upwards."""
    low, high = _interval(replicates, level)
    if low is None:
        return [None, None]
    bias = float(np.mean(replicates)) - point
    return [float(np.clip(low - bias, 0, 1)), float(np.clip(high - bias, 0, 1))]


def aggregate(evidence: Evidence, *, policy: Policy, kind: str, seed: int) -> dict[str, dict]:
    """Every metric of the catalogue that applies to the kind and can be measured: metric → result."""
    results: dict[str, dict] = {}
    for offset, metric in enumerate(METRIC_BY_NAME):
        if not applies_to(metric, kind) or METRIC_BY_NAME[metric].aggregate == "catalogue":
            continue
        result = aggregate_metric(evidence, metric, policy=policy, seed=seed + offset)
        if result is not None:
            results[metric] = result
    results.update(aggregate_catalogue(evidence, policy=policy, seed=seed))
    return results
