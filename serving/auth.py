"""Bearer tokens signed with the signing key (:func:`features.keys.signing_key`).

- A citizen token ``lb1.<citizen id>.<expiry>.<HMAC-SHA256 signature>`` names one citizen; the service lets it read
  that citizen's suggestions and data only.
- An admin token ``lbadmin1.<expiry>.<signature>`` lets an operator ask the service to reload its models now
  (``POST /admin/reload``); it reads no citizen's data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

PREFIX = "lb1"
ADMIN_PREFIX = "lbadmin1"
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


def mint_admin_token(*, key: bytes, ttl_s: int = DEFAULT_TTL_S, now: float | None = None) -> str:
    payload = f"{ADMIN_PREFIX}.{int((time.time() if now is None else now) + ttl_s)}"
    return f"{payload}.{_sign(key, payload)}"


def verify_admin_token(token: str, *, key: bytes, now: float | None = None) -> None:
    """Return when ``token`` is a valid admin token; raise TokenError otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != ADMIN_PREFIX:
        raise TokenError("this is not an admin token")
    if not hmac.compare_digest(_sign(key, ".".join(parts[:2])), parts[2]):
        raise TokenError("the token's signature is not valid")
    try:
        expiry = int(parts[1])
    except ValueError:
        raise TokenError("the token is malformed") from None
    if expiry < (time.time() if now is None else now):
        raise TokenError("the token has expired; ask for a new one")


def is_admin_token(token: str) -> bool:
    return token.startswith(f"{ADMIN_PREFIX}.")


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; raises TokenError when absent."""
    if not authorization:
        raise TokenError("no token: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("the Authorization header must be 'Bearer <token>'")
    return token.strip()
