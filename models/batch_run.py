"""A nightly batch run: the plan, the partitions on this process or on a Dask cluster, the commit (see
:mod:`models.batch`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from features.consent import opted_out_ids
from features.errors import LoopbaanError
from features.population.store import PopulationStore
from features.register import NIGHTLY_BATCH, processing
from features.settings import Settings
from features.vocabulary import ERR_UNKNOWN_KIND, KINDS
from models import batch_layout, batch_read, batch_write, tracking
from models.batch_partition import (
    BatchPayload,
    check_population,
    compute_partition,
    dask_partition,
    forget_runner,
    peak_memory_mb,
)
from models.compute_engine import LOCAL, check_engine, engine_client
from models.resources import load_resources
from models.retrieval import DEFAULT_CANDIDATES
from models.suggest import Suggester

DEFAULT_PARTITION_SIZE = 5_000
DEFAULT_WORKERS = 2
MAX_K = 50

ERR_K = "k must be between 1 and {most}, not {k}"
ERR_PARTITION_SIZE = "the partition size must be at least 1 citizen, not {size}"
ERR_NO_CITIZENS = "the population in {folder} has no citizen to compute suggestions for (all opted out, or empty)"
ERR_NO_CHAMPION = ("no champion for {kind}: promote a version through the fairness gate, pass --alias challenger, "
                   "or set LOOPBAAN_ALLOW_CHALLENGER=true to use the challenger meanwhile")
ERR_WITHDRAWN = ("{kind} was withdrawn by the fairness gate on {at}: {reason} Nothing is computed for it until a "
                 "version is promoted through the gate")
ERR_WORKERS_DIED = ("Dask workers kept dying while computing {kind} partition {index} ({reason}); the partitions "
                    "written so far are kept: give the workers more memory or a smaller --partition-size, and rerun "
                    "to resume")


@dataclass(frozen=True)
class Partition:
    index: int
    citizen_ids: np.ndarray

    def plan(self) -> dict:
        return {"index": self.index, "first": int(self.citizen_ids[0]), "last": int(self.citizen_ids[-1]),
                "citizens": len(self.citizen_ids)}


@dataclass(frozen=True)
class BatchResult:
    info: batch_read.BatchInfo
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
    ids = store.table("citizens", columns=["citizen_id"])["citizen_id"].to_numpy()
    left_out = np.isin(ids, opted_out)
    chosen = np.sort(ids[~left_out]).astype(np.int64)
    parts = [Partition(index=index, citizen_ids=chosen[start:start + partition_size])
             for index, start in enumerate(range(0, len(chosen), partition_size))]
    return parts, int(left_out.sum())


def consent_moment(settings: Settings, kind: str, out: Path | None, *, discard_partial: bool) -> datetime:
    """When this run reads the consent store as of: now, or the start of the interrupted run it resumes."""
    for plan in [] if discard_partial else batch_read.partial_batches(settings, kind, out=out):
        moment = (plan.get("consent") or {}).get("as_of")
        if moment:
            return datetime.fromisoformat(moment)
    return datetime.now(UTC)


def _load_model(kind: str, alias: str | None, settings: Settings) -> tuple[tracking.LoadedModel, bool]:
    if alias is not None:
        return tracking.load_model(kind, alias=alias, settings=settings), False
    state = tracking.kind_state(tracking.configure(settings), kind)
    served = tracking.served_version(state, allow_challenger=settings.allow_challenger)
    if served is None:
        if state.withdrawal is not None:
            raise LoopbaanError(ERR_WITHDRAWN.format(kind=kind, at=state.withdrawal.at or "an unrecorded date",
                                                     reason=state.withdrawal.reason))
        if not settings.allow_challenger:
            raise LoopbaanError(ERR_NO_CHAMPION.format(kind=kind))
        raise LoopbaanError(tracking.ERR_NO_MODEL.format(name=tracking.registered_name(kind),
                                                         alias=tracking.CHALLENGER, kind=kind))
    return tracking.load_version(kind, version=served.version, alias=served.alias, settings=settings), served.fallback


def run_batch(kind: str, *, store: PopulationStore, settings: Settings, out: Path | None = None,
              engine: str = LOCAL, scheduler: str | None = None, workers: int = DEFAULT_WORKERS, k: int = 10,
              top_n: int = DEFAULT_CANDIDATES, partition_size: int = DEFAULT_PARTITION_SIZE,
              alias: str | None = None, exact: bool = True, discard_partial: bool = False,
              keep: int = batch_write.KEEP_BATCHES, progress: bool = True, connect_timeout_s: float = 10.0,
              echo: Callable[[str], None] = lambda line: None) -> BatchResult:
    """Compute and commit one kind's batch (resuming a crashed run of the same plan); see the module docstring.

    ``alias`` None takes the champion (the challenger when ``settings.allow_challenger`` and no champion exists).
    ``workers`` sizes the LocalCluster started when ``engine="dask"`` and no ``scheduler`` is given.
    """
    if kind not in KINDS:
        raise LoopbaanError(ERR_UNKNOWN_KIND.format(kind=kind))
    check_engine(engine, scheduler=scheduler)
    if not 1 <= k <= MAX_K:
        raise LoopbaanError(ERR_K.format(most=MAX_K, k=k))
    if partition_size < 1:
        raise LoopbaanError(ERR_PARTITION_SIZE.format(size=partition_size))
    started = time.perf_counter()
    cluster = engine_client(engine, scheduler=scheduler, workers=workers, timeout_s=connect_timeout_s)
    with processing(NIGHTLY_BATCH), cluster as client:
        return _run(kind, store=store, settings=settings, out=out, engine=engine, client=client, k=k, top_n=top_n,
                    partition_size=partition_size, alias=alias, exact=exact, discard_partial=discard_partial,
                    keep=keep, progress=progress, echo=echo, started=started)


def _run(kind: str, *, store: PopulationStore, settings: Settings, out: Path | None, engine: str, client, k: int,
         top_n: int, partition_size: int, alias: str | None, exact: bool, discard_partial: bool, keep: int,
         progress: bool, echo: Callable[[str], None], started: float) -> BatchResult:
    check_population(store)
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
    out_dir = batch_layout.batch_root(settings, out)
    with batch_write.open_batch(out=out_dir, kind=kind, plan=plan, discard_partial=discard_partial) as writer:
        done = writer.finished()
        if writer.resumed:
            echo(f"{kind}: resuming batch {writer.batch_id}: {len(done)} of {len(partitions)} partitions already "
                 "written")
        else:
            batch_write.write_labels(writer.folder, suggester.labels)
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
            if engine == LOCAL:
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
            future = client.submit(dask_partition, plugin.name, part.index, part.citizen_ids,
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
