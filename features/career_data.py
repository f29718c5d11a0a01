"""A citizen's own career data ("loopbaandata") as the site shows it: work, diplomas, trainings, competencies.

Each competency comes with where it came from (work, diploma, training, assessment, self-declared) and
when, so a citizen can see why the service believes they hold it. Built once per store (tables sorted by
citizen), so one citizen's record costs a few slices. Sensitive attributes are never read here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.errors import LoopbaanError
from features.population.store import PopulationStore
from features.taxonomy import Taxonomy
from features.vocabulary import LANGUAGES

ERR_UNKNOWN_CITIZEN = "citizen {citizen_id} is not in the population: check the id"
SOURCES = ("work", "diploma", "training", "assessment", "self-declared")
CIRCUMSTANCES = ("municipality", "education", "dutch_level", "driving_licence", "care_duties",
                 "prefers_part_time", "max_commute_km", "status")


class _Sorted:
    """One table sorted by citizen; ``rows(citizen_id)`` is that citizen's slice."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.sort_values("citizen_id", kind="stable").reset_index(drop=True)
        self._ids = self.frame["citizen_id"].to_numpy()

    def rows(self, citizen_id: int) -> pd.DataFrame:
        start, stop = np.searchsorted(self._ids, [citizen_id, citizen_id + 1])
        return self.frame.iloc[start:stop]


def _iso(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


@dataclass(frozen=True)
class CareerData:
    """Everything the site shows under "Mijn loopbaandata", in one language."""

    citizen_id: int
    circumstances: dict
    work: list[dict]
    diplomas: list[dict]
    trainings: list[dict]
    competencies: list[dict]  # id, label, sources: [{source, reference, date, proficiency}], newest first


class CareerRecords:
    """The store's career data, indexed by citizen (build once per store with :meth:`of`)."""

    def __init__(self, *, store: PopulationStore, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._index_citizens(store)
        self._diploma_titles = store.table("diploma_catalogue").set_index("diploma_id")[["title_nl", "title_en"]]
        self._training_titles = store.table("trainings").set_index("training_id")[["title_nl", "title_en"]]
        self._occupation_labels = {language: taxonomy.occupation_labels(language) for language in LANGUAGES}
        self._competency_labels = {language: taxonomy.competency_labels(language) for language in LANGUAGES}

    def _index_citizens(self, store) -> None:
        citizens = store.table("citizens")
        self._citizens = citizens.set_index("citizen_id")[list(CIRCUMSTANCES)]
        self._work = _Sorted(store.table("work_periods"))
        self._diplomas = _Sorted(store.table("diplomas"))
        self._trainings = _Sorted(store.table("training_records"))
        profiles = store.table("profiles")
        self._profiles = _Sorted(profiles.assign(competency_uri=profiles["competency_uri"].astype(str),
                                                 source=profiles["source"].astype(str)))

    def over(self, citizen_tables) -> CareerRecords:
        """The same catalogues and labels over other citizens' tables (anything with ``table(name)`` giving the
        population's ``citizens``, ``work_periods``, ``diplomas``, ``training_records`` and ``profiles``, such as
        a few citizens read from the vault)."""
        other = copy.copy(self)
        other._index_citizens(citizen_tables)
        return other

    @classmethod
    def of(cls, *, store: PopulationStore, taxonomy: Taxonomy) -> CareerRecords:
        return store.derived(f"career-records:{taxonomy.source}", lambda s: cls(store=s, taxonomy=taxonomy))

    def citizen(self, citizen_id: int, *, as_of: date, language: str = "nl") -> CareerData:
        """One citizen's career data known on ``as_of`` (later evidence is not shown: the models do not see it)."""
        if citizen_id not in self._citizens.index:
            raise LoopbaanError(ERR_UNKNOWN_CITIZEN.format(citizen_id=citizen_id))
        cutoff = pd.Timestamp(as_of)
        row = self._citizens.loc[citizen_id]
        circumstances = {name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()}
        title = f"title_{language}"
        work = self._work.rows(citizen_id)
        work = work[pd.to_datetime(work["start_date"]) <= cutoff].sort_values("start_date", ascending=False)
        diplomas = self._diplomas.rows(citizen_id)
        diplomas = diplomas[pd.to_datetime(diplomas["obtained_date"]) <= cutoff]
        trainings = self._trainings.rows(citizen_id)
        trainings = trainings[pd.to_datetime(trainings["completed_date"]) <= cutoff]
        return CareerData(
            citizen_id=int(citizen_id),
            circumstances=circumstances,
            work=[{"occupation_id": uri, "occupation": self._occupation(uri, language),
                   "start": _iso(start), "end": _iso(end), "part_time": bool(part_time)}
                  for uri, start, end, part_time in zip(work["occupation_uri"], work["start_date"], work["end_date"],
                                                         work["part_time"], strict=True)],
            diplomas=[{"diploma_id": int(diploma), "title": str(self._diploma_titles.at[diploma, title]),
                       "level": level, "obtained": _iso(obtained)}
                      for diploma, level, obtained in zip(diplomas["diploma_id"], diplomas["level"],
                                                          diplomas["obtained_date"], strict=True)],
            trainings=[{"training_id": int(training), "title": str(self._training_titles.at[training, title]),
                        "completed": _iso(completed)}
                       for training, completed in zip(trainings["training_id"], trainings["completed_date"],
                                                      strict=True)],
            competencies=self._competencies(citizen_id, cutoff, language),
        )

    def _occupation(self, uri: str, language: str) -> str:
        labels = self._occupation_labels[language]
        return str(labels.get(uri, uri))

    def _competencies(self, citizen_id: int, cutoff: pd.Timestamp, language: str) -> list[dict]:
        evidence = self._profiles.rows(citizen_id)
        evidence = evidence[pd.to_datetime(evidence["evidence_date"]) <= cutoff]
        labels = self._competency_labels[language]
        out = []
        for uri, rows in evidence.sort_values("evidence_date", ascending=False).groupby("competency_uri", sort=False):
            out.append({"id": uri, "label": str(labels.get(uri, uri)), "sources": [
                {"source": source, "reference": self._reference(source, reference, language),
                 "date": _iso(when), "proficiency": None if pd.isna(level) else int(level)}
                for source, reference, when, level in zip(rows["source"], rows["source_ref"], rows["evidence_date"],
                                                          rows["proficiency"], strict=True)]})
        out.sort(key=lambda entry: (SOURCES.index(entry["sources"][0]["source"])
                                    if entry["sources"][0]["source"] in SOURCES else len(SOURCES), entry["label"]))
        return out

    def _reference(self, source: str, reference: str, language: str) -> str:
        """A readable name for the evidence's origin: the occupation, diploma or training it came from."""
        kind, _, key = str(reference).partition(":")
        if source == "work":
            return self._occupation(reference, language)
        if kind == "diploma" and key.isdigit() and int(key) in self._diploma_titles.index:
            return str(self._diploma_titles.at[int(key), f"title_{language}"])
        if kind == "training" and key.isdigit() and int(key) in self._training_titles.index:
            return str(self._training_titles.at[int(key), f"title_{language}"])
        return {"nl": {"assessment": "competentietest", "self-declared": "zelf opgegeven"},
                "en": {"assessment": "competency test", "self-declared": "self-declared"}}[language].get(source, source)
