"""Benchmark: candidate retrieval per citizen against vacancy catalogues of 10k and 100k vacancies.

For each catalogue size a population with that many vacancies is generated (not timed). Then, for the
same held-out citizens:
- ``retrieve``: the top-200 candidates by IDF-weighted overlap + semantic similarity (+ commute damping);
- ``rank+explain``: retrieval, pair features, LightGBM scores and exact contributions of the top 10;
each in one batch of ``--citizens`` citizens (ms per citizen) and one citizen at a time (median latency).
Usage: python benchmarks/bench_retrieval.py [--vacancies 10000 100000] [--citizens 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from features.citizens import contexts_from_store
from features.population import PopulationConfig, PopulationStore, generate_to
from features.settings import Settings
from models.datasets import build_ranking_data
from models.ranker import ScoringModel, SuggestionRanker
from models.resources import load_resources
from models.retrieval import retrieve
from models.suggest import Suggester

AS_OF = date(2026, 6, 30)
SINGLE_QUERIES = 30


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vacancies", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--citizens", type=int, default=500, help="Citizens per batch.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'vacancies':>10} {'retrieve ms/citizen':>20} {'rank+explain ms/citizen':>24} "
          f"{'retrieve 1 citizen ms':>22} {'rank+explain 1 citizen ms':>26}  (medians)")
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(home=Path(scratch) / "home", cache_home=Path(scratch) / "cache")
        for size in args.vacancies:
            folder = Path(scratch) / f"population-{size}"
            generate_to(PopulationConfig(citizens=5_000, seed=1, vacancies=size), out=folder, progress=False)
            figures = _bench_catalogue(PopulationStore(folder), settings=settings, citizens=args.citizens,
                                       repeats=args.repeats)
            print(f"{size:>10,} " + " ".join(f"{value:>{width}.2f}" for value, width in zip(figures, (20, 24, 22, 26),
                                                                                         strict=True)), flush=True)


def _bench_catalogue(store: PopulationStore, *, settings: Settings, citizens: int, repeats: int) -> list[float]:
    resources = load_resources("jobs", store=store, settings=settings)
    data = build_ranking_data(resources, seed=1)
    train, valid = data.sets["train"], data.sets["valid"]
    ranker = SuggestionRanker(kind="jobs").fit(train.features, train.labels, group=train.group_sizes(),
                                               eval_X=valid.features, eval_y=valid.labels, eval_group=valid.group_sizes())
    suggester = Suggester(resources=resources, model=ScoringModel(kind="jobs", booster=ranker.booster_))
    chosen = np.sort(np.random.default_rng(1).choice(data.split["test"], citizens, replace=False))
    context = contexts_from_store(store=store, taxonomy=resources.taxonomy, citizen_ids=chosen, as_of=AS_OF)
    batch_retrieve = _median_seconds(lambda: retrieve(resources.space, context), repeats)
    batch_rank = _median_seconds(lambda: suggester.rank(context, k=10), repeats)
    singles = [context.take(np.array([row])) for row in range(min(SINGLE_QUERIES, len(context)))]
    one_retrieve = statistics.median(_median_seconds(lambda c=c: retrieve(resources.space, c), 1) for c in singles)
    one_rank = statistics.median(_median_seconds(lambda c=c: suggester.rank(c, k=10), 1) for c in singles)
    return [batch_retrieve / len(chosen) * 1e3, batch_rank / len(chosen) * 1e3, one_retrieve * 1e3, one_rank * 1e3]


if __name__ == "__main__":
    main()
