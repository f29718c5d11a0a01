"""The evidence of an assessment: per-citizen quantities on held-out data, with each citizen's groups.

Two stages, so that the re-ranker's trade-off curve re-uses the expensive part:

1. :func:`prepare` — everything that depends on the model alone: its scores on the held-out logged lists
   (test split), the deep candidate lists of a sample of held-out citizens on the data's reference date, the
   same lists with one proxy-laden circumstance altered (counterfactuals), and the outcome models;
2. :func:`collect` — the top 10 (plain, or re-ranked) and every per-citizen quantity of
   :mod:`assessments.metric_catalogue`, joined to the citizen's sensitive groups.

Held-out means: not in the training or validation split of the version's own training data (the split is
re-derived with the seed the training run logged). On data the version was not trained on, every citizen
is held out. Citizen ids never leave this module: the evidence frames carry groups only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from assessments._ranking import CandidateLists, rank_candidates
from assessments.outcome_model import (
    OutcomeModels,
    atypical,
    fit_outcome_models,
    sensitive_terms,
)
from assessments.policy import Policy
from assessments.ranking_metrics import (
    K,
    exposure_per_query,
    flip_rate_per_query,
    item_exposure,
    ndcg_recall_per_query,
    position_weights,
    share_per_query,
)
from features.citizens import QueryContext, contexts_from_store
from features.population.occupations import build_occupation_model
from models.datasets import RankingData
from models.gap import ready_from_features
from models.ranker import ScoringModel
from models.rerank import ItemFacts, Reranker, item_facts
from models.resources import KindResources

VERY_GOOD_DUTCH = 3.0
COUNTERFACTUALS = ("care_duties", "dutch_level")


@dataclass(frozen=True)
class Goodness:
    """What counts as a good opportunity for a kind."""

    criterion: str  # chance | quality | none
    quality_threshold: float | None
    description: str


@dataclass(frozen=True)
class Prepared:
    kind: str
    resources: KindResources
    model: ScoringModel
    data: RankingData
    groups: pd.DataFrame  # indexed by citizen id: one column per sensitive feature (labels as text)
    people: pd.DataFrame  # indexed by citizen id: gender, age_band, origin, disability (outcome-model terms)
    test_scores: np.ndarray
    sample_ids: np.ndarray
    context: QueryContext
    deep: CandidateLists
    counterfactual: dict[str, tuple[np.ndarray, CandidateLists]]
    outcome: OutcomeModels | None
    item_female_share: np.ndarray
    items: ItemFacts  # per catalogue item: wage/quality index, number of essential competencies
    goodness: Goodness
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    kind: str
    outcomes: pd.DataFrame  # one row per held-out citizen with logged outcomes: metrics + group columns
    suggestions: pd.DataFrame  # one row per sampled held-out citizen: metrics + group columns
    top_rows: np.ndarray  # the top 10s shown (query rows into ``suggestions``), for congestion
    top_items: np.ndarray
    catalogue_size: int
    test_order_scores: np.ndarray
    # metric → (draws, citizens): per-citizen values under each resampled fit of the outcome model
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


def _goodness(kind: str, outcome: OutcomeModels | None, item_quality: np.ndarray, quantile: float) -> Goodness:
    if kind in ("jobs", "trainings") and outcome is not None:
        return Goodness("chance", None, f"estimated chance of success in the top {1 - quantile:.0%} of the "
                        "historical records (qualifications only)")
    finite = item_quality[np.isfinite(item_quality)]
    if len(finite):
        return Goodness("quality", float(np.quantile(finite, quantile)),
                        f"wage/quality index in the top {1 - quantile:.0%} of the catalogue")
    return Goodness("none", None, "no outcome records and no quality index: not measurable")


def heldout_citizens(data: RankingData, all_ids: np.ndarray, *, same_data: bool) -> np.ndarray:
    """Citizens the version never learnt from (every citizen when the data are not its training data)."""
    if not same_data:
        return np.sort(all_ids)
    seen = np.concatenate([data.split["train"], data.split["valid"]])
    return np.setdiff1d(all_ids, seen)


def prepare(*, resources: KindResources, model: ScoringModel, data: RankingData, policy: Policy, seed: int,
            same_data: bool) -> Prepared:
    store = resources.store
    kind = resources.kind
    sensitive = store.table("sensitive").set_index("citizen_id")
    groups = pd.DataFrame({name: sensitive[column].map(_label).astype(str)
                           for name, column in policy.sensitive_features.items()}, index=sensitive.index)
    people = sensitive[["gender", "age_band", "origin", "disability"]]
    occupation = build_occupation_model(resources.taxonomy).frame
    known = resources.catalogue.occupation >= 0
    female = np.where(known, occupation["female_share"].to_numpy()[np.maximum(resources.catalogue.occupation, 0)],
                      np.nan)
    items = item_facts(resources, occupation)
    outcome = fit_outcome_models(data=data, sensitive=people, item_female_share=female,
                                 good_quantile=policy.good_opportunity_quantile, seed=seed)

    citizens = store.table("citizens")["citizen_id"].to_numpy()
    heldout = heldout_citizens(data, citizens, same_data=same_data)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(heldout, size=min(policy.sample_citizens, len(heldout)), replace=False))
    as_of = date.fromisoformat(store.manifest["config"]["as_of"])
    context = contexts_from_store(store=store, taxonomy=resources.taxonomy, citizen_ids=sample, as_of=as_of)
    gender = people.loc[sample, "gender"].to_numpy()

    def pool_flags(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        return atypical(gender[rows], female[items]) & np.isfinite(female[items])

    depth = max(policy.mitigation.depth, K)
    deep = rank_candidates(resources=resources, model=model, context=context, depth=depth, pool_flags=pool_flags)
    counterfactual = {name: _altered(resources, model, context, name, depth) for name in COUNTERFACTUALS}
    test = data.sets["test"]
    facts = {
        "as_of": str(as_of), "population_citizens": len(citizens), "heldout_citizens": len(heldout),
        "sampled_citizens": len(sample), "test_queries": int(test.n_groups),
        "test_citizens": len(np.unique(test.citizen_ids[test.citizen_ids >= 0])),
        "same_data_as_training": bool(same_data), "catalogue_size": len(resources.catalogue),
        "outcome_records": outcome.records if outcome else 0,
        "outcome_success_rate": outcome.success_rate if outcome else None, "seed": int(seed),
    }
    return Prepared(kind=kind, resources=resources, model=model, data=data, groups=groups, people=people,
                    test_scores=model.predict(test.features) if len(test.labels) else np.zeros(0),
                    sample_ids=sample, context=context, deep=deep, counterfactual=counterfactual, outcome=outcome,
                    item_female_share=female, items=items,
                    goodness=_goodness(kind, outcome, items.quality, policy.good_opportunity_quantile), facts=facts)


def _label(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return str(value)


def _altered(resources: KindResources, model: ScoringModel, context: QueryContext, name: str,
             depth: int) -> tuple[np.ndarray, CandidateLists]:
    """Rows of the sample where the alteration changes something, and their deep lists after it."""
    queries = context.queries
    if name == "care_duties":
        rows = np.flatnonzero(np.isfinite(queries["care_duties"].to_numpy()))
        values = 1.0 - queries["care_duties"].to_numpy()[rows]
    else:
        level = queries["dutch_level"].to_numpy()
        rows = np.flatnonzero(np.isfinite(level) & (level < VERY_GOOD_DUTCH))
        values = np.full(len(rows), VERY_GOOD_DUTCH)
    subset = context.take(rows)
    altered = subset.queries.copy()
    altered[name] = values
    lists = rank_candidates(resources=resources, model=model, context=replace(subset, queries=altered), depth=depth)
    return rows, lists


def ready_flags(prepared: Prepared, lists: CandidateLists) -> np.ndarray:
    """``ready`` exactly as the gap analysis decides it (models.gap), from the pair features."""
    return ready_from_features(prepared.kind, lists.features, prepared.items.n_essential[lists.item_positions])


def shown_top(prepared: Prepared, lists: CandidateLists, reranker: Reranker | None) -> CandidateLists:
    if reranker is None:
        return lists.top(K)
    return lists.take(reranker.select(query_rows=lists.query_rows, scores=lists.scores, features=lists.features,
                                      item_positions=lists.item_positions, k=K, items=prepared.items))


def _good(prepared: Prepared, lists: CandidateLists) -> np.ndarray:
    goodness = prepared.goodness
    if goodness.criterion == "chance":
        chance = prepared.outcome.blind
        return (chance.predict(lists.features) >= chance.good_threshold).astype(np.float64)
    if goodness.criterion == "quality":
        quality = prepared.items.quality[lists.item_positions]
        return np.where(np.isfinite(quality), quality >= goodness.quality_threshold, np.nan)
    return np.full(len(lists.item_positions), np.nan)


def _reachable_exposure(count: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Exposure share of a list of ``length`` items whose first ``count`` are the flagged ones."""
    cumulative = np.r_[0.0, np.cumsum(position_weights(K))]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(length > 0, cumulative[np.minimum(count, length)] / cumulative[length], np.nan)


