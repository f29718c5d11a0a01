"""Audit lines for the vault's append-only trail: what was asked and answered, the citizen only as a keyed pseudonym."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime


def pseudonym(citizen_id: int | None, *, key: bytes) -> str | None:
    """HMAC-SHA256 of the citizen id with the service key, truncated: stable per citizen, irreversible without it."""
    if citizen_id is None:
        return None
    return hmac.new(key, f"citizen:{int(citizen_id)}".encode(), hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class AuditLine:
    """One request, served or refused. ``citizen_id`` is turned into a pseudonym before anything is stored."""

    endpoint: str
    status: int
    citizen_id: int | None = None
    request_id: str | None = None
    kind: str | None = None
    models: dict[str, str] = field(default_factory=dict)
    items: int = 0
    personalised: bool = False
    refusal: str | None = None
    partner: str | None = None

    def row(self, *, key: bytes) -> dict:
        return {"at": datetime.now(UTC), "request_id": self.request_id, "endpoint": self.endpoint, "kind": self.kind,
                "citizen": pseudonym(self.citizen_id, key=key), "models": json.dumps(self.models, sort_keys=True),
                "items": int(self.items), "personalised": bool(self.personalised), "status": int(self.status),
                "refusal": self.refusal, "partner": self.partner}
