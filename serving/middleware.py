"""ASGI middleware of the service: one audit line per request, and a limit on the request body.

:class:`AuditTrail` runs outside everything that can answer a request (the body limit, validation, the service core),
so that every request to the service's own endpoints writes exactly one line to the vault's audit trail, whatever its
status; what the request was about is filled in by the service core on the :class:`serving.audit.AuditEntry` it finds in
the request's state (a write stores the line with its change itself). The static site, the OpenAPI document and
BentoML's health and metrics endpoints are not audited: they read no one's data.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus

import anyio

from features.settings import Settings
from serving.audit import AuditEntry, VaultAuditLog

MAX_BODY_BYTES = 64 * 1024
ENDPOINTS = {"/suggestions": "suggestions", "/compare": "compare", "/why-not": "why_not", "/what-if": "what_if",
             "/metadata": "metadata", "/me": "career_data", "/me/opt-out": "opt_out",
             "/me/competencies": "add_competency", "/me/records": "add_record", "/me/feedback": "feedback",
             "/me/recourse": "recourse", "/search/competencies": "search_competencies",
             "/search/occupations": "search_occupations", "/catalogue/diplomas": "diplomas",
             "/admin/reload": "reload", "/auth/config": "auth_config", "/me/shares": "shares",
             "/register": "register", "/register.html": "register_page"}
METHOD_ENDPOINTS = {("DELETE", "/me/feedback"): "remove_feedback", ("POST", "/me/shares"): "share"}
ENDPOINT_PREFIXES = {"/me/entries/": "remove_entry", "/me/shares/": "revoke_share",
                     "/partner/profiles/": "partner_profile"}
UNAUDITED = ("/", "/docs", "/docs.json", "/schema.json", "/healthz", "/livez", "/readyz", "/metrics")
UNAUDITED_PREFIXES = ("/site/", "/static_content/", "/assets/")
REQUEST_ID_HEADER = "x-request-id"


def audited(path: str) -> bool:
    return path not in UNAUDITED and path != "/site" and not path.startswith(UNAUDITED_PREFIXES)


def endpoint(path: str, method: str = "GET") -> str:
    """The audit name of the endpoint a request is for ("unknown" for a path the service does not have)."""
    if (method, path) in METHOD_ENDPOINTS:
        return METHOD_ENDPOINTS[(method, path)]
    if path in ENDPOINTS:
        return ENDPOINTS[path]
    return next((name for prefix, name in ENDPOINT_PREFIXES.items() if path.startswith(prefix)), "unknown")


def request_id(headers: dict[bytes, bytes]) -> str:
    """The caller's ``X-Request-ID`` when it is a plausible one, else a new id."""
    given = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
    return given if given and len(given) <= 64 and given.replace("-", "").isalnum() else uuid.uuid4().hex


class AuditTrail:
    """Writes one audit line per audited request as soon as its status is known, before the answer goes out (500 when
    nothing answered)."""

    def __init__(self, app, log: VaultAuditLog | None = None) -> None:
        self.app = app
        self._log = log

    @property
    def log(self) -> VaultAuditLog:
        if self._log is None:
            from serving.vault import service_vault

            self._log = VaultAuditLog(service_vault(Settings()))
        return self._log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not audited(scope["path"]):
            await self.app(scope, receive, send)
            return
        entry = AuditEntry(request_id=request_id(dict(scope.get("headers") or [])), endpoint=endpoint(scope["path"], scope.get("method", "GET")))
        scope.setdefault("state", {})["audit"] = entry
        written = False

        async def recording_send(message) -> None:
            nonlocal written
            if message["type"] == "http.response.start":
                # before the caller can see the answer; off the event loop (a database write)
                status = int(message["status"])
                await anyio.to_thread.run_sync(lambda: self.log.write(entry, status=status))
                written = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  (REQUEST_ID_HEADER.encode(), entry.request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if not written:  # nothing answered: the server's own error page follows
                await anyio.to_thread.run_sync(
                    lambda: self.log.write(entry, status=int(HTTPStatus.INTERNAL_SERVER_ERROR)))


class BodyLimit:
    """A request body over ``max_bytes`` gets 413 before anything parses it (the body is read here first, up to the
    limit, and handed on whole)."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                first = message
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        handed = False

        async def replay():
            nonlocal handed
            if not handed:
                handed = True
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"error": f"the request body is larger than {self.max_bytes:,} bytes; send less",
                           "details": []}).encode()
        await send({"type": "http.response.start", "status": HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
