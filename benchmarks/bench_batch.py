"""Benchmark: nightly batch suggestions for one kind, local engine vs a Dask LocalCluster, by population size.

For each ``--citizens`` size a population is generated with the real vacancy ratio (reused from ``--keep DIR``
when there); one model of the kind is trained on the smallest population and registered in a scratch home. Then
every run happens in a fresh process (so its peak memory is its own): ``run_batch`` on the local engine (this
process) and on a LocalCluster of ``--workers`` worker processes. Printed per run:

- citizens/s: wall clock while computing partitions (start-up — model, catalogue, cluster — reported apart);
- CPU ms/citizen: CPU time of the partition work summed over processes; it grows far less than wall clock when
  other work shares the machine, so it is what docs/scaling.md sizes from;
- peak MiB per worker: the largest resident memory of any worker process (of this process for local);
- read ms: median time of ``precomputed_suggestions`` for one citizen (200 random citizens, labels cached).

``--catalogue N [N ...]`` adds runs on a population of ``--catalogue-citizens`` citizens with N vacancies, exact and
``--approximate``: the per-citizen cost with the catalogue of a larger population (the real ratio gives 28,800
vacancies for 1M citizens and 115,000 for 4M). A partition's cost depends on its citizens and the catalogue, not
on how many other citizens there are, so this measures the 1M and 4M per-citizen cost without generating them.

Usage: python benchmarks/bench_batch.py [--citizens 10000 100000] [--kind jobs] [--workers 2]
       [--partition-size 5000] [--keep DIR] [--catalogue 28800 115000] [--catalogue-citizens 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _loopbaan(*args: str, home: Path) -> None:
    """A `loopbaan` command in its own process (this one stays small while the runs measure memory)."""
    env = {**os.environ, "LOOPBAAN_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-m", "loopbaan_cli", *args], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"loopbaan {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _population(folder: Path, citizens: int, *, home: Path, vacancies: int | None = None) -> Path:
    if not (folder / "manifest.json").is_file():
        started = time.perf_counter()
        _loopbaan("data", "generate", "--citizens", str(citizens), "--seed", "11", "--out", str(folder), "-q",
                  *(["--vacancies", str(vacancies)] if vacancies else []), home=home)
        print(f"# generated {citizens:,} citizens ({vacancies or 'default'} vacancies) in "
              f"{time.perf_counter() - started:.0f} s: {folder}", flush=True)
    return folder


def _one(args: argparse.Namespace) -> None:
    """One run in this (fresh) process; prints one JSON line."""
    import numpy as np

    from features.population import PopulationStore
    from features.settings import Settings
    from models.batch_run import run_batch
    from models.batch_read import precomputed_suggestions

    settings = Settings(home=Path(args.home), allow_challenger=True)
    store = PopulationStore(Path(args.population))
    out = Path(args.out)
    result = run_batch(args.kind, store=store, settings=settings, out=out, engine=args.engine,
                       workers=args.workers, partition_size=args.partition_size, exact=not args.approximate,
                       discard_partial=True, progress=False)
    citizens = store.table("citizens")
    chosen = np.random.default_rng(0).choice(citizens.loc[~citizens["ai_opt_out"], "citizen_id"].to_numpy(), 200)
    precomputed_suggestions(settings, args.kind, int(chosen[0]), out=out)  # labels loaded once, then cached
    reads = []
    for citizen in chosen:
        started = time.perf_counter()
        precomputed_suggestions(settings, args.kind, int(citizen), language="nl", out=out)
        reads.append(time.perf_counter() - started)
    print(json.dumps({
        "citizens": result.citizens, "engine": result.engine, "workers": result.workers,
        "seconds": result.seconds, "compute_s": result.compute_seconds, "rate": result.citizens_per_s,
        "cpu_ms": 1000 * result.cpu_seconds / max(result.computed_citizens, 1),
        "peak_mb": max(result.peak_memory_mb.values()), "read_ms": 1000 * statistics.median(reads),
        "read_p95_ms": 1000 * float(np.quantile(reads, 0.95)), "batch_bytes": sum(
            path.stat().st_size for path in result.info.path.iterdir()),
    }), flush=True)


def _run(args: argparse.Namespace, *, population: Path, engine: str, approximate: bool = False) -> dict:
    command = [sys.executable, __file__, "--one", "--kind", args.kind, "--home", str(args.home),
               "--population", str(population), "--out", str(args.scratch / "out"), "--engine", engine,
               "--workers", str(args.workers), "--partition-size", str(args.partition_size)]
    if approximate:
        command.append("--approximate")
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({engine}, {population}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(label: str, engine: str, figures: dict) -> str:
    where = "local (1 process)" if engine == "local" else f"dask ({figures['workers']} workers)"
    return (f"{label:>22} {where:>18} {figures['citizens']:>10,} {figures['rate']:>12,.0f} {figures['cpu_ms']:>10.2f} "
            f"{figures['seconds'] - figures['compute_s']:>10.1f} {figures['peak_mb']:>12,.0f} {figures['read_ms']:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kind", default="jobs", choices=("jobs", "trainings", "careers"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-size", type=int, default=5_000)
    parser.add_argument("--keep", type=Path, help="Folder to keep and reuse generated populations and the model.")
    parser.add_argument("--catalogue", type=int, nargs="*", default=[],
                        help="Also run on a population with this many vacancies (several sizes allowed).")
    parser.add_argument("--catalogue-citizens", type=int, default=3_000)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--population", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--approximate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args)
        return
    with tempfile.TemporaryDirectory() as temporary:
        args.scratch = Path(temporary)
        keep = args.keep or args.scratch
        keep.mkdir(parents=True, exist_ok=True)
        args.home = keep / "home"
        sizes = sorted(args.citizens)
        populations = {size: _population(keep / f"population-{size}", size, home=args.home) for size in sizes}
        _train_once(args, populations[sizes[0]])
        print(f"{'population':>22} {'engine':>18} {'citizens':>10} {'citizens/s':>12} {'CPU ms/cit':>10} "
              f"{'start-up s':>10} {'peak MiB/wkr':>12} {'read ms':>8}", flush=True)
        for size in sizes:
            for engine in ("local", "dask"):
                print(_row(f"{size:,} citizens", engine, _run(args, population=populations[size], engine=engine)),
                      flush=True)
        for vacancies in args.catalogue:
            population = _population(keep / f"population-{args.catalogue_citizens}-{vacancies}",
                                     args.catalogue_citizens, home=args.home, vacancies=vacancies)
            for approximate in (False, True):
                label = f"{vacancies:,} vacancies{' ~' if approximate else ''}"
                for engine in ("local", "dask"):
                    print(_row(label, engine, _run(args, population=population, engine=engine,
                                                   approximate=approximate)), flush=True)
        print("# citizens/s is wall clock and shrinks when other work shares the CPUs; CPU ms/citizen does not. "
              "'~' = --approximate (one float32 product for many citizens).")


def _train_once(args: argparse.Namespace, population: Path) -> None:
    marker = args.home / f".trained-{args.kind}"
    if marker.is_file():
        return
    started = time.perf_counter()
    _loopbaan("train", "--kind", args.kind, "--data", str(population), "-q", home=args.home)
    marker.write_text(population.name, encoding="utf-8")
    print(f"# trained {args.kind} on {population.name} in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
