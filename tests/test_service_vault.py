"""The real service on the vault: the citizen adds to and removes from their career data, the answer says what
changed and agrees with the recourse panel and with "what if"; feedback keeps an item away; "why not"; the search
endpoints and the cold start through the search; every refusal a 4xx with the documented body."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.population import PopulationStore
from serving import schemas
from serving.auth import mint_token
from tests.conftest import audit_records

pytestmark = pytest.mark.slow  # starts the real service

FIRST = 120  # citizens from here on are this module's own (test_service and test_site use the first ones)


def _own(citizens: pd.DataFrame, offset: int, *, opted_out: bool = False) -> int:
    ids = citizens.loc[citizens["ai_opt_out"] == opted_out, "citizen_id"]
    return int(ids.iloc[(FIRST if not opted_out else 20) + offset])


def _auth(key: bytes, citizen: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(citizen_id=citizen, key=key)}"}


def _me(service: httpx.Client, key: bytes, citizen: int) -> dict:
    response = service.get("/me", headers=_auth(key, citizen))
    assert response.status_code == 200, response.text
    return schemas.CareerDataResponse.model_validate(response.json()).model_dump()


def _listed(service: httpx.Client, key: bytes, citizen: int, kind: str = "jobs", k: int = 10) -> list[dict]:
    response = service.post("/suggestions", json={"kind": kind, "citizen_id": citizen, "k": k},
                            headers=_auth(key, citizen))
    assert response.status_code == 200, response.text
    return response.json()["suggestions"]


def _panel(service: httpx.Client, key: bytes, citizen: int, kind: str = "jobs") -> dict:
    response = service.get("/me/recourse", params={"kind": kind, "limit": 5}, headers=_auth(key, citizen))
    assert response.status_code == 200, response.text
    return schemas.RecoursePanelResponse.model_validate(response.json()).model_dump()


def _refused(response: httpx.Response, status: int, message: str) -> schemas.ErrorResponse:
    assert response.status_code == status, response.text
    error = schemas.ErrorResponse.model_validate(response.json())
    assert message in error.error + " ".join(".".join(map(str, part.location)) for part in error.details), error
    assert "Traceback" not in response.text
    return error


def _with_unlock(service: httpx.Client, key: bytes, citizens: pd.DataFrame, *, start: int) -> tuple[int, dict]:
    """A citizen of this module whose recourse panel names a competency that makes vacancies ready."""
    for offset in range(start, start + 40):
        citizen = _own(citizens, offset)
        unlocks = [unlock for unlock in _panel(service, key, citizen)["unlocks"] if unlock["items"] > 0]
        if unlocks:
            return citizen, unlocks[0]
    pytest.fail("no citizen's recourse panel opens up a vacancy")


def _unheld(service: httpx.Client, key: bytes, citizen: int) -> str:
    """A competency of the taxonomy the citizen does not hold."""
    from features.esco import load_esco

    held = {competency["id"] for competency in _me(service, key, citizen)["competencies"]}
    return next(uri for uri in load_esco().competencies["uri"] if uri not in held)


def test_adding_a_competency_recomputes_the_list_as_the_panel_promised_and_removing_restores_it(
        service, citizens, key, service_home) -> None:
    citizen, unlock = _with_unlock(service, key, citizens, start=0)
    competency = unlock["competency"]
    before_list, before = _listed(service, key, citizen), _me(service, key, citizen)

    added = service.post("/me/competencies", json={"competency_id": competency["id"], "revision": before["revision"],
                                                   "kind": "jobs", "k": 10}, headers=_auth(key, citizen))
    assert added.status_code == 201, added.text
    body = schemas.ChangeResponse.model_validate(added.json())
    jobs = body.change.kinds["jobs"]
    assert jobs.newly_ready == unlock["items"], "the panel's figure is exactly what learning it makes ready"
    assert jobs.ready_after - jobs.ready_before == jobs.newly_ready - jobs.no_longer_ready
    assert f"{unlock['items']} vacature" in body.change.summary and competency["label"] in body.change.summary
    assert body.revision == before["revision"] + 1
    assert [item.model_dump(mode="json") for item in body.suggestions.suggestions] == _listed(service, key, citizen), \
        "the answer's list is the list /suggestions gives now"

    after = _me(service, key, citizen)
    [entry] = [entry for entry in after["entries"] if entry["competency_id"] == competency["id"]]
    assert entry["type"] == "competency" and entry["label"] == competency["label"]
    [held] = [held for held in after["competencies"] if held["id"] == competency["id"]]
    assert "self-declared" in {source["source"] for source in held["sources"]}
    assert competency["id"] not in {unlock["competency"]["id"] for unlock in _panel(service, key, citizen)["unlocks"]}

    removed = service.delete(f"/me/entries/{entry['entry_id']}", params={"revision": after["revision"]},
                             headers=_auth(key, citizen))
    assert removed.status_code == 200, removed.text
    undone = schemas.ChangeResponse.model_validate(removed.json())
    assert undone.change.kinds["jobs"].no_longer_ready == unlock["items"]
    assert [item.model_dump(mode="json") for item in undone.suggestions.suggestions] == before_list
    assert _listed(service, key, citizen) == before_list
    assert _me(service, key, citizen)["entries"] == before["entries"]

    lines = {line["request_id"]: line for line in audit_records(service_home)}
    for response, status, endpoint in ((added, 201, "add_competency"), (removed, 200, "remove_entry")):
        request_id = response.headers["x-request-id"]
        assert sum(line == request_id for line in lines) == 1
        assert lines[request_id]["status"] == status and lines[request_id]["endpoint"] == endpoint


def test_what_if_gives_the_new_list_and_stores_nothing(service, citizens, key) -> None:
    citizen, unlock = _with_unlock(service, key, citizens, start=40)
    before = _me(service, key, citizen)
    response = service.post("/what-if", json={"kind": "jobs", "citizen_id": citizen, "k": 10,
                                              "learn": [unlock["competency"]["id"]]}, headers=_auth(key, citizen))
    assert response.status_code == 200, response.text
    answer = schemas.WhatIfResponse.model_validate(response.json())
    assert answer.change.kinds["jobs"].newly_ready == unlock["items"]
    assert answer.change.kinds["jobs"].no_longer_ready == 0
    for item in answer.suggestions.suggestions:
        assert item.score == pytest.approx(item.explanation.base_value + sum(
            part.contribution for part in item.explanation.contributions), abs=1e-6)
        if item.readiness in ("bridgeable", "stretch") and item.recourse is not None:
            assert unlock["competency"]["id"] not in {competency.id for competency in item.recourse.learn}
    assert _me(service, key, citizen) == before, "a what-if stores nothing"
    _refused(service.post("/what-if", json={"kind": "jobs", "citizen_id": citizen, "learn": ["urn:unknown"]},
                          headers=_auth(key, citizen)), 422, "urn:unknown")
    _refused(service.post("/what-if", json={"kind": "jobs", "citizen_id": citizen, "learn": []},
                          headers=_auth(key, citizen)), 400, "learn")


def test_records_are_self_declared_dated_and_removable(service, citizens, key, service_home) -> None:
    citizen = _own(citizens, 80)
    store = PopulationStore(service_home / "data" / "population")
    training = str(int(store.table("trainings")["training_id"].iloc[0]))
    diploma = str(int(store.table("diploma_catalogue")["diploma_id"].iloc[0]))
    revision = _me(service, key, citizen)["revision"]
    records = [{"type": "course", "training_id": training, "date": "2020-05-01"},
               {"type": "diploma", "diploma_id": diploma, "date": "2015-06-30"},
               {"type": "test", "name": "Oriëntatietest", "competency_id": _unheld(service, key, citizen),
                "proficiency": 3}]
    for record in records:
        response = service.post("/me/records", json={"record": record, "revision": revision, "kind": "careers"},
                                headers=_auth(key, citizen))
        assert response.status_code == 201, response.text
        body = schemas.ChangeResponse.model_validate(response.json())
        assert body.suggestions.kind == "careers" and body.revision == revision + 1
        revision = body.revision
    entries = _me(service, key, citizen)["entries"]
    assert [entry["type"] for entry in entries][-len(records):] == [record["type"] for record in records]
    assert entries[-len(records)]["date"] == "2020-05-01" and entries[-len(records)]["training_id"] == training
    _refused(service.post("/me/records", json={"record": records[0], "revision": revision},
                          headers=_auth(key, citizen)), 409, "already in your career data")
    for entry in entries[-len(records):]:
        response = service.delete(f"/me/entries/{entry['entry_id']}", params={"revision": revision},
                                  headers=_auth(key, citizen))
        assert response.status_code == 200, response.text
        revision = response.json()["revision"]
    assert len(_me(service, key, citizen)["entries"]) == len(entries) - len(records)


BAD_EDITS = [
    ({"competency_id": "urn:unknown"}, 422, "unknown competency id"),
    ({"date": "2999-01-01"}, 422, "after today"),
    ({"date": "1900-01-01"}, 422, "before"),
    ({"date": "1-1-2020"}, 400, "YYYY-MM-DD"),
    ({"date": None}, 400, "date"),
    ({"revision": -1}, 400, "revision"),
    ({"revision": "1"}, 400, "revision"),
    ({"k": 0}, 400, "k"),
    ({"kind": "pets"}, 400, "kind"),
    ({"colour": "red"}, 400, "colour"),
    ({"competency_id": "x" * 301}, 400, "competency_id"),
]


@pytest.mark.parametrize(("change", "status", "message"), BAD_EDITS)
def test_bad_edits_get_a_4xx_and_change_nothing(change, status, message, service, citizens, key) -> None:
    citizen = _own(citizens, 90)
    before = _me(service, key, citizen)
    competency = before["competencies"][0]["id"] if before["competencies"] else "urn:unknown"
    body = {"competency_id": competency, "revision": before["revision"], **change}
    _refused(service.post("/me/competencies", json=body, headers=_auth(key, citizen)), status, message)
    assert _me(service, key, citizen) == before


def test_two_windows_editing_at_once_one_saves_the_other_gets_409(service, citizens, key) -> None:
    citizen, unlock = _with_unlock(service, key, citizens, start=100)
    before = _me(service, key, citizen)
    first = service.post("/me/competencies", json={"competency_id": unlock["competency"]["id"],
                                                   "revision": before["revision"]}, headers=_auth(key, citizen))
    assert first.status_code == 201, first.text
    stale = service.post("/me/competencies", json={"competency_id": unlock["competency"]["id"],
                                                   "revision": before["revision"]}, headers=_auth(key, citizen))
    error = _refused(stale, 409, "nothing was saved")
    assert error.revision == before["revision"] + 1
    duplicate = service.post("/me/competencies", json={"competency_id": unlock["competency"]["id"],
                                                       "revision": error.revision}, headers=_auth(key, citizen))
    _refused(duplicate, 409, "already added")
    entries = _me(service, key, citizen)["entries"]
    assert len(entries) == len(before["entries"]) + 1
    removed = service.delete(f"/me/entries/{entries[-1]['entry_id']}", params={"revision": error.revision},
                             headers=_auth(key, citizen))
    assert removed.status_code == 200, removed.text
    _refused(service.delete(f"/me/entries/{entries[-1]['entry_id']}", params={"revision": removed.json()["revision"]},
                            headers=_auth(key, citizen)), 422, "not in your career data")


def test_the_edits_need_the_citizens_own_token(service, citizens, key) -> None:
    citizen = _own(citizens, 95)
    body = {"competency_id": "urn:unknown", "revision": 0}
    _refused(service.post("/me/competencies", json=body), 401, "")
    _refused(service.post("/me/competencies", json=body, headers={"Authorization": "Bearer nonsense"}), 401, "")
    _refused(service.delete("/me/entries/1", params={"revision": 0}), 401, "")
    _refused(service.get("/me/recourse"), 401, "")
    _refused(service.post("/me/feedback", json={"kind": "jobs", "item_id": "1", "reason": "too_far"}), 401, "")
    _refused(service.get("/me/recourse", params={"kind": "trainings"}, headers=_auth(key, citizen)), 400, "kind")
    _refused(service.get("/me/recourse", params={"limit": 0}, headers=_auth(key, citizen)), 400, "limit")
    _refused(service.delete("/me/entries/0", params={"revision": 0}, headers=_auth(key, citizen)), 400, "entry_id")


def test_an_opted_out_citizen_can_edit_but_nothing_personal_is_computed(service, citizens, key) -> None:
    citizen = _own(citizens, 0, opted_out=True)
    before = _me(service, key, citizen)
    assert before["opted_out"]
    assert all(item["readiness"] is None for item in _listed(service, key, citizen))  # a general list
    panel = service.get("/me/recourse", headers=_auth(key, citizen))
    _refused(panel, 409, "opted out")
    added = service.post("/me/competencies", json={"competency_id": _unheld(service, key, citizen),
                                                   "revision": before["revision"]}, headers=_auth(key, citizen))
    assert added.status_code == 201, added.text
    body = schemas.ChangeResponse.model_validate(added.json())
    assert body.change.kinds == {} and "niets persoonlijks" in body.change.summary
    assert body.suggestions.personalised is False


def test_feedback_keeps_an_item_away_and_why_not_says_so(service, citizens, key) -> None:
    citizen = _own(citizens, 140)
    listed = _listed(service, key, citizen, k=5)
    top = listed[0]["item_id"]
    given = service.post("/me/feedback", json={"kind": "jobs", "item_id": top, "reason": "too_far", "note": "te ver"},
                         headers=_auth(key, citizen))
    assert given.status_code == 201, given.text
    assert schemas.FeedbackOut.model_validate(given.json()).title == listed[0]["title"]
    now = _listed(service, key, citizen, k=5)
    assert top not in {item["item_id"] for item in now}
    assert [item["item_id"] for item in now[:4]] == [item["item_id"] for item in listed[1:]], "the rest moves up"
    _refused(service.post("/me/feedback", json={"kind": "jobs", "item_id": top, "reason": "other"},
                          headers=_auth(key, citizen)), 409, "already said")
    _refused(service.post("/me/feedback", json={"kind": "jobs", "item_id": "00" + top, "reason": "other"},
                          headers=_auth(key, citizen)), 409, "already said")  # "0012" is item 12, said already
    _refused(service.post("/me/feedback", json={"kind": "jobs", "item_id": "no-such-item", "reason": "other"},
                          headers=_auth(key, citizen)), 404, "not in the jobs catalogue")
    _refused(service.post("/me/feedback", json={"kind": "jobs", "item_id": top, "reason": "boring"},
                          headers=_auth(key, citizen)), 400, "reason")
    why = service.post("/why-not", json={"kind": "jobs", "citizen_id": citizen, "item_id": top, "k": 5},
                       headers=_auth(key, citizen))
    assert why.status_code == 200, why.text
    answer = schemas.WhyNotResponse.model_validate(why.json())
    assert answer.dismissed and not answer.in_list
    assert [entry["item_id"] for entry in _me(service, key, citizen)["feedback"]] == [top]

    back = service.delete("/me/feedback", params={"kind": "jobs", "item_id": top}, headers=_auth(key, citizen))
    assert back.status_code == 200 and back.json()["feedback"] == []
    assert _listed(service, key, citizen, k=5) == listed
    _refused(service.delete("/me/feedback", params={"kind": "jobs", "item_id": top}, headers=_auth(key, citizen)),
             422, "no feedback")


def test_a_revision_or_entry_id_beyond_the_vaults_integers_is_refused_as_malformed(service, citizens, key) -> None:
    citizen = _own(citizens, 0)
    huge = 10**20
    _refused(service.post("/me/competencies", json={"competency_id": "http://data.europa.eu/esco/skill/x",
                                                    "revision": huge}, headers=_auth(key, citizen)), 400, "revision")
    _refused(service.delete(f"/me/entries/{huge}", params={"revision": 0}, headers=_auth(key, citizen)), 400,
             "entry_id")
    _refused(service.delete("/me/entries/1", params={"revision": huge}, headers=_auth(key, citizen)), 400,
             "revision")


def test_why_not_gives_the_rank_and_the_contributions_that_separate_it(service, citizens, key) -> None:
    citizen = _own(citizens, 150)
    deep = _listed(service, key, citizen, k=30)
    shown, picked = deep[:10], deep[20]
    response = service.post("/why-not", json={"kind": "jobs", "citizen_id": citizen, "item_id": picked["item_id"],
                                              "k": 10}, headers=_auth(key, citizen))
    assert response.status_code == 200, response.text
    answer = schemas.WhyNotResponse.model_validate(response.json())
    assert not answer.in_list and not answer.dismissed
    assert answer.item.rank == picked["rank"] == 21
    assert answer.last_shown.item_id == shown[-1]["item_id"]
    assert answer.score_difference == pytest.approx(picked["score"] - shown[-1]["score"], abs=1e-6)
    assert sum(part.difference for part in answer.differences) == pytest.approx(answer.score_difference, abs=1e-6)
    inside = service.post("/why-not", json={"kind": "jobs", "citizen_id": citizen, "item_id": shown[2]["item_id"],
                                            "k": 10}, headers=_auth(key, citizen)).json()
    assert inside["in_list"] and inside["item"]["rank"] == 3
    _refused(service.post("/why-not", json={"kind": "jobs", "citizen_id": citizen, "item_id": "nope"},
                          headers=_auth(key, citizen)), 404, "not in the jobs catalogue")
    _refused(service.post("/why-not", json={"kind": "jobs", "citizen_id": citizen + 1, "item_id": "1"},
                          headers=_auth(key, citizen)), 403, "only its own")


@pytest.mark.parametrize("kind", ["competencies", "occupations"])
def test_search_follows_the_contract(kind, service) -> None:
    query = {"competencies": "heftruck", "occupations": "lasser"}[kind]
    response = service.get(f"/search/{kind}", params={"query": query, "k": 5})
    assert response.status_code == 200, response.text
    found = schemas.SearchResponse.model_validate(response.json())
    assert found.kind == kind and found.language == "nl" and [hit.rank for hit in found.hits] == [1, 2, 3, 4, 5]
    assert all(hit.id.startswith("http://data.europa.eu/esco/") for hit in found.hits)
    assert [hit.score for hit in found.hits] == sorted((hit.score for hit in found.hits), reverse=True)
    english = schemas.SearchResponse.model_validate(
        service.get(f"/search/{kind}", params={"query": query, "k": 5, "language": "en"}).json())
    assert english.language == "en" and {hit.label_lang for hit in english.hits} == {"en"}


BAD_SEARCHES = [
    ({}, 400, "query"),
    ({"query": ""}, 400, "query"),
    ({"query": "?!"}, 422, ""),
    ({"query": "x" * 301}, 400, "query"),
    ({"query": "lasser", "k": 0}, 400, "k"),
    ({"query": "lasser", "k": 51}, 400, "k"),
    ({"query": "lasser", "k": "ten"}, 400, "k"),
    ({"query": "lasser", "language": "fr"}, 400, "language"),
]


@pytest.mark.parametrize(("params", "status", "message"), BAD_SEARCHES)
@pytest.mark.parametrize("kind", ["competencies", "occupations"])
def test_bad_searches_get_a_4xx(kind, params, status, message, service) -> None:
    _refused(service.get(f"/search/{kind}", params=params), status, message)


def test_the_cold_start_reads_the_job_title_through_the_search(service) -> None:
    title = "vrachtwagenchauffeur"
    [top] = service.get("/search/occupations", params={"query": title, "k": 1}).json()["hits"]
    response = service.post("/suggestions", json={"kind": "careers", "job_title": title, "k": 5})
    assert response.status_code == 200, response.text
    assert response.json()["matched_occupation"] == top["id"]


def test_the_openapi_document_names_the_new_endpoints(service) -> None:
    paths = service.get("/docs.json").json()["paths"]
    for path, method in (("/me/competencies", "post"), ("/me/records", "post"), ("/me/entries/{entry_id}", "delete"),
                         ("/me/feedback", "post"), ("/me/feedback", "delete"), ("/me/recourse", "get"),
                         ("/what-if", "post"), ("/why-not", "post"), ("/search/competencies", "get"),
                         ("/search/occupations", "get"), ("/catalogue/diplomas", "get")):
        operation = paths[path][method]
        assert operation.get("description") or operation.get("summary"), path
        assert any(status.startswith("4") for status in operation["responses"]), path
