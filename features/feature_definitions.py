"""The pair features, defined once: name → meaning, unit, kinds, monotone direction, nl/en sentences.

Serving, the reports and the site read these definitions; nobody re-describes a feature elsewhere.
A sentence template receives ``value`` (the feature's value) and is rendered by :func:`sentence`; a 0/1
feature has two sentences, "when 0|when 1".
No sensitive attribute and no embedding dimension is ever a feature (a test guards this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from features.vocabulary import ERR_UNKNOWN_KIND, ERR_UNKNOWN_LANGUAGE, KINDS, LANGUAGES, OCCUPATION_KINDS, BarrierName


@dataclass(frozen=True)
class Feature:
    name: str
    meaning: str
    unit: str
    kinds: tuple[str, ...]
    sentence_nl: str
    sentence_en: str
    missing_nl: str = "Dit gegeven is onbekend."
    missing_en: str = "This is unknown."
    monotone: int = 0  # +1: more never lowers the score, -1: more never raises it, 0: free
    barrier: BarrierName | None = None  # the barrier this feature makes visible


FEATURES: tuple[Feature, ...] = (
    Feature("essential_coverage", "Share of the item's essential competencies the citizen holds.", "share 0-1",
            OCCUPATION_KINDS,
            "Je hebt {value:.0%} van de essentiële competenties.",
            "You hold {value:.0%} of the essential competencies.", monotone=+1),
    Feature("optional_coverage", "Share of the item's optional competencies the citizen holds.", "share 0-1",
            OCCUPATION_KINDS,
            "Je hebt {value:.0%} van de nuttige (optionele) competenties.",
            "You hold {value:.0%} of the useful (optional) competencies.", monotone=+1),
    Feature("missing_essential", "Number of essential competencies the citizen does not hold yet.", "count",
            OCCUPATION_KINDS,
            "Er ontbreken nog {value:.0f} essentiële competenties.",
            "{value:.0f} essential competencies are still missing.", monotone=-1),
    Feature("profile_relevance", "Share of the citizen's competencies that the item uses (essential or optional).",
            "share 0-1", OCCUPATION_KINDS,
            "{value:.0%} van jouw competenties komen hier van pas.",
            "{value:.0%} of your competencies are used here.", monotone=+1),
    Feature("mutual_fit", "Harmonic mean of essential coverage and profile relevance: high only when the item "
            "needs what the citizen has and the citizen has what the item needs.", "share 0-1", OCCUPATION_KINDS,
            "Jij en dit aanbod passen voor {value:.0%} wederzijds bij elkaar.",
            "You and this offer fit each other for {value:.0%}.", monotone=+1),
    Feature("idf_overlap", "Overlap with the item's essential competencies, weighted by rarity (cosine of "
            "IDF-weighted competency vectors).",
            "cosine 0-1", KINDS,
            "De overlap in (zeldzame) competenties is {value:.2f} op 1.",
            "The overlap in (rare) competencies is {value:.2f} out of 1."),
    Feature("semantic_similarity", "Similarity in meaning between the citizen's competencies and the item's "
            "(MiniLM sentence embeddings, cosine).", "cosine -1..1", KINDS,
            "Inhoudelijk lijkt dit op wat je kunt (gelijkenis {value:.2f}).",
            "In content this resembles what you can do (similarity {value:.2f})."),
    Feature("related_experience_years", "Years worked in the item's occupational group (ISCO unit group).", "years",
            OCCUPATION_KINDS,
            "Je hebt {value:.1f} jaar ervaring in deze beroepsgroep.",
            "You have {value:.1f} years of experience in this occupational group.", monotone=+1),
    Feature("same_isco_group", "1 when the item belongs to the occupational group of the citizen's last job.",
            "0/1", OCCUPATION_KINDS,
            "Dit is een andere beroepsgroep dan die van je laatste job.|Dit is de beroepsgroep van je laatste job.",
            "This is another occupational group than your last job's.|This is the occupational group of your last job.",
            missing_nl="Je hebt nog geen werkervaring in een beroep.",
            missing_en="You have no work experience in an occupation yet."),
    Feature("last_job_similarity", "Competency similarity between the item's occupation and the citizen's last one.",
            "cosine 0-1", ("careers",),
            "Dit beroep lijkt voor {value:.0%} op je laatste job.",
            "This occupation is {value:.0%} similar to your last job.",
            missing_nl="Je hebt nog geen werkervaring in een beroep.",
            missing_en="You have no work experience in an occupation yet."),
    Feature("years_since_last_job", "Years since the citizen's last job ended (0 while working).", "years",
            OCCUPATION_KINDS,
            "Je laatste job eindigde {value:.1f} jaar geleden.",
            "Your last job ended {value:.1f} years ago.",
            missing_nl="Je hebt nog geen werkervaring.", missing_en="You have no work experience yet."),
    Feature("education_gap", "Education levels the item asks above the citizen's (0 when met).", "levels",
            OCCUPATION_KINDS,
            "Er ontbreken {value:.0f} onderwijsniveaus.", "{value:.0f} education levels are missing.",
            monotone=-1, barrier="education"),
    Feature("commute_km", "Distance between the citizen's home and the item's place (0 for online).", "km",
            ("jobs", "trainings"),
            "De afstand is {value:.0f} km.", "The distance is {value:.0f} km.", monotone=-1),
    Feature("commute_excess", "How far the distance exceeds the citizen's own maximum commute (0 when within).",
            "share of the maximum", ("jobs", "trainings"),
            "De afstand is {value:.0%} groter dan wat je maximaal wilt pendelen.",
            "The distance is {value:.0%} beyond your maximum commute.", monotone=-1, barrier="commute"),
    Feature("dutch_gap", "Dutch-language levels the item asks above the citizen's (0 when met).", "levels",
            ("jobs", "trainings"),
            "Er ontbreken {value:.0f} niveaus Nederlands.", "{value:.0f} levels of Dutch are missing.",
            monotone=-1, barrier="language"),
    Feature("licence_missing", "1 when the item asks a driving licence the citizen does not have.", "0/1",
            ("jobs",),
            "Je hebt het gevraagde rijbewijs, of er is er geen nodig.|Er is een rijbewijs nodig dat je niet hebt.",
            "You have the driving licence asked, or none is needed.|A driving licence you do not have is required.",
            monotone=-1, barrier="licence"),
    Feature("hours_clash", "1 when the citizen has care duties and the item's hours clash with them: irregular "
            "hours, full-time while they prefer part-time, or a training of 120 hours or more that is not online.",
            "0/1", ("jobs", "trainings"),
            "De uren zijn te combineren met je zorgtaken.|De uren botsen met je zorgtaken.",
            "The hours can be combined with your care duties.|The hours clash with your care duties.",
            monotone=-1, barrier="hours"),
    Feature("gap_relevance", "Share of what the training teaches that the citizen's last or aimed-for occupation "
            "needs and the citizen lacks.", "share 0-1", ("trainings",),
            "{value:.0%} van wat je leert, ontbreekt je nog voor je beroep.",
            "{value:.0%} of what you learn is still missing for your occupation.", monotone=+1),
    Feature("already_known", "Share of what the training teaches that the citizen already holds.", "share 0-1",
            ("trainings",),
            "Je kent al {value:.0%} van wat deze opleiding aanleert.",
            "You already know {value:.0%} of what this training teaches.", monotone=-1),
    Feature("duration_hours", "Length of the training.", "hours", ("trainings",),
            "De opleiding duurt {value:.0f} uur.", "The training takes {value:.0f} hours."),
)

FEATURE_BY_NAME = {feature.name: feature for feature in FEATURES}
# Barrier → the features whose contributions make up its effect on the score.
BARRIER_FEATURES: dict[BarrierName, tuple[str, ...]] = {
    "commute": ("commute_excess", "commute_km"),
    "licence": ("licence_missing",),
    "language": ("dutch_gap",),
    "hours": ("hours_clash",),
    "education": ("education_gap",),
}


def features_for(kind: str) -> tuple[str, ...]:
    """The model inputs of a kind, in definition order (the column order of every feature matrix)."""
    if kind not in KINDS:
        raise ValueError(ERR_UNKNOWN_KIND.format(kind=kind))
    return tuple(feature.name for feature in FEATURES if kind in feature.kinds)


def monotone_constraints(kind: str) -> list[int]:
    return [FEATURE_BY_NAME[name].monotone for name in features_for(kind)]


def sentence(name: str, value: float, language: str = "nl") -> str:
    """The plain-language sentence of a feature at a value."""
    feature = FEATURE_BY_NAME[name]
    if language not in LANGUAGES:
        raise ValueError(ERR_UNKNOWN_LANGUAGE.format(language=language))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return feature.missing_nl if language == "nl" else feature.missing_en
    template = feature.sentence_nl if language == "nl" else feature.sentence_en
    if feature.unit == "0/1":  # binary features: "sentence when 0|sentence when 1"
        return template.split("|")[int(round(float(value)) == 1)]
    return template.format(value=float(value))
