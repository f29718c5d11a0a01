"""The list a citizen sees: the served model's ranking with the items they dismissed left out, cut at ``k``.

Every path that shows or explains a citizen's list ranks it here — ``/suggestions``, ``/compare``, ``/why-not``,
``/what-if`` and an edit's recomputed list — so that they agree on every item's place. The suggester is asked for
``k`` plus the number of dismissed items, and those are dropped (the vault's rule, ``docs/vault.md``); only the
kept items are explained and analysed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from features.citizens import QueryContext
from models.suggest import RankedLists, Suggester
from models.suggestion import Suggestion


@dataclass(frozen=True)
class CitizenList:
    ranked: RankedLists
    kept: np.ndarray  # indices of ``ranked``'s rows, in list order

    @property
    def positions(self) -> np.ndarray:
        """Catalogue positions of the listed items, in list order."""
        return self.ranked.item_positions[self.kept]

    def rank_of(self, position: int) -> int | None:
        found = np.flatnonzero(self.positions == int(position))
        return int(found[0]) + 1 if len(found) else None

    def index_of(self, position: int) -> int | None:
        """The row of ``ranked`` holding the listed item at ``position`` (None: not listed)."""
        rank = self.rank_of(position)
        return None if rank is None else int(self.kept[rank - 1])


def typed_id(catalogue, item_id: str):
    """An item id as the API gives it (a string) as the catalogue holds it: a number, or a URI for careers."""
    if catalogue.kind == "careers":
        return item_id
    try:
        return int(item_id)
    except ValueError:
        return item_id  # unknown to the catalogue either way


def positions_of(catalogue, item_ids: Iterable[str]) -> np.ndarray:
    """Catalogue positions of API item ids (-1 where unknown)."""
    ids = [typed_id(catalogue, item_id) for item_id in item_ids]
    return catalogue.position_of(ids) if ids else np.zeros(0, dtype=np.int64)


def dismissed_positions(catalogue, item_ids: Iterable[str]) -> frozenset[int]:
    """Catalogue positions of the dismissed items the catalogue still holds."""
    return frozenset(int(position) for position in positions_of(catalogue, item_ids) if position >= 0)


def rank_list(suggester: Suggester, context: QueryContext, *, k: int,
              dismissed: frozenset[int] = frozenset()) -> CitizenList:
    """The citizen's list of ``k`` (one query: ``context`` has one row)."""
    ranked = suggester.rank(context, k=k + len(dismissed))
    kept = [index for index, position in enumerate(ranked.item_positions.tolist()) if position not in dismissed][:k]
    return CitizenList(ranked=ranked, kept=np.asarray(kept, dtype=np.int64))


def render(suggester: Suggester, context: QueryContext, listed: CitizenList, *, language: str) -> list[Suggestion]:
    """The listed items as explained suggestions (readiness, gap, bridging trainings, contributions), ranked 1..k."""
    ranked = listed.ranked
    if not len(listed.kept):
        return []
    frame = ranked.features.iloc[listed.kept]
    names = list(frame.columns)
    values = [dict(zip(names, row, strict=True)) for row in frame.to_numpy(dtype=np.float64).tolist()]
    out = []
    for rank, (index, row_values) in enumerate(zip(listed.kept.tolist(), values, strict=True), start=1):
        record = suggester.record(context, int(ranked.query_rows[index]), int(ranked.item_positions[index]),
                                  row_values, ranked.contributions[index], rank=rank, moved=ranked.moved_at(index))
        out.append(suggester.labels.render(record, language=language))
    return out
