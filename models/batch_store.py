"""Stored batch suggestions: Parquet partitions by citizen, a manifest committed last, resume, and the reader.

Layout of one kind's batches under ``out`` (default ``<home>/batches``)::

    <out>/<kind>/.lock                       held (flock) by the run writing here; released when it ends or dies
    <out>/<kind>/<batch id>/plan.json        written first: what the run computes (model, population, options)
    <out>/<kind>/<batch id>/labels-*.parquet item ids and titles, competency labels, bridging trainings (nl + en)
    <out>/<kind>/<batch id>/part-00000.parquet ...   one file per partition, citizens in id order
    <out>/<kind>/<batch id>/manifest.json    written last: the batch is complete, with the index of every file

A partition file is written under a temporary name and renamed, so it exists whole or not at all; the manifest
is written the same way, after every partition. A batch without a manifest is never read: it is either being
written or a crashed run's partial result, which the next run with the same plan resumes.

Rows hold numbers only (feature values, contributions, competency columns, training positions); the words are
rendered when read, in the language asked, with the same code as the live path
(:meth:`models.suggest.SuggestionLabels.render`), so a precomputed suggestion equals the live one.

Reader API (for the service): :func:`latest_complete_batch` and :func:`precomputed_suggestions`.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.files import PARTIAL, write_atomic
from features.settings import Settings
from features.vocabulary import KINDS, LANGUAGES
from models.suggest import SuggestionLabels, SuggestionRecord
from models.suggestion import Suggestion

FORMAT = 3  # 2: each row says which fairness guarantees moved it up; 3: each competency label says which language
# it is in (batches of an older format are not served)
PLAN = "plan.json"
MANIFEST = "manifest.json"
LOCK = ".lock"
ROW_GROUP_CITIZENS = 256  # citizens per Parquet row group: reading one citizen reads one small group
KEEP_BATCHES = 3  # complete batches kept per kind (the newest); older ones are removed after a commit
LABEL_TABLES = ("items", "competencies", "trainings")
_METADATA_KEY = b"loopbaan.batch"

ERR_UNKNOWN_KIND = "unknown kind {kind!r}: choose one of jobs, trainings, careers"
ERR_LANGUAGE = "unknown language {language!r}: choose nl or en"
ERR_OTHER_PARTIAL = (
    "{folder} holds the partial batch {batch_id} of another run ({reason}); resume it by running with the same "
    "model and options, or pass --discard-partial to delete it (or choose another --out)")
ERR_BUSY = ("another batch run is writing {kind} suggestions to {folder} right now; wait for it to finish or choose "
            "another --out")
ERR_NOT_BATCH_FOLDER = ("{folder} holds files that are not loopbaan batches ({names}); choose another --out or "
                        "remove them")
ERR_BAD_MANIFEST = "the batch manifest {path} is unreadable ({reason}); delete that batch folder and rerun the batch"
ERR_INCOMPLETE = "batch {batch_id} is missing partitions; rerun the same command to complete it"
ERR_BAD_PLAN = "the partial batch plan {path} is unreadable ({reason}); pass --discard-partial to start afresh"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_batch_id(kind: str) -> str:
    return f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


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
    moved: np.ndarray  # str per row: the guarantees that moved it up, joined by "+" ("" when it came by score)


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


def partition_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


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
    schema = table.schema.with_metadata({_METADATA_KEY: json.dumps({**header, "partition": entry}).encode()})

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
        return json.loads(metadata[_METADATA_KEY])
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
        write_atomic(Path(directory) / f"labels-{name}.parquet",
                     lambda handle, table=table: pq.write_table(table, handle, compression="zstd"), durable=False)


@lru_cache(maxsize=16)
def _labels(directory: str, kind: str, features: tuple[str, ...]) -> SuggestionLabels:
    """A committed batch's labels (a batch folder never changes once committed, so this is cached by path)."""
    tables = {name: pq.read_table(Path(directory) / f"labels-{name}.parquet").to_pandas() for name in LABEL_TABLES}
    items, competencies, trainings = tables["items"], tables["competencies"], tables["trainings"]
    return SuggestionLabels(
        kind=kind, feature_names=features, item_ids=items["item_id"].to_numpy(dtype=object),
        item_titles={language: items[f"title_{language}"].to_numpy(dtype=object) for language in LANGUAGES},
        competency_uris=competencies["uri"].to_numpy(dtype=object),
        competency_labels={language: competencies[f"label_{language}"].to_numpy(dtype=object)
                           for language in LANGUAGES},
        competency_label_langs={language: competencies[f"label_lang_{language}"].to_numpy(dtype=object)
                                for language in LANGUAGES},
        training_ids=trainings["training_id"].to_numpy(dtype=object),
        training_titles={language: trainings[f"title_{language}"].to_numpy(dtype=object) for language in LANGUAGES},
        training_hours=trainings["duration_hours"].to_numpy(dtype=np.float64))


