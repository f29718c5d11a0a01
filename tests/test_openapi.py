"""The OpenAPI document tells the truth: schemathesis (every check, more than 1,000 generated cases, with a citizen's
token) finds nothing against the real service, and finds the lie in a document that was made to lie."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from features.keys import signing_key
from features.population import PopulationStore
from features.settings import Settings
from serving.auth import mint_token

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
MIN_CASES = 1_000


def _schemathesis(location: str, *, token: str, report_dir: Path, extra: list[str]) -> tuple[int, dict, str]:
    command = [SCHEMATHESIS, "--config-file", str(CONFIG), "run", location, "--checks", "all", "--seed", "7",
               "-H", f"Authorization: Bearer {token}", "--report", "json", "--report-dir", str(report_dir),
               "--no-color", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=report_dir)
    [report] = report_dir.glob("*.json")
    return result.returncode, json.loads(report.read_text()), result.stdout[-6000:] + result.stderr[-2000:]


@pytest.fixture
def citizen_token(service: httpx.Client, service_home: Path):
    """A citizen of their own for schemathesis (it switches their AI choice back and forth); their choice is reset."""
    citizens = PopulationStore(service_home / "data" / "population").table("citizens")
    citizen = int(citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[40])
    token = mint_token(citizen_id=citizen, key=signing_key(Settings(home=service_home)))
    yield token
    reset = service.put("/me/opt-out", json={"opted_out": False}, headers={"Authorization": f"Bearer {token}"})
    assert reset.status_code == 200


def test_schemathesis_finds_nothing(service: httpx.Client, citizen_token: str, tmp_path: Path) -> None:
    code, report, output = _schemathesis(f"{service.base_url}/docs.json", token=citizen_token, report_dir=tmp_path,
                                         extra=["--max-examples", "100"])
    assert code == 0, output
    assert report["failures"] == [] and report["errors"] == [], output
    assert report["test_cases"]["generated"] >= MIN_CASES, report["test_cases"]
    assert {"coverage", "fuzzing", "stateful"} <= {phase for phase, state in report["phases"].items()
                                                   if state["status"] == "success"}


def test_schemathesis_finds_a_document_that_lies(service: httpx.Client, citizen_token: str, tmp_path: Path) -> None:
    """The same run against the service's document with two lies in it: 422 left out of /suggestions, and the error
    body's message documented as a number."""
    document = service.get("/docs.json").json()
    del document["paths"]["/suggestions"]["post"]["responses"]["422"]
    document["components"]["schemas"]["ErrorResponse"]["properties"]["error"] = {"type": "integer"}
    lying = tmp_path / "lying.json"
    lying.write_text(json.dumps(document), encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    code, report, output = _schemathesis(str(lying), token=citizen_token, report_dir=reports,
                                         extra=["--url", str(service.base_url), "--include-path", "/suggestions",
                                                "--max-examples", "30", "--phases", "coverage,fuzzing",
                                                "--continue-on-failure"])
    assert code != 0, output
    found = {failure["title"] for failure in report["failures"]}
    assert {"Undocumented status code", "Response violates schema"} <= found, found
