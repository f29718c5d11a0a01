"""Provinces, municipalities with coordinates, and distances.

The largest municipalities of each province stand for the whole province (an assumption); citizens,
vacancies and classroom trainings are placed around them with a few kilometres of jitter.
Coordinates are the municipalities' public centre points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.population.facts import PROVINCE_POPULATION, PROVINCE_WORKING_AGE_SHARE

# province, municipality, latitude, longitude, approximate population (thousands; weights only)
_MUNICIPALITIES = [
    ("Antwerpen", "Antwerpen", 51.2194, 4.4025, 530), ("Antwerpen", "Mechelen", 51.0257, 4.4776, 87),
    ("Antwerpen", "Turnhout", 51.3227, 4.9447, 45), ("Antwerpen", "Geel", 51.1619, 4.9896, 41),
    ("Antwerpen", "Lier", 51.1313, 4.5704, 37), ("Antwerpen", "Mol", 51.1912, 5.1164, 37),
    ("Antwerpen", "Herentals", 51.1766, 4.8355, 29), ("Antwerpen", "Brasschaat", 51.2912, 4.4918, 38),
    ("Oost-Vlaanderen", "Gent", 51.0543, 3.7174, 265), ("Oost-Vlaanderen", "Aalst", 50.9378, 4.0403, 88),
    ("Oost-Vlaanderen", "Sint-Niklaas", 51.1650, 4.1437, 80), ("Oost-Vlaanderen", "Dendermonde", 51.0283, 4.1005, 46),
    ("Oost-Vlaanderen", "Lokeren", 51.1036, 3.9934, 42), ("Oost-Vlaanderen", "Oudenaarde", 50.8467, 3.6036, 32),
    ("Oost-Vlaanderen", "Eeklo", 51.1870, 3.5560, 21), ("Oost-Vlaanderen", "Ninove", 50.8283, 4.0256, 39),
    ("West-Vlaanderen", "Brugge", 51.2093, 3.2247, 119), ("West-Vlaanderen", "Kortrijk", 50.8279, 3.2649, 79),
    ("West-Vlaanderen", "Oostende", 51.2154, 2.9286, 72), ("West-Vlaanderen", "Roeselare", 50.9449, 3.1236, 64),
    ("West-Vlaanderen", "Ieper", 50.8503, 2.8851, 35), ("West-Vlaanderen", "Waregem", 50.8890, 3.4273, 38),
    ("West-Vlaanderen", "Tielt", 50.9990, 3.3264, 21), ("West-Vlaanderen", "Knokke-Heist", 51.3500, 3.2667, 33),
    ("Vlaams-Brabant", "Leuven", 50.8798, 4.7005, 102), ("Vlaams-Brabant", "Vilvoorde", 50.9281, 4.4292, 45),
    ("Vlaams-Brabant", "Halle", 50.7339, 4.2345, 40), ("Vlaams-Brabant", "Dilbeek", 50.8483, 4.2589, 43),
    ("Vlaams-Brabant", "Tienen", 50.8075, 4.9378, 35), ("Vlaams-Brabant", "Aarschot", 50.9870, 4.8360, 30),
    ("Vlaams-Brabant", "Zaventem", 50.8833, 4.4667, 34), ("Vlaams-Brabant", "Diest", 50.9840, 5.0510, 24),
    ("Limburg", "Hasselt", 50.9307, 5.3325, 80), ("Limburg", "Genk", 50.9650, 5.5008, 67),
    ("Limburg", "Sint-Truiden", 50.8167, 5.1864, 41), ("Limburg", "Tongeren", 50.7806, 5.4644, 31),
    ("Limburg", "Beringen", 51.0490, 5.2260, 47), ("Limburg", "Lommel", 51.2306, 5.3133, 35),
    ("Limburg", "Maasmechelen", 50.9650, 5.6940, 38), ("Limburg", "Bilzen", 50.8728, 5.5183, 33),
    ("Brussel", "Brussel", 50.8467, 4.3525, 190), ("Brussel", "Schaarbeek", 50.8676, 4.3737, 133),
    ("Brussel", "Anderlecht", 50.8367, 4.3069, 123), ("Brussel", "Elsene", 50.8275, 4.3720, 87),
    ("Brussel", "Molenbeek", 50.8544, 4.3234, 98), ("Brussel", "Ukkel", 50.8019, 4.3379, 85),
    ("Brussel", "Etterbeek", 50.8361, 4.3861, 48), ("Brussel", "Vorst", 50.8100, 4.3200, 57),
]
JITTER_DEGREES = 0.03  # about 3 km


def municipalities() -> pd.DataFrame:
    """One row per municipality with its province and the probability a citizen lives there."""
    frame = pd.DataFrame(_MUNICIPALITIES, columns=["province", "municipality", "lat", "lon", "population_k"])
    working_age = {
        name: fact.value * PROVINCE_WORKING_AGE_SHARE[name] for name, fact in PROVINCE_POPULATION.items()
    }
    total = sum(working_age.values())
    within = frame["population_k"] / frame.groupby("province")["population_k"].transform("sum")
    frame["weight"] = within * frame["province"].map(working_age) / total
    return frame


PROVINCES = tuple(PROVINCE_POPULATION)


def place(rng: np.random.Generator, weights: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw municipalities by ``weights`` and jittered coordinates; returns (municipality index, lat, lon)."""
    table = municipalities()
    index = rng.choice(len(table), size=size, p=weights / weights.sum())
    lat = table["lat"].to_numpy()[index] + rng.normal(0.0, JITTER_DEGREES, size)
    lon = table["lon"].to_numpy()[index] + rng.normal(0.0, JITTER_DEGREES * 1.5, size)
    return index, lat.round(5), lon.round(5)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in kilometres, element-wise."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(value, dtype=np.float64)) for value in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
