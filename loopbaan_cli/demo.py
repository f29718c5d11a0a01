"""`loopbaan demo`: the main job end to end on the embedded defaults, each stage reused when already done.

population → three rankers (MLflow) → the search's bilingual query encoder (`loopbaan train --kind encoder`) →
the fairness gate for each challenger (mitigation when it fails) → a demo board approval where the gate passed
(recorded as such, never as a real board decision) → promotion → (meanwhile, in a background process, the search's
indexes) → the vault (`loopbaan vault upgrade` and `loopbaan vault import` of the population) → sign-in (the local
OpenID provider's demo accounts, linked in the vault with `loopbaan vault link-subjects`, and the provider serving
them) → the service with the site, and where to look. Ctrl-C stops at any stage; what finished stays.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS, NDCG_AT_K
from loopbaan_cli import oidc_provider

DEMO_REVIEWER = "demo (automatic, not an ethics-board decision)"
DEMO_COMMENT = ("Recorded automatically by `loopbaan demo` so that the walk-through reaches a running site. A real "
                "deployment needs the ethics board's own review: `loopbaan review --assessment ID ...`.")
DEMO_FINDING = (" The labour-market finding of the assessment is acknowledged automatically too; the board must read "
                "it in the report.")
READY_TIMEOUT_S = 600  # a start that finds no search indexes builds them first, in every worker
WORKER_STOP_S = 10
SIGN_IN_CITIZENS = 5
ERR_PORT_BUSY = "port {port} on {host} is in use: stop what runs there or pass {option}"
ENCODER_MODES = ("full", "quick", "none")


@dataclass
class GateResult:
    kind: str
    version: str | None  # the version promoted (or already champion); None when no version passed
    report: Path | None
    passed: bool
    summary: str


def stage(name: str, started: float, line: str) -> None:
    typer.echo(f"[{name}] {line} ({time.perf_counter() - started:.1f} s)")


class SearchIndexes:
    """The search's on-disk indexes (``serving.search``: label indexes and concept vectors; read from the install's
    prepared cache, else built in the home's cache), made ready in a background process while the rankers are
    judged. The service's workers then read them at start instead of each building the same indexes (minutes on two
    cores). A failure here only leaves that work to the service: it is said, not raised."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.perf_counter()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_build_search_indexes, args=(settings,), name="loopbaan-search-indexes", daemon=True)
        self.process.start()

    def wait(self) -> None:
        self.process.join()
        if self.process.exitcode == 0:
            stage("search", self.started, f"indexes ready (the install's {self.settings.prepared_cache}, else "
                                          f"{self.settings.cache_dir / 'search'})")
        else:
            stage("search", self.started, f"building the indexes stopped (exit code {self.process.exitcode}); the "
                                          "service builds them as it starts")

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=WORKER_STOP_S)


def _build_search_indexes(settings: Settings) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # one core, beside the gate's work on the other
    from threadpoolctl import threadpool_limits

    from features.imported_labels import home_taxonomy
    from features.label_languages import LabelLanguages
    from serving.search import Search

    taxonomy = home_taxonomy(settings)
    with threadpool_limits(limits=1):
        Search(settings=settings, taxonomy=taxonomy, languages=LabelLanguages.of(taxonomy)).warm_up()


