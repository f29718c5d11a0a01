"""Nightly suggestions for every citizen, on this process or on a Dask cluster.

One run computes one kind's top ``k`` for every citizen of the population (except those who had switched AI
suggestions off when the run started: their choice in the consent store, else the population's default; see
:mod:`features.consent`) with readiness, gap, bridging trainings, the exact per-feature explanation and, for a
mitigated version, which fairness guarantee moved an item up, and stores them with :mod:`models.batch_store`:

1. **plan** — the citizens in id order, cut into partitions of ``partition_size``; the model (the registry's
   champion, or the alias asked; a kind the fairness gate withdrew has none); a *payload* with everything a partition needs besides its citizens: the
   booster and its re-ranker, the catalogue with its item embeddings (the match space), the bridging trainings;
2. **partitions** — for each: the citizens' contexts (read from the population with row-group pruning, so no
   process loads the whole population), ranking by the service's :class:`models.suggest.Suggester`, the gap
   analysis (vectorised, the rules of :mod:`models.gap`), one Parquet file written whole or not at all;
3. **commit** — the manifest, written last: only then is the batch visible to readers.

Engines: ``local`` runs the partitions in this process; ``dask`` submits one task per partition to a Dask
cluster (``scheduler`` address, or a ``LocalCluster`` started here). The payload travels **once per worker**,
as a worker plugin (a worker that joins or restarts gets it too), never with a task; each worker builds its
Suggester from it once. Both engines run the same partition function on the same partitions, so their batches
are identical. A worker that dies mid-run has its partitions recomputed elsewhere: a partition file appears only
whole and under a name fixed by the plan, so no citizen is lost or written twice. A crashed run resumes: the
next run with the same plan keeps the partitions already written (and reads the consent store as of the
interrupted run's start, so that its plan stays the same).

Exactness: the service computes one citizen at a time, and a float32 matrix product over many citizens rounds
differently (by ~1e-7) from the one-row product. With ``exact`` (the default) the batch computes the semantic
similarity row by row, like the service, so a precomputed suggestion equals the live one bit for bit; this
costs ~15 % at a few thousand items and more for a catalogue of 100k vacancies (see docs/scaling.md).
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse
from tqdm.auto import tqdm

from features.citizens import QueryContext, contexts_from_store
from features.consent import opted_out_ids
from features.errors import LoopbaanError
from features.esco import load_esco
from features.items import ItemCatalogue
from features.match_space import MatchBlock, MatchSpace
from features.pair_features import PairFeaturizer
from features.population.schema import SCHEMAS, comparable
from features.population.store import PopulationStore
from features.reads import record_read
from features.register import NIGHTLY_BATCH, processing
from features.settings import Settings
from features.vocabulary import KINDS
from models import batch_store, tracking
from models.gap import READY_SHARE, GapAnalyzer
from models.ranker import ScoringModel
from models.resources import KindResources, load_resources
from models.retrieval import DEFAULT_CANDIDATES
from models.suggest import RankedLists, Suggester

if TYPE_CHECKING:
    from models.rerank import Reranker

ENGINES = ("local", "dask")
DEFAULT_PARTITION_SIZE = 5_000
DEFAULT_WORKERS = 2
MAX_K = 50

ERR_ENGINE = "unknown engine {engine!r}: choose local or dask"
ERR_SCHEDULER_NEEDS_DASK = "--scheduler needs --engine dask (the local engine runs in this process)"
ERR_K = "k must be between 1 and {most}, not {k}"
ERR_PARTITION_SIZE = "the partition size must be at least 1 citizen, not {size}"
ERR_NO_CITIZENS = "the population in {folder} has no citizen to compute suggestions for (all opted out, or empty)"
ERR_NO_CHAMPION = ("no champion for {kind}: promote a version through the fairness gate, pass --alias challenger, "
                   "or set LOOPBAAN_ALLOW_CHALLENGER=true to use the challenger meanwhile")
ERR_WITHDRAWN = ("{kind} was withdrawn by the fairness gate on {at}: {reason} Nothing is computed for it until a "
                 "version is promoted through the gate")
ERR_POPULATION_TABLE = ("population table {path} cannot feed the batch ({problem}); regenerate the population with "
                        "`loopbaan data generate`")
ERR_WORKERS_DIED = ("Dask workers kept dying while computing {kind} partition {index} ({reason}); the partitions "
                    "written so far are kept: give the workers more memory or a smaller --partition-size, and rerun "
                    "to resume")

# What contexts_from_store reads from the population, per table (the batch reads these columns only).
_CONTEXT_COLUMNS = {
    "citizens": ["citizen_id", "lat", "lon", "max_commute_km", "education", "dutch_level", "driving_licence",
                 "care_duties", "prefers_part_time"],
    "profiles": ["citizen_id", "competency_uri", "evidence_date"],
    "work_periods": ["citizen_id", "occupation_uri", "start_date", "end_date"],
}


# -- contexts of one partition ----------------------------------------------------------------------------------


class _CitizenRangeStore(PopulationStore):
    """The career tables of the citizens with ids in [first, last] only: what one partition's contexts need.

    Tables are sorted by citizen id, so Parquet row-group statistics let the reader skip the rest: a worker never
    holds the whole population. Values and types are those of :meth:`PopulationStore.table`.
    """

    def __init__(self, folder: Path, *, first: int, last: int) -> None:
        super().__init__(folder)
        self._bounds = (int(first), int(last))

    def table(self, name: str):
        record_read(name)
        cache = self.__dict__.setdefault("_tables", {})
        if name not in cache:
            path = self.folder / f"{name}.parquet"
            first, last = self._bounds
            try:
                table = pq.read_table(path, columns=_CONTEXT_COLUMNS[name],
                                      filters=[("citizen_id", ">=", first), ("citizen_id", "<=", last)])
            except (pa.ArrowException, OSError) as error:
                raise LoopbaanError(ERR_POPULATION_TABLE.format(path=path, problem=str(error).splitlines()[0])) \
                    from None
            frame = table.to_pandas()
            for column in table.column_names:
                dtype = table.schema.field(column).type
                if pa.types.is_integer(dtype) and table.column(column).null_count:
                    frame[column] = frame[column].astype(f"Int{dtype.bit_width}")
            cache[name] = frame
        return cache[name]


def check_population(folder: Path) -> None:
    """The columns the batch reads exist with the population schema's types (checked once, before any work)."""
    for name, columns in _CONTEXT_COLUMNS.items():
        path = Path(folder) / f"{name}.parquet"
        try:
            found = pq.read_schema(path)
        except (pa.ArrowException, OSError) as error:
            raise LoopbaanError(ERR_POPULATION_TABLE.format(path=path, problem=str(error).splitlines()[0])) from None
        for column in columns:
            if column not in found.names:
                raise LoopbaanError(ERR_POPULATION_TABLE.format(path=path, problem=f"no column {column!r}"))
            if comparable(found.field(column).type) != comparable(SCHEMAS[name].field(column).type):
                raise LoopbaanError(ERR_POPULATION_TABLE.format(
                    path=path, problem=f"column {column!r} is {found.field(column).type}"))


