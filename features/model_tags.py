"""The fairness gate's verdicts as MLflow tags: the contract between the writer (``assessments``) and the reader
(``serving``, through ``models.tracking``, never by importing ``assessments``).

- a model version's verdict: the ``fairness.*`` model-version tags;
- a kind's withdrawal: the registered-model tags :data:`TAG_WITHDRAWN_REASON` (a plain-English sentence naming the
  failed assessment and checks) and :data:`TAG_WITHDRAWN_AT` (ISO 8601 UTC), set when a champion fails its
  recurring assessment and no rollback target passes; a later promotion through the gate deletes both.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_ASSESSMENT_ID = "fairness.assessment_id"
TAG_PASSED = "fairness.passed"  # "true" | "false"
TAG_ASSESSED_AT = "fairness.assessed_at"  # ISO 8601 UTC
TAG_POLICY_VERSION = "fairness.policy_version"
TAG_FAILED_CHECKS = "fairness.failed_checks"  # comma-separated, empty when passed
FAIRNESS_TAGS = (TAG_ASSESSMENT_ID, TAG_PASSED, TAG_ASSESSED_AT, TAG_POLICY_VERSION, TAG_FAILED_CHECKS)
TAG_WITHDRAWN_REASON = "champion.withdrawn_reason"
TAG_WITHDRAWN_AT = "champion.withdrawn_at"


@dataclass(frozen=True)
class FairnessResult:
    assessment_id: str
    passed: bool
    assessed_at: str | None
    policy_version: str | None
    failed_checks: tuple[str, ...]


def result_tags(*, assessment_id: str, passed: bool, assessed_at: str, policy_version: str,
                failed: list[str]) -> dict[str, str]:
    """The tags that record one assessment's verdict."""
    return {TAG_ASSESSMENT_ID: assessment_id, TAG_PASSED: "true" if passed else "false", TAG_ASSESSED_AT: assessed_at,
            TAG_POLICY_VERSION: policy_version, TAG_FAILED_CHECKS: ",".join(failed)}


def read_result(tags: dict[str, str]) -> FairnessResult | None:
    """The verdict a version's tags record (None: never assessed)."""
    if TAG_ASSESSMENT_ID not in tags:
        return None
    return FairnessResult(assessment_id=tags[TAG_ASSESSMENT_ID], passed=tags.get(TAG_PASSED) == "true",
                          assessed_at=tags.get(TAG_ASSESSED_AT), policy_version=tags.get(TAG_POLICY_VERSION),
                          failed_checks=tuple(check for check in tags.get(TAG_FAILED_CHECKS, "").split(",") if check))
