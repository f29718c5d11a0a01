"""A FA*IR-style re-ranker that guarantees good opportunities (and, when asked, ready ones) a minimum share of
every top k.

The fairness gate's mitigation (``loopbaan assess --mitigate``) chooses its strength and what it guarantees; a
mitigated model version carries it, and the service and the batch apply it through
:class:`models.suggest.Suggester`.

FA*IR (Zehlike et al., 2017) ranks by score but, at every prefix length i of the list, requires at least
``m(i)`` protected items, where ``m(i)`` is the ``significance`` quantile of a Binomial(i, ``proportion``):
a list that a fair coin with that proportion could plausibly have produced. Here "protected" means one of the
re-ranker's *guarantees*, each with its own minimum (the multinomial extension of Zehlike et al., 2022, in its
simplest greedy form):

- ``good``: a good opportunity for this citizen — an item whose estimated chance of success for the citizen's
  qualifications is in the top share (jobs, trainings; :class:`models.chance.LinearChance`, blind to sensitive
  attributes) or, for career steps, an occupation with a high wage/quality index;
- ``ready``: an item the citizen is ready for now (:func:`models.gap.ready_from_features`: at least 80% of its
  essential competencies held; a training: its Dutch entry level met).

The re-ranker never sees a sensitive attribute: it needs the model's best ``depth`` candidates, their pair
features, a few facts per catalogue item (:class:`ItemFacts`) and this configuration, which a mitigated model
version carries (tags ``mitigation.*`` and the artifact ``mitigation/reranker.json``; see
:func:`Reranker.from_dict`). The booster of a mitigated version is the unchanged booster of its base version, so
every score and every SHAP explanation stays exact; the re-ranker only changes the order: the list's model notice
says so, and each suggestion that a guarantee moved up past a better-scored one says which (:func:`fair_top_k_moves`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import binom

from features.population.occupations import build_occupation_model
from features.vocabulary import GUARANTEES
from models.chance import LinearChance
from models.gap import ready_from_features
from models.metrics import group_bounds
from models.resources import KindResources

METHOD = "fair_top_k"
CRITERIA = ("chance", "quality", "none")  # what makes an item a good opportunity ("none": no guarantee "good")
ARTIFACT = "mitigation/reranker.json"  # where a mitigated model version's run keeps its re-ranker
TIE = 1e-9  # scores closer than this are equal: passing one of them is not a move


def minimum_protected(k: int, *, proportion: float, significance: float) -> np.ndarray:
    """m(i) for prefix lengths i = 1..k: the least protected items a fair list of that length holds."""
    lengths = np.arange(1, k + 1)
    return np.maximum(binom.ppf(significance, lengths, proportion), 0).astype(np.int64)


def fair_top_k(scores: np.ndarray, protected: np.ndarray, *, k: int, proportion: float,
               significance: float) -> np.ndarray:
    """Indices (into one query's candidates) of the re-ranked top ``k``, best first.

    ``protected``: one flag per candidate, or one column of flags per guarantee (candidates × guarantees).
    Candidates are taken by score, except that whenever the prefix holds fewer items of a guarantee than
    ``minimum_protected`` asks (and some remaining candidate has it), the best remaining candidate among those
    that meet the most of such unmet guarantees comes next.
    """
    return fair_top_k_moves(scores, protected, k=k, proportion=proportion, significance=significance)[0]


def fair_top_k_moves(scores: np.ndarray, protected: np.ndarray, *, k: int, proportion: float,
                     significance: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fair_top_k` and, per position of the re-ranked list, which guarantees moved its item there.

    An item is *moved* when it was taken ahead of a remaining candidate with a higher score (by more than
    :data:`TIE`) because the prefix lacked a guarantee it meets: the second array holds, per position, a flag per guarantee column (positions ×
    guarantees), all False for an item that came by score.
    """
    scores = np.asarray(scores, dtype=np.float64)
    protected = np.asarray(protected, dtype=bool)
    if protected.ndim == 1:
        protected = protected[:, None]
    order = np.argsort(-scores, kind="stable")
    ranked = protected[order]  # flags in score order
    k = min(k, len(scores))
    needed = minimum_protected(k, proportion=proportion, significance=significance)
    remaining = np.ones(len(order), dtype=bool)
    taken = np.zeros(ranked.shape[1], dtype=np.int64)
    chosen = np.empty(k, dtype=np.int64)
    moved = np.zeros((k, ranked.shape[1]), dtype=bool)
    for position in range(k):
        unmet = (taken < needed[position]) & ranked[remaining].any(axis=0)
        eligible = remaining
        if unmet.any():
            hits = np.where(remaining, ranked[:, unmet].sum(axis=1), -1)
            eligible = hits == hits.max()
        pick = int(np.argmax(eligible))  # the best-scored eligible candidate
        if scores[order[np.argmax(remaining)]] - scores[order[pick]] > TIE:
            moved[position] = unmet & ranked[pick]
        chosen[position] = order[pick]
        remaining[pick] = False
        taken += ranked[pick]
    return chosen, moved


def item_quality(resources: KindResources, occupations: pd.DataFrame | None = None) -> np.ndarray:
    """Wage/quality index per catalogue item (NaN where none: trainings, occupations without one).

    ``occupations``: the occupation model's frame when the caller has built it already.
    """
    catalogue = resources.catalogue
    if resources.kind == "jobs":
        return catalogue.attributes["quality"].to_numpy(dtype=np.float64)
    if resources.kind == "careers":
        if occupations is None:
            occupations = build_occupation_model(resources.taxonomy).frame
        quality = occupations["quality"].to_numpy(dtype=np.float64)
        known = catalogue.occupation >= 0
        return np.where(known, quality[np.maximum(catalogue.occupation, 0)], np.nan)
    return np.full(len(catalogue), np.nan)


@dataclass(frozen=True, eq=False)
class ItemFacts:
    """What the re-ranker knows of every catalogue item besides the pair features (by catalogue position)."""

    kind: str
    quality: np.ndarray  # wage/quality index, NaN where none
    n_essential: np.ndarray  # number of essential competencies


def item_facts(resources: KindResources, occupations: pd.DataFrame | None = None) -> ItemFacts:
    return ItemFacts(kind=resources.kind, quality=item_quality(resources, occupations),
                     n_essential=np.diff(resources.catalogue.essential.indptr))


@dataclass(frozen=True)
class Reranker:
    """A FA*IR-style re-rank of each citizen's best ``depth`` candidates, fully described by its fields."""

    proportion: float
    significance: float
    depth: int
    criterion: str  # of CRITERIA: what makes an item a good opportunity
    chance: LinearChance | None = None  # criterion "chance": blind outcome model with its good threshold
    quality_threshold: float | None = None  # criterion "quality": occupation wage/quality index threshold
    method: str = METHOD
    guarantees: tuple[str, ...] = ("good",)  # of GUARANTEES, each with its own minimum per prefix

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"a re-ranker's criterion is one of {', '.join(CRITERIA)}, not {self.criterion!r}")
        if self.criterion == "none" and "good" in self.guarantees:
            raise ValueError("a re-ranker without a good-opportunity criterion cannot guarantee good opportunities")
        unknown = sorted(set(self.guarantees) - set(GUARANTEES))
        if unknown or not self.guarantees:
            raise ValueError(f"a re-ranker needs guarantees out of {', '.join(GUARANTEES)}, not {unknown or 'none'}")

    def good(self, *, features: pd.DataFrame, item_positions: np.ndarray, items: ItemFacts) -> np.ndarray:
        """Good opportunities among the given (citizen, item) rows."""
        if self.criterion == "chance":
            return self.chance.predict(features) >= self.chance.good_threshold
        return np.nan_to_num(items.quality[item_positions], nan=-np.inf) >= self.quality_threshold

    def protected(self, *, features: pd.DataFrame, item_positions: np.ndarray, items: ItemFacts) -> np.ndarray:
        """Flags per (citizen, item) row, one column per guarantee (rows × guarantees)."""
        columns = []
        for guarantee in self.guarantees:
            if guarantee == "good":
                columns.append(self.good(features=features, item_positions=item_positions, items=items))
            else:
                columns.append(ready_from_features(items.kind, features, items.n_essential[item_positions]))
        return np.column_stack(columns) if columns else np.zeros((len(item_positions), 0), dtype=bool)

    def order(self, *, query_rows: np.ndarray, scores: np.ndarray, protected: np.ndarray,
              k: int | None) -> np.ndarray:
        """Row indices of every query's re-ranked list (grouped by query, best first; ``k=None``: whole list)."""
        out = []
        for start, stop in zip(*group_bounds(query_rows), strict=True):
            size = stop - start if k is None else k
            picked = fair_top_k(scores[start:stop], protected[start:stop], k=size, proportion=self.proportion,
                                significance=self.significance)
            out.append(start + picked)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def select(self, *, query_rows: np.ndarray, scores: np.ndarray, features: pd.DataFrame,
               item_positions: np.ndarray, k: int, items: ItemFacts) -> np.ndarray:
        """Row indices of the re-ranked top ``k`` of deep candidate lists (rows grouped by query, best first)."""
        protected = self.protected(features=features, item_positions=item_positions, items=items)
        return self.order(query_rows=query_rows, scores=scores, protected=protected, k=k)

    def select_moves(self, *, query_rows: np.ndarray, scores: np.ndarray, features: pd.DataFrame,
                     item_positions: np.ndarray, k: int, items: ItemFacts) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        """:meth:`select`, and per selected row the guarantees that moved it up (empty: it came by score)."""
        protected = self.protected(features=features, item_positions=item_positions, items=items)
        rows, moves = [], []
        for start, stop in zip(*group_bounds(query_rows), strict=True):
            picked, moved = fair_top_k_moves(scores[start:stop], protected[start:stop], k=k,
                                             proportion=self.proportion, significance=self.significance)
            rows.append(start + picked)
            moves.extend(tuple(name for name, flag in zip(self.guarantees, flags, strict=True) if flag)
                         for flags in moved)
        return (np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)), moves

    def to_dict(self) -> dict:
        data = asdict(self)
        data["chance"] = self.chance.to_dict(with_resamples=False) if self.chance is not None else None
        data["guarantees"] = list(self.guarantees)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Reranker:
        chance = data.get("chance")
        guarantees = tuple(data.get("guarantees") or ("good",))  # versions from before guarantees were named
        return cls(**{**data, "chance": LinearChance.from_dict(chance) if chance else None,
                      "guarantees": guarantees})

    def with_proportion(self, proportion: float) -> Reranker:
        return replace(self, proportion=proportion)

    @property
    def label(self) -> str:
        """The guarantees in words, e.g. "good + ready"."""
        return " + ".join(self.guarantees)

    def tags(self) -> dict[str, str]:
        """The model-version tags that describe this re-rank (the full configuration is the JSON artifact)."""
        return {"mitigation.method": self.method, "mitigation.proportion": f"{self.proportion:g}",
                "mitigation.significance": f"{self.significance:g}", "mitigation.depth": str(self.depth),
                "mitigation.criterion": self.criterion, "mitigation.guarantees": self.label}

    def describe(self) -> str:
        good = ("good opportunities (items with a high estimated chance of success for the citizen's qualifications)"
                if self.criterion == "chance" else "good opportunities (occupations with a high wage/quality index)")
        what = {"good": good, "ready": "ready items (the citizen meets at least 80% of the essential competencies; "
                                        "a training: its Dutch entry level)"}
        guaranteed = " and, separately, ".join(what[guarantee] for guarantee in self.guarantees)
        return (f"FA*IR-style re-rank of the model's best {self.depth} candidates: every top-i prefix holds at least "
                f"the {self.significance:g} quantile of Binomial(i, {self.proportion:g}) {guaranteed}; otherwise "
                "the model's order.")
