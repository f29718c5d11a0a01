"""Benchmark: free-text search latency per query, after loading, for occupations and competencies, before and after.

Two query encoders answer the same queries side by side in one run, on the same indexes:
- ``after``: the search as ``loopbaan occupations search`` loads it: the registered ``loopbaan-encoder`` of
  LOOPBAAN_HOME (the untuned MiniLM when none is registered), queries on the NumPy forward;
- ``before``: the query encoder as it was when the Dutch-search issue was filed: the 6-layer MiniLM (the tuned
  encoder then was a fine-tuned copy of it, so the same size), queries through torch and transformers.
For a fixed set of typed Dutch and English queries, each embedded afresh (the encoder's query memory is emptied):
- ``lexical``: character n-gram matcher only (the same for both);
- ``semantic``: query embedding + cosine against every concept vector;
- ``hybrid``: both, fused (what the CLI does), one query at a time;
- ``hybrid batch``: the same queries in one batch (ms per query).
Median and 95th percentile in ms per query, on one thread as the CLI runs them, and the ratio before / after of the
medians. The CPU may be shared with other work: the 1-minute load average is printed, and latencies grow with it.
Usage: python benchmarks/bench_search.py [--kind occupations competencies] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from features.esco import load_esco
from features.minilm import minilm_folder
from features.search import SearchEncoder, build_searcher, single_threaded
from features.search.encoders import QUERY_MAX_TOKENS
from features.search.fusion import ALPHA
from features.settings import Settings
from models.encoder_registry import search_encoder

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


class TorchForward:
    """The query path the search had before the NumPy forward: the transformer called through torch, mean-pooled."""

    def __init__(self, model) -> None:
        self.model = model

    def forward(self, texts: list[str], *, chunk: int = 128) -> np.ndarray:
        import torch

        bert = self.model[0].auto_model
        order = np.argsort([len(text) for text in texts], kind="stable")
        out = np.empty((len(texts), bert.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), chunk):
                rows = order[start:start + chunk]
                tokens = self.model.tokenizer([texts[row] for row in rows], return_tensors="pt", padding=True,
                                              truncation=True, max_length=QUERY_MAX_TOKENS)
                hidden = bert(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def before_encoder() -> SearchEncoder:
    """The 6-layer MiniLM with the torch query path (a copy of its own, so the search's encoder stays as it is)."""
    encoder = SearchEncoder.from_folder(minilm_folder(), identity="before", description="before", tuned=False)
    encoder._forward = TorchForward(encoder.model)
    return encoder


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
    print(f"after: {resolved.encoder.description}" + (f"\n{resolved.note}" if resolved.note else "")
          + f" (resolved in {time.perf_counter() - started:.1f} s)")
    started = time.perf_counter()
    before = before_encoder()
    print(f"before: all-MiniLM-L6-v2 through torch (loaded in {time.perf_counter() - started:.1f} s)")
    taxonomy = load_esco()
    for kind in args.kind:
        started = time.perf_counter()
        alpha = resolved.alphas.get(kind, ALPHA)
        searchers = {name: build_searcher(kind, taxonomy=taxonomy, encoder=encoder, cache_dir=settings.cache_dir,
                                          alpha=alpha)
                     for name, encoder in (("before", before), ("after", resolved.encoder))}
        loaded = time.perf_counter() - started
        with single_threaded():  # as the CLI runs queries
            figures = {name: _bench(searcher, QUERIES[kind], repeats=args.repeats)
                       for name, searcher in searchers.items()}
        table = searchers["after"].hybrid.table
        print(f"\n{kind}: {table.n_concepts:,} concepts, {len(table.texts):,} labels; both loaded in {loaded:.1f} s; "
              f"{len(QUERIES[kind])} queries x {args.repeats}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")
        print(f"  {'mode':14s} {'before ms':>10s} {'p95':>8s} {'after ms':>10s} {'p95':>8s} {'before/after':>13s}")
        for mode, (median, p95) in figures["after"].items():
            old_median, old_p95 = figures["before"][mode]
            print(f"  {mode:14s} {old_median:>10.2f} {old_p95:>8.2f} {median:>10.2f} {p95:>8.2f} "
                  f"{old_median / median:>12.1f}x")


if __name__ == "__main__":
    main()
