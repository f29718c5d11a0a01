"""Catalogues the citizens meet: diplomas, trainings and open vacancies, each teaching or asking competencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse

from features.population import facts
from features.population.geography import municipalities, place
from features.population.occupations import EDUCATION_LEVELS, OccupationModel
from features.taxonomy import Taxonomy

DIPLOMA_COMPETENCIES = 12
TRAINING_FORMATS = ("classroom", "online", "workplace")
CONTRACTS = ("permanent", "temporary", "interim")


@dataclass(frozen=True)
class Catalogue:
    """Items as a table plus their competencies as a sparse items × competencies matrix."""

    items: pd.DataFrame
    competencies: sparse.csr_matrix
    essential: sparse.csr_matrix | None = None  # vacancies only: the required (essential) part


def build_diplomas(*, taxonomy: Taxonomy, occupation_model: OccupationModel, isco_labels: pd.DataFrame) -> Catalogue:
    """One diploma per ISCO sub-major group and level (medium: secondary/vocational, high: higher education)."""
    occ = occupation_model.frame
    essential = taxonomy.relation_matrix("essential")
    knowledge = (taxonomy.competencies["skill_type"] == "knowledge").to_numpy()
    fields = sorted(occ["isco_group"].str[:2].unique())
    labels = isco_labels.set_index("code")
    rows, columns, items = [], [], []
    for field in fields:
        members = np.flatnonzero(occ["isco_group"].str[:2].to_numpy() == field)
        counts = np.asarray(essential[members].sum(axis=0)).ravel() * np.where(knowledge, 1.5, 1.0)
        chosen = np.argsort(-counts, kind="stable")[:DIPLOMA_COMPETENCIES]
        chosen = chosen[counts[chosen] > 0]
        label_en = labels["label_en"].get(field, field)
        label_nl = labels["label_nl"].get(field) or label_en
        for level, prefix_nl, prefix_en in (("medium", "Secundair beroepsonderwijs", "Vocational secondary education"),
                                            ("high", "Hoger onderwijs", "Higher education")):
            diploma_id = len(items) + 1
            items.append({"diploma_id": diploma_id, "field": field, "level": level,
                          "title_nl": f"{prefix_nl}: {label_nl}", "title_en": f"{prefix_en}: {label_en}"})
            rows.extend([diploma_id - 1] * len(chosen))
            columns.extend(chosen.tolist())
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)),
                               shape=(len(items), len(taxonomy.competencies)))
    return Catalogue(items=pd.DataFrame(items), competencies=matrix)


def build_trainings(*, rng: np.random.Generator, size: int, taxonomy: Taxonomy,
                    occupation_model: OccupationModel) -> Catalogue:
    """Trainings anchored on an occupation (bottleneck occupations twice as often), teaching 3-8 of its competencies."""
    occ = occupation_model.frame
    weight = occ["employment_weight"].to_numpy() * np.where(occ["bottleneck"], 2.0, 1.0)
    essential = taxonomy.relation_matrix("essential")
    has_essential = np.diff(essential.indptr) > 0
    weight = weight * has_essential
    anchor = rng.choice(len(occ), size=size, p=weight / weight.sum())
    counts = rng.integers(3, 9, size)
    keep = np.clip(counts / np.maximum(np.diff(essential.indptr)[anchor], 1), 0, 1)
    taught = _sample_rows_per_item(rng, essential, anchor, keep, minimum=np.minimum(3, counts))

    fmt = np.array(TRAINING_FORMATS, dtype=object)[rng.choice(3, size=size, p=[0.55, 0.25, 0.20])]
    hours = np.where(
        fmt == "classroom", np.clip(rng.lognormal(np.log(80), 0.8, size), 8, 800),
        np.where(fmt == "online", np.clip(rng.lognormal(np.log(20), 0.6, size), 4, 80),
                 rng.integers(4, 25, size) * 38.0),  # individual training in a company: 4-24 weeks (Voka)
    ).round()
    provider = np.where(fmt == "online", "VDAB online", np.where(
        fmt == "workplace", "IBO werkplek", np.array(["VDAB", "Syntra", "CVO"], dtype=object)[rng.integers(0, 3, size)]))
    places = municipalities()
    muni, lat, lon = place(rng, places["weight"].to_numpy(), size)
    online = fmt == "online"
    labels_nl, labels_en = taxonomy.occupation_labels("nl").to_numpy(), taxonomy.occupation_labels("en").to_numpy()
    comp_nl, comp_en = taxonomy.competency_labels("nl").to_numpy(), taxonomy.competency_labels("en").to_numpy()
    first = np.array([taught.indices[taught.indptr[i]] for i in range(size)])
    items = pd.DataFrame(
        {
            "training_id": np.arange(1, size + 1, dtype=np.int64),
            "title_nl": [f"{comp_nl[c].capitalize()} (voor {labels_nl[a]})" for c, a in zip(first, anchor, strict=True)],
            "title_en": [f"{comp_en[c].capitalize()} (for {labels_en[a]})" for c, a in zip(first, anchor, strict=True)],
            "anchor_occupation_uri": occ["uri"].to_numpy()[anchor],
            "format": fmt,
            "provider": provider,
            "duration_hours": hours.astype(np.float32),
            "municipality": np.where(online, None, places["municipality"].to_numpy()[muni]),
            "lat": np.where(online, np.nan, lat),
            "lon": np.where(online, np.nan, lon),
            "dutch_level_required": np.where(fmt == "workplace", 1, 2).astype(np.int8),
        }
    )
    return Catalogue(items=items, competencies=taught)


def _sample_rows_per_item(rng: np.random.Generator, matrix: sparse.csr_matrix, rows: np.ndarray,
                          keep: np.ndarray, minimum: np.ndarray) -> sparse.csr_matrix:
    picked = matrix[rows].tocsr()
    lengths = np.diff(picked.indptr)
    row_of = np.repeat(np.arange(len(rows)), lengths)
    order = np.lexsort((rng.random(picked.nnz), row_of))
    position = np.empty(picked.nnz, dtype=np.int64)
    position[order] = np.arange(picked.nnz) - np.repeat(picked.indptr[:-1], lengths)
    mask = (rng.random(picked.nnz) < keep[row_of]) | (position < minimum[row_of])
    picked.data = picked.data * mask
    picked.eliminate_zeros()
    return picked


def _vacancy_occupation_weights(occ: pd.DataFrame) -> np.ndarray:
    """Occupation weights whose implied required-education shares meet the published ones."""
    weight = occ["employment_weight"].to_numpy() * np.where(occ["bottleneck"], 2.0, 1.0)
    level = occ["education_level"].to_numpy()
    target = np.array([facts.VACANCY_EDUCATION[name].value for name in EDUCATION_LEVELS])
    for _ in range(30):
        implied = _required_shares(weight, level)
        multiplier = np.ones(3)
        # Requirement shares depend on the occupation level through a fixed 70/30 mix; adjust levels top-down.
        multiplier[2] = target[2] / max(implied[2], 1e-9)
        multiplier[0] = target[0] / max(implied[0], 1e-9)
        weight = weight * multiplier[level]
    return weight / weight.sum()


def _required_shares(weight: np.ndarray, level: np.ndarray) -> np.ndarray:
    shares = np.zeros(3)
    for lvl in range(3):
        w = weight[level == lvl].sum()
        if lvl == 0:
            shares[0] += w
        else:
            shares[lvl] += 0.7 * w
            shares[lvl - 1] += 0.3 * w
    return shares / shares.sum()


def build_vacancies(*, rng: np.random.Generator, size: int, taxonomy: Taxonomy,
                    occupation_model: OccupationModel, as_of: date) -> Catalogue:
    occ = occupation_model.frame
    essential = taxonomy.relation_matrix("essential")
    optional = taxonomy.relation_matrix("optional")
    usable = np.diff(essential.indptr) > 0
    weight = _vacancy_occupation_weights(occ) * usable
    occupation = rng.choice(len(occ), size=size, p=weight / weight.sum())

    places = municipalities()
    province_share = places.groupby("province")["weight"].sum()
    fixed = {name: fact.value for name, fact in facts.VACANCY_PROVINCE.items()}
    free = province_share.drop(list(fixed))
    province_target = {**fixed, **(free / free.sum() * (1 - sum(fixed.values()))).to_dict()}
    muni_weight = places["weight"] / places.groupby("province")["weight"].transform("sum")
    muni_weight = muni_weight * places["province"].map(province_target)
    muni, lat, lon = place(rng, muni_weight.to_numpy(), size)

    level = occ["education_level"].to_numpy()[occupation]
    required_education = np.where((level > 0) & (rng.random(size) < 0.3), level - 1, level)
    asks_dutch = rng.random(size) < facts.VACANCY_DUTCH_REQUIRED.value
    very_good = rng.random(size) < facts.VACANCY_DUTCH_VERY_GOOD.value
    dutch_required = np.where(asks_dutch, np.where(very_good, 3, 2), 0)
    needs_licence = occ["needs_licence"].to_numpy()[occupation] | (rng.random(size) < 0.12)
    irregular = rng.random(size) < np.where(occ["irregular_hours"].to_numpy()[occupation], 0.7, 0.1)
    full_time = rng.random(size) < np.where(occ["isco_major"].to_numpy()[occupation] == "5", 0.5, 0.8)
    contract = np.array(CONTRACTS, dtype=object)[rng.choice(3, size=size, p=[0.6, 0.25, 0.15])]
    quality = np.clip(occ["quality"].to_numpy()[occupation] + rng.normal(0, 0.08, size), 0, 1)
    # Open on every session date of the outcomes (the last 30 days): posted 30-150 days before the reference date.
    posted = np.datetime64(as_of, "D") - rng.integers(30, 151, size).astype("timedelta64[D]")

    required = _sample_rows_per_item(rng, essential, occupation, np.full(size, 0.8), np.full(size, 3))
    nice_to_have = _sample_rows_per_item(rng, optional, occupation, np.full(size, 0.3), np.zeros(size, dtype=int))
    labels_nl, labels_en = taxonomy.occupation_labels("nl").to_numpy(), taxonomy.occupation_labels("en").to_numpy()
    items = pd.DataFrame(
        {
            "vacancy_id": np.arange(1, size + 1, dtype=np.int64),
            "occupation_uri": occ["uri"].to_numpy()[occupation],
            "title_nl": labels_nl[occupation],
            "title_en": labels_en[occupation],
            "municipality": places["municipality"].to_numpy()[muni],
            "province": places["province"].to_numpy()[muni],
            "lat": lat,
            "lon": lon,
            "education_required": np.array(EDUCATION_LEVELS, dtype=object)[required_education],
            "dutch_level_required": dutch_required.astype(np.int8),
            "driving_licence_required": needs_licence,
            "full_time": full_time,
            "irregular_hours": irregular,
            "contract": contract,
            "quality": quality.astype(np.float32),
            "posted_date": posted.astype("datetime64[D]"),
        }
    )
    return Catalogue(items=items, competencies=(required + nice_to_have).tocsr(), essential=required)
