"""Sharing by the citizen's decision: the parts of a profile, the partners, the grant, and what a partner gets.

A citizen grants one partner access to chosen parts of their profile, for a stated purpose and a period, named or
pseudonymised. :func:`new_grant` checks the citizen's choice; :func:`disclose` answers a partner's call with exactly
the granted parts (or refuses with a machine reason) and gives the :class:`AccessRecord` to keep for every call,
whether it was answered or refused. Pure Python: the vault stores grants and records, the service calls these.

What a partner never gets, whatever the grant: the citizen id (a partner only ever sees the grant's random
pseudonym), the practical circumstances of the site (home, commute, care duties, Dutch level, status, AI choice),
sensitive attributes, and anything of a part that was not granted. A part never reveals another: the competency
profile says a competency came from work, a diploma or a training, but which occupation, diploma or training and
when only where that part (work history; diplomas and trainings) is granted too.

A pseudonymised grant carries no name and no contact address (the contact wish can then only be "via the service",
which forwards the partner's answer), and every date is coarsened to its month: a day-exact start of a job, a
diploma's date and an occupation are together enough to find a person in a register of work periods; the month
keeps what a partner judges on (how long, how recent).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from features.bilingual import Text
from features.career_data import CareerData
from features.errors import LoopbaanError

# -- the parts of a profile ---------------------------------------------------------------------------------------

COMPETENCY_PROFILE = "competency_profile"
WORK_HISTORY = "work_history"
DIPLOMAS_AND_TRAININGS = "diplomas_and_trainings"
CONTACT_WISH = "contact_wish"


@dataclass(frozen=True)
class SharePart:
    key: str
    name: Text
    contains: Text


PARTS: dict[str, SharePart] = {part.key: part for part in (
    SharePart(COMPETENCY_PROFILE, Text("Competentieprofiel", "Competency profile"),
              Text("elke competentie (ESCO-id en naam) met haar bronnen: werk, diploma, opleiding, test of zelf "
                   "opgegeven, met het niveau als dat gekend is",
                   "every competency (ESCO id and name) with its sources: work, diploma, training, test or "
                   "self-declared, with the proficiency where known")),
    SharePart(WORK_HISTORY, Text("Werkervaring", "Work history"),
              Text("elke werkperiode: het beroep (ESCO), begin, einde, deeltijds of niet; niet de werkgever",
                   "every work period: the occupation (ESCO), start, end, part-time or not; not the employer")),
    SharePart(DIPLOMAS_AND_TRAININGS, Text("Diploma's en opleidingen", "Diplomas and trainings"),
              Text("elk diploma (titel, niveau, datum) en elke gevolgde opleiding (titel, datum)",
                   "every diploma (title, level, date) and every completed training (title, date)")),
    SharePart(CONTACT_WISH, Text("Contactwens", "Contact wish"),
              Text("hoe je gecontacteerd wilt worden: het kanaal, je naam en adres of nummer als je dat opgeeft, "
                   "en een korte notitie",
                   "how you want to be contacted: the channel, your name and address or number if you give them, "
                   "and a short note")),
)}

# -- partners and purposes ----------------------------------------------------------------------------------------

EMPLOYER = "employer"
HR_INTERMEDIARY = "hr_intermediary"
TRAINING_PROVIDER = "training_provider"

APPLY_FOR_VACANCY = "apply_for_vacancy"
JOB_MEDIATION = "job_mediation"
CAREER_GUIDANCE = "career_guidance"
TRAINING_ENROLMENT = "training_enrolment"
RECOGNITION_OF_COMPETENCIES = "recognition_of_competencies"


@dataclass(frozen=True)
class Purpose:
    key: str
    name: Text


@dataclass(frozen=True)
class PartnerKind:
    key: str
    name: Text
    description: Text
    purposes: tuple[str, ...]


PURPOSES: dict[str, Purpose] = {purpose.key: purpose for purpose in (
    Purpose(APPLY_FOR_VACANCY, Text("Solliciteren voor een vacature", "Applying for a vacancy")),
    Purpose(JOB_MEDIATION, Text("Bemiddeling naar werk", "Placement in work")),
    Purpose(CAREER_GUIDANCE, Text("Loopbaanbegeleiding", "Career guidance")),
    Purpose(TRAINING_ENROLMENT, Text("Inschrijven voor een opleiding", "Enrolling in a training")),
    Purpose(RECOGNITION_OF_COMPETENCIES, Text("Erkennen van verworven competenties",
                                              "Recognising acquired competencies")),
)}

PARTNER_KINDS: dict[str, PartnerKind] = {kind.key: kind for kind in (
    PartnerKind(EMPLOYER, Text("Werkgever", "Employer"),
                Text("de werkgever van een vacature op je dashboard", "the employer of a vacancy on your dashboard"),
                (APPLY_FOR_VACANCY,)),
    PartnerKind(HR_INTERMEDIARY, Text("HR-bemiddelaar", "HR intermediary"),
                Text("een uitzendkantoor, selectiebureau of loopbaancentrum dat je naar werk begeleidt",
                     "a temping, recruitment or career agency that guides you to work"),
                (JOB_MEDIATION, CAREER_GUIDANCE)),
    PartnerKind(TRAINING_PROVIDER, Text("Opleidingsverstrekker", "Training provider"),
                Text("een school of opleidingscentrum", "a school or training centre"),
                (TRAINING_ENROLMENT, RECOGNITION_OF_COMPETENCIES, CAREER_GUIDANCE)),
)}

MAX_PERIOD_DAYS = 180  # a recruitment round, an intake or a guidance trajectory; renewing is one more decision
START_GRACE = timedelta(minutes=5)  # a form filled in a moment ago may name "now" as the start
MAX_PURPOSE_TEXT = 500
MAX_NAME = 100
MAX_NOTE = 300

# -- errors ---------------------------------------------------------------------------------------------------------

UNKNOWN_PART = "unknown_part"
NO_PARTS = "no_parts"
UNKNOWN_PURPOSE = "unknown_purpose"
PURPOSE_NOT_FOR_PARTNER = "purpose_not_for_partner"
BAD_TEXT = "bad_text"
UNKNOWN_PARTNER_KIND = "unknown_partner_kind"
UNKNOWN_PARTNER = "unknown_partner"
NAIVE_TIME = "naive_time"
EMPTY_PERIOD = "empty_period"
PERIOD_IN_PAST = "period_in_past"
STARTS_IN_PAST = "starts_in_past"
PERIOD_TOO_LONG = "period_too_long"
VACANCY_NEEDED = "vacancy_needed"
VACANCY_NOT_FOR_PARTNER = "vacancy_not_for_partner"
CONTACT_NEEDED = "contact_needed"
CONTACT_NOT_SHARED = "contact_not_shared"
CONTACT_NOT_PSEUDONYMOUS = "contact_not_pseudonymous"
BAD_CONTACT = "bad_contact"
BAD_GRANT = "bad_grant"
BAD_PARTNERS = "bad_partners"

_MESSAGES = {
    UNKNOWN_PART: "unknown profile part {value!r}; choose from: " + ", ".join(PARTS),
    NO_PARTS: "a share needs at least one part of the profile; choose from: " + ", ".join(PARTS),
    UNKNOWN_PURPOSE: "unknown purpose {value!r}; choose from: " + ", ".join(PURPOSES),
    PURPOSE_NOT_FOR_PARTNER: "the purpose {value!r} is not one for this kind of partner; choose from: {choices}",
    BAD_TEXT: "{value} is too long or holds control characters: at most {limit} characters of plain text",
    UNKNOWN_PARTNER_KIND: "unknown kind of partner {value!r}; known kinds: " + ", ".join(PARTNER_KINDS),
    UNKNOWN_PARTNER: "unknown partner {value!r}: choose a partner the service knows",
    NAIVE_TIME: "the {value} has no time zone: give times with their offset (e.g. 2025-03-01T09:00:00+01:00)",
    EMPTY_PERIOD: "the period ends before it starts: give an end after the start",
    PERIOD_IN_PAST: "the period has already ended: give an end in the future",
    STARTS_IN_PAST: "the period starts in the past: start it now or later",
    PERIOD_TOO_LONG: f"a share lasts at most {MAX_PERIOD_DAYS} days: choose an earlier end (you can renew it later)",
    VACANCY_NEEDED: "a share with an employer is for one vacancy on your dashboard: name the vacancy",
    VACANCY_NOT_FOR_PARTNER: "only a share with an employer is for a vacancy: leave the vacancy out",
    CONTACT_NEEDED: "the contact wish is shared, but it is empty: say how you want to be contacted",
    CONTACT_NOT_SHARED: "a contact wish is given, but the part contact_wish is not shared: add the part or leave "
                        "the contact wish out",
    CONTACT_NOT_PSEUDONYMOUS: ("a pseudonymised share carries no name and no address or number: choose contact "
                               "via the service, or share under your name"),
    BAD_CONTACT: "the contact wish is not usable: {value}",
    BAD_GRANT: "the grant is not valid: {value}",
    BAD_PARTNERS: "the partner list is not usable: {value}",
}


class ShareError(LoopbaanError):
    """A share the citizen asked for that cannot be made as asked; ``code`` is for the site, the message for people."""

    def __init__(self, code: str, value: object = "", **fields: object) -> None:
        super().__init__(_MESSAGES[code].format(value=value, **fields))
        self.code = code


# -- refusals -------------------------------------------------------------------------------------------------------

OTHER_PARTNER = "other_partner"
REVOKED = "revoked"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
PART_NOT_GRANTED = "part_not_granted"
REFUSAL_REASONS = frozenset({OTHER_PARTNER, REVOKED, EXPIRED, NOT_YET_VALID, PART_NOT_GRANTED})
DISCLOSED = "disclosed"
ACTIVE = "active"
NOT_AVAILABLE = "this share is not available to you"


@dataclass(frozen=True)
class AccessRecord:
    """One partner call on one grant, answered or refused: who, when, which grant, which parts, why.

    Never the citizen id: the vault finds the citizen through the grant. ``parts`` are the parts disclosed, or for a
    refusal the parts asked for; ``outcome`` is :data:`DISCLOSED` or the refusal reason.
    """

    grant_id: str
    partner_id: str
    partner_kind: str
    at: datetime
    parts: tuple[str, ...]
    purpose: str
    outcome: str
    pseudonymised: bool

    def as_json(self) -> dict[str, Any]:
        return {"grant_id": self.grant_id, "partner_id": self.partner_id, "partner_kind": self.partner_kind,
                "at": self.at.isoformat(), "parts": list(self.parts), "purpose": self.purpose,
                "outcome": self.outcome, "pseudonymised": self.pseudonymised}


class AccessRefused(Exception):
    """A partner's call that the grant does not allow (answer 403); ``reason`` and ``record`` are for the vault.

    The message is the same for every reason, so a partner learns nothing of another partner's grant.
    """

    def __init__(self, reason: str, record: AccessRecord) -> None:
        if reason not in REFUSAL_REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(NOT_AVAILABLE)
        self.reason = reason
        self.record = record


# -- partners -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partner:
    """An organisation that may receive shares; ``partner_id`` is its OAuth2 client id at the provider."""

    partner_id: str
    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in PARTNER_KINDS:
            raise ShareError(UNKNOWN_PARTNER_KIND, self.kind)
        if not self.partner_id or not self.name:
            raise ShareError(BAD_PARTNERS, "a partner needs an id and a name")


def partners_from_clients(document: Mapping[str, Any]) -> dict[str, Partner]:
    """The partners of the provider's client registry (``oidc/clients.json``: ``partners`` with ``client_id``,
    ``client_name`` and ``kind``), by partner id."""
    entries = document.get("partners") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise ShareError(BAD_PARTNERS, "no 'partners' list")
    partners: dict[str, Partner] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not all(isinstance(entry.get(name), str)
                                                     for name in ("client_id", "client_name", "kind")):
            raise ShareError(BAD_PARTNERS, "each partner needs a client_id, a client_name and a kind")
        partner = Partner(partner_id=entry["client_id"], kind=entry["kind"], name=entry["client_name"])
        if partner.partner_id in partners:
            raise ShareError(BAD_PARTNERS, f"the partner {partner.partner_id!r} is listed twice")
        partners[partner.partner_id] = partner
    return partners


# -- the contact wish -----------------------------------------------------------------------------------------------

EMAIL = "email"
PHONE = "phone"
VIA_SERVICE = "via_service"
CHANNELS = (EMAIL, PHONE, VIA_SERVICE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9 ()./-]{8,24}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain(text: str, *, what: str, limit: int) -> str:
    text = text.strip()
    if len(text) > limit or _CONTROL.search(text):
        raise ShareError(BAD_TEXT, what, limit=limit)
    return text


@dataclass(frozen=True)
class ContactWish:
    """How the citizen wants the partner to contact them, stated with the share (it is not career data).

    ``via_service``: the partner answers through the public employment service, quoting the share's pseudonym.
    """

    channel: str
    name: str | None = None
    address: str | None = None  # the e-mail address or phone number of the channel
    note: str = ""

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ShareError(BAD_CONTACT, f"unknown channel {self.channel!r}; choose from: {', '.join(CHANNELS)}")
        if self.name is not None:
            object.__setattr__(self, "name", _plain(self.name, what="the name", limit=MAX_NAME) or None)
        object.__setattr__(self, "note", _plain(self.note, what="the note", limit=MAX_NOTE))
        address = None if self.address is None else self.address.strip() or None
        object.__setattr__(self, "address", address)
        if self.channel == VIA_SERVICE and address is not None:
            raise ShareError(BAD_CONTACT, "contact via the service needs no address or number: leave it out")
        if self.channel == EMAIL and (address is None or not _EMAIL.fullmatch(address)):
            raise ShareError(BAD_CONTACT, "give a valid e-mail address (name@example.be)")
        if self.channel == PHONE and (address is None or not _PHONE.fullmatch(address)
                                      or sum(ch.isdigit() for ch in address) < 8):
            raise ShareError(BAD_CONTACT, "give a phone number of at least 8 digits")

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "name": self.name, "address": self.address, "note": self.note}


# -- the grant ------------------------------------------------------------------------------------------------------


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ShareError(NAIVE_TIME, what)
    return moment.astimezone(UTC)


def _canonical_parts(parts: Iterable[str]) -> tuple[str, ...]:
    chosen = set()
    for part in parts:
        if part not in PARTS:
            raise ShareError(UNKNOWN_PART, part)
        chosen.add(part)
    if not chosen:
        raise ShareError(NO_PARTS)
    return tuple(part for part in PARTS if part in chosen)


@dataclass(frozen=True)
class Grant:
    """A citizen's decision to share ``parts`` with one partner, for a purpose and a period.

    Checked whenever one is made (also when the vault loads one): known parts, purpose and partner kind, an aware
    period of at most :data:`MAX_PERIOD_DAYS`, a vacancy exactly for an employer, a contact wish exactly when that
    part is shared (and none with a name or address when pseudonymised). :func:`new_grant` also checks the period
    against the moment of the decision. Times are kept in UTC.
    """

    grant_id: str
    citizen_id: int
    partner_id: str
    partner_kind: str
    parts: tuple[str, ...]
    purpose: str
    start: datetime
    end: datetime
    pseudonymised: bool
    pseudonym: str
    created: datetime
    purpose_text: str = ""
    vacancy_id: int | None = None
    contact: ContactWish | None = None
    revoked: datetime | None = None

    def __post_init__(self) -> None:
        if not self.grant_id or not self.pseudonym or not self.partner_id:
            raise ShareError(BAD_GRANT, "it needs an id, a pseudonym and a partner")
        if self.partner_kind not in PARTNER_KINDS:
            raise ShareError(UNKNOWN_PARTNER_KIND, self.partner_kind)
        object.__setattr__(self, "parts", _canonical_parts(self.parts))
        if self.purpose not in PURPOSES:
            raise ShareError(UNKNOWN_PURPOSE, self.purpose)
        allowed = PARTNER_KINDS[self.partner_kind].purposes
        if self.purpose not in allowed:
            raise ShareError(PURPOSE_NOT_FOR_PARTNER, self.purpose, choices=", ".join(allowed))
        object.__setattr__(self, "purpose_text",
                           _plain(self.purpose_text, what="the stated purpose", limit=MAX_PURPOSE_TEXT))
        for name in ("start", "end", "created"):
            object.__setattr__(self, name, _utc(getattr(self, name), name))
        if self.revoked is not None:
            object.__setattr__(self, "revoked", _utc(self.revoked, "revocation time"))
        if self.end <= self.start:
            raise ShareError(EMPTY_PERIOD)
        if self.end - self.start > timedelta(days=MAX_PERIOD_DAYS):
            raise ShareError(PERIOD_TOO_LONG)
        if self.partner_kind == EMPLOYER and self.vacancy_id is None:
            raise ShareError(VACANCY_NEEDED)
        if self.partner_kind != EMPLOYER and self.vacancy_id is not None:
            raise ShareError(VACANCY_NOT_FOR_PARTNER)
        if CONTACT_WISH in self.parts and self.contact is None:
            raise ShareError(CONTACT_NEEDED)
        if CONTACT_WISH not in self.parts and self.contact is not None:
            raise ShareError(CONTACT_NOT_SHARED)
        if self.pseudonymised and self.contact is not None and (
                self.contact.channel != VIA_SERVICE or self.contact.name is not None):
            raise ShareError(CONTACT_NOT_PSEUDONYMOUS)

    def state(self, at: datetime) -> str:
        """``active``, or why not at ``at``: ``revoked``, ``not_yet_valid`` or ``expired``."""
        at = _utc(at, "moment")
        if self.revoked is not None and self.revoked <= at:
            return REVOKED
        if at < self.start:
            return NOT_YET_VALID
        if at >= self.end:
            return EXPIRED
        return ACTIVE

    def as_json(self, *, at: datetime) -> dict[str, Any]:
        """The grant as the citizen's page lists it (``GET /me/shares``), with its state at ``at``."""
        return {"grant_id": self.grant_id, "partner_id": self.partner_id, "partner_kind": self.partner_kind,
                "parts": list(self.parts), "purpose": self.purpose, "purpose_text": self.purpose_text,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "pseudonymised": self.pseudonymised,
                "vacancy_id": self.vacancy_id, "contact": None if self.contact is None else self.contact.as_json(),
                "created": self.created.isoformat(),
                "revoked": None if self.revoked is None else self.revoked.isoformat(), "state": self.state(at)}


