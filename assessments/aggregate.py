"""Per-group aggregation of the model's and the reference ranking's per-citizen values: Fairlearn
``MetricFrame`` for the estimates, a stratified bootstrap and a grouped jackknife for their uncertainty.

For every metric and every breakdown (one sensitive feature, or an intersection of two) the per-citizen values
go through ``MetricFrame`` (the values passed as sample parameters), which gives the overall and per-group
estimates, for the model's column and for its ``@reference`` column. Uncertainty comes from a bootstrap that
resamples citizens within each group (every group keeps its size in every resample), the same resample for the
model and the reference (a paired comparison on the same citizens), vectorised over the resamples — Fairlearn's
own bootstrap re-runs the whole MetricFrame per resample and is far too slow for 200 resamples of thousands of
citizens — and from a grouped jackknife (one block of citizens left out at a time) for the BCa acceleration.

Quality metrics on logged lists are *standardised*: a group's value is the mean over list-length bands
(1-10, 11-20 items...) weighted by every band's share among all citizens, so that a group of job seekers (who
saw 20 vacancies) and one of employed citizens (10) are compared on the same mix of lists.

Groups smaller than the policy's ``min_group_size`` are reported with their estimate and interval, but marked
``judged: false`` and left out of every comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from assessments.evidence import Evidence, catalogue_exposure
from assessments.metric_catalogue import METRIC_BY_NAME, REFERENCE, applies_to
from assessments.policy import Policy
from assessments.ranking_metrics import gini, never_shown_share
from assessments.statistics import Bca, jackknife_blocks

JACKKNIFE_BLOCKS = 50
WHICH = ("model", "reference")


@dataclass(frozen=True)
class Estimates:
    """Per-group values of one column: the estimate, bootstrap replicates (B, G) and jackknife values (J, G)."""

    point: np.ndarray
    boot: np.ndarray
    jack: np.ndarray

    def interval(self, group: int, confidence: float) -> list[float | None]:
        bca = Bca.of(self.point[group], self.boot[:, group], self.jack[:, group])
        return [None, None] if bca is None else bca.interval(confidence)


@dataclass(frozen=True)
class Breakdown:
    key: str
    features: tuple[str, ...]
    labels: list[str]
    levels: list[list[str]]
    sizes: np.ndarray
    judged: np.ndarray
    values: dict[str, Estimates]  # "model" / "reference"


@dataclass(frozen=True)
class MetricSummary:
    """One metric: per breakdown (including "overall", everyone as one group), model and reference estimates."""

    metric: str
    n: int
    breakdowns: dict[str, Breakdown]
    constant: bool  # no ranking of these lists could change any citizen's value: nothing can tell groups apart
    catalogue: bool = False


def _standardised_metric(y_true, y_pred, *, value, stratum, weights):
    """A group's mean over list-length bands, each band weighted by its share among all citizens."""
    sums = np.bincount(stratum, weights=value, minlength=len(weights))
    counts = np.bincount(stratum, minlength=len(weights)).astype(np.float64)
    return float(_weighted(sums, counts, weights)) if len(value) else float("nan")


def _estimates_by_fairlearn(frame: pd.DataFrame, column: str, features: tuple[str, ...], strata: np.ndarray,
                            weights: np.ndarray) -> pd.Series:
    def standardised(y_true, y_pred, *, value, stratum):
        return _standardised_metric(y_true, y_pred, value=value, stratum=stratum, weights=weights)

    zeros = np.zeros(len(frame))
    params = {"value": frame[column].to_numpy(dtype=np.float64), "stratum": strata}
    metric_frame = MetricFrame(metrics={column: standardised}, y_true=zeros, y_pred=zeros,
                               sensitive_features=frame[list(features)], sample_params={column: params})
    return metric_frame.by_group[column]


