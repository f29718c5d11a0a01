"""Benchmark: training time per kind (data, fit, evaluation, MLflow logging) at 10k and 50k citizens.

One population per size is generated first (not timed); each kind is then trained ``--repeats`` times
into a fresh MLflow store, and the median of each stage is printed.
Usage: python benchmarks/bench_training.py [--sizes 10000 50000] [--repeats 3] [--kinds jobs trainings careers]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from features.population import PopulationConfig, PopulationStore, generate_to
from features.settings import Settings
from models.training import train_kind

STAGES = ("data_s", "fit_s", "evaluate_s", "log_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=["jobs", "trainings", "careers"])
    args = parser.parse_args()
    print(f"{'citizens':>9} {'kind':>10} " + " ".join(f"{stage[:-2]:>9}" for stage in STAGES)
          + f" {'total s':>8} {'NDCG@10':>8}  (medians of {args.repeats})")
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"
        for size in args.sizes:
            folder = Path(scratch) / f"population-{size}"
            generate_to(PopulationConfig(citizens=size, seed=1), out=folder, progress=False)
            store = PopulationStore(folder)
            grand_total = 0.0
            for kind in args.kinds:
                runs = []
                for repeat in range(args.repeats):
                    settings = Settings(home=Path(scratch) / f"home-{size}-{kind}-{repeat}", cache_home=cache)
                    runs.append(train_kind(kind, store=store, settings=settings, progress=False))
                stages = {stage: statistics.median(run.timings_s[stage] for run in runs) for stage in STAGES}
                total = statistics.median(sum(run.timings_s.values()) for run in runs)
                grand_total += total
                ndcg = statistics.median(run.metrics["ndcg_at_10"] for run in runs)
                print(f"{size:>9,} {kind:>10} " + " ".join(f"{stages[stage]:>9.1f}" for stage in STAGES)
                      + f" {total:>8.1f} {ndcg:>8.3f}", flush=True)
            print(f"{size:>9,} {'all':>10} {'':>39} {grand_total:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
