"""From a query context to explained suggestions: retrieve, featurize, score, explain, analyse the gap.

Every suggestion carries the exact per-feature contributions of its score (LightGBM ``pred_contrib``,
identical to SHAP's TreeExplainer): base value + Σ contributions = score. Barriers are the features that
stand in the way (commute, licence, language, hours, education), each with its effect on the score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.citizens import QueryContext
from features.feature_registry import BARRIER_FEATURES, sentence
from models.gap import Gap
from models.ranker import ScoringModel
from models.resources import KindResources
from models.retrieval import DEFAULT_CANDIDATES, iter_candidates, top_per_query

_SUMMARY = {
    "nl": {"for": "Vooral: {reason}", "against": " Wat tegenwerkt: {reason}"},
    "en": {"for": "Mainly: {reason}", "against": " What holds it back: {reason}"},
}
_BARRIER_ACTIVE = {
    "commute": lambda values: values.get("commute_excess", 0) > 0,
    "licence": lambda values: values.get("licence_missing", 0) >= 1,
    "language": lambda values: values.get("dutch_gap", 0) > 0,
    "hours": lambda values: values.get("hours_clash", 0) >= 1,
    "education": lambda values: values.get("education_gap", 0) > 0,
}


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float | None
    contribution: float
    sentence: str


@dataclass(frozen=True)
class Explanation:
    base_value: float
    contributions: list[Contribution]
    summary: str


@dataclass(frozen=True)
class Suggestion:
    rank: int
    item_id: str
    title: str
    kind: str
    score: float
    readiness: str
    matched_competencies: list[dict]
    missing_competencies: list[dict]
    bridging_trainings: list[dict]
    barriers: list[dict]
    explanation: Explanation
    model: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RankedLists:
    """Top-k per query as arrays (for evaluation): item positions, scores, features and contributions."""

    query_rows: np.ndarray
    item_positions: np.ndarray
    scores: np.ndarray
    features: pd.DataFrame
    contributions: np.ndarray


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


class Suggester:
    """Suggestions of one kind, from one trained model."""

    def __init__(self, *, resources: KindResources, model: ScoringModel, model_info: dict | None = None) -> None:
        self.resources = resources
        self.model = model
        self.model_info = model_info or {}
        taxonomy = resources.taxonomy
        self._competency_uris = taxonomy.competencies["uri"].to_numpy()
        self._competency_labels = {language: taxonomy.competency_labels(language).to_numpy() for language in ("nl", "en")}
        self._titles = {language: resources.catalogue.titles[f"title_{language}"].to_numpy() for language in ("nl", "en")}
        self._training_titles = {language: resources.trainings.titles[f"title_{language}"].to_numpy()
                                 for language in ("nl", "en")}
        self._training_hours = resources.trainings.attributes["duration_hours"].to_numpy(dtype=np.float64)

    def rank(self, context: QueryContext, *, k: int = 10, top_n: int = DEFAULT_CANDIDATES) -> RankedLists:
        """The ``k`` best items per query, grouped by query, best first."""
        rows, items, scores, features = [], [], [], []
        for start, _, block, candidates in iter_candidates(self.resources.space, context, top_n=max(top_n, k)):
            frame = self.resources.featurizer.transform(context, candidates.query_rows, candidates.item_positions,
                                                        block=(start, block))
            score = self.model.predict(frame)
            keep = top_per_query(candidates.query_rows, score, k)
            rows.append(candidates.query_rows[keep])
            items.append(candidates.item_positions[keep])
            scores.append(score[keep])
            features.append(frame.iloc[keep])
        frame = pd.concat(features, ignore_index=True)
        return RankedLists(query_rows=np.concatenate(rows), item_positions=np.concatenate(items),
                           scores=np.concatenate(scores), features=frame,
                           contributions=self.model.contributions(frame))

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
                                               language=language))
        return lists

    def _suggestion(self, context, row, item, values, contribution, *, rank, language) -> Suggestion:
        resources = self.resources
        names = self.model.feature_names
        contributions = [Contribution(feature=name, value=_finite(values[name]), contribution=float(effect),
                                      sentence=sentence(name, values[name], language))
                         for name, effect in zip(names, contribution[:-1], strict=True)]
        contributions.sort(key=lambda part: -abs(part.contribution))
        gap = self._gap(context, row, item, values)
        return Suggestion(
            rank=rank, item_id=str(resources.catalogue.ids[item]),
            title=str(self._titles[language][item]), kind=resources.kind,
            score=float(contribution.sum()), readiness=gap.readiness,
            matched_competencies=self._competencies(gap.matched, language),
            missing_competencies=self._competencies(gap.missing, language),
            bridging_trainings=self._bridging(gap, language),
            barriers=self._barriers(values, dict(zip(names, contribution[:-1], strict=True)), language),
            explanation=Explanation(base_value=float(contribution[-1]), contributions=contributions,
                                    summary=_summary(contributions, language)),
            model=dict(self.model_info),
        )

    def _competencies(self, columns: np.ndarray, language: str) -> list[dict]:
        columns = np.asarray(columns, dtype=np.int64)
        labels = self._competency_labels[language][columns]
        return [{"id": str(uri), "label": str(label)} for uri, label in zip(self._competency_uris[columns], labels,
                                                                             strict=True)]

    def _bridging(self, gap: Gap, language: str) -> list[dict]:
        trainings = self.resources.trainings
        missing = set(gap.missing.tolist())
        out = []
        for position in gap.bridging:
            taught = trainings.essential.indices[trainings.essential.indptr[position]:trainings.essential.indptr[position + 1]]
            covers = [column for column in taught.tolist() if column in missing]
            missing -= set(covers)
            out.append({"training_id": str(trainings.ids[position]),
                        "title": str(self._training_titles[language][position]),
                        "duration_hours": float(self._training_hours[position]),
                        "covers": self._competencies(np.array(covers, dtype=np.int64), language)})
        return out

    def _barriers(self, values: dict, effects: dict, language: str) -> list[dict]:
        barriers = []
        for barrier, names in BARRIER_FEATURES.items():
            present = [name for name in names if name in effects]
            if not present or not _BARRIER_ACTIVE[barrier](values):
                continue
            barriers.append({"barrier": barrier, "detail": sentence(present[0], values[present[0]], language),
                             "effect": float(sum(effects[name] for name in present))})
        return barriers


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
