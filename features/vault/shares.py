"""The citizens' shares in the vault: their grants to partners, every partner call on them, and what a partner gets.

:mod:`features.sharing` decides (what a valid grant is, what a partner gets, why a call is refused); this module
keeps the decisions and answers a partner's call in the database:

- a grant is stored as the citizen decided it and never changes but for its revocation, which is final;
- every partner call on a share is recorded (answered or refused, whoever calls), append-only;
- a revocation is effective at once: a call decides and records under a lock on the share that a revocation also
  takes, so a call either finished (and is recorded) before the revocation, or is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, or_, select, update

from features.career_data import CareerData
from features.sharing import (ACTIVE, NOT_AVAILABLE, AccessRecord, AccessRefused, ContactWish, Grant, Partner,
                              SharedProfile, disclose, new_grant, revoke)
from features.vault import errors
from features.vault.audit import AuditLine
from features.vault.database import writing
from features.vault.schema import ADDRESS_LENGTH, GRANT_ID_LENGTH, PARTNER_ID_LENGTH, Share, ShareAccess
from features.vocabulary import ERR_UNKNOWN_LANGUAGE, LANGUAGES

MAX_OPEN_GRANTS = 50  # shares of one citizen that are active or not yet valid
MAX_REQUESTED_PARTS = 16
MAX_PART_NAME = 64


def _utc(moment: datetime | None) -> datetime | None:
    """A stored moment in UTC (SQLite gives it back without its zone; it was stored in UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def grant_row(grant: Grant) -> dict:
    contact = grant.contact
    return {"grant_id": grant.grant_id, "citizen_id": grant.citizen_id, "partner_id": grant.partner_id,
            "partner_kind": grant.partner_kind, "parts": list(grant.parts), "purpose": grant.purpose,
            "purpose_text": grant.purpose_text, "vacancy_id": grant.vacancy_id, "starts_at": grant.start,
            "ends_at": grant.end, "pseudonymised": grant.pseudonymised, "pseudonym": grant.pseudonym,
            "contact_channel": None if contact is None else contact.channel,
            "contact_name": None if contact is None else contact.name,
            "contact_address": None if contact is None else contact.address,
            "contact_note": None if contact is None else contact.note,
            "created_at": grant.created, "revoked_at": grant.revoked}


def grant_of(row: Mapping) -> Grant:
    """The :class:`~features.sharing.Grant` of a ``shares`` row (checked again as every grant is)."""
    contact = None if row["contact_channel"] is None else ContactWish(
        channel=row["contact_channel"], name=row["contact_name"], address=row["contact_address"],
        note=row["contact_note"] or "")
    return Grant(grant_id=row["grant_id"], citizen_id=int(row["citizen_id"]), partner_id=row["partner_id"],
                 partner_kind=row["partner_kind"], parts=tuple(row["parts"]), purpose=row["purpose"],
                 start=_utc(row["starts_at"]), end=_utc(row["ends_at"]), pseudonymised=bool(row["pseudonymised"]),
                 pseudonym=row["pseudonym"], created=_utc(row["created_at"]), purpose_text=row["purpose_text"],
                 vacancy_id=None if row["vacancy_id"] is None else int(row["vacancy_id"]), contact=contact,
                 revoked=_utc(row["revoked_at"]))


def access_row(record: AccessRecord) -> dict:
    return {"grant_id": record.grant_id, "at": record.at, "partner_id": record.partner_id,
            "partner_kind": record.partner_kind, "parts": list(record.parts), "purpose": record.purpose,
            "outcome": record.outcome, "pseudonymised": record.pseudonymised}


def access_of(row: Mapping) -> AccessRecord:
    return AccessRecord(grant_id=row["grant_id"], partner_id=row["partner_id"], partner_kind=row["partner_kind"],
                        at=_utc(row["at"]), parts=tuple(row["parts"]), purpose=row["purpose"], outcome=row["outcome"],
                        pseudonymised=bool(row["pseudonymised"]))


def _nothing(citizen_id: int) -> CareerData:
    """Career data with nothing in it: what a call is first decided on, so that a refused call reads nothing of the
    citizen."""
    return CareerData(citizen_id=citizen_id, circumstances={}, work=[], diplomas=[], trainings=[], competencies=[])


def _moment(grant: Grant, at: datetime | None) -> datetime:
    """When a call is decided: now (or ``at``), and never before a revocation the vault holds, so that a committed
    revocation refuses every later call whatever the clocks of the service's workers say."""
    moment = datetime.now(UTC) if at is None else at
    return moment if grant.revoked is None else max(moment, grant.revoked)


def _requested(requested: Collection[str] | None) -> tuple[str, ...] | None:
    if requested is None:
        return None
    asked = tuple(requested)
    if len(asked) > MAX_REQUESTED_PARTS or not all(isinstance(part, str) and len(part) <= MAX_PART_NAME
                                                   for part in asked):
        raise errors.InvalidEntry(errors.ERR_REQUESTED_PARTS.format(count=MAX_REQUESTED_PARTS, length=MAX_PART_NAME))
    return asked


class Shares:
    """The vault's side of sharing (a part of :class:`~features.vault.store.Vault`)."""

    engine: Engine

    # -- the citizen's decisions ------------------------------------------------------------------------------

    def create_grant(self, *, citizen_id: int, partner: Partner, parts: Collection[str], purpose: str, end: datetime,
                     pseudonymised: bool, start: datetime | None = None, purpose_text: str = "",
                     vacancy_id: int | None = None, contact: ContactWish | None = None,
                     audit: AuditLine | None = None) -> Grant:
        """Store the share the citizen decided on now (``start`` None: from now), checked by
        :func:`features.sharing.new_grant` (a :class:`~features.sharing.ShareError` with its ``code`` when not)."""
        now = datetime.now(UTC)
        if vacancy_id is not None and (not isinstance(vacancy_id, int) or isinstance(vacancy_id, bool)):
            raise errors.InvalidEntry(f"the vacancy id {vacancy_id!r} is not a number: give the vacancy's id")
        grant = new_grant(citizen_id=citizen_id, partner=partner, parts=parts, purpose=purpose,
                          start=now if start is None else start, end=end, pseudonymised=pseudonymised, now=now,
                          purpose_text=purpose_text, vacancy_id=vacancy_id, contact=contact)
        if len(grant.partner_id) > PARTNER_ID_LENGTH:
            raise errors.InvalidEntry(f"a partner id is at most {PARTNER_ID_LENGTH} characters")
        if contact is not None and contact.address is not None and len(contact.address) > ADDRESS_LENGTH:
            raise errors.EntryTooLarge(errors.ERR_TOO_LONG.format(field="the address", length=len(contact.address),
                                                                  limit=ADDRESS_LENGTH))
        table = Share.__table__
        with writing(self.engine) as connection, connection.begin():
            self._revision(connection, citizen_id)
            open_grants = connection.execute(select(func.count()).select_from(table).where(
                table.c.citizen_id == int(citizen_id), table.c.revoked_at.is_(None), table.c.ends_at > now)).scalar()
            if open_grants >= MAX_OPEN_GRANTS:
                raise errors.EntryTooLarge(errors.ERR_TOO_MANY_GRANTS.format(limit=MAX_OPEN_GRANTS))
            connection.execute(insert(table).values(**grant_row(grant)))
            self._audit(connection, audit)
        return grant

    def grants(self, *, citizen_id: int) -> list[Grant]:
        """Every share of the citizen, active and past, newest first (``grant.state(at)`` says which)."""
        table = Share.__table__
        with self.engine.connect() as connection:
            self._revision(connection, citizen_id)
            rows = connection.execute(select(table).where(table.c.citizen_id == int(citizen_id))
                                      .order_by(table.c.created_at.desc(), table.c.grant_id)).mappings().all()
        return [grant_of(row) for row in rows]

    def revoke_grant(self, *, citizen_id: int, grant_id: str, audit: AuditLine | None = None) -> Grant:
        """Revoke one of the citizen's shares now: the partner's next call is refused. Revoking again keeps the
        first moment; a share of someone else is :class:`~features.vault.errors.InvalidEntry`."""
        table = Share.__table__
        unknown = errors.InvalidEntry(errors.ERR_UNKNOWN_GRANT.format(grant_id=str(grant_id)[:GRANT_ID_LENGTH]))
        with writing(self.engine) as connection, connection.begin():
            self._revision(connection, citizen_id)
            grant = self._grant(connection, grant_id, lock="update")
            if grant is None or grant.citizen_id != int(citizen_id):
                raise unknown
            revoked = revoke(grant, at=datetime.now(UTC))
            if grant.revoked is None:
                connection.execute(update(table).where(table.c.grant_id == grant.grant_id,
                                                       table.c.revoked_at.is_(None))
                                   .values(revoked_at=revoked.revoked))
            self._audit(connection, audit)
        return revoked

    # -- a partner's call ---------------------------------------------------------------------------------------

    def grant(self, *, grant_id: str) -> Grant | None:
        """The share a partner names, or None."""
        with self.engine.connect() as connection:
            return self._grant(connection, grant_id, lock=None)

    def record_access(self, *, record: AccessRecord) -> None:
        """Keep one partner call (append-only). :meth:`disclose` records its calls itself."""
        with writing(self.engine) as connection, connection.begin():
            connection.execute(insert(ShareAccess.__table__).values(**access_row(record)))

    def disclose(self, *, grant_id: str, partner: Partner, requested: Collection[str] | None = None,
                 language: str = "nl", at: datetime | None = None) -> SharedProfile:
        """What ``partner`` gets through the share ``grant_id`` (``GET /partner/profiles/{share}``), recorded.

        Parameters
        ----------
        grant_id
            The share the partner names.
        partner
            The partner calling, as its own token says.
        requested
            The parts it asks for; None: every granted part.
        language
            The language of the titles and labels (nl or en).
        at
            The moment of the call; None: now (tests and scripts give one).

        Raises
        ------
        AccessRefused
            The share does not allow this call (another partner's, revoked, not yet valid, expired, a part not
            granted); the refusal is recorded like a disclosure. Answer 403 with its message.
        UnknownGrant
            No such share (nothing to record it on). Answer exactly as a refusal: 403, the same message.
        InvalidEntry
            An unknown language, or more than 16 parts asked for or a part name over 64 characters.
        """
        if language not in LANGUAGES:
            raise errors.InvalidEntry(ERR_UNKNOWN_LANGUAGE.format(language=language))
        asked = _requested(requested)
        grant = self.grant(grant_id=grant_id)
        if grant is None:
            raise errors.UnknownGrant(NOT_AVAILABLE)
        try:
            disclose(grant=grant, partner=partner, at=_moment(grant, at), career=_nothing(grant.citizen_id),
                     requested=asked)
        except AccessRefused as refused:
            self.record_access(record=refused.record)
            raise
        career = self.career_data(citizen_id=grant.citizen_id, language=language).career
        refusal = None
        with writing(self.engine) as connection, connection.begin():
            grant = self._grant(connection, grant_id, lock="share")
            if grant is None:
                raise errors.UnknownGrant(NOT_AVAILABLE)
            try:
                profile, record = disclose(grant=grant, partner=partner, at=_moment(grant, at), career=career,
                                           requested=asked)
            except AccessRefused as refused:
                refusal, record = refused, refused.record
            connection.execute(insert(ShareAccess.__table__).values(**access_row(record)))
        if refusal is not None:
            raise refusal
        return profile

    # -- what the citizen and the register see --------------------------------------------------------------------

    def accesses(self, *, citizen_id: int, grant_id: str | None = None, limit: int | None = None,
                 ) -> list[AccessRecord]:
        """Every partner call on the citizen's shares (or on one of them), newest first: who, when, which parts,
        for which purpose, answered or why not."""
        access, share = ShareAccess.__table__, Share.__table__
        query = (select(access).join(share, share.c.grant_id == access.c.grant_id)
                 .where(share.c.citizen_id == int(citizen_id)).order_by(access.c.id.desc()))
        if grant_id is not None:
            query = query.where(access.c.grant_id == str(grant_id))
        if limit is not None:
            query = query.limit(int(limit))
        with self.engine.connect() as connection:
            self._revision(connection, citizen_id)
            return [access_of(row) for row in connection.execute(query).mappings()]

    def active_grants(self, *, at: datetime | None = None) -> list[Grant]:
        """Every share active at ``at`` (None: now), for :func:`features.register_document.build_register`."""
        moment = datetime.now(UTC) if at is None else at.astimezone(UTC)
        table = Share.__table__
        query = select(table).where(table.c.starts_at <= moment, table.c.ends_at > moment,
                                    or_(table.c.revoked_at.is_(None), table.c.revoked_at > moment))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(table.c.grant_id)).mappings().all()
        return [grant for grant in map(grant_of, rows) if grant.state(moment) == ACTIVE]

    # -- internals ------------------------------------------------------------------------------------------------

    @staticmethod
    def _grant(connection: Connection, grant_id: str, *, lock: str | None) -> Grant | None:
        """The share, if any; ``lock``: None, "share" (a call: calls on one share run together) or "update" (a
        revocation: it waits for the calls in progress, and the calls after it wait for it)."""
        if not isinstance(grant_id, str) or not 0 < len(grant_id) <= GRANT_ID_LENGTH:
            return None
        table = Share.__table__
        query = select(table).where(table.c.grant_id == grant_id)
        if lock is not None:  # PostgreSQL's row locks; SQLite's writer (BEGIN IMMEDIATE) holds the whole database
            query = query.with_for_update(read=lock == "share")
        row = connection.execute(query).mappings().first()
        return None if row is None else grant_of(row)
