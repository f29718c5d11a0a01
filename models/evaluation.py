"""Evaluation on held-out citizens only: the ranker against the baselines, and what the suggestions look like.

- ``ranking_report``: NDCG@10, recall@10 and MAP of the model and of every baseline on the test groups
  (for career steps also end to end, counting a move whose target retrieval missed as 0);
- ``suggestion_report``: full suggestions (retrieval + ranking) for a sample of held-out citizens on the
  reference date: catalogue coverage of the top 10 and the share of ready / bridgeable / stretch items;
- ``occupation_recovery``: for career steps, how often an occupation is in the top 10 when the profile
  holds only a random share of its essential competencies plus a few unrelated ones.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from features.citizens import anonymous_context, contexts_from_store, stack_contexts
from features.vocabulary import K, NDCG_AT_K
from models.baselines import BASELINES, PopularityBaseline, baseline_scores
from models.datasets import RankingData
from models.metrics import catalogue_coverage, ranking_metrics
from models.ranker import ScoringModel
from models.suggest import Suggester

SUGGESTION_SAMPLE = 600
RECOVERY_SHARE = 0.6
RECOVERY_UNRELATED = 3


def ranking_report(*, data: RankingData, model: ScoringModel, catalogue_size: int, seed: int) -> dict[str, dict]:
    """Metrics keyed by scorer ("model", then each baseline) on the test set."""
    train, test = data.sets["train"], data.sets["test"]
    real = train.citizen_ids >= 0  # popularity counts what citizens did, not the cold-start queries
    popularity = PopularityBaseline().fit(item_positions=train.item_positions[real], labels=train.labels[real],
                                          catalogue_size=catalogue_size)
    report = {"model": ranking_metrics(labels=test.labels, scores=model.predict(test.features), groups=test.group,
                                       seed=seed)}
    for name in BASELINES:
        scores = baseline_scores(name=name, features=test.features, item_positions=test.item_positions,
                                 popularity=popularity)
        report[name] = ranking_metrics(labels=test.labels, scores=scores, groups=test.group, seed=seed)
    if data.kind == "careers":
        # Metrics above are over the moves whose target was retrieved; end to end, a miss counts as 0.
        found = test.n_groups / max(test.queries, 1)
        report["model"]["retrieval_recall"] = found
        for metrics in report.values():
            metrics[f"{NDCG_AT_K}_end_to_end"] = metrics[NDCG_AT_K] * found
    return report


def suggestion_report(*, suggester: Suggester, citizen_ids: np.ndarray, as_of: date, seed: int, k: int = K,
                      sample: int = SUGGESTION_SAMPLE) -> dict[str, float]:
    """Coverage and readiness shares of the top ``k`` for a sample of (held-out) citizens."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(citizen_ids, size=min(sample, len(citizen_ids)), replace=False))
    resources = suggester.resources
    context = contexts_from_store(store=resources.store, taxonomy=resources.taxonomy, citizen_ids=chosen,
                                  as_of=as_of)
    ranked = suggester.rank(context, k=k)
    readiness = suggester.readiness(context, ranked)
    return {
        "coverage": catalogue_coverage(ranked.item_positions, len(resources.catalogue)),
        "ready_share": float(np.mean(readiness == "ready")),
        "bridgeable_share": float(np.mean(readiness == "bridgeable")),
        "stretch_share": float(np.mean(readiness == "stretch")),
        "suggestion_citizens": len(chosen),
    }


def occupation_recovery(*, suggester: Suggester, occupations: np.ndarray, seed: int, as_of: date, k: int = K,
                        share: float = RECOVERY_SHARE, unrelated: int = RECOVERY_UNRELATED) -> np.ndarray:
    """Per catalogue position in ``occupations``: True when it lands in the top ``k`` of its own partial profile."""
    resources = suggester.resources
    taxonomy = resources.taxonomy
    catalogue = resources.catalogue
    rng = np.random.default_rng(seed)
    uris = taxonomy.competencies["uri"].to_numpy()
    related = (catalogue.essential + catalogue.optional).tocsr()
    contexts = []
    for position in occupations:
        essential = catalogue.essential.indices[catalogue.essential.indptr[position]:catalogue.essential.indptr[position + 1]]
        keep = rng.choice(essential, size=max(1, int(np.ceil(share * len(essential)))), replace=False)
        own = set(related.indices[related.indptr[position]:related.indptr[position + 1]].tolist())
        noise: list[int] = []
        while len(noise) < unrelated:
            column = int(rng.integers(0, len(uris)))
            if column not in own and column not in noise:
                noise.append(column)
        contexts.append(anonymous_context(taxonomy=taxonomy, competency_uris=list(uris[np.r_[keep, noise]]),
                                          as_of=as_of))
    ranked = suggester.rank(stack_contexts(contexts), k=k)
    found = set(zip(ranked.query_rows.tolist(), ranked.item_positions.tolist()))
    return np.array([(row, int(position)) in found for row, position in enumerate(occupations)])
