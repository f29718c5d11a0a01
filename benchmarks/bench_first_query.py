"""Benchmark: the first search on a new home, in fresh processes, with the install's prepared cache.

Scenarios (each in a fresh process on an empty home; medians of ``--repeats`` processes, in seconds):
- ``loopbaan <kind> search``: the CLI command, whole process (what someone who types it waits);
- ``first <kind> query``: through the service's search (``serving.search.Search``) in a process that asks one kind:
  Python imports, the taxonomy, then the first query, which loads that kind's search (registry look-up, encoder,
  label table and indexes). ``first answer`` is everything after the imports: taxonomy, loading and the query;
- ``service: both warmed``: as the service starts: both kinds loaded (``Search.warm_up``, before it takes
  requests), then the first query of each;
- ``service, nothing prepared`` (with ``--cold``): an empty prepared cache, as before it existed: the new home
  embeds every label and fits both lexical indexes (minutes on two cores).
The 1-minute load average is printed; timings grow with it.
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

QUERIES = {"occupations": "vrachtwagenchauffeur", "competencies": "heftruck besturen"}

CHILD = """
import json, sys, time
started = time.perf_counter()
from features.esco import load_esco
from features.label_languages import LabelLanguages
from features.search import single_threaded
from features.settings import Settings
from serving.search import Search
imported = time.perf_counter()
kinds, queries = sys.argv[1].split(","), json.loads(sys.argv[2])
taxonomy = load_esco()
search = Search(settings=Settings(), taxonomy=taxonomy, languages=LabelLanguages.of(taxonomy))
loaded = time.perf_counter()
figures = {"imports": imported - started, "taxonomy": loaded - imported}
if len(kinds) > 1:
    search.warm_up()  # as the service does before it takes requests
figures["start-up"] = time.perf_counter() - loaded
answers = []
with single_threaded():
    for kind in kinds:
        asked = time.perf_counter()
        answers.append(search.find(kind, queries[kind], language="nl", k=5)[0].label)
        figures[f"first {kind} query"] = time.perf_counter() - asked
figures["first answer"] = time.perf_counter() - imported
print(json.dumps({**figures, "answers": answers}))
"""


def _run(command: list[str], prepared: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="loopbaan-first-query-") as folder:
        env = {**os.environ, "LOOPBAAN_HOME": str(Path(folder) / "home"), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
        env.pop("LOOPBAAN_CACHE_HOME", None)
        if prepared is not None:
            env["LOOPBAAN_PREPARED_CACHE"] = str(prepared)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the search process failed:\n{done.stderr[-3000:]}")
    last = done.stdout.strip().splitlines()[-1]
    figures = json.loads(last) if last.startswith("{") else {"answers": [last.strip()]}
    figures["whole process"] = wall
    return figures


def _child(*kinds: str) -> list[str]:
    return [sys.executable, "-c", CHILD, ",".join(kinds), json.dumps(QUERIES)]


def _cli(kind: str) -> list[str]:
    return [str(Path(sys.executable).with_name("loopbaan")), kind, "search", QUERIES[kind], "--top", "1", "--quiet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="Also measure a new home without the prepared cache.")
    parser.add_argument("--repeats", type=int, default=3, help="Fresh processes per scenario (medians are shown).")
    args = parser.parse_args()
    scenarios = [(f"loopbaan {kind} search", _cli(kind), None, args.repeats) for kind in QUERIES]
    scenarios += [(f"first {kind} query", _child(kind), None, args.repeats) for kind in QUERIES]
    scenarios.append(("service: both warmed", _child(*QUERIES), None, args.repeats))
    with tempfile.TemporaryDirectory(prefix="loopbaan-not-prepared-") as empty:
        if args.cold:
            scenarios.append(("service, nothing prepared", _child(*QUERIES), Path(empty), 1))
        _report(scenarios)


STEPS = ("imports", "taxonomy", "start-up", "first occupations query", "first competencies query", "first answer",
         "whole process")


def _report(scenarios: list[tuple[str, list[str], Path | None, int]]) -> None:
    rows = []
    for name, command, prepared, repeats in scenarios:
        runs = [_run(command, prepared) for _ in range(repeats)]  # the new home's own cache goes with it
        rows.append((name, repeats, runs))
    print(f"fresh processes on a new home; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          "medians in seconds ('-': not part of the scenario)")
    print(f"  {'scenario':28s} {'n':>2s} " + " ".join(f"{step.replace('first ', '').replace(' query', ''):>12s}"
                                                    for step in STEPS))
    for name, repeats, runs in rows:
        cells = [f"{statistics.median(run[step] for run in runs):12.3f}" if step in runs[0] else f"{'-':>12s}"
                 for step in STEPS]
        print(f"  {name:28s} {repeats:>2d} " + " ".join(cells) + f"   ({' / '.join(runs[0]['answers'])})")


if __name__ == "__main__":
    main()
