"""The generic top-level package names must resolve to this project, not to another installed package."""

import importlib
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT


@pytest.mark.parametrize("name", ["features", "models", "serving", "assessments", "loopbaan_cli"])
def test_package_imports_from_this_project(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(PROJECT_ROOT)


def test_settings_default_home_is_in_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    from features.settings import Settings

    monkeypatch.delenv("LOOPBAAN_HOME", raising=False)
    assert Settings().home == PROJECT_ROOT / ".loopbaan"
    assert Settings().mlflow_tracking_uri.startswith("sqlite:///")


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from features.settings import Settings

    monkeypatch.setenv("LOOPBAAN_HOME", str(tmp_path))
    monkeypatch.setenv("LOOPBAAN_TRACKING_URI", "http://127.0.0.1:5000")
    settings = Settings()
    assert settings.population_dir == tmp_path / "data" / "population"
    assert settings.mlflow_tracking_uri == "http://127.0.0.1:5000"
