"""What the service refuses, as an HTTP status and a message that says what is wrong and what to do.

:class:`RequestError` is every refusal the service core raises; the service turns it into the one error body
(:class:`serving.schemas.ErrorResponse`). :func:`refusal` maps each error of the vault to its documented status
(``docs/vault.md``): a stale edit's 409 carries the revision the data is at now.
"""

from __future__ import annotations

from http import HTTPStatus

from features.vault import errors as vault_errors

VAULT_STATUS = {
    vault_errors.VaultNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
    vault_errors.UnknownCitizen: HTTPStatus.NOT_FOUND,
    vault_errors.RevisionConflict: HTTPStatus.CONFLICT,
    vault_errors.DuplicateEntry: HTTPStatus.CONFLICT,
    vault_errors.EntryTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    vault_errors.InvalidEntry: HTTPStatus.UNPROCESSABLE_ENTITY,
    vault_errors.NotRemovable: HTTPStatus.FORBIDDEN,
    vault_errors.UnknownGrant: HTTPStatus.FORBIDDEN,  # to a partner, exactly as a refused share
}


ERR_NOT_IN_POPULATION = "citizen {citizen} is not in the population"
ERR_OPTED_OUT_PERSONAL = ("this citizen opted out of AI suggestions, so nothing personal is computed for them; switch "
                          "AI suggestions back on (PUT /me/opt-out) first")


class RequestError(Exception):
    """A request the service refuses: an HTTP status and a message that says what is wrong (and, for a stale edit,
    the revision the citizen's data is at now; for a share that cannot be made, the rule's code)."""

    def __init__(self, status: HTTPStatus, message: str, *, revision: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.revision = revision
        self.code = code


def refusal(error: Exception, *, citizen_id: int | None = None) -> RequestError:
    """The refusal a vault error is answered with (any other error is not a refusal: it is raised again); an unknown
    citizen is named in the service's words, not the vault operator's."""
    if isinstance(error, vault_errors.UnknownCitizen) and citizen_id is not None:
        return RequestError(HTTPStatus.NOT_FOUND, ERR_NOT_IN_POPULATION.format(citizen=citizen_id))
    for kind, status in VAULT_STATUS.items():
        if isinstance(error, kind):
            return RequestError(status, str(error), revision=getattr(error, "current", None))
    raise error
