"""Request and response models of the suggestion service (they are the OpenAPI document).

Requests are strict: a field has the type its schema says (``"10"`` is not a number, ``0`` is not a boolean), an
unknown field is refused, and a field is either sent with a value or left out (never ``null``). What a citizen
request and an anonymous profile need is written into the schema as a ``oneOf``, so that a request the schema
accepts is one the service accepts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema, field_validator,
                      model_validator)

def _integral(value):
    """JSON Schema's integers include 35.0; strings and booleans stay refused by the strict check after this."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]  # an integer as JSON Schema reads one
Kind = Literal["jobs", "trainings", "careers"]
Language = Literal["nl", "en"]
Readiness = Literal["ready", "bridgeable", "stretch"]
Guarantee = Literal["good", "ready"]
OrderSetBy = Literal["score", "guarantee", "list"]
MAX_COMPETENCIES = 100
MAX_ID_CHARS = 300
MAX_TITLE_CHARS = 200
MAX_K = 50

ERR_BOTH_PROFILES = "give either citizen_id or an anonymous profile (competencies and/or job_title), not both"
ERR_NO_PROFILE = "give citizen_id, or at least one competency or a job title for an anonymous profile"
ERR_NULL = "leave {field} out instead of sending null"
ERR_PRECOMPUTED = "precomputed lists exist for citizens only; drop precomputed for an anonymous profile"

_CITIZEN_ID = {"type": "integer", "minimum": 1, "description": "The citizen, from the population store (needs "
               "that citizen's token)."}
_COMPETENCIES = {"type": "array", "minItems": 1, "maxItems": MAX_COMPETENCIES,
                 "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
                 "description": "Anonymous profile: competency ids (ESCO/Competent URIs) the person holds."}
_JOB_TITLE = {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_CHARS, "pattern": r"\S",
              "description": "Anonymous profile: a job title typed in Dutch or English."}
_ONE_PROFILE = {"oneOf": [
    {"title": "a citizen", "required": ["citizen_id"]},
    {"title": "an anonymous profile", "anyOf": [{"required": ["competencies"]}, {"required": ["job_title"]}]},
]}
_PRECOMPUTED_NEEDS_CITIZEN = {
    "if": {"required": ["precomputed"], "properties": {"precomputed": {"const": True}}},
    "then": {"required": ["citizen_id"]},
}


def _profile_schema(*rules: dict):
    """The request's JSON schema with its cross-field ``rules``; fields that are left out rather than null carry no
    ``default: null``."""

    def extra(schema: dict) -> None:
        for name in ("citizen_id", "competencies", "job_title"):
            schema["properties"][name].pop("default", None)
        for rule in rules:
            schema.update(rule)

    return extra