# -- the match space, row by row --------------------------------------------------------------------------------


class RowExactSpace(MatchSpace):
    """The match space with the semantic similarity computed one query row at a time, as the service does for
    one citizen: a float32 product over many rows rounds differently (BLAS kernels differ with the row count).
    Everything else is :meth:`MatchSpace.block` (a test checks the two agree).

    The one-row products run over ``ITEM_CHUNK`` items at a time, every row against a chunk before the next
    chunk, so that the chunk stays in the CPU cache instead of the whole catalogue streaming from memory once
    per citizen (~3x faster at 100k items). Each element is still the one-row product's, bit for bit, where the
    BLAS takes items in groups that divide the chunk (OpenBLAS: 4 or 8); :meth:`of` checks this on the machine
    and falls back to whole rows where it does not hold.
    """

    ITEM_CHUNK = 1_024

    @classmethod
    def of(cls, space: MatchSpace) -> RowExactSpace:
        exact = cls.__new__(cls)
        exact.__dict__.update(space.__dict__)
        n_items = space.item_embeddings.shape[0]
        exact.item_chunk = max(1, n_items)
        probe = np.random.default_rng(0).standard_normal((2, space.item_embeddings.shape[1]))
        probe = probe.astype(space.item_embeddings.dtype)
        whole = exact._semantic(probe)
        exact.item_chunk = cls.ITEM_CHUNK
        if not np.array_equal(exact._semantic(probe), whole):
            exact.item_chunk = max(1, n_items)
        return exact

    def _semantic(self, embeddings: np.ndarray) -> np.ndarray:
        items = self.item_embeddings.T
        semantic = np.empty((embeddings.shape[0], items.shape[1]), dtype=np.result_type(embeddings, items))
        for start in range(0, items.shape[1], self.item_chunk):
            chunk = items[:, start:start + self.item_chunk]
            for row in range(embeddings.shape[0]):
                semantic[row, start:start + chunk.shape[1]] = (embeddings[row:row + 1] @ chunk)[0]
        return semantic

    def block(self, profile) -> MatchBlock:
        vectors, embeddings = self.query_vectors(profile)
        return MatchBlock(held_essential=profile.dot(self._essential_t).toarray(),
                          held_optional=profile.dot(self._optional_t).toarray(),
                          idf_overlap=vectors.dot(self._vectors_t).toarray(), semantic=self._semantic(embeddings))


