"""The real BentoML service on a free loopback port: contract, explanations, access, audit, bad input, operations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from features.feature_registry import features_for
from features.population import PopulationStore
from features.settings import Settings
from models import tracking
from serving.auth import mint_token
from serving.keys import service_key
from tests.conftest import BENTOML, PROJECT_ROOT, free_port

pytestmark = pytest.mark.slow  # starts the real service (about half a minute)

KINDS = ("jobs", "trainings", "careers")


@pytest.fixture(scope="module")
def citizens(service_home: Path) -> pd.DataFrame:
    return PopulationStore(service_home / "data" / "population").table("citizens")


@pytest.fixture(scope="module")
def key(service_home: Path) -> bytes:
    return service_key(Settings(home=service_home))


def _citizen(citizens: pd.DataFrame, *, opted_out: bool = False) -> int:
    return int(citizens.loc[citizens["ai_opt_out"] == opted_out, "citizen_id"].iloc[3])


def _ask(service: httpx.Client, key: bytes, citizen_id: int, **body) -> httpx.Response:
    token = mint_token(citizen_id=citizen_id, key=key)
    return service.post("/suggestions", json={"citizen_id": citizen_id, **body},
                        headers={"Authorization": f"Bearer {token}"})


def _frame(suggestion: dict) -> pd.DataFrame:
    return pd.DataFrame([{part["feature"]: np.nan if part["value"] is None else part["value"]
                          for part in suggestion["explanation"]["contributions"]}])


@pytest.mark.parametrize("kind", KINDS)
def test_suggestions_follow_the_contract_and_add_up(kind: str, service, citizens, key, service_home) -> None:
    import shap

    response = _ask(service, key, _citizen(citizens), kind=kind, k=7, language="en")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == kind and body["personalised"] is True and len(body["suggestions"]) == 7
    model = body["model"]
    assert model["name"] == f"loopbaan-{kind}" and model["version"] == "1"
    assert model["alias"] == ("challenger" if kind == "trainings" else "champion")
    assert model["fallback"] is (kind == "trainings")
    assert (body["notice"] is not None) is (kind == "trainings")
    booster = tracking.load_model(kind, alias=model["alias"], settings=Settings(home=service_home)).model.booster
    explainer = shap.TreeExplainer(booster)
    for rank, suggestion in enumerate(body["suggestions"], start=1):
        assert suggestion["rank"] == rank and suggestion["kind"] == kind and suggestion["title"]
        assert suggestion["readiness"] in ("ready", "bridgeable", "stretch")
        explanation = suggestion["explanation"]
        contributions = explanation["contributions"]
        total = explanation["base_value"] + sum(part["contribution"] for part in contributions)
        assert abs(total - suggestion["score"]) <= 1e-6
        assert [part["feature"] for part in contributions] == sorted(
            (part["feature"] for part in contributions),
            key=lambda name: -abs(next(p["contribution"] for p in contributions if p["feature"] == name)))
        assert {part["feature"] for part in contributions} == set(features_for(kind))
        # the served contributions are exactly SHAP's TreeExplainer values for the same row
        frame = _frame(suggestion)[booster.feature_name()]
        expected = dict(zip(booster.feature_name(), explainer.shap_values(frame)[0], strict=True))
        for part in contributions:
            assert abs(part["contribution"] - expected[part["feature"]]) <= 1e-6
        assert abs(explanation["base_value"] - float(np.ravel(explainer.expected_value)[0])) <= 1e-6
        for item in (*suggestion["matched_competencies"], *suggestion["missing_competencies"]):
            assert item["id"].startswith("http") and item["label"]


def test_sentences_come_in_dutch_and_english(service, citizens, key) -> None:
    citizen = _citizen(citizens)
    dutch = _ask(service, key, citizen, kind="jobs", k=3).json()
    english = _ask(service, key, citizen, kind="jobs", k=3, language="en").json()
    assert dutch["language"] == "nl" and english["language"] == "en"
    first_nl = dutch["suggestions"][0]["explanation"]["contributions"][0]["sentence"]
    first_en = english["suggestions"][0]["explanation"]["contributions"][0]["sentence"]
    assert first_nl != first_en
    assert dutch["suggestions"][0]["item_id"] == english["suggestions"][0]["item_id"]


def test_anonymous_profiles_need_no_token_and_are_not_audited_by_id(service, service_home) -> None:
    response = service.post("/suggestions", json={"kind": "careers", "job_title": "lasser", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matched_occupation"] and len(body["suggestions"]) == 5
    assert body["matched_occupation"] not in {item["item_id"] for item in body["suggestions"]}
    records = [json.loads(line) for line in (service_home / "audit" / "audit.jsonl").read_text().splitlines()]
    assert records[-1]["citizen"] is None and records[-1]["request_id"] == body["request_id"]


def test_access_rules(service, citizens, key) -> None:
    citizen, other = _citizen(citizens), int(citizens["citizen_id"].iloc[10])
    body = {"kind": "jobs", "citizen_id": citizen}
    assert service.post("/suggestions", json=body).status_code == 401
    assert service.post("/suggestions", json=body, headers={"Authorization": "Bearer lb1.1.1.forged"}).status_code == 401
    forged = mint_token(citizen_id=citizen, key=b"not the service key")
    assert service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = mint_token(citizen_id=citizen, key=key, ttl_s=-10)
    assert service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    theirs = mint_token(citizen_id=other, key=key)
    assert service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {theirs}"}).status_code == 403


def test_opted_out_citizens_get_a_marked_non_personalised_list(service, citizens, key) -> None:
    response = _ask(service, key, _citizen(citizens, opted_out=True), kind="jobs", k=5)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["personalised"] is False and "AI" in body["notice"]
    assert all(item["readiness"] is None and not item["explanation"]["contributions"] for item in body["suggestions"])
    someone_else = int(citizens.loc[citizens["ai_opt_out"], "citizen_id"].iloc[7])
    other = _ask(service, key, someone_else, kind="jobs", k=5).json()
    assert [item["item_id"] for item in other["suggestions"]] == [item["item_id"] for item in body["suggestions"]]


def test_every_request_is_audited_without_raw_ids(service, citizens, key, service_home) -> None:
    citizen = int(citizens.loc[~citizens["ai_opt_out"] & (citizens["citizen_id"] > 1000), "citizen_id"].iloc[0])
    response = _ask(service, key, citizen, kind="careers", k=4)
    assert service.post("/suggestions", json={"kind": "jobs", "citizen_id": citizen}).status_code == 401
    records = [json.loads(line) for line in (service_home / "audit" / "audit.jsonl").read_text().splitlines()]
    mine = [record for record in records if record["request_id"] == response.json()["request_id"]]
    assert len(mine) == 1
    record = mine[0]
    assert record["kind"] == "careers" and record["items"] == 4 and record["status"] == 200
    assert record["models"]["careers"].startswith("loopbaan-careers/1@champion")
    assert record["citizen"] and "citizen_id" not in record
    assert all(value not in (citizen, str(citizen)) for value in record.values())
    text = (service_home / "audit" / "audit.jsonl").read_text()
    for column in ("gender", "origin", "birth_year", "disability"):
        assert column not in text
    assert records[-1]["status"] == 401 and records[-1]["citizen"] == record["citizen"], "refusals are audited too"


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"kind": "jobs", "citizen_id": 99_999_999}, 404, "not in the population"),
    ({"kind": "pets", "job_title": "lasser"}, 400, "kind"),
    ({"kind": "jobs", "job_title": "lasser", "k": 0}, 400, "k"),
    ({"kind": "jobs", "job_title": "lasser", "k": 51}, 400, "k"),
    ({"kind": "jobs", "competencies": ["urn:unknown"]}, 422, "unknown competency ids: urn:unknown"),
    ({"kind": "jobs"}, 400, "give citizen_id"),
    ({"kind": "jobs", "competencies": []}, 400, "give citizen_id"),
    ({"kind": "jobs", "job_title": "lasser", "k": "ten"}, 400, "k"),
    ({"kind": "jobs", "job_title": 12}, 400, "job_title"),
    ({"kind": "jobs", "job_title": "lasser", "colour": "red"}, 400, "colour"),
    ({"kind": "jobs", "job_title": "?!"}, 422, "job title"),
    ({"kind": "jobs", "job_title": "lasser", "precomputed": True}, 400, "precomputed lists exist for citizens only"),
])
def test_bad_input_gets_a_4xx_with_a_message(body, status, message, service, key) -> None:
    headers = {}
    if "citizen_id" in body:
        headers["Authorization"] = f"Bearer {mint_token(citizen_id=body['citizen_id'], key=key)}"
    response = service.post("/suggestions", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.text and "Traceback" not in response.text


def test_oversized_and_malformed_bodies_are_refused(service) -> None:
    huge = {"kind": "jobs", "competencies": ["x" * 1000] * 100}
    assert service.post("/suggestions", json=huge).status_code == 413
    broken = service.post("/suggestions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert 400 <= broken.status_code < 500 and "Traceback" not in broken.text


def test_compare_explains_why_a_is_above_b(service, citizens, key) -> None:
    citizen = _citizen(citizens)
    listed = _ask(service, key, citizen, kind="jobs", k=5).json()["suggestions"]
    a, b = listed[0]["item_id"], listed[4]["item_id"]
    token = mint_token(citizen_id=citizen, key=key)
    response = service.post("/compare", json={"kind": "jobs", "citizen_id": citizen, "item_a": a, "item_b": b},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert abs(body["item_a"]["score"] - listed[0]["score"]) <= 1e-6
    assert abs(sum(part["difference"] for part in body["differences"]) - body["score_difference"]) <= 1e-6
    assert body["score_difference"] >= 0 and body["summary"]
    unknown = service.post("/compare", json={"kind": "jobs", "citizen_id": citizen, "item_a": a, "item_b": "nope"},
                           headers={"Authorization": f"Bearer {token}"})
    assert unknown.status_code == 404 and "nope" in unknown.text


def test_operations_endpoints(service) -> None:
    assert service.get("/healthz").status_code == 200
    assert service.get("/readyz").status_code == 200
    metadata = service.get("/metadata")
    assert metadata.status_code == 200
    body = metadata.json()
    assert set(body["models"]) == set(KINDS) and body["population"]["synthetic"] is True
    assert body["models"]["jobs"]["alias"] == "champion" and body["models"]["trainings"]["fallback"] is True
    assert body["models"]["jobs"]["assessment"] is None  # not assessed yet: said, not hidden
    document = service.get("/docs.json").json()
    for path in ("/suggestions", "/compare", "/metadata"):
        assert path in document["paths"], path
    schemas = json.dumps(document)
    for name in ("SuggestionResponse", "CompareResponse", "explanation", "readiness"):
        assert name in schemas, name


def test_serve_refuses_to_start_without_models(tmp_path: Path, small_population_dir: Path) -> None:
    home = tmp_path / "empty-home"
    shutil.copytree(small_population_dir, home / "data" / "population")
    result = subprocess.run([sys.executable, "-m", "loopbaan_cli", "serve", "--port", str(free_port())],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False,
                            env={**os.environ, "LOOPBAAN_HOME": str(home)})
    assert result.returncode == 2 and "no kind has a model to serve" in result.stderr


def test_bentoml_build_works_offline_and_keeps_the_api(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run([BENTOML, "build", "-f", "bentofile.yaml", "."], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [bento] = [entry for entry in (tmp_path / "bentoml" / "bentos" / "loopbaan").iterdir() if entry.is_dir()]
    source = bento / "src"
    assert (source / "serving" / "service.py").is_file()
    assert any((source / "features" / "taxonomy_data").glob("*.parquet"))
    assert (source / "features" / "taxonomy_data" / "manifest.json").is_file()
    for excluded in ("tests", "notebooks", ".loopbaan", "benchmarks", ".venv"):
        assert not (source / excluded).exists(), excluded
    openapi = (bento / "apis" / "openapi.yaml").read_text()
    for path in ("/suggestions:", "/compare:", "/metadata:"):
        assert path in openapi, path
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm==4.7.0" in requirements and "mlflow==3.17.2" in requirements


def test_serve_says_when_the_registry_is_unreachable(tmp_path: Path, small_population_dir: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_population_dir, home / "data" / "population")
    result = subprocess.run([sys.executable, "-m", "loopbaan_cli", "serve", "--port", str(free_port())],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False,
                            env={**os.environ, "LOOPBAAN_HOME": str(home),
                                 "LOOPBAAN_TRACKING_URI": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 2 and "is unreachable" in result.stderr and "Traceback" not in result.stderr


def test_loaded_models_keep_serving_when_the_registry_goes_away(service_home: Path, citizens, key, monkeypatch) -> None:
    from serving import schemas
    from serving.engine import SuggestionEngine

    engine = SuggestionEngine(settings=Settings(home=service_home, allow_challenger=True))

    def unreachable(settings):
        raise ConnectionError("registry down")

    monkeypatch.setattr("serving.engine.tracking.configure", unreachable)
    metadata = engine.metadata()
    assert metadata["registry"]["reachable"] is False and set(metadata["models"]) == set(KINDS)
    citizen = _citizen(citizens)
    response = engine.suggestions(schemas.SuggestionRequest(kind="careers", citizen_id=citizen, k=3),
                                  authorization=f"Bearer {mint_token(citizen_id=citizen, key=key)}")
    assert len(response.suggestions) == 3


def test_precomputed_lists_come_from_the_newest_batch_of_the_served_model(service, service_home, citizens,
                                                                         key) -> None:
    from models.batch import run_batch

    citizen = _citizen(citizens)
    before = _ask(service, key, citizen, kind="jobs", k=5, precomputed=True).json()
    assert before["batch"] is None and "nu berekend" in before["notice"]
    result = run_batch("jobs", store=PopulationStore(service_home / "data" / "population"),
                       settings=Settings(home=service_home), progress=False)
    live = _ask(service, key, citizen, kind="jobs", k=5).json()
    stored = _ask(service, key, citizen, kind="jobs", k=5, precomputed=True).json()
    assert stored["batch"]["batch_id"] == result.info.batch_id and stored["notice"] is None
    assert live["batch"] is None and stored["model"] == live["model"]
    assert [item["item_id"] for item in stored["suggestions"]] == [item["item_id"] for item in live["suggestions"]]
    for mine, theirs in zip(stored["suggestions"], live["suggestions"], strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-9)
        assert mine["readiness"] == theirs["readiness"]
        assert mine["explanation"]["summary"] == theirs["explanation"]["summary"]
    longer = _ask(service, key, citizen, kind="jobs", k=result.info.k + 1, precomputed=True).json()
    assert longer["batch"] is None and len(longer["suggestions"]) == result.info.k + 1