def _weighted(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Standardised means from sums and counts per band (last axis); bands absent from a group are left out and
    the others' weights renormalised."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), 0.0)
        weight = np.where(counts > 0, weights, 0.0)
        return np.sum(means * weight, axis=-1) / np.sum(weight, axis=-1)


def _group_values(point: np.ndarray, values: np.ndarray, draws: np.ndarray | None, strata: np.ndarray,
                  codes: np.ndarray, indices: list[np.ndarray], blocks: np.ndarray, weights: np.ndarray) -> Estimates:
    """Bootstrap replicates (resample b uses outcome-model draw b mod D) and the grouped jackknife of the
    standardised group means whose estimates are ``point``."""
    n_groups, n_strata = len(point), len(weights)
    samples = indices[0].shape[0] if indices else 0
    boot = np.full((samples, n_groups), np.nan)
    for group in range(n_groups):
        members = np.flatnonzero(codes == group)
        index = indices[group]
        if draws is None:
            resampled = values[members][index]
        else:
            chosen = draws[:, members][np.arange(samples) % len(draws)]
            resampled = np.take_along_axis(chosen, index, axis=1)
        resampled_strata = strata[members][index]
        sums = np.stack([np.where(resampled_strata == stratum, resampled, 0.0).sum(axis=1)
                         for stratum in range(n_strata)], axis=-1)
        counts = np.stack([(resampled_strata == stratum).sum(axis=1) for stratum in range(n_strata)],
                          axis=-1).astype(np.float64)
        boot[:, group] = _weighted(sums, counts, weights)
    n_blocks = int(blocks.max(initial=-1)) + 1
    cell = (codes * n_strata + strata) * n_blocks + blocks
    size = n_groups * n_strata * n_blocks
    block_sums = np.bincount(cell, weights=values, minlength=size).reshape(n_groups, n_strata, n_blocks)
    block_counts = np.bincount(cell, minlength=size).reshape(n_groups, n_strata, n_blocks).astype(np.float64)
    total_sums, total_counts = block_sums.sum(axis=2), block_counts.sum(axis=2)
    jack = np.stack([_weighted(total_sums - block_sums[:, :, block], total_counts - block_counts[:, :, block],
                               weights) for block in range(n_blocks)]) if n_blocks else np.zeros((0, n_groups))
    return Estimates(point=point, boot=boot, jack=jack)


def _columns(evidence: Evidence, metric: str) -> tuple[pd.DataFrame, dict[str, str], np.ndarray] | None:
    """The citizens with both values known (frame, column per list, their mask over the evidence frame)."""
    info = METRIC_BY_NAME[metric]
    frame = evidence.outcomes if info.source == "outcomes" else evidence.suggestions
    columns = {"model": metric, "reference": f"{metric}{REFERENCE}"}
    if any(column not in frame.columns for column in columns.values()):
        return None
    keep = np.all(np.isfinite(frame[list(columns.values())].to_numpy(dtype=np.float64)), axis=1)
    if not keep.any():
        return None
    return frame[keep].reset_index(drop=True), columns, keep


def summarise_metric(evidence: Evidence, metric: str, *, policy: Policy, seed: int) -> MetricSummary | None:
    """Model and reference estimates of one metric for every breakdown; None when not measurable."""
    found = _columns(evidence, metric)
    if found is None:
        return None
    frame, columns, keep = found
    raw = frame["stratum"].to_numpy(dtype=np.int64) if "stratum" in frame.columns else np.zeros(len(frame), np.int64)
    strata = pd.factorize(raw, sort=True)[0].astype(np.int64)
    weights = np.bincount(strata).astype(np.float64) / len(strata)
    draws = {}
    for which, column in columns.items():
        replicates = evidence.replicates.get(column)
        if replicates is not None:
            draws[which] = np.where(np.isfinite(replicates[:, keep]), replicates[:, keep],
                                    frame[column].to_numpy(dtype=np.float64))
    rng = np.random.default_rng(seed)
    blocks = jackknife_blocks(len(frame), blocks=JACKKNIFE_BLOCKS, seed=seed)
    breakdowns = {}
    frame = frame.assign(everyone="everyone")
    for key, features in {"overall": ("everyone",), **policy.breakdowns()}.items():
        grouped = frame.groupby(list(features), sort=True)
        codes = grouped.ngroup().to_numpy()
        sizes = grouped.size()
        indices = [rng.integers(0, int(size), size=(policy.bootstrap_samples, int(size))) for size in sizes]
        labels = [label if isinstance(label, tuple) else (label,) for label in sizes.index]
        values = {}
        for which, column in columns.items():
            by_group = _estimates_by_fairlearn(frame, column, features, strata, weights)
            point = np.array([by_group.loc[label if len(label) > 1 else label[0]] for label in labels],
                             dtype=np.float64)
            values[which] = _group_values(point, frame[column].to_numpy(dtype=np.float64), draws.get(which), strata,
                                          codes, indices, blocks, weights)
        breakdowns[key] = Breakdown(key=key, features=tuple(features), labels=[" × ".join(map(str, label))
                                                                               for label in labels],
                                    levels=[[str(part) for part in label] for label in labels],
                                    sizes=sizes.to_numpy(), judged=sizes.to_numpy() >= policy.min_group_size,
                                    values=values)
    return MetricSummary(metric=metric, n=len(frame), breakdowns=breakdowns, constant=metric in evidence.constant)


def _catalogue_values(evidence: Evidence, metric: str, *, policy: Policy, seed: int) -> MetricSummary:
    """Congestion of the catalogue for the model's and the reference's top 10s, resampling citizens (paired)."""
    from scipy import sparse

    function = gini if metric == "exposure_gini" else never_shown_share
    n = max(int(rows.max(initial=-1)) + 1 for rows, _ in evidence.shown.values())
    matrices = {}
    for which in WHICH:
        rows, items = evidence.shown[which]
        positions = np.arange(len(rows)) - np.searchsorted(rows, rows)
        weights = 1.0 / np.log2(2.0 + positions)
        matrices[which] = sparse.csr_matrix((weights, (rows, items)), shape=(n, evidence.catalogue_size))
    rng = np.random.default_rng(seed)
    counts = [np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
              for _ in range(policy.bootstrap_samples)] if n else []
    blocks = jackknife_blocks(n, blocks=JACKKNIFE_BLOCKS, seed=seed)
    values = {}
    for which in WHICH:
        point = function(catalogue_exposure(evidence, which))
        boot = np.array([function(np.asarray(matrices[which].T @ weights).ravel()) for weights in counts])
        # A resample holds fewer distinct lists than the sample, so it always concentrates attention more and
        # leaves more of the catalogue unseen: the replicates sit wholly on one side of the estimate and BCa's bias
        # correction breaks down. Shifted by their mean bias they keep the spread around the estimate instead.
        boot = boot - (boot.mean() - point) if len(boot) else boot
        jack = [function(np.asarray(matrices[which].T @ (blocks != block).astype(np.float64)).ravel())
                for block in range(int(blocks.max(initial=-1)) + 1)]
        values[which] = Estimates(point=np.array([point]), boot=np.array(boot, dtype=np.float64).reshape(-1, 1),
                                  jack=np.array(jack, dtype=np.float64).reshape(-1, 1))
    overall = Breakdown(key="overall", features=("everyone",), labels=["everyone"], levels=[["everyone"]],
                        sizes=np.array([n]), judged=np.array([n > 0]), values=values)
    return MetricSummary(metric=metric, n=n, breakdowns={"overall": overall}, constant=False, catalogue=True)


def summarise(evidence: Evidence, *, policy: Policy, kind: str, seed: int) -> dict[str, MetricSummary]:
    """Every metric of the catalogue that applies to the kind and can be measured: metric → summary."""
    out: dict[str, MetricSummary] = {}
    for offset, metric in enumerate(METRIC_BY_NAME):
        if not applies_to(metric, kind):
            continue
        if METRIC_BY_NAME[metric].aggregate == "catalogue":
            if all(len(rows) for rows, _ in evidence.shown.values()):
                out[metric] = _catalogue_values(evidence, metric, policy=policy, seed=seed + offset)
            continue
        summary = summarise_metric(evidence, metric, policy=policy, seed=seed + offset)
        if summary is not None:
            out[metric] = summary
    return out


def _clean(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def results_document(summaries: dict[str, MetricSummary], *, confidence: float) -> dict[str, dict]:
    """The per-metric results as the assessment document stores them (model and reference side by side)."""
    out = {}
    for metric, summary in summaries.items():
        entry = {"metric": metric, "n": summary.n, "constant": summary.constant, "breakdowns": {}}
        for key, breakdown in summary.breakdowns.items():
            groups = []
            for index, label in enumerate(breakdown.labels):
                group = {"group": label, "levels": breakdown.levels[index], "n": int(breakdown.sizes[index]),
                         "judged": bool(breakdown.judged[index])}
                for which, values in breakdown.values.items():
                    group[which] = _clean(values.point[index])
                    group[f"{which}_ci"] = values.interval(index, confidence)
                groups.append(group)
            if key == "overall":
                entry["overall"] = {name: groups[0][name] for name in
                                    ("model", "model_ci", "reference", "reference_ci")}
            else:
                entry["breakdowns"][key] = {"features": list(breakdown.features), "groups": groups}
        out[metric] = entry
    return out
