"""The append-only audit trail: one JSON line per request, with no personal data.

A record holds the time, the request id, the endpoint, the kind, the model versions, the number of items, whether
the list was personalised, the HTTP status, and the citizen as their pseudonym (:func:`features.keys.pseudonym`,
keyed with the pseudonym key): the same citizen maps to the same pseudonym, which nobody can reverse without the
key. The service's middleware (:class:`serving.middleware.AuditTrail`) writes exactly one record per request, once
its status is known; the engine fills in an :class:`AuditEntry` as it learns what the request is about.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from features.jsonlines import append_line
from features.keys import pseudonym


@dataclass
class AuditEntry:
    """What one request is about, filled in while it is answered (the status comes last)."""

    request_id: str
    endpoint: str
    kind: str | None = None
    citizen_id: int | None = None
    models: dict[str, str] = field(default_factory=dict)
    items: int = 0
    personalised: bool = False


class AuditLog:
    """Appends each record as one ``O_APPEND`` write of a whole line, so concurrent writers and a crashed
    service never leave half a record or interleave two."""

    def __init__(self, path: Path, *, key: bytes) -> None:
        self.path = Path(path)
        self.key = key
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: AuditEntry, *, status: int) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": entry.request_id,
            "endpoint": entry.endpoint,
            "kind": entry.kind,
            "citizen": pseudonym(entry.citizen_id, key=self.key),
            "models": entry.models,
            "items": entry.items,
            "personalised": entry.personalised,
            "status": int(status),
        }
        with self._lock:
            append_line(self.path, record)
