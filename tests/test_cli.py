"""The `loopbaan` command line as a user meets it: help, generation, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

LOOPBAAN = [sys.executable, "-m", "loopbaan_cli"]


def run(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPBAAN_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([*LOOPBAAN, *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
                          timeout=timeout, check=False)


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
def test_demo_runs_end_to_end_then_reuses_everything_and_stops_cleanly(isolated_home: Path) -> None:
    """Population, training, the gate with a demo approval and promotion; then a second run reuses every stage,
    starts the service with the site, and Ctrl-C stops it cleanly."""
    import httpx

    from tests.conftest import free_port

    first = run("demo", "--citizens", "1500", "--seed", "3", "--no-serve", home=isolated_home, timeout=1800)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert sum(line.startswith("[train]") and "trained loopbaan-" in line for line in lines) == 3
    gate = [line for line in lines if line.startswith("[gate]")]
    assert len(gate) == 3
    passed = [line for line in gate if "passed the fairness gate" in line]
    if passed:
        reviews = (isolated_home / "governance" / "reviews.jsonl").read_text(encoding="utf-8")
        assert reviews.count("demo (automatic, not an ethics-board decision)") == len(passed)
    for line in gate:
        report = Path(re.search(r"Report: (\S+)", line).group(1))
        assert report.is_file() and "<html" in report.read_text(encoding="utf-8")[:500].lower()
    assert "token (valid 24 h): lb1." in first.stdout

    port = free_port()
    env = {**os.environ, "LOOPBAAN_HOME": str(isolated_home), "COLUMNS": "200"}
    process = subprocess.Popen([*LOOPBAAN, "demo", "--port", str(port)], cwd=PROJECT_ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if "Ctrl-C stops the service" in line:
                break
        text = "".join(output)
        assert "population] reusing" in text and text.count("reusing loopbaan-") == 3, text
        assert text.count("[gate]") == 3 and text.count("still champion") == len(passed)
        site = next(line for line in output if "/site/#token=" in line).split()[-1]
        page = httpx.get(site.split("#")[0], timeout=30)
        assert page.status_code == 200 and "Mijn loopbaan" in page.text
        served = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=30).json()["models"]
        assert set(served) == {"jobs", "trainings", "careers"}
        for kind, model in served.items():
            passing = any(line.startswith(f"[gate] {kind}:") for line in passed)
            assert model["alias"] == ("champion" if passing else "challenger") and model["fallback"] is not passing
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "service stopped" in rest and "Traceback" not in errors
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
