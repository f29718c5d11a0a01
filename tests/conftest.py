"""Shared fixtures: an isolated settings home and one small population reused by many tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMALL_CITIZENS = 1_500
BENTOML = str(Path(sys.executable).parent / "bentoml")
START_TIMEOUT_S = 420  # a busy 2-core machine; the search's indexes come from the session's cache


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own LOOPBAAN_HOME, so nothing touches the checkout's .loopbaan/."""
    home = tmp_path / "home"
    monkeypatch.setenv("LOOPBAAN_HOME", str(home))
    return home


@pytest.fixture(scope="session", autouse=True)
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One text-embedding cache for the whole session (embedding every competency takes ~20 s)."""
    folder = tmp_path_factory.mktemp("embedding-cache")
    os.environ["LOOPBAAN_CACHE_HOME"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def small_population_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.population import PopulationConfig, generate_to

    out = tmp_path_factory.mktemp("population") / "small"
    generate_to(PopulationConfig(citizens=SMALL_CITIZENS, seed=7, vacancies=800, trainings=300), out=out,
                progress=False)
    return out


@pytest.fixture(scope="session")
def trained_home(small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A settings home where all three kinds were trained once on the small population (MLflow included)."""
    from features.population import PopulationStore
    from features.settings import Settings
    from models.training import train_kind

    home = tmp_path_factory.mktemp("trained-home")
    settings = Settings(home=home)
    store = PopulationStore(small_population_dir)
    for kind in ("jobs", "trainings", "careers"):
        train_kind(kind, store=store, settings=settings, progress=False)
    return home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def home_with_champions(trained_home: Path, population: Path, home: Path) -> Path:
    """A copy of the trained home (its registry untouched) holding the population, imported into the home's vault
    (as `loopbaan vault upgrade` and `vault import` do); jobs and careers get a champion set directly (standing in
    for the fairness gate), trainings keeps only its challenger."""
    from features.population import PopulationStore
    from features.settings import Settings
    from features.vault.database import upgrade
    from features.vault.importer import import_population_into
    from models import tracking

    shutil.copytree(trained_home, home)
    shutil.copytree(population, home / "data" / "population")
    settings = Settings(home=home)
    upgrade(settings.vault_url)
    import_population_into(settings.vault_url, PopulationStore(settings.population_dir), progress=False)
    client = tracking.configure(settings)
    for kind in ("jobs", "careers"):
        version = client.get_model_version_by_alias(tracking.registered_name(kind), tracking.CHALLENGER).version
        client.set_registered_model_alias(tracking.registered_name(kind), tracking.CHAMPION, version)
    return home


def register_reranked(home: Path, kind: str, *, reranker, alias: str = "champion") -> str:
    """Register the kind's challenger booster once more, with ``reranker``, as a mitigated version (the way the fairness
    gate's mitigation does, assessments/mitigation.register_mitigated) and give it ``alias``; returns the version."""
    import mlflow
    import mlflow.lightgbm

    from features.settings import Settings
    from models import tracking
    from models.rerank import ARTIFACT
    from models.training import PIP_REQUIREMENTS

    settings = Settings(home=home)
    client = tracking.configure(settings)
    base = tracking.load_model(kind, alias=tracking.CHALLENGER, settings=settings)
    with mlflow.start_run(experiment_id=tracking.ensure_experiment(client, kind, settings),
                          run_name=f"{kind}-mitigated-test"):
        mlflow.log_dict(reranker.to_dict(), ARTIFACT)
        info = mlflow.lightgbm.log_model(base.model.booster, name="model", pip_requirements=PIP_REQUIREMENTS,
                                         registered_model_name=tracking.registered_name(kind))
    version = str(info.registered_model_version)
    for key, value in {**reranker.tags(), "mitigation.base_version": base.version}.items():
        client.set_model_version_tag(tracking.registered_name(kind), version, key, value)
    client.set_registered_model_alias(tracking.registered_name(kind), alias, version)
    return version


