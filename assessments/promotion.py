"""Promotion only through the gate: ``champion`` moves when the version's latest assessment passed under
the policy in force and (when the policy asks) the board approved it; otherwise the refusal says why, as flags
(:class:`Refusal`) that callers test, each with the sentence a person reads (:class:`Reason`). A rejection binds
the model's content, so no version holding the same booster and re-ranker is ever promoted.

Every promotion, refusal, rollback and withdrawal is appended to the promotion history (MLflow keeps none): its
``reasons`` are the sentences, its ``refusals`` the flags' names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from assessments import governance, registry, store
from assessments.document import AssessmentDocument
from assessments.policy import Policy
from features.model_tags import TAG_ASSESSMENT_ID
from features.settings import Settings
from models import tracking

logger = logging.getLogger(__name__)

PROMOTE, REFUSE, ROLLBACK, WITHDRAW = "promote", "refuse", "rollback", "withdraw"


class Refusal(StrEnum):
    """Why the gate keeps a version from ``champion`` (promotion), or an earlier champion from serving again
    (rollback)."""

    NEVER_ASSESSED = "never_assessed"
    STALE_POLICY = "stale_policy"  # assessed under another policy than the one in force
    FAILED_CHECKS = "failed_checks"
    TAG_MISMATCH = "tag_mismatch"  # the registry's assessment tag names another assessment than the store
    BOARD_REJECTED = "board_rejected"
    APPROVAL_REQUIRED = "approval_required"
    NEVER_APPROVED = "never_approved"  # rollback: the board never approved the same model content
    ALREADY_CHAMPION = "already_champion"


@dataclass(frozen=True)
class Reason:
    """One refusal: its flag, and the sentence that says it to a person."""

    refusal: Refusal
    sentence: str


@dataclass(frozen=True)
class Decision:
    promoted: bool
    kind: str
    version: str
    refusals: tuple[Reason, ...] = ()
    assessment_id: str | None = None
    previous_champion: str | None = None
    reviewer: str | None = None

    def refused(self, refusal: Refusal) -> bool:
        return any(reason.refusal is refusal for reason in self.refusals)

    @property
    def reasons(self) -> list[str]:
        """The refusals' sentences, in order, for display."""
        return [reason.sentence for reason in self.refusals]

    @property
    def already_champion(self) -> bool:
        """Refused only because the version is the champion already."""
        return self.refused(Refusal.ALREADY_CHAMPION)


def gate_refusals(settings: Settings, *, kind: str, version: str, policy: Policy,
                  tags: dict | None = None) -> tuple[list[Reason], AssessmentDocument | None, dict | None]:
    """Why ``version`` may not be champion now (empty: it may), its latest assessment and the approving review."""
    latest = store.latest(settings, kind, version)
    if latest is None:
        return ([Reason(Refusal.NEVER_ASSESSED, f"version {version} has never been assessed: run "
                                                f"`loopbaan assess --kind {kind} --version {version}`")], None, None)
    reasons = []
    assessment_id = latest.assessment_id
    if latest.policy.digest != policy.digest:
        reasons.append(Reason(Refusal.STALE_POLICY, f"its latest assessment {assessment_id} was made under policy {latest.policy.version} "
                       f"(digest {latest.policy.digest[:12]}), not the policy in force {policy.policy_version} "
                       f"(digest {policy.digest[:12]}): re-assess it"))
    if not latest.passed:
        failures = "; ".join(f"{check.name}: {check.summary}" for check in latest.checks
                             if check.name in latest.failed_checks)
        reasons.append(Reason(Refusal.FAILED_CHECKS, f"its latest assessment {assessment_id} failed "
                                                     f"{', '.join(latest.failed_checks)} ({failures})"))
    if tags is not None and tags.get(TAG_ASSESSMENT_ID) not in (None, assessment_id):
        reasons.append(Reason(Refusal.TAG_MISMATCH, f"the registry names assessment {tags.get(TAG_ASSESSMENT_ID)} "
                                                    f"for this version, the store {assessment_id}: re-assess it"))
    rejected = governance.rejections_of(settings, kind=kind, version=version,
                                        content_digest=latest.model.content_digest)
    for review in rejected:
        same = "" if str(review["version"]) == str(version) else f" — version {review['version']}, the same model"
        reasons.append(Reason(Refusal.BOARD_REJECTED, f"the ethics board rejected this model ({review['reviewer']}, "
                                                      f"{review['at']}{same}: {review['comment']}); a rejected model "
                                                      "is never promoted, whatever version holds it"))
    approval = next((review for review in governance.reviews(settings, assessment_id=assessment_id)
                     if review["decision"] == governance.APPROVE), None)
    if policy.sign_off_required and approval is None and not rejected:
        command = f"loopbaan review --assessment {assessment_id} --approve --reviewer NAME --comment TEXT"
        finding = latest.finding_id
        if finding:
            command += f" --acknowledge {finding}"
        reasons.append(Reason(Refusal.APPROVAL_REQUIRED, "the policy requires the ethics board's approval of "
                                                         f"assessment {assessment_id}: `{command}`"))
    return reasons, latest, approval


