"""The evidence of an assessment: per-citizen quantities of the model's lists and of the reference ranking's,
on held-out citizens of one part (tuning or judging), with each citizen's groups.

Two stages, so that the re-ranker's trade-off curve re-uses the expensive part:

1. :func:`prepare` — everything that depends on the scorer alone, per part: its scores on the part's held-out
   logged lists, the deep candidate lists and the reference top 10 of a sample of the part's citizens on the
   data's reference date (and the same lists with one proxy-laden circumstance altered), the "within reach"
   counts over every retrieved candidate; once for both parts: the outcome models;
2. :func:`collect` — the shown top 10 (plain, or re-ranked) and every per-citizen quantity of
   :mod:`assessments.metric_catalogue`, once on the model's list and once (column ``<metric>@reference``) on
   the reference ranking's, joined to the citizen's sensitive groups.

Which citizens are held out, and in which part, is :mod:`assessments.holdout`'s. Citizen ids never leave this
module: the evidence frames carry groups only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from assessments._ranking import CandidateLists, Ranked, Scorer, rank_candidates
from assessments.holdout import JUDGING, Holdout
from assessments.metric_catalogue import REFERENCE
from assessments.outcome_model import (
    OutcomeModels,
    atypical,
    fit_outcome_models,
    sensitive_terms,
)
from assessments.policy import Policy
from assessments.ranking_metrics import (
    exposure_per_query,
    flip_rate_per_query,
    item_exposure,
    position_weights,
    quality_per_query,
    share_per_query,
)
from features.citizens import QueryContext, contexts_from_store
from features.population.occupations import build_occupation_model
from features.vocabulary import K, NDCG_AT_K
from models.datasets import RankingData
from models.gap import ready_from_features
from models.ranker import ScoringModel
from models.rerank import ItemFacts, Reranker, item_facts
from models.resources import KindResources
from models.retrieval import reference_scores

VERY_GOOD_DUTCH = 3.0
COUNTERFACTUALS = ("care_duties", "dutch_level")
LIST_LENGTH_BAND = 10  # logged lists are compared within bands of this many items (1-10, 11-20, ...)
OUTCOME_METRICS = ("outcome_chance", "outcome_chance_adjusted")


@dataclass(frozen=True)
class Goodness:
    """What counts as a good opportunity for a kind."""

    criterion: str  # chance | quality | none
    quality_threshold: float | None
    description: str


@dataclass(frozen=True)
class PartLists:
    """One part's lists: suggestions of its sampled citizens, and its citizens' logged lists (test rows)."""

    name: str
    sample_ids: np.ndarray
    context: QueryContext
    ranked: Ranked
    counterfactual: dict[str, tuple[np.ndarray, Ranked]]
    test_rows: np.ndarray  # rows of ``data.sets["test"]`` whose citizen is in this part
    test_scores: np.ndarray  # the scorer's scores on those rows
    test_reference: np.ndarray  # the reference ranking's scores on those rows


@dataclass(frozen=True)
class Prepared:
    kind: str
    resources: KindResources
    scorer: Scorer
    model: ScoringModel | None  # the registered model behind the scorer (for its explanations)
    data: RankingData
    groups: pd.DataFrame  # indexed by citizen id: one column per sensitive feature (labels as text)
    people: pd.DataFrame  # indexed by citizen id: gender, age_band, origin, disability (outcome-model terms)
    holdout: Holdout
    parts: dict[str, PartLists]
    outcome: OutcomeModels | None
    item_female_share: np.ndarray
    items: ItemFacts  # per catalogue item: wage/quality index, number of essential competencies
    goodness: Goodness
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    kind: str
    part: str
    outcomes: pd.DataFrame  # one row per held-out citizen and list-length band: metrics, "stratum", groups
    suggestions: pd.DataFrame  # one row per sampled citizen: metrics (model and @reference) + group columns
    shown: dict[str, tuple[np.ndarray, np.ndarray]]  # "model" / "reference" → (query rows, item positions)
    catalogue_size: int
    # column → (draws, citizens): per-citizen values under each resampled fit of the outcome model
    replicates: dict[str, np.ndarray] = field(default_factory=dict)
    # metrics that no order of these lists could change for any citizen (recall@10 of lists of 10, say)
    constant: frozenset[str] = frozenset()


def _goodness(kind: str, outcome: OutcomeModels | None, item_quality: np.ndarray, quantile: float) -> Goodness:
    if kind in ("jobs", "trainings") and outcome is not None:
        return Goodness("chance", None, f"estimated chance of success in the top {1 - quantile:.0%} of the "
                        "historical records (qualifications only)")
    finite = item_quality[np.isfinite(item_quality)]
    if len(finite):
        return Goodness("quality", float(np.quantile(finite, quantile)),
                        f"wage/quality index in the top {1 - quantile:.0%} of the catalogue")
    return Goodness("none", None, "no outcome records and no quality index: not measurable")


def good_flags(goodness: Goodness, outcome: OutcomeModels | None, items: ItemFacts, features: pd.DataFrame,
               item_positions: np.ndarray) -> np.ndarray:
    """1 for a good opportunity, 0 otherwise, NaN where unknown (no criterion, no quality index)."""
    if goodness.criterion == "chance":
        chance = outcome.blind
        return (chance.predict(features) >= chance.good_threshold).astype(np.float64)
    if goodness.criterion == "quality":
        quality = items.quality[item_positions]
        return np.where(np.isfinite(quality), quality >= goodness.quality_threshold, np.nan)
    return np.full(len(item_positions), np.nan)


def prepare(*, resources: KindResources, scorer: Scorer, data: RankingData, policy: Policy, seed: int,
            holdout: Holdout, parts: tuple[str, ...] = (JUDGING,), model: ScoringModel | None = None) -> Prepared:
    """Everything :func:`collect` needs for the given parts of ``holdout`` (``data``'s test set holds the held-out
    citizens' logged lists; its train and valid sets the records the outcome models are fitted on)."""
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
    goodness = _goodness(kind, outcome, items.quality, policy.good_opportunity_quantile)
    reach = {"ready": lambda frame, positions: ready_from_features(kind, frame, items.n_essential[positions])}
    if goodness.criterion != "none":
        reach["good"] = lambda frame, positions: np.nan_to_num(
            good_flags(goodness, outcome, items, frame, positions), nan=0.0)
    as_of = date.fromisoformat(store.manifest["config"]["as_of"])
    depth = max(policy.mitigation.depth, K)
    test = data.sets["test"]
    built = {}
    for offset, name in enumerate(parts):
        members = holdout.parts[name]
        rng = np.random.default_rng(seed + offset)
        sample = np.sort(rng.choice(members, size=min(policy.sample_citizens, len(members)), replace=False))
        context = contexts_from_store(store=store, taxonomy=resources.taxonomy, citizen_ids=sample, as_of=as_of)
        ranked = rank_candidates(resources=resources, scorer=scorer, context=context, depth=depth, reach=reach)
        counterfactual = {alteration: _altered(resources, scorer, context, alteration, depth)
                          for alteration in COUNTERFACTUALS}
        rows = np.flatnonzero(np.isin(test.citizen_ids, members))
        features = test.features.iloc[rows].reset_index(drop=True)
        scores = (np.asarray(scorer.score(features, citizen_ids=test.citizen_ids[rows],
                                          item_positions=test.item_positions[rows]), dtype=np.float64)
                  if len(rows) else np.zeros(0))
        built[name] = PartLists(name=name, sample_ids=sample, context=context, ranked=ranked,
                                counterfactual=counterfactual, test_rows=rows, test_scores=scores,
                                test_reference=reference_scores(kind, features) if len(rows) else np.zeros(0))
    facts = {
        "as_of": str(as_of), "population_citizens": int(len(store.table("citizens"))), **holdout.facts(),
        "sampled_citizens": {name: len(part.sample_ids) for name, part in built.items()},
        "test_citizens": {name: int(len(np.unique(test.citizen_ids[part.test_rows]))) for name, part in built.items()},
        "test_queries": {name: int(len(np.unique(test.group[part.test_rows]))) for name, part in built.items()},
        "catalogue_size": len(resources.catalogue), "outcome_records": outcome.records if outcome else 0,
        "outcome_success_rate": outcome.success_rate if outcome else None, "seed": int(seed),
    }
    return Prepared(kind=kind, resources=resources, scorer=scorer, model=model, data=data, groups=groups,
                    people=people, holdout=holdout, parts=built, outcome=outcome, item_female_share=female,
                    items=items, goodness=goodness, facts=facts)


def _label(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return str(value)


def _altered(resources: KindResources, scorer: Scorer, context: QueryContext, name: str,
             depth: int) -> tuple[np.ndarray, Ranked]:
    """Rows of the sample where the alteration changes something, and their lists after it."""
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
    return rows, rank_candidates(resources=resources, scorer=scorer, context=replace(subset, queries=altered),
                                 depth=depth)


def ready_flags(prepared: Prepared, lists: CandidateLists) -> np.ndarray:
    """``ready`` exactly as the gap analysis decides it (models.gap), from the pair features."""
    return ready_from_features(prepared.kind, lists.features, prepared.items.n_essential[lists.item_positions])


def shown_top(prepared: Prepared, lists: CandidateLists, reranker: Reranker | None) -> CandidateLists:
    if reranker is None:
        return lists.top(K)
    return lists.take(reranker.select(query_rows=lists.query_rows, scores=lists.scores, features=lists.features,
                                      item_positions=lists.item_positions, k=K, items=prepared.items))


def _reachable_exposure(count: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Exposure share of a list of ``length`` items whose first ``count`` are the flagged ones."""
    cumulative = np.r_[0.0, np.cumsum(position_weights(K))]
    count = np.minimum(count, length).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(length > 0, cumulative[count] / cumulative[np.minimum(length, K)], np.nan)


def _list_metrics(prepared: Prepared, part: PartLists, top: CandidateLists,
                  people: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-citizen metrics of one shown top 10 (model or reference) and the outcome metrics' draws."""
    n, rows = top.n_queries, top.query_rows
    length = np.bincount(rows, minlength=n)
    metrics: dict[str, np.ndarray] = {}
    draws: dict[str, np.ndarray] = {}
    good = good_flags(prepared.goodness, prepared.outcome, prepared.items, top.features, top.item_positions)
    metrics["good_exposure"] = exposure_per_query(values=good, query_rows=rows, n_queries=n)
    reachable = part.ranked.reach.get("good")
    if reachable is not None:
        best = _reachable_exposure(reachable, length)
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics["good_exposure_attained"] = np.where((reachable > 0) & (best > 0),
                                                         metrics["good_exposure"] / best, np.nan)
    if prepared.outcome is not None:
        terms = sensitive_terms(people.iloc[rows].reset_index(drop=True),
                                prepared.item_female_share[top.item_positions])
        own, reference = prepared.outcome.chances(top.features, terms)
        metrics["outcome_chance"] = exposure_per_query(values=own, query_rows=rows, n_queries=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics["outcome_chance_adjusted"] = metrics["outcome_chance"] / exposure_per_query(
                values=reference, query_rows=rows, n_queries=n)
        draws = _outcome_draws(prepared, top, terms)
    quality = prepared.items.quality[top.item_positions]
    if np.isfinite(quality).any():
        metrics["quality_exposure"] = exposure_per_query(values=quality, query_rows=rows, n_queries=n)
    ready = ready_flags(prepared, top)
    metrics["ready_share"] = share_per_query(flags=ready, query_rows=rows, n_queries=n)
    options = np.minimum(part.ranked.reach["ready"], length)
    shown = np.bincount(rows, weights=ready, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics["ready_surfaced"] = np.where(options > 0, shown / options, np.nan)
    female = prepared.item_female_share[top.item_positions]
    flags = np.where(np.isfinite(female), atypical(people["gender"].to_numpy()[rows], female), np.nan)
    metrics["atypical_share"] = share_per_query(flags=flags, query_rows=rows, n_queries=n)
    return metrics, draws


def _flips(prepared: Prepared, part: PartLists, top: CandidateLists, reranker: Reranker | None,
           which: str) -> dict[str, np.ndarray]:
    """Per-citizen flip rates of the model's (``which="model"``) or the reference's top 10 under each alteration."""
    n = top.n_queries
    out = {}
    for name, (altered_rows, altered) in part.counterfactual.items():
        flip = np.full(n, np.nan)
        if len(altered_rows):
            after = shown_top(prepared, altered.deep, reranker) if which == "model" else altered.reference
            before = np.isin(top.query_rows, altered_rows)
            local = pd.Index(altered_rows).get_indexer(top.query_rows[before])
            flip[altered_rows] = flip_rate_per_query(
                before_items=top.item_positions[before], before_rows=local, after_items=after.item_positions,
                after_rows=after.query_rows, n_queries=len(altered_rows))
        out[f"flip_{name}"] = flip
    return out


def collect(prepared: Prepared, *, part: str = JUDGING, reranker: Reranker | None = None) -> Evidence:
    """Per-citizen quantities of one part's shown top 10s (plain or re-ranked) and of the reference's."""
    lists = prepared.parts[part]
    people = prepared.people.loc[lists.sample_ids].reset_index(drop=True)
    model_top = shown_top(prepared, lists.ranked.deep, reranker)
    reference_top = lists.ranked.reference
    columns: dict[str, np.ndarray] = {}
    replicates: dict[str, np.ndarray] = {}
    for suffix, top, which in (("", model_top, "model"), (REFERENCE, reference_top, "reference")):
        metrics, draws = _list_metrics(prepared, lists, top, people)
        metrics.update(_flips(prepared, lists, top, reranker, which))
        columns.update({f"{name}{suffix}": values for name, values in metrics.items()})
        replicates.update({f"{name}{suffix}": values for name, values in draws.items()})
    suggestions = pd.concat([pd.DataFrame(columns),
                             prepared.groups.loc[lists.sample_ids].reset_index(drop=True)], axis=1)
    outcomes, constant = _outcome_metrics(prepared, lists, reranker)
    return Evidence(kind=prepared.kind, part=part, outcomes=outcomes, constant=constant, suggestions=suggestions,
                    shown={"model": (model_top.query_rows, model_top.item_positions),
                           "reference": (reference_top.query_rows, reference_top.item_positions)},
                    catalogue_size=len(prepared.resources.catalogue), replicates=replicates)


def _outcome_draws(prepared: Prepared, top: CandidateLists, terms: pd.DataFrame) -> dict[str, np.ndarray]:
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


def _reranked_scores(prepared: Prepared, rows: np.ndarray, scores: np.ndarray, reranker: Reranker) -> np.ndarray:
    """Scores whose order is the re-ranker's order of each whole logged list."""
    test = prepared.data.sets["test"]
    features = test.features.iloc[rows].reset_index(drop=True)
    protected = reranker.protected(features=features, item_positions=test.item_positions[rows],
                                   items=prepared.items)
    order = reranker.order(query_rows=test.group[rows], scores=scores, protected=protected, k=None)
    ordered = test.group[rows][order]
    positions = np.arange(len(order)) - np.searchsorted(ordered, ordered, side="left")
    out = np.empty(len(order))
    out[order] = -positions.astype(np.float64)
    return out


def _constant_by_construction(labels: np.ndarray, query_rows: np.ndarray, seed: int) -> frozenset[str]:
    """The quality metrics whose value no order could change: equal for every query on its best and its worst order."""
    _, best_ndcg, best_recall, _ = quality_per_query(labels=labels, scores=labels.astype(np.float64),
                                                     query_rows=query_rows, seed=seed)
    _, worst_ndcg, worst_recall, _ = quality_per_query(labels=labels, scores=-labels.astype(np.float64),
                                                       query_rows=query_rows, seed=seed)
    return frozenset(name for name, best, worst in ((NDCG_AT_K, best_ndcg, worst_ndcg),
                                                    ("recall_top_half", best_recall, worst_recall))
                     if np.allclose(best, worst))


def _outcome_metrics(prepared: Prepared, lists: PartLists,
                     reranker: Reranker | None) -> tuple[pd.DataFrame, frozenset[str]]:
    """NDCG@10 and recall in the top half per held-out citizen and list-length band (mean over their queries),
    for the model's order (re-ranked when it is) and the reference's, on the part's logged lists; and which of the
    two no order could change."""
    test = prepared.data.sets["test"]
    rows = lists.test_rows
    columns = ["stratum", NDCG_AT_K, "recall_top_half", f"{NDCG_AT_K}{REFERENCE}",
               f"recall_top_half{REFERENCE}", *prepared.groups.columns]
    if not len(rows):
        return pd.DataFrame(columns=columns), frozenset()
    scores = lists.test_scores if reranker is None else _reranked_scores(prepared, rows, lists.test_scores, reranker)
    seed = prepared.facts.get("seed", 0)
    constant = _constant_by_construction(test.labels[rows], test.group[rows], seed)
    frames = []
    for suffix, order in (("", scores), (REFERENCE, lists.test_reference)):
        ids, ndcg, recall, length = quality_per_query(labels=test.labels[rows], scores=order,
                                                      query_rows=test.group[rows], seed=seed)
        first = np.searchsorted(test.group[rows], ids, side="left")
        frames.append(pd.DataFrame({"query": ids, "citizen": test.citizen_ids[rows][first],
                                    "stratum": (length - 1) // LIST_LENGTH_BAND,
                                    f"{NDCG_AT_K}{suffix}": ndcg, f"recall_top_half{suffix}": recall}))
    frame = frames[0].merge(frames[1].drop(columns=["citizen", "stratum"]), on="query")
    frame = frame[frame["citizen"] >= 0].drop(columns="query").groupby(["citizen", "stratum"]).mean().reset_index()
    groups = prepared.groups.loc[frame["citizen"].to_numpy()].reset_index(drop=True)
    return pd.concat([frame.drop(columns="citizen").reset_index(drop=True), groups], axis=1)[columns], constant


def catalogue_exposure(evidence: Evidence, which: str) -> np.ndarray:
    rows, items = evidence.shown[which]
    return item_exposure(item_positions=items, query_rows=rows, catalogue_size=evidence.catalogue_size)
