"""Settings of one synthetic population: size, seed, catalogue sizes and the historical-bias knobs."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from features.population.facts import OPEN_VACANCIES, WORKING_AGE_POPULATION

MIN_VACANCIES = 2_000


class BiasSettings(BaseModel):
    """Historical-bias knobs of the hiring model, in log-odds of being hired after applying.

    Each knob lowers the hiring odds of one group, all else (competencies, experience, language,
    the latent ability) equal; 0 switches it off. The defaults are a moderate level, on purpose:
    the fairness gate must have real work to do.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    age: float = Field(0.8, ge=0, le=5, description="penalty for applicants aged 55-64 (half for 50-54)")
    gender_stereotype: float = Field(
        1.0, ge=0, le=5, description="penalty for applicants whose gender is rare in the occupation (< 30% share)"
    )
    origin: float = Field(0.8, ge=0, le=5, description="penalty for non-EU origin (half for EU origin)")
    disability: float = Field(0.6, ge=0, le=5, description="penalty for applicants with an arbeidshandicap")

    @classmethod
    def none(cls) -> BiasSettings:
        return cls(age=0.0, gender_stereotype=0.0, origin=0.0, disability=0.0)

    def scaled(self, factor: float) -> BiasSettings:
        return BiasSettings(**{name: value * factor for name, value in self.model_dump().items()})


class PopulationConfig(BaseModel):
    """What ``loopbaan data generate`` builds; the same config and seed give the same files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    citizens: int = Field(ge=50, le=5_000_000)
    seed: int = Field(42, ge=0)
    vacancies: int | None = Field(
        None, ge=10, le=2_000_000,
        description="open vacancies; default scales the real ratio (141k open for 4.9M aged 18-64), at least 2,000",
    )
    trainings: int = Field(1_500, ge=10, le=200_000)
    as_of: date = Field(date(2026, 6, 30), description="reference date of the data (the 'today' of the population)")
    bias: BiasSettings = Field(default_factory=BiasSettings)

    @property
    def vacancy_count(self) -> int:
        if self.vacancies is not None:
            return self.vacancies
        real_ratio = OPEN_VACANCIES.value / WORKING_AGE_POPULATION.value
        return max(MIN_VACANCIES, round(self.citizens * real_ratio))
