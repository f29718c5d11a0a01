"""Benchmark: free-text search latency per query, after loading, for occupations and competencies.

Loads the search as ``loopbaan occupations search`` does (the registered ``loopbaan-encoder`` of LOOPBAAN_HOME, or
the untuned MiniLM when none is registered; indexes from the disk cache) and reports the load time, then for a
fixed set of typed Dutch and English queries, each embedded afresh (the encoder's query memory is emptied first):
- ``lexical``: character n-gram matcher only;
- ``semantic``: query embedding + cosine against every concept vector;
- ``hybrid``: both, fused (what the CLI does), one query at a time;
- ``hybrid batch``: the same queries in one batch (ms per query).
Median and 95th percentile in ms per query, on one thread as the CLI runs them. The CPU may be shared with other
work: the 1-minute load average is printed with the figures, and latencies grow with it.
Usage: python benchmarks/bench_search.py [--kind occupations competencies] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from features.esco import load_esco
from features.search import build_searcher, single_threaded
from features.search.fusion import ALPHA
from features.settings import Settings
from models.encoder_training import search_encoder

QUERIES = {
    "occupations": [
        "lasser", "lasster", "poetsvrouw", "poetsman", "chauffeur C/CE", "vrachtwagenchauffeur", "boekhouder",
        "kapster", "verpleegkundige", "verpleegster spoed", "heftruckchauffeur", "magazijnier", "kassierster",
        "schoonmaakster", "elektricien", "loodgieter", "kok", "keukenhulp", "leerkracht lager onderwijs",
        "software ontwikkelaar", "bouwvakker", "metselaar", "buschauffeur", "thuisverpleegkundige",
        "welder", "cleaner", "truck driver", "accountant", "nurse", "hairdresser", "forklift driver",
        "warehouse worker", "software developer", "teacher", "bricklayer", "cook", "cashier", "plumber",
        "zorgkundige", "onthaalmedewerker",
    ],
    "competencies": [
        "heftruck besturen", "lassen", "Java", "programmeren in Python", "klantvriendelijk", "Engels spreken",
        "boekhouding bijhouden", "koken", "schoonmaken", "patiënten verzorgen", "rijbewijs C", "Excel",
        "teamwork", "leiding geven", "projectbeheer", "veiligheidsvoorschriften", "voedselveiligheid",
        "drive a forklift", "welding", "customer service", "cooking", "cleaning", "nursing care", "SQL",
        "project management", "first aid", "food safety", "stock control", "sales", "teaching",
    ],
}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    values = np.array(samples) * 1000
    return float(np.median(values)), float(np.percentile(values, 95))


def _bench(searcher, queries: list[str], *, repeats: int) -> dict[str, tuple[float, float]]:
    encoder = searcher.hybrid.semantic.encoder if searcher.hybrid.semantic is not None else None
    figures = {}
    for mode in ("lexical", "semantic", "hybrid"):
        if mode != "lexical" and encoder is None:
            continue
        searcher.search_batch(queries[:2], k=5, mode=mode)  # warm-up
        samples = []
        for _ in range(repeats):
            for query in queries:
                if encoder is not None:
                    encoder._memory.clear()  # every query is embedded afresh
                started = time.perf_counter()
                searcher.search_batch([query], k=5, mode=mode)
                samples.append(time.perf_counter() - started)
        figures[mode] = _percentiles(samples)
    if encoder is not None:
        samples = []
        for _ in range(repeats):
            encoder._memory.clear()
            started = time.perf_counter()
            searcher.search_batch(queries, k=5, mode="hybrid")
            samples.append((time.perf_counter() - started) / len(queries))
        figures["hybrid batch"] = (statistics.median(samples) * 1000, max(samples) * 1000)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", nargs="+", default=["occupations", "competencies"], choices=list(QUERIES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    started = time.perf_counter()
    resolved = search_encoder(settings=settings)
    print(f"encoder: {resolved.encoder.description}" + (f"\n{resolved.note}" if resolved.note else "")
          + f" (resolved in {time.perf_counter() - started:.1f} s)")
    taxonomy = load_esco()
    for kind in args.kind:
        started = time.perf_counter()
        searcher = build_searcher(kind, taxonomy=taxonomy, encoder=resolved.encoder, cache_dir=settings.cache_dir,
                              alpha=resolved.alphas.get(kind, ALPHA))
        loaded = time.perf_counter() - started
        with single_threaded():  # as the CLI runs queries
            figures = _bench(searcher, QUERIES[kind], repeats=args.repeats)
        load = os.getloadavg()[0]
        print(f"\n{kind}: {searcher.hybrid.table.n_concepts:,} concepts, {len(searcher.hybrid.table.texts):,} labels; "
              f"loaded in {loaded:.1f} s; {len(QUERIES[kind])} queries x {args.repeats}; load average {load:.1f} "
              f"on {os.cpu_count()} cores")
        print(f"  {'mode':14s} {'median ms':>10s} {'p95 ms':>10s}")
        for mode, (median, p95) in figures.items():
            print(f"  {mode:14s} {median:>10.2f} {p95:>10.2f}")


if __name__ == "__main__":
    main()
