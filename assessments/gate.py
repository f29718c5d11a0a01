"""The gate: each check of the policy against the aggregated metrics, and the go/no-go decision.

A check's status is ``pass``, ``fail``, ``inconclusive``, ``not_judged`` (no group large enough, fewer than two
groups to compare, or a metric that is constant across citizens by construction) or ``not_applicable`` (the
metric does not exist for this kind).

Each finding (one breakdown's gap, or one group's value) is a statistic with a BCa interval and a one-sided
p-value against the threshold (:mod:`assessments.statistics`). Enforced checks compare the model's lists with
the reference ranking of the same citizens (``gap_vs_reference``, ``group_vs_reference``,
``excess_over_reference``; see :class:`assessments.policy.Check`), so that their verdict is about the model; the
absolute rules are advisory context. A finding's verdict:

- ``decision_basis: point`` (precautionary): the estimate on the wrong side of the threshold fails;
- ``decision_basis: confident``: it fails only beyond doubt — its p-value, adjusted for multiplicity over every
  judged finding of every enforced check (Holm or Bonferroni, as the policy says), below
  ``(1 - confidence_level) / 2``; an estimate on the wrong side within the noise is ``inconclusive`` — named in
  the report, not blocking. Advisory findings are judged unadjusted.

The assessment passes when no enforced check fails; with ``require_evidence`` an enforced check that could not
be judged at all fails too, since it shows nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from assessments.aggregate import Breakdown, MetricSummary
from assessments.document import worst_finding
from assessments.metric_catalogue import METRIC_BY_NAME, applies_to
from assessments.policy import Check, Policy
from assessments.statistics import Bca, adjust

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
NOT_JUDGED, NOT_APPLICABLE = "not_judged", "not_applicable"
CONSTANT = "constant across citizens by construction: it cannot tell groups apart"


@dataclass(frozen=True)
class CheckResult:
    name: str
    metric: str
    rule: str
    threshold: float
    enforce: bool
    floor: bool
    status: str
    summary: str
    why: str = ""
    findings: list[dict] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return self.enforce and self.status == FAIL

    def to_dict(self) -> dict:
        return asdict(self)


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0%}" if METRIC_BY_NAME[metric].percent else f"{value:.3f}"


def _ci(interval: list[float | None]) -> str:
    if not interval or interval[0] is None:
        return ""
    return f" (CI {interval[0]:.2f} to {interval[1]:.2f})"


@dataclass(frozen=True)
class _Statistic:
    point: float
    boot: np.ndarray
    jack: np.ndarray


def _parity(breakdown: Breakdown, which: str, judged: np.ndarray) -> tuple[_Statistic, int, int]:
    """Lowest / highest judged group value (and which groups) of one list's estimates."""
    values = breakdown.values[which]
    point = values.point[judged]
    lowest, highest = int(np.argmin(point)), int(np.argmax(point))

    def ratio(matrix: np.ndarray) -> np.ndarray:
        top = matrix.max(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(top > 0, matrix.min(axis=-1) / top, np.nan)

    statistic = _Statistic(point=float(ratio(point[None, :])[0]), boot=ratio(values.boot[:, judged]),
                           jack=ratio(values.jack[:, judged]))
    indices = np.flatnonzero(judged)
    return statistic, int(indices[lowest]), int(indices[highest])


def _judgeable(breakdown: Breakdown, *, reference: bool) -> np.ndarray:
    judged = breakdown.judged & np.isfinite(breakdown.values["model"].point)
    if reference:
        judged &= np.isfinite(breakdown.values["reference"].point)
    return judged


def _gap_findings(check: Check, summary: MetricSummary, keys: list[str], threshold: float,
                  confidence: float) -> list[dict]:
    out = []
    for key in keys:
        breakdown = summary.breakdowns[key]
        reference = check.rule == "gap_vs_reference"
        judged = _judgeable(breakdown, reference=reference)
        if judged.sum() < 2:
            out.append({"breakdown": key, "judged": False, "detail": f"{key}: fewer than two judged groups"})
            continue
        model, low, high = _parity(breakdown, "model", judged)
        names = breakdown.labels
        model_text = (f"{names[low]} {fmt(check.metric, breakdown.values['model'].point[low])} vs {names[high]} "
                      f"{fmt(check.metric, breakdown.values['model'].point[high])} (ratio {model.point:.2f})")
        if not reference:
            out.append(_finding(key, None, model, threshold, check.floor, confidence, detail=f"{key}: {model_text}",
                                extra={"lowest": names[low], "highest": names[high]}))
            continue
        ref, ref_low, ref_high = _parity(breakdown, "reference", judged)
        with np.errstate(invalid="ignore", divide="ignore"):
            statistic = _Statistic(point=model.point / ref.point if ref.point > 0 else float("nan"),
                                   boot=model.boot / ref.boot, jack=model.jack / ref.jack)
        reference_text = (f"reference {names[ref_low]} {fmt(check.metric, breakdown.values['reference'].point[ref_low])}"
                          f" vs {names[ref_high]} {fmt(check.metric, breakdown.values['reference'].point[ref_high])} "
                          f"({ref.point:.2f})")
        out.append(_finding(key, None, statistic, threshold, check.floor, confidence,
                            detail=f"{key}: model {model_text}; {reference_text}; the model keeps "
                                   f"{statistic.point:.2f} of the reference's parity",
                            extra={"lowest": names[low], "highest": names[high], "model_ratio": model.point,
                                   "reference_ratio": ref.point}))
    return out


def _group_findings(check: Check, summary: MetricSummary, keys: list[str], threshold: float,
                    confidence: float) -> list[dict]:
    out = []
    for key in ["overall", *keys]:
        breakdown = summary.breakdowns[key]
        reference = check.rule in ("group_vs_reference", "excess_over_reference")
        judged = _judgeable(breakdown, reference=reference)
        for index in np.flatnonzero(judged):
            model = breakdown.values["model"]
            group = breakdown.labels[index]
            if not reference:
                statistic = _Statistic(float(model.point[index]), model.boot[:, index], model.jack[:, index])
                text = f"{key}: {group} {fmt(check.metric, statistic.point)}"
            else:
                ref = breakdown.values["reference"]
                compare = (lambda a, b: a / b) if check.rule == "group_vs_reference" else (lambda a, b: a - b)
                with np.errstate(invalid="ignore", divide="ignore"):
                    statistic = _Statistic(float(compare(model.point[index], ref.point[index])),
                                           compare(model.boot[:, index], ref.boot[:, index]),
                                           compare(model.jack[:, index], ref.jack[:, index]))
                relation = f"ratio {statistic.point:.2f}" if check.floor else f"difference {statistic.point:+.3f}"
                text = (f"{key}: {group} model {fmt(check.metric, model.point[index])} vs reference "
                        f"{fmt(check.metric, ref.point[index])}, {relation}")
            out.append(_finding(key, group, statistic, threshold, check.floor, confidence, detail=text))
    return out


def _finding(key: str, group: str | None, statistic: _Statistic, threshold: float, floor: bool, confidence: float,
             *, detail: str, extra: dict | None = None) -> dict:
    if not np.isfinite(statistic.point):
        return {"breakdown": key, "group": group, "judged": False, "detail": f"{detail}: not defined"}
    bca = Bca.of(statistic.point, statistic.boot, statistic.jack)
    beyond = statistic.point < threshold if floor else statistic.point > threshold
    return {"breakdown": key, "group": group, "judged": True, "value": statistic.point,
            "ci": bca.interval(confidence) if bca else [None, None],
            "p": bca.p_beyond(threshold, upper_limit=not floor) if bca else None, "beyond": bool(beyond),
            "detail": detail, **(extra or {})}


def _keys(check: Check, summary: MetricSummary) -> list[str]:
    keys = [key for key in summary.breakdowns if key != "overall"]
    return [key for key in keys if check.breakdowns is None or key in check.breakdowns]


def findings_for(check: Check, summary: MetricSummary, *, kind: str, confidence: float) -> list[dict]:
    """One finding per breakdown (gap rules) or per judged group and overall (group and excess rules)."""
    threshold = check.threshold_for(kind)
    if check.rule in ("gap_vs_reference", "min_ratio"):
        return _gap_findings(check, summary, _keys(check, summary), threshold, confidence)
    keys = [] if summary.catalogue else _keys(check, summary)
    return _group_findings(check, summary, keys, threshold, confidence)


def _verdict(finding: dict, *, basis: str, confidence: float, p_value: float | None) -> str:
    if not finding["beyond"]:
        return PASS
    if basis == "point":
        return FAIL
    if p_value is None:
        return INCONCLUSIVE
    return FAIL if p_value < (1.0 - confidence) / 2.0 else INCONCLUSIVE


def _status(check: Check, findings: list[dict], threshold: float) -> tuple[str, str]:
    judged = [finding for finding in findings if finding["judged"]]
    if not judged:
        return NOT_JUDGED, "no comparison could be judged (see the findings below)"
    failed = [finding for finding in judged if finding["verdict"] == FAIL]
    unsure = [finding for finding in judged if finding["verdict"] == INCONCLUSIVE]
    sign = ("<" if check.floor else ">")
    if failed:
        worst = worst_finding(failed, floor=check.floor)
        return FAIL, (f"fails in {len(failed)} of {len(judged)} judged comparisons; worst {worst['detail']}"
                      f"{_ci(worst['ci'])} {sign} {threshold:g}")
    worst = worst_finding(judged, floor=check.floor)
    if unsure:
        return INCONCLUSIVE, (f"{len(unsure)} of {len(judged)} judged comparisons beyond the threshold, but not beyond "
                              f"doubt; worst {worst['detail']}{_ci(worst['ci'])} {sign} {threshold:g}")
    return PASS, f"passes all {len(judged)} judged comparisons; closest {worst['detail']}{_ci(worst['ci'])}"


def evaluate(summaries: dict[str, MetricSummary], *, policy: Policy, kind: str) -> list[CheckResult]:
    """Every check of the policy: findings, the multiplicity-adjusted verdicts, the check's status."""
    found: dict[str, list[dict] | str] = {}
    for check in policy.checks:
        summary = summaries.get(check.metric)
        if not applies_to(check.metric, kind):
            needs = METRIC_BY_NAME[check.metric].needs_features
            found[check.name] = (f"{check.metric} does not exist for {kind}"
                                 + (f": no pair feature of {kind} reads what it alters ({', '.join(needs)})"
                                    if needs and kind in METRIC_BY_NAME[check.metric].kinds else ""))
        elif summary is None:
            found[check.name] = f"{check.metric} could not be measured on these data"
        elif summary.constant:
            found[check.name] = f"{check.metric} is {CONSTANT}"
        else:
            found[check.name] = findings_for(check, summary, kind=kind, confidence=policy.confidence_level)
    family = []  # every judged finding of every enforced check: one family for the multiplicity correction
    for check in policy.checks:
        if check.enforce and isinstance(found[check.name], list):
            family.extend(finding for finding in found[check.name] if finding["judged"] and finding["p"] is not None)
    for finding, p_value in zip(family, adjust([finding["p"] for finding in family], method=policy.multiplicity),
                                strict=True):
        finding["p_adjusted"] = p_value
    results = []
    for check in policy.checks:
        threshold = check.threshold_for(kind)
        base = {"name": check.name, "metric": check.metric, "rule": check.rule, "threshold": threshold,
                "enforce": check.enforce, "floor": check.floor, "why": check.why}
        findings = found[check.name]
        if isinstance(findings, str):
            status = NOT_APPLICABLE if not applies_to(check.metric, kind) else NOT_JUDGED
            results.append(CheckResult(**base, status=status, summary=findings))
            continue
        for finding in findings:
            if finding["judged"]:
                p_value = finding.get("p_adjusted", finding["p"]) if check.enforce else finding["p"]
                finding["verdict"] = _verdict(finding, basis=policy.decision_basis,
                                              confidence=policy.confidence_level, p_value=p_value)
        status, summary = _status(check, findings, threshold)
        results.append(CheckResult(**base, status=status, summary=summary, findings=findings))
    return results


def decide(checks: list[CheckResult], *, policy: Policy) -> tuple[bool, list[str]]:
    """(passed, names of the enforced checks that block)."""
    failed = [check.name for check in checks
              if check.enforce and (check.status == FAIL or (policy.require_evidence and check.status == NOT_JUDGED))]
    return not failed, failed
