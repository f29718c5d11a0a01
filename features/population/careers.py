"""Career data ("loopbaandata"): work periods, diplomas, completed trainings, assessments, self-declared skills.

Timeline of a citizen, in years before the reference date: the career starts after education
(18 low, 19 medium, 23 high educated), holds 1-6 work periods with short gaps in between, and ends
now (employed), at the start of unemployment (job seekers, durations as published) or some years ago
(inactive). The first occupation is drawn by gender segregation and education fit; each next one is
a neighbour of the previous one (similar competencies), the same one, or a fresh draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.population import facts
from features.population.catalogues import Catalogue
from features.population.occupations import EDUCATION_LEVELS, OccupationModel
from features.taxonomy import Taxonomy

MAX_PERIODS = 6
_ENTRY_AGE = {"low": 18.0, "medium": 19.0, "high": 23.0}
_DURATION_YEARS = {"<1y": (0.05, 1.0), "1-2y": (1.0, 2.0), ">2y": (2.0, 6.0)}


@dataclass(frozen=True)
class GeneratedCareers:
    """The generated career tables of a population, with each citizen's latent target occupation."""

    work_periods: pd.DataFrame
    diplomas: pd.DataFrame
    training_records: pd.DataFrame
    assessments: pd.DataFrame
    self_declared: pd.DataFrame
    target_occupation: np.ndarray  # per citizen: last (or aspired, if never worked) occupation position; latent


def _to_date(as_of: date, years_ago: np.ndarray) -> np.ndarray:
    return np.datetime64(as_of, "D") - np.round(np.asarray(years_ago) * 365.25).astype("timedelta64[D]")


def _occupation_choice(*, rng: np.random.Generator, people: pd.DataFrame, model: OccupationModel) -> np.ndarray:
    occ = model.frame
    female = occ["female_share"].to_numpy()
    level = occ["education_level"].to_numpy()
    chosen = np.empty(len(people), dtype=np.int64)
    for gender in ("man", "woman"):
        share = female if gender == "woman" else 1 - female
        for edu_index, education in enumerate(EDUCATION_LEVELS):
            rows = np.flatnonzero((people["gender"].to_numpy() == gender) & (people["education"].to_numpy() == education))
            fit = np.where(level == edu_index, 1.0, np.where(level < edu_index, 0.35, 0.08))
            weight = occ["employment_weight"].to_numpy() * share * fit
            chosen[rows] = rng.choice(len(occ), size=len(rows), p=weight / weight.sum())
    return chosen


def _random_members(rng: np.random.Generator, indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray,
                    draws: int) -> tuple[np.ndarray, np.ndarray]:
    """``draws`` random members (with replacement) of each selected CSR row; returns (row number, member)."""
    lengths = np.diff(indptr)[rows]
    owner = np.repeat(np.arange(len(rows)), draws)
    length = np.repeat(lengths, draws)
    ok = length > 0
    offset = (rng.random(len(owner)) * np.maximum(length, 1)).astype(np.int64)
    member = indices[np.repeat(indptr[rows], draws) + offset]
    return owner[ok], member[ok]


