"""Shared fixtures: an isolated settings home and one small population reused by many tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMALL_CITIZENS = 1_500
BENTOML = str(Path(sys.executable).parent / "bentoml")


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
    """A copy of the trained home (its registry untouched) holding the population; jobs and careers get a champion
    set directly (standing in for the fairness gate), trainings keeps only its challenger."""
    from features.settings import Settings
    from models import tracking

    shutil.copytree(trained_home, home)
    shutil.copytree(population, home / "data" / "population")
    client = tracking.configure(Settings(home=home))
    for kind in ("jobs", "careers"):
        version = client.get_model_version_by_alias(tracking.registered_name(kind), tracking.CHALLENGER).version
        client.set_registered_model_alias(tracking.registered_name(kind), tracking.CHAMPION, version)
    return home


@pytest.fixture(scope="session")
def service_home(trained_home: Path, small_population_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return home_with_champions(trained_home, small_population_dir, tmp_path_factory.mktemp("service") / "home")


@pytest.fixture(scope="session")
def service(service_home: Path):
    """The real BentoML service (with the site) on a free loopback port, started once for the session."""
    port = free_port()
    env = {**os.environ, "LOOPBAAN_HOME": str(service_home), "LOOPBAAN_ALLOW_CHALLENGER": "true",
           "BENTOML_DO_NOT_TRACK": "true"}
    log = open(service_home / "service.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen([BENTOML, "serve", "serving.service:SuggestionService", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the service exited: {(service_home / 'service.log').read_text()[-3000:]}")
        try:
            if client.get("/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail("the service did not become ready in 180 s")
    yield client
    client.close()
    process.terminate()
    process.wait(timeout=30)
    log.close()