# -- writing a batch --------------------------------------------------------------------------------------------


def kind_folder(out: Path, kind: str) -> Path:
    if kind not in KINDS:
        raise LoopbaanError(ERR_UNKNOWN_KIND.format(kind=kind))
    return Path(out) / kind


def _read_json(path: Path, error: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoopbaanError(error.format(path=path, reason=exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LoopbaanError(error.format(path=path, reason=f"not a format-{FORMAT} loopbaan batch file"))
    return data


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
    """One batch being written in ``<out>/<kind>/<batch id>/``; see the module docstring for the layout."""

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
        for path in sorted(self.folder.glob("part-*.parquet")):
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
        return _info(self.folder, manifest)


def _prune(kind_dir: Path, *, keep: int, current: str) -> None:
    complete = sorted((_completed_at(child), child.name) for child in kind_dir.iterdir()
                      if (child / MANIFEST).is_file())
    for _, name in complete[:-keep] if keep > 0 else complete:
        if name != current:
            shutil.rmtree(kind_dir / name, ignore_errors=True)


def _completed_at(folder: Path) -> str:
    """When a batch was committed; "" (the oldest) for one never served again: damaged, or of an older format."""
    try:
        return _manifest(folder)["completed_at"]
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
    strangers = [child.name for child in kind_dir.iterdir() if child.name != LOCK and not _is_batch(child, kind)]
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


def _is_batch(child: Path, kind: str) -> bool:
    """A batch folder: with a plan or a manifest, or (a run that died before writing its plan) named like one."""
    return child.is_dir() and ((child / PLAN).is_file() or (child / MANIFEST).is_file()
                               or (child.name.startswith(f"{kind}-") and not any(child.iterdir())))


def _start(kind_dir: Path, plan: dict, *, discard_partial: bool) -> BatchWriter:
    for child in kind_dir.iterdir():
        if child.is_dir() and not (child / PLAN).is_file() and not (child / MANIFEST).is_file():
            child.rmdir()  # empty: its run died before writing the plan
    partials = sorted(child for child in kind_dir.iterdir() if child.is_dir() and (child / PLAN).is_file()
                      and not (child / MANIFEST).is_file())
    for partial in partials:
        if discard_partial:
            shutil.rmtree(partial)
            continue
        found = _read_json(partial / PLAN, ERR_BAD_PLAN)
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


# -- reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchInfo:
    """A complete batch: which model made it, when, for how many citizens, and where it lies."""

    batch_id: str
    kind: str
    run_id: str  # the MLflow run of the model version
    model_name: str
    model_version: str
    model_alias: str
    created_at: str  # ISO 8601, UTC: when the run started
    completed_at: str  # when its manifest was committed
    citizens: int
    rows: int
    k: int
    as_of: str  # the population's reference date
    population_digest: str
    engine: str
    path: Path
    reranked: str | None = None  # how a mitigated model version re-ranks its lists (None: by score)


def _info(folder: Path, manifest: dict) -> BatchInfo:
    model = manifest["model"]
    return BatchInfo(batch_id=manifest["batch_id"], kind=manifest["kind"], run_id=model["run_id"],
                     model_name=model["name"], model_version=model["version"], model_alias=model["alias"],
                     created_at=manifest["created_at"], completed_at=manifest["completed_at"],
                     citizens=manifest["citizens"], rows=manifest["rows"], k=manifest["options"]["k"],
                     as_of=manifest["population"]["as_of"], population_digest=manifest["population"]["digest"],
                     engine=manifest.get("engine", "local"), path=folder, reranked=model.get("reranked"))


@lru_cache(maxsize=64)
def _parsed_manifest(path: str, mtime_ns: int, size: int) -> dict:
    manifest = _read_json(Path(path), ERR_BAD_MANIFEST)
    manifest["_firsts"] = [partition["first"] for partition in manifest["partitions"]]
    return manifest


def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    status = path.stat()
    return _parsed_manifest(str(path), status.st_mtime_ns, status.st_size)


def batch_root(settings: Settings, out: Path | None = None) -> Path:
    return Path(out) if out is not None else settings.batch_dir


def _latest(settings: Settings, kind: str, out: Path | None, *,
            model_version: str | None = None) -> tuple[Path, dict] | None:
    kind_dir = kind_folder(batch_root(settings, out), kind)
    if not kind_dir.is_dir():
        return None
    best = None
    for child in kind_dir.iterdir():
        if not (child / MANIFEST).is_file():
            continue
        try:
            manifest = _manifest(child)
        except (FileNotFoundError, LoopbaanError):  # pruned meanwhile, or damaged: never served
            continue
        if model_version is not None and str(manifest["model"]["version"]) != str(model_version):
            continue
        key = (manifest["completed_at"], manifest["batch_id"])
        if best is None or key > best[0]:
            best = (key, child, manifest)
    return None if best is None else (best[1], best[2])


def latest_complete_batch(settings: Settings, kind: str, out: Path | None = None, *,
                          model_version: str | None = None) -> BatchInfo | None:
    """The newest complete batch of ``kind`` (under ``out``, default ``settings.batch_dir``), or None.

    A batch is complete once its manifest is committed; partial batches (being written, or left by a crashed
    run) and batches whose manifest is damaged are never returned. ``model_version``: made by that version only.
    """
    found = _latest(settings, kind, out, model_version=model_version)
    return None if found is None else _info(*found)


def _records_of(table: pa.Table, citizen_id: int, features: list[str]) -> list[SuggestionRecord]:
    rows = table.filter(pc.equal(table["citizen_id"], citizen_id)).sort_by("rank").to_pylist()
    return [SuggestionRecord(
        rank=int(row["rank"]), item=int(row["item"]), values=dict(zip(features, row["values"], strict=True)),
        contributions=np.asarray(row["contributions"], dtype=np.float64), readiness=str(row["readiness"]),
        matched=np.asarray(row["matched"], dtype=np.int64), missing=np.asarray(row["missing"], dtype=np.int64),
        bridging=tuple((int(position), np.asarray(covers, dtype=np.int64))
                       for position, covers in zip(row["bridging"], row["bridging_covers"], strict=True)),
        moved=moved_names(row["moved"]))
        for row in rows]


def moved_names(joined: str | None) -> tuple[str, ...]:
    """The guarantees of a stored ``moved`` value (see :class:`PartitionRecords`)."""
    return tuple(joined.split("+")) if joined else ()


_READ_COLUMNS = ["citizen_id", "rank", "item", "values", "contributions", "readiness", "matched", "missing",
                 "bridging", "bridging_covers", "moved"]


def precomputed_suggestions(settings: Settings, kind: str, citizen_id: int, *, language: str = "nl",
                            out: Path | None = None,
                            model_version: str | None = None) -> tuple[BatchInfo, list[Suggestion]] | None:
    """One citizen's suggestions from the newest complete batch of ``kind`` (made by ``model_version`` when given),
    best first, or None.

    The suggestions equal what the live :class:`models.suggest.Suggester` gives for that citizen with the batch's
    model (same items, scores, readiness, gap, bridging trainings and explanation), rendered in ``language``; the
    :class:`BatchInfo` says which batch, and which model version, they came from. The batch holds its top ``info.k``: slice for fewer.

    None when there is no complete batch, or the batch has nothing for this citizen (not in the population when
    it ran, or opted out of AI suggestions): the caller then computes the list live.
    One read touches the manifest (cached), one Parquet row group of ~256 citizens and the labels (cached per
    batch): a few milliseconds.
    """
    if language not in LANGUAGES:
        raise LoopbaanError(ERR_LANGUAGE.format(language=language))
    found = _latest(settings, kind, out, model_version=model_version)
    if found is None:
        return None
    folder, manifest = found
    info = _info(folder, manifest)
    citizen_id = int(citizen_id)
    position = bisect.bisect_right(manifest["_firsts"], citizen_id) - 1
    if position < 0 or citizen_id > manifest["partitions"][position]["last"]:
        return None
    partition = manifest["partitions"][position]
    group = bisect.bisect_right(partition["row_groups"], citizen_id) - 1
    with pq.ParquetFile(folder / partition["file"]) as parquet:
        table = parquet.read_row_group(group, columns=_READ_COLUMNS)
    records = _records_of(table, citizen_id, manifest["features"])
    if not records:
        return None
    labels = _labels(str(folder), kind, tuple(manifest["model_features"]))
    return info, [labels.render(record, language=language) for record in records]


def read_partitions(info: BatchInfo, *, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Every partition of a complete batch as an Arrow table, in citizen order (for exports and checks)."""
    manifest = _manifest(info.path)
    for partition in manifest["partitions"]:
        yield pq.read_table(info.path / partition["file"], columns=columns)


def partial_batches(settings: Settings, kind: str, out: Path | None = None) -> list[dict]:
    """Plans of the batches of ``kind`` without a manifest (being written, or left by a crashed run)."""
    kind_dir = kind_folder(batch_root(settings, out), kind)
    if not kind_dir.is_dir():
        return []
    found = []
    for child in sorted(kind_dir.iterdir()):
        if child.is_dir() and (child / PLAN).is_file() and not (child / MANIFEST).is_file():
            plan = _read_json(child / PLAN, ERR_BAD_PLAN)
            found.append({**plan, "written": len(list(child.glob("part-*.parquet")))})
    return found