def new_grant(*, citizen_id: int, partner: Partner, parts: Iterable[str], purpose: str, start: datetime,
              end: datetime, pseudonymised: bool, now: datetime, purpose_text: str = "",
              vacancy_id: int | None = None, contact: ContactWish | None = None) -> Grant:
    """The grant the citizen decided on at ``now``, with a fresh random id and pseudonym; raises ShareError.

    Beyond :class:`Grant`'s checks: the period may not have ended, nor start before ``now`` (less
    :data:`START_GRACE`).
    """
    now = _utc(now, "moment")
    grant = Grant(grant_id=secrets.token_urlsafe(16), citizen_id=int(citizen_id), partner_id=partner.partner_id,
                  partner_kind=partner.kind, parts=tuple(parts), purpose=purpose, start=start, end=end,
                  pseudonymised=bool(pseudonymised), pseudonym="p-" + secrets.token_urlsafe(12), created=now,
                  purpose_text=purpose_text, vacancy_id=vacancy_id, contact=contact)
    if grant.end <= now:
        raise ShareError(PERIOD_IN_PAST)
    if grant.start < now - START_GRACE:
        raise ShareError(STARTS_IN_PAST)
    return grant


def revoke(grant: Grant, *, at: datetime) -> Grant:
    """The grant revoked at ``at``; revoking again keeps the first moment."""
    if grant.revoked is not None:
        return grant
    return replace(grant, revoked=_utc(at, "revocation time"))


