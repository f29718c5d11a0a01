"""Benchmark: one fairness assessment (judging citizens, every metric per group and intersection for the model and
the reference ranking with BCa bootstrap CIs, the gate, the labour-market finding, the HTML report, MLflow logging)
at 50k citizens with 200 bootstrap samples; target ≤ 2 minutes.

The population is generated (or reused with --population) and a ranker is trained first; neither is timed.
Each assessment then runs ``--repeats`` times and the median of every stage is printed.
Usage: python benchmarks/bench_assessment.py [--citizens 50000] [--population DIR] [--kinds jobs trainings careers]
       [--bootstrap 200] [--repeats 1] [--sample N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from assessments.policy import load_policy
from assessments.run import run_assessment
from features.population import PopulationConfig, PopulationStore, generate_to
from features.settings import Settings
from models.training import train_kind

STAGES = ("data_s", "rank_s", "metrics_s", "market_s", "explain_s", "record_s")
TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=50_000)
    parser.add_argument("--population", type=Path, default=None, help="reuse this population (e.g. from "
                        "`loopbaan data generate --citizens 50000 --out DIR`)")
    parser.add_argument("--kinds", nargs="+", default=["jobs"], choices=["jobs", "trainings", "careers"])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sample", type=int, default=None, help="held-out citizens whose suggestions are assessed "
                        "(default: the policy's sample_citizens; a number above the population assesses them all)")
    args = parser.parse_args()
    update = {"bootstrap_samples": args.bootstrap}
    if args.sample is not None:
        update["sample_citizens"] = args.sample
    policy = load_policy().model_copy(update=update)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.population
        if folder is None:
            folder = Path(scratch) / "population"
            generate_to(PopulationConfig(citizens=args.citizens, seed=1), out=folder, progress=False)
        store = PopulationStore(folder)
        citizens = store.manifest["config"]["citizens"]
        settings = Settings(home=Path(scratch) / "home")
        print(f"{'citizens':>9} {'kind':>10} " + " ".join(f"{stage[:-2]:>8}" for stage in STAGES)
              + f" {'total s':>8}  {'sampled':>8} {'test':>6}  result (bootstrap {args.bootstrap}, "
                f"medians of {args.repeats})", flush=True)
        for kind in args.kinds:
            train_kind(kind, store=store, settings=settings, progress=False)
            runs = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                outcome = run_assessment(kind=kind, settings=settings, policy=policy, data=folder)
                runs.append((time.perf_counter() - started, outcome))
            total = statistics.median(seconds for seconds, _ in runs)
            stages = {stage: statistics.median(outcome.document.timings_s.get(stage, 0.0) for _, outcome in runs)
                      for stage in STAGES[:-1]}
            stages["record_s"] = total - sum(stages.values())
            outcome = runs[-1][1]
            data = outcome.document.data
            verdict = "passed" if outcome.passed else "failed " + ",".join(outcome.failed_checks)
            print(f"{citizens:>9,} {kind:>10} " + " ".join(f"{stages[stage]:>8.1f}" for stage in STAGES)
                  + f" {total:>8.1f}  {data['sampled_citizens']['judging']:>8,} {data['test_citizens']['judging']:>6,}"
                    f"  {verdict}; "
                    f"{'within' if total <= TARGET_S else 'OVER'} the {TARGET_S:.0f} s target", flush=True)


if __name__ == "__main__":
    main()
