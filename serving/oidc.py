"""OpenID Connect resource server: validates JWT access tokens (RFC 9068) of the configured issuer.

The issuer's discovery document names its JWKS; both are fetched with short timeouts and cached. A token is
accepted when its signature verifies with a key of that JWKS and its ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``
hold (with the configured clock skew). A token whose key id is not in the cached JWKS makes the validator fetch the
JWKS once more (at most once per ``jwks_min_refresh_s``), so a rotated-in key is accepted and a rotated-out key
refused without a restart.

Every refusal is one :class:`AuthError` whose ``reason`` (one of :data:`REASONS`) is meant for the audit line; its
message, for the response body, is always "sign in again".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import httpx
import jwt
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import LoopbaanError
from serving.auth import TokenError, bearer_token

NO_TOKEN = "no_token"
MALFORMED = "malformed"
UNKNOWN_KEY = "unknown_key"
BAD_SIGNATURE = "bad_signature"
WRONG_ISSUER = "wrong_issuer"
WRONG_AUDIENCE = "wrong_audience"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
UNKNOWN_SUBJECT = "unknown_subject"
WRONG_CLIENT = "wrong_client"
MISSING_SCOPE = "missing_scope"
REASONS = frozenset({NO_TOKEN, MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, WRONG_ISSUER, WRONG_AUDIENCE, EXPIRED,
                     NOT_YET_VALID, UNKNOWN_SUBJECT, WRONG_CLIENT, MISSING_SCOPE})

SIGN_IN_AGAIN = "sign in again"
ERR_NO_ISSUER = "no OpenID issuer is configured: set LOOPBAAN_OIDC_ISSUER to the provider's issuer URL"
ERR_UNREACHABLE = ("the sign-in provider {issuer} cannot be reached ({cause}); check that it runs and that "
                   "LOOPBAAN_OIDC_ISSUER is right, then try again")
ERR_BAD_DISCOVERY = "the discovery document of {issuer} is unusable ({cause}); check LOOPBAAN_OIDC_ISSUER"
DISCOVERY_PATH = "/.well-known/openid-configuration"
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "client_id")


class AuthError(Exception):
    """A refused token: ``reason`` says why (for the audit line), the message only "sign in again"."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(SIGN_IN_AGAIN)
        self.reason = reason


class OidcUnavailable(LoopbaanError):
    """The issuer's discovery document or JWKS cannot be fetched or used (a 503, not the citizen's fault)."""


class OidcSettings(BaseSettings):
    """Where tokens come from and what they must say; every field from ``LOOPBAAN_OIDC_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LOOPBAAN_OIDC_", frozen=True, extra="ignore")

    issuer: str | None = Field(default=None, description="The provider's issuer URL, exactly as in its tokens.")
    audience: str = Field(default="urn:loopbaan:api", description="The API's resource indicator (the `aud`).")
    client_id: str = Field(default="loopbaan-site", description="The site's client id (public, PKCE).")
    citizen_scope: str = Field(default="citizen", description="Scope a citizen's token must carry.")
    partner_scope: str = Field(default="partner:profiles", description="Scope a partner's token must carry.")
    clock_skew_s: float = Field(default=30, ge=0, le=300, description="Leeway on exp, nbf and iat.")
    algorithms: tuple[str, ...] = Field(default=("RS256", "PS256", "ES256"), min_length=1,
                                        description="Accepted signature algorithms (asymmetric only).")
    http_timeout_s: float = Field(default=3.0, gt=0, le=30, description="Timeout of each discovery/JWKS fetch.")
    jwks_min_refresh_s: float = Field(default=10.0, ge=0, description="Least time between two JWKS fetches.")
    jwks_max_age_s: float = Field(default=300.0, gt=0, description="Age after which the JWKS is fetched anew.")

    def site_config(self) -> dict[str, str]:
        """What the site's sign-in script needs (served by the service, e.g. at ``GET /auth/config``)."""
        return {"issuer": self.required_issuer(), "client_id": self.client_id, "audience": self.audience,
                "scope": f"openid {self.citizen_scope}"}

    def required_issuer(self) -> str:
        """The issuer URL; a clear error when it is not set."""
        if not self.issuer:
            raise LoopbaanError(ERR_NO_ISSUER)
        return self.issuer


