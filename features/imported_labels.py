"""Dutch labels imported from a complete ESCO CSV package (``loopbaan taxonomy import-labels --lang nl DIR``).

The bundled ESCO copy has Dutch labels for only 2,235 of its 13,896 competencies, so the site shows most of them in
English. A deployment that downloaded the complete Dutch CSV package from the ESCO portal imports its labels into
the home (``<home>/taxonomy/labels-nl``); every reader of the taxonomy that faces citizens (:func:`home_taxonomy`:
the service, its vault and search, the CLI's search) then shows them, and the search indexes them.

Only the Dutch preferred labels, alternatives and descriptions change. The English labels define the embedding
spaces of the search and of matching and stay the bundle's, and training and the assessments keep reading the
bundled taxonomy, so their splits and figures do not depend on what a home imported.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.esco import load_esco, read_checked_parquet
from features.files import staged_folder
from features.settings import Settings
from features.taxonomy import Taxonomy, has_label, split_labels
from features.vocabulary import SEARCH_KINDS

LANGUAGE = "nl"  # the one importable language; English is the bundle's reference
KINDS = {  # taxonomy table → (package file, ESCO conceptType of its rows)
    "occupations": ("occupations_{lang}.csv", "Occupation"),
    "competencies": ("skills_{lang}.csv", "KnowledgeSkillCompetence"),
}
COLUMNS = ("conceptType", "conceptUri", "preferredLabel", "altLabels", "description")
LABEL_COLUMNS = ("uri", "label_nl", "alt_labels_nl", "description_nl")
# A Dutch package shares some labels with English (names of software, "marketing"); when most of its labels equal
# the bundle's English ones, the folder holds the English package (or a copy of it under Dutch names).
MAX_SHARE_AS_ENGLISH = 0.5

ERR_LANGUAGE = ("only Dutch labels can be imported (--lang nl): the English labels define the search's and the "
                "matching's embeddings and come with the bundle, not {lang!r}")
ERR_NO_FOLDER = "{folder} is not a folder; pass the folder of the unpacked ESCO CSV package of {lang!r}"
ERR_NO_FILE = ("{folder} has no {name}; pass the folder of the unpacked ESCO CSV package of {lang!r} (the ESCO "
               "portal's 'CSV' download, language {lang!r}: it holds {names})")
ERR_UNREADABLE = "{path} cannot be read as CSV ({reason}); download the ESCO CSV package again"
ERR_COLUMNS = "{path} lacks the columns {columns} of an ESCO CSV file; is it the ESCO {name} of the CSV package?"
ERR_CONCEPT_TYPE = ("{path} holds concepts of type {found!r}, not {expected!r}; the file under this name is not the "
                    "ESCO {name}")
ERR_NO_KNOWN = ("{path} names none of the {count:,} {kind} of the bundled {source}; is it an ESCO package of "
                "another classification?")
ERR_NOT_DUTCH = ("{share:.0%} of the labels in {path} equal the bundled English ones; it looks like the English "
                 "package, not the Dutch one")
ERR_CORRUPT = ("the imported Dutch labels in {folder} are damaged ({reason}); import them again with `loopbaan "
               "taxonomy import-labels --lang nl DIR`, or delete {folder} to show the bundled labels")


@dataclasses.dataclass(frozen=True)
class ImportedKind:
    """What an import found in one package file."""

    rows: int  # rows in the file
    known: int  # concepts of the bundle with a Dutch label in the file
    unknown: int  # concepts not in the bundle (a newer ESCO version), left out
    dutch_before: int  # concepts of the bundle with a Dutch label before the import
    dutch_after: int

    def as_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def labels_folder(settings: Settings) -> Path:
    return settings.home / "taxonomy" / f"labels-{LANGUAGE}"


def import_labels(folder: Path, *, lang: str, settings: Settings) -> dict[str, ImportedKind]:
    """Check the ESCO CSV package in ``folder`` whole, then put its Dutch labels into the home at once (an import
    that fails, or is interrupted, leaves the previous labels as they were)."""
    if lang != LANGUAGE:
        raise LoopbaanError(ERR_LANGUAGE.format(lang=lang))
    folder = Path(folder)
    if not folder.is_dir():
        raise LoopbaanError(ERR_NO_FOLDER.format(folder=folder, lang=lang))
    bundle = load_esco()
    tables, found = {}, {}
    for kind, (pattern, concept_type) in KINDS.items():
        path = folder / pattern.format(lang=lang)
        if not path.is_file():
            names = " and ".join(name.format(lang=lang) for name, _ in KINDS.values())
            raise LoopbaanError(ERR_NO_FILE.format(folder=folder, name=path.name, lang=lang, names=names))
        concepts = getattr(bundle, kind)
        tables[kind], found[kind] = _package_labels(path, kind=kind, concept_type=concept_type, concepts=concepts,
                                                    source=bundle.source)
    _write(labels_folder(settings), tables, found, package=folder)
    return found


def home_taxonomy(settings: Settings) -> Taxonomy:
    """The bundled taxonomy with the home's imported Dutch labels, if it has any (one copy per process and import)."""
    folder = labels_folder(settings)
    try:
        manifest = (folder / "manifest.json").read_bytes()
    except FileNotFoundError:
        return load_esco()
    except OSError as error:
        raise LoopbaanError(ERR_CORRUPT.format(folder=folder, reason=error.strerror or error)) from None
    return _with_labels(folder, manifest)


