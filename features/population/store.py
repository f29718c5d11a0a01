"""Population folders on disk: atomic writes, and reads that check every table against its schema."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
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


def read_table(folder: Path, name: str) -> pd.DataFrame:
    """Read one table, refusing a missing, corrupt or differently shaped file with a clear message."""
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
    try:
        table = pq.read_table(path, columns=expected.names)
    except (pa.ArrowException, OSError) as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=str(exc).splitlines()[0])) from None
    frame = table.to_pandas()
    for field in expected:
        if pa.types.is_integer(field.type) and table.column(field.name).null_count:
            frame[field.name] = frame[field.name].astype(f"Int{field.type.bit_width}")
    return frame


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

    def table(self, name: str) -> pd.DataFrame:
        if name not in SCHEMAS:
            raise LoopbaanError(f"unknown population table {name!r}; known tables: {', '.join(SCHEMAS)}.")
        record_read(name)
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            cache[name] = read_table(self.folder, name)
        return cache[name]

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
