"""Citizen bearer tokens: ``lb1.<citizen id>.<expiry>.<HMAC-SHA256 signature>``, signed with the service key.

A token names one citizen; the service lets it read that citizen's suggestions only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

PREFIX = "lb1"
DEFAULT_TTL_S = 8 * 3600


class TokenError(ValueError):
    """A token that is missing, malformed, forged or expired (the message says which)."""


def _sign(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_token(*, citizen_id: int, key: bytes, ttl_s: int = DEFAULT_TTL_S, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + ttl_s)
    payload = f"{PREFIX}.{int(citizen_id)}.{expiry}"
    return f"{payload}.{_sign(key, payload)}"


def verify_token(token: str, *, key: bytes, now: float | None = None) -> int:
    """The citizen id a valid token names; raises TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise TokenError("the token is malformed")
    payload, signature = ".".join(parts[:3]), parts[3]
    if not hmac.compare_digest(_sign(key, payload), signature):
        raise TokenError("the token's signature is not valid")
    try:
        citizen_id, expiry = int(parts[1]), int(parts[2])
    except ValueError:
        raise TokenError("the token is malformed") from None
    if expiry < (time.time() if now is None else now):
        raise TokenError("the token has expired; ask for a new one")
    return citizen_id


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises TokenError when absent."""
    if not authorization:
        raise TokenError("no token: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