def index_labels(taxonomy: Taxonomy, *, settings: Settings) -> float:
    """Build the search's lexical indexes of ``taxonomy``'s labels into the home's cache now, so that the first
    query after an import answers at once (the semantic index reads English labels only, which an import leaves
    alone); returns the seconds taken."""
    from features.search.labels import label_table
    from features.search.lexical import cached_lexical_index

    started = time.perf_counter()
    for kind in SEARCH_KINDS:
        cached_lexical_index(label_table(taxonomy, kind), cache_dir=settings.cache_dir)
    return time.perf_counter() - started


def imported_summary(settings: Settings) -> dict | None:
    """The home's import (package folder, time, counts per kind), or None without one."""
    try:
        return json.loads((labels_folder(settings) / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LoopbaanError(ERR_CORRUPT.format(folder=labels_folder(settings), reason=error)) from None


def _package_labels(path: Path, *, kind: str, concept_type: str, concepts: pd.DataFrame,
                    source: str) -> tuple[pd.DataFrame, ImportedKind]:
    name = path.name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=error)) from None
    rows = len(frame)
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise LoopbaanError(ERR_COLUMNS.format(path=path, columns=missing, name=name))
    types = frame["conceptType"].str.strip()
    wrong = types[(types != concept_type) & (types != "")]
    if len(wrong) > len(frame) / 2:
        raise LoopbaanError(ERR_CONCEPT_TYPE.format(path=path, found=wrong.mode().iloc[0], expected=concept_type,
                                                    name=name))
    frame = frame[types == concept_type]
    frame = frame.assign(conceptUri=frame["conceptUri"].str.strip(), preferredLabel=frame["preferredLabel"].str.strip())
    frame = frame[frame["preferredLabel"] != ""].drop_duplicates("conceptUri", keep="first")  # ESCO repeats a few
    known = frame["conceptUri"].isin(concepts["uri"])
    if not known.any():
        raise LoopbaanError(ERR_NO_KNOWN.format(path=path, count=len(concepts), kind=kind, source=source))
    labels = frame[known]
    english = concepts.set_index("uri")["label_en"].reindex(labels["conceptUri"]).str.casefold()
    share = float((english.to_numpy() == labels["preferredLabel"].str.casefold().to_numpy()).mean())
    if share > MAX_SHARE_AS_ENGLISH:
        raise LoopbaanError(ERR_NOT_DUTCH.format(share=share, path=path))
    table = pd.DataFrame({
        "uri": labels["conceptUri"].to_numpy(),
        "label_nl": labels["preferredLabel"].to_numpy(),
        "alt_labels_nl": labels["altLabels"].map(split_labels).to_numpy(),
        "description_nl": labels["description"].str.strip().replace("", None).to_numpy(),
    })
    before = has_label(concepts["label_nl"])
    after = before | concepts["uri"].isin(table["uri"]).to_numpy()
    return table, ImportedKind(rows=rows, known=int(known.sum()),
                               unknown=int((~known).sum()), dutch_before=int(before.sum()),
                               dutch_after=int(after.sum()))


def _write(out: Path, tables: dict[str, pd.DataFrame], found: dict[str, ImportedKind], *, package: Path) -> None:
    entries = {}
    with staged_folder(out, durable=True) as staged:
        for kind, table in tables.items():
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), buffer, compression="zstd")
            payload = buffer.getvalue()
            (staged / f"{kind}.parquet").write_bytes(payload)
            entries[kind] = {"sha256": hashlib.sha256(payload).hexdigest(), **found[kind].as_json()}
        manifest = {"lang": LANGUAGE, "package": str(package.resolve()), "imported_at": datetime.now(UTC).isoformat(
            timespec="seconds"), "tables": entries}
        (staged / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


@lru_cache(maxsize=2)
def _with_labels(folder: Path, manifest: bytes) -> Taxonomy:
    try:
        entries = json.loads(manifest)["tables"]
        tables = {kind: _read(folder / f"{kind}.parquet", entries[kind]["sha256"]) for kind in KINDS}
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as error:
        raise LoopbaanError(ERR_CORRUPT.format(folder=folder, reason=error)) from None
    bundle = load_esco()
    digest = hashlib.sha256(manifest).hexdigest()[:8]
    return dataclasses.replace(bundle, source=f"{bundle.source}+labels-{LANGUAGE}-{digest}",
                               occupations=_merged(bundle.occupations, tables["occupations"]),
                               competencies=_merged(bundle.competencies, tables["competencies"]))


def _read(path: Path, sha256: str) -> pd.DataFrame:
    table = read_checked_parquet(path, sha256)
    if tuple(table.columns) != LABEL_COLUMNS:
        raise ValueError(f"{path.name} has columns {list(table.columns)}")
    return table


def _merged(concepts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``concepts`` with the Dutch columns of every concept in ``labels`` replaced (a description the package lacks
    keeps the bundle's); the English columns and the row order stay."""
    merged = concepts.copy()
    rows = merged["uri"].map(pd.Series(range(len(labels)), index=labels["uri"])).dropna().astype(int)
    at = rows.index.to_numpy()
    imported = labels.iloc[rows.to_numpy()]
    merged.loc[at, "label_nl"] = imported["label_nl"].to_numpy()
    merged.loc[at, "alt_labels_nl"] = pd.Series(list(imported["alt_labels_nl"]), index=at, dtype=object)
    description = imported["description_nl"].to_numpy()
    keep = pd.isna(description)
    merged.loc[at[~keep], "description_nl"] = description[~keep]
    return merged