def promote(*, kind: str, version: str, settings: Settings, policy: Policy) -> Decision:
    """Move ``champion`` to ``version`` if the gate allows it; record the promotion or the refusal."""
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version)
    previous = registry.aliases_of(client, kind).get(tracking.CHAMPION)
    reasons, latest, approval = gate_refusals(settings, kind=kind, version=ref.version, policy=policy,
                                              tags=ref.tags)
    if previous == ref.version and not reasons:
        reasons = [Reason(Refusal.ALREADY_CHAMPION, f"version {ref.version} is already the champion")]
    promoted = not reasons
    record = {"action": PROMOTE if promoted else REFUSE, "kind": kind, "to_version": ref.version,
              "from_version": previous, "assessment_id": latest.assessment_id if latest else None,
              "policy_version": policy.policy_version, "reviewer": approval["reviewer"] if approval else None,
              **_refusal_fields(reasons)}
    if promoted:
        registry.set_champion(client, kind, ref.version)
        registry.clear_withdrawal(client, kind)
        logger.info("%s version %s promoted to champion (was %s)", kind, ref.version, previous)
    else:
        logger.info("%s version %s refused for promotion: %d reason(s)", kind, ref.version, len(reasons))
    governance.record_promotion(settings, record)
    return Decision(promoted=promoted, kind=kind, version=ref.version, refusals=tuple(reasons),
                    assessment_id=record["assessment_id"], previous_champion=previous, reviewer=record["reviewer"])


def _refusal_fields(reasons: list[Reason]) -> dict:
    """A promotion record's ``reasons`` (the sentences) and ``refusals`` (the flags' names)."""
    return {"reasons": [reason.sentence for reason in reasons],
            "refusals": [str(reason.refusal) for reason in reasons]}


def _approved_before(settings: Settings, *, kind: str, content_digest: str | None) -> dict | None:
    """The board's approval of an earlier assessment of the same model content, if any."""
    return next((review for review in reversed(governance.reviews(settings, kind=kind))
                 if review["decision"] == governance.APPROVE and content_digest
                 and review.get("content_digest") == content_digest), None)


def rollback(*, kind: str, failed_version: str, settings: Settings, policy: Policy, assessment_id: str,
             reassess: Callable[[str], AssessmentDocument]) -> dict:
    """Move ``champion`` back to the latest earlier champion that passes again; withdraw the kind when none does.

    Each candidate (earlier champions, newest first) is re-assessed on the current data (``reassess(version)``
    returns its new assessment document) before it may serve again: it must pass under the policy in force, and
    the board must once have approved the same model content and never rejected it. When no candidate qualifies,
    ``champion`` is removed and the registered model carries the reason (the service then answers 503 for the
    kind); the board must decide.
    """
    client = tracking.configure(settings)
    history = [record for record in governance.promotion_history(settings, kind=kind)
               if record["action"] in (PROMOTE, ROLLBACK) and record.get("to_version")]
    tried, refused = [], []
    for record in reversed(history):
        candidate = str(record["to_version"])
        if candidate == str(failed_version) or candidate in tried:
            continue
        tried.append(candidate)
        document = reassess(candidate)
        content = document.model.content_digest
        rejected = governance.rejections_of(settings, kind=kind, version=candidate, content_digest=content)
        approval = _approved_before(settings, kind=kind, content_digest=content)
        if not document.passed or rejected or approval is None:
            refusal, why = ((Refusal.FAILED_CHECKS, "fails " + ", ".join(document.failed_checks))
                            if not document.passed else
                            (Refusal.BOARD_REJECTED, "was rejected by the board") if rejected else
                            (Refusal.NEVER_APPROVED, "was never approved by the board"))
            refused.append(Reason(refusal, f"v{candidate} {why} ({document.assessment_id})"))
            continue
        registry.set_champion(client, kind, candidate)
        registry.clear_withdrawal(client, kind)
        logger.warning("%s: champion rolled back from version %s to %s", kind, failed_version, candidate)
        return governance.record_promotion(settings, {
            "action": ROLLBACK, "kind": kind, "from_version": str(failed_version), "to_version": candidate,
            "assessment_id": document.assessment_id, "trigger_assessment_id": assessment_id,
            "policy_version": policy.policy_version, "reviewer": approval["reviewer"],
            "reasons": [f"recurring assessment {assessment_id} of version {failed_version} failed; version "
                        f"{candidate} passed again on the same data ({document.assessment_id})"], "refusals": []})
    reason = (f"the recurring assessment {assessment_id} of champion version {failed_version} failed, and no earlier "
              f"champion passes again on the current data "
              f"({'; '.join(why.sentence for why in refused) or 'none to try'}): the kind is "
              "withdrawn until the board decides")
    registry.withdraw(client, kind, reason=reason, at=store.iso(store.now_utc()))
    logger.warning("%s: champion version %s failed and no earlier version passes; kind withdrawn", kind,
                   failed_version)
    return governance.record_promotion(settings, {
        "action": WITHDRAW, "kind": kind, "from_version": str(failed_version), "to_version": None,
        "assessment_id": assessment_id, "policy_version": policy.policy_version, "reviewer": None,
        "reasons": [reason], "refusals": [str(candidate.refusal) for candidate in refused]})
