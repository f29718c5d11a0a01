"""Who asks: the citizen a request's token signs in, the partner calling, or an operator — decided here only.

With an OpenID issuer (``LOOPBAAN_OIDC_ISSUER``) a citizen signs in only with that provider's access token
(:class:`serving.oidc.TokenValidator`; the vault links the token's random subject to the citizen) and a partner
calls with its own client-credentials token. Without one, the service is a test or script set-up: citizens are the
``lb1.`` tokens of ``loopbaan token`` (:mod:`serving.auth`) and there are no partner calls.

Every refusal is 401 with "sign in again" in the body; why (:data:`serving.oidc.REASONS`) goes only into the
request's audit line. An issuer that cannot be reached is 503 (not the caller's fault).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path

from features.errors import LoopbaanError
from features.sharing import Partner, ShareError, partners_from_clients
from features.vault import Vault
from serving.audit import AuditEntry
from serving.auth import TokenError, bearer_token, is_admin_token, verify_admin_token, verify_token
from serving.errors import RequestError
from serving.oidc import SIGN_IN_AGAIN, AuthError, OidcSettings, OidcUnavailable, TokenValidator

CLIENTS_FILE = Path(__file__).resolve().parent.parent / "oidc" / "clients.json"
NO_ISSUER = "no_issuer"
ERR_NO_SIGN_IN = ("this service has no OpenID provider (LOOPBAAN_OIDC_ISSUER is not set): sign in with a test "
                  "token of `loopbaan token`")
ERR_NO_PARTNERS = ("partners call only a service with an OpenID provider: start it with LOOPBAAN_OIDC_ISSUER set to "
                   "the provider's issuer")
NOT_A_PARTNER = "not_a_partner"
ERR_NOT_A_PARTNER = ("this client of the sign-in provider is not a partner of the service: a partner is listed in "
                     "the provider's clients.json")
ERR_CLIENTS = "the partner list {path} is not usable ({cause}): give the provider's clients.json"
ERR_NOT_ADMIN = "a citizen's token cannot reload the models: send an admin token (`loopbaan token --admin`)"


def load_partners(path: Path) -> dict[str, Partner]:
    """The partners of the provider's client registry (``oidc/clients.json``), by partner id; a clear error when the
    file cannot be read or used."""
    try:
        return partners_from_clients(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise LoopbaanError(ERR_CLIENTS.format(path=path, cause=type(error).__name__)) from None
    except ShareError as error:
        raise LoopbaanError(ERR_CLIENTS.format(path=path, cause=error)) from None


@contextmanager
def _refused(audit: AuditEntry | None) -> Iterator[None]:
    """A refused token as 401 "sign in again" (its reason in the audit line); an unreachable issuer as 503."""
    try:
        yield
    except AuthError as error:
        if audit is not None:
            audit.refusal = error.reason
        raise RequestError(HTTPStatus.UNAUTHORIZED, SIGN_IN_AGAIN) from None
    except OidcUnavailable as error:
        raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(error)) from None


class SignIn:
    """The service's one place that turns an ``Authorization`` header into who is asking (see the module)."""

    def __init__(self, *, vault: Vault, key: bytes, settings: OidcSettings | None = None,
                 clients_file: Path = CLIENTS_FILE) -> None:
        self.settings = settings or OidcSettings()
        self._key = key
        self.partners = load_partners(clients_file)
        self.validator = None
        if self.settings.issuer:
            self.validator = TokenValidator(settings=self.settings,
                                            resolver=vault.subject_resolver(issuer=self.settings.issuer))

    def site_config(self) -> dict[str, str]:
        """What the site's sign-in script needs (``GET /auth/config``); 404 without a provider."""
        if self.validator is None:
            raise RequestError(HTTPStatus.NOT_FOUND, ERR_NO_SIGN_IN)
        return self.settings.site_config()

    def citizen(self, authorization: str | None, *, audit: AuditEntry | None = None) -> int:
        """The citizen this request's token signs in."""
        if self.validator is None:
            try:
                return verify_token(bearer_token(authorization), key=self._key)
            except TokenError as error:
                raise RequestError(HTTPStatus.UNAUTHORIZED, str(error)) from None
        with _refused(audit):
            return self.validator.citizen(authorization=authorization).citizen_id

    def partner(self, authorization: str | None, *, audit: AuditEntry) -> Partner:
        """The partner whose client-credentials token this is (401 for any other token)."""
        if self.validator is None:
            audit.refusal = NO_ISSUER
            raise RequestError(HTTPStatus.UNAUTHORIZED, ERR_NO_PARTNERS)
        with _refused(audit):
            client_id = self.validator.partner(authorization=authorization).partner_id
        audit.partner = client_id
        if client_id not in self.partners:
            audit.refusal = NOT_A_PARTNER
            raise RequestError(HTTPStatus.FORBIDDEN, ERR_NOT_A_PARTNER)
        return self.partners[client_id]

    def admin(self, authorization: str | None) -> None:
        """Return for a valid operator token (``loopbaan token --admin``); 403 for a citizen's, 401 otherwise."""
        try:
            token = bearer_token(authorization)
            if is_admin_token(token):
                verify_admin_token(token, key=self._key)
                return
        except TokenError as error:
            raise RequestError(HTTPStatus.UNAUTHORIZED, str(error)) from None
        self.citizen(authorization)  # 401 unless it signs in a citizen, who may not reload
        raise RequestError(HTTPStatus.FORBIDDEN, ERR_NOT_ADMIN)

    def close(self) -> None:
        if self.validator is not None:
            self.validator.close()
