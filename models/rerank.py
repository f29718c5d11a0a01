"""A FA*IR-style re-ranker that guarantees good opportunities a minimum share of every top k.

The fairness gate's mitigation (``loopbaan assess --mitigate``) chooses its strength; a mitigated model
version carries it, and the service and the batch apply it through :class:`models.suggest.Suggester`.

FA*IR (Zehlike et al., 2017) ranks by score but, at every prefix length i of the list, requires at least
``m(i)`` protected items, where ``m(i)`` is the ``significance`` quantile of a Binomial(i, ``proportion``):
a list that a fair coin with that proportion could plausibly have produced. Here the "protected" items are
the *good opportunities* for this citizen — an item whose estimated chance of success for the citizen's
qualifications is in the top share (jobs, trainings; :class:`models.chance.LinearChance`, blind to
sensitive attributes) or, for career steps, an occupation with a high wage/quality index.

The re-ranker never sees a sensitive attribute: it needs the model's best ``depth`` candidates, their pair
features and this configuration, which a mitigated model version carries (tags ``mitigation.*`` and the
artifact ``mitigation/reranker.json``; see :func:`Reranker.from_dict`). The booster of a mitigated version is
the unchanged booster of its base version, so every score and every SHAP explanation stays exact; the
re-ranker only changes the order, which the suggestion's model notice states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import binom

from features.population.occupations import build_occupation_model
from models.chance import LinearChance
from models.metrics import group_bounds
from models.resources import KindResources

METHOD = "fair_top_k"
CRITERIA = ("chance", "quality")
ARTIFACT = "mitigation/reranker.json"  # where a mitigated model version's run keeps its re-ranker


def minimum_protected(k: int, *, proportion: float, significance: float) -> np.ndarray:
    """m(i) for prefix lengths i = 1..k: the least protected items a fair list of that length holds."""
    lengths = np.arange(1, k + 1)
    return np.maximum(binom.ppf(significance, lengths, proportion), 0).astype(np.int64)


def fair_top_k(scores: np.ndarray, protected: np.ndarray, *, k: int, proportion: float,
               significance: float) -> np.ndarray:
    """Indices (into one query's candidates) of the re-ranked top ``k``, best first.

    Candidates are taken by score, except that whenever the prefix holds fewer protected items than
    ``minimum_protected`` asks, the best remaining protected candidate comes next.
    """
    scores = np.asarray(scores, dtype=np.float64)
    protected = np.asarray(protected, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    queue_protected = [index for index in order if protected[index]]
    queue_other = [index for index in order if not protected[index]]
    k = min(k, len(scores))
    needed = minimum_protected(k, proportion=proportion, significance=significance)
    chosen: list[int] = []
    taken_protected = next_protected = next_other = 0
    for position in range(k):
        has_protected = next_protected < len(queue_protected)
        has_other = next_other < len(queue_other)
        must = has_protected and taken_protected < needed[position]
        take_protected = must or not has_other or (
            has_protected and scores[queue_protected[next_protected]] >= scores[queue_other[next_other]])
        if take_protected:
            chosen.append(queue_protected[next_protected])
            next_protected += 1
            taken_protected += 1
        else:
            chosen.append(queue_other[next_other])
            next_other += 1
    return np.asarray(chosen, dtype=np.int64)


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


@dataclass(frozen=True)
class Reranker:
    """A FA*IR-style re-rank of each citizen's best ``depth`` candidates, fully described by its fields."""

    proportion: float
    significance: float
    depth: int
    criterion: str  # chance | quality
    chance: LinearChance | None = None  # criterion "chance": blind outcome model with its good threshold
    quality_threshold: float | None = None  # criterion "quality": occupation wage/quality index threshold
    method: str = METHOD

    def protected(self, *, features: pd.DataFrame, item_positions: np.ndarray,
                  item_quality: np.ndarray | None) -> np.ndarray:
        """Good opportunities among the given (citizen, item) rows."""
        if self.criterion == "chance":
            return self.chance.predict(features) >= self.chance.good_threshold
        return np.nan_to_num(np.asarray(item_quality)[item_positions], nan=-np.inf) >= self.quality_threshold

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
               item_positions: np.ndarray, k: int, item_quality: np.ndarray | None) -> np.ndarray:
        """Row indices of the re-ranked top ``k`` of deep candidate lists (rows grouped by query, best first)."""
        protected = self.protected(features=features, item_positions=item_positions, item_quality=item_quality)
        return self.order(query_rows=query_rows, scores=scores, protected=protected, k=k)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["chance"] = self.chance.to_dict(with_resamples=False) if self.chance is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Reranker:
        chance = data.get("chance")
        return cls(**{**data, "chance": LinearChance.from_dict(chance) if chance else None})

    def with_proportion(self, proportion: float) -> Reranker:
        return replace(self, proportion=proportion)

    def tags(self) -> dict[str, str]:
        """The model-version tags that describe this re-rank (the full configuration is the JSON artifact)."""
        return {"mitigation.method": self.method, "mitigation.proportion": f"{self.proportion:g}",
                "mitigation.significance": f"{self.significance:g}", "mitigation.depth": str(self.depth),
                "mitigation.criterion": self.criterion}

    def describe(self) -> str:
        what = ("a high estimated chance of success for the citizen's qualifications" if self.criterion == "chance"
                else "a high wage/quality index")
        return (f"FA*IR-style re-rank of the model's best {self.depth} candidates: every top-i prefix holds at least "
                f"the {self.significance:g} quantile of Binomial(i, {self.proportion:g}) good opportunities "
                f"(items with {what}); otherwise the model's order.")
