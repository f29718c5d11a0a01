"""The vault's API: one citizen's career data, what they add to it, their consent choice, their feedback, and the
audit trail; with the sign-in links (:mod:`features.vault.links`) and the shares (:mod:`features.vault.shares`).
Every write is one transaction (all of it or nothing) and checks the citizen's revision, so that two tabs editing at
once get :class:`~features.vault.errors.RevisionConflict` instead of one losing the other's edit.

A service opens it once (:meth:`Vault.open`) and shares it between requests; the engine pools connections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from features.career_data import CareerData, CareerRecords
from features.citizens import QueryContext, contexts_from_index
from features.profiles import MIN_ASSESSED_PROFICIENCY
from features.taxonomy import Taxonomy
from features.vault import errors
from features.vault.audit import AuditLine
from features.vault.catalogue import RecordCatalogue
from features.vault.database import open_engine, writing
from features.vault.links import SubjectLinks
from features.vault.schema import (SELF_DECLARED, AuditEntry, CareerRecord, Citizen, ConsentChoice, Evidence,
                                   Feedback, VaultMeta)
from features.vault.shares import Shares
from features.vault.tables import (CITIZEN_COLUMNS, EVIDENCE_COLUMNS, CitizenTables, Positions, population_frames,
                                   read_career_index, read_citizen_tables)
from features.vocabulary import ERR_UNKNOWN_KIND, FEEDBACK_REASONS, KINDS

MAX_OWN_ENTRIES = 500  # entries a citizen may add themselves
MAX_TEXT = 200  # characters of a test's name
MAX_NOTE = 500  # characters of a feedback note
EARLIEST = date(1940, 1, 1)
REFERENCE_DATE = "reference_date"


@dataclass(frozen=True)
class AssessmentResult:
    """An orientation or competency test the citizen took: the competency and the proficiency measured (0-4)."""

    name: str
    competency_uri: str
    proficiency: int
    taken_on: date


@dataclass(frozen=True)
class CompletedCourse:
    """A course of the training catalogue the citizen completed."""

    training_id: int
    completed_on: date


@dataclass(frozen=True)
class DiplomaObtained:
    """A diploma of the diploma catalogue the citizen obtained."""

    diploma_id: int
    obtained_on: date


NewRecord = AssessmentResult | CompletedCourse | DiplomaObtained


@dataclass(frozen=True)
class Change:
    """What a write did: the entry it created or removed, and the citizen's revision after it."""

    entry_id: int
    revision: int


@dataclass(frozen=True)
class Entry:
    """Something the citizen added themselves (removable)."""

    entry_id: int
    record_type: str  # competency, assessment (a test), training (a course), diploma
    on: date
    competency_uri: str | None
    training_id: int | None
    diploma_id: int | None
    proficiency: int | None
    test_name: str | None


@dataclass(frozen=True)
class VaultCareerData:
    """ "Mijn loopbaandata": the career data as :class:`~features.career_data.CareerRecords` renders it, plus the
    revision to send back with an edit and the entries the citizen may remove."""

    career: CareerData
    revision: int
    entries: list[Entry]


@dataclass(frozen=True)
class FeedbackItem:
    kind: str
    item_id: str
    reason: str
    note: str | None
    given_on: date


