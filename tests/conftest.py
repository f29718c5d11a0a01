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


@pytest.fixture(scope="session")
def small_population_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from features.population import PopulationConfig, generate_to

    out = tmp_path_factory.mktemp("population") / "small"
    generate_to(PopulationConfig(citizens=SMALL_CITIZENS, seed=7, vacancies=800, trainings=300), out=out,
                progress=False)
    return out
