"""Benchmark: latency of POST /suggestions (k=10, explanations on), of adding a competency and getting the new
list (POST /me/competencies) and of the search endpoints (GET /search/competencies and /search/occupations, the
typed queries of ``bench_search.py``, each embedded afresh) over HTTP against the in-process floor, and optionally
against another checkout of the code, side by side in one run.

A population with ``--vacancies`` vacancies is generated, a jobs ranker trained and the population imported into the
home's vault (`loopbaan vault upgrade` and `vault import`; SQLite, or ``LOOPBAAN_DATABASE_URL``) (not timed); then
- in-process: ``ServiceCore.suggestions`` + JSON encoding, ``--requests`` sequential calls (the floor), and
  ``MyCareer.add_competency`` (write, readiness before and after over the catalogue, the new list) likewise;
- HTTP sequential: the same requests to the real BentoML service on a loopback port, one client;
- HTTP concurrent: ``--clients`` clients in parallel, ``--requests`` requests each (``/suggestions`` only);
with p50 / p99 latency and requests/s. Each request is a different citizen, with that citizen's token; each addition
a competency that citizen does not hold (its revision read before, untimed).

``--baseline DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/main main``) starts that code's service
on the same data, alternating with this checkout's for ``--rounds`` rounds, and prints the medians over rounds and
the ratios this/baseline: a ratio above 1 is slower.

``--home DIR`` keeps the generated home (population and ranker) in DIR and reuses it when a run with the same sizes
built it, so that a second run (say with ``LOOPBAAN_DATABASE_URL`` set, on PostgreSQL) skips the generation; the vault
import is idempotent and runs every time.
Usage: python benchmarks/bench_service.py [--vacancies 50000] [--citizens 10000] [--requests 200] [--clients 4]
                                          [--baseline DIR] [--rounds 2] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from features.keys import signing_key
from features.population import PopulationConfig, PopulationStore, generate_to
from features.settings import Settings
from models.training import train_kind
from serving import schemas
from serving.auth import mint_token
from serving.core import ServiceCore
from serving.errors import RequestError
from serving.launch import ServiceStartError, start_service

from bench_search import QUERIES  # this folder is on the path when the script runs

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_service(home: Path, port: int, code: Path, log: Path) -> subprocess.Popen:
    """The service of ``code``, once every worker process has started (the figures are of a service at rest)."""
    try:
        return start_service(home=home, host="127.0.0.1", port=port, log=log, cwd=code, timeout_s=300,
                             env={"LOOPBAAN_ALLOW_CHALLENGER": "true", "PYTHONPATH": str(code)},
                             workers=Settings().service_workers)
    except ServiceStartError as error:
        raise SystemExit(f"the service of {code}: {error}") from None


def _import_vault(settings: Settings) -> None:
    from features.vault.database import upgrade
    from features.vault.importer import import_population_into

    upgrade(settings.vault_url)
    import_population_into(settings.vault_url, PopulationStore(settings.population_dir), progress=False)


def _additions(chosen: np.ndarray, *, seed: int) -> list[tuple[int, str]]:
    """(citizen, a competency of the taxonomy drawn at random) per request."""
    from features.esco import load_esco

    uris = load_esco().competencies["uri"].to_numpy()
    rng = np.random.default_rng(seed)
    return [(int(citizen), str(uri)) for citizen, uri in zip(chosen, rng.choice(uris, size=len(chosen)),
                                                               strict=True)]


def _http_round(home: Path, code: Path, key: bytes, chosen: np.ndarray, *, requests: int, clients: int,
                additions: list[tuple[int, str]] | None
                ) -> tuple[list[float], list[float], float, list[float], dict[str, list[float]]]:
    """One service of ``code``: sequential latencies, concurrent latencies, concurrent requests/s, the latencies of
    additions (empty when ``additions`` is None: a checkout without the vault) and of searches per kind (likewise)."""
    port = _free_port()
    process = _start_service(home, port, code, home.parent / "service.log")
    try:
        def ask(client: httpx.Client, citizen: int) -> float:
            token = mint_token(citizen_id=int(citizen), key=key)
            started = time.perf_counter()
            response = client.post("/suggestions", json={"kind": "jobs", "citizen_id": int(citizen), "k": 10},
                                   headers={"Authorization": f"Bearer {token}"})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
            return elapsed

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for citizen in chosen[:20]:
                ask(client, citizen)  # warm-up (both workers)
            sequential = [ask(client, citizen) for citizen in chosen[:requests]]

        def client_run(part: np.ndarray) -> list[float]:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                return [ask(client, citizen) for citizen in part]

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            parts = np.array_split(chosen, clients)
            concurrent = [value for values in pool.map(client_run, parts) for value in values]
        rate = len(concurrent) / (time.perf_counter() - started)
        added = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for citizen, uri in additions or []:
                headers = {"Authorization": f"Bearer {mint_token(citizen_id=citizen, key=key)}"}
                revision = client.get("/me", headers=headers).json()["revision"]
                started = time.perf_counter()
                response = client.post("/me/competencies", json={"competency_id": uri, "revision": revision,
                                                                 "kind": "jobs", "k": 10}, headers=headers)
                added.append(time.perf_counter() - started)
                if response.status_code not in (201, 409):  # 409: held from an earlier round
                    raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
        searched: dict[str, list[float]] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for kind, queries in QUERIES.items() if additions is not None else ():
                for query in ("warm-up", "opwarmen"):  # not timed: the first forward passes of each worker
                    client.get(f"/search/{kind}", params={"query": query, "k": 10})
                for query in queries:  # a fresh service: every query embedded afresh
                    started = time.perf_counter()
                    response = client.get(f"/search/{kind}", params={"query": query, "language": "nl", "k": 10})
                    searched.setdefault(kind, []).append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
        return sequential, concurrent, rate, added, searched
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vacancies", type=int, default=50_000)
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to measure side by side")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds with --baseline")
    parser.add_argument("--baseline-has-vault", action="store_true",
                        help="the baseline's service reads the vault too (else it is the Parquet path, without "
                             "POST /me/competencies)")
    parser.add_argument("--home", type=Path, default=None,
                        help="build the home here and keep it; reused when a run with the same sizes built it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home.resolve() if args.home is not None else Path(scratch) / "home"
        settings = Settings(home=home, allow_challenger=True)
        built = home / "bench-home.json"
        sizes = {"citizens": args.citizens, "vacancies": args.vacancies}
        if not built.exists() or json.loads(built.read_text()) != sizes:
            generate_to(PopulationConfig(citizens=args.citizens, seed=3, vacancies=args.vacancies),
                        out=settings.population_dir, progress=False)
            train_kind("jobs", store=PopulationStore(settings.population_dir), settings=settings, progress=False)
            built.write_text(json.dumps(sizes))
        _import_vault(settings)
        store = PopulationStore(settings.population_dir)
        citizens = store.table("citizens")
        ids = citizens.loc[~citizens["ai_opt_out"], "citizen_id"].to_numpy()
        chosen = np.random.default_rng(1).choice(ids, size=args.requests * max(args.clients, 1), replace=False)
        key = signing_key(settings)
        rounds = args.rounds if args.baseline is not None else 1
        # the in-process additions, then one set per HTTP round: every addition a fresh (citizen, competency)
        additions = [_additions(chosen[:args.requests], seed=seed) for seed in range(1 + rounds)]

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # as in the service
            core = ServiceCore(settings=settings)
            floor = []
            for citizen in chosen[:args.requests]:
                request = schemas.SuggestionRequest(kind="jobs", citizen_id=int(citizen), k=10)
                token = f"Bearer {mint_token(citizen_id=int(citizen), key=key)}"
                started = time.perf_counter()
                core.suggestions(request, authorization=token).model_dump_json()
                floor.append(time.perf_counter() - started)
            added_floor = []
            for citizen, uri in additions[0]:
                token = f"Bearer {mint_token(citizen_id=citizen, key=key)}"
                revision = core.vault.revision(citizen_id=citizen)
                body = schemas.AddCompetencyRequest(competency_id=uri, revision=revision, kind="jobs", k=10)
                started = time.perf_counter()
                try:
                    core.me.add_competency(authorization=token, request=body).model_dump_json()
                except RequestError as error:
                    if error.status != 409:
                        raise
                added_floor.append(time.perf_counter() - started)
            searched_floor: dict[str, list[float]] = {}
            for kind, queries in QUERIES.items():
                for query in ("warm-up", "opwarmen"):
                    core.search.find(kind, query, language="nl", k=10)
                for query in queries:
                    started = time.perf_counter()
                    core.search.find(kind, query, language="nl", k=10)
                    searched_floor.setdefault(kind, []).append(time.perf_counter() - started)
        core.close()
        del core

        codes = {"this checkout": PROJECT_ROOT}
        if args.baseline is not None:
            codes = {"baseline": args.baseline.resolve(), **codes}
        results: dict[str, list[tuple]] = {name: [] for name in codes}
        for index in range(rounds):
            for name, code in codes.items():
                vault = name == "this checkout" or args.baseline_has_vault
                results[name].append(_http_round(home, code, key, chosen, requests=args.requests,
                                                 clients=args.clients, additions=additions[1 + index] if vault
                                                 else None))

    print(f"POST /suggestions, jobs, k=10 with explanations, {args.vacancies:,} vacancies, "
          f"{args.citizens:,} citizens; each request a different citizen; vault {Settings(home=home).vault_url.split(':')[0]}"
          + (f"; {rounds} alternating rounds, medians over rounds" if rounds > 1 else ""))
    print(f"{'mode':48s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s}")
    p50, p99 = _percentiles(floor)
    print(f"{'in-process (floor), this checkout':48s} {p50:>8.1f} {p99:>8.1f} {len(floor) / sum(floor):>8.1f}")
    summary: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name, runs in results.items():
        summary[name] = {
            "sequential": tuple(statistics.median(values) for values in zip(
                *[(*_percentiles(seq), len(seq) / sum(seq)) for seq, *_ in runs], strict=True)),
            "concurrent": tuple(statistics.median(values) for values in zip(
                *[(*_percentiles(con), rate) for _, con, rate, *_ in runs], strict=True)),
        }
        for mode, label in (("sequential", "HTTP, 1 client sequential"),
                            ("concurrent", f"HTTP, {args.clients} concurrent clients")):
            p50, p99, rate = summary[name][mode]
            print(f"{label + ', ' + name:48s} {p50:>8.1f} {p99:>8.1f} {rate:>8.1f}")
    print("POST /me/competencies (add a competency, readiness over the catalogue before/after, the new list of 10)")
    p50, p99 = _percentiles(added_floor)
    print(f"{'in-process (floor), this checkout':48s} {p50:>8.1f} {p99:>8.1f} {len(added_floor) / sum(added_floor):>8.1f}")
    for name, runs in results.items():
        added = [value for _, _, _, values, _ in runs for value in values]
        if added:
            p50, p99 = _percentiles(added)
            print(f"{'HTTP, 1 client sequential, ' + name:48s} {p50:>8.1f} {p99:>8.1f} {len(added) / sum(added):>8.1f}")
    for kind in QUERIES:
        print(f"GET /search/{kind} (k=10, {len(QUERIES[kind])} typed queries, each embedded afresh)")
        p50, p99 = _percentiles(searched_floor[kind])
        print(f"{'in-process (floor), this checkout':48s} {p50:>8.1f} {p99:>8.1f} "
              f"{len(searched_floor[kind]) / sum(searched_floor[kind]):>8.1f}")
        for name, runs in results.items():
            found = [value for *_, searched in runs for value in searched.get(kind, [])]
            if found:
                p50, p99 = _percentiles(found)
                print(f"{'HTTP, 1 client sequential, ' + name:48s} {p50:>8.1f} {p99:>8.1f} {len(found) / sum(found):>8.1f}")
    print(f"HTTP / in-process p50 ratio (sequential, this checkout): "
          f"{summary['this checkout']['sequential'][0] / _percentiles(floor)[0]:.2f}")
    if "baseline" in summary:
        for mode in ("sequential", "concurrent"):
            mine, theirs = summary["this checkout"][mode], summary["baseline"][mode]
            print(f"this checkout / baseline, {mode}: p50 {mine[0] / theirs[0]:.2f}, p99 {mine[1] / theirs[1]:.2f}, "
                  f"req/s {mine[2] / theirs[2]:.2f}")


if __name__ == "__main__":
    main()
