"""Request and response models of the suggestion service (they are the OpenAPI document).

Requests are strict: a field has the type its schema says (``"10"`` is not a number, ``0`` is not a boolean), an
unknown field is refused, and a field is either sent with a value or left out (never ``null``). What a citizen
request and an anonymous profile need is written into the schema as a ``oneOf``, so that a request the schema
accepts is one the service accepts.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationInfo, WithJsonSchema,
                      field_validator, model_validator)

from features.vocabulary import FeedbackReason, Guarantee, Kind, Language, OccupationKind, SearchKind
from models.suggestion import Competency, Suggestion


def _integral(value):
    """JSON Schema's integers include 35.0; strings and booleans stay refused by the strict check after this."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]  # an integer as JSON Schema reads one
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ERR_DATE = "give the date as YYYY-MM-DD"


def _full_date(value):
    """A JSON string YYYY-MM-DD (RFC 3339 full-date) as a date; anything else is refused, whatever Python could read."""
    if isinstance(value, str) and _FULL_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(ERR_DATE)


_DATE_SCHEMA = {"type": "string", "format": "date"}
JsonDate = Annotated[date, BeforeValidator(_full_date), WithJsonSchema(_DATE_SCHEMA)]
OptionalDate = Annotated[JsonDate | None, WithJsonSchema(_DATE_SCHEMA)]  # may be left out, never null


def _without_null_defaults(schema: dict) -> None:
    """Fields that may be left out but not sent as null carry no ``default: null`` in the document."""
    for field in schema.get("properties", {}).values():
        if field.get("default", ...) is None:
            field.pop("default")


def _refusing_null(*fields: str):
    """A before-validator for ``fields``, which may be left out but not sent as null (the message names the field)."""
    def refuse(cls, value, info: ValidationInfo):
        if value is None:
            raise ValueError(ERR_NULL.format(field=info.field_name))
        return value
    return field_validator(*fields, mode="before")(classmethod(refuse))


OrderSetBy = Literal["score", "guarantee", "list"]
MAX_COMPETENCIES = 100
MAX_ID_CHARS = 300
MAX_TITLE_CHARS = 200
MAX_K = 50
MAX_LEARN = 10
MAX_NOTE_CHARS = 500
MAX_TEST_NAME_CHARS = 200
MAX_DB_INT = 2**53 - 1  # within the vault's BIGINT, and exact as a JSON number: a larger revision or id is a 400

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

    _no_null = _refusing_null("citizen_id", "competencies", "job_title")

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
    revision: int | None = Field(default=None, description=(
        "Only with a 409 for an edit made on stale data (another window saved first): the revision the career data "
        "is at now. Reload it (GET /me) and make the edit again."))
    code: str | None = Field(default=None, description=(
        "Only with a 422 for a share that cannot be made as asked: which rule it breaks (e.g. vacancy_needed), for "
        "the site to say so in the citizen's language."))



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


class Lesson(BaseModel):
    training_id: str
    title: str
    duration_hours: float
    teaches: list[Competency] = Field(description="The competencies of the recourse set this training teaches.")


class RecourseOut(BaseModel):
    """What learning makes this item ready: the smallest set of its missing essential competencies that does (no
    smaller set does), and the trainings that teach them."""

    learn: list[Competency]
    trainings: list[Lesson]
    untaught: list[Competency] = Field(description="Competencies of `learn` that no training of the catalogue teaches.")
    hours: float = Field(description="The trainings' hours together.")


class SuggestionOut(Suggestion):
    """A suggestion as the service sends it: the ranker's :class:`models.suggestion.Suggestion` with its recourse."""

    recourse: RecourseOut | None = Field(default=None, description=(
        "For a bridgeable or stretch vacancy or career step: what to learn to be ready (None when ready, for "
        "trainings, whose readiness is their Dutch entry level, and in a general list)."))


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


class TaxonomyInfo(BaseModel):
    source: str = Field(description="The taxonomy served: the bundled ESCO version, followed by +labels-nl-<digest> "
                                    "when the home imported Dutch labels (`loopbaan taxonomy import-labels`).")
    occupations: int
    occupations_with_dutch_label: int
    competencies: int
    competencies_with_dutch_label: int = Field(description="The rest are shown in English, marked lang=\"en\".")


class MetadataResponse(BaseModel):
    population: PopulationInfo
    registry: RegistryInfo
    taxonomy: TaxonomyInfo
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
    label_lang: Language
    sources: list[EvidenceOut] = Field(description="Where the competency came from, newest first.")


EntryType = Literal["competency", "test", "course", "diploma"]