class Vault(SubjectLinks, Shares):
    """The citizens' vault on one database. ``pseudonym_key`` keys the citizen pseudonyms of the audit trail;
    ``catalogue`` (the snapshot's catalogues) is needed to record courses and diplomas and to render the career
    data page."""

    def __init__(self, *, engine: Engine, taxonomy: Taxonomy, pseudonym_key: bytes,
                 catalogue: RecordCatalogue | None = None) -> None:
        self.engine = engine
        self.taxonomy = taxonomy
        self.catalogue = catalogue
        self._key = pseudonym_key
        self._reference_date: date | None = None
        self._labels: CareerRecords | None = None
        self._positions = Positions.of(taxonomy)

    @classmethod
    def open(cls, *, url: str, taxonomy: Taxonomy, pseudonym_key: bytes,
             catalogue: RecordCatalogue | None = None) -> Vault:
        """Open the vault at ``url``; a missing vault or one at another migration raises
        :class:`~features.vault.errors.VaultNotReady` naming the command to run (it is never migrated here)."""
        return cls(engine=open_engine(url), taxonomy=taxonomy, pseudonym_key=pseudonym_key, catalogue=catalogue)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def today(self) -> date:
        """The vault's today: the reference date of the imported population (its synthetic 'today'), else the
        calendar date. Entries default to it, later dates are refused, and contexts are built on it."""
        if self._reference_date is None:  # read until a population is imported, then kept
            with self.engine.connect() as connection:
                stored = connection.execute(select(VaultMeta.value).where(VaultMeta.key == REFERENCE_DATE)).scalar()
            self._reference_date = date.fromisoformat(stored) if stored else None
        return self._reference_date or date.today()

    # -- reading ----------------------------------------------------------------------------------------------

    def revision(self, *, citizen_id: int) -> int:
        with self.engine.connect() as connection:
            return self._revision(connection, citizen_id)

    def tables(self, *, citizen_ids: Sequence[int], include_self_declared_records: bool = True) -> CitizenTables:
        """Population-shaped tables of these citizens (unknown ids are simply absent)."""
        with self.engine.connect() as connection:
            return read_citizen_tables(connection, citizen_ids,
                                       include_self_declared_records=include_self_declared_records)

    def contexts(self, *, citizen_ids: Sequence[int], as_of: date | np.ndarray | None = None) -> QueryContext:
        """Query contexts built from the vault exactly as :func:`~features.citizens.contexts_from_store` builds them
        from a snapshot (the same index and query code run on the vault's rows), with what the citizens added."""
        ids = np.asarray(citizen_ids, dtype=np.int64)
        with self.engine.connect() as connection:
            index = read_career_index(connection, ids.tolist(), positions=self._positions)
        missing = ids[index.citizens.get_indexer(ids) < 0]
        if len(missing):
            raise errors.UnknownCitizen(errors.ERR_UNKNOWN_CITIZEN.format(citizen_id=int(missing[0])))
        return contexts_from_index(index=index, taxonomy=self.taxonomy, citizen_ids=ids,
                                   as_of=self.today if as_of is None else as_of)

    def context(self, *, citizen_id: int, as_of: date | None = None) -> QueryContext:
        return self.contexts(citizen_ids=[citizen_id], as_of=as_of)

    def career_data(self, *, citizen_id: int, language: str = "nl", as_of: date | None = None) -> VaultCareerData:
        """ "Mijn loopbaandata" of one citizen (needs the catalogue for the titles)."""
        catalogue = self._need_catalogue("career data page")
        with self.engine.connect() as connection:
            revision = self._revision(connection, citizen_id)
            tables = read_citizen_tables(connection, [citizen_id], include_self_declared_records=True)
            entries = self._entries(connection, citizen_id)
        career = self._career_records(catalogue).over(tables).citizen(
            citizen_id, as_of=self.today if as_of is None else as_of, language=language)
        return VaultCareerData(career=career, revision=revision, entries=entries)

    def _career_records(self, catalogue: RecordCatalogue) -> CareerRecords:
        """The catalogues' titles and the taxonomy's labels, built once; each page swaps in one citizen's tables."""
        if self._labels is None:
            empty = population_frames(citizens=pd.DataFrame(columns=list(CITIZEN_COLUMNS)),
                                      records=pd.DataFrame(columns=[c.name for c in CareerRecord.__table__.columns]),
                                      evidence=pd.DataFrame(columns=list(EVIDENCE_COLUMNS)),
                                      include_self_declared_records=True)
            self._labels = CareerRecords(store=_Snapshot(CitizenTables(tables=empty), catalogue=catalogue),
                                         taxonomy=self.taxonomy)
        return self._labels

    def entries(self, *, citizen_id: int) -> list[Entry]:
        with self.engine.connect() as connection:
            self._revision(connection, citizen_id)
            return self._entries(connection, citizen_id)

    # -- what the citizen adds ----------------------------------------------------------------------------------

    def add_competency(self, *, citizen_id: int, competency_uri: str, revision: int, on: date | None = None,
                       audit: AuditLine | None = None) -> Change:
        """Add a self-declared competency (an ESCO/Competent URI of the taxonomy)."""
        uri = self._known_competency(competency_uri)
        on = self._checked_date(self.today if on is None else on)
        record = {"record_type": "competency", "competency_uri": uri, "record_date": on,
                  "entry_key": f"competency:{uri}"}
        evidence = [{"competency_uri": uri, "source_ref": SELF_DECLARED, "evidence_date": on, "proficiency": None}]
        return self._add(citizen_id, revision=revision, record=record, evidence=evidence, audit=audit,
                         duplicate=errors.ERR_DUPLICATE_COMPETENCY.format(uri=uri))

    def add_record(self, *, citizen_id: int, record: NewRecord, revision: int,
                   audit: AuditLine | None = None) -> Change:
        """Add a test result, a completed course or a diploma, with source "self-declared"; the competencies it
        shows become self-declared evidence (a test only from the proficiency the profile rules hold)."""
        if isinstance(record, AssessmentResult):
            uri = self._known_competency(record.competency_uri)
            on = self._checked_date(record.taken_on)
            name = _short(record.name, field="the test's name", limit=MAX_TEXT)
            if not 0 <= int(record.proficiency) <= 4:
                raise errors.InvalidEntry(errors.ERR_PROFICIENCY.format(value=record.proficiency))
            row = {"record_type": "assessment", "competency_uri": uri, "proficiency": int(record.proficiency),
                   "test_name": name, "record_date": on, "entry_key": f"assessment:{uri}:{on.isoformat()}"}
            evidence = ([{"competency_uri": uri, "source_ref": SELF_DECLARED, "evidence_date": on,
                          "proficiency": int(record.proficiency)}]
                        if record.proficiency >= MIN_ASSESSED_PROFICIENCY else [])
            what = "test result"
        elif isinstance(record, CompletedCourse):
            catalogue = self._need_catalogue("completed course")
            training = int(record.training_id)
            if training not in catalogue.training_ids:
                raise errors.InvalidEntry(errors.ERR_UNKNOWN_TRAINING.format(training_id=training))
            on = self._checked_date(record.completed_on)
            row = {"record_type": "training", "training_id": training, "record_date": on,
                   "entry_key": f"training:{training}:{on.isoformat()}"}
            evidence = [{"competency_uri": uri, "source_ref": f"training:{training}", "evidence_date": on,
                         "proficiency": None} for uri in catalogue.training_competencies.get(training, ())]
            what = "course"
        elif isinstance(record, DiplomaObtained):
            catalogue = self._need_catalogue("diploma")
            diploma = int(record.diploma_id)
            if diploma not in catalogue.diploma_levels:
                raise errors.InvalidEntry(errors.ERR_UNKNOWN_DIPLOMA.format(diploma_id=diploma))
            on = self._checked_date(record.obtained_on)
            row = {"record_type": "diploma", "diploma_id": diploma, "level": catalogue.diploma_levels[diploma],
                   "record_date": on, "entry_key": f"diploma:{diploma}:{on.isoformat()}"}
            evidence = [{"competency_uri": uri, "source_ref": f"diploma:{diploma}", "evidence_date": on,
                         "proficiency": None} for uri in catalogue.diploma_competencies.get(diploma, ())]
            what = "diploma"
        else:
            raise errors.InvalidEntry(f"unknown kind of record {type(record).__name__}: give a AssessmentResult, "
                                      "CompletedCourse or DiplomaObtained")
        return self._add(citizen_id, revision=revision, record=row, evidence=evidence, audit=audit,
                         duplicate=errors.ERR_DUPLICATE_RECORD.format(what=what, on=on.isoformat()))

    def remove_entry(self, *, citizen_id: int, entry_id: int, revision: int,
                     audit: AuditLine | None = None) -> Change:
        """Remove something the citizen added themselves, with the evidence it gave."""
        table = CareerRecord.__table__
        with writing(self.engine) as connection, connection.begin():
            new_revision = self._bump(connection, citizen_id, revision)
            found = connection.execute(select(table.c.provided_by).where(
                table.c.id == int(entry_id), table.c.citizen_id == int(citizen_id))).scalar()
            if found is None:
                raise errors.InvalidEntry(errors.ERR_UNKNOWN_ENTRY.format(entry_id=entry_id))
            if found != SELF_DECLARED:
                raise errors.NotRemovable(errors.ERR_NOT_REMOVABLE.format(entry_id=entry_id, provided_by=found))
            connection.execute(delete(Evidence.__table__).where(Evidence.__table__.c.record_id == int(entry_id)))
            connection.execute(delete(table).where(table.c.id == int(entry_id)))
            self._audit(connection, audit)
        return Change(entry_id=int(entry_id), revision=new_revision)

    # -- consent --------------------------------------------------------------------------------------------

    def opted_out(self, *, citizen_id: int) -> bool:
        """The citizen's latest choice about AI suggestions (True: no AI), else the imported default."""
        choice = ConsentChoice.__table__
        with self.engine.connect() as connection:
            latest = connection.execute(select(choice.c.opted_out).where(choice.c.citizen_id == int(citizen_id))
                                        .order_by(choice.c.id.desc()).limit(1)).scalar()
            if latest is not None:
                return bool(latest)
            default = connection.execute(select(Citizen.ai_opt_out).where(Citizen.citizen_id == int(citizen_id))
                                         ).scalar()
        if default is None:
            raise errors.UnknownCitizen(errors.ERR_UNKNOWN_CITIZEN.format(citizen_id=citizen_id))
        return bool(default)

    def record_consent(self, *, citizen_id: int, opted_out: bool, audit: AuditLine | None = None) -> None:
        with writing(self.engine) as connection, connection.begin():
            self._revision(connection, citizen_id)
            connection.execute(insert(ConsentChoice.__table__).values(
                citizen_id=int(citizen_id), opted_out=bool(opted_out), chosen_at=datetime.now(UTC)))
            self._audit(connection, audit)

    # -- feedback ("niet voor mij, omdat…") ----------------------------------------------------------------

    def record_feedback(self, *, citizen_id: int, kind: str, item_id: str, reason: str, note: str | None = None,
                        audit: AuditLine | None = None) -> FeedbackItem:
        if kind not in KINDS:
            raise errors.InvalidEntry(ERR_UNKNOWN_KIND.format(kind=kind))
        if reason not in FEEDBACK_REASONS:
            raise errors.InvalidEntry(errors.ERR_FEEDBACK_REASON.format(reason=reason,
                                                                        reasons=", ".join(FEEDBACK_REASONS)))
        item = _short(str(item_id), field="the item id", limit=200)
        note = None if note is None or not note.strip() else _short(note.strip(), field="the note", limit=MAX_NOTE)
        item_row = FeedbackItem(kind=kind, item_id=item, reason=reason, note=note, given_on=self.today)
        try:
            with writing(self.engine) as connection, connection.begin():
                self._revision(connection, citizen_id)
                connection.execute(insert(Feedback.__table__).values(
                    citizen_id=int(citizen_id), kind=kind, item_id=item, reason=reason, note=note,
                    given_on=item_row.given_on, recorded_at=datetime.now(UTC)))
                self._audit(connection, audit)
        except IntegrityError:
            raise errors.DuplicateEntry(errors.ERR_DUPLICATE_FEEDBACK.format(kind=kind, item=item)) from None
        return item_row

    def feedback(self, *, citizen_id: int, kind: str | None = None) -> list[FeedbackItem]:
        table = Feedback.__table__
        query = select(table.c.kind, table.c.item_id, table.c.reason, table.c.note, table.c.given_on).where(
            table.c.citizen_id == int(citizen_id)).order_by(table.c.id)
        if kind is not None:
            query = query.where(table.c.kind == kind)
        with self.engine.connect() as connection:
            self._revision(connection, citizen_id)
            return [FeedbackItem(*row) for row in connection.execute(query).all()]

    def dismissed(self, *, citizen_id: int, kind: str) -> frozenset[str]:
        """The item ids of ``kind`` the citizen said are not for them: leave them out of their lists."""
        return frozenset(item.item_id for item in self.feedback(citizen_id=citizen_id, kind=kind))

    def delete_feedback(self, *, citizen_id: int, kind: str, item_id: str, audit: AuditLine | None = None) -> None:
        table = Feedback.__table__
        with writing(self.engine) as connection, connection.begin():
            self._revision(connection, citizen_id)
            gone = connection.execute(delete(table).where(table.c.citizen_id == int(citizen_id),
                                                          table.c.kind == kind, table.c.item_id == str(item_id)))
            if gone.rowcount == 0:
                raise errors.InvalidEntry(errors.ERR_UNKNOWN_FEEDBACK.format(kind=kind, item=item_id))
            self._audit(connection, audit)

    # -- audit ------------------------------------------------------------------------------------------------

    def append_audit(self, line: AuditLine) -> None:
        """Append one line to the audit trail (the citizen as a keyed pseudonym, never the id)."""
        with writing(self.engine) as connection, connection.begin():
            self._audit(connection, line)

    # -- internals --------------------------------------------------------------------------------------------

    def _audit(self, connection: Connection, line: AuditLine | None) -> None:
        if line is not None:
            connection.execute(insert(AuditEntry.__table__).values(**line.row(key=self._key)))

    @staticmethod
    def _revision(connection: Connection, citizen_id: int) -> int:
        found = connection.execute(select(Citizen.revision).where(Citizen.citizen_id == int(citizen_id))).scalar()
        if found is None:
            raise errors.UnknownCitizen(errors.ERR_UNKNOWN_CITIZEN.format(citizen_id=citizen_id))
        return int(found)

    def _bump(self, connection: Connection, citizen_id: int, expected: int) -> int:
        """Take the citizen's row (the write lock) and move it to the next revision, or refuse a stale one."""
        table = Citizen.__table__
        moved = connection.execute(update(table).where(table.c.citizen_id == int(citizen_id),
                                                       table.c.revision == int(expected))
                                   .values(revision=table.c.revision + 1))
        if moved.rowcount != 1:
            current = self._revision(connection, citizen_id)
            raise errors.RevisionConflict(errors.ERR_REVISION.format(current=current, expected=expected),
                                          current=current)
        return int(expected) + 1

    def _add(self, citizen_id: int, *, revision: int, record: dict, evidence: list[dict], audit: AuditLine | None,
             duplicate: str) -> Change:
        table = CareerRecord.__table__
        try:
            with writing(self.engine) as connection, connection.begin():
                new_revision = self._bump(connection, citizen_id, revision)
                own = connection.execute(select(func.count()).select_from(table).where(
                    table.c.citizen_id == int(citizen_id), table.c.provided_by == SELF_DECLARED)).scalar()
                if own >= MAX_OWN_ENTRIES:
                    raise errors.EntryTooLarge(errors.ERR_TOO_MANY.format(limit=MAX_OWN_ENTRIES))
                taken = connection.execute(select(table.c.id).where(
                    table.c.citizen_id == int(citizen_id), table.c.entry_key == record["entry_key"])).scalar()
                if taken is not None:
                    raise errors.DuplicateEntry(duplicate)
                entry_id = connection.execute(insert(table).values(
                    citizen_id=int(citizen_id), provided_by=SELF_DECLARED, recorded_at=datetime.now(UTC), **record
                ).returning(table.c.id)).scalar_one()
                if evidence:
                    connection.execute(insert(Evidence.__table__), [
                        {"citizen_id": int(citizen_id), "source": SELF_DECLARED, "record_id": entry_id, **row}
                        for row in evidence])
                self._audit(connection, audit)
        except IntegrityError:
            raise errors.DuplicateEntry(duplicate) from None
        return Change(entry_id=int(entry_id), revision=new_revision)

    @staticmethod
    def _entries(connection: Connection, citizen_id: int) -> list[Entry]:
        table = CareerRecord.__table__
        rows = connection.execute(select(
            table.c.id, table.c.record_type, table.c.record_date, table.c.competency_uri, table.c.training_id,
            table.c.diploma_id, table.c.proficiency, table.c.test_name).where(
            table.c.citizen_id == int(citizen_id), table.c.provided_by == SELF_DECLARED).order_by(table.c.id)).all()
        return [Entry(entry_id=int(row[0]), record_type=row[1], on=row[2], competency_uri=row[3], training_id=row[4],
                      diploma_id=row[5], proficiency=row[6], test_name=row[7]) for row in rows]

    def _known_competency(self, uri: str) -> str:
        uri = str(uri).strip()
        if len(uri) > 200 or not self.taxonomy.has_competency(uri):
            raise errors.InvalidEntry(errors.ERR_UNKNOWN_COMPETENCY.format(uri=uri[:200]))
        return uri

    def _checked_date(self, on: date) -> date:
        if not isinstance(on, date):
            raise errors.InvalidEntry(f"{on!r} is not a date: give it as YYYY-MM-DD")
        on = on.date() if isinstance(on, datetime) else on
        if on > self.today:
            raise errors.InvalidEntry(errors.ERR_FUTURE.format(on=on.isoformat(), today=self.today.isoformat()))
        if on < EARLIEST:
            raise errors.InvalidEntry(errors.ERR_TOO_OLD.format(on=on.isoformat(), earliest=EARLIEST.isoformat()))
        return on

    def _need_catalogue(self, what: str) -> RecordCatalogue:
        if self.catalogue is None:
            raise errors.InvalidEntry(errors.ERR_NO_CATALOGUE.format(what=what))
        return self.catalogue


def _short(text: str, *, field: str, limit: int) -> str:
    if len(text) > limit:
        raise errors.EntryTooLarge(errors.ERR_TOO_LONG.format(field=field, length=len(text), limit=limit))
    return text


class _Snapshot:
    """The vault's tables of a few citizens where a :class:`PopulationStore` is expected (and the snapshot's
    catalogue tables, for the career data page)."""

    def __init__(self, tables: CitizenTables, *, catalogue: RecordCatalogue | None = None) -> None:
        self._tables = tables
        self._catalogue = catalogue

    def table(self, name: str):
        if name in self._tables.tables:
            return self._tables.table(name)
        if self._catalogue is None:
            raise KeyError(name)
        return self._catalogue.store.table(name)

    def derived(self, name: str, build):
        return build(self)
