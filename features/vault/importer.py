"""`loopbaan vault import`: a population folder into the vault, in whole-citizen batches.

Each batch of citizens is one transaction (their circumstances, records and evidence, all or nothing), so a
killed import leaves only whole citizens behind; the import run is marked finished only when every citizen is in.
A rerun skips the citizens already there (whatever they changed since) and completes the run: the import is
idempotent. Sensitive attributes are not read: the vault holds none.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select, text, update
from tqdm.auto import tqdm

from features.population.store import MANIFEST, PopulationStore
from features.vault import errors
from features.vault.database import open_engine, writing
from features.vault.schema import SELF_DECLARED, CareerRecord, Citizen, Evidence, ImportRun, VaultMeta
from features.vault.store import REFERENCE_DATE
from features.vault.tables import _RECORD_TABLES, CITIZEN_COLUMNS, EVIDENCE_COLUMNS

DEFAULT_BATCH = 500
POPULATION = "population"
IMPORTED_PROVIDER = {"work_period": "authentic", "diploma": "authentic", "training": "partner",
                   "assessment": "guidance", "competency": SELF_DECLARED}
_RECORD_COLUMNS = ("citizen_id", "record_type", "provided_by", "record_date", "end_date", "period_no", "occupation_uri",
                   "part_time", "employer_id", "diploma_id", "level", "training_id", "assessment_id", "competency_uri",
                   "proficiency", "entry_key")
_INTEGER_COLUMNS = ("citizen_id", "period_no", "employer_id", "diploma_id", "training_id", "assessment_id",
                    "proficiency")


@dataclass(frozen=True)
class ImportSummary:
    run_id: int
    total: int  # citizens in the population
    imported: int  # by this run
    already_there: int
    seconds: float


def population_identity(store: PopulationStore) -> str:
    return hashlib.sha256((store.folder / MANIFEST).read_bytes()).hexdigest()


def _python(values: pd.Series, *, sqlite: bool) -> list:
    """A column as plain Python values for the driver (None where missing; ISO dates for SQLite)."""
    if values.dtype == object:
        if sqlite:
            return [None if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))
                    else value.isoformat() if isinstance(value, date) else value for value in values.tolist()]
        return [None if value is pd.NaT or (isinstance(value, float) and np.isnan(value)) else value
                for value in values.tolist()]
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(str)
    if values.hasnans:
        return [None if pd.isna(value) else value for value in values.astype(object).tolist()]
    return values.tolist()


def _bulk(connection: Connection, table: str, columns: tuple[str, ...], frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    sqlite = connection.dialect.name == "sqlite"
    rows = list(zip(*(_python(frame[column], sqlite=sqlite) for column in columns), strict=True))
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()
        with cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _records(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every record of these citizens in the vault's shape, by citizen, in each table's order."""
    parts = []
    for name, (record_type, columns) in _RECORD_TABLES.items():
        frame = tables[name].rename(columns={population: vault for population, vault in columns.items()})
        frame = frame[list(columns.values())].assign(record_type=record_type,
                                                     provided_by=IMPORTED_PROVIDER[record_type])
        if record_type == "competency":
            frame["entry_key"] = "competency:" + frame["competency_uri"].astype(str)
        parts.append(frame)
    records = pd.concat(parts, ignore_index=True)
    for column in _RECORD_COLUMNS:
        if column not in records:
            records[column] = None
    for column in _INTEGER_COLUMNS:
        records[column] = records[column].astype("Int64")
    order = np.argsort(records["citizen_id"].to_numpy(), kind="stable")
    return records.iloc[order].reset_index(drop=True)


class _Slices:
    """The population's citizen tables sorted by citizen, sliced per batch of citizens."""

    def __init__(self, store: PopulationStore) -> None:
        self.tables = {}
        for name in ("citizens", "profiles", *_RECORD_TABLES):
            frame = store.table(name)
            order = np.argsort(frame["citizen_id"].to_numpy(), kind="stable")
            self.tables[name] = frame.iloc[order].reset_index(drop=True)
        self._ids = {name: frame["citizen_id"].to_numpy() for name, frame in self.tables.items()}

    def batch(self, first: int, last: int, keep: np.ndarray) -> dict[str, pd.DataFrame]:
        out = {}
        for name, frame in self.tables.items():
            start, stop = np.searchsorted(self._ids[name], [first, last + 1])
            part = frame.iloc[start:stop]
            out[name] = part[np.isin(part["citizen_id"].to_numpy(), keep)]
        return out


