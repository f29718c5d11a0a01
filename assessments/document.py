"""The assessment document: what one assessment found, as ``assessment.json`` holds it and its readers read it.

:class:`AssessmentDocument` types the parts that promotion, reviews, the recurring run, mitigation and the CLI
decide on (verdict, policy, model facts, checks, labour-market finding); the figures (results, data facts,
explanations, trend, oversight, mitigation points) stay plain JSON objects. Every model keeps the keys it does
not name (``extra="allow"``) and dumps only the keys it was given, named ones first in the order ``run`` writes
them, so a document written by an earlier version
loads and dumps back to the same JSON; numbers are ``float | int`` so that an int is never rewritten as a float.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Number = float | int


def worst_finding(findings: Iterable[Mapping[str, Any]], *, floor: bool) -> Mapping[str, Any] | None:
    """The judged finding nearest to failing its check: the lowest value under a floor, the highest under a
    maximum; None when nothing was judged. The gate's status, the report, the trend and MLflow all name this one."""
    judged = [finding for finding in findings if finding.get("judged")]
    if not judged:
        return None
    return (min if floor else max)(judged, key=lambda finding: finding["value"])


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class PolicyFacts(_Part):
    """The policy the assessment was made under."""

    version: str
    digest: str
    owner: str | None = None
    reference: str | None = None
    decision_basis: str | None = None
    multiplicity: str | None = None
    min_group_size: int | None = None
    bootstrap_samples: int | None = None
    confidence_level: Number | None = None
    sign_off_required: bool | None = None
    rollback_on_failure: bool | None = None
    sensitive_features: dict[str, str] = Field(default_factory=dict)
    intersections: list[list[str]] = Field(default_factory=list)


class ModelFacts(_Part):
    """The assessed model: seed, training facts, digests (``content_digest`` binds the board's reviews)."""

    seed: int | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    booster_digest: str | None = None
    content_digest: str | None = None  # None: a document older than content-bound reviews
    lineage: dict[str, int] = Field(default_factory=dict)
    mitigation: dict[str, Any] | None = None
    mitigation_text: str | None = None
    feature_names: list[str] = Field(default_factory=list)


class CheckOutcome(_Part):
    """One check of the policy on the judged evidence (``gate.CheckResult`` as stored)."""

    name: str
    metric: str | None = None
    rule: str | None = None
    threshold: Number | None = None
    enforce: bool = False
    floor: bool = False
    status: str | None = None
    summary: str = ""
    why: str = ""
    findings: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def worst(self) -> Mapping[str, Any] | None:
        return worst_finding(self.findings, floor=self.floor)


class LabourMarketFinding(_Part):
    """The labour-market finding (``labour_market.labour_market_finding``); ``id`` is None when nothing is named."""

    kind: str | None = None
    outcome: str | None = None
    records: int | None = None
    materiality: Number | None = None
    groups: list[dict[str, Any]] = Field(default_factory=list)
    occupations: list[dict[str, Any]] = Field(default_factory=list)
    named: list[str] = Field(default_factory=list)
    id: str | None = None


class AssessmentDocument(_Part):
    format: int | None = None  # absent: format 1
    assessment_id: str
    kind: str
    version: str
    registered_model: str | None = None
    run_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    trigger: str | None = None
    assessed_at: str = ""
    passed: bool
    failed_checks: list[str] = Field(default_factory=list)
    inconclusive_checks: list[str] = Field(default_factory=list)
    policy: PolicyFacts
    data: dict[str, Any] = Field(default_factory=dict)
    model: ModelFacts = Field(default_factory=ModelFacts)
    goodness: dict[str, Any] | None = None
    outcome_model: dict[str, Any] | None = None
    labour_market: LabourMarketFinding | None = None
    results: dict[str, Any] = Field(default_factory=dict)
    checks: list[CheckOutcome] = Field(default_factory=list)
    tuning: dict[str, Any] | None = None
    explanations: dict[str, Any] = Field(default_factory=dict)
    trend: list[dict[str, Any]] = Field(default_factory=list)
    oversight: dict[str, Any] = Field(default_factory=dict)
    mitigation: dict[str, Any] | None = None
    timings_s: dict[str, Number] = Field(default_factory=dict)

    @property
    def finding_id(self) -> str | None:
        """The labour-market finding an approval must acknowledge, if the assessment names one."""
        return self.labour_market.id if self.labour_market is not None else None

    def check(self, name: str) -> CheckOutcome:
        return next(check for check in self.checks if check.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The document as JSON objects, with exactly the keys it was made or loaded with."""
        return self.model_dump(exclude_unset=True)

    def to_json(self) -> str:
        """``assessment.json``'s text."""
        return json.dumps(self.to_dict(), indent=1, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str) -> AssessmentDocument:
        return cls.model_validate(json.loads(text))