# -- what a partner gets --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedProfile:
    """What a partner receives through one grant (``GET /partner/profiles/{share}``): the granted parts only."""

    share_id: str
    subject: str  # the grant's pseudonym: never the citizen id
    purpose: str
    purpose_text: str
    pseudonymised: bool
    valid_until: datetime
    vacancy_id: int | None
    parts: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"share_id": self.share_id, "subject": self.subject, "purpose": self.purpose,
                "purpose_text": self.purpose_text, "pseudonymised": self.pseudonymised,
                "valid_until": self.valid_until.isoformat(), "vacancy_id": self.vacancy_id, "parts": dict(self.parts)}


def _month(iso: str | None) -> str | None:
    return None if iso is None else iso[:7]


def _competencies(grant: Grant, career: CareerData, day) -> list[dict]:
    """Evidence of work, diplomas and trainings names its origin and date only where that part is shared too."""
    revealed = {"assessment", "self-declared"}
    if WORK_HISTORY in grant.parts:
        revealed.add("work")
    if DIPLOMAS_AND_TRAININGS in grant.parts:
        revealed |= {"diploma", "training"}
    out = []
    for competency in career.competencies:
        sources = []
        for source in competency["sources"]:
            entry = {"source": source["source"], "proficiency": source["proficiency"]}
            if source["source"] in revealed:
                entry |= {"reference": source["reference"], "date": day(source["date"])}
            sources.append(entry)
        out.append({"id": competency["id"], "label": competency["label"], "sources": sources})
    return out


