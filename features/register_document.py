"""The data register as the public reads it (``GET /register``): every declared processing of
:mod:`features.register`, in both languages, a sharing one with the partners and counts of its active grants.

A count below :data:`SMALL_COUNT` (but not zero) is withheld, since a small count can point to a person.
:mod:`features.register_page` renders the document as the site's page.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from features.bilingual import Text
from features.errors import LoopbaanError
from features.register import CATEGORIES, PROCESSINGS, STAKEHOLDERS, Processing
from features.sharing import ACTIVE, PARTNER_KINDS, PARTS, PURPOSES, Grant, Partner

SMALL_COUNT = 5  # a public count below this is shown as "fewer than 5": a small count can point to a person


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextOut(_Out):
    nl: str
    en: str


class CategoryOut(_Out):
    key: str
    name: TextOut
    source: TextOut
    personal: bool
    special: bool


class LegalBasisOut(_Out):
    article: str
    text: TextOut


class RetentionOut(_Out):
    text: TextOut
    enforced: bool


class StakeholderOut(_Out):
    key: str
    name: TextOut


class CountOut(_Out):
    """A count made public: ``count`` is None when it is below ``SMALL_COUNT`` (but not zero)."""

    key: str
    name: TextOut
    count: int | None


class PartnerOut(_Out):
    partner_id: str
    name: str
    active_grants: int | None  # None: fewer than SMALL_COUNT


class SharingOut(_Out):
    """The active grants of one kind of partner; every count is None when below ``SMALL_COUNT`` (but not zero)."""

    partner_kind: str
    active_grants: int | None
    partners: list[PartnerOut]
    parts: list[CountOut]
    purposes: list[CountOut]
    pseudonymised: int | None


class ProcessingOut(_Out):
    key: str
    name: TextOut
    purpose: TextOut
    categories: list[CategoryOut]
    tables: list[str]
    recipient: TextOut
    receives: TextOut
    legal_bases: list[LegalBasisOut]
    retention: RetentionOut
    stakeholders: list[StakeholderOut]
    sharing: SharingOut | None = None


class RegisterDocument(_Out):
    """The register as ``GET /register`` returns it: every processing, both languages."""

    generated_at: datetime
    small_count: int
    synthetic_data: bool
    processings: list[ProcessingOut]


def _text(text: Text) -> TextOut:
    return TextOut(nl=text.nl, en=text.en)


def _public(count: int) -> int | None:
    return count if count == 0 or count >= SMALL_COUNT else None


def _sharing_out(kind: str, grants: list[Grant], partners: Mapping[str, Partner]) -> SharingOut:
    by_partner = Counter(grant.partner_id for grant in grants)
    parts = Counter(part for grant in grants for part in grant.parts)
    purposes = Counter(grant.purpose for grant in grants)
    return SharingOut(
        partner_kind=kind, active_grants=_public(len(grants)),
        partners=[PartnerOut(partner_id=partner_id,
                             name=partners[partner_id].name if partner_id in partners else partner_id,
                             active_grants=_public(count)) for partner_id, count in sorted(by_partner.items())],
        parts=[CountOut(key=key, name=_text(part.name), count=_public(parts[key])) for key, part in PARTS.items()],
        purposes=[CountOut(key=key, name=_text(PURPOSES[key].name), count=_public(purposes[key]))
                  for key in PARTNER_KINDS[kind].purposes],
        pseudonymised=_public(sum(grant.pseudonymised for grant in grants)))


def build_register(*, grants: Iterable[Grant], partners: Mapping[str, Partner], at: datetime,
                   register: Mapping[str, Processing] = PROCESSINGS, synthetic_data: bool = True) -> RegisterDocument:
    """The register document at ``at``: every declared processing; a sharing one with its active grants' partners
    and counts (counts below :data:`SMALL_COUNT` withheld). ``partners`` names them (by partner id)."""
    if at.tzinfo is None:
        raise LoopbaanError("the register's moment needs a time zone")
    active: dict[str, list[Grant]] = defaultdict(list)
    for grant in grants:
        if grant.state(at) == ACTIVE:
            active[grant.partner_kind].append(grant)
    out = []
    for entry in register.values():
        out.append(ProcessingOut(
            key=entry.key, name=_text(entry.name), purpose=_text(entry.purpose),
            categories=[CategoryOut(key=key, name=_text(CATEGORIES[key].name), source=_text(CATEGORIES[key].source),
                                    personal=CATEGORIES[key].personal, special=CATEGORIES[key].special)
                        for key in entry.categories],
            tables=sorted(entry.reads), recipient=_text(entry.recipient), receives=_text(entry.receives),
            legal_bases=[LegalBasisOut(article=basis.article, text=_text(basis.text)) for basis in entry.legal_bases],
            retention=RetentionOut(text=_text(entry.retention.text), enforced=entry.retention.enforced),
            stakeholders=[StakeholderOut(key=key, name=_text(STAKEHOLDERS[key])) for key in entry.stakeholders],
            sharing=None if entry.partner_kind is None else _sharing_out(entry.partner_kind,
                                                                         active[entry.partner_kind], partners)))
    return RegisterDocument(generated_at=at.astimezone(UTC), small_count=SMALL_COUNT, synthetic_data=synthetic_data,
                            processings=out)
