"""Synthetic citizens' career data, vacancies, trainings and outcomes, calibrated to Flemish figures."""

from features.population.config import BiasSettings, PopulationConfig
from features.population.generator import generate_population, generate_to
from features.population.store import PopulationStore

__all__ = ["BiasSettings", "PopulationConfig", "PopulationStore", "generate_population", "generate_to"]
