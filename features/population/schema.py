"""Arrow schemas of the population tables: written exactly so, checked on every read."""

from __future__ import annotations

import pyarrow as pa

_ID = pa.int64()
_URI = pa.string()
_DATE = pa.date32()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, dtype) for name, dtype in fields])


SCHEMAS: dict[str, pa.Schema] = {
    "citizens": _schema(
        ("citizen_id", _ID), ("municipality", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("education", pa.string()), ("dutch_level", pa.int8()), ("driving_licence", pa.bool_()),
        ("care_duties", pa.bool_()), ("prefers_part_time", pa.bool_()), ("max_commute_km", pa.float32()),
        ("status", pa.string()), ("ai_opt_out", pa.bool_()),
    ),
    # Sensitive attributes: read by assessments/ only, never a model input.
    "sensitive": _schema(
        ("citizen_id", _ID), ("gender", pa.string()), ("birth_year", pa.int16()), ("age_band", pa.string()),
        ("origin", pa.string()), ("disability", pa.bool_()), ("province", pa.string()),
    ),
    "work_periods": _schema(
        ("citizen_id", _ID), ("period_no", pa.int8()), ("occupation_uri", _URI), ("start_date", _DATE),
        ("end_date", _DATE), ("part_time", pa.bool_()), ("employer_id", _ID),
    ),
    "diplomas": _schema(("citizen_id", _ID), ("diploma_id", _ID), ("level", pa.string()), ("obtained_date", _DATE)),
    "training_records": _schema(("citizen_id", _ID), ("training_id", _ID), ("completed_date", _DATE)),
    "assessments": _schema(
        ("assessment_id", _ID), ("citizen_id", _ID), ("competency_uri", _URI), ("proficiency", pa.int8()),
        ("assessed_date", _DATE),
    ),
    "self_declared": _schema(("citizen_id", _ID), ("competency_uri", _URI), ("declared_date", _DATE)),
    "profiles": _schema(
        ("citizen_id", _ID), ("competency_uri", pa.dictionary(pa.int32(), pa.string())),
        ("source", pa.dictionary(pa.int8(), pa.string())), ("source_ref", pa.string()),
        ("evidence_date", _DATE), ("proficiency", pa.int8()),
    ),
    "diploma_catalogue": _schema(
        ("diploma_id", _ID), ("field", pa.string()), ("level", pa.string()), ("title_nl", pa.string()),
        ("title_en", pa.string()),
    ),
    "diploma_competencies": _schema(("diploma_id", _ID), ("competency_uri", _URI)),
    "trainings": _schema(
        ("training_id", _ID), ("title_nl", pa.string()), ("title_en", pa.string()),
        ("anchor_occupation_uri", _URI), ("format", pa.string()), ("provider", pa.string()),
        ("duration_hours", pa.float32()), ("municipality", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("dutch_level_required", pa.int8()),
    ),
    "training_competencies": _schema(("training_id", _ID), ("competency_uri", _URI)),
    "vacancies": _schema(
        ("vacancy_id", _ID), ("occupation_uri", _URI), ("title_nl", pa.string()), ("title_en", pa.string()),
        ("municipality", pa.string()), ("province", pa.string()), ("lat", pa.float64()), ("lon", pa.float64()),
        ("education_required", pa.string()), ("dutch_level_required", pa.int8()),
        ("driving_licence_required", pa.bool_()), ("full_time", pa.bool_()), ("irregular_hours", pa.bool_()),
        ("contract", pa.string()), ("quality", pa.float32()), ("posted_date", _DATE),
    ),
    "vacancy_competencies": _schema(("vacancy_id", _ID), ("competency_uri", _URI), ("relation", pa.string())),
    "job_outcomes": _schema(
        ("citizen_id", _ID), ("vacancy_id", _ID), ("position", pa.int16()), ("shown_date", _DATE),
        ("applied", pa.bool_()), ("hired", pa.bool_()),
    ),
    "training_outcomes": _schema(
        ("citizen_id", _ID), ("training_id", _ID), ("position", pa.int16()), ("shown_date", _DATE),
        ("enrolled", pa.bool_()), ("completed", pa.bool_()),
    ),
    "transitions": _schema(
        ("citizen_id", _ID), ("from_occupation_uri", _URI), ("to_occupation_uri", _URI), ("transition_date", _DATE),
    ),
}
SENSITIVE_TABLE = "sensitive"
SENSITIVE_COLUMNS = tuple(name for name in SCHEMAS[SENSITIVE_TABLE].names if name != "citizen_id")


def comparable(dtype: pa.DataType) -> pa.DataType:
    """The type a reader cares about: dictionary encoding and string width do not matter."""
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    if pa.types.is_large_string(dtype):
        return pa.string()
    return dtype
