"""Sharing by the citizen's decision (features/sharing.py): every check on a grant, every refusal of a partner's call,
and that a partner gets exactly the granted parts — pseudonymised where the grant says so — with a record of every
call that never holds the citizen id."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from features import sharing
from features.career_data import CareerData
from features.sharing import (
    COMPETENCY_PROFILE,
    CONTACT_WISH,
    DIPLOMAS_AND_TRAININGS,
    MAX_PERIOD_DAYS,
    PARTS,
    WORK_HISTORY,
    AccessRefused,
    ContactWish,
    Partner,
    ShareError,
    disclose,
    new_grant,
    partners_from_clients,
    revoke,
)
from tests.conftest import PROJECT_ROOT

CITIZEN = 987_654_321  # distinctive: a test looks for it in everything a partner or a record gets
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
EMPLOYER = Partner(partner_id="partner-werkgever-demo", kind=sharing.EMPLOYER, name="Demo-werkgever")
HR = Partner(partner_id="partner-hr-demo", kind=sharing.HR_INTERMEDIARY, name="Demo-HR-bemiddelaar")
TRAINER = Partner(partner_id="partner-opleiding-demo", kind=sharing.TRAINING_PROVIDER, name="Demo-opleiding")
EMAIL = ContactWish(channel=sharing.EMAIL, name="An Peeters", address="an.peeters@example.be", note="liefst 's avonds")
VIA_SERVICE = ContactWish(channel=sharing.VIA_SERVICE, note="via mijn consulent")


def career(citizen_id: int = CITIZEN) -> CareerData:
    """Career data shaped as features.career_data builds it, with fields a partner must never see."""
    return CareerData(
        citizen_id=citizen_id,
        circumstances={"municipality": "Ninove", "care_duties": True, "status": "job_seeker"},
        work=[{"occupation_id": "http://data.europa.eu/esco/occupation/welder", "occupation": "lasser",
               "start": "2016-04-11", "end": "2021-09-30", "part_time": False, "employer_id": 4_242_424}],
        diplomas=[{"diploma_id": 31, "title": "Se-n-Se lastechnieken", "level": "secondary", "obtained": "2015-06-28"}],
        trainings=[{"training_id": 77, "title": "Heftruck besturen", "completed": "2023-02-17"}],
        competencies=[
            {"id": "http://data.europa.eu/esco/skill/weld", "label": "lassen", "sources": [
                {"source": "work", "reference": "lasser", "date": "2021-09-30", "proficiency": 3},
                {"source": "diploma", "reference": "Se-n-Se lastechnieken", "date": "2015-06-28", "proficiency": 2}]},
            {"id": "http://data.europa.eu/esco/skill/forklift", "label": "heftruck besturen", "sources": [
                {"source": "training", "reference": "Heftruck besturen", "date": "2023-02-17", "proficiency": 2}]},
            {"id": "http://data.europa.eu/esco/skill/english", "label": "Engels", "sources": [
                {"source": "self-declared", "reference": "zelf opgegeven", "date": "2024-11-05",
                 "proficiency": None}]},
        ])


def grant(partner: Partner = HR, **overrides):
    fields = {"citizen_id": CITIZEN, "partner": partner, "parts": [COMPETENCY_PROFILE, WORK_HISTORY],
              "purpose": sharing.JOB_MEDIATION, "start": NOW, "end": NOW + timedelta(days=30), "pseudonymised": False,
              "now": NOW}
    if partner.kind == sharing.EMPLOYER:
        fields |= {"purpose": sharing.APPLY_FOR_VACANCY, "vacancy_id": 1234}
    if partner.kind == sharing.TRAINING_PROVIDER:
        fields |= {"purpose": sharing.TRAINING_ENROLMENT}
    return new_grant(**{**fields, **overrides})


def everything_text(*values) -> str:
    return json.dumps([value.as_json() for value in values], default=str)


# --- making a grant --------------------------------------------------------------------------------------------


def test_a_grant_holds_the_citizens_choice_with_fresh_random_ids() -> None:
    first = grant(parts=[WORK_HISTORY, COMPETENCY_PROFILE, WORK_HISTORY], purpose_text="  voor de job in Aalst ")
    second = grant()
    assert first.parts == (COMPETENCY_PROFILE, WORK_HISTORY)  # the canonical order, once each
    assert first.purpose_text == "voor de job in Aalst"
    assert first.partner_kind == sharing.HR_INTERMEDIARY and first.created == NOW and first.revoked is None
    assert len({first.grant_id, first.pseudonym, second.grant_id, second.pseudonym}) == 4
    assert str(CITIZEN) not in first.pseudonym + first.grant_id
    assert first.state(NOW) == sharing.ACTIVE


def test_times_are_kept_in_utc() -> None:
    made = grant(start=NOW.astimezone(ZoneInfo("Europe/Brussels")))
    assert made.start == NOW and made.start.tzinfo is UTC


@pytest.mark.parametrize(("overrides", "code"), [
    ({"parts": ["competency_profile", "salary"]}, sharing.UNKNOWN_PART),
    ({"parts": []}, sharing.NO_PARTS),
    ({"purpose": "marketing"}, sharing.UNKNOWN_PURPOSE),
    ({"purpose": sharing.TRAINING_ENROLMENT}, sharing.PURPOSE_NOT_FOR_PARTNER),
    ({"purpose_text": "x" * (sharing.MAX_PURPOSE_TEXT + 1)}, sharing.BAD_TEXT),
    ({"purpose_text": "regel\x00twee"}, sharing.BAD_TEXT),
    ({"start": NOW.replace(tzinfo=None)}, sharing.NAIVE_TIME),
    ({"now": NOW.replace(tzinfo=None)}, sharing.NAIVE_TIME),
    ({"end": NOW - timedelta(days=1)}, sharing.EMPTY_PERIOD),
    ({"start": NOW - timedelta(days=40), "end": NOW - timedelta(days=10)}, sharing.PERIOD_IN_PAST),
    ({"start": NOW - timedelta(days=2)}, sharing.STARTS_IN_PAST),
    ({"end": NOW + timedelta(days=MAX_PERIOD_DAYS, seconds=1)}, sharing.PERIOD_TOO_LONG),
    ({"vacancy_id": 1234}, sharing.VACANCY_NOT_FOR_PARTNER),
    ({"parts": [CONTACT_WISH]}, sharing.CONTACT_NEEDED),
    ({"contact": VIA_SERVICE}, sharing.CONTACT_NOT_SHARED),
    ({"parts": [CONTACT_WISH], "contact": EMAIL, "pseudonymised": True}, sharing.CONTACT_NOT_PSEUDONYMOUS),
    ({"parts": [CONTACT_WISH], "contact": ContactWish(channel=sharing.VIA_SERVICE, name="An"), "pseudonymised": True},
     sharing.CONTACT_NOT_PSEUDONYMOUS),
])
def test_a_grant_that_cannot_be_made_as_asked_is_refused_with_its_code(overrides: dict, code: str) -> None:
    with pytest.raises(ShareError) as raised:
        grant(**overrides)
    assert raised.value.code == code
    assert str(raised.value)  # a message a person can act on


def test_the_longest_period_and_a_start_a_moment_ago_are_allowed() -> None:
    longest = grant(end=NOW + timedelta(days=MAX_PERIOD_DAYS))
    just_now = grant(start=NOW - sharing.START_GRACE, end=NOW + timedelta(days=1))
    assert longest.end - longest.start == timedelta(days=MAX_PERIOD_DAYS)
    assert just_now.state(NOW) == sharing.ACTIVE


def test_a_share_with_an_employer_is_for_one_vacancy() -> None:
    with pytest.raises(ShareError) as raised:
        grant(EMPLOYER, vacancy_id=None)
    assert raised.value.code == sharing.VACANCY_NEEDED
    assert grant(EMPLOYER).vacancy_id == 1234


@pytest.mark.parametrize("fields", [
    {"channel": "pigeon"},
    {"channel": sharing.EMAIL, "address": "an.peeters"},
    {"channel": sharing.EMAIL},
    {"channel": sharing.PHONE, "address": "0470 12"},
    {"channel": sharing.VIA_SERVICE, "address": "an@example.be"},
])
def test_an_unusable_contact_wish_is_refused(fields: dict) -> None:
    with pytest.raises(ShareError) as raised:
        ContactWish(**fields)
    assert raised.value.code == sharing.BAD_CONTACT


def test_an_unknown_kind_of_partner_is_refused() -> None:
    with pytest.raises(ShareError) as raised:
        Partner(partner_id="partner-x", kind="data_broker", name="X")
    assert raised.value.code == sharing.UNKNOWN_PARTNER_KIND


def test_a_stored_grant_is_checked_again_when_loaded() -> None:
    made = grant()
    with pytest.raises(ShareError) as raised:
        sharing.Grant(**{**made.__dict__, "parts": ("salary",)})
    assert raised.value.code == sharing.UNKNOWN_PART
    old = sharing.Grant(**{**made.__dict__, "start": NOW - timedelta(days=400), "end": NOW - timedelta(days=300)})
    assert old.state(NOW) == sharing.EXPIRED  # a past period is fine once decided; only new_grant refuses it


def test_the_partners_come_from_the_providers_client_registry() -> None:
    document = json.loads((PROJECT_ROOT / "oidc" / "clients.json").read_text(encoding="utf-8"))
    partners = partners_from_clients(document)
    assert {partner.kind for partner in partners.values()} == set(sharing.PARTNER_KINDS)
    assert partners["partner-werkgever-demo"].kind == sharing.EMPLOYER
    for broken in ({}, {"partners": [{"client_id": "a"}]},
                   {"partners": [{"client_id": "a", "client_name": "A", "kind": "employer"}] * 2}):
        with pytest.raises(ShareError) as raised:
            partners_from_clients(broken)
        assert raised.value.code == sharing.BAD_PARTNERS


# --- what a partner gets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("parts", [[COMPETENCY_PROFILE], [WORK_HISTORY], [DIPLOMAS_AND_TRAININGS],
                                   [WORK_HISTORY, DIPLOMAS_AND_TRAININGS], list(PARTS)])
def test_a_partner_gets_exactly_the_granted_parts(parts: list[str]) -> None:
    made = grant(parts=parts, contact=EMAIL if CONTACT_WISH in parts else None)
    profile, record = disclose(grant=made, partner=HR, at=NOW + timedelta(days=1), career=career())
    assert list(profile.parts) == [part for part in PARTS if part in parts]
    assert record.outcome == sharing.DISCLOSED and record.parts == tuple(profile.parts)
    text = everything_text(profile, record)
    assert str(CITIZEN) not in text
    for never in ("Ninove", "job_seeker", "care_duties", "4242424", "employer_id"):
        assert never not in text
    assert ("lasser" in text) == (WORK_HISTORY in parts)  # the occupation is work history: only with that part
    assert ("Heftruck besturen" in text) == (DIPLOMAS_AND_TRAININGS in parts)


def test_the_parts_hold_the_career_data_the_site_shows() -> None:
    made = grant(parts=list(PARTS), contact=EMAIL)
    profile, _ = disclose(grant=made, partner=HR, at=NOW, career=career())
    assert profile.parts[WORK_HISTORY] == [{"occupation_id": "http://data.europa.eu/esco/occupation/welder",
                                            "occupation": "lasser", "start": "2016-04-11", "end": "2021-09-30",
                                            "part_time": False}]
    assert profile.parts[DIPLOMAS_AND_TRAININGS] == {
        "diplomas": [{"diploma_id": 31, "title": "Se-n-Se lastechnieken", "level": "secondary",
                      "obtained": "2015-06-28"}],
        "trainings": [{"training_id": 77, "title": "Heftruck besturen", "completed": "2023-02-17"}]}
    assert profile.parts[CONTACT_WISH] == {"channel": "email", "name": "An Peeters",
                                           "address": "an.peeters@example.be", "note": "liefst 's avonds"}
    weld = profile.parts[COMPETENCY_PROFILE][0]
    assert weld["sources"][0] == {"source": "work", "reference": "lasser", "date": "2021-09-30", "proficiency": 3}
    assert profile.subject == made.pseudonym and profile.share_id == made.grant_id


def test_the_competency_profile_alone_does_not_reveal_work_or_diplomas() -> None:
    made = grant(parts=[COMPETENCY_PROFILE])
    profile, _ = disclose(grant=made, partner=HR, at=NOW, career=career())
    weld, forklift, english = profile.parts[COMPETENCY_PROFILE]
    assert weld["sources"] == [{"source": "work", "proficiency": 3}, {"source": "diploma", "proficiency": 2}]
    assert forklift["sources"] == [{"source": "training", "proficiency": 2}]
    assert english["sources"] == [{"source": "self-declared", "proficiency": None, "reference": "zelf opgegeven",
                                   "date": "2024-11-05"}]


def test_a_pseudonymised_share_has_no_name_no_contact_no_id_and_dates_by_month() -> None:
    made = grant(parts=list(PARTS), contact=VIA_SERVICE, pseudonymised=True)
    profile, record = disclose(grant=made, partner=HR, at=NOW, career=career())
    text = everything_text(profile, record)
    assert profile.parts[CONTACT_WISH] == {"channel": "via_service", "name": None, "address": None,
                                           "note": "via mijn consulent"}
    assert str(CITIZEN) not in text and profile.subject == made.pseudonym
    dates = [period[key] for period in profile.parts[WORK_HISTORY] for key in ("start", "end")]
    dates += [diploma["obtained"] for diploma in profile.parts[DIPLOMAS_AND_TRAININGS]["diplomas"]]
    dates += [training["completed"] for training in profile.parts[DIPLOMAS_AND_TRAININGS]["trainings"]]
    dates += [source["date"] for competency in profile.parts[COMPETENCY_PROFILE] for source in competency["sources"]]
    assert dates and all(re.fullmatch(r"\d{4}-\d{2}", date) for date in dates)
    assert not re.search(r"\d{4}-\d{2}-\d{2}\"", json.dumps(profile.parts))
    assert record.pseudonymised


def test_a_partner_may_ask_for_fewer_parts_than_granted() -> None:
    made = grant(parts=[COMPETENCY_PROFILE, WORK_HISTORY])
    profile, record = disclose(grant=made, partner=HR, at=NOW, career=career(), requested=[WORK_HISTORY])
    assert list(profile.parts) == [WORK_HISTORY] and record.parts == (WORK_HISTORY,)


# --- refusals ----------------------------------------------------------------------------------------------------


def refusal(**call) -> AccessRefused:
    with pytest.raises(AccessRefused) as raised:
        disclose(**{"partner": HR, "at": NOW, "career": career(), **call})
    assert str(raised.value) == sharing.NOT_AVAILABLE  # the same for every reason
    assert raised.value.record.outcome == raised.value.reason
    assert str(CITIZEN) not in everything_text(raised.value.record)
    return raised.value


def test_another_partners_call_is_refused_before_anything_else_is_told() -> None:
    made = revoke(grant(), at=NOW)
    refused = refusal(grant=made, partner=TRAINER, at=NOW + timedelta(days=60))
    assert refused.reason == sharing.OTHER_PARTNER
    assert refused.record.partner_id == TRAINER.partner_id and refused.record.grant_id == made.grant_id


def test_a_revoked_grant_is_refused_from_the_moment_of_revocation() -> None:
    made = grant()
    revoked = revoke(made, at=NOW + timedelta(hours=2))
    assert revoke(revoked, at=NOW + timedelta(days=3)).revoked == revoked.revoked
    disclose(grant=revoked, partner=HR, at=NOW + timedelta(hours=1), career=career())
    assert refusal(grant=revoked, at=NOW + timedelta(hours=2)).reason == sharing.REVOKED


def test_a_grant_is_refused_before_its_start_and_from_its_end() -> None:
    made = grant(start=NOW + timedelta(days=2), end=NOW + timedelta(days=9))
    assert refusal(grant=made, at=NOW + timedelta(days=2) - timedelta(seconds=1)).reason == sharing.NOT_YET_VALID
    disclose(grant=made, partner=HR, at=NOW + timedelta(days=2), career=career())
    assert refusal(grant=made, at=NOW + timedelta(days=9)).reason == sharing.EXPIRED


@pytest.mark.parametrize("requested", [[DIPLOMAS_AND_TRAININGS], [WORK_HISTORY, CONTACT_WISH], ["salary"], []])
def test_a_part_that_was_not_granted_is_refused(requested: list[str]) -> None:
    made = grant(parts=[COMPETENCY_PROFILE, WORK_HISTORY])
    refused = refusal(grant=made, requested=requested)
    assert refused.reason == sharing.PART_NOT_GRANTED and refused.record.parts == tuple(requested)


def test_career_data_of_another_citizen_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        disclose(grant=grant(), partner=HR, at=NOW, career=career(citizen_id=CITIZEN + 1))


def test_the_grant_as_the_citizens_page_lists_it() -> None:
    made = revoke(grant(parts=[CONTACT_WISH], contact=EMAIL), at=NOW + timedelta(days=1))
    listed = made.as_json(at=NOW + timedelta(days=2))
    assert listed["state"] == sharing.REVOKED and listed["parts"] == [CONTACT_WISH]
    assert listed["contact"]["address"] == "an.peeters@example.be"
    assert "citizen_id" not in listed and "pseudonym" not in listed
