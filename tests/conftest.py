"""Shared fixtures: an isolated settings home and one small population reused by many tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMALL_CITIZENS = 1_500


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
