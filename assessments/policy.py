"""The fairness policy as code: thresholds the ethics board sets, versioned, validated on every load.

``assessments/policy.yaml`` is the policy in force. Every assessment records the policy's version and a
digest of its content; promotion accepts an assessment only under the very policy in force now. A version's
content cannot be bent: each load checks the digest against the version as released
(``assessments/policy_releases.json``) and as first used in the home (``<home>/governance/policies.jsonl``),
so changed content under an old ``policy_version`` is refused.
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

from assessments.metric_catalogue import CATALOGUE_METRICS, METRIC_BY_NAME
from features.errors import LoopbaanError
from features.population.schema import SENSITIVE_COLUMNS
from features.settings import Settings
from features.vocabulary import ERR_UNKNOWN_KIND, KINDS

DEFAULT_POLICY = Path(__file__).resolve().parent / "policy.yaml"
RELEASES = Path(__file__).resolve().parent / "policy_releases.json"
POLICY_LEDGER = "policies.jsonl"  # under <home>/governance: each policy version's digest, bound at first use
ERR_POLICY_MISSING = "no fairness policy at {path}; restore assessments/policy.yaml from git or pass --policy FILE"
ERR_POLICY_SYNTAX = "the fairness policy {path} is not valid YAML ({reason}); fix the file or restore it from git"
ERR_POLICY_INVALID = "the fairness policy {path} is invalid: {problems}; fix the file or restore it from git"
ERR_OLD_FORMAT = ("the fairness policy {path} is in the 1.x format (version {version}), which judged absolute figures "
                  "on the data that also chose the mitigation; policy 2.0 compares every enforced check with a reference "
                  "ranking and judges on held-out citizens nothing was tuned on: start from assessments/policy.yaml "
                  "(docs/fairness-gate.md explains every field)")
ERR_VERSION_BENT = ("the fairness policy {path} says policy_version {version}, but its content differs from version "
                    "{version} as {where} (digest {known}, here {actual}): a changed policy is a new version — give it a "
                    "new policy_version and have the board release it")

Rule = Literal["gap_vs_reference", "group_vs_reference", "excess_over_reference", "min_ratio", "max_value",
               "max_overall"]
REFERENCE_RULES = ("gap_vs_reference", "group_vs_reference", "excess_over_reference")
FLOOR_RULES = ("gap_vs_reference", "group_vs_reference", "min_ratio")  # a floor: the value must reach the threshold


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    """One gate check: a metric, a rule and a threshold, judged over groups of citizens.

    Against the reference ranking of the same candidates for the same citizens (the only rules an enforced check
    may use):

    - ``gap_vs_reference``: in every breakdown, the model's lowest/highest group ratio divided by the reference's
      >= threshold (the model may not widen a gap beyond the threshold);
    - ``group_vs_reference``: every judged group's (and the overall) model value / reference value >= threshold
      (the model may not lower a group's value);
    - ``excess_over_reference``: every judged group's (and the overall; for a catalogue-wide metric only the
      overall) model value minus reference value <= threshold.

    Absolute (advisory only, as context): ``min_ratio`` (the model's lowest/highest group ratio >= threshold, the
    four-fifths rule at 0.8), ``max_value`` (every judged group's value <= threshold), ``max_overall`` (the
    catalogue-wide value <= threshold).
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
            raise ValueError("; ".join(ERR_UNKNOWN_KIND.format(kind=kind) for kind in unknown))
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Check:
        catalogue = self.metric in CATALOGUE_METRICS
        if self.enforce and self.rule not in REFERENCE_RULES:
            raise ValueError(f"check {self.name} is enforced with the absolute rule {self.rule}; an enforced check "
                             f"compares the model with the reference ranking ({', '.join(REFERENCE_RULES)}): change "
                             "its rule or make it advisory (enforce: false)")
        if catalogue and self.rule not in ("excess_over_reference", "max_overall"):
            raise ValueError(f"check {self.name}: {self.metric} is catalogue-wide, so its rule must be "
                             "excess_over_reference or max_overall")
        if not catalogue and self.rule == "max_overall":
            raise ValueError(f"check {self.name}: max_overall applies to catalogue-wide metrics only")
        for threshold in (self.threshold, *self.kind_thresholds.values()):
            if self.rule in FLOOR_RULES and not 0 < threshold <= 1:
                raise ValueError(f"check {self.name}: a ratio floor must be in (0, 1], not {threshold}")
            if self.rule not in FLOOR_RULES and not -1 <= threshold <= 1:
                raise ValueError(f"check {self.name}: a maximum must be in [-1, 1], not {threshold}")
        return self

    @property
    def floor(self) -> bool:
        """True when the value must reach the threshold from above (a ratio), False for a maximum."""
        return self.rule in FLOOR_RULES

    def threshold_for(self, kind: str) -> float:
        return self.kind_thresholds.get(kind, self.threshold)