class OwnEntry(BaseModel):
    """Something the citizen added themselves (source "self-declared"): they may remove it."""

    entry_id: int
    type: EntryType
    date: str = Field(description="When it happened (YYYY-MM-DD).")
    label: str = Field(description="The competency, the course's or diploma's title, or the test's name.")
    label_lang: Language
    competency_id: str | None = None
    training_id: str | None = None
    diploma_id: str | None = None
    proficiency: int | None = Field(default=None, description="A test's result, 0-4.")


class FeedbackOut(BaseModel):
    kind: Kind
    item_id: str
    title: str | None = Field(description="The item's title (None when the catalogue no longer holds it).")
    reason: FeedbackReason
    note: str | None
    given_on: str


class CareerDataResponse(BaseModel):
    """The citizen's own career data ("loopbaandata") in the vault, as the models see it on the reference date."""

    citizen_id: int
    as_of: str
    language: Language
    revision: int = Field(description="Send it back with every edit (optimistic concurrency: a stale one gets 409).")
    opted_out: bool = Field(description="True when the citizen chose not to receive AI suggestions.")
    circumstances: dict
    work: list[dict]
    diplomas: list[dict]
    trainings: list[dict]
    competencies: list[HeldCompetency]
    entries: list[OwnEntry] = Field(description="What the citizen added themselves, oldest first (removable).")
    feedback: list[FeedbackOut] = Field(description="Items the citizen said are not for them (kept out of lists).")


class OptOutResponse(BaseModel):
    opted_out: bool


class ReloadResponse(BaseModel):
    changes: dict[str, str] = Field(description="What this reload changed, per kind (empty: nothing moved).")
    models: dict[str, ModelInfo]
    unavailable: dict[str, str]


# -- the citizen's own edits, feedback, recourse, "what if", "why not", search ----------------------------------


class ListRequest(BaseModel):
    """Which list an edit's answer recomputes at once."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Kind = Field(default="jobs", description="The list to recompute after the edit.")
    k: JsonInt = Field(default=10, ge=1, le=MAX_K, description="Its length (1-50).")
    language: Language = Field(default="nl", description="Language of titles, labels and sentences.")


class AddCompetencyRequest(ListRequest):
    model_config = ConfigDict(json_schema_extra=_without_null_defaults)

    competency_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description=(
        "An ESCO/Competent competency URI, as GET /search/competencies finds it."))
    revision: JsonInt = Field(ge=0, le=MAX_DB_INT,
                              description="The revision of the career data this edit was made on (GET /me).")
    date: OptionalDate = Field(default=None, description="Since when (default: today); not in the future.")

    _no_null = _refusing_null("date")


class _DatedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_without_null_defaults)

    date: OptionalDate = Field(default=None, description="When (default: today); not in the future.")

    _no_null = _refusing_null("date")


_CATALOGUE_ID = {"type": "string", "pattern": "^[0-9]{1,18}$"}


class TestRecord(_DatedRecord):
    """An orientation or competency test the citizen took; from proficiency 2 its competency counts as held."""

    type: Literal["test"]
    name: str = Field(min_length=1, max_length=MAX_TEST_NAME_CHARS, pattern=r"\S", description="The test's name.")
    competency_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="The competency it measured.")
    proficiency: JsonInt = Field(ge=0, le=4, description="The result, 0 (none) to 4 (expert).")


class CourseRecord(_DatedRecord):
    """A course of the training catalogue the citizen completed (its competencies count as held)."""

    type: Literal["course"]
    training_id: Annotated[str, WithJsonSchema(_CATALOGUE_ID)] = Field(pattern="^[0-9]{1,18}$", description=(
        "The training, as suggestions and bridging trainings name it."))


class DiplomaRecord(_DatedRecord):
    """A diploma of the diploma catalogue (GET /catalogue/diplomas) the citizen obtained."""

    type: Literal["diploma"]
    diploma_id: Annotated[str, WithJsonSchema(_CATALOGUE_ID)] = Field(pattern="^[0-9]{1,18}$")


class AddRecordRequest(ListRequest):
    record: Annotated[TestRecord | CourseRecord | DiplomaRecord, Field(discriminator="type")]
    revision: JsonInt = Field(ge=0, le=MAX_DB_INT,
                              description="The revision of the career data this edit was made on (GET /me).")


class ReadyChange(BaseModel):
    """How many items of one kind the citizen is ready for, before and after, over the whole catalogue (for
    vacancies: those within their commute)."""

    ready_before: int
    ready_after: int
    newly_ready: int
    no_longer_ready: int
    within_commute: bool = Field(description="True for vacancies: only those within the citizen's commute count.")


class ChangeSummary(BaseModel):
    summary: str = Field(description="What changed, in words (\"3 vacatures nu pasklaar dankzij 'heftruck "
                                     "besturen'\").")
    about: str = Field(description="The competency, course, diploma or test the change is about, as named in it.")
    kinds: dict[str, ReadyChange] = Field(description="Per served kind with recourse (jobs, careers).")


class ChangeResponse(BaseModel):
    entry_id: int = Field(description="The entry added (or removed).")
    revision: int = Field(description="The career data's revision now: send it with the next edit.")
    change: ChangeSummary
    suggestions: SuggestionResponse = Field(description="The list asked for, recomputed on the new career data.")


class FeedbackRequest(BaseModel):
    """"Niet voor mij, omdat…": the item stays out of the citizen's lists of that kind."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_without_null_defaults)

    kind: Kind
    item_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    reason: FeedbackReason = Field(description=(
        "too_far, not_interested, tried_before, cannot_meet_requirement (a requirement the citizen cannot meet), "
        "other."))
    note: Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": MAX_NOTE_CHARS})] = Field(
        default=None, max_length=MAX_NOTE_CHARS, description=(
        "In the citizen's own words (optional; never exported or used for training)."))
    language: Language = Field(default="nl", description="Language of the item's title in the answer.")

    _no_null = _refusing_null("note")