SubjectResolver = Callable[[str], int | None]
"""Maps a token's ``sub`` to the citizen id the vault links it to, or None when the vault has no such link."""


@dataclass(frozen=True)
class Citizen:
    """A signed-in citizen: the id the vault linked to the token's subject."""

    citizen_id: int
    subject: str
    scopes: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class Partner:
    """A partner calling with its own client-credentials token."""

    partner_id: str
    scopes: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any]


class _Keys:
    """The issuer's signing keys by key id, from its discovery document and JWKS, cached and refreshed."""

    def __init__(self, *, settings: OidcSettings, http: httpx.Client, monotonic: Callable[[], float]) -> None:
        self._issuer = settings.required_issuer()
        self._settings = settings
        self._http = http
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, dict] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self.fetches = 0

    def key(self, kid: str | None) -> dict | None:
        """The public JWK for ``kid``; a kid not yet known triggers one (rate-limited) JWKS fetch."""
        with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or now - self._fetched_at >= self._settings.jwks_max_age_s
            if stale or kid not in self._keys:
                self._refresh(now, must=self._fetched_at is None)
            return self._keys.get(kid)

    def _refresh(self, now: float, *, must: bool) -> None:
        if self._tried_at is not None and now - self._tried_at < self._settings.jwks_min_refresh_s:
            if must:
                raise OidcUnavailable(ERR_UNREACHABLE.format(issuer=self._issuer, cause="the last attempt failed"))
            return
        self._tried_at = now
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover()
            self._keys = self._fetch_keys(self._jwks_uri)
        except OidcUnavailable:
            if must or not self._keys:
                raise
            return  # the keys fetched before stay in use until the provider answers again
        self._fetched_at = now

    def _get_json(self, url: str) -> dict:
        self.fetches += 1
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except httpx.HTTPError as error:
            raise OidcUnavailable(ERR_UNREACHABLE.format(issuer=self._issuer, cause=type(error).__name__)) from None
        except ValueError:
            raise OidcUnavailable(ERR_BAD_DISCOVERY.format(issuer=self._issuer, cause=f"{url} is not JSON")) from None
        if not isinstance(document, dict):
            raise OidcUnavailable(ERR_BAD_DISCOVERY.format(issuer=self._issuer, cause=f"{url} is not an object"))
        return document

    def _discover(self) -> str:
        document = self._get_json(self._issuer.rstrip("/") + DISCOVERY_PATH)
        if document.get("issuer") != self._issuer:
            raise OidcUnavailable(ERR_BAD_DISCOVERY.format(
                issuer=self._issuer, cause=f"it names the issuer {document.get('issuer')!r}"))
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise OidcUnavailable(ERR_BAD_DISCOVERY.format(issuer=self._issuer, cause="no jwks_uri"))
        return jwks_uri

    def _fetch_keys(self, uri: str) -> dict[str | None, dict]:
        entries = self._get_json(uri).get("keys")
        if not isinstance(entries, list):
            raise OidcUnavailable(ERR_BAD_DISCOVERY.format(issuer=self._issuer, cause="the JWKS has no keys"))
        keys: dict[str | None, dict] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # a key of a type or algorithm this validator does not accept
            keys[entry.get("kid")] = entry
        return keys


