"""One partition of a nightly batch, and what every worker gets once to compute it (see :mod:`models.batch`).

- **contexts** — the partition's citizens' career tables, read through :class:`PopulationStore` with only the
  columns the contexts need and only the citizens' id range (row-group pruning: no process loads the whole
  population);
- **payload** — :class:`BatchPayload`, everything a partition needs besides its citizens (built once by the
  client, sent once per Dask worker as a plugin); each process builds its Suggester from it once;
- **partition** — :func:`compute_partition`: ranking by the service's :class:`models.suggest.Suggester`, the
  vectorised gap analysis (:mod:`models.batch_gaps`), one Parquet file written whole or not at all
  (:mod:`models.batch_write`). :func:`dask_partition` is the same for a Dask task (module-level: Dask pickles a
  function by its module path).
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from features.citizens import QueryContext, contexts_from_store
from features.esco import load_esco
from features.items import ItemCatalogue
from features.match_space import MatchSpace
from features.pair_features import PairFeaturizer
from features.population.store import PopulationStore
from features.register import NIGHTLY_BATCH, processing
from models import batch_write
from models.batch_gaps import batch_gaps
from models.batch_layout import MOVED_SEPARATOR
from models.gap import GapAnalyzer
from models.ranker import ScoringModel
from models.resources import KindResources
from models.row_exact_space import RowExactSpace
from models.suggest import RankedLists, Suggester

if TYPE_CHECKING:
    from models.rerank import Reranker


# -- contexts of one partition ----------------------------------------------------------------------------------

# What contexts_from_store reads from the population, per table (the batch reads these columns only).
CONTEXT_COLUMNS = {
    "citizens": ["citizen_id", "lat", "lon", "max_commute_km", "education", "dutch_level", "driving_licence",
                 "care_duties", "prefers_part_time"],
    "profiles": ["citizen_id", "competency_uri", "evidence_date"],
    "work_periods": ["citizen_id", "occupation_uri", "start_date", "end_date"],
}


class _CitizenRangeStore(PopulationStore):
    """The career tables of the citizens with ids in [first, last] only, and only the columns their contexts read
    (:meth:`PopulationStore.table` with ``columns`` and ``citizens``): a worker never holds the whole population."""

    def __init__(self, folder: Path, *, first: int, last: int) -> None:
        super().__init__(folder)
        self._bounds = (int(first), int(last))

    def table(self, name: str, *, columns=None, citizens=None):
        return super().table(name, columns=columns or CONTEXT_COLUMNS[name], citizens=citizens or self._bounds)


def check_population(store: PopulationStore) -> None:
    """The tables the batch reads match the population schema (checked once, before any work)."""
    for name in CONTEXT_COLUMNS:
        store.check_schema(name)


# -- the stored rows of one partition --------------------------------------------------------------------------


def partition_records(suggester: Suggester, context: QueryContext, ranked: RankedLists) -> batch_write.PartitionRecords:
    """A ranked partition as stored rows: citizens in id order, best first, with the gap of every item."""
    order = np.argsort(ranked.query_rows, kind="stable")  # grouped by query, each query's order kept
    rows = np.asarray(ranked.query_rows)[order]
    items = np.asarray(ranked.item_positions)[order]
    features = ranked.features.iloc[order].reset_index(drop=True)
    contributions = np.asarray(ranked.contributions)[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, len(rows)])
    ranks = np.arange(len(rows)) - np.repeat(starts, sizes) + 1
    dutch_gap = features["dutch_gap"].to_numpy(dtype=np.float64) if "dutch_gap" in features.columns else None
    gaps = batch_gaps(suggester.resources, context, rows, items, dutch_gap)
    catalogue_ids = suggester.resources.catalogue.ids
    moved = np.array([MOVED_SEPARATOR.join(ranked.moved_at(int(index))) for index in order], dtype=object)
    return batch_write.PartitionRecords(
        citizen_ids=context.queries["citizen_id"].to_numpy(dtype=np.int64)[rows], ranks=ranks, items=items,
        item_ids=np.array([str(value) for value in catalogue_ids[items]], dtype=object),
        scores=contributions.sum(axis=1), readiness=gaps.readiness, values=features.to_numpy(dtype=np.float64),
        contributions=contributions, matched=gaps.matched, missing=gaps.missing, bridging=gaps.bridging,
        covers=gaps.covers, moved=moved)


# -- what every worker gets once --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchPayload:
    """Everything a partition needs besides its citizens; built once by the client, sent once per worker."""

    token: str  # the batch id: one payload per run
    kind: str
    population: str  # folder, readable by every worker
    as_of: date
    model: ScoringModel
    reranker: Reranker | None  # a mitigated model version re-ranks its lists (applied by the Suggester)
    space: MatchSpace  # the catalogue with its item vectors and embeddings, and the competency embeddings
    trainings: ItemCatalogue  # the catalogue bridging trainings come from
    max_bridging: int
    k: int
    top_n: int
    exact: bool
    header: dict  # written into every partition file: batch id, model name, version and run id
    directory: str  # the batch folder, shared by every worker


class _PartitionRunner:
    """One process's Suggester for a payload, built once (taxonomy from the installed package)."""

    def __init__(self, payload: BatchPayload) -> None:
        self.payload = payload
        self.taxonomy = load_esco()
        space = RowExactSpace.of(payload.space) if payload.exact else payload.space
        trainings = space.catalogue if payload.kind == "trainings" else payload.trainings
        resources = KindResources(kind=payload.kind, store=PopulationStore(Path(payload.population)),
                                  taxonomy=self.taxonomy, catalogue=space.catalogue, trainings=trainings, space=space,
                                  featurizer=PairFeaturizer(space=space, taxonomy=self.taxonomy),
                                  gaps=GapAnalyzer(trainings=trainings, max_bridging=payload.max_bridging))
        self.suggester = Suggester(resources=resources, model=payload.model, reranker=payload.reranker)

    def records(self, citizen_ids: np.ndarray) -> batch_write.PartitionRecords:
        payload = self.payload
        store = _CitizenRangeStore(Path(payload.population), first=citizen_ids[0], last=citizen_ids[-1])
        context = contexts_from_store(store=store, taxonomy=self.taxonomy, citizen_ids=citizen_ids,
                                      as_of=payload.as_of)
        ranked = self.suggester.rank(context, k=payload.k, top_n=payload.top_n)
        return partition_records(self.suggester, context, ranked)


