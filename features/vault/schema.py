"""The vault's tables (SQLAlchemy 2): citizens, their career records and competency evidence, consent, feedback,
the append-only audit trail, the import runs, the pseudonymous links from a sign-in subject to a citizen, the
citizens' shares with partners and the append-only record of every partner access. The Alembic migrations in
``migrations/`` create exactly these (a test compares them).

Two words that must not be confused:

- a record's ``provided_by`` says who supplied it: ``authentic`` (an authentic source: DIMONA work periods, the
  diploma database), ``partner`` (a training provider), ``guidance`` (a test taken in guidance) or
  ``self-declared`` (the citizen, on the site);
- a piece of evidence's ``source`` is the profile contract's kind of evidence: work, diploma, training, assessment
  or self-declared. Everything the citizen adds is evidence with source ``self-declared``.

Sensitive attributes are never held here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float, ForeignKey, Index,
                        Integer, SmallInteger, String, Text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from features import sharing
from features.vocabulary import FEEDBACK_REASONS, KINDS

RECORD_TYPES = ("work_period", "diploma", "training", "assessment", "competency")
PROVIDERS = ("authentic", "partner", "guidance", "self-declared")
SELF_DECLARED = "self-declared"
URI_LENGTH = 200
ISSUER_LENGTH = 255
SUBJECT_LENGTH = 255
GRANT_ID_LENGTH = 64
PARTNER_ID_LENGTH = 100
ADDRESS_LENGTH = 254  # the longest e-mail address (RFC 5321)
# The enumerations of features.sharing, which the database checks: a new kind of partner, purpose, channel or
# refusal needs a migration of those checks (a test stores every value of each).
PARTNER_KINDS = tuple(sharing.PARTNER_KINDS)
PURPOSES = tuple(sharing.PURPOSES)
CHANNELS = sharing.CHANNELS
OUTCOMES = (sharing.DISCLOSED, *sorted(sharing.REFUSAL_REASONS))


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    pass


class VaultMeta(Base):
    """Facts about the vault as a whole (``reference_date``: the 'today' of the imported population)."""

    __tablename__ = "vault_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImportRun(Base):
    """One `loopbaan vault import` of a population folder; ``finished_at`` is set only once every citizen is in."""

    __tablename__ = "import_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    population: Mapped[str] = mapped_column(String(64))  # SHA-256 of the population's manifest
    folder: Mapped[str] = mapped_column(Text)
    citizens_total: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Citizen(Base):
    """A citizen's circumstances (population ``citizens`` columns) and the revision of their career data."""

    __tablename__ = "citizens"
    citizen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    municipality: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    education: Mapped[str] = mapped_column(String(20))
    dutch_level: Mapped[int] = mapped_column(SmallInteger)
    driving_licence: Mapped[bool] = mapped_column(Boolean)
    care_duties: Mapped[bool] = mapped_column(Boolean)
    prefers_part_time: Mapped[bool] = mapped_column(Boolean)
    max_commute_km: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    ai_opt_out: Mapped[bool] = mapped_column(Boolean)  # the default until the citizen chooses (consent_choices)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    import_run: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"), nullable=True)