class Holdout(_Strict):
    """The seeded rule that splits held-out citizens into tuning and judging (see assessments/holdout.py)."""

    salt: str = Field(min_length=8)
    tuning_share: float = Field(gt=0, lt=1)


class LabourMarket(_Strict):
    """When the historical records' penalty on a group is a finding the board must acknowledge."""

    materiality: float = Field(0.95, gt=0, le=1, description="a group is named when its whole interval of the "
                               "chance ratio (own / equally qualified reference citizen) lies below this")


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
    reference: Literal["competency_order"]
    holdout: Holdout
    min_group_size: int = Field(ge=2, le=100_000)
    confidence_level: float = Field(gt=0.5, lt=1)
    bootstrap_samples: int = Field(ge=20, le=10_000)
    decision_basis: Literal["point", "confident"] = "point"
    multiplicity: Literal["holm", "bonferroni", "none"]
    labour_market: LabourMarket = Field(default_factory=LabourMarket)
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
    version = str(data.get("policy_version", ""))
    if version.startswith("1.") or not ({"reference", "holdout"} & set(data)):
        raise LoopbaanError(ERR_OLD_FORMAT.format(path=source, version=version or "none"))
    try:
        return Policy.model_validate(data)
    except ValidationError as error:
        raise LoopbaanError(ERR_POLICY_INVALID.format(path=source, problems=_problems(error))) from None


def released_digests() -> dict[str, str]:
    """Policy version → content digest of every version the board released with the project."""
    return json.loads(RELEASES.read_text(encoding="utf-8"))


def _bind_in_home(policy: Policy, *, settings: Settings, source: str) -> None:
    """The first use of a version in a home records its digest; any later content under it is refused."""
    from assessments.governance import append_record, governance_dir, read_records

    ledger = governance_dir(settings) / POLICY_LEDGER
    known = next((record for record in read_records(ledger) if record.get("policy_version") == policy.policy_version),
                 None)
    if known is None:
        append_record(ledger, {"policy_version": policy.policy_version, "digest": policy.digest, "source": source})
    elif known["digest"] != policy.digest:
        raise LoopbaanError(ERR_VERSION_BENT.format(path=source, version=policy.policy_version,
                                                    where=f"first used in this home ({known['source']})",
                                                    known=known["digest"][:12], actual=policy.digest[:12]))


def load_policy(path: Path | None = None, *, settings: Settings | None = None) -> Policy:
    """The policy in ``path`` (default: assessments/policy.yaml), validated; LoopbaanError says what is wrong.

    Its content digest is checked against its version on every load: against the versions released with the
    project, and, with ``settings``, against the digest the version had when first used in that home.
    """
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
    policy = parse_policy(data, source=str(path))
    released = released_digests().get(policy.policy_version)
    if released is not None and released != policy.digest:
        raise LoopbaanError(ERR_VERSION_BENT.format(path=path, version=policy.policy_version,
                                                    where="released (assessments/policy_releases.json)",
                                                    known=released[:12], actual=policy.digest[:12]))
    if settings is not None:
        _bind_in_home(policy, settings=settings, source=str(path))
    return policy
