"""Promotion only through the gate: ``champion`` moves when the version's latest assessment passed under
the policy in force and (when the policy asks) the board approved it; otherwise the refusal says why. A
rejection binds the model's content, so no version holding the same booster and re-ranker is ever promoted.

Every promotion, refusal, rollback and withdrawal is appended to the promotion history (MLflow keeps none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from assessments import governance, registry, store
from assessments.policy import Policy
from features.model_tags import TAG_ASSESSMENT_ID
from features.settings import Settings
from models import tracking

logger = logging.getLogger(__name__)

PROMOTE, REFUSE, ROLLBACK, WITHDRAW = "promote", "refuse", "rollback", "withdraw"


@dataclass(frozen=True)
class Decision:
    promoted: bool
    kind: str
    version: str
    reasons: list[str] = field(default_factory=list)
    assessment_id: str | None = None
    previous_champion: str | None = None
    reviewer: str | None = None
    already_champion: bool = False  # refused only because the version is the champion already


def gate_reasons(settings: Settings, *, kind: str, version: str, policy: Policy,
                 tags: dict | None = None) -> tuple[list[str], dict | None, dict | None]:
    """Why ``version`` may not be champion now (empty: it may), its latest assessment and the approving review."""
    latest = store.latest(settings, kind, version)
    if latest is None:
        return ([f"version {version} has never been assessed: run `loopbaan assess --kind {kind} --version {version}`"],
                None, None)
    reasons = []
    assessment_id = latest["assessment_id"]
    if latest["policy"]["digest"] != policy.digest:
        reasons.append(f"its latest assessment {assessment_id} was made under policy {latest['policy']['version']} "
                       f"(digest {latest['policy']['digest'][:12]}), not the policy in force {policy.policy_version} "
                       f"(digest {policy.digest[:12]}): re-assess it")
    if not latest["passed"]:
        failures = "; ".join(f"{check['name']}: {check['summary']}" for check in latest["checks"]
                             if check["name"] in latest["failed_checks"])
        reasons.append(f"its latest assessment {assessment_id} failed {', '.join(latest['failed_checks'])} ({failures})")
    if tags is not None and tags.get(TAG_ASSESSMENT_ID) not in (None, assessment_id):
        reasons.append(f"the registry names assessment {tags.get(TAG_ASSESSMENT_ID)} for this version, the store "
                       f"{assessment_id}: re-assess it")
    rejected = governance.rejections_of(settings, kind=kind, version=version,
                                        content_digest=latest.get("model", {}).get("content_digest"))
    for review in rejected:
        same = "" if str(review["version"]) == str(version) else f" — version {review['version']}, the same model"
        reasons.append(f"the ethics board rejected this model ({review['reviewer']}, {review['at']}{same}: "
                       f"{review['comment']}); a rejected model is never promoted, whatever version holds it")
    approval = next((review for review in governance.reviews(settings, assessment_id=assessment_id)
                     if review["decision"] == governance.APPROVE), None)
    if policy.sign_off_required and approval is None and not rejected:
        command = f"loopbaan review --assessment {assessment_id} --approve --reviewer NAME --comment TEXT"
        finding = (latest.get("labour_market") or {}).get("id")
        if finding:
            command += f" --acknowledge {finding}"
        reasons.append(f"the policy requires the ethics board's approval of assessment {assessment_id}: `{command}`")
    return reasons, latest, approval


def promote(*, kind: str, version: str, settings: Settings, policy: Policy) -> Decision:
    """Move ``champion`` to ``version`` if the gate allows it; record the promotion or the refusal."""
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version)
    previous = registry.aliases_of(client, kind).get(tracking.CHAMPION)
    reasons, latest, approval = gate_reasons(settings, kind=kind, version=ref.version, policy=policy, tags=ref.tags)
    already = previous == ref.version and not reasons
    if already:
        reasons = [f"version {ref.version} is already the champion"]
    promoted = not reasons
    record = {"action": PROMOTE if promoted else REFUSE, "kind": kind, "to_version": ref.version,
              "from_version": previous, "assessment_id": latest["assessment_id"] if latest else None,
              "policy_version": policy.policy_version, "reviewer": approval["reviewer"] if approval else None,
              "reasons": reasons}
    if promoted:
        registry.set_champion(client, kind, ref.version)
        registry.clear_withdrawal(client, kind)
        logger.info("%s version %s promoted to champion (was %s)", kind, ref.version, previous)
    else:
        logger.info("%s version %s refused for promotion: %d reason(s)", kind, ref.version, len(reasons))
    governance.record_promotion(settings, record)
    return Decision(promoted=promoted, kind=kind, version=ref.version, reasons=reasons,
                    assessment_id=record["assessment_id"], previous_champion=previous, reviewer=record["reviewer"],
                    already_champion=already)


def _approved_before(settings: Settings, *, kind: str, content_digest: str | None) -> dict | None:
    """The board's approval of an earlier assessment of the same model content, if any."""
    return next((review for review in reversed(governance.reviews(settings, kind=kind))
                 if review["decision"] == governance.APPROVE and content_digest
                 and review.get("content_digest") == content_digest), None)


def rollback(*, kind: str, failed_version: str, settings: Settings, policy: Policy, assessment_id: str,
             reassess: Callable[[str], dict]) -> dict:
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
        content = document["model"]["content_digest"]
        rejected = governance.rejections_of(settings, kind=kind, version=candidate, content_digest=content)
        approval = _approved_before(settings, kind=kind, content_digest=content)
        if not document["passed"] or rejected or approval is None:
            why = ("fails " + ", ".join(document["failed_checks"]) if not document["passed"]
                   else "was rejected by the board" if rejected else "was never approved by the board")
            refused.append(f"v{candidate} {why} ({document['assessment_id']})")
            continue
        registry.set_champion(client, kind, candidate)
        registry.clear_withdrawal(client, kind)
        logger.warning("%s: champion rolled back from version %s to %s", kind, failed_version, candidate)
        return governance.record_promotion(settings, {
            "action": ROLLBACK, "kind": kind, "from_version": str(failed_version), "to_version": candidate,
            "assessment_id": document["assessment_id"], "trigger_assessment_id": assessment_id,
            "policy_version": policy.policy_version, "reviewer": approval["reviewer"],
            "reasons": [f"recurring assessment {assessment_id} of version {failed_version} failed; version "
                        f"{candidate} passed again on the same data ({document['assessment_id']})"]})
    reason = (f"the recurring assessment {assessment_id} of champion version {failed_version} failed, and no earlier "
              f"champion passes again on the current data ({'; '.join(refused) or 'none to try'}): the kind is "
              "withdrawn until the board decides")
    registry.withdraw(client, kind, reason=reason, at=store.iso(store.now_utc()))
    logger.warning("%s: champion version %s failed and no earlier version passes; kind withdrawn", kind,
                   failed_version)
    return governance.record_promotion(settings, {
        "action": WITHDRAW, "kind": kind, "from_version": str(failed_version), "to_version": None,
        "assessment_id": assessment_id, "policy_version": policy.policy_version, "reviewer": None,
        "reasons": [reason]})
