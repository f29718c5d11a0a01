"""A Dutch ESCO CSV package as the ESCO portal ships it, written from the bundle's own Dutch labels (for the tests
and the benchmark of `loopbaan taxonomy import-labels`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.esco import load_esco

ESCO_COLUMNS = ["conceptType", "conceptUri", "skillType", "reuseLevel", "preferredLabel", "altLabels", "hiddenLabels",
                "status", "modifiedDate", "scopeNote", "definition", "inScheme", "description"]


def _esco_csv(concepts: pd.DataFrame, concept_type: str, *, extra: list[dict]) -> pd.DataFrame:
    rows = [{"conceptUri": row.uri, "preferredLabel": row.label_nl, "altLabels": "\n".join(row.alt_labels_nl),
             "description": row.description_nl or ""}
            for row in concepts.itertuples() if isinstance(row.label_nl, str) and row.label_nl]
    frame = pd.DataFrame([*rows, *extra]).assign(conceptType=concept_type, status="released")
    return frame.reindex(columns=ESCO_COLUMNS).astype(object).fillna("")


def write_dutch_package(folder: Path, *, skills: list[dict] = ()) -> Path:
    """``occupations_nl.csv`` and ``skills_nl.csv`` in ``folder``: every Dutch label of the bundle, the occupations'
    first row repeated (as ESCO repeats a few), and ``skills`` (rows by ESCO column) added to the skills."""
    bundle = load_esco()
    folder.mkdir(parents=True)
    occupations = _esco_csv(bundle.occupations, "Occupation", extra=[])
    pd.concat([occupations, occupations.head(1)]).to_csv(folder / "occupations_nl.csv", index=False)
    _esco_csv(bundle.competencies, "KnowledgeSkillCompetence", extra=list(skills)).to_csv(folder / "skills_nl.csv",
                                                                                         index=False)
    return folder