class FeedbackListResponse(BaseModel):
    feedback: list[FeedbackOut]


class UnlockOut(BaseModel):
    competency: Competency
    items: int = Field(description="How many items become ready once it is learnt (vacancies: within the commute).")
    examples: list[str] = Field(description="A few of their titles.")
    training: Lesson | None = Field(description="The training that teaches it (None: no training does).")
    summary: str = Field(description="\"Met 'heftruck besturen' worden 14 vacatures pasklaar\", and the training.")


class RecoursePanelResponse(BaseModel):
    """The competencies whose learning alone makes the most items ready, counted exactly over the whole catalogue."""

    kind: OccupationKind
    language: Language
    within_commute: bool
    model: ModelInfo
    unlocks: list[UnlockOut]


class WhatIfRequest(ProfileQuery):
    """The list as it would be if the citizen learnt these competencies (nothing is stored)."""

    model_config = ConfigDict(json_schema_extra=_profile_schema(_ONE_PROFILE))

    learn: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]] = Field(
        min_length=1, max_length=MAX_LEARN, description="Competency URIs to learn (1-10).")
    k: JsonInt = Field(default=10, ge=1, le=MAX_K, description="How many suggestions (1-50).")


class WhatIfResponse(BaseModel):
    change: ChangeSummary
    suggestions: SuggestionResponse = Field(description="The new list with its explanations.")


class WhyNotRequest(ProfileQuery):
    """"Waarom niet deze vacature?" for an item the citizen picks."""

    model_config = ConfigDict(json_schema_extra=_profile_schema(_ONE_PROFILE))

    item_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    k: JsonInt = Field(default=10, ge=1, le=MAX_K, description="The length of the list the citizen sees.")


class WhyNotResponse(BaseModel):
    request_id: str
    kind: Kind
    model: ModelInfo
    k: int
    item: ItemScore = Field(description="Its place in the citizen's ranking (None: not among the candidates, or "
                                        "dismissed).")
    last_shown: ItemScore = Field(description="The last suggestion of the list of k.")
    in_list: bool
    dismissed: bool = Field(description="The citizen said it is not for them, so it is kept out of their lists.")
    score_difference: float = Field(description="score of the item - score of the last shown one.")
    differences: list[FeatureDifference] = Field(description="Ordered by absolute difference; they sum to the "
                                                             "score difference.")
    summary: str


class SearchHit(BaseModel):
    rank: int
    id: str
    label: str
    label_lang: Language
    matched_label: str = Field(description="The label (Dutch or English) that matched the query best.")
    score: float


class SearchResponse(BaseModel):
    kind: SearchKind
    query: str
    language: Language
    hits: list[SearchHit]


class DiplomaOut(BaseModel):
    diploma_id: str
    title: str
    level: str


class DiplomaCatalogueResponse(BaseModel):
    diplomas: list[DiplomaOut]


# -- sharing with partners (GET/POST /me/shares, DELETE /me/shares/{grant_id}, GET /partner/profiles/{share}) ----------

