"""Writing stored batches: Parquet partitions by citizen, the labels, a manifest committed last, resume, pruning.

The files and folder rules are those of :mod:`models.batch_layout`; :mod:`models.batch_read` reads them.

- **rows** — :class:`PartitionRecords` (numbers only: feature values, contributions, competency columns,
  training positions; the reader renders the words) and :func:`write_partition`, one file in row groups of
  whole citizens;
- **labels** — :func:`write_labels`: item titles, competency labels, bridging trainings in every language;
- **a batch** — :func:`open_batch` holds the kind's folder for one run (a lock) and gives a :class:`BatchWriter`:
  a new batch folder with its plan, or the partial batch of a crashed run with the same plan (resumed);
  :meth:`BatchWriter.commit` writes the manifest and removes the oldest complete batches beyond ``keep``.

A partition file is written under a temporary name and renamed, so it exists whole or not at all; the manifest
is written the same way, after every partition, so a batch without one is never read.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.files import PARTIAL, write_atomic
from features.vocabulary import LANGUAGES
from models.batch_layout import (
    FORMAT,
    LOCK,
    MANIFEST,
    PARTITION_METADATA_KEY,
    PARTITIONS,
    PLAN,
    is_batch_folder,
    is_complete,
    is_partial,
    kind_folder,
    labels_file,
    new_batch_id,
    partition_file,
    read_plan,
)
from models.batch_read import BatchInfo, read_manifest
from models.suggest import SuggestionLabels

ROW_GROUP_CITIZENS = 256  # citizens per Parquet row group: reading one citizen reads one small group
KEEP_BATCHES = 3  # complete batches kept per kind (the newest); older ones are removed after a commit

ERR_OTHER_PARTIAL = (
    "{folder} holds the partial batch {batch_id} of another run ({reason}); resume it by running with the same "
    "model and options, or pass --discard-partial to delete it (or choose another --out)")
ERR_BUSY = ("another batch run is writing {kind} suggestions to {folder} right now; wait for it to finish or choose "
            "another --out")
ERR_NOT_BATCH_FOLDER = ("{folder} holds files that are not loopbaan batches ({names}); choose another --out or "
                        "remove them")
ERR_INCOMPLETE = "batch {batch_id} is missing partitions; rerun the same command to complete it"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1) + "\n", durable=False)


# -- the rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ragged:
    """Lists of varying length as CSR: the values of list i are ``values[offsets[i]:offsets[i + 1]]``."""

    offsets: np.ndarray
    values: np.ndarray

    def arrow(self, value_type: pa.DataType) -> pa.ListArray:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), pa.array(self.values, value_type))


@dataclass(frozen=True)
class PartitionRecords:
    """One partition's suggestions, one row per (citizen, rank), citizens in id order, best first."""

    citizen_ids: np.ndarray
    ranks: np.ndarray
    items: np.ndarray  # catalogue positions
    item_ids: np.ndarray  # str
    scores: np.ndarray
    readiness: np.ndarray  # str
    values: np.ndarray  # rows × features (the manifest's feature order)
    contributions: np.ndarray  # rows × (features + 1): per feature, then the base value
    matched: Ragged  # competency columns per row
    missing: Ragged
    bridging: Ragged  # training positions per row
    covers: Ragged  # competency columns per bridging training (indexed like bridging.values)
    moved: np.ndarray  # str per row: the guarantees that moved it up, joined by MOVED_SEPARATOR ("" by score)


def _matrix_lists(matrix: np.ndarray) -> pa.ListArray:
    rows, width = matrix.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(rows + 1, dtype=np.int32) * width, pa.int32()),
                                    pa.array(np.ascontiguousarray(matrix).ravel(), pa.float64()))


def partition_table(records: PartitionRecords, *, header: dict) -> pa.Table:
    rows = len(records.citizen_ids)
    constant = {name: pa.array(np.full(rows, str(header[key]), dtype=object), pa.string()).dictionary_encode()
                for name, key in (("batch_id", "batch_id"), ("model_version", "model_version"),
                                  ("model_run_id", "run_id"))}
    covers = pa.ListArray.from_arrays(pa.array(records.bridging.offsets, pa.int32()),
                                      records.covers.arrow(pa.int32()))
    return pa.table({
        "citizen_id": pa.array(records.citizen_ids, pa.int64()),
        "rank": pa.array(records.ranks, pa.int16()),
        "item": pa.array(records.items, pa.int32()),
        "item_id": pa.array(records.item_ids, pa.string()),
        "score": pa.array(records.scores, pa.float64()),
        "readiness": pa.array(records.readiness, pa.string()).dictionary_encode(),
        "values": _matrix_lists(records.values),
        "contributions": _matrix_lists(records.contributions),
        "matched": records.matched.arrow(pa.int32()),
        "missing": records.missing.arrow(pa.int32()),
        "bridging": records.bridging.arrow(pa.int32()),
        "bridging_covers": covers,
        "moved": pa.array(records.moved, pa.string()).dictionary_encode(),
        **constant,
    })


