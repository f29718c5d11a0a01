"""Request and response models of the suggestion service (they are the OpenAPI document)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["jobs", "trainings", "careers"]
Language = Literal["nl", "en"]
Readiness = Literal["ready", "bridgeable", "stretch"]
MAX_COMPETENCIES = 100
MAX_TITLE_CHARS = 200


class ProfileQuery(BaseModel):
    """Whose suggestions: a citizen (by id, needs that citizen's token) or an anonymous profile (nothing stored)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="What to suggest: vacancies (jobs), trainings, or next occupations (careers).")
    citizen_id: int | None = Field(default=None, ge=1, description="The citizen, from the population store.")
    competencies: list[str] | None = Field(
        default=None, max_length=MAX_COMPETENCIES,
        description="Anonymous profile: competency ids (ESCO/Competent URIs) the person holds.")
    job_title: str | None = Field(default=None, max_length=MAX_TITLE_CHARS,
                                  description="Anonymous profile: a job title typed in Dutch or English.")
    language: Language = Field(default="nl", description="Language of titles and sentences.")

    @model_validator(mode="after")
    def _one_kind_of_profile(self) -> ProfileQuery:
        anonymous = bool(self.competencies) or bool(self.job_title and self.job_title.strip())
        if self.citizen_id is not None and anonymous:
            raise ValueError("give either citizen_id or an anonymous profile (competencies and/or job_title), not both")
        if self.citizen_id is None and not anonymous:
            raise ValueError("give citizen_id, or at least one competency or a job title for an anonymous profile")
        return self


class SuggestionRequest(ProfileQuery):
    k: int = Field(default=10, ge=1, le=50, description="How many suggestions (1-50).")
    precomputed: bool = Field(default=False, description=(
        "Citizens only: answer from the newest complete nightly batch (`loopbaan batch suggest`) when it was made "
        "by the served model version; otherwise the list is computed now and the notice says why."))

    @model_validator(mode="after")
    def _precomputed_for_citizens(self) -> SuggestionRequest:
        if self.precomputed and self.citizen_id is None:
            raise ValueError("precomputed lists exist for citizens only; drop precomputed for an anonymous profile")
        return self


class CompareRequest(ProfileQuery):
    item_a: str = Field(min_length=1, max_length=300, description="The item ranked higher (as in item_id).")
    item_b: str = Field(min_length=1, max_length=300, description="The item to compare it with.")


class Competency(BaseModel):
    id: str
    label: str


class BridgingTraining(BaseModel):
    training_id: str
    title: str
    duration_hours: float
    covers: list[Competency]


class Barrier(BaseModel):
    barrier: Literal["commute", "licence", "language", "hours", "education"]
    detail: str
    effect: float = Field(description="Its contribution to the score (negative: it lowers the score).")


class Contribution(BaseModel):
    feature: str
    value: float | None
    contribution: float
    sentence: str


class Explanation(BaseModel):
    base_value: float
    contributions: list[Contribution] = Field(description="Ordered by absolute effect; base + Σ = score.")
    summary: str


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    fallback: bool = Field(description="True when the challenger is served because no champion exists.")
    reranked: str | None = Field(None, description=(
        "Set when the version is a mitigated one: how its fairness re-ranker reorders the model's candidates "
        "(scores and explanations stay the model's own)."))
    guarantees: list[str] | None = Field(None, description=(
        "Set with `reranked`: what every prefix of the re-ranked list holds a minimum share of: `good` (good "
        "opportunities), `ready` (items the citizen is ready for now)."))


class SuggestionOut(BaseModel):
    rank: int
    item_id: str
    title: str
    kind: Kind
    score: float
    readiness: Readiness | None = Field(description="None only in a non-personalised list (opt-out).")
    matched_competencies: list[Competency]
    missing_competencies: list[Competency]
    bridging_trainings: list[BridgingTraining]
    barriers: list[Barrier]
    explanation: Explanation


class BatchRef(BaseModel):
    """The nightly batch a precomputed list came from."""

    batch_id: str
    completed_at: str
    as_of: str = Field(description="The reference date of the data the batch was computed on.")


class SuggestionResponse(BaseModel):
    request_id: str
    kind: Kind
    language: Language
    personalised: bool
    notice: str | None = None
    matched_occupation: str | None = Field(default=None, description="How a typed job title was read (URI).")
    model: ModelInfo
    batch: BatchRef | None = Field(default=None, description="Set when the list comes from a nightly batch.")
    suggestions: list[SuggestionOut]


class FeatureDifference(BaseModel):
    feature: str
    value_a: float | None
    value_b: float | None
    contribution_a: float
    contribution_b: float
    difference: float = Field(description="contribution_a - contribution_b; positive: this feature favours A.")
    sentence: str


class ItemScore(BaseModel):
    item_id: str
    title: str
    score: float


class CompareResponse(BaseModel):
    request_id: str
    kind: Kind
    model: ModelInfo
    item_a: ItemScore
    item_b: ItemScore
    score_difference: float
    differences: list[FeatureDifference] = Field(description="Ordered by absolute difference; they sum to the "
                                                             "score difference.")
    summary: str


class EvidenceOut(BaseModel):
    source: str = Field(description="work | diploma | training | assessment | self-declared")
    reference: str = Field(description="The occupation, diploma or training the competency came from.")
    date: str | None
    proficiency: int | None


class HeldCompetency(BaseModel):
    id: str
    label: str
    sources: list[EvidenceOut] = Field(description="Where the competency came from, newest first.")


class CareerDataResponse(BaseModel):
    """The citizen's own career data ("loopbaandata"), as the models see it on the reference date."""

    citizen_id: int
    as_of: str
    language: Language
    opted_out: bool = Field(description="True when the citizen chose not to receive AI suggestions.")
    circumstances: dict
    work: list[dict]
    diplomas: list[dict]
    trainings: list[dict]
    competencies: list[HeldCompetency]


class OptOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool = Field(description="True: no AI suggestions, only a general list; False: personalised ones.")


class OptOutResponse(BaseModel):
    opted_out: bool
