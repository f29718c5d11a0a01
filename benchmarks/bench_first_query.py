"""Benchmark: the first search on a new home, as the service answers it (``serving.search.Search``).

Each scenario runs in a fresh process on an empty home and reports, in seconds: Python imports, the search's
start-up (registry look-up, encoder, both label indexes: ``Search.warm_up``, which the service runs before it takes
requests), the first occupation and the first competency query, and the whole process. Scenarios:
- ``prepared``: the install's prepared cache (``loopbaan taxonomy prepare``, run by ``make install``) is there;
- ``nothing prepared`` (with ``--cold``): an empty prepared cache, as before it existed: the new home embeds every
  label and fits both lexical indexes (minutes on two cores).
The 1-minute load average is printed with each scenario; timings grow with it.
Usage: python benchmarks/bench_first_query.py [--cold] [--repeats 3]
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

CHILD = """
import json, time
started = time.perf_counter()
from features.esco import load_esco
from features.label_languages import LabelLanguages
from features.search import single_threaded
from features.settings import Settings
from serving.search import Search
imported = time.perf_counter()
taxonomy = load_esco()
search = Search(settings=Settings(), taxonomy=taxonomy, languages=LabelLanguages.of(taxonomy))
search.warm_up()
ready = time.perf_counter()
with single_threaded():
    occupation = search.find("occupations", "vrachtwagenchauffeur", language="nl", k=5)
    first_occupation = time.perf_counter()
    competency = search.find("competencies", "heftruck besturen", language="nl", k=5)
    first_competency = time.perf_counter()
print(json.dumps({"imports": imported - started, "start-up": ready - imported,
                  "first occupation query": first_occupation - ready,
                  "first competency query": first_competency - first_occupation,
                  "answers": [occupation[0].label, competency[0].label]}))
"""


def _run(prepared: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="loopbaan-first-query-") as folder:
        env = {**os.environ, "LOOPBAAN_HOME": str(Path(folder) / "home"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
        env.pop("LOOPBAAN_CACHE_HOME", None)
        if prepared is not None:
            env["LOOPBAAN_PREPARED_CACHE"] = str(prepared)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the search process failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["whole process"] = wall
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="Also measure a new home without the prepared cache.")
    parser.add_argument("--repeats", type=int, default=3, help="Fresh processes per scenario (medians are shown).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loopbaan-not-prepared-") as empty:
        scenarios: list[tuple[str, Path | None, int]] = [("prepared", None, args.repeats)]
        if args.cold:
            scenarios.append(("nothing prepared", Path(empty), 1))
        _report(scenarios)


def _report(scenarios: list[tuple[str, Path | None, int]]) -> None:
    for name, prepared, repeats in scenarios:
        runs = [_run(prepared) for _ in range(repeats)]  # the new home's own cache goes with it
        load = os.getloadavg()[0]
        print(f"\n{name}: {repeats} fresh process(es) on a new home; load average {load:.1f} on {os.cpu_count()} "
              f"cores; answers: {' / '.join(runs[0]['answers'])}")
        print(f"  {'step':26s} {'median s':>10s}")
        for step in ("imports", "start-up", "first occupation query", "first competency query", "whole process"):
            print(f"  {step:26s} {statistics.median(run[step] for run in runs):>10.3f}")


if __name__ == "__main__":
    main()
