"""Benchmark: population generation speed (citizens/s) and peak memory at 10k and 100k citizens.

Each size runs in its own process so that peak memory (max RSS) belongs to that size alone.
Usage: python benchmarks/bench_generate.py [--sizes 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

_CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from features.esco import load_esco
from features.population import PopulationConfig, generate_to
load_esco()
size = int(sys.argv[1])
with tempfile.TemporaryDirectory() as folder:
    started = time.perf_counter()
    generate_to(PopulationConfig(citizens=size, seed=1), out=Path(folder) / "population", progress=False)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'citizens':>10} {'median s':>9} {'citizens/s':>11} {'peak MiB':>9} {'MiB/1k citizens':>16}")
    for size in args.sizes:
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory():
                out = subprocess.run([sys.executable, "-c", _CHILD, str(size)], capture_output=True, text=True,
                                     check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        seconds = statistics.median(run["seconds"] for run in runs)
        peak = statistics.median(run["peak_mib"] for run in runs)
        print(f"{size:>10,} {seconds:>9.1f} {size / seconds:>11,.0f} {peak:>9,.0f} {peak / size * 1000:>16.1f}")


if __name__ == "__main__":
    main()
