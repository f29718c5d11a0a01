"""Query contexts: what the models may know of a citizen at a moment, built from career data only.

A context row is one citizen at one date (or an anonymous profile): the competencies held on that
date, the last occupation and how long ago it ended, years of experience per occupational group, and
the practical circumstances the barriers need (home, commute range, licence, Dutch level, education,
care duties). Sensitive attributes are never read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import sparse

from features._sparse import binary_csr
from features.errors import LoopbaanError
from features.population.occupations import EDUCATION_LEVELS
from features.population.store import PopulationStore
from features.taxonomy import Taxonomy

ERR_UNKNOWN_CITIZEN = "citizen {citizen_id} is not in the population: check the id"
ERR_NO_COMPETENCIES = ("an anonymous profile needs at least one known competency or a job title; "
                       "unknown competency ids: {unknown}")
_CIRCUMSTANCES = ("lat", "lon", "max_commute_km", "education_level", "dutch_level", "driving_licence",
                  "care_duties", "prefers_part_time")


@dataclass(frozen=True)
class QueryContext:
    """One row per query; ``profile`` and ``experience`` are sparse, rows aligned with ``queries``."""

    queries: pd.DataFrame  # citizen_id (-1 for anonymous), as_of, plus the _CIRCUMSTANCES columns
    profile: sparse.csr_matrix  # queries × competencies, 1 = held
    experience: sparse.csr_matrix  # queries × ISCO unit groups (taxonomy order of isco_groups), years
    last_occupation: np.ndarray  # taxonomy occupation position, -1 when never worked
    years_since_last_job: np.ndarray  # NaN when never worked
    target_occupation: np.ndarray  # the occupation a training should serve: last one (or typed title), -1

    def __len__(self) -> int:
        return len(self.queries)

    def take(self, rows: np.ndarray) -> QueryContext:
        rows = np.asarray(rows)
        return QueryContext(queries=self.queries.iloc[rows].reset_index(drop=True), profile=self.profile[rows],
                            experience=self.experience[rows], last_occupation=self.last_occupation[rows],
                            years_since_last_job=self.years_since_last_job[rows],
                            target_occupation=self.target_occupation[rows])


@lru_cache(maxsize=4)
def isco_groups(taxonomy: Taxonomy) -> pd.Index:
    """The ISCO unit groups of the taxonomy, in a fixed order (columns of ``QueryContext.experience``)."""
    return pd.Index(sorted(taxonomy.occupations["isco_group"].fillna("").unique()))


@lru_cache(maxsize=4)
def occupation_isco_position(taxonomy: Taxonomy) -> np.ndarray:
    return isco_groups(taxonomy).get_indexer(taxonomy.occupations["isco_group"].fillna(""))


def _days(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


@dataclass(frozen=True)
class CareerIndex:
    """Career data as arrays sorted by citizen, built once per store (queries then cost microseconds)."""

    citizens: pd.Index  # citizen ids, row order of ``circumstances``
    circumstances: np.ndarray  # citizens × _CIRCUMSTANCES, float64
    evidence_citizens: np.ndarray  # sorted
    evidence_days: np.ndarray
    evidence_columns: np.ndarray  # competency column, -1 when not in the taxonomy
    period_citizens: np.ndarray  # sorted
    period_start: np.ndarray
    period_end: np.ndarray  # -1 for an ongoing period
    period_occupation: np.ndarray  # taxonomy position, -1 when unknown


def career_index(*, citizens: Mapping[str, np.ndarray], evidence_citizens: np.ndarray, evidence_dates: np.ndarray,
                 evidence_columns: np.ndarray, period_citizens: np.ndarray, period_start: np.ndarray,
                 period_end: np.ndarray, period_occupation: np.ndarray) -> CareerIndex:
    """The index of some citizens' career data: ``citizens`` maps the ``citizens`` table's columns to arrays; dates
    are anything numpy reads as dates (a missing end: an ongoing period); competency columns and occupation
    positions are the taxonomy's (-1 when unknown)."""
    circumstances = np.column_stack([
        np.asarray(citizens["lat"], dtype=np.float64), np.asarray(citizens["lon"], dtype=np.float64),
        np.asarray(citizens["max_commute_km"], dtype=np.float64),
        pd.Index(EDUCATION_LEVELS).get_indexer(pd.Index(citizens["education"])).astype(np.float64),
        *(np.asarray(citizens[name], dtype=np.float64)
          for name in ("dutch_level", "driving_licence", "care_duties", "prefers_part_time")),
    ])
    evidence_citizens = np.asarray(evidence_citizens, dtype=np.int64)
    period_citizens = np.asarray(period_citizens, dtype=np.int64)
    order = np.argsort(evidence_citizens, kind="stable")
    period_order = np.argsort(period_citizens, kind="stable")
    end = np.asarray(period_end, dtype="datetime64[D]")
    return CareerIndex(
        citizens=pd.Index(np.asarray(citizens["citizen_id"], dtype=np.int64)), circumstances=circumstances,
        evidence_citizens=evidence_citizens[order], evidence_days=_days(evidence_dates)[order],
        evidence_columns=np.asarray(evidence_columns)[order], period_citizens=period_citizens[period_order],
        period_start=_days(period_start)[period_order],
        period_end=np.where(np.isnat(end), -1, end.astype(np.int64))[period_order],
        period_occupation=np.asarray(period_occupation)[period_order],
    )


