"""The behaviour model behind the outcomes: who was shown what, who applied, who was hired, who trained.

Sessions of a legacy matching system show vacancies (related to the citizen's last or aspired
occupation, nearby, or anywhere) and trainings. Citizens apply or enrol with a probability that rises
with competency fit and falls with distance, missing licences, hour clashes and list position; an
employer hires with a probability driven by fit, education, Dutch, experience and a latent ability the
models never see — minus the historical-bias knobs (``BiasSettings``), which act on hiring only.
Employers do not compete for candidates (each application is decided on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse

from features.population.calibrate import sigmoid
from features.population.catalogues import Catalogue
from features.population.config import BiasSettings
from features.population.geography import haversine_km
from features.population.occupations import EDUCATION_LEVELS, OccupationModel

JOB_SESSION_SIZE = {"job_seeker": 20, "employed": 10}
TRAINING_SESSION_SIZE = 10
EMPLOYED_JOB_SEARCH_SHARE = 0.3
EMPLOYED_TRAINING_SHARE = 0.25
STEREOTYPE_SHARE = 0.3  # an applicant's gender is 'rare' in an occupation below this share
_CHUNK = 50_000


@dataclass(frozen=True)
class Outcomes:
    job_outcomes: pd.DataFrame
    training_outcomes: pd.DataFrame
    transitions: pd.DataFrame


def pair_dot(left: sparse.csr_matrix, left_rows: np.ndarray, right: sparse.csr_matrix,
             right_rows: np.ndarray) -> np.ndarray:
    """Row-wise dot products ``left[left_rows[k]] · right[right_rows[k]]`` for every pair k, in chunks."""
    out = np.empty(len(left_rows), dtype=np.float64)
    for start in range(0, len(left_rows), _CHUNK):
        stop = start + _CHUNK
        product = left[left_rows[start:stop]].multiply(right[right_rows[start:stop]])
        out[start:stop] = np.asarray(product.sum(axis=1)).ravel()
    return out


def _sessions(rng: np.random.Generator, people: pd.DataFrame, sizes: dict[str, int], employed_share: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """(citizen row, slot position) of every shown item."""
    status = people["status"].to_numpy()
    size = np.zeros(len(people), dtype=np.int64)
    size[status == "job_seeker"] = sizes["job_seeker"]
    employed = (status == "employed") & (rng.random(len(people)) < employed_share)
    size[employed] = sizes["employed"]
    rows = np.repeat(np.arange(len(people)), size)
    position = np.arange(len(rows)) - np.repeat(np.cumsum(size) - size, size) + 1
    return rows, position


def _members_of(owner: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR-style (indptr, order) grouping of ``owner`` values 0..count-1."""
    order = np.argsort(owner, kind="stable")
    indptr = np.searchsorted(owner[order], np.arange(count + 1))
    return indptr, order


def _pick_related(rng, *, occupation_of_row: np.ndarray, model: OccupationModel, item_occupation: np.ndarray,
                  fallback: np.ndarray) -> np.ndarray:
    """An item whose occupation is the given one or one of its neighbours; ``fallback`` where none exists."""
    indptr, order = _members_of(item_occupation, model.size)
    slot = rng.integers(0, model.neighbours.shape[1] + 1, len(occupation_of_row))
    neighbour = model.neighbours[occupation_of_row, np.maximum(slot - 1, 0)]
    occupation = np.where(slot == 0, occupation_of_row, neighbour)
    lengths = np.diff(indptr)[occupation]
    pick = indptr[occupation] + (rng.random(len(occupation)) * np.maximum(lengths, 1)).astype(np.int64)
    return np.where(lengths > 0, order[np.minimum(pick, len(order) - 1)], fallback)


def simulate_outcomes(
    *, rng: np.random.Generator, people: pd.DataFrame, profile: sparse.csr_matrix, target: np.ndarray,
    work_periods: pd.DataFrame, model: OccupationModel, essential: sparse.csr_matrix,
    vacancies: Catalogue, trainings: Catalogue, bias: BiasSettings, as_of: date,
) -> Outcomes:
    """Draw job and training outcomes; ``profile`` is citizens × competencies (rows aligned with ``people``)."""
    return Outcomes(
        job_outcomes=_job_outcomes(rng=rng, people=people, profile=profile, target=target, work_periods=work_periods,
                                   model=model, vacancies=vacancies, bias=bias, as_of=as_of),
        training_outcomes=_training_outcomes(rng=rng, people=people, profile=profile, target=target, model=model,
                                             essential=essential, trainings=trainings, as_of=as_of),
        transitions=transitions_from(work_periods),
    )


def experience_years(work_periods: pd.DataFrame, isco_by_uri: pd.Series, as_of: date) -> pd.Series:
    """Years worked per (citizen, ISCO unit group), as a Series indexed by (citizen_id, isco)."""
    end = work_periods["end_date"].astype("datetime64[s]").fillna(pd.Timestamp(as_of))
    years = (end - work_periods["start_date"].astype("datetime64[s]")).dt.days / 365.25
    frame = pd.DataFrame({"citizen_id": work_periods["citizen_id"],
                          "isco": isco_by_uri.reindex(work_periods["occupation_uri"]).to_numpy(), "years": years})
    return frame.groupby(["citizen_id", "isco"])["years"].sum()