SharePartKey = Literal["competency_profile", "work_history", "diplomas_and_trainings", "contact_wish"]
ShareState = Literal["active", "revoked", "expired", "not_yet_valid"]
AccessOutcome = Literal["disclosed", "other_partner", "revoked", "expired", "not_yet_valid", "part_not_granted"]
MAX_SHARE_DAYS = 180  # features.sharing.MAX_PERIOD_DAYS (a test holds them equal)
MAX_SHARE_TEXT = 500
MAX_VACANCY_ID = 2**53 - 1
SHARE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # features.sharing's grant ids (token_urlsafe)


class PurposeOut(BaseModel):
    purpose: str
    name: str


class PartnerOut(BaseModel):
    partner_id: str
    name: str
    kind: str
    kind_name: str
    kind_description: str
    purposes: list[PurposeOut] = Field(description="The purposes a share with this kind of partner may have.")


class SharePartOut(BaseModel):
    part: SharePartKey
    name: str
    contains: str = Field(description="What the partner gets with this part, in plain words.")


class ContactWish(BaseModel):
    """How the citizen wants the partner to contact them (only with the part contact_wish)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_without_null_defaults)

    channel: Literal["email", "phone", "via_service"]
    name: Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": 100})] = Field(
        default=None, max_length=100, description="Left out for a pseudonymised share.")
    address: Annotated[str | None, WithJsonSchema({"type": "string", "maxLength": 254})] = Field(
        default=None, max_length=254, description="The e-mail address or phone number (not for via_service).")
    note: str = Field(default="", max_length=300)

    _no_null = _refusing_null("name", "address")


class ContactWishOut(BaseModel):
    channel: str
    name: str | None
    address: str | None
    note: str


class GrantOut(BaseModel):
    """One share as the citizen's page lists it."""

    grant_id: str
    partner_id: str
    partner_name: str
    partner_kind: str
    parts: list[str]
    purpose: str
    purpose_name: str
    purpose_text: str
    start: str
    end: str
    pseudonymised: bool
    vacancy_id: int | None
    contact: ContactWishOut | None
    created: str
    revoked: str | None
    state: ShareState


class AccessOut(BaseModel):
    """One partner call on one of the citizen's shares: who, when, which parts, why, answered or refused."""

    grant_id: str
    partner_id: str
    partner_name: str
    partner_kind: str
    at: str
    parts: list[str]
    purpose: str
    purpose_name: str
    outcome: AccessOutcome
    pseudonymised: bool


class SharesResponse(BaseModel):
    partners: list[PartnerOut]
    parts: list[SharePartOut]
    max_days: int = Field(description="The longest period a share may have.")
    grants: list[GrantOut] = Field(description="Every share of the citizen, newest first.")
    accesses: list[AccessOut] = Field(description="Every partner call on them, newest first.")


class ShareRequest(BaseModel):
    """The citizen's decision to share parts of their profile with one partner, for a purpose and a period."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_without_null_defaults)

    partner_id: str = Field(min_length=1, max_length=100, description="A partner of GET /me/shares.")
    parts: list[SharePartKey] = Field(min_length=1, max_length=4)
    purpose: str = Field(min_length=1, max_length=40, description="One of the partner's purposes.")
    purpose_text: str = Field(default="", max_length=MAX_SHARE_TEXT, description="The purpose in own words.")
    days: JsonInt = Field(ge=1, le=MAX_SHARE_DAYS, description="How long, from now.")
    pseudonymised: StrictBool = Field(description="No name or contact address; every date to its month.")
    vacancy_id: Annotated[JsonInt | None, WithJsonSchema({"type": "integer", "minimum": 1,
                                                          "maximum": MAX_VACANCY_ID})] = Field(
        default=None, ge=1, le=MAX_VACANCY_ID,
        description="The vacancy on the citizen's dashboard (exactly for an employer).")
    contact: ContactWish | None = Field(default=None, description=(
        "Exactly when the part contact_wish is shared (left out or null: none)."))
    language: Language = Field(default="nl", description="Language of the names in the answer.")

    _no_null = _refusing_null("vacancy_id")


class GrantResponse(BaseModel):
    grant: GrantOut


class SharedProfileResponse(BaseModel):
    """What a partner gets through one share: the granted parts only, under the share's pseudonym."""

    share_id: str
    subject: str = Field(description="The share's pseudonym, never the citizen id.")
    purpose: str
    purpose_text: str
    pseudonymised: bool
    valid_until: str
    vacancy_id: int | None
    parts: dict = Field(description="Per granted part (or per part asked for) its content.")


class SignInConfig(BaseModel):
    """What the site's OpenID Connect sign-in (authorisation code with PKCE) needs."""

    issuer: str
    client_id: str
    audience: str
    scope: str
