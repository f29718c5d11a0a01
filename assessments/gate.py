"""The gate: each check of the policy against the aggregated metrics, and the go/no-go decision.

A check's status is ``pass``, ``fail``, ``inconclusive``, ``not_judged`` (no group large enough, or fewer
than two groups to compare) or ``not_applicable`` (the metric does not exist for this kind).

Each finding (a ratio between groups, or one group's value) gets a verdict against the threshold:
- ``decision_basis: point`` (precautionary): the estimate on the wrong side fails;
- ``decision_basis: confident``: the estimate on the wrong side fails only when its whole confidence interval
  is there too; when the interval still reaches the threshold the finding is ``inconclusive`` — named in the
  report, not blocking.
The assessment passes when no enforced check fails; with ``require_evidence`` an enforced check that could
not be judged at all fails too, since it shows nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from assessments.metric_catalogue import METRIC_BY_NAME, applies_to
from assessments.policy import Check, Policy

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
NOT_JUDGED, NOT_APPLICABLE = "not_judged", "not_applicable"


def verdict(value: float, interval: list[float | None], *, threshold: float, upper_limit: bool,
            basis: str) -> str:
    """pass / fail / inconclusive of one estimate against a floor (``upper_limit=False``) or a maximum."""
    beyond = value > threshold if upper_limit else value < threshold
    if not beyond:
        return PASS
    if basis == "point":
        return FAIL
    near = (interval[0] if upper_limit else interval[1]) if interval else None
    if near is None:
        return INCONCLUSIVE
    return FAIL if (near > threshold if upper_limit else near < threshold) else INCONCLUSIVE


@dataclass(frozen=True)
class CheckResult:
    name: str
    metric: str
    rule: str
    threshold: float
    enforce: bool
    status: str
    summary: str
    why: str = ""
    findings: list[dict] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return self.enforce and self.status == FAIL

    def to_dict(self) -> dict:
        return asdict(self)


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0%}" if METRIC_BY_NAME[metric].percent else f"{value:.3f}"


def _ci(interval: list[float | None], metric: str | None = None) -> str:
    if not interval or interval[0] is None:
        return ""
    low, high = interval
    if metric is None:
        return f" (CI {low:.2f}-{high:.2f})"
    return f" (CI {_fmt(metric, low)}-{_fmt(metric, high)})"


def _ratio_findings(check: Check, result: dict, threshold: float, basis: str) -> list[dict]:
    findings = []
    for key, breakdown in result["breakdowns"].items():
        if check.breakdowns is not None and key not in check.breakdowns:
            continue
        ratio = breakdown["ratio"]
        if ratio is None:
            findings.append({"breakdown": key, "judged": False, "verdict": None,
                             "detail": f"{key}: fewer than two groups of at least the minimum size"})
            continue
        outcome = verdict(ratio, breakdown["ratio_ci"], threshold=threshold, upper_limit=False, basis=basis)
        findings.append({
            "breakdown": key, "judged": True, "verdict": outcome, "value": ratio, "ci": breakdown["ratio_ci"],
            "lowest": breakdown["lowest"], "highest": breakdown["highest"],
            "detail": (f"{key}: {breakdown['lowest']} {_fmt(check.metric, _group_value(breakdown, 'lowest'))} vs "
                       f"{breakdown['highest']} {_fmt(check.metric, _group_value(breakdown, 'highest'))}, ratio "
                       f"{ratio:.2f}{_ci(breakdown['ratio_ci'])} {'<' if ratio < threshold else '>='} {threshold:.2f}"),
        })
    return findings


def _group_value(breakdown: dict, which: str) -> float | None:
    name = breakdown[which]
    return next(group["value"] for group in breakdown["groups"] if group["group"] == name)


def _max_findings(check: Check, result: dict, threshold: float, basis: str) -> list[dict]:
    findings = []
    overall = result["overall"]
    candidates = [("overall", "everyone", overall["value"], overall.get("ci", [None, None]), True)]
    for key, breakdown in result.get("breakdowns", {}).items():
        if check.breakdowns is not None and key not in check.breakdowns:
            continue
        for group in breakdown["groups"]:
            candidates.append((key, group["group"], group["value"], group["ci"], group["judged"]))
    for key, group, value, interval, judged in candidates:
        if value is None or not judged:
            continue
        outcome = verdict(value, interval, threshold=threshold, upper_limit=True, basis=basis)
        findings.append({"breakdown": key, "group": group, "judged": True, "verdict": outcome, "value": value,
                         "ci": interval, "detail": f"{key}: {group} {_fmt(check.metric, value)}"
                                                   f"{_ci(interval, check.metric)} {'>' if value > threshold else '<='} "
                                                   f"{_fmt(check.metric, threshold)}"})
    return findings


def evaluate_check(check: Check, results: dict[str, dict], *, policy: Policy, kind: str) -> CheckResult:
    threshold = check.threshold_for(kind)
    base = {"name": check.name, "metric": check.metric, "rule": check.rule, "threshold": threshold,
            "enforce": check.enforce, "why": check.why}
    if not applies_to(check.metric, kind):
        return CheckResult(**base, status=NOT_APPLICABLE, summary=f"{check.metric} does not exist for {kind}")
    result = results.get(check.metric)
    if result is None:
        return CheckResult(**base, status=NOT_JUDGED, summary=f"{check.metric} could not be measured on these data")
    if check.rule == "min_ratio":
        findings = _ratio_findings(check, result, threshold, policy.decision_basis)
    else:
        findings = _max_findings(check, result, threshold, policy.decision_basis)
    judged = [finding for finding in findings if finding["judged"]]
    failed = [finding for finding in judged if finding["verdict"] == FAIL]
    unsure = [finding for finding in judged if finding["verdict"] == INCONCLUSIVE]
    if not judged:
        return CheckResult(**base, status=NOT_JUDGED, findings=findings,
                           summary="no group is large enough to judge (see the groups below)")
    if failed:
        if check.rule == "min_ratio":
            worst = min(failed, key=lambda finding: finding["value"])
        else:
            worst = max(failed, key=lambda finding: finding["value"])
        summary = f"fails in {len(failed)} of {len(judged)} judged comparisons; worst {worst['detail']}"
        return CheckResult(**base, status=FAIL, findings=findings, summary=summary)
    if check.rule == "min_ratio":
        worst = min(judged, key=lambda finding: finding["value"])
    else:
        worst = max(judged, key=lambda finding: finding["value"])
    if unsure:
        return CheckResult(**base, status=INCONCLUSIVE, findings=findings,
                           summary=f"{len(unsure)} of {len(judged)} judged comparisons beyond the threshold, but their "
                                   f"confidence intervals still reach it; worst {worst['detail']}")
    return CheckResult(**base, status=PASS, findings=findings,
                       summary=f"passes all {len(judged)} judged comparisons; closest {worst['detail']}")


def evaluate(results: dict[str, dict], *, policy: Policy, kind: str) -> list[CheckResult]:
    return [evaluate_check(check, results, policy=policy, kind=kind) for check in policy.checks]


def decide(checks: list[CheckResult], *, policy: Policy) -> tuple[bool, list[str]]:
    """(passed, names of the enforced checks that block)."""
    failed = [check.name for check in checks
              if check.enforce and (check.status == FAIL or (policy.require_evidence and check.status == NOT_JUDGED))]
    return not failed, failed
