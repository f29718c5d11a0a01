"""`loopbaan demo`: the main job end to end on the embedded defaults, each stage reused when already done.

population → three rankers (MLflow) → the fairness gate for each challenger (mitigation when it fails) →
a demo board approval where the gate passed (recorded as such, never as a real board decision) → promotion →
the vault (`loopbaan vault upgrade` and `loopbaan vault import` of the population) → the service with the site,
and where to look. Ctrl-C stops at any stage; what finished stays.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from features.errors import LoopbaanError
from features.settings import Settings

KINDS = ("jobs", "trainings", "careers")
DEMO_REVIEWER = "demo (automatic, not an ethics-board decision)"
DEMO_COMMENT = ("Recorded automatically by `loopbaan demo` so that the walk-through reaches a running site. A real "
                "deployment needs the ethics board's own review: `loopbaan review --assessment ID ...`.")
DEMO_FINDING = (" The labour-market finding of the assessment is acknowledged automatically too; the board must read "
                "it in the report.")
SERVICE = "serving.service:SuggestionService"
READY_TIMEOUT_S = 240
ERR_PORT_BUSY = "port {port} on {host} is in use: stop what runs there or pass --port"
ERR_SERVICE_EXITED = "the service stopped while starting (exit code {code}); its log: {log}"
ERR_SERVICE_SLOW = "the service was not ready after {seconds} s; its log: {log}"


@dataclass
class GateResult:
    kind: str
    version: str | None  # the version promoted (or already champion); None when no version passed
    report: Path | None
    passed: bool
    summary: str


def stage(name: str, started: float, line: str) -> None:
    typer.echo(f"[{name}] {line} ({time.perf_counter() - started:.1f} s)")


def population(settings: Settings, *, citizens: int, seed: int):
    from features.population import PopulationConfig, PopulationStore, generate_to

    started = time.perf_counter()
    folder = settings.population_dir
    if (folder / "manifest.json").is_file():
        store = PopulationStore(folder)
        store.check()
        stage("population", started, f"reusing {folder} ({store.manifest['config']['citizens']:,} citizens)")
        return store
    generate_to(PopulationConfig(citizens=citizens, seed=seed), out=folder, progress=True)
    stage("population", started, f"generated {citizens:,} synthetic citizens (seed {seed}) into {folder}; "
                                  f"data sheet {folder / 'datasheet.md'}")
    return PopulationStore(folder)


def rankers(settings: Settings, store) -> dict[str, str]:
    """The newest plain (unmitigated) version per kind trained on this population, training where none is."""
    from models import tracking
    from models.training import train_kind

    client = tracking.configure(settings)
    digest = store.digest()
    versions = {}
    for kind in KINDS:
        started = time.perf_counter()
        trained = [version for version in tracking.model_versions(client, kind)
                   if version["tags"].get("dataset_digest") == digest and not tracking.is_mitigated(version["tags"])]
        if trained:
            versions[kind] = trained[0]["version"]
            stage("train", started, f"{kind}: reusing loopbaan-{kind} v{versions[kind]} (trained on this population)")
            continue
        result = train_kind(kind, store=store, settings=settings, echo=lambda line: None)
        versions[kind] = str(result.version)
        stage("train", started, f"{kind}: trained loopbaan-{kind} v{versions[kind]}, NDCG@10 "
                                f"{result.metrics.get('ndcg_at_10', float('nan')):.3f} on held-out citizens")
    return versions


def _family(settings: Settings, kind: str, base: str) -> list[str]:
    """The mitigated versions made from ``base`` (newest first), then ``base`` itself."""
    from models import tracking

    client = tracking.configure(settings)
    mitigated = [version["version"] for version in tracking.model_versions(client, kind)
                 if version["tags"].get("mitigation.base_version") == base]
    return [*mitigated, base]


def gate(settings: Settings, *, kind: str, version: str, policy, population_dir: Path) -> GateResult:
    """Assess the version under the policy in force (mitigating when it fails) unless that was done already;
    record a demo approval of a passing assessment and promote it."""
    from assessments import governance, store
    from assessments.mitigation import mitigate
    from assessments.promotion import gate_reasons, promote

    started = time.perf_counter()
    current = {}
    for candidate in _family(settings, kind, version):
        latest = store.latest(settings, kind, candidate)
        if latest is not None and latest["policy"]["digest"] == policy.digest:
            current[candidate] = latest
    if not current:
        result = mitigate(kind=kind, settings=settings, policy=policy, data=population_dir, version=version)
        current = {outcome.version: store.latest(settings, kind, outcome.version)
                   for outcome in (result.mitigated, result.base) if outcome is not None}
    passing = [candidate for candidate, latest in current.items() if latest["passed"]]
    if not passing:
        latest = current.get(version) or next(iter(current.values()))
        report = store.folder_of(settings, latest["assessment_id"]) / store.REPORT_FILE
        failed = ", ".join(latest["failed_checks"])
        stage("gate", started, f"{kind}: v{version} failed the fairness gate ({failed}) and the re-ranked version "
                               f"did not pass either: no champion. Report: {report}")
        return GateResult(kind=kind, version=None, report=report, passed=False, summary=failed)
    chosen = passing[0]
    latest = current[chosen]
    report = store.folder_of(settings, latest["assessment_id"]) / store.REPORT_FILE
    _, _, approval = gate_reasons(settings, kind=kind, version=chosen, policy=policy)
    if approval is None and not governance.reviews(settings, assessment_id=latest["assessment_id"]):
        finding = (latest.get("labour_market") or {}).get("id")
        governance.record_review(settings, assessment_id=latest["assessment_id"], decision=governance.APPROVE,
                                 reviewer=DEMO_REVIEWER, comment=DEMO_COMMENT + (DEMO_FINDING if finding else ""),
                                 acknowledge=[finding] if finding else [])
    decision = promote(kind=kind, version=chosen, settings=settings, policy=policy)
    already = decision.already_champion
    if not (decision.promoted or already):
        raise LoopbaanError(f"{kind} v{chosen} passed but was not promoted: {'; '.join(decision.reasons)}")
    mitigated = "" if chosen == version else f" (the fairness re-ranked version of v{version})"
    stage("gate", started, f"{kind}: v{chosen}{mitigated} passed the fairness gate; demo approval recorded; "
                           f"{'still' if already else 'now'} champion. Report: {report}")
    return GateResult(kind=kind, version=chosen, report=report, passed=True, summary="passed")


def demo_citizen(store) -> int:
    """A citizen with work history and a diploma who did not opt out: a page with something on every tab."""
    citizens = store.table("citizens")
    worked = set(store.table("work_periods")["citizen_id"])
    graduated = set(store.table("diplomas")["citizen_id"])
    candidates = citizens.loc[~citizens["ai_opt_out"] & citizens["citizen_id"].isin(worked & graduated), "citizen_id"]
    return int(candidates.iloc[0] if len(candidates) else citizens["citizen_id"].iloc[0])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def vault(settings: Settings) -> None:
    """The citizens' vault the service reads and writes: `loopbaan vault upgrade` (created, or migrated to this
    version) and `loopbaan vault import` of the population (only the citizens not there yet, so a rerun is quick)."""
    from loopbaan_cli.vault_commands import import_, upgrade

    started = time.perf_counter()
    upgrade(database_url=settings.vault_url)
    import_(data=settings.population_dir, database_url=settings.vault_url)
    stage("vault", started, f"{settings.vault_url} ready")


def start_service(settings: Settings, *, host: str, port: int,
                  allow_challenger: bool) -> tuple[subprocess.Popen, Path]:
    """Prepare the vault (:func:`vault`), start the BentoML service in the background and wait until it answers
    /readyz.

    ``allow_challenger``: kinds without a champion show their challenger, marked as not approved in every list.
    """
    import httpx

    if not _port_free(host, port):
        raise LoopbaanError(ERR_PORT_BUSY.format(host=host, port=port))
    vault(settings)
    bentoml = shutil.which("bentoml", path=os.path.dirname(sys.executable)) or shutil.which("bentoml")
    if bentoml is None:
        raise LoopbaanError("the bentoml command is not installed: run `make install`")
    log_path = settings.home / "logs" / "service.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen([bentoml, "serve", SERVICE, "--host", host, "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "LOOPBAAN_HOME": str(settings.home),
                                        "BENTOML_DO_NOT_TRACK": "true",
                                        "LOOPBAAN_ALLOW_CHALLENGER": "true" if allow_challenger else "false"})
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LoopbaanError(ERR_SERVICE_EXITED.format(code=process.returncode, log=log_path))
            try:
                if client.get("/readyz").status_code == 200:
                    stage("service", started, f"ready on http://{host}:{port} (log {log_path})")
                    return process, log_path
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    stop_service(process)
    raise LoopbaanError(ERR_SERVICE_SLOW.format(seconds=READY_TIMEOUT_S, log=log_path))


def stop_service(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