def collect(prepared: Prepared, *, reranker: Reranker | None = None) -> Evidence:
    """Per-citizen quantities of the (re-ranked) top 10; see :mod:`assessments.metric_catalogue`."""
    kind, resources = prepared.kind, prepared.resources
    deep, n = prepared.deep, prepared.deep.n_queries
    top = shown_top(prepared, deep, reranker)
    rows = top.query_rows
    length = np.bincount(rows, minlength=n)
    metrics: dict[str, np.ndarray] = {}
    replicates: dict[str, np.ndarray] = {}

    good_top, good_deep = _good(prepared, top), _good(prepared, deep)
    metrics["good_exposure"] = exposure_per_query(values=good_top, query_rows=rows, n_queries=n)
    reachable = np.bincount(deep.query_rows, weights=np.nan_to_num(good_deep), minlength=n).astype(np.int64)
    best = _reachable_exposure(np.minimum(reachable, K), length)
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["good_exposure_attained"] = np.where(reachable > 0, metrics["good_exposure"] / best, np.nan)

    people = prepared.people.loc[prepared.sample_ids[rows]].reset_index(drop=True)
    if prepared.outcome is not None:
        terms = sensitive_terms(people, prepared.item_female_share[top.item_positions])
        own, reference = prepared.outcome.chances(top.features, terms)
        metrics["outcome_chance"] = exposure_per_query(values=own, query_rows=rows, n_queries=n)
        expected_reference = exposure_per_query(values=reference, query_rows=rows, n_queries=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics["outcome_chance_adjusted"] = metrics["outcome_chance"] / expected_reference
        replicates.update(_outcome_replicates(prepared, top, terms))
    quality = prepared.items.quality[top.item_positions]
    if np.isfinite(quality).any():
        metrics["quality_exposure"] = exposure_per_query(values=quality, query_rows=rows, n_queries=n)

    ready_top = ready_flags(prepared, top)
    ready_deep = ready_flags(prepared, deep)
    metrics["ready_share"] = share_per_query(flags=ready_top, query_rows=rows, n_queries=n)
    options = np.minimum(np.bincount(deep.query_rows, weights=ready_deep, minlength=n), length)
    shown = np.bincount(rows, weights=ready_top, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["ready_surfaced"] = np.where(options > 0, shown / options, np.nan)

    female = prepared.item_female_share[top.item_positions]
    flags = np.where(np.isfinite(female), atypical(people["gender"].to_numpy(), female), np.nan)
    metrics["atypical_share"] = share_per_query(flags=flags, query_rows=rows, n_queries=n)
    metrics["atypical_pool"] = deep.pool_share if deep.pool_share is not None else np.full(n, np.nan)

    for name, (altered_rows, altered_lists) in prepared.counterfactual.items():
        flip = np.full(n, np.nan)
        if len(altered_rows):
            after = shown_top(prepared, altered_lists, reranker)
            before_mask = np.isin(rows, altered_rows)
            local = pd.Index(altered_rows).get_indexer(rows[before_mask])
            flip[altered_rows] = flip_rate_per_query(
                before_items=top.item_positions[before_mask], before_rows=local, after_items=after.item_positions,
                after_rows=after.query_rows, n_queries=len(altered_rows))
        metrics[f"flip_{name}"] = flip

    suggestions = pd.DataFrame(metrics)
    suggestions = pd.concat([suggestions, prepared.groups.loc[prepared.sample_ids].reset_index(drop=True)], axis=1)
    outcomes, order_scores = _outcome_metrics(prepared, reranker)
    return Evidence(kind=kind, outcomes=outcomes, suggestions=suggestions, top_rows=rows,
                    top_items=top.item_positions, catalogue_size=len(resources.catalogue),
                    test_order_scores=order_scores, replicates=replicates)


def _outcome_replicates(prepared: Prepared, top: CandidateLists, terms: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-citizen outcome metrics under draws of the outcome model's parameters, (draws, citizens) each."""
    own, reference = prepared.outcome.chance_draws(top.features, terms)
    n = top.n_queries
    weights = position_weights(K)[top.positions() - 1]
    bottom = np.bincount(top.query_rows, weights=weights, minlength=n)
    expected = np.vstack([np.bincount(top.query_rows, weights=weights * own[:, draw], minlength=n)
                          for draw in range(own.shape[1])])
    expected_reference = np.vstack([np.bincount(top.query_rows, weights=weights * reference[:, draw], minlength=n)
                                    for draw in range(reference.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"outcome_chance": np.where(bottom > 0, expected / bottom, np.nan),
                "outcome_chance_adjusted": expected / expected_reference}


def _outcome_metrics(prepared: Prepared, reranker: Reranker | None) -> tuple[pd.DataFrame, np.ndarray]:
    """NDCG@10 and recall@10 per held-out citizen (mean over their queries) on their logged lists."""
    test = prepared.data.sets["test"]
    scores = prepared.test_scores
    if reranker is not None and len(scores):
        protected = reranker.protected(features=test.features, item_positions=test.item_positions,
                                       items=prepared.items)
        order = reranker.order(query_rows=test.group, scores=scores, protected=protected, k=None)
        scores = np.empty(len(order))
        positions = np.arange(len(order)) - np.searchsorted(test.group[order], test.group[order], side="left")
        scores[order] = -positions.astype(np.float64)
    ids, ndcg, recall = ndcg_recall_per_query(labels=test.labels, scores=scores, query_rows=test.group,
                                              seed=prepared.facts.get("seed", 0))
    first = np.searchsorted(test.group, ids, side="left")
    citizens = test.citizen_ids[first] if len(ids) else np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame({"citizen": citizens, "ndcg_at_10": ndcg, "recall_at_10": recall})
    frame = frame[frame["citizen"] >= 0].groupby("citizen").mean()
    outcomes = pd.concat([frame.reset_index(drop=True), prepared.groups.loc[frame.index].reset_index(drop=True)],
                         axis=1)
    return outcomes, scores


def catalogue_exposure(evidence: Evidence) -> np.ndarray:
    return item_exposure(item_positions=evidence.top_items, query_rows=evidence.top_rows,
                         catalogue_size=evidence.catalogue_size)