def _career_index(store: PopulationStore, taxonomy: Taxonomy) -> CareerIndex:
    citizens = store.table("citizens")
    profiles = store.table("profiles")
    uri = profiles["competency_uri"]
    if isinstance(uri.dtype, pd.CategoricalDtype):
        columns = taxonomy.competency_index.get_indexer(uri.cat.categories.astype(str))[uri.cat.codes.to_numpy()]
    else:
        columns = taxonomy.competency_index.get_indexer(uri.to_numpy())
    periods = store.table("work_periods")
    return career_index(
        citizens={name: citizens[name].to_numpy() for name in ("citizen_id", "education", *_CIRCUMSTANCES)
                  if name != "education_level"},
        evidence_citizens=profiles["citizen_id"].to_numpy(), evidence_dates=profiles["evidence_date"].to_numpy(),
        evidence_columns=columns, period_citizens=periods["citizen_id"].to_numpy(),
        period_start=periods["start_date"].to_numpy(), period_end=periods["end_date"].to_numpy(),
        period_occupation=taxonomy.occupation_index.get_indexer(periods["occupation_uri"].to_numpy()),
    )


def contexts_from_store(*, store: PopulationStore, taxonomy: Taxonomy, citizen_ids: np.ndarray,
                        as_of: np.ndarray | date) -> QueryContext:
    """Contexts of ``citizen_ids``, each on its date (evidence and work dated on or before it only)."""
    index: CareerIndex = store.derived(f"career-index:{taxonomy.source}", lambda s: _career_index(s, taxonomy))
    return contexts_from_index(index=index, taxonomy=taxonomy, citizen_ids=citizen_ids, as_of=as_of)


def contexts_from_index(*, index: CareerIndex, taxonomy: Taxonomy, citizen_ids: np.ndarray,
                        as_of: np.ndarray | date) -> QueryContext:
    """Contexts of ``citizen_ids`` from a :class:`CareerIndex` (a store's, or the vault's rows of a few citizens)."""
    citizen_ids = np.asarray(citizen_ids, dtype=np.int64)
    n = len(citizen_ids)
    when = np.broadcast_to(np.asarray(np.datetime64(as_of, "D") if isinstance(as_of, date) else as_of,
                                      dtype="datetime64[D]"), (n,)).astype("datetime64[D]")
    rows = index.citizens.get_indexer(citizen_ids)
    if (rows < 0).any():
        raise LoopbaanError(ERR_UNKNOWN_CITIZEN.format(citizen_id=int(citizen_ids[rows < 0][0])))
    queries = pd.DataFrame(index.circumstances[rows], columns=list(_CIRCUMSTANCES))
    queries.insert(0, "as_of", when)
    queries.insert(0, "citizen_id", citizen_ids)
    days = when.astype(np.int64)
    profile = _profile_as_of(index, citizen_ids=citizen_ids, days=days, n_competencies=len(taxonomy.competencies))
    experience, last, since = _work_as_of(index, taxonomy=taxonomy, citizen_ids=citizen_ids, days=days)
    return QueryContext(queries=queries, profile=profile, experience=experience, last_occupation=last,
                        years_since_last_job=since, target_occupation=last.copy())


