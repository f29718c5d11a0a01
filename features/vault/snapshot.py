"""The feedback table of a snapshot ("niet voor mij, omdat…" as labels for training), written by
`loopbaan vault export` beside the population tables and read by :mod:`models.datasets`.

A snapshot without it (a freshly generated population) simply has no feedback. The free-text note a citizen may
add is never exported: only the citizen, the kind, the item, the reason code and the date.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import LoopbaanError

FEEDBACK_TABLE = "feedback"
FEEDBACK_SCHEMA = pa.schema([pa.field("citizen_id", pa.int64()), pa.field("kind", pa.string()),
                             pa.field("item_id", pa.string()), pa.field("reason", pa.string()),
                             pa.field("given_date", pa.date32())])
ERR_FEEDBACK_SCHEMA = ("{path} does not match the feedback schema ({problem}); export the snapshot again with "
                       "`loopbaan vault export`")


def feedback_path(folder: Path) -> Path:
    return Path(folder) / f"{FEEDBACK_TABLE}.parquet"


def write_feedback(frame: pd.DataFrame, folder: Path) -> None:
    table = pa.Table.from_pandas(frame[FEEDBACK_SCHEMA.names], preserve_index=False).cast(FEEDBACK_SCHEMA)
    pq.write_table(table, feedback_path(folder), compression="zstd")


def read_feedback(folder: Path) -> pd.DataFrame:
    """The snapshot's feedback (empty when it has none), checked against its schema."""
    path = feedback_path(folder)
    if not path.is_file():
        return FEEDBACK_SCHEMA.empty_table().to_pandas()
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise LoopbaanError(ERR_FEEDBACK_SCHEMA.format(path=path, problem=str(exc).splitlines()[0])) from None
    missing = [name for name in FEEDBACK_SCHEMA.names if name not in table.schema.names]
    if missing:
        raise LoopbaanError(ERR_FEEDBACK_SCHEMA.format(path=path, problem=f"missing columns {missing}"))
    try:
        table = table.select(FEEDBACK_SCHEMA.names).cast(FEEDBACK_SCHEMA)
    except (pa.ArrowException, ValueError) as exc:
        raise LoopbaanError(ERR_FEEDBACK_SCHEMA.format(path=path, problem=str(exc).splitlines()[0])) from None
    return table.to_pandas()
