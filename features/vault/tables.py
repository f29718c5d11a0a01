"""The vault's rows of some citizens as population-shaped frames (the column names and types of
:data:`features.population.schema.SCHEMAS`), so that the code that reads a population snapshot reads the vault
unchanged: :func:`features.citizens.contexts_from_store` and :class:`features.career_data.CareerRecords`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, select, type_coerce

from features.citizens import CareerIndex, career_index
from features.population.schema import SCHEMAS
from features.profiles import EVIDENCE_SOURCES
from features.taxonomy import Taxonomy
from features.vault.schema import SELF_DECLARED, CareerRecord, Citizen, ConsentChoice, Evidence

CITIZEN_TABLES = ("citizens", "work_periods", "diplomas", "training_records", "assessments", "self_declared",
                  "profiles")
_RECORD_TABLES = {  # population table → (record type, {population column: vault column})
    "work_periods": ("work_period", {"citizen_id": "citizen_id", "period_no": "period_no",
                                     "occupation_uri": "occupation_uri", "start_date": "record_date",
                                     "end_date": "end_date", "part_time": "part_time", "employer_id": "employer_id"}),
    "diplomas": ("diploma", {"citizen_id": "citizen_id", "diploma_id": "diploma_id", "level": "level",
                             "obtained_date": "record_date"}),
    "training_records": ("training", {"citizen_id": "citizen_id", "training_id": "training_id",
                                      "completed_date": "record_date"}),
    "assessments": ("assessment", {"assessment_id": "assessment_id", "citizen_id": "citizen_id",
                                   "competency_uri": "competency_uri", "proficiency": "proficiency",
                                   "assessed_date": "record_date"}),
    "self_declared": ("competency", {"citizen_id": "citizen_id", "competency_uri": "competency_uri",
                                     "declared_date": "record_date"}),
}
RECORD_TABLE_OF = {record_type: table for table, (record_type, _) in _RECORD_TABLES.items()}
EVIDENCE_COLUMNS = {"citizen_id": "citizen_id", "competency_uri": "competency_uri", "source": "source",
                    "source_ref": "source_ref", "evidence_date": "evidence_date", "proficiency": "proficiency"}
CITIZEN_COLUMNS = tuple(SCHEMAS["citizens"].names)
_INDEX_CITIZEN_COLUMNS = ("citizen_id", "education", "lat", "lon", "max_commute_km", "dutch_level", "driving_licence",
                          "care_duties", "prefers_part_time")


def _typed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Columns in schema order with the dtypes a population read gives (nullable integers where values are missing)."""
    schema = SCHEMAS[name]
    frame = frame.reset_index(drop=True)
    out = {}
    for field in schema:
        column = frame[field.name]
        kind = field.type
        if str(kind).startswith("int"):
            out[field.name] = column.astype("Int" + str(kind)[3:]) if column.isna().any() else column.astype(str(kind))
        elif str(kind) == "bool":
            out[field.name] = column.astype(bool)
        elif str(kind) in ("float", "double"):
            out[field.name] = column.astype("float32" if str(kind) == "float" else "float64")
        elif str(kind) == "string":
            out[field.name] = column.astype("str")
        else:
            out[field.name] = column
    return pd.DataFrame(out)


@dataclass(frozen=True)
class CitizenTables:
    """Population-shaped tables of the vault's citizens; ``records`` also holds what the citizen added."""

    tables: dict[str, pd.DataFrame]

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def read_citizen_tables(connection: Connection, citizen_ids: Sequence[int], *, include_self_declared_records: bool,
                        ) -> CitizenTables:
    """The tables of ``citizen_ids`` (each once, in id order).

    ``include_self_declared_records``: also the diplomas, trainings and tests the citizen added (the citizen's own
    page shows them); the data platform's export leaves them out of the record tables (their competencies are in
    ``profiles`` as self-declared evidence either way).
    """
    ids = sorted({int(citizen_id) for citizen_id in citizen_ids})
    citizen = Citizen.__table__
    citizens = pd.DataFrame(connection.execute(
        select(*(citizen.c[name] for name in CITIZEN_COLUMNS)).where(citizen.c.citizen_id.in_(ids))
        .order_by(citizen.c.citizen_id)).all(), columns=list(CITIZEN_COLUMNS))
    choices = _latest_choices(connection, ids)
    if choices:
        citizens["ai_opt_out"] = [choices.get(int(cid), default)
                                  for cid, default in zip(citizens["citizen_id"], citizens["ai_opt_out"], strict=True)]
    record = CareerRecord.__table__
    records = pd.DataFrame(connection.execute(
        select(record).where(record.c.citizen_id.in_(ids)).order_by(record.c.citizen_id, record.c.id)).all(),
        columns=[column.name for column in record.columns])
    evidence_table = Evidence.__table__
    evidence = pd.DataFrame(connection.execute(
        select(*(evidence_table.c[name] for name in EVIDENCE_COLUMNS.values()))
        .where(evidence_table.c.citizen_id.in_(ids)).order_by(evidence_table.c.citizen_id, evidence_table.c.id)
    ).all(), columns=list(EVIDENCE_COLUMNS))
    return CitizenTables(tables=population_frames(citizens=citizens, records=records, evidence=evidence,
                                                  include_self_declared_records=include_self_declared_records))


