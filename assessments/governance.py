"""Human oversight on record: the ethics board's reviews and the promotion history (append-only JSONL).

``<home>/governance/reviews.jsonl`` and ``promotions.jsonl`` only ever grow. Each record is one JSON line,
written with a single ``write`` on a file opened for appending, then flushed and fsynced, so a crash cannot
leave half a record in the middle of the history; a reader skips an unterminated last line (a crash during
the write itself) and a writer starts a fresh line after one. Records name staff (reviewers), never citizens.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from assessments import store
from features.errors import LoopbaanError
from features.files import append_line
from features.settings import Settings

logger = logging.getLogger(__name__)

REVIEWS, PROMOTIONS = "reviews.jsonl", "promotions.jsonl"
APPROVE, REJECT = "approve", "reject"
PAST = {APPROVE: "approved", REJECT: "rejected"}
ERR_REVIEWED = ("assessment {assessment_id} was already {decision} by {reviewer} on {at}; a review is final, so "
                "a new decision needs a new assessment (`loopbaan assess --kind {kind} --version {version}`)")
ERR_REVIEWER = "give the reviewer's name with --reviewer NAME"
ERR_COMMENT = "give the reason for the decision with --comment TEXT (the board's record must say why)"
ERR_APPROVE_FAILED = ("assessment {assessment_id} did not pass the gate (failed: {failed}); the board can reject it, "
                      "but approving cannot override the policy: mitigate (`loopbaan assess --mitigate`) or retrain")
ERR_DECISION = "choose exactly one of --approve or --reject"
ERR_ACKNOWLEDGE = ("assessment {assessment_id} carries the labour-market finding {finding} ({named}): an approval must "
                   "acknowledge it — read the report's labour-market section, then add --acknowledge {finding}")
ERR_UNKNOWN_FINDING = ("{given} is not a finding of assessment {assessment_id} (its labour-market finding: {finding}); "
                       "acknowledge the finding the report names")
ERR_OLD_DOCUMENT = ("assessment {assessment_id} was made under policy {version}, whose format no longer counts: "
                    "re-assess the version (`loopbaan assess --kind {kind} --version {version_number}`)")


def governance_dir(settings: Settings) -> Path:
    return settings.home / "governance"


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line durably: one write of the full line, then fsync; a record cut short before is left on its
    own line."""
    append_line(path, json.dumps(record, sort_keys=True, default=str), durable=True, mode=0o644, repair_cut_line=True)


def read_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            last = number == len(lines)
            logger.warning("%s line %d is %s; skipped", path.name, number,
                           "an unfinished last record" if last else "not valid JSON")
    return out


def reviews(settings: Settings, *, assessment_id: str | None = None, kind: str | None = None,
            version: str | None = None) -> list[dict]:
    found = read_records(governance_dir(settings) / REVIEWS)
    return [record for record in found
            if (assessment_id is None or record.get("assessment_id") == assessment_id)
            and (kind is None or record.get("kind") == kind)
            and (version is None or str(record.get("version")) == str(version))]


def promotion_history(settings: Settings, *, kind: str | None = None) -> list[dict]:
    found = read_records(governance_dir(settings) / PROMOTIONS)
    return [record for record in found if kind is None or record.get("kind") == kind]


def record_review(settings: Settings, *, assessment_id: str, decision: str, reviewer: str, comment: str,
                  acknowledge: list[str] | tuple[str, ...] = ()) -> dict:
    """The board's decision on one assessment; final (a second review of the same assessment is refused).

    The record binds the model's content (its booster and re-ranker digest), so a rejection also refuses a copy
    of the same model registered again; an approval of an assessment with a labour-market finding must name it.
    """
    if decision not in (APPROVE, REJECT):
        raise LoopbaanError(ERR_DECISION)
    if not reviewer or not reviewer.strip():
        raise LoopbaanError(ERR_REVIEWER)
    if not comment or not comment.strip():
        raise LoopbaanError(ERR_COMMENT)
    document = store.load(settings, assessment_id)
    if document.model.content_digest is None:
        raise LoopbaanError(ERR_OLD_DOCUMENT.format(assessment_id=assessment_id, version=document.policy.version,
                                                    kind=document.kind, version_number=document.version))
    earlier = reviews(settings, assessment_id=assessment_id)
    if earlier:
        first = earlier[0]
        raise LoopbaanError(ERR_REVIEWED.format(assessment_id=assessment_id, decision=PAST[first["decision"]],
                                                reviewer=first["reviewer"], at=first["at"], kind=document.kind,
                                                version=document.version))
    if decision == APPROVE and not document.passed:
        raise LoopbaanError(ERR_APPROVE_FAILED.format(assessment_id=assessment_id,
                                                      failed=", ".join(document.failed_checks)))
    finding = document.finding_id
    given = [value.strip() for value in acknowledge if value and value.strip()]
    unknown = [value for value in given if value != finding]
    if unknown:
        raise LoopbaanError(ERR_UNKNOWN_FINDING.format(given=unknown[0], assessment_id=assessment_id,
                                                       finding=finding or "none"))
    if decision == APPROVE and finding and finding not in given:
        named = "; ".join(document.labour_market.named[:3])
        raise LoopbaanError(ERR_ACKNOWLEDGE.format(assessment_id=assessment_id, finding=finding, named=named))
    record = {"review_id": uuid.uuid4().hex[:12], "at": store.iso(store.now_utc()), "assessment_id": assessment_id,
              "kind": document.kind, "version": str(document.version), "decision": decision,
              "reviewer": reviewer.strip(), "comment": comment.strip(),
              "policy_version": document.policy.version,
              "content_digest": document.model.content_digest, "acknowledged": given}
    append_record(governance_dir(settings) / REVIEWS, record)
    logger.info("review of %s recorded: %s", assessment_id, decision)
    return record


def rejections_of(settings: Settings, *, kind: str, version: str, content_digest: str | None) -> list[dict]:
    """Every rejection that binds this version: of the version itself, or of any version with the same content."""
    return [review for review in reviews(settings, kind=kind) if review["decision"] == REJECT
            and (str(review.get("version")) == str(version)
                 or (content_digest is not None and review.get("content_digest") == content_digest))]


def record_promotion(settings: Settings, record: dict) -> dict:
    record = {"at": store.iso(store.now_utc()), **record}
    append_record(governance_dir(settings) / PROMOTIONS, record)
    return record
