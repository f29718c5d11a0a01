"""The `loopbaan` command line as a user meets it: help, generation, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

LOOPBAAN = [sys.executable, "-m", "loopbaan_cli"]


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPBAAN_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([*LOOPBAAN, *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
                          timeout=300, check=False)


def test_help_lists_the_commands(isolated_home: Path) -> None:
    result = run("--help", home=isolated_home)
    assert result.returncode == 0
    for command in ("data", "taxonomy", "demo", "train", "compare", "serve", "token", "assess", "promote", "review",
                    "schedule"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [["data", "generate"], ["data", "check"], ["taxonomy", "info"], ["demo"], ["train"],
                                     ["compare"], ["serve"], ["token"], ["assess"], ["promote"], ["review"],
                                     ["schedule"]])
def test_every_command_has_help(command: list[str], isolated_home: Path) -> None:
    result = run(*command, "--help", home=isolated_home)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_generate_then_check(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "pop"
    result = run("data", "generate", "--citizens", "300", "--seed", "5", "--vacancies", "200", "--trainings", "50",
                 "--out", str(out), "--quiet", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "wrote 300 citizens" in result.stdout
    check = run("data", "check", "--data", str(out), "--json", home=isolated_home)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["rows"]["citizens"] == 300


def test_taxonomy_info_json(isolated_home: Path) -> None:
    result = run("taxonomy", "info", "--json", home=isolated_home)
    summary = json.loads(result.stdout)
    assert summary["occupations"] == 3007 and summary["relations"] == 123855


def test_taxonomy_info_imports_competent(isolated_home: Path) -> None:
    fixture = PROJECT_ROOT / "tests" / "fixtures" / "competent"
    result = run("taxonomy", "info", "--competent", str(fixture), "--json", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["source"] == "competent"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "generate", "--citizens", "-5"], "Invalid value for '--citizens'"),
        (["data", "generate", "--citizens", "many"], "Invalid value for '--citizens'"),
        (["data", "check", "--data", "/nonexistent/population"], "error: no population at /nonexistent/population"),
        (["taxonomy", "info", "--competent", "/nonexistent/competent"], "error:"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(args: list[str], message: str, isolated_home: Path) -> None:
    result = run(*args, home=isolated_home)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_corrupt_population_file_gets_one_line(isolated_home: Path, small_population_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_population_dir, copy)
    (copy / "profiles.parquet").write_bytes(b"\x00" * 64)
    result = run("data", "check", "--data", str(copy), home=isolated_home)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "profiles.parquet is not readable Parquet" in lines[0]
    assert "Traceback" not in result.stderr


def test_output_over_a_foreign_folder_is_refused(isolated_home: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    result = run("data", "generate", "--citizens", "100", "--out", str(foreign), "-q", home=isolated_home)
    assert result.returncode == 2 and "is not a loopbaan population folder" in result.stderr
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.slow
def test_demo_generates_trains_and_then_reuses(isolated_home: Path) -> None:
    first = run("demo", "--citizens", "1500", "--seed", "3", home=isolated_home)
    assert first.returncode == 0, first.stderr
    for kind in ("jobs", "trainings", "careers"):
        assert f"registered loopbaan-{kind} version 1 as 'challenger'" in first.stdout
    second = run("demo", home=isolated_home)
    assert second.returncode == 0, second.stderr
    assert "population: reusing" in second.stdout and second.stdout.count("reusing loopbaan-") == 3
