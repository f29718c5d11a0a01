"""What an explained suggestion is, typed once: the ranker builds it (:mod:`models.suggest`), a stored batch renders
it again (:mod:`models.batch_read`), and the service sends it as is (``serving.schemas.SuggestionOut`` adds only the
recourse). Labels carry the language they are in: the taxonomy has no Dutch label for many competencies, and then the
English one is shown.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from features.vocabulary import BarrierName, Guarantee, Kind, Language, Readiness


class Competency(BaseModel):
    id: str
    label: str
    label_lang: Language = Field(description=(
        "The language of `label`: the taxonomy has no Dutch label for many competencies yet, and then the English "
        "one is shown (the site marks it with lang=\"en\")."))


class BridgingTraining(BaseModel):
    training_id: str
    title: str
    duration_hours: float
    covers: list[Competency]


class Barrier(BaseModel):
    barrier: BarrierName
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


class Suggestion(BaseModel):
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