_RUNNERS: dict[str, _PartitionRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def _runner(payload: BatchPayload) -> _PartitionRunner:
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(payload.token)
        if runner is None:
            _RUNNERS.clear()  # one batch at a time per process: let the previous run's models go
            runner = _RUNNERS[payload.token] = _PartitionRunner(payload)
        return runner


def compute_partition(payload: BatchPayload, index: int, citizen_ids: np.ndarray) -> dict:
    """Compute and write one partition; returns its index entry (the same on every engine and every retry),
    with the wall and CPU seconds it took (CPU: this process, all its threads; a process's one-off set-up of
    its Suggester is not counted)."""
    runner = _runner(payload)
    wall, cpu = time.perf_counter(), time.process_time()
    with processing(NIGHTLY_BATCH):  # its own scope: on a Dask worker the caller's does not travel
        records = runner.records(np.asarray(citizen_ids, dtype=np.int64))
    entry = batch_write.write_partition(Path(payload.directory), index, records, header=payload.header)
    return {**entry, "wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3)}


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, MiB.

    Linux's VmHWM where there is one: ``ru_maxrss`` carries the parent's peak over a fork and exec, so a
    process started by a big one would report the parent's figure.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def forget_runner(payload: BatchPayload) -> None:
    """Let this process's Suggester for ``payload`` go (the run is over)."""
    with _RUNNERS_LOCK:
        _RUNNERS.pop(payload.token, None)


def dask_partition(plugin: str, index: int, citizen_ids: np.ndarray) -> dict:
    """:func:`compute_partition` on a Dask worker, with the payload its plugin ``plugin`` holds."""
    from distributed import get_worker

    return compute_partition(get_worker().plugins[plugin].payload, index, citizen_ids)