class TokenValidator:
    """Validates the issuer's JWT access tokens; ``citizen`` and ``partner`` also check who may call.

    Parameters
    ----------
    settings
        Issuer, audience, site client id, scopes, clock skew and fetch limits.
    resolver
        The vault's link from a token subject to a citizen id (None: no vault entry, refused).
    http
        The client for discovery and JWKS fetches (default: one with the settings' timeout, closed by ``close``).
    """

    def __init__(self, *, settings: OidcSettings, resolver: SubjectResolver, http: httpx.Client | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._issuer = settings.required_issuer()
        self._resolver = resolver
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=settings.http_timeout_s, follow_redirects=False)
        self._keys = _Keys(settings=settings, http=self._http, monotonic=monotonic)
        self._verifiers: dict[tuple[str | None, str], tuple[dict, jwt.PyJWK]] = {}

    @property
    def fetches(self) -> int:
        """Discovery and JWKS requests made so far (for tests and the service's metrics)."""
        return self._keys.fetches

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def claims(self, *, token: str) -> dict[str, Any]:
        """The validated claims of an access token of the issuer for the audience; raises AuthError."""
        settings = self._settings
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError(MALFORMED) from None
        header, payload = unverified["header"], unverified["payload"]
        algorithm, kid, token_type = header.get("alg"), header.get("kid"), header.get("typ")
        if (algorithm not in settings.algorithms or not isinstance(token_type, str)
                or token_type.lower() not in ACCESS_TOKEN_TYPES or not isinstance(kid, str | None)):
            raise AuthError(MALFORMED)
        if payload.get("iss") != self._issuer:
            raise AuthError(WRONG_ISSUER)
        key = self._verifier(kid=kid, algorithm=algorithm)
        try:
            claims = jwt.decode(token, key=key.key, algorithms=[algorithm], audience=settings.audience,
                                issuer=self._issuer, leeway=settings.clock_skew_s,
                                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.InvalidSignatureError:
            raise AuthError(BAD_SIGNATURE) from None
        except jwt.ExpiredSignatureError:
            raise AuthError(EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise AuthError(NOT_YET_VALID) from None
        except jwt.InvalidIssuerError:
            raise AuthError(WRONG_ISSUER) from None
        except jwt.InvalidAudienceError:
            raise AuthError(WRONG_AUDIENCE) from None
        except jwt.PyJWTError:
            raise AuthError(MALFORMED) from None
        if not all(isinstance(claims[name], str) for name in ("sub", "client_id")):
            raise AuthError(MALFORMED)
        return claims

    def _verifier(self, *, kid: str | None, algorithm: str) -> jwt.PyJWK:
        jwk = self._keys.key(kid)
        if jwk is None:
            raise AuthError(UNKNOWN_KEY)
        if jwk.get("alg", algorithm) != algorithm:
            raise AuthError(BAD_SIGNATURE)
        cached = self._verifiers.get((kid, algorithm))
        if cached is not None and cached[0] is jwk:
            return cached[1]
        try:
            key = jwt.PyJWK(jwk, algorithm=algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            raise AuthError(BAD_SIGNATURE) from None
        self._verifiers[(kid, algorithm)] = (jwk, key)
        return key

    def citizen(self, *, authorization: str | None) -> Citizen:
        """The citizen a site token (``Authorization: Bearer ...``) signs in; raises AuthError."""
        claims = self.claims(token=_bearer(authorization))
        scopes = _scopes(claims)
        if claims["client_id"] != self._settings.client_id:
            raise AuthError(WRONG_CLIENT)
        if self._settings.citizen_scope not in scopes:
            raise AuthError(MISSING_SCOPE)
        citizen_id = self._resolver(claims["sub"])
        if citizen_id is None:
            raise AuthError(UNKNOWN_SUBJECT)
        return Citizen(citizen_id=citizen_id, subject=claims["sub"], scopes=scopes, expires_at=int(claims["exp"]),
                       claims=claims)

    def partner(self, *, authorization: str | None) -> Partner:
        """The partner a client-credentials token (``Authorization: Bearer ...``) names; raises AuthError."""
        claims = self.claims(token=_bearer(authorization))
        scopes = _scopes(claims)
        client_id = claims["client_id"]
        if claims["sub"] != client_id or client_id == self._settings.client_id:
            raise AuthError(WRONG_CLIENT)
        if self._settings.partner_scope not in scopes:
            raise AuthError(MISSING_SCOPE)
        return Partner(partner_id=client_id, scopes=scopes, expires_at=int(claims["exp"]), claims=claims)


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise AuthError(NO_TOKEN)
    try:
        return bearer_token(authorization)
    except TokenError:
        raise AuthError(MALFORMED) from None


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise AuthError(MALFORMED)
    return frozenset(scope.split())