def search_encoder(settings: Settings, *, mode: str) -> None:
    """The search's tuned query encoder: the newest registered one, else trained now (``full``: the whole run of
    `loopbaan train --kind encoder`, timed in docs/search.md; ``quick``: its small run); ``none`` leaves
    the search to the untuned MiniLM, which reads Dutch poorly."""
    from models import tracking
    from models.encoder_registry import KIND
    from models.encoder_training import train_encoder

    started = time.perf_counter()
    versions = tracking.model_versions(tracking.configure(settings), KIND)
    if versions:
        stage("encoder", started, f"reusing loopbaan-{KIND} v{versions[0]['version']}")
        return
    if mode == "none":
        stage("encoder", started, "none trained (--encoder none): the search embeds queries with the untuned, "
                                  "English-only MiniLM")
        return
    result = train_encoder(settings=settings, quick=mode == "quick", progress=True)
    stage("encoder", started, f"trained loopbaan-{KIND} v{result.version} ({mode}): held-out Dutch top-5 "
                              f"{result.metrics.get('test_nl_hybrid_top5', float('nan')):.3f}, lexical alone "
                              f"{result.metrics.get('test_nl_lexical_top5', float('nan')):.3f}")


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
                                f"{result.metrics.get(NDCG_AT_K, float('nan')):.3f} on held-out citizens")
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
    from assessments.promotion import Refusal, gate_refusals, promote

    started = time.perf_counter()
    current = {}
    for candidate in _family(settings, kind, version):
        latest = store.latest(settings, kind, candidate)
        if latest is not None and latest.policy.digest == policy.digest:
            current[candidate] = latest
    if not current:
        result = mitigate(kind=kind, settings=settings, policy=policy, data=population_dir, version=version)
        current = {outcome.version: store.latest(settings, kind, outcome.version)
                   for outcome in (result.mitigated, result.base) if outcome is not None}
    passing = [candidate for candidate, latest in current.items() if latest.passed]
    if not passing:
        latest = current.get(version) or next(iter(current.values()))
        report = store.folder_of(settings, latest.assessment_id) / store.REPORT_FILE
        failed = ", ".join(latest.failed_checks)
        stage("gate", started, f"{kind}: v{version} failed the fairness gate ({failed}) and the re-ranked version "
                               f"did not pass either: no champion. Report: {report}")
        return GateResult(kind=kind, version=None, report=report, passed=False, summary=failed)
    chosen = passing[0]
    latest = current[chosen]
    report = store.folder_of(settings, latest.assessment_id) / store.REPORT_FILE
    _, _, approval = gate_refusals(settings, kind=kind, version=chosen, policy=policy)
    if approval is None and not governance.reviews(settings, assessment_id=latest.assessment_id):
        finding = latest.finding_id
        governance.record_review(settings, assessment_id=latest.assessment_id, decision=governance.APPROVE,
                                 reviewer=DEMO_REVIEWER, comment=DEMO_COMMENT + (DEMO_FINDING if finding else ""),
                                 acknowledge=[finding] if finding else [])
    decision = promote(kind=kind, version=chosen, settings=settings, policy=policy)
    already = decision.refused(Refusal.ALREADY_CHAMPION)
    if not (decision.promoted or already):
        raise LoopbaanError(f"{kind} v{chosen} passed but was not promoted: {'; '.join(decision.reasons)}")
    mitigated = "" if chosen == version else f" (the fairness re-ranked version of v{version})"
    stage("gate", started, f"{kind}: v{chosen}{mitigated} passed the fairness gate; demo approval recorded; "
                           f"{'still' if already else 'now'} champion. Report: {report}")
    return GateResult(kind=kind, version=chosen, report=report, passed=True, summary="passed")


def demo_citizens(store, *, count: int = SIGN_IN_CITIZENS) -> list[int]:
    """The first ``count`` citizens (by id) with work history and a diploma who did not opt out: pages with
    something on every tab; the same citizens for the same population."""
    citizens = store.table("citizens")
    worked = set(store.table("work_periods")["citizen_id"])
    graduated = set(store.table("diplomas")["citizen_id"])
    candidates = citizens.loc[~citizens["ai_opt_out"] & citizens["citizen_id"].isin(worked & graduated), "citizen_id"]
    chosen = sorted(int(citizen) for citizen in candidates)[:count]
    return chosen or sorted(int(citizen) for citizen in citizens["citizen_id"])[:count]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_port(*, host: str, port: int, option: str) -> None:
    if port and not _port_free(host, port):
        raise LoopbaanError(ERR_PORT_BUSY.format(host=host, port=port, option=option))


