"""Population folders on disk: atomic writes, and reads that check every table against its schema (a whole table,
or some of its columns for a range of citizen ids). Every read of a population table goes through here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.files import staged_folder
from features.population.schema import SCHEMAS, comparable
from features.reads import record_read

MANIFEST = "manifest.json"
DATASHEET = "datasheet.md"

ERR_NO_POPULATION = "no population at {folder}; create one with `loopbaan data generate --citizens N --out {folder}`."
ERR_MISSING_TABLE = "population table {path} is missing; regenerate the population with `loopbaan data generate`."
ERR_UNREADABLE = "population table {path} is not readable Parquet ({reason}); regenerate it with `loopbaan data generate`."
ERR_SCHEMA = (
    "population table {path} does not match its schema ({problem}); it was written by another version "
    "or edited by hand: regenerate it with `loopbaan data generate`."
)
ERR_NOT_A_POPULATION = (
    "{folder} exists and is not a loopbaan population folder; choose another --out or remove it first."
)
ERR_UNKNOWN_TABLE = "unknown population table {name!r}; known tables: {known}."
ERR_UNKNOWN_COLUMNS = "population table {name!r} has no columns {columns}; read only the columns of its schema."
ERR_BAD_MANIFEST = "{path} is not a valid population manifest ({reason}); regenerate the population."


def write_population(*, tables: Mapping[str, pd.DataFrame], out: Path, manifest: dict, datasheet: str) -> None:
    """Write all tables, the manifest and the data sheet to a temporary folder, then swap it in place of ``out``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise LoopbaanError(ERR_NOT_A_POPULATION.format(folder=out))
    with staged_folder(out, durable=False) as staging:
        for name, schema in SCHEMAS.items():
            frame = tables[name]
            table = pa.Table.from_pandas(frame[schema.names], preserve_index=False).cast(schema)
            pq.write_table(table, staging / f"{name}.parquet", compression="zstd")
        rows = {name: len(tables[name]) for name in SCHEMAS}
        (staging / MANIFEST).write_text(json.dumps({**manifest, "rows": rows}, indent=2, default=str) + "\n",
                                        encoding="utf-8")
        (staging / DATASHEET).write_text(datasheet, encoding="utf-8")


def check_schema(folder: Path, name: str) -> Path:
    """The path of one table, refusing a missing, corrupt or differently shaped file with a clear message."""
    path = Path(folder) / f"{name}.parquet"
    if not path.is_file():
        if not (Path(folder) / MANIFEST).is_file():
            raise LoopbaanError(ERR_NO_POPULATION.format(folder=folder))
        raise LoopbaanError(ERR_MISSING_TABLE.format(path=path))
    expected = SCHEMAS[name]
    try:
        found = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=str(exc).splitlines()[0])) from None
    missing = [field for field in expected.names if field not in found.names]
    if missing:
        raise LoopbaanError(ERR_SCHEMA.format(path=path, problem=f"missing columns {missing}"))
    for field in expected:
        actual = found.field(field.name).type
        if comparable(actual) != comparable(field.type):
            problem = f"column {field.name!r} is {actual}, expected {field.type}"
            raise LoopbaanError(ERR_SCHEMA.format(path=path, problem=problem))
    return path


def read_table(folder: Path, name: str, *, columns: Sequence[str] | None = None,
               citizens: tuple[int, int] | None = None) -> pd.DataFrame:
    """Read one table (checked by :func:`check_schema`): every column of its schema, or ``columns`` in that order;
    every row, or those of the citizens with ids in ``citizens`` = (first, last), both included (the tables are
    sorted by citizen id, so Parquet's row-group statistics let the reader skip the rest)."""
    path = check_schema(folder, name)
    expected = SCHEMAS[name]
    unknown = [column for column in columns or () if column not in expected.names]
    if unknown:
        raise LoopbaanError(ERR_UNKNOWN_COLUMNS.format(name=name, columns=unknown))
    filters = None if citizens is None else [("citizen_id", ">=", int(citizens[0])),
                                              ("citizen_id", "<=", int(citizens[1]))]
    try:
        table = pq.read_table(path, columns=list(columns or expected.names), filters=filters)
    except (pa.ArrowException, OSError) as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=str(exc).splitlines()[0])) from None
    frame = table.to_pandas()
    for column in table.column_names:
        dtype = expected.field(column).type
        if pa.types.is_integer(dtype) and table.column(column).null_count:
            frame[column] = frame[column].astype(f"Int{dtype.bit_width}")
    return frame


def _known(name: str) -> str:
    if name not in SCHEMAS:
        raise LoopbaanError(ERR_UNKNOWN_TABLE.format(name=name, known=", ".join(SCHEMAS)))
    return name


class PopulationStore:
    """A population folder; tables are read (and checked) on first use and then kept."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        if not (self.folder / MANIFEST).is_file():
            raise LoopbaanError(ERR_NO_POPULATION.format(folder=self.folder))

    @cached_property
    def manifest(self) -> dict:
        path = self.folder / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LoopbaanError(ERR_BAD_MANIFEST.format(path=path, reason=exc)) from None
        if not isinstance(manifest, dict) or "config" not in manifest:
            raise LoopbaanError(ERR_BAD_MANIFEST.format(path=path, reason="no 'config' entry"))
        return manifest

    def table(self, name: str, *, columns: Sequence[str] | None = None,
              citizens: tuple[int, int] | None = None) -> pd.DataFrame:
        """One table, read on first use and then kept; with ``columns`` or ``citizens`` (first, last id) only
        those columns or those citizens' rows (see :func:`read_table`), read each time and not kept: the caller
        keeps what it needs."""
        _known(name)
        record_read(name)
        if columns is not None or citizens is not None:
            return read_table(self.folder, name, columns=columns, citizens=citizens)
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            cache[name] = read_table(self.folder, name)
        return cache[name]

    def check_schema(self, name: str) -> None:
        """Refuse a missing, corrupt or differently shaped table before any work (reads its footer only)."""
        check_schema(self.folder, _known(name))

    def derived(self, name: str, build):
        """A value derived from the tables (an index, a lookup), built once per store by ``build(store)``."""
        cache = self.__dict__.setdefault("_derived", {})
        if name not in cache:
            cache[name] = build(self)
        return cache[name]

    def digest(self) -> str:
        """SHA-256 over every table file: the dataset identity logged with each model run."""
        total = hashlib.sha256()
        for name in sorted(SCHEMAS):
            path = self.folder / f"{name}.parquet"
            total.update(name.encode())
            total.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
        return total.hexdigest()

    def check(self) -> dict[str, int]:
        """Read every table (validating its schema) and return the row counts."""
        return {name: len(self.table(name)) for name in SCHEMAS}
