"""From a query context to explained suggestions: retrieve, featurize, score, explain, analyse the gap.

Every suggestion carries the exact per-feature contributions of its score (LightGBM ``pred_contrib``,
identical to SHAP's TreeExplainer): base value + Σ contributions = score. Barriers are the features that
stand in the way (commute, licence, language, hours, education), each with its effect on the score. In a list of a
mitigated version, a suggestion that the fairness guarantee moved up past a better-scored one says so and why
(``moved_by``, ``moved_reason``): there the order is not the order of the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.citizens import QueryContext
from features.feature_definitions import BARRIER_FEATURES, sentence
from features.label_languages import LabelLanguages
from features.vocabulary import LANGUAGES
from models.gap import Gap
from models.ranker import ScoringModel
from models.rerank import Reranker, item_facts
from models.resources import KindResources
from models.retrieval import DEFAULT_CANDIDATES
from models.scoring import ScoredCandidates, scored_blocks
from models.suggestion import Barrier, BridgingTraining, Competency, Contribution, Explanation, Suggestion

_SUMMARY = {
    "nl": {"for": "Vooral: {reason}", "against": " Wat tegenwerkt: {reason}"},
    "en": {"for": "Mainly: {reason}", "against": " What holds it back: {reason}"},
}
_MOVED = {
    "nl": {("good",): "opgeschoven als goede kans", ("ready",): "opgeschoven: je kunt hier nu al aan beginnen",
           ("good", "ready"): "opgeschoven als goede kans waar je nu al aan kunt beginnen"},
    "en": {("good",): "moved up as a good opportunity", ("ready",): "moved up: you can start on this right now",
           ("good", "ready"): "moved up as a good opportunity you can start on right now"},
}
_BARRIER_ACTIVE = {
    "commute": lambda values: values.get("commute_excess", 0) > 0,
    "licence": lambda values: values.get("licence_missing", 0) >= 1,
    "language": lambda values: values.get("dutch_gap", 0) > 0,
    "hours": lambda values: values.get("hours_clash", 0) >= 1,
    "education": lambda values: values.get("education_gap", 0) > 0,
}


def moved_reason(moved_by: tuple[str, ...], language: str) -> str | None:
    """Why the guarantee moved an item up, in words (None when it was not moved)."""
    return _MOVED[language][tuple(moved_by)] if moved_by else None


@dataclass(frozen=True)
class SuggestionRecord:
    """One suggestion in numbers only, no words: what a stored batch keeps (see :mod:`models.batch`).

    :meth:`SuggestionLabels.render` turns it into the :class:`Suggestion` the live path gives, in either language.
    """

    rank: int
    item: int  # catalogue position
    values: dict[str, float]  # feature → value (NaN where unknown)
    contributions: np.ndarray  # per feature in the model's order, then the base value
    readiness: str
    matched: np.ndarray  # competency columns
    missing: np.ndarray
    bridging: tuple[tuple[int, np.ndarray], ...] = ()  # (training position, competency columns it covers)
    moved: tuple[str, ...] = ()  # the guarantees that moved it up (see :func:`models.rerank.fair_top_k_moves`)


@dataclass(frozen=True)
class SuggestionLabels:
    """The words a suggestion is rendered with: item ids and titles by catalogue position, competency ids, labels
    and the language each label shown is in by column, bridging trainings' ids, titles and hours by position, in nl
    and en."""

    kind: str
    feature_names: tuple[str, ...]
    item_ids: np.ndarray
    item_titles: dict[str, np.ndarray]
    competency_uris: np.ndarray
    competency_labels: dict[str, np.ndarray]
    competency_label_langs: dict[str, np.ndarray]
    training_ids: np.ndarray
    training_titles: dict[str, np.ndarray]
    training_hours: np.ndarray

    def render(self, record: SuggestionRecord, *, language: str) -> Suggestion:
        names = self.feature_names
        values, contribution = record.values, record.contributions
        contributions = [Contribution(feature=name, value=_finite(values[name]), contribution=float(effect),
                                      sentence=sentence(name, values[name], language))
                         for name, effect in zip(names, contribution[:-1], strict=True)]
        contributions.sort(key=lambda part: -abs(part.contribution))
        return Suggestion(
            rank=record.rank, item_id=str(self.item_ids[record.item]),
            title=str(self.item_titles[language][record.item]), kind=self.kind,
            score=float(contribution.sum()), readiness=record.readiness,
            matched_competencies=self.competencies(record.matched, language),
            missing_competencies=self.competencies(record.missing, language),
            bridging_trainings=[BridgingTraining(training_id=str(self.training_ids[position]),
                                                 title=str(self.training_titles[language][position]),
                                                 duration_hours=float(self.training_hours[position]),
                                                 covers=self.competencies(covers, language))
                                for position, covers in record.bridging],
            barriers=self._barriers(values, dict(zip(names, contribution[:-1], strict=True)), language),
            explanation=Explanation(base_value=float(contribution[-1]), contributions=contributions,
                                    summary=_summary(contributions, language)),
            moved_by=list(record.moved), moved_reason=moved_reason(record.moved, language),
        )

    def competencies(self, columns: np.ndarray, language: str) -> list[Competency]:
        columns = np.asarray(columns, dtype=np.int64)
        return [Competency(id=str(uri), label=str(label), label_lang=str(shown))
                for uri, label, shown in zip(self.competency_uris[columns], self.competency_labels[language][columns],
                                             self.competency_label_langs[language][columns], strict=True)]

    @staticmethod
    def _barriers(values: dict, effects: dict, language: str) -> list[Barrier]:
        barriers = []
        for barrier, names in BARRIER_FEATURES.items():
            present = [name for name in names if name in effects]
            if not present or not _BARRIER_ACTIVE[barrier](values):
                continue
            barriers.append(Barrier(barrier=barrier, detail=sentence(present[0], values[present[0]], language),
                                    effect=float(sum(effects[name] for name in present))))
        return barriers


@dataclass(frozen=True)
class RankedLists:
    """Top-k per query as arrays (for evaluation): item positions, scores, features and contributions."""

    query_rows: np.ndarray
    item_positions: np.ndarray
    scores: np.ndarray
    features: pd.DataFrame
    contributions: np.ndarray
    moved: list[tuple[str, ...]] | None = None  # per row, the guarantees that moved it up; None: ranked by score

    def moved_at(self, index: int) -> tuple[str, ...]:
        return () if self.moved is None else self.moved[index]


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


class Suggester:
    """Suggestions of one kind, from one trained model."""

    def __init__(self, *, resources: KindResources, model: ScoringModel, reranker: Reranker | None = None) -> None:
        self.resources = resources
        self.model = model
        self.reranker = reranker
        self._items = item_facts(resources) if reranker is not None else None
        taxonomy = resources.taxonomy
        self._competency_uris = taxonomy.competencies["uri"].to_numpy()
        self._competency_labels = {language: taxonomy.competency_labels(language).to_numpy() for language in LANGUAGES}
        shown = LabelLanguages.of(taxonomy)
        self._competency_label_langs = {language: np.array([shown.competency(uri, language)
                                                            for uri in self._competency_uris], dtype=object)
                                        for language in LANGUAGES}
        self._titles = {language: resources.catalogue.titles[f"title_{language}"].to_numpy() for language in LANGUAGES}
        self._training_titles = {language: resources.trainings.titles[f"title_{language}"].to_numpy()
                                 for language in LANGUAGES}
        self._training_hours = resources.trainings.attributes["duration_hours"].to_numpy(dtype=np.float64)

    def rank(self, context: QueryContext, *, k: int = 10, top_n: int = DEFAULT_CANDIDATES) -> RankedLists:
        """The ``k`` best items per query, grouped by query, best first (re-ranked when the model version says so)."""
        depth = k if self.reranker is None else max(k, self.reranker.depth)
        blocks = scored_blocks(self.resources, context, self._score, top_n=max(top_n, depth))
        best = ScoredCandidates.concat([block.best(depth) for block in blocks], self.resources.featurizer.columns)
        moved = None
        if self.reranker is not None:
            keep, moved = self.reranker.select_moves(query_rows=best.query_rows, scores=best.scores,
                                                     features=best.features, item_positions=best.item_positions, k=k,
                                                     items=self._items)
            best = best.take(keep)
        return RankedLists(query_rows=best.query_rows, item_positions=best.item_positions, scores=best.scores,
                           features=best.features, contributions=self.model.contributions(best.features), moved=moved)

    def _score(self, features: pd.DataFrame, query_rows: np.ndarray, item_positions: np.ndarray) -> np.ndarray:
        return self.model.predict(features)

    def readiness(self, context: QueryContext, ranked: RankedLists) -> np.ndarray:
        """Readiness of every ranked item."""
        return np.array([self._gap(context, int(row), int(item), values).readiness
                         for row, item, values in zip(ranked.query_rows, ranked.item_positions,
                                                      _records(ranked.features), strict=True)])

    def _gap(self, context: QueryContext, row: int, item: int, values: dict) -> Gap:
        essential = self.resources.catalogue.essential
        columns = essential.indices[essential.indptr[item]:essential.indptr[item + 1]]
        return self.resources.gaps.analyse(held=context.profile[row], essential=columns, kind=self.resources.kind,
                                           dutch_gap=values.get("dutch_gap", 0.0))

    def suggest(self, context: QueryContext, *, k: int = 10, language: str = "nl",
                top_n: int = DEFAULT_CANDIDATES) -> list[list[Suggestion]]:
        """Explained suggestions per query, best first."""
        ranked = self.rank(context, k=k, top_n=top_n)
        lists: list[list[Suggestion]] = [[] for _ in range(len(context))]
        records = _records(ranked.features)
        for index, (row, item) in enumerate(zip(ranked.query_rows, ranked.item_positions, strict=True)):
            lists[row].append(self._suggestion(context, int(row), int(item), records[index],
                                               ranked.contributions[index], rank=len(lists[row]) + 1,
                                               language=language, moved=ranked.moved_at(index)))
        return lists

    @cached_property
    def labels(self) -> SuggestionLabels:
        resources = self.resources
        return SuggestionLabels(kind=resources.kind, feature_names=tuple(self.model.feature_names),
                                item_ids=resources.catalogue.ids, item_titles=self._titles,
                                competency_uris=self._competency_uris, competency_labels=self._competency_labels,
                                competency_label_langs=self._competency_label_langs,
                                training_ids=resources.trainings.ids, training_titles=self._training_titles,
                                training_hours=self._training_hours)

    def _suggestion(self, context, row, item, values, contribution, *, rank, language, moved) -> Suggestion:
        return self.labels.render(self.record(context, row, item, values, contribution, rank=rank, moved=moved),
                                  language=language)

    def record(self, context: QueryContext, row: int, item: int, values: dict, contribution: np.ndarray, *,
               rank: int, moved: tuple[str, ...] = ()) -> SuggestionRecord:
        """One ranked item in numbers: gap analysis and, per bridging training, the missing competencies it covers."""
        gap = self._gap(context, row, item, values)
        trainings = self.resources.trainings
        missing = set(gap.missing.tolist())
        bridging = []
        for position in gap.bridging:
            taught = trainings.essential.indices[trainings.essential.indptr[position]:
                                                 trainings.essential.indptr[position + 1]]
            covers = [column for column in taught.tolist() if column in missing]
            missing -= set(covers)
            bridging.append((int(position), np.array(covers, dtype=np.int64)))
        return SuggestionRecord(rank=rank, item=item, values=values, contributions=contribution,
                                readiness=gap.readiness, matched=gap.matched, missing=gap.missing,
                                bridging=tuple(bridging), moved=tuple(moved))


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain floats (much cheaper than ``DataFrame.to_dict``)."""
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=np.float64).tolist()]


def _summary(contributions: list[Contribution], language: str) -> str:
    positive = next((part for part in contributions if part.contribution > 0), None)
    negative = next((part for part in contributions if part.contribution < 0), None)
    text = _SUMMARY[language]["for"].format(reason=positive.sentence) if positive else ""
    if negative is not None:
        text += _SUMMARY[language]["against"].format(reason=negative.sentence)
    return text.strip()