# -- the gap analysis of many pairs at once ---------------------------------------------------------------------


def _ragged_rows(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of CSR rows ``rows`` in stored order: (owner = position in ``rows``, column)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows].astype(np.int64)
    lengths = indptr[rows + 1].astype(np.int64) - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return owner, indices[np.repeat(starts, lengths) + offsets].astype(np.int64)


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    where = np.searchsorted(sorted_keys, keys)
    found = np.zeros(len(keys), dtype=bool)
    inside = where < len(sorted_keys)
    found[inside] = sorted_keys[where[inside]] == keys[inside]
    return found


def _offsets(owner: np.ndarray, count: int) -> np.ndarray:
    return np.r_[0, np.cumsum(np.bincount(owner, minlength=count))].astype(np.int64)


@dataclass(frozen=True)
class GapColumns:
    """:meth:`models.gap.GapAnalyzer.analyse` of many (query, item) pairs, as ragged columns."""

    readiness: np.ndarray
    matched: batch_store.Ragged
    missing: batch_store.Ragged
    bridging: batch_store.Ragged  # training positions per pair, in the order chosen
    covers: batch_store.Ragged  # per bridging training: the missing competencies it covers, in its own order


_COVER_CHUNK = 2_048  # pairs per dense (pairs × trainings) block of the greedy bridging step


def batch_gaps(resources: KindResources, context: QueryContext, query_rows: np.ndarray, items: np.ndarray,
               dutch_gap: np.ndarray | None) -> GapColumns:
    """The gap analysis of :mod:`models.gap` for every pair at once (the batch's hot path; the same results).

    Per pair: matched and missing essential competencies (in the item's order); for a training, readiness from
    the Dutch-language gap; otherwise up to ``max_bridging`` bridging trainings chosen greedily (most missing
    competencies covered, the shortest among equals, the first among those), and readiness.
    """
    n_pairs = len(items)
    essential = resources.catalogue.essential
    owner, column = _ragged_rows(essential.indptr, essential.indices, items)
    n_columns = context.profile.shape[1]
    profile = context.profile.tocsr()
    held_keys = np.sort(np.repeat(np.arange(profile.shape[0], dtype=np.int64), np.diff(profile.indptr)) * n_columns
                        + profile.indices.astype(np.int64))
    held = _member(np.asarray(query_rows, dtype=np.int64)[owner] * n_columns + column, held_keys)
    matched = batch_store.Ragged(_offsets(owner[held], n_pairs), column[held])
    missing = batch_store.Ragged(_offsets(owner[~held], n_pairs), column[~held])
    if resources.kind == "trainings":
        gap = np.zeros(n_pairs) if dutch_gap is None else np.nan_to_num(np.asarray(dutch_gap, dtype=float), nan=0.0)
        readiness = np.where(gap <= 0, "ready", np.where(gap <= 1, "bridgeable", "stretch")).astype(object)
        nothing = np.zeros(0, dtype=np.int64)
        return GapColumns(readiness=readiness, matched=matched, missing=missing,
                          bridging=batch_store.Ragged(np.zeros(n_pairs + 1, dtype=np.int64), nothing),
                          covers=batch_store.Ragged(np.zeros(1, dtype=np.int64), nothing))
    bridging, covers, uncovered = _greedy_bridging(resources, owner[~held], column[~held], n_pairs=n_pairs,
                                                   n_columns=n_columns)
    n_essential = np.diff(essential.indptr)[np.asarray(items, dtype=np.int64)]
    share = np.ones(n_pairs)
    share[n_essential > 0] = np.diff(matched.offsets)[n_essential > 0] / n_essential[n_essential > 0]
    readiness = np.where(share >= READY_SHARE, "ready", np.where(uncovered == 0, "bridgeable", "stretch"))
    return GapColumns(readiness=readiness.astype(object), matched=matched, missing=missing, bridging=bridging,
                      covers=covers)


