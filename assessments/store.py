"""Where assessments live: ``<reports_dir>/<kind>/<assessment id>/`` with ``assessment.json`` and ``report.html``.

Each ``assessment.json`` is an :class:`~assessments.document.AssessmentDocument`. Files are written to a temporary name and renamed into place, so a crash never leaves half a document;
an assessment id is unique (kind, version, UTC time, random suffix) and never reused.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from assessments.document import AssessmentDocument
from features.errors import LoopbaanError
from features.files import write_atomic
from features.settings import Settings
from features.vocabulary import KINDS

ASSESSMENT_FILE = "assessment.json"
REPORT_FILE = "report.html"
_ID = re.compile(r"^(jobs|trainings|careers)-v\d+-\d{8}T\d{6}Z-[0-9a-f]{6}$")
ERR_BAD_ID = "{value!r} is not an assessment id (they look like jobs-v3-20260630T101500Z-1a2b3c)"
ERR_UNKNOWN_ID = ("no assessment {value} under {folder}; `loopbaan assess --kind {kind} --json` prints the id of a "
                  "new one, and the ids of earlier ones are the folder names there")
ERR_UNREADABLE = "assessment {path} is unreadable ({reason}); re-run `loopbaan assess`"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def new_id(kind: str, version: str, moment: datetime) -> str:
    return f"{kind}-v{version}-{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def folder_of(settings: Settings, assessment_id: str) -> Path:
    if not _ID.match(assessment_id):
        raise LoopbaanError(ERR_BAD_ID.format(value=assessment_id))
    return settings.reports_dir / assessment_id.split("-", 1)[0] / assessment_id


def save(settings: Settings, document: AssessmentDocument, report_html: str) -> tuple[Path, Path]:
    folder = folder_of(settings, document.assessment_id)
    write_atomic(folder / REPORT_FILE, report_html, durable=True)
    write_atomic(folder / ASSESSMENT_FILE, document.to_json(), durable=True)
    return folder / ASSESSMENT_FILE, folder / REPORT_FILE


def _read(path: Path) -> AssessmentDocument:
    try:
        return AssessmentDocument.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # a pydantic ValidationError is a ValueError
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=error)) from None


def load(settings: Settings, assessment_id: str) -> AssessmentDocument:
    path = folder_of(settings, assessment_id) / ASSESSMENT_FILE
    if not path.is_file():
        kind = assessment_id.split("-", 1)[0]
        raise LoopbaanError(ERR_UNKNOWN_ID.format(value=assessment_id, folder=settings.reports_dir / kind, kind=kind))
    return _read(path)


def assessments_of(settings: Settings, kind: str, *, version: str | None = None) -> list[AssessmentDocument]:
    """Every stored assessment of a kind (optionally of one version), oldest first; unreadable ones skipped."""
    if kind not in KINDS:
        return []
    folder = settings.reports_dir / kind
    out = []
    for path in sorted(folder.glob(f"*/{ASSESSMENT_FILE}")) if folder.is_dir() else []:
        try:
            document = _read(path)
        except LoopbaanError:
            continue
        if version is None or document.version == str(version):
            out.append(document)
    return sorted(out, key=lambda document: (document.assessed_at, document.assessment_id))


def latest(settings: Settings, kind: str, version: str) -> AssessmentDocument | None:
    found = assessments_of(settings, kind, version=version)
    return found[-1] if found else None