def generate_careers(
    *, rng: np.random.Generator, people: pd.DataFrame, model: OccupationModel, taxonomy: Taxonomy,
    diplomas: Catalogue, trainings: Catalogue, as_of: date,
) -> GeneratedCareers:
    size = len(people)
    age = people["age"].to_numpy().astype(float)
    status = people["status"].to_numpy()
    education = people["education"].to_numpy()
    entry = np.vectorize(_ENTRY_AGE.get)(education) + rng.uniform(0, 1.5, size)
    start_ago = age - entry

    end_ago = np.zeros(size)
    seekers = status == "job_seeker"
    bucket = rng.choice(len(_DURATION_YEARS), size=size,
                        p=np.array([f.value for f in facts.JOBSEEKER_DURATION.values()]) / 1.01)
    low = np.array([v[0] for v in _DURATION_YEARS.values()])[bucket]
    high = np.array([v[1] for v in _DURATION_YEARS.values()])[bucket]
    end_ago[seekers] = rng.uniform(low, high)[seekers]
    inactive = status == "inactive"
    end_ago[inactive] = rng.uniform(0.5, 10.0, size)[inactive]
    never = (inactive & (rng.random(size) < facts.NEVER_WORKED_INACTIVE.value)) | (seekers & (rng.random(size) < 0.1))
    span = start_ago - end_ago
    worked = ~never & (span > 0.25)
    worked |= status == "employed"
    span = np.where(worked, np.maximum(span, 0.25), 0.0)
    start_ago = np.where(worked, end_ago + span, start_ago)

    n_periods = np.where(worked, np.clip(1 + rng.poisson(span / 7.0), 1, MAX_PERIODS), 0)
    slots = np.arange(MAX_PERIODS)[None, :] < n_periods[:, None]
    work_weight = rng.gamma(2.0, 1.0, (size, MAX_PERIODS)) * slots
    gap_slots = np.arange(MAX_PERIODS)[None, :] < (n_periods - 1)[:, None]
    gap_weight = rng.gamma(0.5, 1.0, (size, MAX_PERIODS)) * gap_slots
    work_total = np.where(n_periods > 1, 0.9, 1.0) * span
    durations = work_total[:, None] * work_weight / np.maximum(work_weight.sum(axis=1, keepdims=True), 1e-9)
    gaps = (span - work_total)[:, None] * gap_weight / np.maximum(gap_weight.sum(axis=1, keepdims=True), 1e-9)
    elapsed = np.cumsum(durations + gaps, axis=1) - durations - gaps
    period_start = start_ago[:, None] - elapsed
    period_end = period_start - durations

    first = _occupation_choice(rng=rng, people=people, model=model)
    fresh = _occupation_choice(rng=rng, people=people, model=model)
    occupations = np.zeros((size, MAX_PERIODS), dtype=np.int64)
    occupations[:, 0] = first
    women = (people["gender"].to_numpy() == "woman")
    female = model.frame["female_share"].to_numpy()
    for k in range(1, MAX_PERIODS):
        move = rng.random(size)
        previous = occupations[:, k - 1]
        neighbour = model.neighbours[previous, rng.integers(0, 10, size)]
        # Segregation persists along careers: a move into an occupation where one's gender is rarer than in
        # the current one is taken with the ratio of the two shares, else the citizen stays.
        share_now = np.where(women, female[previous], 1 - female[previous])
        share_next = np.where(women, female[neighbour], 1 - female[neighbour])
        accepted = rng.random(size) < np.minimum(1.0, share_next / np.maximum(share_now, 1e-3))
        neighbour = np.where(accepted, neighbour, previous)
        occupations[:, k] = np.where(move < 0.6, neighbour, np.where(move < 0.75, previous, fresh))
        fresh = np.where(move >= 0.75, _reshuffle(rng, fresh), fresh)

    citizen_of_slot = np.broadcast_to(people["citizen_id"].to_numpy()[:, None], slots.shape)[slots]
    part_time = rng.random(slots.shape) < np.where(people["prefers_part_time"].to_numpy()[:, None], 0.8, 0.05)
    ongoing = (status == "employed")[:, None] & (np.arange(MAX_PERIODS)[None, :] == (n_periods - 1)[:, None])
    end_dates = _to_date(as_of, period_end[slots])
    work_periods = pd.DataFrame(
        {
            "citizen_id": citizen_of_slot,
            "period_no": np.broadcast_to(np.arange(1, MAX_PERIODS + 1, dtype=np.int8), slots.shape)[slots],
            "occupation_uri": model.frame["uri"].to_numpy()[occupations[slots]],
            "start_date": _to_date(as_of, period_start[slots]),
            "end_date": pd.array(np.where(ongoing[slots], np.datetime64("NaT"), end_dates), dtype="datetime64[s]"),
            "part_time": part_time[slots],
            "employer_id": rng.integers(1, 10 * size + 1000, slots.sum()).astype(np.int64),
        }
    )
    last_index = np.maximum(n_periods - 1, 0)
    target = np.where(worked, occupations[np.arange(size), last_index], first)

    return GeneratedCareers(
        work_periods=work_periods,
        diplomas=_diplomas(rng=rng, people=people, model=model, diplomas=diplomas, first=first,
                           start_ago=start_ago, as_of=as_of),
        training_records=_training_records(rng=rng, people=people, model=model, trainings=trainings,
                                           target=target, start_ago=np.maximum(start_ago, 0.2), as_of=as_of),
        assessments=_assessments(rng=rng, people=people, taxonomy=taxonomy, target=target, as_of=as_of),
        self_declared=_self_declared(rng=rng, people=people, taxonomy=taxonomy, target=target, as_of=as_of),
        target_occupation=target,
    )