def _greedy_bridging(resources: KindResources, missing_owner: np.ndarray, missing_column: np.ndarray, *,
                     n_pairs: int, n_columns: int) -> tuple[batch_store.Ragged, batch_store.Ragged, np.ndarray]:
    """:meth:`models.gap.GapAnalyzer.bridging` for every pair at once, one greedy step for all pairs at a time.

    Returns the chosen trainings per pair, the competencies each covers (in the training's own order, as the
    live path lists them), and per pair how many missing competencies stay uncovered (unteachable included).
    """
    trainings = resources.trainings.essential.tocsr()
    taught_by = trainings.T.tocsr()  # competency → the trainings teaching it
    hours = np.nan_to_num(resources.trainings.attributes["duration_hours"].to_numpy(dtype=np.float64), nan=0.0)
    teachable = (np.diff(taught_by.indptr) > 0)[missing_column]
    uncovered = np.bincount(missing_owner[~teachable], minlength=n_pairs)
    owner, column = missing_owner[teachable], missing_column[teachable]  # still to cover, per pair
    chosen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, step, training)
    covered: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (pair, step, competency column)
    for step in range(resources.gaps.max_bridging):
        active = np.unique(owner)
        if not len(active):
            break
        picks = _best_trainings(taught_by, hours, active, owner, column, n_columns=n_columns)
        stopped = np.isin(owner, active[picks < 0])  # nothing covers what is left: the greedy ends for that pair
        uncovered = uncovered + np.bincount(owner[stopped], minlength=n_pairs)
        owner, column = owner[~stopped], column[~stopped]
        going, picked = active[picks >= 0], picks[picks >= 0]
        chosen.append((going, np.full(len(going), step), picked))
        taught_owner, taught_column = _ragged_rows(trainings.indptr, trainings.indices, picked)
        taught_keys = going[taught_owner] * n_columns + taught_column
        remaining_keys = owner * n_columns + column
        covers = _member(taught_keys, np.sort(remaining_keys))
        covered.append((going[taught_owner][covers], np.full(int(covers.sum()), step), taught_column[covers]))
        keep = ~_member(remaining_keys, np.sort(taught_keys))
        owner, column = owner[keep], column[keep]
    uncovered = uncovered + np.bincount(owner, minlength=n_pairs)

    pair, step, training = _stack(chosen)
    order = np.lexsort((step, pair))
    pair, step, training = pair[order], step[order], training[order]
    c_pair, c_step, c_column = _stack(covered)
    order = np.lexsort((np.arange(len(c_pair)), c_step, c_pair))  # stable: each training's own column order
    c_pair, c_step, c_column = c_pair[order], c_step[order], c_column[order]
    width = resources.gaps.max_bridging + 1
    entry = np.searchsorted(pair * width + step, c_pair * width + c_step)  # the bridging entry each column belongs to
    return (batch_store.Ragged(_offsets(pair, n_pairs), training), batch_store.Ragged(_offsets(entry, len(pair)),
                                                                                      c_column), uncovered)


