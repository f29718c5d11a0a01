"""The pseudonymous sign-in links: which citizen a subject of an OpenID provider is.

The provider knows a login, a password hash and a random subject per account, never a citizen id; its tokens carry
the subject. The subjects file it writes (``{"format": "loopbaan-oidc-subjects", "version": 1, "subjects":
[{"subject", "citizen_id"}]}``, see docs/sign-in.md) is imported here once, as links unique per (issuer, subject),
and the resource server asks :func:`citizen_for_subject` for every token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from features.vault import errors
from features.vault.database import writing
from features.vault.schema import ISSUER_LENGTH, SUBJECT_LENGTH, Citizen, SubjectLink

SUBJECTS_FORMAT = "loopbaan-oidc-subjects"
SUBJECTS_VERSION = 1
_CHUNK = 500  # ids per IN (...) list: well below every driver's limit on parameters
_SHOWN = 5  # citizen ids named in an error


@dataclass(frozen=True)
class Link:
    subject: str
    citizen_id: int


@dataclass(frozen=True)
class LinkSummary:
    total: int  # links in the file
    linked: int  # new by this import
    already_there: int  # the same link was in the vault already


def checked_issuer(issuer: str) -> str:
    if not isinstance(issuer, str) or not 0 < len(issuer) <= ISSUER_LENGTH or issuer != issuer.strip():
        raise errors.InvalidSubjects(errors.ERR_ISSUER.format(issuer=issuer, limit=ISSUER_LENGTH))
    return issuer


def read_subjects(path: Path) -> list[Link]:
    """The links of a subjects file; :class:`~features.vault.errors.InvalidSubjects` says what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_UNREADABLE.format(path=path, reason=error)) from None
    return parse_subjects(document, source=str(path))


def parse_subjects(document: object, *, source: str) -> list[Link]:
    found = document.get("format") if isinstance(document, dict) else None
    if found != SUBJECTS_FORMAT:
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_FORMAT.format(
            path=source, found=repr(found) if found is not None else "missing"))
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_FORMAT.format(path=source, found=f"{found!r} with version "
                                                                                          f"{version!r}"))
    if version > SUBJECTS_VERSION:
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_VERSION.format(path=source, found=version,
                                                                        supported=SUBJECTS_VERSION))
    entries = document.get("subjects")
    if not isinstance(entries, list):
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_FORMAT.format(path=source, found=f"{found!r} without a "
                                                                                          "'subjects' list"))
    links, first = [], {}
    for index, entry in enumerate(entries):
        links.append(_link(entry, index=index, source=source))
        if links[-1].subject in first:
            raise errors.InvalidSubjects(errors.ERR_SUBJECT_TWICE.format(path=source, first=first[links[-1].subject],
                                                                         index=index))
        first[links[-1].subject] = index
    return links


def _link(entry: object, *, index: int, source: str) -> Link:
    def bad(reason: str) -> errors.InvalidSubjects:
        return errors.InvalidSubjects(errors.ERR_SUBJECTS_ENTRY.format(path=source, index=index, reason=reason,
                                                                       limit=SUBJECT_LENGTH))

    if not isinstance(entry, dict):
        raise bad("not an object")
    subject, citizen_id = entry.get("subject"), entry.get("citizen_id")
    if not isinstance(subject, str) or not 0 < len(subject) <= SUBJECT_LENGTH or subject != subject.strip():
        raise bad("no usable subject")
    if not isinstance(citizen_id, int) or isinstance(citizen_id, bool) or citizen_id < 0:
        raise bad("no usable citizen_id")
    return Link(subject=subject, citizen_id=citizen_id)


def _chunks(values: list, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def link_subjects(*, engine: Engine, issuer: str, links: list[Link], source: str) -> LinkSummary:
    """Link every subject of ``links`` to its citizen for ``issuer``, in one transaction: all of them, or (an
    unknown citizen, a subject already linked to another citizen) none. Links already there are kept: a rerun
    changes nothing."""
    issuer = checked_issuer(issuer)
    table, citizens = SubjectLink.__table__, Citizen.__table__
    try:
        with writing(engine) as connection, connection.begin():
            wanted = sorted({link.citizen_id for link in links})
            known = {int(citizen_id) for chunk in _chunks(wanted) for citizen_id in connection.execute(
                select(citizens.c.citizen_id).where(citizens.c.citizen_id.in_(chunk))).scalars()}
            unknown = [citizen_id for citizen_id in wanted if citizen_id not in known]
            if unknown:
                raise errors.InvalidSubjects(errors.ERR_SUBJECTS_UNKNOWN_CITIZENS.format(
                    count=sum(link.citizen_id not in known for link in links), path=source,
                    ids=", ".join(map(str, unknown[:_SHOWN])) + (", ..." if len(unknown) > _SHOWN else "")))
            existing = {subject: int(citizen_id) for chunk in _chunks([link.subject for link in links])
                        for subject, citizen_id in connection.execute(
                            select(table.c.subject, table.c.citizen_id).where(table.c.issuer == issuer,
                                                                              table.c.subject.in_(chunk)))}
            moved = [index for index, link in enumerate(links)
                     if link.subject in existing and existing[link.subject] != link.citizen_id]
            if moved:
                raise errors.InvalidSubjects(errors.ERR_SUBJECT_RELINKED.format(count=len(moved), path=source,
                                                                                issuer=issuer, index=moved[0]))
            new = [link for link in links if link.subject not in existing]
            now = datetime.now(UTC)
            if new:
                connection.execute(insert(table), [{"issuer": issuer, "subject": link.subject,
                                                    "citizen_id": link.citizen_id, "linked_at": now} for link in new])
    except IntegrityError:
        raise errors.InvalidSubjects(errors.ERR_SUBJECTS_RACE) from None
    return LinkSummary(total=len(links), linked=len(new), already_there=len(links) - len(new))


def citizen_for_subject(connection: Connection, *, issuer: str, subject: str) -> int | None:
    """The citizen linked to ``subject`` of ``issuer`` (one unique-index lookup), or None."""
    if not isinstance(subject, str) or not 0 < len(subject) <= SUBJECT_LENGTH or not isinstance(issuer, str):
        return None
    table = SubjectLink.__table__
    found = connection.execute(select(table.c.citizen_id).where(table.c.issuer == issuer,
                                                                table.c.subject == subject)).scalar()
    return None if found is None else int(found)


class SubjectLinks:
    """The vault's side of sign-in (a part of :class:`~features.vault.store.Vault`)."""

    engine: Engine

    def citizen_for_subject(self, *, issuer: str, subject: str) -> int | None:
        """The citizen a token's ``sub`` of ``issuer`` signs in as, or None when the vault links it to nobody."""
        with self.engine.connect() as connection:
            return citizen_for_subject(connection, issuer=issuer, subject=subject)

    def subject_resolver(self, *, issuer: str) -> Callable[[str], int | None]:
        """``resolver(subject)`` for :class:`serving.oidc.TokenValidator`: the links of this one issuer."""
        issuer = checked_issuer(issuer)
        return lambda subject: self.citizen_for_subject(issuer=issuer, subject=subject)
