"""DESIGN.md "Packages" as guards on the source: the layers, read from the import graph, and the one package that
may name the sensitive table.

Both read the syntax tree of every module (and notebook code cell), so an import inside a function, a relative
import or a path built in an f-string counts as much as a top-level statement.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from features.population.schema import SENSITIVE_TABLE
from tests.conftest import PROJECT_ROOT

# Source folder → the packages of ours it may import besides itself. The keys are ours too: a package that is in
# no other row (loopbaan_cli, notebooks) is imported by nobody.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "features": frozenset(),
    "models": frozenset({"features"}),
    "assessments": frozenset({"features", "models"}),
    "serving": frozenset({"features", "models"}),
    "loopbaan_cli": frozenset({"features", "models", "assessments", "serving"}),
    "notebooks": frozenset({"features", "models", "assessments", "serving"}),
}

# Modules outside assessments/ that must name the sensitive table, and why.
MAY_NAME_SENSITIVE: dict[str, str] = {
    "features/population/schema.py": "defines the table",
    "features/population/generator.py": "writes it",
    "features/population/hiring_gaps.py": "the generator's audit of its bias knobs, on the tables it has just made",
    "features/population/datasheet.py": "the generated data sheet describes the file",
    "features/register.py": "the processing register says what the table holds and who processes it; reads nothing",
}
SENSITIVE_SCANNED = ("features", "models", "serving", "loopbaan_cli", "notebooks")
SENSITIVE_HANDLES = ("SENSITIVE_TABLE", "SENSITIVE_COLUMNS")  # schema.py's names for the table and its columns


@dataclass(frozen=True)
class _Unit:
    where: str  # path relative to the root, with the notebook cell
    package: tuple[str, ...]  # what a relative import is relative to
    source: str

    @property
    def tree(self) -> ast.Module:
        return ast.parse(self.source, filename=self.where)


def _code_cells(path: Path) -> Iterator[tuple[int, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            yield number, "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _units(root: Path, folder: str) -> Iterator[_Unit]:
    for path in sorted((root / folder).rglob("*.py")):
        relative = path.relative_to(root)
        parts = relative.with_suffix("").parts
        package = parts if path.name == "__init__.py" else parts[:-1]
        yield _Unit(relative.as_posix(), package, path.read_text(encoding="utf-8"))
    for path in sorted((root / folder).rglob("*.ipynb")):
        relative = path.relative_to(root)
        for number, source in _code_cells(path):
            yield _Unit(f"{relative.as_posix()}[cell {number}]", relative.parent.parts, source)


def _dynamic_target(node: ast.Call) -> str | None:
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.JoinedStr) and first.values:
        first = first.values[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str) and not first.value.startswith("."):
        return first.value
    return None


def _imported(node: ast.AST, *, package: tuple[str, ...]) -> Iterator[str]:
    """The top-level packages an import statement (or a constant import_module call) reaches."""
    if isinstance(node, ast.Import):
        yield from (alias.name.partition(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = package[:max(len(package) - node.level + 1, 0)] if node.level else ()
        parts = (*base, *(node.module.split(".") if node.module else ()))
        yield from (parts[:1] or tuple(alias.name for alias in node.names))
    elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
        yield target.partition(".")[0]


def layer_violations(root: Path, rules: Mapping[str, frozenset[str]]) -> list[str]:
    """Every import under ``root`` of a package of ours that ``rules`` does not allow its folder."""
    found = []
    for folder, allowed in rules.items():
        for unit in _units(root, folder):
            for node in ast.walk(unit.tree):
                for target in _imported(node, package=unit.package):
                    if target in rules and target != folder and target not in allowed:
                        found.append(f"{unit.where}:{node.lineno}: `{ast.unparse(node)}` — "
                                     f"{folder} may not import {target}")
    return found


def _names_table(node: ast.AST, table: str) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value == table or f"{table}.parquet" in node.value
    name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
    return isinstance(node, (ast.Name, ast.Attribute, ast.alias)) and name in SENSITIVE_HANDLES


def sensitive_violations(root: Path, *, folders: tuple[str, ...], allowed: Mapping[str, str], table: str) -> list[str]:
    """Every place under ``folders`` outside ``allowed`` that names ``table`` (a string or schema.py's handle)."""
    found = []
    for folder in folders:
        for unit in _units(root, folder):
            if unit.where in allowed:
                continue
            lines = unit.source.splitlines()
            for number in sorted({node.lineno for node in ast.walk(unit.tree) if _names_table(node, table)}):
                found.append(f"{unit.where}:{number}: `{lines[number - 1].strip()}` names the {table} table")
    return found


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_every_import_points_down() -> None:
    assert layer_violations(PROJECT_ROOT, MAY_IMPORT) == []


def test_the_import_check_fails_on_imports_that_point_up(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "features/__init__.py": "",
        "features/x.py": "import pandas\n\nfrom serving import service\n",
        "serving/__init__.py": "from .y import z\n",
        "serving/y.py": ("import features.x\nfrom models import m\nfrom ..assessments import z\n"
                         "from .. import assessments\n\n\ndef late():\n    import assessments.registry\n"),
        "serving/sub/w.py": "from ...assessments import q\nfrom ..y import z\nfrom . import y\n",
        "models/m.py": "from importlib import import_module\nimport_module(f'loopbaan_cli.{1}')\n",
        "notebooks/n.ipynb": json.dumps({"cells": [
            {"cell_type": "markdown", "source": ["import loopbaan_cli"]},
            {"cell_type": "code", "source": ["%matplotlib inline\n", "import models\n", "import loopbaan_cli"]}]}),
    })
    assert layer_violations(root, MAY_IMPORT) == [
        "features/x.py:3: `from serving import service` — features may not import serving",
        "models/m.py:2: `import_module(f'loopbaan_cli.{1}')` — models may not import loopbaan_cli",
        "serving/sub/w.py:1: `from ...assessments import q` — serving may not import assessments",
        "serving/y.py:3: `from ..assessments import z` — serving may not import assessments",
        "serving/y.py:4: `from .. import assessments` — serving may not import assessments",
        "serving/y.py:8: `import assessments.registry` — serving may not import assessments",
        "notebooks/n.ipynb[cell 2]:3: `import loopbaan_cli` — notebooks may not import loopbaan_cli",
    ]


