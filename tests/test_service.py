"""The real BentoML service on a free loopback port: contract, explanations (also of re-ranked lists), access, audit,
bad input, the opt-out on every path, operations."""

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

from features.feature_definitions import features_for
from features.population import PopulationStore
from features.settings import Settings
from models import tracking
from models.rerank import TIE
from serving import schemas
from serving.auth import mint_admin_token, mint_token
from tests.conftest import BENTOML, PROJECT_ROOT, audit_records, free_port

pytestmark = pytest.mark.slow  # starts the real service (about half a minute)

KINDS = ("jobs", "trainings", "careers")
SERVED = {"jobs": ("1", "champion"), "trainings": ("1", "challenger"), "careers": ("2", "champion")}  # conftest


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
    assert model["name"] == f"loopbaan-{kind}" and (model["version"], model["alias"]) == SERVED[kind]
    assert model["fallback"] is (kind == "trainings") and model["serving_since"]
    assert (model["reranked"] is not None) is (kind == "careers")
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
    records = audit_records(service_home)
    [record] = [record for record in records if record["request_id"] == body["request_id"]]
    assert record["citizen"] is None and record["status"] == 200


def test_access_rules(service, citizens, key) -> None:
    citizen, other = _citizen(citizens), int(citizens["citizen_id"].iloc[10])
    body = {"kind": "jobs", "citizen_id": citizen}
    assert service.post("/suggestions", json=body).status_code == 401
    assert service.post("/suggestions", json=body, headers={"Authorization": "Bearer lb1.1.1.forged"}).status_code == 401
    forged = mint_token(citizen_id=citizen, key=b"not the service key")
    assert service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = mint_token(citizen_id=citizen, key=key, ttl_s=-10)
    refused = service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 401 and "expired" in refused.json()["error"]
    theirs = mint_token(citizen_id=other, key=key)
    refused = service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {theirs}"})
    assert refused.status_code == 403 and "its own citizen" in refused.json()["error"]
    admin = mint_admin_token(key=key)
    assert service.post("/suggestions", json=body, headers={"Authorization": f"Bearer {admin}"}).status_code == 401


