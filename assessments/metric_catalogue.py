"""Every fairness metric the assessment computes, described once: the report and the policy read this.

Each metric is a per-citizen quantity (see :mod:`assessments.ranking_metrics`) aggregated per group with
Fairlearn's ``MetricFrame``, computed twice on the same citizens: on the model's lists and on the reference
ranking's (the competency-only order of retrieval; column ``<metric>@reference``). ``source`` says which
citizens it is measured on: ``outcomes`` are held-out citizens' logged lists with what they did (applied,
hired, enrolled, moved); ``suggestions`` are the top 10 that held-out citizens get from the full service path
(retrieval + ranking) on the data's reference date.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.feature_definitions import features_for
from features.vocabulary import K, KINDS, NDCG_AT_K, OCCUPATION_KINDS


@dataclass(frozen=True)
class MetricInfo:
    name: str
    title: str
    meaning: str
    source: str  # outcomes | suggestions | catalogue
    kinds: tuple[str, ...] = KINDS
    higher_is_better: bool = True
    aggregate: str = "mean"  # mean (per citizen, then per group) | catalogue (over all lists at once)
    percent: bool = True  # shown as a percentage in the report
    # the metric exists only for kinds whose pair features include one of these (a counterfactual of a
    # circumstance that no feature of a kind reads is zero by construction)
    needs_features: tuple[str, ...] = ()


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(NDCG_AT_K, f"Ranking quality (NDCG@{K})",
               "How high the order puts what the citizen actually chose (applied, was hired, enrolled, completed, moved "
               "to) in a held-out logged list: 100% is a perfect order. Group values are standardised to the same mix "
               "of list lengths (job seekers saw 20 vacancies, employed citizens 10), so that a comparison of groups "
               "does not measure employment status.", "outcomes", percent=False),
    MetricInfo("recall_top_half", "Found in the top half of the list",
               "Share of what the citizen actually chose that the order places in the top half of their logged list "
               "(half of its length, at least one item): unlike recall@10 it can vary on lists of 10 or fewer. "
               "Standardised to the same mix of list lengths in every group.", "outcomes"),
    MetricInfo("good_exposure", "Attention to good opportunities",
               "Position-weighted share (weight 1/log2(1+position)) of the top 10 that are good opportunities: for "
               "jobs and trainings a high estimated chance of success (hired after applying, completed after "
               "enrolling) for this citizen's qualifications, for career steps a high wage/quality occupation.",
               "suggestions"),
    MetricInfo("good_exposure_attained", "Good opportunities surfaced, of those within reach",
               "Attention to good opportunities divided by the most the citizen's candidates allow (their good "
               "opportunities placed first), counted over every retrieved candidate: compares groups fairly when "
               "their profiles differ, and a list cannot shrink its own yardstick.", "suggestions"),
    MetricInfo("outcome_chance", "Estimated chance of success",
               "Position-weighted estimated chance that acting on a suggestion succeeds (hired after applying; "
               "completed after enrolling), from an outcome model fitted on the historical records, sensitive "
               "attributes included.", "suggestions", kinds=("jobs", "trainings")),
    MetricInfo("outcome_chance_adjusted", "Chance of success against equally qualified others",
               "The citizen's estimated chance of success on their suggestions divided by that of an equally qualified "
               "citizen without any of the group traits the historical records penalise (100% = no penalty). "
               "The reference ranking shows the penalty the labour market carries whatever is suggested; the model's "
               "lists may not lower it.", "suggestions", kinds=("jobs", "trainings")),
    MetricInfo("quality_exposure", "Job quality of the suggestions",
               "Position-weighted mean wage/quality index (0-1) of the suggested vacancies or occupations.",
               "suggestions", kinds=OCCUPATION_KINDS, percent=False),
    MetricInfo("ready_share", "Ready suggestions",
               "Share of the top 10 for which the citizen already holds at least 80% of the essential competencies "
               "(a training: meets its Dutch entry level).", "suggestions"),
    MetricInfo("ready_surfaced", "Ready options surfaced",
               "Of the citizen's ready options among every retrieved candidate (at most 10 counted), the share that "
               "the top 10 shows.", "suggestions"),
    MetricInfo("atypical_share", "Gender-atypical occupations suggested",
               "Share of the top 10 in occupations where the citizen's gender holds less than 30% of the jobs. "
               "Against the reference ranking this is the stereotyping check: 1 - model / reference is how much the "
               "ranking cuts such occupations.", "suggestions"),
    MetricInfo("flip_care_duties", "Change when only care duties differ",
               "Share of the top 10 replaced when only the citizen's care duties are switched (a proxy for gender).",
               "suggestions", higher_is_better=False, needs_features=("hours_clash",)),
    MetricInfo("flip_dutch_level", "Change when only the Dutch level differs",
               "Share of the top 10 replaced when only the citizen's Dutch level is raised to very good (a proxy for "
               "origin); citizens already at that level are left out.", "suggestions", higher_is_better=False,
               needs_features=("dutch_gap",)),
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
REFERENCE = "@reference"  # suffix of a metric's column computed on the reference ranking of the same citizens


def applies_to(metric: str, kind: str) -> bool:
    info = METRIC_BY_NAME[metric]
    if kind not in info.kinds:
        return False
    return not info.needs_features or bool(set(info.needs_features) & set(features_for(kind)))