def write_partition(directory: Path, index: int, records: PartitionRecords, *, header: dict) -> dict:
    """Write one partition (temporary name, then rename) in row groups of whole citizens; return its index entry.

    Idempotent: a partition computed twice (a retried task) is written twice with the same content and name.
    """
    directory = Path(directory)
    table = partition_table(records, header=header)
    citizens = records.citizen_ids
    starts = np.flatnonzero(np.r_[True, citizens[1:] != citizens[:-1]]) if len(citizens) else np.zeros(0, np.int64)
    group_starts = starts[::ROW_GROUP_CITIZENS]
    bounds = np.r_[group_starts, len(citizens)].astype(np.int64)
    entry = {"index": index, "file": partition_file(index), "citizens": len(starts), "rows": len(citizens),
             "first": int(citizens[0]) if len(citizens) else None,
             "last": int(citizens[-1]) if len(citizens) else None,
             "row_groups": [int(citizens[start]) for start in group_starts]}
    schema = table.schema.with_metadata({PARTITION_METADATA_KEY: json.dumps({**header, "partition": entry}).encode()})

    def write(handle: BinaryIO) -> None:
        with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
            for start, stop in pairwise(bounds):
                writer.write_table(table.slice(start, stop - start), row_group_size=int(stop - start))
            if not len(group_starts):
                writer.write_table(table)

    write_atomic(directory / entry["file"], write, durable=False)
    return entry


