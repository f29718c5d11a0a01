"""Where and how stored batches lie on disk: the one definition that the writer (:mod:`models.batch_write`) and
the reader (:mod:`models.batch_read`) share.

Layout of one kind's batches under ``out`` (default ``<home>/batches``)::

    <out>/<kind>/.lock                       held (flock) by the run writing here; released when it ends or dies
    <out>/<kind>/<batch id>/plan.json        written first: what the run computes (model, population, options)
    <out>/<kind>/<batch id>/labels-*.parquet item ids and titles, competency labels, bridging trainings (nl + en)
    <out>/<kind>/<batch id>/part-00000.parquet ...   one file per partition, citizens in id order
    <out>/<kind>/<batch id>/manifest.json    written last: the batch is complete, with the index of every file

Folder rules: a batch folder with a manifest is **complete** (the only kind a reader serves); one with a plan and
no manifest is **partial** (being written, or a crashed run's result that the next run with the same plan
resumes); an empty one named ``<kind>-…`` belongs to a run that died before writing its plan. The plan and the
manifest carry the format number :data:`FORMAT`: a batch of another format is never served or resumed.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import ERR_UNKNOWN_KIND, KINDS

FORMAT = 3  # 2: each row says which fairness guarantees moved it up; 3: each competency label says which language
# it is in (batches of an older format are not served)
PLAN = "plan.json"
MANIFEST = "manifest.json"
LOCK = ".lock"
PARTITIONS = "part-*.parquet"  # every partition file of a batch folder (see partition_file)
LABEL_TABLES = ("items", "competencies", "trainings")
PARTITION_METADATA_KEY = b"loopbaan.batch"  # a partition file's header, in its Parquet schema metadata
MOVED_SEPARATOR = "+"  # joins the guarantees in a row's "moved" column

ERR_BAD_PLAN = "the partial batch plan {path} is unreadable ({reason}); pass --discard-partial to start afresh"


def new_batch_id(kind: str) -> str:
    return f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def batch_root(settings: Settings, out: Path | None = None) -> Path:
    return Path(out) if out is not None else settings.batch_dir


def kind_folder(out: Path, kind: str) -> Path:
    if kind not in KINDS:
        raise LoopbaanError(ERR_UNKNOWN_KIND.format(kind=kind))
    return Path(out) / kind


def partition_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


def labels_file(table: str) -> str:
    """The file of one of :data:`LABEL_TABLES`."""
    return f"labels-{table}.parquet"


def is_complete(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def is_partial(folder: Path) -> bool:
    return folder.is_dir() and (folder / PLAN).is_file() and not is_complete(folder)


def is_batch_folder(child: Path, kind: str) -> bool:
    """A batch folder: with a plan or a manifest, or (a run that died before writing its plan) named like one."""
    return child.is_dir() and ((child / PLAN).is_file() or is_complete(child)
                               or (child.name.startswith(f"{kind}-") and not any(child.iterdir())))


def read_batch_json(path: Path, error: str) -> dict:
    """A plan or manifest of this format; ``error`` (with ``path`` and ``reason``) when unreadable or of another."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoopbaanError(error.format(path=path, reason=exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LoopbaanError(error.format(path=path, reason=f"not a format-{FORMAT} loopbaan batch file"))
    return data


def read_plan(folder: Path) -> dict:
    return read_batch_json(folder / PLAN, ERR_BAD_PLAN)