def _start_run(connection: Connection, store: PopulationStore, identity: str, total: int, *,
               nothing_to_do: bool) -> int:
    """The open run of this population to complete, else a new one (else, with nothing to do, the finished one)."""
    meta = {row.key: row.value for row in connection.execute(select(VaultMeta.key, VaultMeta.value))}
    if meta.get(POPULATION, identity) != identity:
        raise errors.LoopbaanError(errors.ERR_OTHER_POPULATION.format(
            url=connection.engine.url.render_as_string(hide_password=True), found=meta[POPULATION][:12]))
    wanted = {POPULATION: identity, REFERENCE_DATE: str(store.manifest["config"]["as_of"]),
              "taxonomy": str(store.manifest.get("taxonomy", ""))}
    for key, value in wanted.items():
        if key not in meta:
            connection.execute(insert(VaultMeta.__table__).values(key=key, value=value))
    run = ImportRun.__table__
    open_run = connection.execute(select(run.c.id).where(run.c.population == identity, run.c.finished_at.is_(None))
                                  .order_by(run.c.id.desc()).limit(1)).scalar()
    if open_run is not None:
        return int(open_run)
    finished = connection.execute(select(run.c.id).where(run.c.population == identity).order_by(run.c.id.desc())
                                  .limit(1)).scalar()
    if nothing_to_do and finished is not None:
        return int(finished)
    return int(connection.execute(insert(run).values(
        population=identity, folder=str(store.folder), citizens_total=total, started_at=datetime.now(UTC)
    ).returning(run.c.id)).scalar_one())


def import_population(*, engine: Engine, store: PopulationStore, batch_size: int = DEFAULT_BATCH,
                      progress: bool = True) -> ImportSummary:
    """Load ``store``'s citizens into the vault on ``engine`` (see the module docstring)."""
    started = time.perf_counter()
    identity = population_identity(store)
    slices = _Slices(store)
    citizen_ids = slices.tables["citizens"]["citizen_id"].to_numpy()
    with engine.connect() as connection:
        present = np.array(connection.execute(select(Citizen.citizen_id)).scalars().all(), dtype=np.int64)
    todo = citizen_ids[~np.isin(citizen_ids, present)]
    with writing(engine) as connection, connection.begin():
        run_id = _start_run(connection, store, identity, len(citizen_ids), nothing_to_do=not len(todo))
    bar = tqdm(total=len(todo), desc="importing citizens", unit="citizen", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        tables = slices.batch(int(batch[0]), int(batch[-1]), batch)
        with writing(engine) as connection, connection.begin():
            _write_batch(connection, tables, run_id=run_id)
        bar.update(len(batch))
    bar.close()
    with writing(engine) as connection, connection.begin():
        run = ImportRun.__table__
        connection.execute(update(run).where(run.c.id == run_id, run.c.finished_at.is_(None))
                           .values(finished_at=datetime.now(UTC)))
    return ImportSummary(run_id=run_id, total=len(citizen_ids), imported=len(todo),
                         already_there=len(citizen_ids) - len(todo), seconds=time.perf_counter() - started)


def import_population_into(url: str, store: PopulationStore, *, batch_size: int = DEFAULT_BATCH,
                           progress: bool = True) -> ImportSummary:
    """:func:`import_population` into the vault at ``url``, on an engine of its own."""
    engine = open_engine(url)
    try:
        return import_population(engine=engine, store=store, batch_size=batch_size, progress=progress)
    finally:
        engine.dispose()


def _write_batch(connection: Connection, tables: dict[str, pd.DataFrame], *, run_id: int) -> None:
    citizens = tables["citizens"][list(CITIZEN_COLUMNS)].assign(revision=0, import_run=run_id)
    _bulk(connection, Citizen.__tablename__, (*CITIZEN_COLUMNS, "revision", "import_run"), citizens)
    _bulk(connection, CareerRecord.__tablename__, _RECORD_COLUMNS, _records(tables))
    evidence = tables["profiles"].rename(columns=EVIDENCE_COLUMNS)
    _bulk(connection, Evidence.__tablename__, tuple(EVIDENCE_COLUMNS.values()), evidence)
    ids = tables["citizens"]["citizen_id"]
    # What the citizen declared themselves stays linked to its record, so that they can remove it.
    connection.execute(text(
        "UPDATE competency_evidence SET record_id = (SELECT r.id FROM career_records r "
        "WHERE r.citizen_id = competency_evidence.citizen_id "
        "AND r.entry_key = 'competency:' || competency_evidence.competency_uri) "
        "WHERE citizen_id BETWEEN :first AND :last AND source = :source AND record_id IS NULL"),
        {"first": int(ids.min()), "last": int(ids.max()), "source": SELF_DECLARED})
