"""Competency profiles: competency id → evidence, derived only from a citizen's career data.

The rules (documented here, the one place they live):

- a work period of at least ``MIN_PERIOD_YEARS`` gives every *essential* competency of its occupation,
  with proficiency 1 (< 1 year), 2 (1-3 years), 3 (3-8 years) or 4 (8+ years); a period of at least
  ``OPTIONAL_AFTER_YEARS`` also gives the occupation's *optional* competencies, proficiency 2;
  evidence date: end of the period (the reference date for an ongoing one);
- a diploma gives the competencies of its programme, proficiency 2, dated when obtained;
- a completed training gives the competencies it teaches, proficiency 2, dated when completed;
- an assessment gives the assessed competency at the measured proficiency, only from
  ``MIN_ASSESSED_PROFICIENCY`` up (a lower score is recorded in the assessment, not held);
- a self-declared competency is held with unknown proficiency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse

from features._sparse import binary_csr
from features.taxonomy import Taxonomy

EVIDENCE_SOURCES = ("work", "diploma", "training", "assessment", "self-declared")
MIN_PERIOD_YEARS = 0.5
OPTIONAL_AFTER_YEARS = 3.0
MIN_ASSESSED_PROFICIENCY = 2


@dataclass(frozen=True)
class CareerTables:
    """The career data a profile is built from, plus the catalogues that say what each item teaches."""

    work_periods: pd.DataFrame
    diplomas: pd.DataFrame
    training_records: pd.DataFrame
    assessments: pd.DataFrame
    self_declared: pd.DataFrame
    diploma_competencies: pd.DataFrame  # diploma_id, competency_uri
    training_competencies: pd.DataFrame  # training_id, competency_uri


def _expand(owner_rows: pd.DataFrame, item_column: str, links: pd.DataFrame) -> pd.DataFrame:
    return owner_rows.merge(links, on=item_column, how="inner")


def _work_evidence(periods: pd.DataFrame, taxonomy: Taxonomy, as_of: date) -> pd.DataFrame:
    end = periods["end_date"].astype("datetime64[s]").fillna(pd.Timestamp(as_of))
    years = (end - periods["start_date"].astype("datetime64[s]")).dt.days.to_numpy() / 365.25
    keep = years >= MIN_PERIOD_YEARS
    occupation = taxonomy.occupation_index.get_indexer(periods["occupation_uri"])
    keep &= occupation >= 0
    frames = []
    for relation in ("essential", "optional"):
        rows = keep & (years >= OPTIONAL_AFTER_YEARS) if relation == "optional" else keep
        matrix = taxonomy.relation_matrix(relation)
        selected = np.flatnonzero(rows)
        lengths = np.diff(matrix.indptr)[occupation[selected]]
        period_row = np.repeat(selected, lengths)
        starts = np.repeat(matrix.indptr[occupation[selected]], lengths)
        offsets = np.arange(len(period_row)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        competency = matrix.indices[starts + offsets]
        if relation == "essential":
            proficiency = 1 + (years[period_row] >= 1) + (years[period_row] >= 3) + (years[period_row] >= 8)
        else:
            proficiency = np.full(len(period_row), 2)
        frames.append(pd.DataFrame({
            "citizen_id": periods["citizen_id"].to_numpy()[period_row],
            "competency_uri": taxonomy.competencies["uri"].to_numpy()[competency],
            "source": "work",
            "source_ref": periods["occupation_uri"].to_numpy()[period_row],
            "evidence_date": end.to_numpy()[period_row],
            "proficiency": proficiency.astype(np.int8),
        }))
    return pd.concat(frames, ignore_index=True)


def build_profiles(*, career: CareerTables, taxonomy: Taxonomy, as_of: date) -> pd.DataFrame:
    """One row per piece of evidence: ``citizen_id, competency_uri, source, source_ref, evidence_date, proficiency``."""
    diploma = _expand(career.diplomas, "diploma_id", career.diploma_competencies)
    training = _expand(career.training_records, "training_id", career.training_competencies)
    assessed = career.assessments[career.assessments["proficiency"] >= MIN_ASSESSED_PROFICIENCY]
    parts = [
        _work_evidence(career.work_periods, taxonomy, as_of),
        pd.DataFrame({
            "citizen_id": diploma["citizen_id"], "competency_uri": diploma["competency_uri"], "source": "diploma",
            "source_ref": "diploma:" + diploma["diploma_id"].astype(str),
            "evidence_date": diploma["obtained_date"], "proficiency": np.int8(2),
        }),
        pd.DataFrame({
            "citizen_id": training["citizen_id"], "competency_uri": training["competency_uri"], "source": "training",
            "source_ref": "training:" + training["training_id"].astype(str),
            "evidence_date": training["completed_date"], "proficiency": np.int8(2),
        }),
        pd.DataFrame({
            "citizen_id": assessed["citizen_id"], "competency_uri": assessed["competency_uri"], "source": "assessment",
            "source_ref": "assessment:" + assessed["assessment_id"].astype(str),
            "evidence_date": assessed["assessed_date"], "proficiency": assessed["proficiency"].astype(np.int8),
        }),
        pd.DataFrame({
            "citizen_id": career.self_declared["citizen_id"], "competency_uri": career.self_declared["competency_uri"],
            "source": "self-declared", "source_ref": "self-declared",
            "evidence_date": career.self_declared["declared_date"], "proficiency": pd.NA,
        }),
    ]
    profile = pd.concat([part for part in parts if len(part)], ignore_index=True)
    profile["evidence_date"] = profile["evidence_date"].astype("datetime64[s]").dt.normalize()
    profile["proficiency"] = profile["proficiency"].astype("Int8")
    profile["source"] = pd.Categorical(profile["source"], categories=EVIDENCE_SOURCES)
    profile["competency_uri"] = profile["competency_uri"].astype("category")
    return profile.sort_values("citizen_id", kind="stable").reset_index(drop=True)


def profile_matrix(*, profiles: pd.DataFrame, citizen_ids: np.ndarray, taxonomy: Taxonomy) -> sparse.csr_matrix:
    """Citizens × competencies, 1 where the citizen holds the competency (any evidence)."""
    rows = pd.Index(citizen_ids).get_indexer(profiles["citizen_id"])
    cols = taxonomy.competency_index.get_indexer(profiles["competency_uri"].astype(str))
    return binary_csr(rows, cols, (len(citizen_ids), len(taxonomy.competencies)))