def careers_reranker(home: Path):
    """A strong re-ranker for careers (good opportunities and ready steps), so that it moves items in most lists."""
    import numpy as np

    from features.population import PopulationStore
    from features.settings import Settings
    from models.rerank import Reranker, item_quality
    from models.resources import load_resources

    settings = Settings(home=home)
    resources = load_resources("careers", store=PopulationStore(settings.population_dir), settings=settings)
    return Reranker(proportion=0.6, significance=0.1, depth=50, criterion="quality", guarantees=("good", "ready"),
                    quality_threshold=float(np.nanquantile(item_quality(resources), 0.8)))


@pytest.fixture(scope="session")
def service_home(trained_home: Path, small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Jobs: champion v1; trainings: challenger only (served as the fallback); careers: champion v2, a mitigated
    version of v1 whose re-ranker moves items."""
    home = home_with_champions(trained_home, small_population_dir, tmp_path_factory.mktemp("service") / "home")
    register_reranked(home, "careers", reranker=careers_reranker(home))
    warm_search(home)
    return home


@pytest.fixture(scope="module")
def citizens(service_home: Path):
    """The served population's citizens table."""
    from features.population import PopulationStore

    return PopulationStore(service_home / "data" / "population").table("citizens")


@pytest.fixture(scope="module")
def key(service_home: Path) -> bytes:
    """The served home's token signing key."""
    from features.keys import signing_key
    from features.settings import Settings

    return signing_key(Settings(home=service_home))


def warm_search(home: Path) -> None:
    """Build the search's label indexes into the session's cache once here, so that the service's workers read them
    at start-up instead of each embedding every label."""
    from features.esco import load_esco
    from features.settings import Settings
    from features.label_languages import LabelLanguages
    from serving.search import Search

    taxonomy = load_esco()
    Search(settings=Settings(home=home), taxonomy=taxonomy, languages=LabelLanguages.of(taxonomy)).warm_up()


def start_service(home: Path, *, env: dict[str, str] | None = None, log_name: str = "service.log",
                  port: int | None = None) -> tuple[subprocess.Popen, httpx.Client]:
    """``bentoml serve`` on ``port`` (default: a free loopback port) for ``home``; returns (process, client) once it
    answers /readyz and /metadata."""
    from serving import launch

    port = port or free_port()
    try:
        process = launch.start_service(home=home, host="127.0.0.1", port=port, log=home / log_name, env=env,
                                       cwd=PROJECT_ROOT, timeout_s=START_TIMEOUT_S, also_ready=("/metadata",),
                                       poll_timeout_s=60)
    except launch.ServiceStartError as error:
        pytest.fail(f"{error}\n{error.log.read_text()[-3000:]}")
    return process, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)


def stop_service(process: subprocess.Popen, client: httpx.Client) -> None:
    from serving import launch

    client.close()
    launch.terminate(process)


@pytest.fixture(scope="session")
def service(service_home: Path):
    """The real BentoML service (with the site) on a free loopback port, started once for the session."""
    process, client = start_service(service_home, env={"LOOPBAAN_ALLOW_CHALLENGER": "true"})
    yield client
    stop_service(process, client)


@pytest.fixture(scope="session")
def oidc_service(service_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """The service of ``service_home`` signed into by the real local OpenID provider (:mod:`tests.signin_fixtures`):
    a :class:`~tests.signin_fixtures.SignedInService`."""
    from tests.signin_fixtures import start_signed_in_service

    signed_in, stop = start_signed_in_service(service_home, tmp_path_factory.mktemp("oidc-service"))
    yield signed_in
    stop()


def audit_records(home: Path) -> list[dict]:
    """The service's audit trail in the home's vault, oldest first (``models`` read back from its JSON)."""
    import json

    from sqlalchemy import select

    from features.settings import Settings
    from features.vault.database import open_engine
    from features.vault.schema import AuditEntry

    engine = open_engine(Settings(home=home).vault_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(AuditEntry.__table__).order_by(AuditEntry.id)).mappings().all()
    finally:
        engine.dispose()
    return [{**row, "models": json.loads(row["models"] or "{}")} for row in rows]