def _query_rows(sorted_citizens: np.ndarray, citizen_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query row, sorted-table row) for every table row of each query's citizen (queries may repeat a citizen)."""
    start = np.searchsorted(sorted_citizens, citizen_ids, side="left")
    stop = np.searchsorted(sorted_citizens, citizen_ids, side="right")
    lengths = stop - start
    query = np.repeat(np.arange(len(citizen_ids)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return query, np.repeat(start, lengths) + offsets


def _profile_as_of(index: CareerIndex, *, citizen_ids, days, n_competencies: int) -> sparse.csr_matrix:
    query, rows = _query_rows(index.evidence_citizens, citizen_ids)
    dated = index.evidence_days[rows] <= days[query]
    return binary_csr(query[dated], index.evidence_columns[rows][dated], (len(citizen_ids), n_competencies))


def _work_as_of(index: CareerIndex, *, taxonomy, citizen_ids, days):
    query, rows = _query_rows(index.period_citizens, citizen_ids)
    today = days[query]
    start = index.period_start[rows]
    end = np.where(index.period_end[rows] < 0, today, index.period_end[rows])
    begun = start <= today
    query, rows, start, end, today = query[begun], rows[begun], start[begun], end[begun], today[begun]
    end = np.minimum(end, today)
    occupation = index.period_occupation[rows]
    isco = occupation_isco_position(taxonomy)
    known = occupation >= 0
    experience = sparse.csr_matrix(
        (((end - start) / 365.25)[known], (query[known], isco[occupation[known]])),
        shape=(len(citizen_ids), len(isco_groups(taxonomy))))
    experience.sum_duplicates()

    last = np.full(len(citizen_ids), -1, dtype=np.int64)
    since = np.full(len(citizen_ids), np.nan)
    if len(query):
        order = np.lexsort((start, query))  # the latest period of each query comes last
        final = order[np.r_[query[order][1:] != query[order][:-1], True]]
        last[query[final]] = occupation[final]
        since[query[final]] = np.maximum(today[final] - end[final], 0) / 365.25
    return experience.tocsr(), last, since


def anonymous_context(*, taxonomy: Taxonomy, competency_uris: list[str], occupation: int | None = None,
                      as_of: date) -> QueryContext:
    """A context from a list of competencies and/or an occupation the citizen typed; nothing else is known.

    Unknown circumstances (home, Dutch level, licence...) are NaN: the models treat them as missing and no
    barrier is claimed for them. The typed occupation counts as the last one (so a career step moves on from
    it), and its essential competencies as held.
    """
    columns = taxonomy.competency_index.get_indexer(pd.Index(competency_uris, dtype=object))
    unknown = [uri for uri, column in zip(competency_uris, columns, strict=True) if column < 0]
    held = set(columns[columns >= 0].tolist())
    if occupation is not None:
        essential = taxonomy.relation_matrix("essential")
        held |= set(essential.indices[essential.indptr[occupation]:essential.indptr[occupation + 1]].tolist())
    if unknown or not held:
        raise LoopbaanError(ERR_NO_COMPETENCIES.format(unknown=", ".join(unknown[:5]) or "none"))
    typed = -1 if occupation is None else int(occupation)
    context = profile_contexts(taxonomy=taxonomy, held=[np.array(sorted(held), dtype=np.int64)],
                               target_occupation=np.array([typed]), as_of=as_of)
    return replace(context, last_occupation=np.array([typed], dtype=np.int64))


def profile_contexts(*, taxonomy: Taxonomy, held: list[np.ndarray], target_occupation: np.ndarray,
                     as_of: date) -> QueryContext:
    """Anonymous contexts, one per array of held competency columns; nothing else is known about them."""
    lengths = np.array([len(columns) for columns in held], dtype=np.int64)
    rows = np.repeat(np.arange(len(held)), lengths)
    columns = np.concatenate(held) if len(held) else np.zeros(0, dtype=np.int64)
    profile = binary_csr(rows, columns, (len(held), len(taxonomy.competencies)))
    queries = pd.DataFrame({"citizen_id": np.full(len(held), -1, dtype=np.int64),
                            "as_of": np.full(len(held), np.datetime64(as_of, "D")),
                            **{name: np.full(len(held), np.nan) for name in _CIRCUMSTANCES}})
    return QueryContext(queries=queries, profile=profile,
                        experience=sparse.csr_matrix((len(held), len(isco_groups(taxonomy))), dtype=np.float64),
                        last_occupation=np.full(len(held), -1, dtype=np.int64),
                        years_since_last_job=np.full(len(held), np.nan),
                        target_occupation=np.asarray(target_occupation, dtype=np.int64))


def stack_contexts(contexts: list[QueryContext]) -> QueryContext:
    """One context holding the rows of several, in order."""
    return QueryContext(
        queries=pd.concat([context.queries for context in contexts], ignore_index=True),
        profile=sparse.vstack([context.profile for context in contexts]).tocsr(),
        experience=sparse.vstack([context.experience for context in contexts]).tocsr(),
        last_occupation=np.concatenate([context.last_occupation for context in contexts]),
        years_since_last_job=np.concatenate([context.years_since_last_job for context in contexts]),
        target_occupation=np.concatenate([context.target_occupation for context in contexts]),
    )


def cold_start_context(*, taxonomy: Taxonomy, competency_uris: list[str] | None = None, title: str | None = None,
                       as_of: date) -> tuple[QueryContext, str | None]:
    """A context for someone without career data: a few competencies and/or a typed job title.

    The title is matched to the best occupation by its Dutch and English labels; returns the context and
    the URI of the occupation the title was read as (None without a title).
    """
    from features.title_matching import title_matcher

    occupation, uri = None, None
    if title is not None and title.strip():
        matches = title_matcher(taxonomy).search(title, k=1)
        if matches:
            occupation, uri = matches[0].occupation, matches[0].uri
    if occupation is None and not competency_uris:
        raise LoopbaanError("give a few competencies or a job title that resembles an occupation; "
                            f"nothing matched {title!r}" if title else ERR_NO_COMPETENCIES.format(unknown="none"))
    return anonymous_context(taxonomy=taxonomy, competency_uris=list(competency_uris or []), occupation=occupation,
                             as_of=as_of), uri