def _reshuffle(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    return values[rng.permutation(len(values))]


def _diplomas(*, rng, people, model, diplomas: Catalogue, first, start_ago, as_of) -> pd.DataFrame:
    items = diplomas.items
    education = people["education"].to_numpy()
    holders = np.flatnonzero(education != "low")
    field = model.frame["isco_group"].str[:2].to_numpy()[first[holders]]
    random_field = rng.choice(items["field"].unique(), size=len(holders))
    field = np.where(rng.random(len(holders)) < 0.8, field, random_field)
    key = pd.MultiIndex.from_arrays([items["field"], items["level"]])
    lookup = pd.Series(items["diploma_id"].to_numpy(), index=key)
    diploma_id = lookup.reindex(pd.MultiIndex.from_arrays([field, education[holders]])).to_numpy()
    return pd.DataFrame(
        {
            "citizen_id": people["citizen_id"].to_numpy()[holders],
            "diploma_id": diploma_id.astype(np.int64),
            "level": education[holders],
            "obtained_date": _to_date(as_of, np.maximum(start_ago[holders], 0.0)),
        }
    )


def _training_records(*, rng, people, model, trainings: Catalogue, target, start_ago, as_of) -> pd.DataFrame:
    size = len(people)
    counts = rng.poisson(0.35 + 0.5 * (people["status"].to_numpy() == "job_seeker")
                         + 0.2 * (people["motivation"].to_numpy() > 0.5))
    owner = np.repeat(np.arange(size), counts)
    anchor = pd.Index(model.frame["uri"]).get_indexer(trainings.items["anchor_occupation_uri"])
    order = np.argsort(anchor, kind="stable")
    indptr = np.searchsorted(anchor[order], np.arange(len(model.frame) + 1))
    related = np.where(rng.random(len(owner)) < 0.5, target[owner],
                       model.neighbours[target[owner], rng.integers(0, 5, len(owner))])
    lengths = np.diff(indptr)[related]
    pick = indptr[related] + (rng.random(len(owner)) * np.maximum(lengths, 1)).astype(np.int64)
    chosen = np.where((lengths > 0) & (rng.random(len(owner)) < 0.7),
                      order[np.minimum(pick, len(order) - 1)], rng.integers(0, len(trainings.items), len(owner)))
    frame = pd.DataFrame(
        {
            "citizen_id": people["citizen_id"].to_numpy()[owner],
            "training_id": trainings.items["training_id"].to_numpy()[chosen],
            "completed_date": _to_date(as_of, rng.uniform(0, 1, len(owner)) * start_ago[owner]),
        }
    )
    return frame.drop_duplicates(subset=["citizen_id", "training_id"]).reset_index(drop=True)


def _assessments(*, rng, people, taxonomy: Taxonomy, target, as_of) -> pd.DataFrame:
    size = len(people)
    p = np.where(people["status"].to_numpy() == "job_seeker", 0.6, 0.08)
    assessed = np.flatnonzero(rng.random(size) < p)
    essential = taxonomy.relation_matrix("essential")
    owner, competency = _random_members(rng, essential.indptr, essential.indices, target[assessed], draws=5)
    ability = people["ability"].to_numpy()[assessed][owner]
    proficiency = np.clip(np.round(2.5 + 0.8 * ability + rng.normal(0, 0.7, len(owner))), 1, 4).astype(np.int8)
    frame = pd.DataFrame(
        {
            "citizen_id": people["citizen_id"].to_numpy()[assessed][owner],
            "competency_uri": taxonomy.competencies["uri"].to_numpy()[competency],
            "proficiency": proficiency,
            "assessed_date": _to_date(as_of, rng.uniform(0, 1, len(owner))),
        }
    ).drop_duplicates(subset=["citizen_id", "competency_uri"]).reset_index(drop=True)
    frame.insert(0, "assessment_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


def _self_declared(*, rng, people, taxonomy: Taxonomy, target, as_of) -> pd.DataFrame:
    declaring = np.flatnonzero(rng.random(len(people)) < 0.4)
    optional = taxonomy.relation_matrix("optional")
    owner, competency = _random_members(rng, optional.indptr, optional.indices, target[declaring], draws=3)
    return pd.DataFrame(
        {
            "citizen_id": people["citizen_id"].to_numpy()[declaring][owner],
            "competency_uri": taxonomy.competencies["uri"].to_numpy()[competency],
            "declared_date": _to_date(as_of, rng.uniform(0, 2, len(owner))),
        }
    ).drop_duplicates(subset=["citizen_id", "competency_uri"]).reset_index(drop=True)