class CareerRecord(Base):
    """One career record of any type; the columns a type does not use stay empty."""

    __tablename__ = "career_records"
    __table_args__ = (
        CheckConstraint(_one_of("record_type", RECORD_TYPES), name="ck_career_records_type"),
        CheckConstraint(_one_of("provided_by", PROVIDERS), name="ck_career_records_provided_by"),
        Index("ix_career_records_citizen", "citizen_id", "id"),
        # What the citizen adds has a key (the same competency, or the same catalogue item on the same date, is a
        # duplicate); the database refuses a second one even when two writers race. Other records have none.
        Index("ux_career_records_entry", "citizen_id", "entry_key", unique=True),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(16))
    provided_by: Mapped[str] = mapped_column(String(16))
    record_date: Mapped[date] = mapped_column(Date)  # start, obtained, completed, assessed or declared
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)  # work periods; empty while ongoing
    period_no: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    occupation_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH), nullable=True)
    part_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    employer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    diploma_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    training_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    assessment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    competency_uri: Mapped[str | None] = mapped_column(String(URI_LENGTH), nullable=True)
    proficiency: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    test_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    entry_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Evidence(Base):
    """One piece of competency evidence (a population ``profiles`` row); ``record_id`` links what the citizen
    added to the record it came from, so removing the record removes its evidence."""

    __tablename__ = "competency_evidence"
    __table_args__ = (Index("ix_competency_evidence_citizen", "citizen_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    competency_uri: Mapped[str] = mapped_column(String(URI_LENGTH))
    source: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str] = mapped_column(String(URI_LENGTH))
    evidence_date: Mapped[date] = mapped_column(Date)
    proficiency: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    record_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("career_records.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)


class ConsentChoice(Base):
    """Each choice a citizen made about AI suggestions; the latest one holds."""

    __tablename__ = "consent_choices"
    __table_args__ = (Index("ix_consent_choices_citizen", "citizen_id", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    opted_out: Mapped[bool] = mapped_column(Boolean)
    chosen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """"Niet voor mij, omdat…": one per citizen, kind and item."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(_one_of("kind", KINDS), name="ck_feedback_kind"),
        CheckConstraint(_one_of("reason", FEEDBACK_REASONS), name="ck_feedback_reason"),
        Index("ux_feedback_item", "citizen_id", "kind", "item_id", unique=True),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(URI_LENGTH))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)  # never exported
    given_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One line of the audit trail: append-only (triggers refuse UPDATE and DELETE), no personal data — the
    citizen only as a keyed pseudonym."""

    __tablename__ = "audit_trail"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    citizen: Mapped[str | None] = mapped_column(String(64), nullable=True)  # keyed pseudonym, never the id
    models: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    items: Mapped[int] = mapped_column(Integer, default=0)
    personalised: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(SmallInteger)
    refusal: Mapped[str | None] = mapped_column(String(32), nullable=True)  # why a sign-in was refused
    partner: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the partner of a partner's call


class SubjectLink(Base):
    """The pseudonymous link of one sign-in subject (the ``sub`` of an OpenID provider's tokens) to a citizen: the
    only place where a subject meets a citizen id. Unique per issuer and subject; a citizen may have several."""

    __tablename__ = "subject_links"
    __table_args__ = (Index("ux_subject_links_subject", "issuer", "subject", unique=True),
                      Index("ix_subject_links_citizen", "citizen_id"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(ISSUER_LENGTH))
    subject: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Share(Base):
    """A citizen's decision to share parts of their profile with one partner (a :class:`features.sharing.Grant`).

    The decision never changes: the database refuses an ``UPDATE`` of any column but ``revoked_at``, and that one
    only from empty (a revocation is final). ``parts`` is the JSON list of the granted parts.
    """

    __tablename__ = "shares"
    __table_args__ = (
        CheckConstraint(_one_of("partner_kind", PARTNER_KINDS), name="ck_shares_partner_kind"),
        CheckConstraint(_one_of("purpose", PURPOSES), name="ck_shares_purpose"),
        CheckConstraint(f"contact_channel IS NULL OR {_one_of('contact_channel', CHANNELS)}",
                        name="ck_shares_contact_channel"),
        CheckConstraint("ends_at > starts_at", name="ck_shares_period"),
        Index("ix_shares_citizen", "citizen_id", "created_at"),
        Index("ix_shares_ends_at", "ends_at"),
        Index("ux_shares_pseudonym", "pseudonym", unique=True),
    )
    grant_id: Mapped[str] = mapped_column(String(GRANT_ID_LENGTH), primary_key=True)
    citizen_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("citizens.citizen_id", ondelete="CASCADE"))
    partner_id: Mapped[str] = mapped_column(String(PARTNER_ID_LENGTH))
    partner_kind: Mapped[str] = mapped_column(String(32))
    parts: Mapped[list] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(40))
    purpose_text: Mapped[str] = mapped_column(String(500))
    vacancy_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pseudonymised: Mapped[bool] = mapped_column(Boolean)
    pseudonym: Mapped[str] = mapped_column(String(64))  # what the partner sees instead of the citizen id
    contact_channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    contact_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH), nullable=True)
    contact_note: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ShareAccess(Base):
    """One partner call on one share, answered or refused (a :class:`features.sharing.AccessRecord`): append-only
    (triggers refuse UPDATE and DELETE), and no citizen id — the citizen is found through the share.

    ``parts`` is the JSON list of the parts disclosed, or for a refusal the parts asked for; ``partner_id`` is the
    caller, also when it is not the share's partner.
    """

    __tablename__ = "share_accesses"
    __table_args__ = (
        CheckConstraint(_one_of("outcome", OUTCOMES), name="ck_share_accesses_outcome"),
        Index("ix_share_accesses_grant", "grant_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    grant_id: Mapped[str] = mapped_column(String(GRANT_ID_LENGTH), ForeignKey("shares.grant_id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    partner_id: Mapped[str] = mapped_column(String(PARTNER_ID_LENGTH))
    partner_kind: Mapped[str] = mapped_column(String(32))
    parts: Mapped[list] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(32))
    pseudonymised: Mapped[bool] = mapped_column(Boolean)
