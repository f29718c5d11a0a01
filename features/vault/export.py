"""`loopbaan vault export`: the data platform's view, a snapshot in the population folder format.

The citizens' tables (circumstances with their current AI choice, records, evidence — what they added included,
as evidence with source "self-declared") come from the vault; the feedback goes beside them (``feedback.parquet``,
reason codes only); every other file of the source snapshot (catalogues, outcomes, the tables the vault does not
hold, the data sheet) is copied unchanged, whatever it is. The snapshot is written to a temporary folder and
renamed into place, so an interrupted export never leaves a half-written one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select
from tqdm.auto import tqdm

from features.errors import LoopbaanError
from features.files import staged_folder
from features.population.schema import SCHEMAS
from features.population.store import MANIFEST, PopulationStore
from features.vault.database import import_status
from features.vault.importer import population_identity
from features.vault.schema import Citizen, Feedback
from features.vault.snapshot import FEEDBACK_TABLE, write_feedback
from features.vault.tables import CITIZEN_TABLES, read_citizen_tables

EXPORT_BATCH = 2_000
ERR_UNFINISHED = ("the vault's last import (run {run}) did not finish: run `loopbaan vault import` again to complete "
                  "it before exporting")
ERR_EMPTY = "the vault holds no citizens: fill it with `loopbaan vault import` first"
ERR_OTHER_SOURCE = ("{folder} is not the population this vault was imported from: export with --data pointing at "
                    "that population (its catalogues and outcomes are carried over)")


@dataclass(frozen=True)
class ExportSummary:
    folder: Path
    rows: dict[str, int]
    feedback: int


def export_snapshot(*, engine: Engine, source: PopulationStore, out: Path, batch_size: int = EXPORT_BATCH,
                    progress: bool = True) -> ExportSummary:
    status = import_status(engine)
    if status["import"] is None or status["citizens"] == 0:
        raise LoopbaanError(ERR_EMPTY)
    if status["import"]["finished_at"] is None:
        raise LoopbaanError(ERR_UNFINISHED.format(run=status["import"]["id"]))
    if status["import"]["population"] != population_identity(source):
        raise LoopbaanError(ERR_OTHER_SOURCE.format(folder=source.folder))
    out = Path(out)
    with staged_folder(out, durable=False) as staging:
        rows = _write_citizen_tables(engine, staging, batch_size=batch_size, progress=progress)
        feedback = _feedback(engine)
        write_feedback(feedback, staging)
        owned = {f"{name}.parquet" for name in CITIZEN_TABLES} | {f"{FEEDBACK_TABLE}.parquet", MANIFEST}
        for path in sorted(source.folder.iterdir()):
            if path.is_file() and path.name not in owned:
                shutil.copy2(path, staging / path.name)
        manifest = dict(source.manifest)
        manifest["rows"] = {**manifest.get("rows", {}), **rows}
        manifest["vault_export"] = {"exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                                    "source": str(source.folder), "feedback_rows": len(feedback)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return ExportSummary(folder=out, rows=rows, feedback=len(feedback))


def _write_citizen_tables(engine: Engine, folder: Path, *, batch_size: int, progress: bool) -> dict[str, int]:
    with engine.connect() as connection:
        ids = connection.execute(select(Citizen.citizen_id).order_by(Citizen.citizen_id)).scalars().all()
    writers = {name: pq.ParquetWriter(folder / f"{name}.parquet", SCHEMAS[name], compression="zstd")
               for name in CITIZEN_TABLES}
    rows = dict.fromkeys(CITIZEN_TABLES, 0)
    try:
        bar = tqdm(total=len(ids), desc="exporting citizens", unit="citizen", disable=not progress)
        for start in range(0, len(ids), batch_size):
            batch = ids[start:start + batch_size]
            with engine.connect() as connection:
                tables = read_citizen_tables(connection, batch, include_self_declared_records=False).tables
            for name in CITIZEN_TABLES:
                frame = tables[name]
                writers[name].write_table(
                    pa.Table.from_pandas(frame, preserve_index=False, schema=None).cast(SCHEMAS[name]))
                rows[name] += len(frame)
            bar.update(len(batch))
        bar.close()
    finally:
        for writer in writers.values():
            writer.close()
    return rows


def _feedback(engine: Engine) -> pd.DataFrame:
    table = Feedback.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.citizen_id, table.c.kind, table.c.item_id, table.c.reason,
                                         table.c.given_on).order_by(table.c.citizen_id, table.c.id)).all()
    return pd.DataFrame(rows, columns=["citizen_id", "kind", "item_id", "reason", "given_date"])
