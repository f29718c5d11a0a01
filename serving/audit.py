"""The audit trail of the service: one line per request in the vault's append-only ``audit_trail``, no personal data.

A line holds the time, the request id, the endpoint, the kind, the model versions, the number of items, whether the
list was personalised, the HTTP status, and the citizen as their pseudonym (HMAC with the pseudonym key,
:func:`features.vault.pseudonym`): the same citizen maps to the same pseudonym, which nobody can reverse without the
key. The database refuses to update or delete a line (``docs/vault.md``).

The service's middleware (:class:`serving.middleware.AuditTrail`) writes exactly one line per request, once its
status is known; the service core fills in an :class:`AuditEntry` as it learns what the request is about. A request
that changes the citizen's data writes its line in the same transaction as the change (the write's ``audit=``), so
that neither is ever stored without the other, and marks the entry (:meth:`AuditEntry.stored`) once that transaction
committed; the middleware then writes nothing more for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from features.vault import AuditLine, Vault


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
    refusal: str | None = None  # why sign-in refused the request (serving.oidc.REASONS), never in the body
    partner: str | None = None  # the partner calling, for a partner's call
    committed_status: int | None = None  # set when a write stored this request's line with its change

    def line(self, *, status: int) -> AuditLine:
        return AuditLine(endpoint=self.endpoint, status=int(status), citizen_id=self.citizen_id,
                         request_id=self.request_id, kind=self.kind, models=dict(self.models), items=self.items,
                         personalised=self.personalised, refusal=self.refusal, partner=self.partner)

    def stored(self, *, status: int) -> None:
        """The line was committed with the request's change (which is answered with ``status``)."""
        self.committed_status = int(status)


def in_process(endpoint: str, request_id: str | None = None) -> AuditEntry:
    """An entry for a caller without the service's middleware (in-process use): nothing writes it."""
    return AuditEntry(request_id=request_id or uuid.uuid4().hex, endpoint=endpoint)


class VaultAuditLog:
    """Appends lines to the vault's audit trail (one transaction each)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def write(self, entry: AuditEntry, *, status: int) -> None:
        if entry.committed_status is not None:
            return
        self.vault.append_audit(entry.line(status=status))