def test_the_import_check_passes_a_clean_tree(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "features/a.py": "from . import b\nfrom .b import c\nimport numpy\n",
        "models/m.py": "from features.a import b\n\n\ndef f():\n    from ..features import a\n",
        "serving/s.py": "import models.m\nfrom features import a\n",
        "loopbaan_cli/main.py": "from serving import s\nfrom assessments import run\n",
    })
    assert layer_violations(root, MAY_IMPORT) == []


def test_only_assessments_name_the_sensitive_table() -> None:
    import features.population.schema as schema

    assert all(hasattr(schema, handle) for handle in SENSITIVE_HANDLES)
    assert all((PROJECT_ROOT / path).is_file() for path in MAY_NAME_SENSITIVE)
    assert sensitive_violations(PROJECT_ROOT, folders=SENSITIVE_SCANNED, allowed=MAY_NAME_SENSITIVE,
                                table=SENSITIVE_TABLE) == []


@pytest.mark.parametrize("leak", [
    'store.table("sensitive")',
    'pq.read_table(folder / f"sensitive.parquet")',
    "from features.population.schema import SENSITIVE_TABLE",
    "columns = schema.SENSITIVE_COLUMNS",
])
def test_the_sensitive_check_fails_on_a_model_that_names_the_table(tmp_path: Path, leak: str) -> None:
    root = _write(tmp_path, {"models/leak.py": f'"""Never reads a sensitive attribute."""\n{leak}\n',
                             "features/population/generator.py": 'tables = {"sensitive": people}\n'})
    assert sensitive_violations(root, folders=SENSITIVE_SCANNED, allowed=MAY_NAME_SENSITIVE, table="sensitive") == [
        f"models/leak.py:2: `{leak}` names the sensitive table"]


def test_the_sensitive_check_passes_a_clean_tree(tmp_path: Path) -> None:
    root = _write(tmp_path, {"models/ok.py": '"""No sensitive attribute is a feature."""\nstore.table("citizens")\n',
                             "features/population/generator.py": 'tables = {"sensitive": people}\n'})
    assert sensitive_violations(root, folders=SENSITIVE_SCANNED, allowed=MAY_NAME_SENSITIVE, table="sensitive") == []
