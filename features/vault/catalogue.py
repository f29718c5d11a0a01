"""What the vault needs to know of the catalogues: what a training teaches and a diploma gives, and their titles.

The catalogues belong to the data platform's snapshot (they are not citizens' data), so the vault borrows them
from a :class:`~features.population.store.PopulationStore`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.population.store import PopulationStore


def _grouped(links: pd.DataFrame, key: str) -> dict[int, tuple[str, ...]]:
    return {int(item): tuple(rows["competency_uri"].astype(str))
            for item, rows in links.groupby(key, sort=False)}


@dataclass(frozen=True)
class RecordCatalogue:
    store: PopulationStore  # the snapshot whose catalogue tables (titles) the career-data page reads
    training_competencies: dict[int, tuple[str, ...]]
    diploma_competencies: dict[int, tuple[str, ...]]
    diploma_levels: dict[int, str]
    training_ids: frozenset[int]

    @classmethod
    def of(cls, store: PopulationStore) -> RecordCatalogue:
        def build(snapshot: PopulationStore) -> RecordCatalogue:
            diplomas = snapshot.table("diploma_catalogue")
            return cls(store=snapshot,
                       training_competencies=_grouped(snapshot.table("training_competencies"), "training_id"),
                       diploma_competencies=_grouped(snapshot.table("diploma_competencies"), "diploma_id"),
                       diploma_levels=dict(zip(diplomas["diploma_id"].astype(int), diplomas["level"].astype(str),
                                               strict=True)),
                       training_ids=frozenset(snapshot.table("trainings")["training_id"].astype(int)))
        return store.derived("vault-record-catalogue", build)
