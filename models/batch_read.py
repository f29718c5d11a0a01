"""Reading stored batches (for the service, the batch commands and a run that resumes): the newest complete batch
of a kind, one citizen's precomputed suggestions, every partition of a batch, the partial batches left to resume.

Only a batch with a committed manifest is read (see :mod:`models.batch_layout`); its files never change once
committed, so its manifest and labels are cached. Rows hold numbers only (feature values, contributions,
competency columns, training positions); the words are rendered when read, in the language asked, with the same
code as the live path (:meth:`models.suggest.SuggestionLabels.render`), so a precomputed suggestion equals the
live one.

- :func:`latest_complete_batch` — which batch (a :class:`BatchInfo`) the service answers from;
- :func:`precomputed_suggestions` — one citizen's suggestions from it (a manifest lookup, one row group);
- :func:`read_partitions` — every partition as an Arrow table (exports, checks);
- :func:`partial_batches` — the plans of batches without a manifest.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import ERR_UNKNOWN_LANGUAGE, LANGUAGES
from models.batch_layout import (
    LABEL_TABLES,
    MANIFEST,
    MOVED_SEPARATOR,
    PARTITIONS,
    batch_root,
    is_complete,
    is_partial,
    kind_folder,
    labels_file,
    read_batch_json,
    read_plan,
)
from models.suggest import SuggestionLabels, SuggestionRecord
from models.suggestion import Suggestion

ERR_BAD_MANIFEST = "the batch manifest {path} is unreadable ({reason}); delete that batch folder and rerun the batch"


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

    @classmethod
    def of(cls, folder: Path, manifest: dict) -> BatchInfo:
        """The batch in ``folder``, committed with ``manifest``."""
        model = manifest["model"]
        return cls(batch_id=manifest["batch_id"], kind=manifest["kind"], run_id=model["run_id"],
                   model_name=model["name"], model_version=model["version"], model_alias=model["alias"],
                   created_at=manifest["created_at"], completed_at=manifest["completed_at"],
                   citizens=manifest["citizens"], rows=manifest["rows"], k=manifest["options"]["k"],
                   as_of=manifest["population"]["as_of"], population_digest=manifest["population"]["digest"],
                   engine=manifest.get("engine", "local"), path=folder, reranked=model.get("reranked"))


@lru_cache(maxsize=64)
def _parsed_manifest(path: str, mtime_ns: int, size: int) -> dict:
    manifest = read_batch_json(Path(path), ERR_BAD_MANIFEST)
    manifest["_firsts"] = [partition["first"] for partition in manifest["partitions"]]
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest of a complete batch (parsed once per version of the file); ``FileNotFoundError`` when the
    batch is not complete, :class:`LoopbaanError` when its manifest is damaged or of another format."""
    path = folder / MANIFEST
    status = path.stat()
    return _parsed_manifest(str(path), status.st_mtime_ns, status.st_size)


def _latest(settings: Settings, kind: str, out: Path | None, *,
            model_version: str | None = None) -> tuple[Path, dict] | None:
    kind_dir = kind_folder(batch_root(settings, out), kind)
    if not kind_dir.is_dir():
        return None
    best = None
    for child in kind_dir.iterdir():
        if not is_complete(child):
            continue
        try:
            manifest = read_manifest(child)
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
    return None if found is None else BatchInfo.of(*found)


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
    """The guarantees of a stored ``moved`` value (see :class:`models.batch_write.PartitionRecords`)."""
    return tuple(joined.split(MOVED_SEPARATOR)) if joined else ()


@lru_cache(maxsize=16)
def _labels(directory: str, kind: str, features: tuple[str, ...]) -> SuggestionLabels:
    """A committed batch's labels (a batch folder never changes once committed, so this is cached by path)."""
    tables = {name: pq.read_table(Path(directory) / labels_file(name)).to_pandas() for name in LABEL_TABLES}
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


_READ_COLUMNS = ["citizen_id", "rank", "item", "values", "contributions", "readiness", "matched", "missing",
                 "bridging", "bridging_covers", "moved"]


def precomputed_suggestions(settings: Settings, kind: str, citizen_id: int, *, language: str = "nl",
                            out: Path | None = None,
                            model_version: str | None = None) -> tuple[BatchInfo, list[Suggestion]] | None:
    """One citizen's suggestions from the newest complete batch of ``kind`` (made by ``model_version`` when given),
    best first, or None.

    The suggestions equal what the live :class:`models.suggest.Suggester` gives for that citizen with the batch's
    model (same items, scores, readiness, gap, bridging trainings and explanation), rendered in ``language``; the
    :class:`BatchInfo` says which batch, and which model version, they came from. The batch holds its top
    ``info.k``: slice for fewer.

    None when there is no complete batch, or the batch has nothing for this citizen (not in the population when
    it ran, or opted out of AI suggestions): the caller then computes the list live.
    One read touches the manifest (cached), one Parquet row group of ~256 citizens and the labels (cached per
    batch): a few milliseconds.
    """
    if language not in LANGUAGES:
        raise LoopbaanError(ERR_UNKNOWN_LANGUAGE.format(language=language))
    found = _latest(settings, kind, out, model_version=model_version)
    if found is None:
        return None
    folder, manifest = found
    info = BatchInfo.of(folder, manifest)
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
    manifest = read_manifest(info.path)
    for partition in manifest["partitions"]:
        yield pq.read_table(info.path / partition["file"], columns=columns)


def partial_batches(settings: Settings, kind: str, out: Path | None = None) -> list[dict]:
    """Plans of the batches of ``kind`` without a manifest (being written, or left by a crashed run)."""
    kind_dir = kind_folder(batch_root(settings, out), kind)
    if not kind_dir.is_dir():
        return []
    found = []
    for child in sorted(kind_dir.iterdir()):
        if is_partial(child):
            found.append({**read_plan(child), "written": len(list(child.glob(PARTITIONS)))})
    return found