class ProfileQuery(BaseModel):
    """Whose suggestions: a citizen (by id, needs that citizen's token) or an anonymous profile (nothing stored)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_profile_schema(_ONE_PROFILE))

    kind: Kind = Field(description="What to suggest: vacancies (jobs), trainings, or next occupations (careers).")
    citizen_id: Annotated[JsonInt | None, WithJsonSchema(_CITIZEN_ID)] = Field(default=None, ge=1)
    competencies: Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]] | None,
                            WithJsonSchema(_COMPETENCIES)] = Field(default=None, min_length=1,
                                                                   max_length=MAX_COMPETENCIES)
    job_title: Annotated[str | None, WithJsonSchema(_JOB_TITLE)] = Field(default=None, min_length=1,
                                                                          max_length=MAX_TITLE_CHARS, pattern=r"\S")
    language: Language = Field(default="nl", description="Language of titles and sentences.")

    @field_validator("citizen_id", "competencies", "job_title", mode="before")
    @classmethod
    def _no_null(cls, value, info):
        if value is None:
            raise ValueError(ERR_NULL.format(field=info.field_name))
        return value

    @model_validator(mode="after")
    def _one_kind_of_profile(self) -> ProfileQuery:
        anonymous = self.competencies is not None or self.job_title is not None
        if self.citizen_id is not None and anonymous:
            raise ValueError(ERR_BOTH_PROFILES)
        if self.citizen_id is None and not anonymous:
            raise ValueError(ERR_NO_PROFILE)
        return self


class SuggestionRequest(ProfileQuery):
    model_config = ConfigDict(json_schema_extra=_profile_schema(_ONE_PROFILE, _PRECOMPUTED_NEEDS_CITIZEN))

    k: JsonInt = Field(default=10, ge=1, le=MAX_K, description="How many suggestions (1-50).")
    precomputed: StrictBool = Field(default=False, description=(
        "Citizens only: answer from the newest complete nightly batch (`loopbaan batch suggest`) when it was made "
        "by the served model version; otherwise the list is computed now and the notice says why."))

    @model_validator(mode="after")
    def _precomputed_for_citizens(self) -> SuggestionRequest:
        if self.precomputed and self.citizen_id is None:
            raise ValueError(ERR_PRECOMPUTED)
        return self


class CompareRequest(ProfileQuery):
    item_a: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="One item of the list (its item_id).")
    item_b: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="The item to compare it with.")
    k: JsonInt = Field(default=10, ge=1, le=MAX_K, description=(
        "The length of the list the two items are compared in (the k asked from /suggestions): their order is the "
        "order of that list."))


class OptOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    opted_out: StrictBool = Field(description="True: no AI suggestions, only a general list; False: personalised ones.")


# -- responses -------------------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    location: list[str | int] = Field(description="Where in the request, e.g. [\"body\", \"k\"].")
    message: str


class ErrorResponse(BaseModel):
    """Every refusal of the service: what is wrong and what to do, and for a malformed request each problem."""

    error: str
    details: list[ErrorDetail] = Field(default_factory=list)


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
        "(scores and explanations stay the model's own; each moved suggestion says so)."))
    guarantees: list[Guarantee] | None = Field(None, description=(
        "Set with `reranked`: what every prefix of the re-ranked list holds a minimum share of: `good` (good "
        "opportunities), `ready` (items the citizen is ready for now)."))
    serving_since: str = Field(description="When this service process began serving this version (ISO 8601 UTC).")


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
    moved_by: list[Guarantee] = Field(description=(
        "The fairness guarantees that moved this item up past items with a higher score (empty: it stands where "
        "its score puts it)."))
    moved_reason: str | None = Field(description="Set with `moved_by`: why, in the list's language.")


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
    rank: int | None = Field(description="Its place in the list of k (None: not in that list).")
    moved_by: list[Guarantee] = Field(description="The fairness guarantees that moved it up in that list.")
    moved_reason: str | None


class CompareResponse(BaseModel):
    request_id: str
    kind: Kind
    model: ModelInfo
    k: int
    item_a: ItemScore
    item_b: ItemScore
    a_above_b: bool = Field(description="Whether A stands above B in the list the citizen sees.")
    order_set_by: OrderSetBy = Field(description=(
        "`score`: the higher one scores higher; `guarantee`: the fairness guarantee moved the higher one past the "
        "better-scored one; `list`: only the higher one is in the list of k, although the other scores higher."))
    score_difference: float = Field(description="score of A - score of B.")
    differences: list[FeatureDifference] = Field(description="Ordered by absolute difference; they sum to the "
                                                             "score difference.")
    summary: str = Field(description="The order in words, with the main reason.")


class AssessmentInfo(BaseModel):
    assessment_id: str
    passed: bool
    assessed_at: str | None
    policy_version: str | None
    failed_checks: list[str]


class ServedModel(ModelInfo):
    features: list[str]
    catalogue_size: int
    assessment: AssessmentInfo | None = Field(description="The last fairness assessment (None: not assessed yet).")


class PopulationInfo(BaseModel):
    as_of: str
    citizens: int
    synthetic: bool


class RegistryInfo(BaseModel):
    uri: str
    reachable: bool
    checked_at: str | None = Field(description="When this process last read the registry (ISO 8601 UTC).")
    reload_seconds: float = Field(description="How often it does.")


class WithdrawalInfo(BaseModel):
    reason: str
    at: str | None


class MetadataResponse(BaseModel):
    population: PopulationInfo
    registry: RegistryInfo
    models: dict[str, ServedModel] = Field(description="The kinds served now, by kind.")
    unavailable: dict[str, str] = Field(description="The kinds not served now, with the reason.")
    withdrawn: dict[str, WithdrawalInfo] = Field(description="Kinds the fairness gate withdrew (answered with 503).")


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


class OptOutResponse(BaseModel):
    opted_out: bool


class ReloadResponse(BaseModel):
    changes: dict[str, str] = Field(description="What this reload changed, per kind (empty: nothing moved).")
    models: dict[str, ModelInfo]
    unavailable: dict[str, str]
