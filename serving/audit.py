"""The append-only audit trail: one JSON line per served request, with no personal data.

A record holds the time, the request id, the kind, the model versions, the number of items, whether the
list was personalised, and the citizen as a keyed hash (HMAC-SHA256 with the service key, truncated):
the same citizen maps to the same pseudonym, which nobody can reverse without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path


def append_line(path: Path, entry: dict) -> None:
    """``entry`` as one JSON line in a single ``O_APPEND`` write (owner-only file): never half a line, never two
    interleaved, whichever process writes."""
    line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def pseudonym(citizen_id: int | None, *, key: bytes) -> str | None:
    if citizen_id is None:
        return None
    return hmac.new(key, f"citizen:{int(citizen_id)}".encode(), hashlib.sha256).hexdigest()[:24]


class AuditLog:
    """Appends each record as one ``O_APPEND`` write of a whole line, so concurrent writers and a crashed
    service never leave half a record or interleave two."""

    def __init__(self, path: Path, *, key: bytes) -> None:
        self.path = Path(path)
        self.key = key
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, *, request_id: str, endpoint: str, kind: str | None, citizen_id: int | None,
               models: dict[str, str], items: int, personalised: bool, status: int) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "endpoint": endpoint,
            "kind": kind,
            "citizen": pseudonym(citizen_id, key=self.key),
            "models": models,
            "items": items,
            "personalised": personalised,
            "status": status,
        }
        with self._lock:
            append_line(self.path, entry)