def _stack(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first, second, third = zip(*parts, strict=True)
    return np.concatenate(first), np.concatenate(second), np.concatenate(third)


def _best_trainings(taught_by, hours: np.ndarray, active: np.ndarray, owner: np.ndarray, column: np.ndarray, *,
                    n_columns: int) -> np.ndarray:
    """Per active pair: the training covering most of its remaining columns, the shortest among equals, the first
    among those (-1 when none covers any)."""
    local = np.searchsorted(active, owner)
    picks = np.empty(len(active), dtype=np.int64)
    for start in range(0, len(active), _COVER_CHUNK):
        stop = min(start + _COVER_CHUNK, len(active))
        inside = (local >= start) & (local < stop)
        remaining = sparse.csr_matrix((np.ones(int(inside.sum()), dtype=np.float32),
                                       (local[inside] - start, column[inside])), shape=(stop - start, n_columns))
        counts = (remaining @ taught_by).toarray()  # pairs × trainings: remaining columns each training covers
        most = counts.max(axis=1)
        pick = np.argmin(np.where(counts == most[:, None], hours[None, :], np.inf), axis=1)
        picks[start:stop] = np.where(most > 0, pick, -1)
    return picks


def partition_records(suggester: Suggester, context: QueryContext, ranked: RankedLists) -> batch_store.PartitionRecords:
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
    moved = np.array(["+".join(ranked.moved_at(int(index))) for index in order], dtype=object)
    return batch_store.PartitionRecords(
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

    def records(self, citizen_ids: np.ndarray) -> batch_store.PartitionRecords:
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
    entry = batch_store.write_partition(Path(payload.directory), index, records, header=payload.header)
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


def _dask_partition(plugin: str, index: int, citizen_ids: np.ndarray) -> dict:
    from distributed import get_worker

    return compute_partition(get_worker().plugins[plugin].payload, index, citizen_ids)


# -- a run ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    index: int
    citizen_ids: np.ndarray

    def plan(self) -> dict:
        return {"index": self.index, "first": int(self.citizen_ids[0]), "last": int(self.citizen_ids[-1]),
                "citizens": len(self.citizen_ids)}


@dataclass(frozen=True)
class BatchResult:
    info: batch_store.BatchInfo
    engine: str
    workers: int
    citizens: int
    partitions: int
    resumed_partitions: int  # written by an earlier, interrupted run of the same plan and kept
    opted_out: int
    seconds: float  # the whole run: model, resources, cluster, partitions, commit
    compute_seconds: float  # the partitions computed by this run (without start-up)
    computed_citizens: int
    cpu_seconds: float  # CPU time of the partitions computed by this run, summed over the processes
    peak_memory_mb: dict[str, float] = field(default_factory=dict)  # per worker (or this process)
    fallback: bool = False  # the challenger stood in for a missing champion

    @property
    def citizens_per_s(self) -> float:
        return self.computed_citizens / self.compute_seconds if self.compute_seconds > 0 else float("nan")


def plan_partitions(store: PopulationStore, *, partition_size: int,
                    opted_out: np.ndarray) -> tuple[list[Partition], int]:
    """Citizens not in ``opted_out`` (ids), in id order, cut into partitions; also how many were left out."""
    record_read("citizens")
    ids = pq.read_table(store.folder / "citizens.parquet", columns=["citizen_id"])["citizen_id"].to_numpy()
    left_out = np.isin(ids, opted_out)
    chosen = np.sort(ids[~left_out]).astype(np.int64)
    parts = [Partition(index=index, citizen_ids=chosen[start:start + partition_size])
             for index, start in enumerate(range(0, len(chosen), partition_size))]
    return parts, int(left_out.sum())


def consent_moment(settings: Settings, kind: str, out: Path | None, *, discard_partial: bool) -> datetime:
    """When this run reads the consent store as of: now, or the start of the interrupted run it resumes."""
    for plan in [] if discard_partial else batch_store.partial_batches(settings, kind, out=out):
        moment = (plan.get("consent") or {}).get("as_of")
        if moment:
            return datetime.fromisoformat(moment)
    return datetime.now(UTC)


def _load_model(kind: str, alias: str | None, settings: Settings) -> tuple[tracking.LoadedModel, bool]:
    if alias is not None:
        return tracking.load_model(kind, alias=alias, settings=settings), False
    withdrawn = tracking.withdrawal(tracking.configure(settings), kind)
    if withdrawn is not None:
        raise LoopbaanError(ERR_WITHDRAWN.format(kind=kind, at=withdrawn.at or "an unrecorded date",
                                                 reason=withdrawn.reason))
    try:
        return tracking.load_model(kind, alias=tracking.CHAMPION, settings=settings), False
    except LoopbaanError:
        if not settings.allow_challenger:
            raise LoopbaanError(ERR_NO_CHAMPION.format(kind=kind)) from None
    return tracking.load_model(kind, alias=tracking.CHALLENGER, settings=settings), True


def run_batch(kind: str, *, store: PopulationStore, settings: Settings, out: Path | None = None,
              engine: str = "local", scheduler: str | None = None, workers: int = DEFAULT_WORKERS, k: int = 10,
              top_n: int = DEFAULT_CANDIDATES, partition_size: int = DEFAULT_PARTITION_SIZE,
              alias: str | None = None, exact: bool = True, discard_partial: bool = False,
              keep: int = batch_store.KEEP_BATCHES, progress: bool = True, connect_timeout_s: float = 10.0,
              echo: Callable[[str], None] = lambda line: None) -> BatchResult:
    """Compute and commit one kind's batch (resuming a crashed run of the same plan); see the module docstring.

    ``alias`` None takes the champion (the challenger when ``settings.allow_challenger`` and no champion exists).
    ``workers`` sizes the LocalCluster started when ``engine="dask"`` and no ``scheduler`` is given.
    """
    if kind not in KINDS:
        raise LoopbaanError(batch_store.ERR_UNKNOWN_KIND.format(kind=kind))
    if engine not in ENGINES:
        raise LoopbaanError(ERR_ENGINE.format(engine=engine))
    if scheduler and engine != "dask":
        raise LoopbaanError(ERR_SCHEDULER_NEEDS_DASK)
    if not 1 <= k <= MAX_K:
        raise LoopbaanError(ERR_K.format(most=MAX_K, k=k))
    if partition_size < 1:
        raise LoopbaanError(ERR_PARTITION_SIZE.format(size=partition_size))
    started = time.perf_counter()
    if engine == "dask":  # connected first: a wrong address fails before any work
        from models.distributed_training import dask_client

        cluster = dask_client(scheduler, workers=workers, timeout_s=connect_timeout_s)
    else:
        cluster = nullcontext()
    with processing(NIGHTLY_BATCH), cluster as client:
        return _run(kind, store=store, settings=settings, out=out, engine=engine, client=client, k=k, top_n=top_n,
                    partition_size=partition_size, alias=alias, exact=exact, discard_partial=discard_partial,
                    keep=keep, progress=progress, echo=echo, started=started)


def _run(kind: str, *, store: PopulationStore, settings: Settings, out: Path | None, engine: str, client, k: int,
         top_n: int, partition_size: int, alias: str | None, exact: bool, discard_partial: bool, keep: int,
         progress: bool, echo: Callable[[str], None], started: float) -> BatchResult:
    check_population(store.folder)
    consent_as_of = consent_moment(settings, kind, out, discard_partial=discard_partial)
    partitions, opted_out = plan_partitions(store, partition_size=partition_size,
                                            opted_out=opted_out_ids(settings, store, consent_as_of))
    if not partitions:
        raise LoopbaanError(ERR_NO_CITIZENS.format(folder=store.folder))
    loaded, fallback = _load_model(kind, alias, settings)
    resources = load_resources(kind, store=store, settings=settings)
    suggester = Suggester(resources=resources, model=loaded.model)
    as_of = date.fromisoformat(store.manifest["config"]["as_of"])
    plan = {
        "kind": kind, "engine": engine,
        "model": {**loaded.info, "fallback": fallback},
        "population": {"folder": str(store.folder.resolve()), "digest": store.digest(), "as_of": as_of.isoformat(),
                       "citizens": sum(len(part.citizen_ids) for part in partitions), "opted_out": opted_out},
        "consent": {"as_of": consent_as_of.isoformat(timespec="microseconds")},
        "options": {"k": k, "top_n": top_n, "partition_size": partition_size, "exact": exact},
        "features": list(resources.featurizer.columns), "model_features": list(loaded.model.feature_names),
        "partitions": [part.plan() for part in partitions],
    }
    out_dir = batch_store.batch_root(settings, out)
    with batch_store.open_batch(out=out_dir, kind=kind, plan=plan, discard_partial=discard_partial) as writer:
        done = writer.finished()
        if writer.resumed:
            echo(f"{kind}: resuming batch {writer.batch_id}: {len(done)} of {len(partitions)} partitions already "
                 "written")
        else:
            batch_store.write_labels(writer.folder, suggester.labels)
        todo = [part for part in partitions if part.index not in done]
        payload = BatchPayload(
            token=writer.batch_id, kind=kind, population=str(store.folder.resolve()), as_of=as_of,
            model=loaded.model, reranker=loaded.reranker,
            space=resources.space, trainings=resources.trainings, max_bridging=resources.gaps.max_bridging, k=k,
            top_n=top_n, exact=exact, directory=str(writer.folder.resolve()),
            header={"batch_id": writer.batch_id, "kind": kind, "model_name": loaded.name,
                    "model_version": loaded.version, "run_id": loaded.run_id})
        bar = tqdm(total=plan["population"]["citizens"], initial=sum(entry["citizens"] for entry in done.values()),
                   desc=f"{kind} batch ({engine})", unit="citizen", unit_scale=True, disable=not progress)
        try:
            if engine == "local":
                entries, compute_s, peaks, n_workers = _run_local(payload, todo, bar)
            else:
                entries, compute_s, peaks, n_workers = _run_dask(payload, todo, bar, client=client)
        finally:
            bar.close()
        info = writer.commit([*done.values(), *entries], keep=keep,
                             completed={"engine": engine, "workers": n_workers})
    return BatchResult(info=info, engine=engine, workers=n_workers, citizens=info.citizens,
                       partitions=len(partitions), resumed_partitions=len(done), opted_out=opted_out,
                       seconds=time.perf_counter() - started, compute_seconds=compute_s,
                       computed_citizens=sum(len(part.citizen_ids) for part in todo),
                       cpu_seconds=sum(entry["cpu_s"] for entry in entries), peak_memory_mb=peaks,
                       fallback=fallback)


def _run_local(payload: BatchPayload, todo: list[Partition], bar) -> tuple[list[dict], float, dict, int]:
    """The partitions one after the other in this process, on one core: BLAS and OpenMP (LightGBM) are held to one
    thread, as on a Dask worker; the work is row by row, and extra threads only contend (several times slower when
    other work shares the machine). More cores: ``--engine dask``."""
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    entries = []
    with threadpool_limits(limits=1):
        for part in todo:
            entries.append(compute_partition(payload, part.index, part.citizen_ids))
            bar.update(len(part.citizen_ids))
    return entries, time.perf_counter() - started, {"local": peak_memory_mb()}, 1


def _run_dask(payload: BatchPayload, todo: list[Partition], bar, *, client) -> tuple[list[dict], float, dict, int]:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    from models.distributed_training import PayloadPlugin

    plugin = PayloadPlugin(name=f"loopbaan-batch-{payload.token}", payload=payload, on_teardown=forget_runner)
    client.register_plugin(plugin, name=plugin.name)
    n_workers = len(client.scheduler_info()["workers"])
    futures = {}
    try:
        started = time.perf_counter()
        for part in todo:
            future = client.submit(_dask_partition, plugin.name, part.index, part.citizen_ids,
                                   key=f"{plugin.name}-{part.index:05d}", pure=False, retries=1)
            futures[future] = part
        entries = []
        for future in as_completed(futures, loop=client.loop):
            part = futures[future]
            try:
                entries.append(future.result())
            except KilledWorker as error:
                raise LoopbaanError(ERR_WORKERS_DIED.format(kind=payload.kind, index=part.index,
                                                            reason=type(error).__name__)) from None
            bar.update(len(part.citizen_ids))
        compute_s = time.perf_counter() - started
        peaks = client.run(peak_memory_mb)
    finally:
        client.cancel(list(futures))
        client.unregister_worker_plugin(plugin.name)
    return entries, compute_s, peaks, n_workers
