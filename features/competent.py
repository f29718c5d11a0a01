"""Competent, the Flemish competency standard (VDAB/SERV), imported from a documented CSV layout.

Competent has no public dump, so an export is expected as a folder with three files, semicolon
separated, UTF-8 (a byte order mark is accepted), a header row first. Column order is free and extra
columns are ignored; an optional column may be left out of the header altogether. The full description,
with example lines, is ``docs/competent-format.md``.

``beroepen.csv``
    ``beroep_id;titel;titel_en;synoniemen;isco_code;omschrijving;parent_id`` -- one occupation per line.
    Required values: ``beroep_id`` (e.g. ``K130201``), ``titel``, ``isco_code`` (4 digits). Optional:
    ``titel_en``, ``synoniemen`` (separated by ``|``), ``omschrijving``, ``parent_id`` (another
    ``beroep_id`` or an ISCO group code of 1 to 4 digits; when empty, the ISCO unit group of
    ``isco_code`` is the parent, as in ESCO).
``competenties.csv``
    ``competentie_id;omschrijving;type;cluster`` -- ``type`` is ``activiteit``, ``competentie`` or
    ``kennis``; ``cluster`` (optional) is the Dutch cluster label. An optional ``omschrijving_en``
    column gives English labels.
``beroep_competenties.csv``
    ``beroep_id;competentie_id;relatie`` -- ``relatie`` is ``kern`` (core activity) or ``specifiek``
    (specific activity).

Mapping to the ``Taxonomy`` contract: ids become ``urn:competent:beroep:<beroep_id>`` and
``urn:competent:competentie:<competentie_id>``; Dutch is the primary language and ``label_en`` falls back
to the Dutch label; ``kern`` becomes ``essential`` and ``specifiek`` ``optional``; ``kennis`` becomes
skill type ``knowledge``, the other types ``skill/competence``; a cluster becomes the group
``urn:competent:cluster:<slug>``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.errors import LoopbaanError
from features.taxonomy import (
    COMPETENCY_COLUMNS,
    HIERARCHY_COLUMNS,
    OCCUPATION_COLUMNS,
    RELATION_COLUMNS,
    Taxonomy,
)

OCCUPATIONS_FILE = "beroepen.csv"
COMPETENCIES_FILE = "competenties.csv"
RELATIONS_FILE = "beroep_competenties.csv"
SEPARATOR = ";"
SYNONYM_SEPARATOR = "|"

OCCUPATION_URN = "urn:competent:beroep:{id}"
COMPETENCY_URN = "urn:competent:competentie:{id}"
CLUSTER_URN = "urn:competent:cluster:{slug}"
ISCO_GROUP_URI = "http://data.europa.eu/esco/isco/C{code}"

SKILL_TYPES = {"activiteit": "skill/competence", "competentie": "skill/competence", "kennis": "knowledge"}
REUSE_LEVELS = {"competentie": "transversal"}
RELATIONS = {"kern": "essential", "specifiek": "optional"}

OCCUPATION_REQUIRED = ("beroep_id", "titel", "isco_code")
OCCUPATION_OPTIONAL = ("titel_en", "synoniemen", "omschrijving", "parent_id")
COMPETENCY_REQUIRED = ("competentie_id", "omschrijving", "type")
COMPETENCY_OPTIONAL = ("cluster", "omschrijving_en")
RELATION_REQUIRED = ("beroep_id", "competentie_id", "relatie")

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ISCO_CODE = re.compile(r"\d{4}")
_ISCO_GROUP = re.compile(r"\d{1,4}")

ERR_MISSING_FOLDER = "Competent folder {path} does not exist; pass the folder that holds beroepen.csv, competenties.csv and beroep_competenties.csv."
ERR_NOT_A_FOLDER = "Competent path {path} is not a folder; pass the folder that holds beroepen.csv, competenties.csv and beroep_competenties.csv."
ERR_MISSING_FILE = "Competent file {path} is missing; export it into the folder (see docs/competent-format.md)."
ERR_UNREADABLE = "Competent file {path} cannot be read ({reason}); check its permissions."
ERR_NOT_UTF8 = "Competent file {path} is not UTF-8 text (bad byte at position {position}); save it as UTF-8."
ERR_NOT_CSV = "Competent file {path} is not a CSV file ({reason}); export it as ';'-separated text."
ERR_EMPTY_FILE = "Competent file {path} is empty; it needs a header row ({columns})."
ERR_SEPARATOR = "Competent file {path} is separated by {found!r}; use ';' as the separator."
ERR_MISSING_COLUMNS = "Competent file {path} lacks the columns {columns}; the header must name {required}."
ERR_DUPLICATE_COLUMN = "Competent file {path} names column {column!r} twice in its header; keep one."
ERR_FIELD_COUNT = "Competent file {path} line {line} has {found} fields where the header has {expected}; use ';' only as the separator (quote values that contain it)."
ERR_EMPTY_ID = "Competent file {path} line {line} has an empty {column}; give every row an id."
ERR_BAD_ID = "Competent file {path} line {line} has {column} {value!r}; ids may hold only letters, digits, '.', '_' and '-'."
ERR_DUPLICATE_ID = "Competent file {path} has {column} {value!r} twice (lines {first} and {line}); ids must be unique."
ERR_EMPTY_VALUE = "Competent file {path} line {line} has an empty {column}; fill it in (see docs/competent-format.md)."
ERR_PARENT_CYCLE = "Competent file {path}: the parent_id chain starting at beroep {value!r} (line {line}) runs in a circle; break the cycle."
ERR_BAD_ISCO = "Competent file {path} line {line} has isco_code {value!r}; use the 4-digit ISCO-08 unit group code."
ERR_BAD_TYPE = "Competent file {path} line {line} has type {value!r}; use one of: activiteit, competentie, kennis."
ERR_UNKNOWN_PARENT = "Competent file {path} line {line} has parent_id {value!r}, which is neither a beroep_id in the file nor an ISCO group code; fix or empty it."
ERR_SELF_PARENT = "Competent file {path} line {line} names beroep {value!r} as its own parent_id; empty it or name the broader beroep."
ERR_BAD_RELATIE = "Competent file {path} line {line} has relatie {value!r}; use 'kern' or 'specifiek'."
ERR_UNKNOWN_BEROEP = "Competent file {path} line {line} refers to beroep_id {value!r}, which is not in beroepen.csv; add it there or remove the line."
ERR_UNKNOWN_COMPETENTIE = "Competent file {path} line {line} refers to competentie_id {value!r}, which is not in competenties.csv; add it there or remove the line."
ERR_DUPLICATE_RELATION = "Competent file {path} links beroep {beroep!r} to competentie {competentie!r} twice (lines {first} and {line}); keep one line."


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


class CompetentSource:
    """Builds a ``Taxonomy`` from a Competent export folder (layout in ``docs/competent-format.md``)."""

    name = "competent"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def load(self) -> Taxonomy:
        return load_competent(self.folder)


def load_competent(folder: Path) -> Taxonomy:
    """Read, validate and convert the three Competent files in ``folder``; bad input raises ``LoopbaanError``."""
    folder = Path(folder)
    if not folder.exists():
        raise LoopbaanError(ERR_MISSING_FOLDER.format(path=folder))
    if not folder.is_dir():
        raise LoopbaanError(ERR_NOT_A_FOLDER.format(path=folder))
    paths = {name: folder / name for name in (OCCUPATIONS_FILE, COMPETENCIES_FILE, RELATIONS_FILE)}
    for path in paths.values():
        if not path.is_file():
            raise LoopbaanError(ERR_MISSING_FILE.format(path=path))
    occupation_rows = _read_rows(paths[OCCUPATIONS_FILE], required=OCCUPATION_REQUIRED, optional=OCCUPATION_OPTIONAL)
    competency_rows = _read_rows(paths[COMPETENCIES_FILE], required=COMPETENCY_REQUIRED, optional=COMPETENCY_OPTIONAL)
    relation_rows = _read_rows(paths[RELATIONS_FILE], required=RELATION_REQUIRED, optional=())

    occupations, occupation_hierarchy = _occupations(occupation_rows, path=paths[OCCUPATIONS_FILE])
    competencies, skill_hierarchy = _competencies(competency_rows, path=paths[COMPETENCIES_FILE])
    relations = _relations(
        relation_rows,
        path=paths[RELATIONS_FILE],
        occupation_ids=set(occupations["code"]),
        competency_types=dict(zip(competencies["uri"], competencies["skill_type"], strict=True)),
    )
    return Taxonomy(
        source=CompetentSource.name,
        occupations=occupations,
        competencies=competencies,
        relations=relations,
        occupation_hierarchy=occupation_hierarchy,
        skill_hierarchy=skill_hierarchy,
    )


def _read_rows(path: Path, *, required: tuple[str, ...], optional: tuple[str, ...]) -> list[_Row]:
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=exc.strerror or exc)) from None
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoopbaanError(ERR_NOT_UTF8.format(path=path, position=exc.start)) from None
    if "\x00" in text:
        raise LoopbaanError(ERR_NOT_CSV.format(path=path, reason="it holds NUL bytes, so it is binary"))

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=SEPARATOR, strict=True)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise LoopbaanError(ERR_EMPTY_FILE.format(path=path, columns=SEPARATOR.join(required + optional)))
        header = [cell.strip() for cell in header]
        _check_header(path, header, required=required)
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                raise LoopbaanError(
                    ERR_FIELD_COUNT.format(path=path, line=reader.line_num, found=len(cells), expected=len(header))
                )
            rows.append(_Row(reader.line_num, {name: cell.strip() for name, cell in zip(header, cells, strict=True)}))
    except csv.Error as exc:
        raise LoopbaanError(ERR_NOT_CSV.format(path=path, reason=f"line {reader.line_num}: {exc}")) from None
    return rows


def _check_header(path: Path, header: list[str], *, required: tuple[str, ...]) -> None:
    if len(header) == 1:
        for found in (",", "\t", "|"):
            if found in header[0]:
                raise LoopbaanError(ERR_SEPARATOR.format(path=path, found=found))
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise LoopbaanError(ERR_DUPLICATE_COLUMN.format(path=path, column=column))
        seen.add(column)
    missing = [column for column in required if column not in seen]
    if missing:
        raise LoopbaanError(
            ERR_MISSING_COLUMNS.format(path=path, columns=", ".join(missing), required=SEPARATOR.join(required))
        )


def _unique_ids(rows: list[_Row], *, path: Path, column: str) -> dict[str, _Row]:
    found: dict[str, _Row] = {}
    for row in rows:
        value = _id(row, path=path, column=column)
        if value in found:
            raise LoopbaanError(
                ERR_DUPLICATE_ID.format(path=path, column=column, value=value, first=found[value].line, line=row.line)
            )
        found[value] = row
    return found


def _id(row: _Row, *, path: Path, column: str) -> str:
    value = row.get(column)
    if not value:
        raise LoopbaanError(ERR_EMPTY_ID.format(path=path, line=row.line, column=column))
    if not _ID_PATTERN.fullmatch(value):
        raise LoopbaanError(ERR_BAD_ID.format(path=path, line=row.line, column=column, value=value))
    return value


def _value(row: _Row, *, path: Path, column: str) -> str:
    value = row.get(column)
    if not value:
        raise LoopbaanError(ERR_EMPTY_VALUE.format(path=path, line=row.line, column=column))
    return value


def _synonyms(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(SYNONYM_SEPARATOR) if part.strip()]


def _occupations(rows: list[_Row], *, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    by_id = _unique_ids(rows, path=path, column="beroep_id")
    records, edges = [], []
    for beroep_id, row in by_id.items():
        title = _value(row, path=path, column="titel")
        isco = _value(row, path=path, column="isco_code")
        if not _ISCO_CODE.fullmatch(isco):
            raise LoopbaanError(ERR_BAD_ISCO.format(path=path, line=row.line, value=isco))
        uri = OCCUPATION_URN.format(id=beroep_id)
        records.append({
            "uri": uri,
            "code": beroep_id,
            "isco_group": isco,
            "label_en": row.get("titel_en") or title,
            "label_nl": title,
            "alt_labels_en": [],
            "alt_labels_nl": _synonyms(row.get("synoniemen")),
            "description_en": None,
            "description_nl": row.get("omschrijving") or None,
        })
        edges.append({"child_uri": uri, "child_type": "Occupation", **_parent(row, path=path, beroep_id=beroep_id, ids=by_id)})
    _check_acyclic(by_id, path=path)
    occupations = pd.DataFrame.from_records(records, columns=list(OCCUPATION_COLUMNS))
    hierarchy = pd.DataFrame.from_records(edges, columns=[*HIERARCHY_COLUMNS, "child_type", "parent_type"])
    return occupations, hierarchy


def _parent(row: _Row, *, path: Path, beroep_id: str, ids: dict[str, _Row]) -> dict[str, str]:
    parent = row.get("parent_id") or row.get("isco_code")
    if parent == beroep_id:
        raise LoopbaanError(ERR_SELF_PARENT.format(path=path, line=row.line, value=parent))
    if parent in ids:
        return {"parent_uri": OCCUPATION_URN.format(id=parent), "parent_type": "Occupation"}
    if _ISCO_GROUP.fullmatch(parent):
        return {"parent_uri": ISCO_GROUP_URI.format(code=parent), "parent_type": "ISCOGroup"}
    raise LoopbaanError(ERR_UNKNOWN_PARENT.format(path=path, line=row.line, value=parent))


def _check_acyclic(by_id: dict[str, _Row], *, path: Path) -> None:
    parents = {beroep_id: row.get("parent_id") for beroep_id, row in by_id.items() if row.get("parent_id") in by_id}
    for start in parents:
        seen = {start}
        current = parents[start]
        while current in parents:
            if current in seen:
                raise LoopbaanError(ERR_PARENT_CYCLE.format(path=path, value=start, line=by_id[start].line))
            seen.add(current)
            current = parents[current]


def _competencies(rows: list[_Row], *, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    by_id = _unique_ids(rows, path=path, column="competentie_id")
    records, edges = [], []
    for competentie_id, row in by_id.items():
        label = _value(row, path=path, column="omschrijving")
        kind = row.get("type").lower()
        if kind not in SKILL_TYPES:
            raise LoopbaanError(ERR_BAD_TYPE.format(path=path, line=row.line, value=row.get("type")))
        cluster = row.get("cluster") or None
        group_uri = CLUSTER_URN.format(slug=cluster_slug(cluster)) if cluster else None
        uri = COMPETENCY_URN.format(id=competentie_id)
        records.append({
            "uri": uri,
            "skill_type": SKILL_TYPES[kind],
            "reuse_level": REUSE_LEVELS.get(kind),
            "label_en": row.get("omschrijving_en") or label,
            "label_nl": label,
            "alt_labels_en": [],
            "alt_labels_nl": [],
            "description_en": None,
            "description_nl": None,
            "group_uri": group_uri,
            "group_label_en": cluster,
            "group_label_nl": cluster,
        })
        if group_uri:
            edges.append({
                "child_uri": uri, "parent_uri": group_uri,
                "child_type": "KnowledgeSkillCompetence", "parent_type": "SkillGroup",
            })
    competencies = pd.DataFrame.from_records(records, columns=list(COMPETENCY_COLUMNS))
    hierarchy = pd.DataFrame.from_records(edges, columns=[*HIERARCHY_COLUMNS, "child_type", "parent_type"])
    return competencies, hierarchy


def _relations(
    rows: list[_Row], *, path: Path, occupation_ids: set[str], competency_types: dict[str, str]
) -> pd.DataFrame:
    records = []
    first_line: dict[tuple[str, str], int] = {}
    for row in rows:
        beroep = _id(row, path=path, column="beroep_id")
        competentie = _id(row, path=path, column="competentie_id")
        if beroep not in occupation_ids:
            raise LoopbaanError(ERR_UNKNOWN_BEROEP.format(path=path, line=row.line, value=beroep))
        competency_uri = COMPETENCY_URN.format(id=competentie)
        if competency_uri not in competency_types:
            raise LoopbaanError(ERR_UNKNOWN_COMPETENTIE.format(path=path, line=row.line, value=competentie))
        relatie = row.get("relatie").lower()
        if relatie not in RELATIONS:
            raise LoopbaanError(ERR_BAD_RELATIE.format(path=path, line=row.line, value=row.get("relatie")))
        pair = (beroep, competentie)
        if pair in first_line:
            raise LoopbaanError(ERR_DUPLICATE_RELATION.format(
                path=path, beroep=beroep, competentie=competentie, first=first_line[pair], line=row.line,
            ))
        first_line[pair] = row.line
        records.append({
            "occupation_uri": OCCUPATION_URN.format(id=beroep),
            "competency_uri": competency_uri,
            "relation": RELATIONS[relatie],
            "skill_type": competency_types[competency_uri],
        })
    return pd.DataFrame.from_records(records, columns=[*RELATION_COLUMNS, "skill_type"])


def cluster_slug(label: str) -> str:
    """URN-safe slug of a cluster label: ``"Zorg & welzijn"`` → ``"zorg-welzijn"``."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_label.lower()).strip("-")
    return slug or hashlib.sha1(label.encode("utf-8")).hexdigest()[:10]