def _work_history(grant: Grant, career: CareerData, day) -> list[dict]:
    return [{"occupation_id": period["occupation_id"], "occupation": period["occupation"],
             "start": day(period["start"]), "end": day(period["end"]), "part_time": period["part_time"]}
            for period in career.work]


def _diplomas_and_trainings(grant: Grant, career: CareerData, day) -> dict:
    return {"diplomas": [{"diploma_id": diploma["diploma_id"], "title": diploma["title"], "level": diploma["level"],
                          "obtained": day(diploma["obtained"])} for diploma in career.diplomas],
            "trainings": [{"training_id": training["training_id"], "title": training["title"],
                           "completed": day(training["completed"])} for training in career.trainings]}


def _contact_wish(grant: Grant, career: CareerData, day) -> dict:
    return grant.contact.as_json()


_BUILDERS = {COMPETENCY_PROFILE: _competencies, WORK_HISTORY: _work_history,
             DIPLOMAS_AND_TRAININGS: _diplomas_and_trainings, CONTACT_WISH: _contact_wish}


def disclose(*, grant: Grant, partner: Partner, at: datetime, career: CareerData,
             requested: Collection[str] | None = None) -> tuple[SharedProfile, AccessRecord]:
    """What ``partner`` gets through ``grant`` at ``at``, and the record of this access.

    Parameters
    ----------
    grant
        The share the partner names (``{share}`` in the address).
    partner
        The partner calling, as its own token says.
    at
        The moment of the call.
    career
        The citizen's career data (of the grant's citizen, in the partner's language).
    requested
        The parts the partner asks for; None: every granted part.

    Raises
    ------
    AccessRefused
        With reason ``other_partner`` (checked first: nothing else of another partner's grant is told), then
        ``revoked``, ``not_yet_valid``, ``expired``, ``part_not_granted`` (a part asked for that the grant does
        not hold, known or not); its ``record`` is to be kept like a disclosure's.
    """
    if career.citizen_id != grant.citizen_id:
        raise ValueError("the career data is not of the grant's citizen")
    at = _utc(at, "moment")
    asked = grant.parts if requested is None else tuple(dict.fromkeys(requested))

    def record(outcome: str, parts: tuple[str, ...]) -> AccessRecord:
        return AccessRecord(grant_id=grant.grant_id, partner_id=partner.partner_id, partner_kind=partner.kind,
                            at=at, parts=parts, purpose=grant.purpose, outcome=outcome,
                            pseudonymised=grant.pseudonymised)

    if partner.partner_id != grant.partner_id:
        raise AccessRefused(OTHER_PARTNER, record(OTHER_PARTNER, asked))
    state = grant.state(at)
    if state != ACTIVE:
        raise AccessRefused(state, record(state, asked))
    if any(part not in grant.parts for part in asked) or not asked:
        raise AccessRefused(PART_NOT_GRANTED, record(PART_NOT_GRANTED, asked))
    parts = tuple(part for part in PARTS if part in asked)
    day = _month if grant.pseudonymised else (lambda iso: iso)
    profile = SharedProfile(share_id=grant.grant_id, subject=grant.pseudonym, purpose=grant.purpose,
                            purpose_text=grant.purpose_text, pseudonymised=grant.pseudonymised,
                            valid_until=grant.end, vacancy_id=grant.vacancy_id,
                            parts={part: _BUILDERS[part](grant, career, day) for part in parts})
    return profile, record(DISCLOSED, parts)
