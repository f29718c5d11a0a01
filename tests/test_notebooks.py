"""The notebooks run top to bottom with small parameters (they only import the packages)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["explore_population.ipynb", "retrain_and_compare.ipynb"])
def test_notebook_executes(name: str, small_population_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPBAAN_NOTEBOOK_DATA", str(small_population_dir))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # The kernel inherits this process's environment, settings home and parameters included.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(PROJECT_ROOT)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    assert any("image/png" in output.get("data", {}) for output in outputs), "the notebook drew no figure"