def _job_outcomes(*, rng, people, profile, target, work_periods, model, vacancies: Catalogue, bias: BiasSettings,
                  as_of: date) -> pd.DataFrame:
    items = vacancies.items
    rows, position = _sessions(rng, people, JOB_SESSION_SIZE, EMPLOYED_JOB_SEARCH_SHARE)
    n = len(rows)
    vacancy_occupation = pd.Index(model.frame["uri"]).get_indexer(items["occupation_uri"])
    anywhere = rng.integers(0, len(items), n)
    kind = rng.random(n)
    related = _pick_related(rng, occupation_of_row=target[rows], model=model,
                            item_occupation=vacancy_occupation, fallback=anywhere)
    province_indptr, province_order = _members_of(
        pd.Categorical(items["province"]).codes.astype(np.int64), len(pd.Categorical(items["province"]).categories))
    province_code = pd.Categorical(people["province"], categories=pd.Categorical(items["province"]).categories).codes
    own = province_code[rows]
    lengths = np.where(own >= 0, np.diff(province_indptr)[np.maximum(own, 0)], 0)
    pick = province_indptr[np.maximum(own, 0)] + (rng.random(n) * np.maximum(lengths, 1)).astype(np.int64)
    nearby = np.where(lengths > 0, province_order[np.minimum(pick, len(province_order) - 1)], anywhere)
    vacancy = np.where(kind < 0.45, related, np.where(kind < 0.75, nearby, anywhere))
    shown = pd.DataFrame({"row": rows, "vacancy": vacancy}).drop_duplicates()
    rows, vacancy = shown["row"].to_numpy(), shown["vacancy"].to_numpy()
    position = np.arange(len(rows)) - np.repeat(*_run_starts(rows)) + 1
    n = len(rows)

    required = vacancies.essential
    n_required = np.maximum(np.diff(required.indptr)[vacancy], 1)
    coverage = pair_dot(profile, rows, required, vacancy) / n_required
    p = people
    distance = haversine_km(p["lat"].to_numpy()[rows], p["lon"].to_numpy()[rows],
                            items["lat"].to_numpy()[vacancy], items["lon"].to_numpy()[vacancy])
    excess = np.maximum(distance / p["max_commute_km"].to_numpy()[rows] - 1.0, 0.0)
    vacancy_isco = model.frame["isco_group"].to_numpy()[vacancy_occupation[vacancy]]
    same_isco = vacancy_isco == model.frame["isco_group"].to_numpy()[target[rows]]
    isco_by_uri = pd.Series(model.frame["isco_group"].to_numpy(), index=model.frame["uri"].to_numpy())
    experience = experience_years(work_periods, isco_by_uri, as_of)
    years = experience.reindex(pd.MultiIndex.from_arrays([p["citizen_id"].to_numpy()[rows], vacancy_isco]))
    years = np.nan_to_num(years.to_numpy(dtype=np.float64), nan=0.0)
    education = pd.Index(EDUCATION_LEVELS).get_indexer(p["education"].to_numpy()[rows])
    required_education = pd.Index(EDUCATION_LEVELS).get_indexer(items["education_required"].to_numpy()[vacancy])
    education_fit = education >= required_education
    dutch_ok = p["dutch_level"].to_numpy()[rows] >= items["dutch_level_required"].to_numpy()[vacancy]
    licence_ok = p["driving_licence"].to_numpy()[rows] | ~items["driving_licence_required"].to_numpy()[vacancy]
    care = p["care_duties"].to_numpy()[rows]
    hours_clash = care & (items["irregular_hours"].to_numpy()[vacancy]
                          | (items["full_time"].to_numpy()[vacancy] & p["prefers_part_time"].to_numpy()[rows]))
    seeker = p["status"].to_numpy()[rows] == "job_seeker"

    apply_logit = (-2.4 + 3.0 * coverage + 0.8 * same_isco - 2.5 * excess - 1.5 * ~licence_ok
                   - 1.2 * hours_clash + 0.6 * seeker + 0.5 * p["motivation"].to_numpy()[rows] - 0.04 * position)
    applied = rng.random(n) < sigmoid(apply_logit)

    hire_logit = (-2.2 + 3.0 * coverage + 0.7 * education_fit + 1.0 * dutch_ok + 0.15 * np.minimum(years, 10)
                  + 0.8 * p["ability"].to_numpy()[rows] - historical_bias_penalty(
                      bias=bias, age=p["age"].to_numpy()[rows], gender=p["gender"].to_numpy()[rows],
                      origin=p["origin"].to_numpy()[rows], disability=p["disability"].to_numpy()[rows],
                      female_share=model.frame["female_share"].to_numpy()[vacancy_occupation[vacancy]]))
    hired = applied & (rng.random(n) < sigmoid(hire_logit))

    session_day = rng.integers(0, 31, len(people))[rows]
    return pd.DataFrame(
        {
            "citizen_id": p["citizen_id"].to_numpy()[rows],
            "vacancy_id": items["vacancy_id"].to_numpy()[vacancy],
            "position": position.astype(np.int16),
            "shown_date": (np.datetime64(as_of, "D") - session_day.astype("timedelta64[D]")),
            "applied": applied,
            "hired": hired,
        }
    )