def _latest_choices(connection: Connection, ids: list[int]) -> dict[int, bool]:
    choice = ConsentChoice.__table__
    rows = connection.execute(select(choice.c.citizen_id, choice.c.opted_out).where(choice.c.citizen_id.in_(ids))
                              .order_by(choice.c.id)).all()
    return {int(citizen_id): bool(opted_out) for citizen_id, opted_out in rows}


def population_frames(*, citizens: pd.DataFrame, records: pd.DataFrame, evidence: pd.DataFrame,
                      include_self_declared_records: bool) -> dict[str, pd.DataFrame]:
    frames = {"citizens": _typed(citizens, "citizens")}
    for name, (record_type, columns) in _RECORD_TABLES.items():
        rows = records[records["record_type"] == record_type]
        if not include_self_declared_records and record_type != "competency":
            rows = rows[rows["provided_by"] != SELF_DECLARED]
        frames[name] = _typed(rows[list(columns.values())].set_axis(list(columns), axis=1), name)
    profiles = _typed(evidence, "profiles")
    profiles["source"] = pd.Categorical(evidence["source"], categories=EVIDENCE_SOURCES)
    profiles["competency_uri"] = profiles["competency_uri"].astype("category")
    proficiency = pd.to_numeric(evidence["proficiency"], errors="coerce")
    profiles["proficiency"] = proficiency.astype("Int8")
    frames["profiles"] = profiles
    return frames


@dataclass(frozen=True)
class Positions:
    """Taxonomy column of each competency URI and position of each occupation URI (dicts: the per-request path
    looks up a hundred URIs, where building a pandas index for them would cost more than the query)."""

    competency: dict[str, int]
    occupation: dict[str, int]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> Positions:
        return cls(competency={uri: column for column, uri in enumerate(taxonomy.competency_index)},
                   occupation={uri: position for position, uri in enumerate(taxonomy.occupation_index)})


def read_career_index(connection: Connection, citizen_ids: Sequence[int], *, positions: Positions) -> CareerIndex:
    """The :class:`~features.citizens.CareerIndex` of these citizens straight from the vault's rows (no frames:
    this is the per-request path)."""
    ids = [int(citizen_id) for citizen_id in citizen_ids]
    citizen, record, evidence = Citizen.__table__, CareerRecord.__table__, Evidence.__table__
    people = connection.execute(select(*(citizen.c[name] for name in _INDEX_CITIZEN_COLUMNS))
                                .where(citizen.c.citizen_id.in_(ids))).all()
    periods = connection.execute(select(
        record.c.citizen_id, type_coerce(record.c.record_date, String), type_coerce(record.c.end_date, String),
        record.c.occupation_uri).where(record.c.citizen_id.in_(ids), record.c.record_type == "work_period")).all()
    pieces = connection.execute(select(
        evidence.c.citizen_id, type_coerce(evidence.c.evidence_date, String), evidence.c.competency_uri)
        .where(evidence.c.citizen_id.in_(ids))).all()
    people_columns = list(zip(*people, strict=True)) or [()] * len(_INDEX_CITIZEN_COLUMNS)
    period_columns = list(zip(*periods, strict=True)) or [()] * 4
    piece_columns = list(zip(*pieces, strict=True)) or [()] * 3
    return career_index(
        citizens={name: np.asarray(values) for name, values in zip(_INDEX_CITIZEN_COLUMNS, people_columns,
                                                                    strict=True)},
        evidence_citizens=np.asarray(piece_columns[0], dtype=np.int64),
        evidence_dates=np.asarray(piece_columns[1], dtype="datetime64[D]"),
        evidence_columns=np.fromiter((positions.competency.get(uri, -1) for uri in piece_columns[2]), dtype=np.int64,
                                     count=len(piece_columns[2])),
        period_citizens=np.asarray(period_columns[0], dtype=np.int64),
        period_start=np.asarray(period_columns[1], dtype="datetime64[D]"),
        period_end=np.asarray([value if value is not None else "NaT" for value in period_columns[2]],
                              dtype="datetime64[D]"),
        period_occupation=np.fromiter((positions.occupation.get(uri, -1) for uri in period_columns[3]),
                                      dtype=np.int64, count=len(period_columns[3])),
    )
