"""`loopbaan vault`: killed in the middle of an import, the vault holds only whole citizens and a rerun completes it;
the commands answer a missing vault with the command to run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from features.population.schema import SCHEMAS
from tests.conftest import PROJECT_ROOT
from tests.vault_fixtures import blank_url, empty_vault_url, pg_cluster  # noqa: F401 - fixtures

LOOPBAAN = [sys.executable, "-m", "loopbaan_cli"]


def _run(*args: str, home: Path):
    """The command in this process (the autouse fixture already points LOOPBAAN_HOME at ``home``)."""
    from typer.testing import CliRunner

    from loopbaan_cli.main import app

    result = CliRunner().invoke(app, list(args), env={"LOOPBAAN_HOME": str(home), "COLUMNS": "200"})
    result.returncode = result.exit_code
    return result


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _per_citizen(url: str, table: str) -> pd.Series:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT citizen_id, count(*) FROM {table} GROUP BY citizen_id")).all()
    engine.dispose()
    return pd.Series({int(citizen): int(count) for citizen, count in rows}, dtype="int64")


@pytest.mark.slow
def test_a_killed_import_leaves_whole_citizens_and_a_rerun_completes_it(empty_vault_url, small_population_dir,
                                                                        isolated_home, tmp_path):
    from features.population import PopulationStore

    source = PopulationStore(small_population_dir)
    total = len(source.table("citizens"))
    env = {**os.environ, "LOOPBAAN_HOME": str(isolated_home)}
    process = subprocess.Popen([*LOOPBAAN, "vault", "import", "--data", str(small_population_dir), "--database-url",
                                empty_vault_url, "--batch-size", "5", "-q"], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    seen = 0
    while time.monotonic() < deadline and process.poll() is None:
        seen = _count(empty_vault_url, "SELECT count(*) FROM citizens")
        if seen >= 50:
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the import ended before it could be killed: {process.stderr.read()[-2000:]}"
    process.kill()  # SIGKILL: no clean-up of any kind
    process.wait(timeout=30)

    present = _count(empty_vault_url, "SELECT count(*) FROM citizens")
    assert 50 <= present < total
    assert _count(empty_vault_url, "SELECT count(*) FROM import_runs WHERE finished_at IS NULL") == 1
    records = sum(len(source.table(name)) for name in ("work_periods", "diplomas", "training_records", "assessments",
                                                       "self_declared"))
    expected_records = pd.concat([source.table(name)["citizen_id"] for name in (
        "work_periods", "diplomas", "training_records", "assessments", "self_declared")]).value_counts()
    expected_evidence = source.table("profiles")["citizen_id"].value_counts()
    imported = _per_citizen(empty_vault_url, "career_records")
    evidence = _per_citizen(empty_vault_url, "competency_evidence")
    ids = pd.Index(sorted({*imported.index, *evidence.index}))
    vault_ids = set(_per_citizen(empty_vault_url, "citizens").index)
    assert set(ids) <= vault_ids  # nothing of a citizen who is not (yet) in
    for citizen in vault_ids:  # every citizen who is in is whole
        assert imported.get(citizen, 0) == expected_records.get(citizen, 0)
        assert evidence.get(citizen, 0) == expected_evidence.get(citizen, 0)

    status = _run("vault", "status", "--database-url", empty_vault_url, home=isolated_home)
    assert "did not finish" in status.stdout and "loopbaan vault import" in status.stdout
    refused = _run("vault", "export", "--database-url", empty_vault_url, "--out", str(tmp_path / "snap"),
                   home=isolated_home)
    assert refused.returncode == 2 and "did not finish" in refused.stderr and "Traceback" not in refused.stderr

    rerun = _run("vault", "import", "--data", str(small_population_dir), "--database-url", empty_vault_url, "-q",
                 home=isolated_home)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{present:,} were already there" in rerun.stdout
    assert _count(empty_vault_url, "SELECT count(*) FROM citizens") == total
    assert _count(empty_vault_url, "SELECT count(*) FROM career_records") == records
    assert _count(empty_vault_url, "SELECT count(*) FROM import_runs WHERE finished_at IS NULL") == 0
    exported = _run("vault", "export", "--database-url", empty_vault_url, "--out", str(tmp_path / "snap"), "-q",
                    home=isolated_home)
    assert exported.returncode == 0, exported.stderr
    snapshot = PopulationStore(tmp_path / "snap")
    for name in SCHEMAS:
        pd.testing.assert_frame_equal(snapshot.table(name), source.table(name), check_categorical=False, obj=name)


def test_the_commands_answer_a_missing_vault_with_the_command_to_run(blank_url, small_population_dir, isolated_home):
    for command in (["status"], ["import", "--data", str(small_population_dir)], ["export"]):
        result = _run("vault", *command, "--database-url", blank_url, home=isolated_home)
        assert result.returncode == 2, result
        assert "loopbaan vault upgrade" in result.stderr and "Traceback" not in result.stderr
    from features.vault.database import head_revision

    created = _run("vault", "upgrade", "--database-url", blank_url, home=isolated_home)
    assert created.returncode == 0 and f"to {head_revision()}" in created.stdout
    again = _run("vault", "upgrade", "--database-url", blank_url, home=isolated_home)
    assert f"already at migration {head_revision()}" in again.stdout
    status = _run("vault", "status", "--database-url", blank_url, home=isolated_home)
    assert "0 citizens" in status.stdout and "nothing imported yet" in status.stdout


def test_the_default_vault_is_sqlite_in_home(isolated_home, small_population_dir):
    assert _run("vault", "upgrade", home=isolated_home).returncode == 0
    assert (isolated_home / "vault.db").is_file()
    result = _run("vault", "import", "--data", str(small_population_dir), "-q", home=isolated_home)
    assert result.returncode == 0 and "imported 1,500 citizens" in result.stdout


@pytest.mark.parametrize("command", [["vault"], ["vault", "upgrade"], ["vault", "status"], ["vault", "import"],
                                     ["vault", "export"], ["vault", "link-subjects"]])
def test_every_vault_command_has_help(command, isolated_home):
    result = _run(*command, "--help", home=isolated_home)
    assert result.returncode == 0 and "Usage" in result.stdout
