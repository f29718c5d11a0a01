"""The competency taxonomy interface: occupations, competencies, their relations and hierarchies.

A ``Taxonomy`` is the same whatever its origin; a ``TaxonomySource`` builds one (ESCO in
``features.esco``, Competent in ``features.competent``). Ids are concept URIs (ESCO) or
``urn:competent:...`` URNs (Competent).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from features.errors import LoopbaanError
from features.vocabulary import ERR_UNKNOWN_LANGUAGE, LANGUAGES, Language

Relation = Literal["essential", "optional"]

OCCUPATION_COLUMNS = (
    "uri", "code", "isco_group", "label_en", "label_nl", "alt_labels_en", "alt_labels_nl",
    "description_en", "description_nl",
)
COMPETENCY_COLUMNS = (
    "uri", "skill_type", "reuse_level", "label_en", "label_nl", "alt_labels_en", "alt_labels_nl",
    "description_en", "description_nl", "group_uri", "group_label_en", "group_label_nl",
)
RELATION_COLUMNS = ("occupation_uri", "competency_uri", "relation")
HIERARCHY_COLUMNS = ("child_uri", "parent_uri")

ERR_MISSING_COLUMNS = "taxonomy table '{table}' from {source} lacks columns {columns}; the source data is malformed."
ERR_DUPLICATE_IDS = "taxonomy table '{table}' from {source} has duplicate ids, e.g. {example}; ids must be unique."
ERR_BAD_RELATION = "relation types must be 'essential' or 'optional'; {source} has {values}."
ERR_UNKNOWN_OCCUPATION = "unknown occupation id {uri!r}; use an id from the taxonomy (e.g. `loopbaan occupations search`)."
ERR_UNKNOWN_COMPETENCY = "unknown competency id {uri!r}; use an id from the taxonomy (e.g. `loopbaan competencies search`)."


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...], source: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise LoopbaanError(ERR_MISSING_COLUMNS.format(table=table, source=source, columns=missing))


def _require_unique(frame: pd.DataFrame, table: str, source: str) -> None:
    duplicated = frame["uri"][frame["uri"].duplicated()]
    if len(duplicated):
        raise LoopbaanError(ERR_DUPLICATE_IDS.format(table=table, source=source, example=duplicated.iloc[0]))


def check_language(lang: str) -> Language:
    if lang not in LANGUAGES:
        raise LoopbaanError(ERR_UNKNOWN_LANGUAGE.format(language=lang))
    return lang  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Tables of one taxonomy, validated on construction, with the look-ups the pipeline needs.

    Attributes
    ----------
    source : str
        Name and version of the origin, e.g. ``"esco-1.1.1"`` or ``"competent"``.
    occupations, competencies : pandas.DataFrame
        One row per concept, columns ``OCCUPATION_COLUMNS`` / ``COMPETENCY_COLUMNS``; ``label_nl`` and the
        descriptions may be missing (``None``), in which case English is used.
    relations : pandas.DataFrame
        ``occupation_uri, competency_uri, relation`` with relation ``essential`` or ``optional``.
    occupation_hierarchy, skill_hierarchy : pandas.DataFrame
        ``child_uri, parent_uri`` edges (broader relations).
    """

    source: str
    occupations: pd.DataFrame
    competencies: pd.DataFrame
    relations: pd.DataFrame
    occupation_hierarchy: pd.DataFrame
    skill_hierarchy: pd.DataFrame

    def __post_init__(self) -> None:
        _require(self.occupations, "occupations", OCCUPATION_COLUMNS, self.source)
        _require(self.competencies, "competencies", COMPETENCY_COLUMNS, self.source)
        _require(self.relations, "relations", RELATION_COLUMNS, self.source)
        _require(self.occupation_hierarchy, "occupation_hierarchy", HIERARCHY_COLUMNS, self.source)
        _require(self.skill_hierarchy, "skill_hierarchy", HIERARCHY_COLUMNS, self.source)
        _require_unique(self.occupations, "occupations", self.source)
        _require_unique(self.competencies, "competencies", self.source)
        bad = set(self.relations["relation"].unique()) - {"essential", "optional"}
        if bad:
            raise LoopbaanError(ERR_BAD_RELATION.format(source=self.source, values=sorted(bad)))

    # --- indices -------------------------------------------------------------------------------
    @cached_property
    def occupation_index(self) -> pd.Index:
        """Occupation URI → row position in ``occupations`` (and in every occupation matrix)."""
        return pd.Index(self.occupations["uri"])

    @cached_property
    def competency_index(self) -> pd.Index:
        """Competency URI → row position in ``competencies`` (and column in every competency matrix)."""
        return pd.Index(self.competencies["uri"])

    @cached_property
    def known_relations(self) -> pd.DataFrame:
        """Relations whose occupation and competency both exist in this taxonomy, with their positions."""
        occ = self.occupation_index.get_indexer(self.relations["occupation_uri"])
        comp = self.competency_index.get_indexer(self.relations["competency_uri"])
        keep = (occ >= 0) & (comp >= 0)
        frame = self.relations.loc[keep, list(RELATION_COLUMNS)].copy()
        frame["occupation_pos"] = occ[keep].astype(np.int32)
        frame["competency_pos"] = comp[keep].astype(np.int32)
        return frame.reset_index(drop=True)

    def relation_matrix(self, relation: Relation) -> sparse.csr_matrix:
        """Occupations × competencies, 1 where the competency is ``relation`` for the occupation."""
        return self._relation_matrices[relation]

    @cached_property
    def _relation_matrices(self) -> dict[str, sparse.csr_matrix]:
        shape = (len(self.occupations), len(self.competencies))
        matrices = {}
        for relation in ("essential", "optional"):
            rows = self.known_relations[self.known_relations["relation"] == relation]
            data = np.ones(len(rows), dtype=np.float32)
            matrix = sparse.csr_matrix((data, (rows["occupation_pos"], rows["competency_pos"])), shape=shape)
            matrix.sum_duplicates()
            matrix.data[:] = 1.0
            matrices[relation] = matrix
        return matrices

    # --- look-ups ------------------------------------------------------------------------------
    def has_occupation(self, uri: str) -> bool:
        return uri in self.occupation_index

    def has_competency(self, uri: str) -> bool:
        return uri in self.competency_index

    def occupation(self, uri: str) -> pd.Series:
        position = self.occupation_index.get_indexer([uri])[0]
        if position < 0:
            raise LoopbaanError(ERR_UNKNOWN_OCCUPATION.format(uri=uri))
        return self.occupations.iloc[position]

    def competency(self, uri: str) -> pd.Series:
        position = self.competency_index.get_indexer([uri])[0]
        if position < 0:
            raise LoopbaanError(ERR_UNKNOWN_COMPETENCY.format(uri=uri))
        return self.competencies.iloc[position]

    def occupation_label(self, uri: str, lang: Language = "nl") -> str:
        return _label(self.occupation(uri), check_language(lang))

    def competency_label(self, uri: str, lang: Language = "nl") -> str:
        return _label(self.competency(uri), check_language(lang))

    def occupation_labels(self, lang: Language = "nl") -> pd.Series:
        """Preferred label per occupation in ``lang`` (English where Dutch is missing), indexed by URI."""
        return _labels(self.occupations, check_language(lang))

    def competency_labels(self, lang: Language = "nl") -> pd.Series:
        return _labels(self.competencies, check_language(lang))

    def competencies_of(self, occupation_uri: str, relation: Relation | None = None) -> list[str]:
        """Competency URIs related to an occupation, optionally only the essential or optional ones."""
        position = self.occupation_index.get_indexer([occupation_uri])[0]
        if position < 0:
            raise LoopbaanError(ERR_UNKNOWN_OCCUPATION.format(uri=occupation_uri))
        relations = ("essential", "optional") if relation is None else (relation,)
        uris = self.competencies["uri"].to_numpy()
        found: list[str] = []
        for name in relations:
            row = self.relation_matrix(name).getrow(position)
            found.extend(uris[row.indices].tolist())
        return found

    def broader_occupations(self, uri: str) -> list[str]:
        edges = self.occupation_hierarchy
        return edges.loc[edges["child_uri"] == uri, "parent_uri"].tolist()

    def broader_competencies(self, uri: str) -> list[str]:
        edges = self.skill_hierarchy
        return edges.loc[edges["child_uri"] == uri, "parent_uri"].tolist()

    def summary(self) -> dict[str, int]:
        labelled_nl = int(self.occupations["label_nl"].notna().sum())
        essential = int((self.relations["relation"] == "essential").sum())
        return {
            "occupations": len(self.occupations),
            "occupations_with_dutch_label": labelled_nl,
            "competencies": len(self.competencies),
            "competencies_with_dutch_label": int(self.competencies["label_nl"].notna().sum()),
            "relations": len(self.relations),
            "essential_relations": essential,
            "optional_relations": len(self.relations) - essential,
        }


def has_label(column: pd.Series) -> np.ndarray:
    """Per row, whether a label column holds a label (a missing label is null or empty)."""
    return (column.notna() & (column.astype(str) != "")).to_numpy()


def split_labels(cell: str) -> list[str]:
    """The alternative labels of an ESCO CSV cell, which lists them one per line."""
    return [part.strip() for part in cell.split("\n") if part.strip()]


def _label(row: pd.Series, lang: Language) -> str:
    if lang == "nl" and isinstance(row["label_nl"], str) and row["label_nl"]:
        return row["label_nl"]
    return row["label_en"]


def _labels(frame: pd.DataFrame, lang: Language) -> pd.Series:
    labels = frame["label_en"]
    if lang == "nl":
        labels = frame["label_nl"].where(has_label(frame["label_nl"]), frame["label_en"])
    return pd.Series(labels.to_numpy(), index=frame["uri"].to_numpy(), name=f"label_{lang}")


class TaxonomySource(Protocol):
    """Anything that can produce a ``Taxonomy`` (ESCO bundle, Competent export, ...)."""

    name: str

    def load(self) -> Taxonomy: ...