def _run_starts(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``rows``: each run's start offset and length (for np.repeat)."""
    boundaries = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[boundaries, len(rows)])
    return boundaries, lengths


def historical_bias_penalty(*, bias: BiasSettings, age: np.ndarray, gender: np.ndarray, origin: np.ndarray,
                            disability: np.ndarray, female_share: np.ndarray) -> np.ndarray:
    """Log-odds taken off an applicant's hiring chance by the historical-bias knobs."""
    own_share = np.where(gender == "woman", female_share, 1.0 - female_share)
    rare = np.clip((STEREOTYPE_SHARE - own_share) / STEREOTYPE_SHARE, 0.0, 1.0)
    return (bias.age * np.where(age >= 55, 1.0, np.where(age >= 50, 0.5, 0.0))
            + bias.gender_stereotype * rare
            + bias.origin * np.where(origin == "non_eu", 1.0, np.where(origin == "eu", 0.5, 0.0))
            + bias.disability * disability.astype(float))


def _training_outcomes(*, rng, people, profile, target, model, essential, trainings: Catalogue,
                       as_of: date) -> pd.DataFrame:
    items = trainings.items
    sizes = {"job_seeker": TRAINING_SESSION_SIZE, "employed": TRAINING_SESSION_SIZE}
    rows, _ = _sessions(rng, people, sizes, EMPLOYED_TRAINING_SHARE)
    anchor = pd.Index(model.frame["uri"]).get_indexer(items["anchor_occupation_uri"])
    anywhere = rng.integers(0, len(items), len(rows))
    related = _pick_related(rng, occupation_of_row=target[rows], model=model, item_occupation=anchor,
                            fallback=anywhere)
    training = np.where(rng.random(len(rows)) < 0.5, related, anywhere)
    shown = pd.DataFrame({"row": rows, "training": training}).drop_duplicates()
    rows, training = shown["row"].to_numpy(), shown["training"].to_numpy()
    position = np.arange(len(rows)) - np.repeat(*_run_starts(rows)) + 1
    n = len(rows)

    target_essential = essential[target].tocsr()
    missing = (target_essential - target_essential.multiply(profile)).tocsr()
    missing.eliminate_zeros()
    taught = trainings.competencies
    n_taught = np.maximum(np.diff(taught.indptr)[training], 1)
    gap_relevance = pair_dot(missing, rows, taught, training) / n_taught
    known = pair_dot(profile, rows, taught, training) / n_taught
    p = people
    hours = items["duration_hours"].to_numpy()[training].astype(np.float64)
    care = p["care_duties"].to_numpy()[rows]
    dutch_short = p["dutch_level"].to_numpy()[rows] < items["dutch_level_required"].to_numpy()[training]
    distance = haversine_km(p["lat"].to_numpy()[rows], p["lon"].to_numpy()[rows],
                            items["lat"].to_numpy()[training], items["lon"].to_numpy()[training])
    distance = np.nan_to_num(distance, nan=0.0)
    seeker = p["status"].to_numpy()[rows] == "job_seeker"
    enrol_logit = (-2.3 + 3.0 * gap_relevance - 1.5 * known + 0.8 * seeker + 0.6 * p["motivation"].to_numpy()[rows]
                   - 0.5 * care * np.log(hours / 40.0) - 1.0 * dutch_short - 0.02 * distance - 0.08 * position)
    enrolled = rng.random(n) < sigmoid(enrol_logit)
    complete_logit = 1.0 + 0.7 * p["ability"].to_numpy()[rows] - 1.2 * dutch_short - 0.25 * np.log(hours / 40.0)
    completed = enrolled & (rng.random(n) < sigmoid(complete_logit))
    session_day = rng.integers(0, 31, len(people))[rows]
    return pd.DataFrame(
        {
            "citizen_id": p["citizen_id"].to_numpy()[rows],
            "training_id": items["training_id"].to_numpy()[training],
            "position": position.astype(np.int16),
            "shown_date": (np.datetime64(as_of, "D") - session_day.astype("timedelta64[D]")),
            "enrolled": enrolled,
            "completed": completed,
        }
    )


def transitions_from(work_periods: pd.DataFrame) -> pd.DataFrame:
    """Career transitions: each work period followed by the citizen's next one."""
    periods = work_periods.sort_values(["citizen_id", "period_no"], kind="stable")
    following = periods.groupby("citizen_id").shift(-1)
    has_next = following["occupation_uri"].notna()
    return pd.DataFrame(
        {
            "citizen_id": periods["citizen_id"][has_next].to_numpy(),
            "from_occupation_uri": periods["occupation_uri"][has_next].to_numpy(),
            "to_occupation_uri": following["occupation_uri"][has_next].to_numpy(),
            "transition_date": following["start_date"][has_next].to_numpy(),
        }
    )