def test_admin_reload_needs_an_admin_token(service, citizens, key) -> None:
    assert service.post("/admin/reload").status_code == 401
    citizen = mint_token(citizen_id=_citizen(citizens), key=key)
    refused = service.post("/admin/reload", headers={"Authorization": f"Bearer {citizen}"})
    assert refused.status_code == 403 and "admin token" in refused.json()["error"]
    forged = mint_admin_token(key=b"not the service key")
    assert service.post("/admin/reload", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    done = service.post("/admin/reload", headers={"Authorization": f"Bearer {mint_admin_token(key=key)}"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["changes"] == {} and {kind: (info["version"], info["alias"]) for kind, info in
                                      body["models"].items()} == SERVED


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
    records = audit_records(service_home)
    mine = [record for record in records if record["request_id"] == response.json()["request_id"]]
    assert len(mine) == 1
    record = mine[0]
    assert record["kind"] == "careers" and record["items"] == 4 and record["status"] == 200
    assert record["models"]["careers"] == "loopbaan-careers/2@champion"
    assert record["citizen"] and "citizen_id" not in record
    assert all(value not in (citizen, str(citizen)) for value in record.values())
    text = json.dumps(records, default=str)
    for column in ("gender", "origin", "birth_year", "disability"):
        assert column not in text
    assert records[-1]["status"] == 401 and records[-1]["citizen"] == record["citizen"], "refusals are audited too"


BAD_SUGGESTION_REQUESTS = [
    ({"kind": "jobs", "citizen_id": 99_999_999}, 404, "not in the population"),
    ({"kind": "pets", "job_title": "lasser"}, 400, "kind"),
    ({"kind": "jobs", "job_title": "lasser", "k": 0}, 400, "k"),
    ({"kind": "jobs", "job_title": "lasser", "k": 51}, 400, "k"),
    ({"kind": "jobs", "competencies": ["urn:unknown"]}, 422, "unknown competency ids: urn:unknown"),
    ({"kind": "jobs"}, 400, "give citizen_id"),
    ({"kind": "jobs", "competencies": []}, 400, "competencies"),
    ({"kind": "jobs", "job_title": "   "}, 400, "job_title"),
    ({"kind": "jobs", "job_title": "lasser", "k": "ten"}, 400, "k"),
    ({"kind": "jobs", "job_title": "lasser", "k": True}, 400, "k"),
    ({"kind": "jobs", "job_title": 12}, 400, "job_title"),
    ({"kind": "jobs", "job_title": "lasser", "colour": "red"}, 400, "colour"),
    ({"kind": "jobs", "job_title": "lasser", "citizen_id": None}, 400, "leave citizen_id out"),
    ({"kind": "jobs", "job_title": "lasser", "citizen_id": 5}, 400, "not both"),
    ({"kind": "jobs", "job_title": "?!"}, 422, "job title"),
    ({"kind": "jobs", "job_title": "lasser", "precomputed": True}, 400, "precomputed lists exist for citizens only"),
    ({"kind": "jobs", "job_title": "lasser", "precomputed": 1}, 400, "precomputed"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_SUGGESTION_REQUESTS)
def test_bad_input_gets_a_4xx_with_a_message(body, status, message, service, key) -> None:
    headers = {}
    if body.get("citizen_id"):
        headers["Authorization"] = f"Bearer {mint_token(citizen_id=body['citizen_id'], key=key)}"
    response = service.post("/suggestions", json=body, headers=headers)
    assert response.status_code == status, response.text
    error = schemas.ErrorResponse.model_validate(response.json())  # the documented body of every refusal
    assert message in error.error + " ".join(".".join(map(str, part.location)) for part in error.details)
    assert "Traceback" not in response.text


def test_schema_valid_integers_are_accepted(service) -> None:
    """JSON Schema reads 5.0 as an integer, so the service does too (a string or a boolean it refuses)."""
    response = service.post("/suggestions", json={"kind": "careers", "job_title": "lasser", "k": 5.0})
    assert response.status_code == 200, response.text
    assert len(response.json()["suggestions"]) == 5


def test_oversized_and_malformed_bodies_are_refused(service) -> None:
    huge = {"kind": "jobs", "competencies": ["x" * 1000] * 100}
    refused = service.post("/suggestions", json=huge)
    assert refused.status_code == 413 and "65,536 bytes" in schemas.ErrorResponse.model_validate(refused.json()).error
    broken = service.post("/suggestions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    assert service.put("/me/opt-out", content=b"[", headers={"Content-Type": "application/json"}).status_code in (400,
                                                                                                               401)


def test_compare_explains_why_a_is_above_b(service, citizens, key) -> None:
    citizen = _citizen(citizens)
    listed = _ask(service, key, citizen, kind="jobs", k=5).json()["suggestions"]
    a, b = listed[0]["item_id"], listed[4]["item_id"]
    token = mint_token(citizen_id=citizen, key=key)
    response = service.post("/compare", json={"kind": "jobs", "citizen_id": citizen, "item_a": a, "item_b": b, "k": 5},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert abs(body["item_a"]["score"] - listed[0]["score"]) <= 1e-6
    assert abs(sum(part["difference"] for part in body["differences"]) - body["score_difference"]) <= 1e-6
    assert body["score_difference"] >= 0 and body["a_above_b"] is True and body["order_set_by"] == "score"
    assert (body["item_a"]["rank"], body["item_b"]["rank"]) == (1, 5)
    assert body["summary"].startswith(listed[0]["title"])
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
    assert all(served["serving_since"] for served in body["models"].values()) and body["withdrawn"] == {}
    assert body["registry"]["reachable"] is True and body["registry"]["checked_at"]
    document = service.get("/docs.json").json()
    assert document["openapi"] == "3.1.0"
    for path in ("/suggestions", "/compare", "/metadata", "/me", "/me/opt-out", "/admin/reload", "/auth/config",
                 "/me/shares", "/me/shares/{grant_id}", "/partner/profiles/{share}", "/register", "/register.html"):
        assert path in document["paths"], path
    text = json.dumps(document)
    for name in ("SuggestionResponse", "CompareResponse", "explanation", "readiness", "moved_by"):
        assert name in text, name
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") and not path.endswith(("z", "metrics")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
    request = document["components"]["schemas"]["SuggestionRequest"]
    assert request["additionalProperties"] is False and len(request["oneOf"]) == 2
    choice = document["paths"]["/me/opt-out"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert choice["properties"]["opted_out"]["type"] == "boolean" and choice["additionalProperties"] is False
    assert set(document["paths"]["/compare"]["post"]["responses"]) == {"200", "400", "401", "403", "404", "409",
                                                                       "413", "422", "503"}


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
    from serving.core import ServiceCore

    core = ServiceCore(settings=Settings(home=service_home, allow_challenger=True))

    def unreachable(settings):
        raise ConnectionError("registry down")

    monkeypatch.setattr("serving.served_models.tracking.configure", unreachable)
    assert core.served_models.reload() == {}
    metadata = core.metadata()
    assert metadata.registry.reachable is False and set(metadata.models) == set(KINDS)
    citizen = _citizen(citizens)
    response = core.suggestions(schemas.SuggestionRequest(kind="careers", citizen_id=citizen, k=3),
                                authorization=f"Bearer {mint_token(citizen_id=citizen, key=key)}")
    assert len(response.suggestions) == 3


def test_a_site_request_that_reads_a_table_the_register_does_not_declare_is_refused(service_home: Path, citizens, key,
                                                                                      monkeypatch) -> None:
    from dataclasses import replace

    from features.reads import UndeclaredRead
    from features.register import PROCESSINGS, SUGGESTIONS
    from serving.core import ServiceCore
    from serving.service import _on_the_site

    core = ServiceCore(settings=Settings(home=service_home, allow_challenger=True))
    citizen = _citizen(citizens)
    token = f"Bearer {mint_token(citizen_id=citizen, key=key)}"
    try:
        assert _on_the_site(core.me.career_data, authorization=token).citizen_id == citizen
        declared = PROCESSINGS[SUGGESTIONS]
        monkeypatch.setitem(PROCESSINGS, SUGGESTIONS, replace(declared, reads=declared.reads - {"vault.feedback"}))
        with pytest.raises(UndeclaredRead, match="vault.feedback"):
            _on_the_site(core.me.career_data, authorization=token)
    finally:
        core.close()


def test_precomputed_lists_come_from_the_newest_batch_of_the_served_model(service, service_home, citizens,
                                                                         key) -> None:
    from models.batch_run import run_batch

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


def _higher_below(items: list[dict], index: int) -> bool:
    return any(later["score"] > items[index]["score"] + TIE for later in items[index + 1:])


def test_every_card_the_guarantee_moved_says_so(service, citizens, key) -> None:
    """In the mitigated careers champion's lists, a card with a better-scored card below it was moved up by the
    guarantee and says which and why; the plain jobs champion orders by score and moves nothing."""
    moved = 0
    for citizen in citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[:15]:
        for kind in ("careers", "jobs"):
            for language in ("nl", "en"):
                items = _ask(service, key, int(citizen), kind=kind, k=10, language=language).json()["suggestions"]
                for index, item in enumerate(items):
                    if kind == "jobs":
                        assert item["moved_by"] == [] and item["moved_reason"] is None and not _higher_below(items, index)
                        continue
                    if _higher_below(items, index):
                        assert item["moved_by"], (citizen, index)
                    assert bool(item["moved_by"]) is (item["moved_reason"] is not None)
                    if item["moved_by"]:
                        assert item["moved_reason"].startswith("opgeschoven" if language == "nl" else "moved up")
                        assert set(item["moved_by"]) <= {"good", "ready"}
                        moved += language == "nl"
    assert moved > 10  # the guarantee moved cards, so the checks above are not vacuous


def test_compare_never_contradicts_the_displayed_order(service, citizens, key) -> None:
    """200 pairs of cards of the mitigated careers champion: /compare names the order the list shows, says where the
    guarantee set it, and never explains the order by scores where the scores say the opposite."""
    rng = np.random.default_rng(3)
    pool = citizens.loc[~citizens["ai_opt_out"], "citizen_id"].to_numpy()
    pairs = by_guarantee = 0
    for citizen in rng.choice(pool, size=20, replace=False):
        citizen = int(citizen)
        token = {"Authorization": f"Bearer {mint_token(citizen_id=citizen, key=key)}"}
        language = "nl" if citizen % 2 else "en"
        items = _ask(service, key, citizen, kind="careers", k=10, language=language).json()["suggestions"]
        for _ in range(10):
            first, second = rng.choice(len(items), size=2, replace=False)
            a, b = items[first], items[second]
            response = service.post("/compare", headers=token, json={
                "kind": "careers", "citizen_id": citizen, "item_a": a["item_id"], "item_b": b["item_id"], "k": 10,
                "language": language})
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["item_a"]["rank"], body["item_b"]["rank"]) == (a["rank"], b["rank"])
            assert body["a_above_b"] is (a["rank"] < b["rank"])
            assert body["item_a"]["score"] == pytest.approx(a["score"], abs=1e-9)
            assert body["item_b"]["score"] == pytest.approx(b["score"], abs=1e-9)
            upper, lower = (a, b) if a["rank"] < b["rank"] else (b, a)
            assert body["summary"].startswith(upper["title"])
            if upper["score"] < lower["score"] - TIE:
                by_guarantee += 1
                assert body["order_set_by"] == "guarantee" and upper["moved_by"]
                assert upper["moved_reason"] in body["summary"]
            else:
                assert body["order_set_by"] == "score"
            pairs += 1
    assert pairs == 200 and by_guarantee >= 10, by_guarantee  # some orders were the guarantee's


def test_an_opt_out_on_the_site_reaches_the_nightly_batch(service, service_home, citizens, key) -> None:
    """A citizen switches AI off on the site: the batch stores nothing for them and precomputed answers are the
    general list; back on, there is no nightly list of them, so theirs is computed now."""
    from models.batch_run import run_batch
    from models.batch_read import read_partitions

    citizen = int(citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[21])
    token = {"Authorization": f"Bearer {mint_token(citizen_id=citizen, key=key)}"}
    assert service.put("/me/opt-out", json={"opted_out": True}, headers=token).json() == {"opted_out": True}
    try:
        result = run_batch("careers", store=PopulationStore(service_home / "data" / "population"),
                           settings=Settings(home=service_home), progress=False)
        assert result.info.model_version == "2"
        stored = np.concatenate([table["citizen_id"].to_numpy() for table in
                                 read_partitions(result.info, columns=["citizen_id"])])
        assert citizen not in stored and len(np.unique(stored)) == result.info.citizens
        general = _ask(service, key, citizen, kind="careers", precomputed=True).json()
        assert general["personalised"] is False and general["batch"] is None and "AI" in general["notice"]
        other = int(citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[22])
        stored_list = _ask(service, key, other, kind="careers", k=10, precomputed=True).json()
        live = _ask(service, key, other, kind="careers", k=10).json()
        assert stored_list["batch"] is not None, stored_list["notice"]
        assert stored_list["batch"]["batch_id"] == result.info.batch_id
        assert [(item["item_id"], item["moved_by"], item["moved_reason"]) for item in stored_list["suggestions"]] == \
            [(item["item_id"], item["moved_by"], item["moved_reason"]) for item in live["suggestions"]]
        other_token = {"Authorization": f"Bearer {mint_token(citizen_id=other, key=key)}"}
        missing = next(competency["id"] for item in live["suggestions"] for competency in item["missing_competencies"])
        revision = service.get("/me", headers=other_token).json()["revision"]
        added = service.post("/me/competencies", json={"competency_id": missing, "revision": revision},
                             headers=other_token)
        assert added.status_code == 201, added.text
        edited = _ask(service, key, other, kind="careers", k=10, precomputed=True).json()
        assert edited["batch"] is None and "zelf aan" in edited["notice"], "the snapshot has not seen the edit"
        removed = service.delete(f"/me/entries/{added.json()['entry_id']}",
                                 params={"revision": added.json()["revision"]}, headers=other_token)
        assert removed.status_code == 200, removed.text
    finally:
        assert service.put("/me/opt-out", json={"opted_out": False}, headers=token).json() == {"opted_out": False}
    back = _ask(service, key, citizen, kind="careers", precomputed=True).json()
    assert back["personalised"] is True and back["batch"] is None and "nu berekend" in back["notice"]
