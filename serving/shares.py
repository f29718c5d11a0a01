"""Sharing by the citizen's decision, served: ``/me/shares`` for the citizen, ``/partner/profiles/{share}`` for a
partner.

The rules are :mod:`features.sharing`'s and the records the vault's (:class:`features.vault.shares.Shares`); this
module only says who asks (:class:`serving.signin.SignIn`), turns the citizen's form into a grant and the answers into
the API's words. A grant or revocation stores its audit line in the same transaction; a partner's call is recorded
by the vault whether it is answered or refused, and every refusal is the same 403, so that a partner learns nothing
of a share that is not its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from features.errors import LoopbaanError
from features.register import processing, sharing_processing_key
from features.sharing import (MAX_PERIOD_DAYS, NOT_AVAILABLE, PARTNER_KINDS, PARTS, PURPOSES, UNKNOWN_PARTNER,
                              AccessRecord, AccessRefused, ContactWish, Grant, Partner, ShareError)
from features.vault import errors as vault_errors
from serving import schemas
from serving.audit import AuditEntry, in_process
from serving.errors import RequestError, refusal


class ShareDesk:
    """The sharing endpoints (see the module docstring)."""

    def __init__(self, *, vault, sign_in) -> None:
        self.vault = vault
        self.sign_in = sign_in

    @property
    def partners(self) -> dict[str, Partner]:
        return self.sign_in.partners

    # -- the citizen ------------------------------------------------------------------------------------------

    def overview(self, *, authorization: str | None, language: str = "nl",
                 audit: AuditEntry | None = None) -> schemas.SharesResponse:
        """The partners a citizen can share with, the parts, every share of theirs and every partner call on them."""
        audit = audit or in_process("shares")
        citizen_id = audit.citizen_id = self.sign_in.citizen(authorization, audit=audit)
        try:
            grants = self.vault.grants(citizen_id=citizen_id)
            accesses = self.vault.accesses(citizen_id=citizen_id)
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        at = datetime.now(UTC)
        audit.items = len(grants)
        return schemas.SharesResponse(
            partners=[self._partner_out(partner, language) for partner in self.partners.values()],
            parts=[schemas.SharePartOut(part=part.key, name=part.name.in_(language),
                                        contains=part.contains.in_(language)) for part in PARTS.values()],
            max_days=MAX_PERIOD_DAYS, grants=[self._grant_out(grant, at, language) for grant in grants],
            accesses=[self._access_out(record, language) for record in accesses])

    def create(self, *, authorization: str | None, request: schemas.ShareRequest,
               audit: AuditEntry | None = None) -> schemas.GrantResponse:
        """Store the share the citizen decided on, from now for ``request.days`` days."""
        audit = audit or in_process("share")
        citizen_id = audit.citizen_id = self.sign_in.citizen(authorization, audit=audit)
        now = datetime.now(UTC)
        audit.items = 1
        try:
            partner = self.partners.get(request.partner_id)
            if partner is None:
                raise ShareError(UNKNOWN_PARTNER, request.partner_id)
            contact = None if request.contact is None else ContactWish(
                channel=request.contact.channel, name=request.contact.name, address=request.contact.address,
                note=request.contact.note)
            grant = self.vault.create_grant(
                citizen_id=citizen_id, partner=partner, parts=request.parts, purpose=request.purpose,
                start=now, end=now + timedelta(days=request.days), pseudonymised=request.pseudonymised,
                purpose_text=request.purpose_text, vacancy_id=request.vacancy_id, contact=contact,
                audit=audit.line(status=HTTPStatus.CREATED))
        except ShareError as error:
            raise RequestError(HTTPStatus.UNPROCESSABLE_ENTITY, str(error), code=error.code) from None
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        audit.stored(status=HTTPStatus.CREATED)
        return schemas.GrantResponse(grant=self._grant_out(grant, now, request.language))

    def revoke(self, *, authorization: str | None, grant_id: str, language: str = "nl",
               audit: AuditEntry | None = None) -> schemas.GrantResponse:
        """Revoke one of the citizen's shares now: the partner's next call is refused."""
        audit = audit or in_process("revoke_share")
        citizen_id = audit.citizen_id = self.sign_in.citizen(authorization, audit=audit)
        audit.items = 1
        try:
            grant = self.vault.revoke_grant(citizen_id=citizen_id, grant_id=grant_id,
                                            audit=audit.line(status=HTTPStatus.OK))
        except vault_errors.InvalidEntry as error:  # not a share of this citizen's: nothing was written
            raise RequestError(HTTPStatus.NOT_FOUND, str(error)) from None
        except LoopbaanError as error:
            raise refusal(error, citizen_id=citizen_id) from None
        audit.stored(status=HTTPStatus.OK)
        return schemas.GrantResponse(grant=self._grant_out(grant, datetime.now(UTC), language))

    # -- a partner --------------------------------------------------------------------------------------------

    def profile(self, *, authorization: str | None, share: str, parts: Sequence[str] | None, language: str = "nl",
                audit: AuditEntry | None = None) -> schemas.SharedProfileResponse:
        """What the calling partner gets through ``share``: exactly the granted parts (or those asked for)."""
        audit = audit or in_process("partner_profile")
        partner = self.sign_in.partner(authorization, audit=audit)
        try:
            with processing(sharing_processing_key(partner.kind)):  # the register's processing of this partner
                profile = self.vault.disclose(grant_id=share, partner=partner, requested=parts or None,
                                              language=language)
        except AccessRefused as refused:
            audit.refusal = refused.reason
            raise RequestError(HTTPStatus.FORBIDDEN, NOT_AVAILABLE) from None
        except vault_errors.UnknownGrant:
            audit.refusal = "unknown_share"
            raise RequestError(HTTPStatus.FORBIDDEN, NOT_AVAILABLE) from None
        except LoopbaanError as error:
            raise refusal(error) from None
        audit.items = len(profile.parts)
        return schemas.SharedProfileResponse(**{**profile.as_json(), "parts": dict(profile.parts)})

    # -- words ------------------------------------------------------------------------------------------------

    def _partner_name(self, partner_id: str) -> str:
        partner = self.partners.get(partner_id)
        return partner.name if partner is not None else partner_id

    @staticmethod
    def _partner_out(partner: Partner, language: str) -> schemas.PartnerOut:
        kind = PARTNER_KINDS[partner.kind]
        return schemas.PartnerOut(
            partner_id=partner.partner_id, name=partner.name, kind=partner.kind, kind_name=kind.name.in_(language),
            kind_description=kind.description.in_(language),
            purposes=[schemas.PurposeOut(purpose=key, name=PURPOSES[key].name.in_(language)) for key in kind.purposes])

    def _grant_out(self, grant: Grant, at: datetime, language: str) -> schemas.GrantOut:
        out = grant.as_json(at=at)
        return schemas.GrantOut(**out, partner_name=self._partner_name(grant.partner_id),
                                purpose_name=PURPOSES[grant.purpose].name.in_(language))

    def _access_out(self, record: AccessRecord, language: str) -> schemas.AccessOut:
        return schemas.AccessOut(**record.as_json(), partner_name=self._partner_name(record.partner_id),
                                 purpose_name=PURPOSES[record.purpose].name.in_(language))
