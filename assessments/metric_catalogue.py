"""Every fairness metric the assessment computes, described once: the report and the policy read this.

Each metric is a per-citizen quantity (see :mod:`assessments.ranking_metrics`) aggregated per group with
Fairlearn's ``MetricFrame``. ``source`` says which citizens it is measured on: ``outcomes`` are held-out
citizens' logged lists with what they did (applied, hired, enrolled, moved); ``suggestions`` are the top 10
that held-out citizens get from the full service path (retrieval + ranking) on the data's reference date.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("jobs", "trainings", "careers")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    title: str
    meaning: str
    source: str  # outcomes | suggestions | catalogue
    kinds: tuple[str, ...] = KINDS
    higher_is_better: bool = True
    aggregate: str = "mean"  # mean | narrowing (1 - mean(numerator) / mean(denominator)) | catalogue
    percent: bool = True  # shown as a percentage in the report


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("ndcg_at_10", "Ranking quality (NDCG@10)",
               "How high the model puts what the citizen actually chose (applied, was hired, enrolled, completed, moved "
               "to) in a held-out list: 100% is a perfect order.", "outcomes", percent=False),
    MetricInfo("recall_at_10", "Found in the top 10 (recall@10)",
               "Share of what the citizen actually chose that the model places in its top 10.", "outcomes"),
    MetricInfo("good_exposure", "Attention to good opportunities",
               "Position-weighted share (weight 1/log2(1+position)) of the top 10 that are good opportunities: for "
               "jobs and trainings a high estimated chance of success (hired after applying, completed after "
               "enrolling) for this citizen's qualifications, for career steps a high wage/quality occupation.",
               "suggestions"),
    MetricInfo("good_exposure_attained", "Good opportunities surfaced, of those within reach",
               "Attention to good opportunities divided by the most the citizen's own candidate list allows (its good "
               "opportunities placed first); compares groups fairly when their profiles differ.", "suggestions"),
    MetricInfo("outcome_chance", "Estimated chance of success",
               "Position-weighted estimated chance that acting on a suggestion succeeds (hired after applying; "
               "completed after enrolling), from an outcome model fitted on the historical records, sensitive "
               "attributes included.", "suggestions", kinds=("jobs", "trainings")),
    MetricInfo("outcome_chance_adjusted", "Chance of success against equally qualified others",
               "The citizen's estimated chance of success on their suggestions divided by that of an equally qualified "
               "citizen without any of the group traits the historical records penalise (100% = no penalty). "
               "This is where historical bias in the outcomes shows.", "suggestions", kinds=("jobs", "trainings")),
    MetricInfo("quality_exposure", "Job quality of the suggestions",
               "Position-weighted mean wage/quality index (0-1) of the suggested vacancies or occupations.",
               "suggestions", kinds=("jobs", "careers"), percent=False),
    MetricInfo("ready_share", "Ready suggestions",
               "Share of the top 10 for which the citizen already holds at least 80% of the essential competencies "
               "(a training: meets its Dutch entry level).", "suggestions"),
    MetricInfo("ready_surfaced", "Ready options surfaced",
               "Of the citizen's ready options among the candidates (at most 10), the share that the top 10 shows.",
               "suggestions"),
    MetricInfo("atypical_share", "Gender-atypical occupations suggested",
               "Share of the top 10 in occupations where the citizen's gender holds less than 30% of the jobs.",
               "suggestions"),
    MetricInfo("stereotyping", "Narrowing of gender-atypical occupations",
               "1 - (gender-atypical share in the top 10) / (gender-atypical share among all candidates retrieved on "
               "competencies alone): how much the ranking cuts occupations atypical for the citizen's gender; 0 = "
               "no narrowing, negative = widening.", "suggestions", higher_is_better=False, aggregate="narrowing"),
    MetricInfo("flip_care_duties", "Change when only care duties differ",
               "Share of the top 10 replaced when only the citizen's care duties are switched (a proxy for gender).",
               "suggestions", higher_is_better=False),
    MetricInfo("flip_dutch_level", "Change when only the Dutch level differs",
               "Share of the top 10 replaced when only the citizen's Dutch level is raised to very good (a proxy for "
               "origin); citizens already at that level are left out.", "suggestions", higher_is_better=False),
    MetricInfo("exposure_gini", "Congestion: concentration of attention",
               "Gini coefficient of the attention each catalogue item receives over all top 10s (0 = evenly spread, "
               "1 = one item gets everything).", "catalogue", higher_is_better=False, aggregate="catalogue",
               percent=False),
    MetricInfo("never_shown_share", "Congestion: items never shown",
               "Share of the catalogue (vacancies, trainings, occupations) that appears in no top 10 of the sample.",
               "catalogue", higher_is_better=False, aggregate="catalogue"),
)

METRIC_BY_NAME = {metric.name: metric for metric in METRICS}
CITIZEN_METRICS = tuple(metric.name for metric in METRICS if metric.aggregate != "catalogue")
CATALOGUE_METRICS = tuple(metric.name for metric in METRICS if metric.aggregate == "catalogue")
# Per-citizen columns behind the "narrowing" metrics: (numerator, denominator).
NARROWING_COLUMNS = {"stereotyping": ("atypical_share", "atypical_pool")}


def applies_to(metric: str, kind: str) -> bool:
    return kind in METRIC_BY_NAME[metric].kinds