def partition_header(path: Path) -> dict | None:
    """The header a partition file was written with (None when the file is unreadable)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata[PARTITION_METADATA_KEY])
    except (pa.ArrowException, OSError, KeyError, ValueError):
        return None


# -- labels -----------------------------------------------------------------------------------------------------


def _strings(values) -> pa.Array:
    return pa.array([str(value) for value in values], pa.string())


def write_labels(directory: Path, labels: SuggestionLabels) -> None:
    tables = {
        "items": pa.table({"item_id": _strings(labels.item_ids),
                           **{f"title_{language}": _strings(labels.item_titles[language]) for language in LANGUAGES}}),
        "competencies": pa.table({"uri": _strings(labels.competency_uris),
                                  **{f"label_{language}": _strings(labels.competency_labels[language])
                                     for language in LANGUAGES},
                                  **{f"label_lang_{language}": _strings(labels.competency_label_langs[language])
                                     for language in LANGUAGES}}),
        "trainings": pa.table({"training_id": _strings(labels.training_ids),
                               **{f"title_{language}": _strings(labels.training_titles[language])
                                  for language in LANGUAGES},
                               "duration_hours": pa.array(np.asarray(labels.training_hours, dtype=np.float64))}),
    }
    for name, table in tables.items():
        write_atomic(Path(directory) / labels_file(name),
                     lambda handle, table=table: pq.write_table(table, handle, compression="zstd"), durable=False)


# -- writing a batch --------------------------------------------------------------------------------------------


def _plan_difference(found: dict, wanted: dict) -> str | None:
    """Why a partial batch's plan is not this run's (None when it is the same plan)."""
    old, new = found.get("model") or {}, wanted["model"]
    if old != new:
        return (f"model {old.get('name')} v{old.get('version')} ({old.get('alias')}); this run uses "
                f"v{new['version']} ({new['alias']})")
    if found.get("population") != wanted.get("population"):
        return "another population, or the population changed since"
    options = [f"{key} {found['options'].get(key)} there, {value} here"
               for key, value in wanted["options"].items() if (found.get("options") or {}).get(key) != value]
    if options:
        return "other options: " + "; ".join(options)
    if found.get("features") != wanted.get("features"):
        return "other features"
    return None


class BatchWriter:
    """One batch being written in ``<out>/<kind>/<batch id>/`` (the layout: :mod:`models.batch_layout`)."""

    def __init__(self, folder: Path, plan: dict) -> None:
        self.folder = folder
        self.plan = plan

    @property
    def batch_id(self) -> str:
        return self.plan["batch_id"]

    @property
    def resumed(self) -> bool:
        return self.plan.get("resumed", False)

    def finished(self) -> dict[int, dict]:
        """Partitions already written by this batch (a resumed run keeps them); unreadable ones are deleted."""
        done = {}
        for path in sorted(self.folder.glob(PARTITIONS)):
            header = partition_header(path)
            if header is None or header.get("batch_id") != self.batch_id:
                path.unlink(missing_ok=True)
                continue
            entry = header["partition"]
            done[int(entry["index"])] = entry
        return done

    def commit(self, entries: list[dict], *, completed: dict, keep: int = KEEP_BATCHES) -> BatchInfo:
        """Write the manifest (the batch becomes visible), remove stray temporary files and old batches."""
        entries = sorted(entries, key=lambda entry: entry["index"])
        expected = [partition["index"] for partition in self.plan["partitions"]]
        if [entry["index"] for entry in entries] != expected:
            raise LoopbaanError(ERR_INCOMPLETE.format(batch_id=self.batch_id))
        for stray in self.folder.glob(f".*{PARTIAL}"):
            stray.unlink(missing_ok=True)
        manifest = {**self.plan, **completed, "completed_at": _now(),
                    "citizens": sum(entry["citizens"] for entry in entries),
                    "rows": sum(entry["rows"] for entry in entries),
                    "partitions": [entry for entry in entries if entry["citizens"]]}
        manifest.pop("resumed", None)
        _write_json(self.folder / MANIFEST, manifest)
        _prune(self.folder.parent, keep=keep, current=self.folder.name)
        return BatchInfo.of(self.folder, manifest)


def _prune(kind_dir: Path, *, keep: int, current: str) -> None:
    complete = sorted((_completed_at(child), child.name) for child in kind_dir.iterdir() if is_complete(child))
    for _, name in complete[:-keep] if keep > 0 else complete:
        if name != current:
            shutil.rmtree(kind_dir / name, ignore_errors=True)


def _completed_at(folder: Path) -> str:
    """When a batch was committed; "" (the oldest) for one never served again: damaged, or of an older format."""
    try:
        return read_manifest(folder)["completed_at"]
    except (FileNotFoundError, LoopbaanError):
        return ""


@contextmanager
def open_batch(*, out: Path, kind: str, plan: dict, discard_partial: bool = False) -> Iterator[BatchWriter]:
    """A new batch folder, or the partial batch of a crashed run with the same plan (resumed), held for this run.

    Another run's partial batch stops this one (unless ``discard_partial``): its partitions were made with
    another model or other options and must not be mixed with these.
    """
    kind_dir = kind_folder(out, kind)
    kind_dir.mkdir(parents=True, exist_ok=True)
    strangers = [child.name for child in kind_dir.iterdir() if child.name != LOCK and not is_batch_folder(child, kind)]
    if strangers:
        raise LoopbaanError(ERR_NOT_BATCH_FOLDER.format(folder=kind_dir, names=", ".join(sorted(strangers)[:3])))
    with open(kind_dir / LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LoopbaanError(ERR_BUSY.format(kind=kind, folder=kind_dir)) from None
        try:
            yield _start(kind_dir, plan, discard_partial=discard_partial)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start(kind_dir: Path, plan: dict, *, discard_partial: bool) -> BatchWriter:
    for child in kind_dir.iterdir():
        if child.is_dir() and not (child / PLAN).is_file() and not is_complete(child):
            child.rmdir()  # empty: its run died before writing the plan
    partials = sorted(child for child in kind_dir.iterdir() if is_partial(child))
    for partial in partials:
        if discard_partial:
            shutil.rmtree(partial)
            continue
        found = read_plan(partial)
        reason = _plan_difference(found, plan)
        if reason is not None:
            raise LoopbaanError(ERR_OTHER_PARTIAL.format(folder=kind_dir, batch_id=partial.name, reason=reason))
        if [(part["first"], part["last"], part["citizens"]) for part in found["partitions"]] != \
                [(part["first"], part["last"], part["citizens"]) for part in plan["partitions"]]:
            raise LoopbaanError(ERR_OTHER_PARTIAL.format(folder=kind_dir, batch_id=partial.name,
                                                         reason="other citizens (did opt-outs change?)"))
        return BatchWriter(partial, {**found, "resumed": True})
    batch_id = new_batch_id(plan["kind"])
    folder = kind_dir / batch_id
    folder.mkdir()
    plan = {**plan, "format": FORMAT, "batch_id": batch_id, "created_at": _now()}
    _write_json(folder / PLAN, plan)
    return BatchWriter(folder, plan)
