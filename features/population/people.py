"""Citizens: where they live, who they are, and their labour-market status, calibrated to the facts."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.population import facts
from features.population.calibrate import logit, rake_probabilities
from features.population.geography import municipalities, place

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64")
ORIGINS = ("belgian", "eu", "non_eu")
GENDERS = ("man", "woman")
STATUSES = ("employed", "job_seeker", "inactive")
# Dutch proficiency: 0 none, 1 basic (A1-A2), 2 good (B1-B2), 3 very good (C1+).
DUTCH_LEVELS = ("none", "basic", "good", "very_good")


def age_band(age: np.ndarray) -> np.ndarray:
    edges = np.array([25, 35, 45, 55])
    return np.array(AGE_BANDS, dtype=object)[np.searchsorted(edges, age, side="right")]


def _employment_age_band(age: np.ndarray) -> np.ndarray:
    """The published employment-rate bands (20-34, 35-44, 45-54, 55-64)."""
    labels = np.array(["20-34", "35-44", "45-54", "55-64"], dtype=object)
    return labels[np.searchsorted(np.array([35, 45, 55]), age, side="right")]


def generate_people(*, rng: np.random.Generator, size: int, as_of: date) -> pd.DataFrame:
    """All personal attributes, sensitive and not, in one frame (split into two tables on writing)."""
    places = municipalities()
    muni, lat, lon = place(rng, places["weight"].to_numpy(), size)
    province = places["province"].to_numpy()[muni]
    brussels = province == "Brussel"

    gender = np.where(rng.random(size) < 0.5, "woman", "man").astype(object)
    age = rng.integers(18, 65, size)
    birth_year = as_of.year - age

    origin_p = np.array([[a.value for a in facts.ORIGIN_SHARE_FLANDERS.values()],
                         [a.value for a in facts.ORIGIN_SHARE_BRUSSELS.values()]])
    origin = np.array(ORIGINS, dtype=object)[
        (rng.random(size)[:, None] > np.cumsum(origin_p[brussels.astype(int)], axis=1)).sum(axis=1)
    ]

    age_from_40 = (age - 40) / 25.0
    disability = rng.random(size) < rake_probabilities(
        base_logit=0.9 * age_from_40, margins=[(np.zeros(size, dtype=int), {0: facts.DISABILITY_SHARE.value})]
    )

    education = _education(rng=rng, age=age, gender=gender, origin=origin)
    employed, job_seeker = _status(rng=rng, age=age, gender=gender, education=education,
                                   disability=disability, origin=origin)
    status = np.where(employed, "employed", np.where(job_seeker, "job_seeker", "inactive")).astype(object)

    dutch = _dutch(rng=rng, origin=origin, brussels=brussels)
    licence_p = facts.DRIVING_LICENCE.value + np.where(age < 22, -0.35, 0.0) + np.where(brussels, -0.2, 0.0) \
        + np.where(origin == "non_eu", -0.2, 0.0)
    driving_licence = rng.random(size) < np.clip(licence_p, 0.05, 0.97)
    care_p = facts.CARE_DUTIES.value + np.where((age >= 25) & (age < 45), 0.15, -0.08) \
        + np.where(gender == "woman", 0.08, -0.08)
    care_duties = rng.random(size) < np.clip(care_p, 0.02, 0.9)
    part_time = rng.random(size) < np.clip(facts.PART_TIME_PREFERENCE.value + 0.25 * care_duties - 0.1, 0.02, 0.9)
    max_commute = np.round(np.where(driving_licence, rng.gamma(4.0, 7.0, size), rng.gamma(3.0, 5.0, size)) + 5, 1)

    return pd.DataFrame(
        {
            "citizen_id": np.arange(1, size + 1, dtype=np.int64),
            "municipality": places["municipality"].to_numpy()[muni],
            "province": province,
            "lat": lat,
            "lon": lon,
            "gender": gender,
            "birth_year": birth_year.astype(np.int16),
            "age": age.astype(np.int16),
            "age_band": age_band(age),
            "origin": origin,
            "disability": disability,
            "education": education,
            "dutch_level": dutch.astype(np.int8),
            "driving_licence": driving_licence,
            "care_duties": care_duties,
            "prefers_part_time": part_time,
            "max_commute_km": max_commute.astype(np.float32),
            "status": status,
            # Latent factors: drive behaviour, never written, independent of every sensitive attribute.
            "ability": rng.normal(0.0, 1.0, size),
            "motivation": rng.normal(0.0, 1.0, size),
        }
    )


def _education(*, rng: np.random.Generator, age: np.ndarray, gender: np.ndarray, origin: np.ndarray) -> np.ndarray:
    size = len(age)
    counted = age >= 25
    base = np.where(origin == "non_eu", -0.5, 0.0) - 0.015 * (age - 40)
    high_p = rake_probabilities(
        base_logit=base,
        margins=[(gender, {g: facts.HIGH_EDUCATED_BY_GENDER[g].value for g in GENDERS})],
        mask=counted,
    )
    high_p = np.where(age < 22, 0.03, np.where(age < 25, 0.35, high_p))
    high = rng.random(size) < high_p
    band = age_band(age)
    # Targets for 'low' among those not highly educated, so that the unconditional shares match.
    not_high = counted & ~high
    low_targets = {}
    for band_label, fact in facts.LOW_EDUCATED_BY_AGE_BAND.items():
        in_band = counted & (band == band_label)
        low_targets[band_label] = min(0.95, fact.value * in_band.sum() / max(1, (in_band & ~high).sum()))
    overall = facts.EDUCATION_SHARE["low"].value * counted.sum() / max(1, not_high.sum())
    low_p = rake_probabilities(
        base_logit=np.where(origin == "non_eu", 0.8, 0.0) + 0.02 * (age - 40),
        margins=[(np.zeros(size, dtype=int), {0: overall}), (band, low_targets)],
        mask=not_high,
    )
    low_p = np.where(age < 20, 0.5, np.where(age < 25, 0.15, low_p))
    low = ~high & (rng.random(size) < low_p)
    return np.where(high, "high", np.where(low, "low", "medium")).astype(object)


def _status(
    *, rng: np.random.Generator, age: np.ndarray, gender: np.ndarray, education: np.ndarray,
    disability: np.ndarray, origin: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    size = len(age)
    counted = age >= 20
    employed_p = rake_probabilities(
        base_logit=np.full(size, logit(facts.EMPLOYMENT_TOTAL.value)),
        margins=[
            (gender, {g: f.value for g, f in facts.EMPLOYMENT_BY_GENDER.items()}),
            (_employment_age_band(age), {b: f.value for b, f in facts.EMPLOYMENT_BY_AGE_BAND.items()}),
            (education, {e: f.value for e, f in facts.EMPLOYMENT_BY_EDUCATION.items()}),
            (disability, {d: f.value for d, f in facts.EMPLOYMENT_BY_DISABILITY.items()}),
            (origin, {o: f.value for o, f in facts.EMPLOYMENT_BY_ORIGIN.items()}),
        ],
        mask=counted,
    )
    employed_p = np.where(age < 20, 0.3, employed_p)
    employed = rng.random(size) < employed_p

    # Registered job seekers among those without work: labour-force share and composition as published.
    rate = facts.JOBSEEKER_RATE.value
    wanted = rate / (1 - rate) * employed.sum()
    pool = ~employed
    js_age = np.where(age < 25, "<25", np.where(age >= 60, "60+", "25-59")).astype(object)
    margins = []
    for labels, shares in ((js_age, facts.JOBSEEKER_AGE), (education, facts.JOBSEEKER_EDUCATION),
                           (gender, facts.JOBSEEKER_GENDER)):
        targets = {}
        for label, fact in shares.items():
            available = (pool & (labels == label)).sum()
            targets[label] = min(0.95, fact.value * wanted / max(1, available))
        margins.append((labels, targets))
    seeker_p = rake_probabilities(base_logit=np.where(disability, -0.3, 0.0), margins=margins, mask=pool)
    job_seeker = pool & (rng.random(size) < seeker_p)
    return employed, job_seeker


def _dutch(*, rng: np.random.Generator, origin: np.ndarray, brussels: np.ndarray) -> np.ndarray:
    """Dutch proficiency by origin and region (an assumption; checked against the job-seeker figure)."""
    probabilities = {  # none, basic, good, very good
        ("belgian", False): (0.0, 0.01, 0.06, 0.93),
        ("belgian", True): (0.10, 0.30, 0.30, 0.30),
        ("eu", False): (0.08, 0.27, 0.37, 0.28),
        ("eu", True): (0.25, 0.35, 0.25, 0.15),
        ("non_eu", False): (0.12, 0.28, 0.38, 0.22),
        ("non_eu", True): (0.30, 0.35, 0.22, 0.13),
    }
    levels = np.zeros(len(origin), dtype=np.int8)
    draws = rng.random(len(origin))
    for (group, in_brussels), p in probabilities.items():
        rows = (origin == group) & (brussels == in_brussels)
        levels[rows] = np.searchsorted(np.cumsum(p), draws[rows], side="right").clip(0, 3)
    return levels
