"""Benchmark: the citizens' vault on SQLite and PostgreSQL beside today's Parquet path.

A population of ``--citizens`` is generated with `loopbaan data generate` (or ``--data`` reused) and imported into
a fresh SQLite vault and a fresh PostgreSQL vault (a throwaway cluster on a loopback port, or ``--postgres-url``);
the import and export times are printed. Then, for ``--samples`` citizens drawn at random (the same for every
path), one after another:

- read one citizen's query context (then the same citizens again, their pages now in the database's cache): ``contexts_from_store`` on the Parquet snapshot (its index built once, not
  timed) and ``Vault.context`` on each database;
- add a self-declared competency and read the new context: ``Vault.add_competency`` (a committed transaction with
  the revision check and an audit line) + ``Vault.context``; beside it the Parquet path's in-memory equivalent
  (``what_if`` on the context: nothing is stored, so it is a floor, not a like-for-like write);
- the career data page ("Mijn loopbaandata"): ``CareerRecords.citizen`` on the snapshot and ``Vault.career_data``.

p50 and p99 in milliseconds, side by side. A vault kept from an earlier run (``--keep``) is not imported again (the
import is idempotent; its first import time is printed from its import run). Usage:
python benchmarks/bench_vault.py [--citizens 100000] [--samples 500] [--data DIR] [--backends sqlite,postgresql]
                                 [--postgres-url URL] [--no-export] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from features.career_data import CareerRecords  # noqa: E402
from features.citizens import contexts_from_store  # noqa: E402
from features.esco import load_esco  # noqa: E402
from features.population import PopulationStore  # noqa: E402
from features.vault import AuditLine, RecordCatalogue, Vault  # noqa: E402
from features.vault.database import import_status, open_engine, upgrade  # noqa: E402
from features.vault.export import export_snapshot  # noqa: E402
from features.vault.importer import import_population  # noqa: E402
from models.recourse import what_if  # noqa: E402


def _percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p50 = statistics.median(ordered) * 1e3
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3
    return f"{p50:7.2f} {p99:7.2f}"


def _timed(calls) -> list[float]:
    seconds = []
    for call in calls:
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--data", type=Path, help="reuse this population instead of generating one")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database instead of a throwaway cluster")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--no-export", action="store_true", help="do not time `vault export`")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still stops the throwaway cluster
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-vault-"))
    work.mkdir(parents=True, exist_ok=True)
    cluster = None
    try:
        folder = args.data or work / "population"
        if args.data is None:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "loopbaan_cli", "data", "generate", "--citizens", str(args.citizens),
                            "--out", str(folder), "-q"], check=True, cwd=PROJECT_ROOT)
            print(f"generated {args.citizens:,} citizens in {time.perf_counter() - started:.0f} s")
        store = PopulationStore(folder)
        taxonomy = load_esco()
        backends = args.backends.split(",")
        urls = {"sqlite": f"sqlite:///{(work / 'vault.db').as_posix()}"} if "sqlite" in backends else {}
        if "postgresql" in backends and args.postgres_url:
            urls["postgresql"] = args.postgres_url
        elif "postgresql" in backends:
            from tests import pg

            reason = pg.unavailable()
            if reason:
                print(f"PostgreSQL skipped: {reason}")
            else:
                cluster = pg.start()
                urls["postgresql"] = cluster.database()
        vaults = {}
        for name, url in urls.items():
            upgrade(url)
            engine = open_engine(url)
            summary = import_population(engine=engine, store=store, progress=False)
            run = import_status(engine)["import"]
            seconds = (run["finished_at"] - run["started_at"]).total_seconds()
            line = (f"{name:10s} import of {run['citizens_total']:,} citizens: {seconds:7.1f} s "
                    f"({run['citizens_total'] / seconds:,.0f} citizens/s)"
                    + ("" if summary.imported else " (imported by an earlier run)"))
            if not args.no_export:
                started = time.perf_counter()
                export_snapshot(engine=engine, source=store, out=work / f"snapshot-{name}", progress=False)
                line += f"; export in {time.perf_counter() - started:6.1f} s"
            engine.dispose()
            print(line, flush=True)
            vaults[name] = Vault.open(url=url, taxonomy=taxonomy, pseudonym_key=b"bench",
                                      catalogue=RecordCatalogue.of(store))
        rng = np.random.default_rng(7)
        ids = rng.choice(store.table("citizens")["citizen_id"].to_numpy(), size=args.samples, replace=False)
        uris = taxonomy.competencies["uri"].to_numpy()
        # fresh draws each run, so that a kept vault does not refuse them as duplicates of an earlier run's
        additions = [str(uris[column]) for column in np.random.default_rng().integers(0, len(uris), size=args.samples)]
        as_of = next(iter(vaults.values())).today
        contexts_from_store(store=store, taxonomy=taxonomy, citizen_ids=ids[:1], as_of=as_of)  # builds the index
        records = CareerRecords.of(store=store, taxonomy=taxonomy)
        records.citizen(int(ids[0]), as_of=as_of)
        rows = {"read one context": {}, "read it again (warm)": {}, "add a competency + new context": {},
                "career data page": {}}
        for label in ("read one context", "read it again (warm)"):
            rows[label]["parquet"] = _timed(
                lambda cid=cid: contexts_from_store(store=store, taxonomy=taxonomy, citizen_ids=np.array([cid]),
                                                    as_of=as_of) for cid in ids)
        pairs = list(zip(ids, additions, strict=True))
        rows["add a competency + new context"]["parquet"] = _timed(
            lambda cid=cid, uri=uri: what_if(contexts_from_store(store=store, taxonomy=taxonomy,
                                                                 citizen_ids=np.array([cid]), as_of=as_of),
                                             taxonomy=taxonomy, learn=[uri]) for cid, uri in pairs)
        rows["career data page"]["parquet"] = _timed(lambda cid=cid: records.citizen(int(cid), as_of=as_of)
                                                     for cid in ids)
        for name, vault in vaults.items():
            vault.context(citizen_id=int(ids[0]))
            for label in ("read one context", "read it again (warm)"):
                rows[label][name] = _timed(lambda cid=cid, vault=vault: vault.context(citizen_id=int(cid))
                                           for cid in ids)

            def add(cid: int, uri: str, vault=vault) -> None:
                vault.add_competency(citizen_id=cid, competency_uri=uri, revision=vault.revision(citizen_id=cid),
                                     audit=AuditLine(endpoint="me.competencies", status=201, citizen_id=cid))
                vault.context(citizen_id=cid)
            rows["add a competency + new context"][name] = _timed(
                lambda cid=cid, uri=uri: add(int(cid), uri) for cid, uri in pairs)
            rows["career data page"][name] = _timed(lambda cid=cid, vault=vault: vault.career_data(citizen_id=int(cid))
                                                    for cid in ids)
        paths = ["parquet", *vaults]
        print(f"\n{args.samples} citizens, {len(store.table('citizens')):,} in the population; ms")
        print(f"{'':34s}" + "".join(f"{path:>16s}" for path in paths))
        print(f"{'':34s}" + "".join(f"{'p50     p99':>16s}" for _ in paths))
        for label, measured in rows.items():
            print(f"{label:34s}" + "".join(f"{_percentiles(measured[path]):>16s}" for path in paths))
        for vault in vaults.values():
            vault.close()
    finally:
        if cluster is not None:
            cluster.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
