"""Benchmark: loading the ESCO taxonomy the project carries (``features/taxonomy_data``), as ``load_esco`` does.

- ``uncached``: a fresh copy of the bundle (copied before the clock starts, so the process has not loaded it yet):
  every table read, its checksum checked and turned into pandas;
- ``cached``: ``load_esco()`` again in a process that already loaded it (the answer of its cache);
- ``import``: ``loopbaan taxonomy import-labels --lang nl`` of a Dutch ESCO CSV package (written from the bundle's
  own Dutch labels before the clock starts) into a new home: reading and checking the package, writing the labels;
- ``labelled``: ``home_taxonomy()`` of that home in a process that has the bundle loaded (reading the imported
  labels and merging them in; the service and the search pay it once per process).

Median and slowest of ``--repeats`` loads, in ms. The CPU may be shared with other work: the 1-minute load average
is printed with the figures, and the times grow with it.
Usage: python benchmarks/bench_taxonomy.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from features.esco import BUNDLE_DIR, load_esco  # noqa: E402
from features.imported_labels import home_taxonomy, import_labels  # noqa: E402
from features.settings import Settings  # noqa: E402
from tests.label_fixtures import write_dutch_package  # noqa: E402


def _uncached(*, repeats: int) -> list[float]:
    samples = []
    with tempfile.TemporaryDirectory(prefix="bench-taxonomy-") as folder:
        for repeat in range(repeats):
            copy = Path(folder) / f"bundle-{repeat}"
            shutil.copytree(BUNDLE_DIR, copy)
            started = time.perf_counter()
            load_esco(copy)
            samples.append(time.perf_counter() - started)
    return samples


def _cached(*, repeats: int) -> list[float]:
    load_esco()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        load_esco()
        samples.append(time.perf_counter() - started)
    return samples


def _imported(*, repeats: int) -> tuple[list[float], list[float]]:
    load_esco()
    imports, loads = [], []
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as folder:
        package = write_dutch_package(Path(folder) / "package")
        for repeat in range(repeats):
            settings = Settings(home=Path(folder) / f"home-{repeat}")
            started = time.perf_counter()
            import_labels(package, lang="nl", settings=settings)
            imports.append(time.perf_counter() - started)
            # a new home's labels are not in the process's cache yet
            started = time.perf_counter()
            home_taxonomy(settings)
            loads.append(time.perf_counter() - started)
    return imports, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    figures = {"uncached": _uncached(repeats=args.repeats), "cached": _cached(repeats=args.repeats)}
    figures["import"], figures["labelled"] = _imported(repeats=args.repeats)
    summary = load_esco().summary()
    print(f"ESCO bundle {BUNDLE_DIR}: {summary['occupations']:,} occupations, {summary['competencies']:,} "
          f"competencies, {summary['relations']:,} relations; {args.repeats} loads each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  {'load':10s} {'median ms':>10s} {'slowest ms':>11s}")
    for name, samples in figures.items():
        print(f"  {name:10s} {statistics.median(samples) * 1000:>10.3f} {max(samples) * 1000:>11.3f}")


if __name__ == "__main__":
    main()