def vault(settings: Settings) -> None:
    """The citizens' vault the service reads and writes: `loopbaan vault upgrade` (created, or migrated to this
    version) and `loopbaan vault import` of the population (only the citizens not there yet, so a rerun is quick)."""
    from loopbaan_cli.vault_commands import import_, upgrade

    started = time.perf_counter()
    upgrade(database_url=settings.vault_url)
    import_(data=settings.population_dir, database_url=settings.vault_url)
    stage("vault", started, f"{settings.vault_url} ready")


def site_urls(*, host: str, port: int) -> list[str]:
    """The addresses the site may be opened under, each a redirect address the provider must know."""
    urls = [f"http://{host}:{port}/site/"]
    if host == "127.0.0.1":
        urls.append(f"http://localhost:{port}/site/")
    return urls


def sign_in(settings: Settings, *, citizens: list[int], host: str, port: int,
            oidc_port: int) -> tuple[oidc_provider.Accounts, oidc_provider.Provider]:
    """The local OpenID provider with one demo account per citizen (`node oidc/provider.js init`, kept when there),
    serving on ``oidc_port`` (0: any free port), its subjects linked to the citizens in the vault for its issuer
    (`loopbaan vault link-subjects`; a rerun links nothing new). The caller stops the provider."""
    from loopbaan_cli.vault_commands import link_subjects

    started = time.perf_counter()
    folder = settings.home / "oidc"
    accounts = oidc_provider.init(folder=folder, citizens=citizens)
    provider = oidc_provider.start(folder=folder, port=oidc_port, site_urls=site_urls(host=host, port=port),
                                   log=settings.home / "logs" / "oidc.log")
    try:
        link_subjects(file=accounts.subjects_file, issuer=provider.issuer, database_url=settings.vault_url)
    except BaseException:
        provider.stop()
        raise
    made = "reusing" if accounts.reused else "made"
    stage("sign-in", started, f"{made} {len(accounts.logins)} demo accounts in {folder}; the OpenID provider is "
                              f"ready on {provider.issuer} (log {provider.log})")
    return accounts, provider


def start_service(settings: Settings, *, host: str, port: int, allow_challenger: bool,
                  oidc_issuer: str | None) -> tuple[subprocess.Popen, Path]:
    """Start the BentoML service in the background on a prepared vault (:func:`vault`) and wait until it answers
    /readyz.

    ``allow_challenger``: kinds without a champion show their challenger, marked as not approved in every list.
    ``oidc_issuer``: the OpenID provider whose tokens sign citizens and partners in (``LOOPBAAN_OIDC_ISSUER``).
    """
    from serving import launch

    check_port(host=host, port=port, option="--port")
    log_path = settings.home / "logs" / "service.log"
    started = time.perf_counter()
    env = {"LOOPBAAN_ALLOW_CHALLENGER": "true" if allow_challenger else "false"}
    if oidc_issuer is not None:
        env["LOOPBAAN_OIDC_ISSUER"] = oidc_issuer
    process = launch.start_service(home=settings.home, host=host, port=port, log=log_path, env=env,
                                   timeout_s=READY_TIMEOUT_S, new_session=True, stop=stop_service)
    stage("service", started, f"ready on http://{host}:{port} (log {log_path})")
    return process, log_path


def stop_service(process: subprocess.Popen) -> None:
    """Stop the service and its workers: BentoML starts each worker in a session of its own, and a worker still
    loading its models outlives its parent's SIGTERM, so the workers are stopped by their ids too."""
    import psutil

    try:
        workers = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        workers = []
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    _, alive = psutil.wait_procs(workers, timeout=WORKER_STOP_S)
    for worker in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.terminate()
    _, alive = psutil.wait_procs(alive, timeout=WORKER_STOP_S)
    for worker in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    psutil.wait_procs(alive, timeout=WORKER_STOP_S)
