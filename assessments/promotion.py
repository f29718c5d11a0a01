"""Promotion only through the gate: ``champion`` moves when the version's latest assessment passed under
the policy in force and (when the policy asks) the board approved it; otherwise the refusal says why.

Every promotion, refusal and rollback is appended to the promotion history (MLflow keeps none).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from assessments import governance, registry, store
from assessments.policy import Policy
from features.settings import Settings
from models import tracking

logger = logging.getLogger(__name__)

PROMOTE, REFUSE, ROLLBACK, NO_ROLLBACK = "promote", "refuse", "rollback", "rollback_unavailable"


@dataclass(frozen=True)
class Decision:
    promoted: bool
    kind: str
    version: str
    reasons: list[str] = field(default_factory=list)
    assessment_id: str | None = None
    previous_champion: str | None = None
    reviewer: str | None = None


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
    if tags is not None and tags.get(registry.TAG_ID) not in (None, assessment_id):
        reasons.append(f"the registry names assessment {tags.get(registry.TAG_ID)} for this version, the store "
                       f"{assessment_id}: re-assess it")
    rejected = [review for review in governance.reviews(settings, kind=kind, version=version)
                if review["decision"] == governance.REJECT]
    for review in rejected:
        reasons.append(f"the ethics board rejected version {version} ({review['reviewer']}, {review['at']}: "
                       f"{review['comment']}); a rejected version is never promoted")
    approval = next((review for review in governance.reviews(settings, assessment_id=assessment_id)
                     if review["decision"] == governance.APPROVE), None)
    if policy.sign_off_required and approval is None and not rejected:
        reasons.append(f"the policy requires the ethics board's approval of assessment {assessment_id}: "
                       f"`loopbaan review --assessment {assessment_id} --approve --reviewer NAME --comment TEXT`")
    return reasons, latest, approval


def promote(*, kind: str, version: str, settings: Settings, policy: Policy) -> Decision:
    """Move ``champion`` to ``version`` if the gate allows it; record the promotion or the refusal."""
    client = tracking.configure(settings)
    ref = registry.resolve(client, kind, version=version)
    previous = registry.aliases_of(client, kind).get(tracking.CHAMPION)
    reasons, latest, approval = gate_reasons(settings, kind=kind, version=ref.version, policy=policy, tags=ref.tags)
    if previous == ref.version and not reasons:
        reasons = [f"version {ref.version} is already the champion"]
        promoted = False
    else:
        promoted = not reasons
    record = {"action": PROMOTE if promoted else REFUSE, "kind": kind, "to_version": ref.version,
              "from_version": previous, "assessment_id": latest["assessment_id"] if latest else None,
              "policy_version": policy.policy_version, "reviewer": approval["reviewer"] if approval else None,
              "reasons": reasons}
    if promoted:
        registry.set_champion(client, kind, ref.version)
        logger.info("%s version %s promoted to champion (was %s)", kind, ref.version, previous)
    else:
        logger.info("%s version %s refused for promotion: %d reason(s)", kind, ref.version, len(reasons))
    governance.record_promotion(settings, record)
    return Decision(promoted=promoted, kind=kind, version=ref.version, reasons=reasons,
                    assessment_id=record["assessment_id"], previous_champion=previous, reviewer=record["reviewer"])


def rollback(*, kind: str, failed_version: str, settings: Settings, policy: Policy, assessment_id: str) -> dict:
    """Move ``champion`` back to the latest earlier champion that still passes the gate; record what happened."""
    client = tracking.configure(settings)
    history = [record for record in governance.promotion_history(settings, kind=kind)
               if record["action"] in (PROMOTE, ROLLBACK) and record.get("to_version")]
    tried = []
    for record in reversed(history):
        candidate = str(record["to_version"])
        if candidate == str(failed_version) or candidate in tried:
            continue
        tried.append(candidate)
        reasons, latest, approval = gate_reasons(settings, kind=kind, version=candidate, policy=policy)
        if not reasons:
            registry.set_champion(client, kind, candidate)
            logger.warning("%s: champion rolled back from version %s to %s", kind, failed_version, candidate)
            return governance.record_promotion(settings, {
                "action": ROLLBACK, "kind": kind, "from_version": str(failed_version), "to_version": candidate,
                "assessment_id": latest["assessment_id"], "trigger_assessment_id": assessment_id,
                "policy_version": policy.policy_version, "reviewer": approval["reviewer"] if approval else None,
                "reasons": [f"recurring assessment {assessment_id} of version {failed_version} failed"]})
    logger.warning("%s: champion version %s failed and no earlier version passes; champion left in place",
                   kind, failed_version)
    return governance.record_promotion(settings, {
        "action": NO_ROLLBACK, "kind": kind, "from_version": str(failed_version), "to_version": None,
        "assessment_id": assessment_id, "policy_version": policy.policy_version, "reviewer": None,
        "reasons": [(f"recurring assessment {assessment_id} failed and no earlier champion passes under the policy "
                    f"in force (tried: {', '.join(tried) or 'none'}); the board must decide")]})
