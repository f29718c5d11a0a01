"""The fairness policy as code: thresholds the ethics board sets, versioned, validated on every load.

``assessments/policy.yaml`` is the policy in force. Every assessment records the policy's version and a
digest of its content; promotion accepts an assessment only under the very policy in force now, so a
changed threshold (even with a forgotten version bump) asks for a new assessment.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from assessments.metric_catalogue import CATALOGUE_METRICS, KINDS, METRIC_BY_NAME
from features.errors import LoopbaanError
from features.population.schema import SENSITIVE_COLUMNS

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"
ERR_POLICY_MISSING = "no fairness policy at {path}; restore assessments/policy.yaml from git or pass --policy FILE"
ERR_POLICY_SYNTAX = "the fairness policy {path} is not valid YAML ({reason}); fix the file or restore it from git"
ERR_POLICY_INVALID = "the fairness policy {path} is invalid: {problems}; fix the file or restore it from git"

Rule = Literal["min_ratio", "max_value", "max_overall"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    """One gate check: a metric, a rule and a threshold, judged over groups of citizens.

    - ``min_ratio``: in every breakdown, lowest group value / highest group value >= threshold
      (the four-fifths rule at 0.8);
    - ``max_value``: every judged group's value (and the overall value) <= threshold;
    - ``max_overall``: the catalogue-wide value <= threshold (congestion).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    metric: str
    rule: Rule
    threshold: float
    enforce: bool = True
    breakdowns: list[str] | None = None  # default: every sensitive feature and intersection
    kind_thresholds: dict[str, float] = Field(default_factory=dict)
    why: str = ""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in METRIC_BY_NAME:
            raise ValueError(f"unknown metric {value!r}; known metrics: {', '.join(METRIC_BY_NAME)}")
        return value

    @field_validator("kind_thresholds")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}; choose from {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Check:
        catalogue = self.metric in CATALOGUE_METRICS
        if catalogue and self.rule != "max_overall":
            raise ValueError(f"check {self.name}: {self.metric} is catalogue-wide, so its rule must be max_overall")
        if not catalogue and self.rule == "max_overall":
            raise ValueError(f"check {self.name}: max_overall applies to catalogue-wide metrics only")
        for threshold in (self.threshold, *self.kind_thresholds.values()):
            if self.rule == "min_ratio" and not 0 < threshold <= 1:
                raise ValueError(f"check {self.name}: a ratio floor must be in (0, 1], not {threshold}")
            if self.rule != "min_ratio" and not -1 <= threshold <= 1:
                raise ValueError(f"check {self.name}: a maximum must be in [-1, 1], not {threshold}")
        return self

    def threshold_for(self, kind: str) -> float:
        return self.kind_thresholds.get(kind, self.threshold)


class Mitigation(_Strict):
    """The post-processing re-ranker tried by ``loopbaan assess --mitigate`` (see models/rerank.py)."""

    method: Literal["fair_top_k"] = "fair_top_k"
    depth: int = Field(50, ge=10, le=200, description="candidates the re-ranker may choose from per citizen")
    significance: float = Field(0.1, gt=0, lt=0.5, description="FA*IR significance of the minimum counts")
    proportions: list[float] = Field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    # What every prefix of a re-ranked list holds a minimum share of; each variant is tried at every proportion.
    guarantees: list[list[Literal["good", "ready"]]] = Field(default_factory=lambda: [["good"], ["good", "ready"]])

    @field_validator("proportions")
    @classmethod
    def _shares(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < share < 1 for share in value):
            raise ValueError("proportions must be a non-empty list of shares strictly between 0 and 1")
        return sorted(set(value))

    @field_validator("guarantees")
    @classmethod
    def _variants(cls, value: list[list[str]]) -> list[list[str]]:
        if not value or any(not variant or len(set(variant)) != len(variant) for variant in value):
            raise ValueError("guarantees must be a non-empty list of variants, each a non-empty list of distinct "
                             "names out of good, ready; for example [[good], [good, ready]]")
        unique: list[list[str]] = []
        for variant in value:
            if variant not in unique:
                unique.append(list(variant))
        return unique


class Policy(_Strict):
    policy_version: str = Field(min_length=1)
    owner: str = "ethics board"
    min_group_size: int = Field(ge=2, le=100_000)
    confidence_level: float = Field(gt=0.5, lt=1)
    bootstrap_samples: int = Field(ge=20, le=10_000)
    decision_basis: Literal["point", "confident"] = "point"
    require_evidence: bool = True
    sign_off_required: bool = True
    rollback_on_failure: bool = True
    sample_citizens: int = Field(ge=50, le=1_000_000)
    good_opportunity_quantile: float = Field(2 / 3, gt=0, lt=1)
    sensitive_features: dict[str, str]
    intersections: list[tuple[str, str]] = Field(default_factory=list)
    checks: list[Check] = Field(min_length=1)
    mitigation: Mitigation = Field(default_factory=Mitigation)

    @field_validator("sensitive_features")
    @classmethod
    def _sensitive_columns(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("name at least one sensitive feature")
        unknown = sorted(set(value.values()) - set(SENSITIVE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown sensitive column(s) {unknown}; the sensitive table has {', '.join(SENSITIVE_COLUMNS)}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Policy:
        for pair in self.intersections:
            missing = [name for name in pair if name not in self.sensitive_features]
            if missing or pair[0] == pair[1]:
                raise ValueError(f"intersection {pair[0]} x {pair[1]} must join two different declared sensitive features")
        names = [check.name for check in self.checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"check names must be unique; repeated: {', '.join(duplicates)}")
        known = set(self.breakdowns())
        for check in self.checks:
            unknown = sorted(set(check.breakdowns or []) - known)
            if unknown:
                raise ValueError(f"check {check.name} names unknown breakdown(s) {unknown}; known: {', '.join(sorted(known))}")
        return self

    def breakdowns(self) -> dict[str, tuple[str, ...]]:
        """Breakdown key → the sensitive features it crosses ("gender", "gender+age_band")."""
        out = {name: (name,) for name in self.sensitive_features}
        out.update({f"{a}+{b}": (a, b) for a, b in self.intersections})
        return out

    @property
    def digest(self) -> str:
        """SHA-256 of the policy's content (comments and layout do not count)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    def check(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)


def _problems(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:6]:
        where = ".".join(str(part) for part in problem["loc"]) or "policy"
        parts.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    more = len(error.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_policy(data: object, *, source: str = "<policy>") -> Policy:
    if not isinstance(data, dict):
        raise LoopbaanError(ERR_POLICY_INVALID.format(path=source, problems="the top level must be a mapping"))
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise LoopbaanError(ERR_POLICY_INVALID.format(path=source, problems=_problems(error))) from None


def load_policy(path: Path | None = None) -> Policy:
    """The policy in ``path`` (default: assessments/policy.yaml), validated; LoopbaanError says what is wrong."""
    path = Path(path) if path is not None else DEFAULT_POLICY
    if not path.is_file():
        raise LoopbaanError(ERR_POLICY_MISSING.format(path=path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        reason = str(error).replace("\n", " ")
        raise LoopbaanError(ERR_POLICY_SYNTAX.format(path=path, reason=reason)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise LoopbaanError(ERR_POLICY_SYNTAX.format(path=path, reason=error)) from None
    return parse_policy(data, source=str(path))
