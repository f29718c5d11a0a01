"""Per-occupation attributes the behaviour model needs, derived from the taxonomy and the facts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import normalize

from features.population.facts import (
    BOTTLENECK_ISCO,
    EMPLOYMENT_SHARE_BY_ISCO_MAJOR,
    FEMALE_SHARE_BY_ISCO,
    FEMALE_SHARE_BY_ISCO_MAJOR,
)
from features.taxonomy import Taxonomy

EDUCATION_LEVELS = ("low", "medium", "high")
# Education an occupation usually asks, by ISCO-08 major group (the ISCO skill levels).
_EDUCATION_BY_MAJOR = {"0": 1, "1": 2, "2": 2, "3": 1, "4": 1, "5": 1, "6": 0, "7": 1, "8": 1, "9": 0}
_IRREGULAR_HOURS_PREFIXES = ("5", "2221", "3221", "83", "9411", "9412")
NEIGHBOURS = 20


def female_share(isco_group: str) -> tuple[float, bool]:
    """Share of women in an occupation group and whether it is a sourced figure (else an assumption)."""
    for length in (4, 3, 2, 1):
        fact = FEMALE_SHARE_BY_ISCO.get(isco_group[:length])
        if fact is not None:
            return fact.value, True
    return FEMALE_SHARE_BY_ISCO_MAJOR.get(isco_group[:1], FEMALE_SHARE_BY_ISCO_MAJOR["9"]).value, False


@dataclass(frozen=True)
class OccupationModel:
    """Arrays aligned with ``taxonomy.occupations`` rows, plus each occupation's nearest neighbours."""

    frame: pd.DataFrame
    neighbours: np.ndarray  # (n_occupations, NEIGHBOURS) positions, most similar first
    neighbour_similarity: np.ndarray

    @property
    def size(self) -> int:
        return len(self.frame)


def build_occupation_model(taxonomy: Taxonomy) -> OccupationModel:
    occupations = taxonomy.occupations
    isco = occupations["isco_group"].fillna("9").astype(str).str.strip()
    isco = isco.where(isco.str.len() > 0, "9")
    major = isco.str[:1]
    shares = [female_share(code) for code in isco]
    per_major = major.map(major.value_counts())
    weight = major.map({k: v.value for k, v in EMPLOYMENT_SHARE_BY_ISCO_MAJOR.items()}).fillna(0.01) / per_major
    frame = pd.DataFrame(
        {
            "uri": occupations["uri"].to_numpy(),
            "isco_group": isco.to_numpy(),
            "isco_major": major.to_numpy(),
            "female_share": [share for share, _ in shares],
            "female_share_sourced": [sourced for _, sourced in shares],
            "employment_weight": (weight / weight.sum()).to_numpy(),
            "education_level": major.map(_EDUCATION_BY_MAJOR).fillna(1).astype(np.int8).to_numpy(),
            "bottleneck": isco.str[:4].isin(BOTTLENECK_ISCO).to_numpy(),
            "needs_licence": isco.str.startswith("83").to_numpy(),
            "irregular_hours": isco.map(lambda code: code.startswith(_IRREGULAR_HOURS_PREFIXES)).to_numpy(),
            # A wage/quality index in [0, 1]: skill level of the group plus a little spread by occupation.
            "quality": (major.map({"1": 0.9, "2": 0.8, "3": 0.6, "0": 0.5, "4": 0.45, "7": 0.45, "8": 0.4,
                                   "5": 0.3, "6": 0.25, "9": 0.2}).fillna(0.3)).to_numpy(),
        }
    )
    neighbours, similarity = _neighbours(taxonomy, isco.to_numpy())
    return OccupationModel(frame=frame, neighbours=neighbours, neighbour_similarity=similarity)


def _neighbours(taxonomy: Taxonomy, isco: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest occupations by cosine similarity of competency profiles (essential 1, optional 0.5)."""
    profile = taxonomy.relation_matrix("essential") + 0.5 * taxonomy.relation_matrix("optional")
    unit = normalize(profile.tocsr(), norm="l2")
    similarity = (unit @ unit.T).toarray().astype(np.float32)
    similarity += 0.1 * (isco[:, None] == isco[None, :])
    np.fill_diagonal(similarity, -1.0)
    k = min(NEIGHBOURS, len(isco) - 1)
    top = np.argpartition(-similarity, kth=k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return top.astype(np.int32), np.take_along_axis(similarity, top, axis=1)
