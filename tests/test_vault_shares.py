"""The vault's side of sign-in and sharing, on SQLite and PostgreSQL: the pseudonymous subject links and their
import, the citizens' grants (stored, listed, revoked), every partner call answered or refused and recorded, the
database refusing to change an access record or a share's decision, the data register's vault tables, and the
migrations 0001 -> 0002 -> 0003 and back."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from features import sharing
from features.register import (PROCESSINGS, SUGGESTIONS, TABLE_CATEGORIES, VAULT_PREFIX, processing,
                               sharing_processing_key)
from features.register_document import build_register
from features.sharing import (COMPETENCY_PROFILE, CONTACT_WISH, DIPLOMAS_AND_TRAININGS, JOB_MEDIATION,
                              NOT_AVAILABLE, WORK_HISTORY, AccessRefused, ContactWish, ShareError,
                              partners_from_clients)
from tests.conftest import PROJECT_ROOT
from tests.vault_fixtures import (KEY, blank_url, empty_vault_url, pg_cluster, vault,  # noqa: F401 - fixtures
                                  vault_template, vault_url)

ISSUER = "http://127.0.0.1:3001"
PARTNERS = partners_from_clients(json.loads((PROJECT_ROOT / "oidc" / "clients.json").read_text(encoding="utf-8")))
HR = PARTNERS["partner-hr-demo"]
EMPLOYER = PARTNERS["partner-werkgever-demo"]
SCHOOL = PARTNERS["partner-opleiding-demo"]
OLD_TABLES = {"vault_meta": "key", "import_runs": "id", "citizens": "citizen_id", "career_records": "id",
              "competency_evidence": "id", "consent_choices": "id", "feedback": "id", "audit_trail": "id"}
NEW_TABLES = ("subject_links", "shares", "share_accesses")


def _run(*args: str):
    from typer.testing import CliRunner

    from loopbaan_cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _subjects_file(folder: Path, subjects: list, **fields) -> Path:
    path = folder / "subjects.json"
    document = {"format": "loopbaan-oidc-subjects", "version": 1, "subjects": subjects, **fields}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _link(url: str, path: Path, *, issuer: str = ISSUER):
    return _run("vault", "link-subjects", str(path), "--issuer", issuer, "--database-url", url)


def _hr_grant(vault, citizen_id: int, *, parts=(COMPETENCY_PROFILE,), days: int = 30, pseudonymised: bool = False,
              start: datetime | None = None, contact: ContactWish | None = None, partner=HR,
              purpose: str = JOB_MEDIATION):
    end = (start or datetime.now(UTC)) + timedelta(days=days)
    return vault.create_grant(citizen_id=citizen_id, partner=partner, parts=parts, purpose=purpose, start=start,
                              end=end, pseudonymised=pseudonymised, contact=contact)


def _rich_citizen(vault) -> int:
    """A citizen with work periods, diplomas or trainings, and competencies of several sources."""
    for citizen_id in range(1, 200):
        career = vault.career_data(citizen_id=citizen_id).career
        sources = {source["source"] for competency in career.competencies for source in competency["sources"]}
        if career.work and (career.diplomas or career.trainings) and {"work", "diploma"} <= sources:
            return citizen_id
    raise AssertionError("no citizen with work, diplomas and their evidence in the small population")


def _refused(call) -> AccessRefused:
    with pytest.raises(AccessRefused) as raised:
        call()
    assert str(raised.value) == NOT_AVAILABLE  # the same words for every reason
    return raised.value


# -- subject links ------------------------------------------------------------------------------------------------

def test_the_providers_subjects_file_is_linked_once_and_a_rerun_changes_nothing(vault, vault_url, tmp_path):
    path = _subjects_file(tmp_path, [{"subject": "4oZ1y0fxl6gsR0LZC3_b9A", "citizen_id": 17},
                                     {"subject": "Zq0m2Xx7rVb9Lw1tYk3c8Q", "citizen_id": 42}])
    first = _link(vault_url, path)
    assert first.exit_code == 0, first.output
    assert "linked 2 sign-in subjects" in first.output and "0 were already linked" in first.output
    assert vault.citizen_for_subject(issuer=ISSUER, subject="4oZ1y0fxl6gsR0LZC3_b9A") == 17
    assert vault.citizen_for_subject(issuer=ISSUER, subject="Zq0m2Xx7rVb9Lw1tYk3c8Q") == 42
    assert vault.citizen_for_subject(issuer=ISSUER, subject="not-a-linked-subject") is None
    assert vault.citizen_for_subject(issuer="http://other-issuer", subject="4oZ1y0fxl6gsR0LZC3_b9A") is None
    assert vault.citizen_for_subject(issuer=ISSUER, subject="x" * 300) is None
    again = _link(vault_url, path)
    assert again.exit_code == 0 and "linked 0 sign-in subjects" in again.output and "2 were already" in again.output
    assert _count(vault_url, "subject_links") == 2
    resolve = vault.subject_resolver(issuer=ISSUER)
    assert resolve("4oZ1y0fxl6gsR0LZC3_b9A") == 17 and resolve("nobody") is None
    status = _run("vault", "status", "--database-url", vault_url)
    assert "2 sign-in links" in status.output


def test_the_same_subject_of_another_issuer_is_another_link(vault, vault_url, tmp_path):
    path = _subjects_file(tmp_path, [{"subject": "shared-subject", "citizen_id": 5}])
    assert _link(vault_url, path).exit_code == 0
    other = _subjects_file(tmp_path, [{"subject": "shared-subject", "citizen_id": 6}])
    assert _link(vault_url, other, issuer="https://idm.example.be").exit_code == 0
    assert vault.citizen_for_subject(issuer=ISSUER, subject="shared-subject") == 5
    assert vault.citizen_for_subject(issuer="https://idm.example.be", subject="shared-subject") == 6


BAD_FILES = [
    pytest.param({"format": "loopbaan-oidc-accounts"}, "not a subjects file", id="other-format"),
    pytest.param({"format": None}, "its format is missing", id="no-format"),
    pytest.param({"version": 2}, "version 2, this version of loopbaan reads version 1: upgrade loopbaan",
                 id="newer-version"),
    pytest.param({"version": "1"}, "not a subjects file", id="version-not-a-number"),
    pytest.param({"version": 0}, "not a subjects file", id="version-zero"),
    pytest.param({"subjects": {"a": 1}}, "without a 'subjects' list", id="subjects-not-a-list"),
    pytest.param({"subjects": [{"subject": "", "citizen_id": 1}]}, "entry 0 of 'subjects'", id="empty-subject"),
    pytest.param({"subjects": [{"subject": "a", "citizen_id": 1}, {"subject": "b", "citizen_id": "2"}]},
                 "entry 1 of 'subjects'", id="citizen-id-a-string"),
    pytest.param({"subjects": [{"subject": "a", "citizen_id": True}]}, "entry 0", id="citizen-id-a-boolean"),
    pytest.param({"subjects": [{"subject": "a", "citizen_id": 1}, {"subject": "a", "citizen_id": 2}]},
                 "entries 0 and 1 give the same subject", id="subject-twice"),
    pytest.param({"subjects": ["a"]}, "entry 0", id="entry-not-an-object"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_FILES)
def test_a_bad_subjects_file_is_refused_clearly_and_links_nothing(vault_url, tmp_path, fields, message):
    path = _subjects_file(tmp_path, **{"subjects": [{"subject": "ok-subject", "citizen_id": 3}], **fields})
    if fields.get("format", "") is None:
        document = json.loads(path.read_text())
        del document["format"]
        path.write_text(json.dumps(document))
    result = _link(vault_url, path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in result.output and "nothing was linked" in result.output
    assert _count(vault_url, "subject_links") == 0


def test_a_file_that_is_not_json_is_refused(vault_url, tmp_path):
    path = tmp_path / "subjects.json"
    path.write_text('{"format": "loopbaan-oidc-subjects", ', encoding="utf-8")
    result = _link(vault_url, path)
    assert result.exit_code == 2 and "cannot be read as JSON" in result.output
    missing = _link(vault_url, tmp_path / "nowhere.json")
    assert missing.exit_code == 2 and "cannot be read as JSON" in missing.output


def test_a_file_naming_an_unknown_citizen_links_nothing_at_all(vault_url, tmp_path):
    subjects = [{"subject": f"subject-{index}", "citizen_id": index} for index in range(1, 701)]  # past one IN (...)
    subjects.append({"subject": "stranger", "citizen_id": 987_654_321})
    result = _link(vault_url, _subjects_file(tmp_path, subjects))
    assert result.exit_code == 2
    assert "1 subject(s)" in result.output and "citizen 987654321" in result.output
    assert "nothing was linked" in result.output
    assert _count(vault_url, "subject_links") == 0


def test_a_subject_already_linked_to_another_citizen_is_refused_and_keeps_its_link(vault, vault_url, tmp_path):
    assert _link(vault_url, _subjects_file(tmp_path, [{"subject": "s-1", "citizen_id": 10}])).exit_code == 0
    moved = _subjects_file(tmp_path, [{"subject": "s-2", "citizen_id": 11}, {"subject": "s-1", "citizen_id": 12}])
    result = _link(vault_url, moved)
    assert result.exit_code == 2 and "already linked to another citizen" in result.output
    assert "entry 1" in result.output
    assert vault.citizen_for_subject(issuer=ISSUER, subject="s-1") == 10
    assert vault.citizen_for_subject(issuer=ISSUER, subject="s-2") is None


def test_without_an_issuer_the_command_says_which_setting_to_give(vault_url, tmp_path, monkeypatch):
    monkeypatch.delenv("LOOPBAAN_OIDC_ISSUER", raising=False)
    path = _subjects_file(tmp_path, [{"subject": "s-1", "citizen_id": 10}])
    result = _run("vault", "link-subjects", str(path), "--database-url", vault_url)
    assert result.exit_code == 2 and "LOOPBAAN_OIDC_ISSUER" in result.output
    monkeypatch.setenv("LOOPBAAN_OIDC_ISSUER", ISSUER)
    assert _run("vault", "link-subjects", str(path), "--database-url", vault_url).exit_code == 0
    assert _run("vault", "link-subjects", str(path), "--issuer", " ", "--database-url",
                vault_url).exit_code == 2


def test_the_token_validator_signs_in_the_citizen_the_vault_links(vault, vault_url, tmp_path):
    from serving.oidc import AuthError, OidcSettings, TokenValidator
    from tests.oidc_fixtures import AUDIENCE, SITE_CLIENT, serve_local_issuer

    local, server = serve_local_issuer()
    try:
        assert _link(vault_url, _subjects_file(tmp_path, [{"subject": "linked-subject", "citizen_id": 77}]),
                     issuer=local.issuer).exit_code == 0
        settings = OidcSettings(issuer=local.issuer, audience=AUDIENCE, client_id=SITE_CLIENT)
        with TokenValidator(settings=settings, resolver=vault.subject_resolver(issuer=local.issuer)) as validator:
            token = local.sign(local.claims(sub="linked-subject"))
            assert validator.citizen(authorization=f"Bearer {token}").citizen_id == 77
            with pytest.raises(AuthError) as raised:
                validator.citizen(authorization=f"Bearer {local.sign(local.claims(sub='unlinked-subject'))}")
            assert raised.value.reason == "unknown_subject"
    finally:
        server.close()


@pytest.mark.oidc
def test_the_real_providers_subjects_file_links_each_demo_login_to_its_citizen(vault, vault_url, tmp_path):
    from tests.oidc_fixtures import init_state, read_state

    state = tmp_path / "oidc"
    init_state(state, citizens=[17, 42, 99])
    result = _link(vault_url, state / "subjects.json")
    assert result.exit_code == 0 and "linked 3 sign-in subjects" in result.output
    wanted = {link["subject"]: link["citizen_id"] for link in read_state(state, "subjects.json")["subjects"]}
    for login in read_state(state, "demo-logins.json")["logins"]:
        assert vault.citizen_for_subject(issuer=ISSUER, subject=login["subject"]) == wanted[login["subject"]]
    assert sorted(wanted.values()) == [17, 42, 99]
    assert all(set(account) == {"sub", "login", "password"}
               for account in read_state(state, "accounts.json")["accounts"])


# -- grants -------------------------------------------------------------------------------------------------------

def test_a_grant_is_stored_as_decided_and_listed_with_its_state(vault, vault_url):
    contact = ContactWish(channel=sharing.EMAIL, name="An Peeters", address="an.peeters@example.be", note="na 17u")
    named = _hr_grant(vault, 21, parts=(WORK_HISTORY, COMPETENCY_PROFILE, CONTACT_WISH), contact=contact)
    later = _hr_grant(vault, 21, start=datetime.now(UTC) + timedelta(hours=2), pseudonymised=True,
                      parts=(COMPETENCY_PROFILE, CONTACT_WISH), contact=ContactWish(channel=sharing.VIA_SERVICE))
    _hr_grant(vault, 22)
    listed = vault.grants(citizen_id=21)
    assert listed == [later, named]  # newest first, every field as decided (times to the microsecond, in UTC)
    assert named.parts == (COMPETENCY_PROFILE, WORK_HISTORY, CONTACT_WISH)  # canonical order
    now = datetime.now(UTC)
    assert [grant.state(now) for grant in listed] == [sharing.NOT_YET_VALID, sharing.ACTIVE]
    assert listed[1].as_json(at=now)["contact"] == contact.as_json()
    assert vault.grant(grant_id=named.grant_id) == named
    assert vault.grant(grant_id="no-such-share") is None and vault.grant(grant_id="x" * 500) is None
    assert _count(vault_url, "shares") == 3


def test_every_kind_purpose_channel_and_outcome_of_the_sharing_model_can_be_stored(vault):
    for partner in PARTNERS.values():
        for purpose in sharing.PARTNER_KINDS[partner.kind].purposes:
            vacancy = 4 if partner.kind == sharing.EMPLOYER else None
            grant = vault.create_grant(citizen_id=30, partner=partner, parts=[COMPETENCY_PROFILE], purpose=purpose,
                                       end=datetime.now(UTC) + timedelta(days=1), pseudonymised=False,
                                       vacancy_id=vacancy)
            assert vault.grant(grant_id=grant.grant_id).purpose == purpose
    for contact in (ContactWish(channel=sharing.EMAIL, address="x@example.be"),
                    ContactWish(channel=sharing.PHONE, address="+32 470 12 34 56"),
                    ContactWish(channel=sharing.VIA_SERVICE)):
        grant = _hr_grant(vault, 31, parts=(CONTACT_WISH,), contact=contact)
        assert vault.grant(grant_id=grant.grant_id).contact == contact
    for outcome in (sharing.DISCLOSED, *sorted(sharing.REFUSAL_REASONS)):
        vault.record_access(record=sharing.AccessRecord(
            grant_id=grant.grant_id, partner_id=HR.partner_id, partner_kind=HR.kind, at=datetime.now(UTC),
            parts=(CONTACT_WISH,), purpose=JOB_MEDIATION, outcome=outcome, pseudonymised=False))
    assert {record.outcome for record in vault.accesses(citizen_id=31)} == {sharing.DISCLOSED,
                                                                            *sharing.REFUSAL_REASONS}


def test_the_database_refuses_a_share_or_access_outside_the_sharing_model(vault, vault_url):
    from features.vault.schema import Share, ShareAccess
    from features.vault.shares import access_row, grant_row

    grant = _hr_grant(vault, 32)
    engine = vault.engine  # SQLite's foreign keys are on in the vault's own connections
    bad_rows = [(Share, {**grant_row(grant), "grant_id": "other-1", "pseudonym": "p-other-1",
                         "partner_kind": "data_broker"}),
                (Share, {**grant_row(grant), "grant_id": "other-2", "pseudonym": "p-other-2",
                         "purpose": "marketing"}),
                (Share, {**grant_row(grant), "grant_id": "other-3", "pseudonym": "p-other-3",
                         "ends_at": grant.start}),
                (Share, {**grant_row(grant), "grant_id": "other-4"}),  # the same pseudonym twice
                (ShareAccess, {**access_row(sharing.AccessRecord(
                    grant_id=grant.grant_id, partner_id="x", partner_kind=HR.kind, at=grant.start, parts=(),
                    purpose=JOB_MEDIATION, outcome="maybe", pseudonymised=False))}),
                (ShareAccess, {**access_row(sharing.AccessRecord(
                    grant_id="no-such-share", partner_id="x", partner_kind=HR.kind, at=grant.start, parts=(),
                    purpose=JOB_MEDIATION, outcome=sharing.DISCLOSED, pseudonymised=False))})]
    for model, row in bad_rows:
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert(model.__table__).values(**row))
    assert _count(vault_url, "shares") == 1 and _count(vault_url, "share_accesses") == 0


@pytest.mark.parametrize(("change", "code"), [
    pytest.param({"parts": ()}, sharing.NO_PARTS, id="no-parts"),
    pytest.param({"parts": ("salary",)}, sharing.UNKNOWN_PART, id="unknown-part"),
    pytest.param({"days": sharing.MAX_PERIOD_DAYS + 1}, sharing.PERIOD_TOO_LONG, id="too-long"),
    pytest.param({"purpose": sharing.APPLY_FOR_VACANCY}, sharing.PURPOSE_NOT_FOR_PARTNER, id="purpose"),
    pytest.param({"start": datetime.now(UTC) - timedelta(days=1)}, sharing.STARTS_IN_PAST, id="starts-in-past"),
    pytest.param({"partner": EMPLOYER, "purpose": sharing.APPLY_FOR_VACANCY}, sharing.VACANCY_NEEDED,
                 id="employer-without-vacancy"),
    pytest.param({"parts": (CONTACT_WISH,), "pseudonymised": True,
                  "contact": ContactWish(channel=sharing.EMAIL, address="an@example.be")},
                 sharing.CONTACT_NOT_PSEUDONYMOUS, id="pseudonymised-with-address"),
    pytest.param({"parts": (CONTACT_WISH,)}, sharing.CONTACT_NEEDED, id="contact-without-wish"),
])
def test_a_grant_the_sharing_model_refuses_is_not_stored(vault, vault_url, change, code):
    with pytest.raises(ShareError) as raised:
        _hr_grant(vault, 33, **change)
    assert raised.value.code == code
    assert _count(vault_url, "shares") == 0


def test_a_grant_for_nobody_too_many_grants_or_a_bad_vacancy_is_refused(vault, vault_url, monkeypatch):
    from features.vault import shares
    from features.vault.errors import EntryTooLarge, InvalidEntry, UnknownCitizen

    with pytest.raises(UnknownCitizen):
        _hr_grant(vault, 987_654_321)
    with pytest.raises(InvalidEntry, match="vacancy"):
        vault.create_grant(citizen_id=34, partner=EMPLOYER, parts=[COMPETENCY_PROFILE],
                           purpose=sharing.APPLY_FOR_VACANCY, end=datetime.now(UTC) + timedelta(days=3),
                           pseudonymised=False, vacancy_id="12")
    with pytest.raises(EntryTooLarge, match="address"):
        _hr_grant(vault, 34, parts=(CONTACT_WISH,),
                  contact=ContactWish(channel=sharing.EMAIL, address="a" * 250 + "@example.be"))
    monkeypatch.setattr(shares, "MAX_OPEN_GRANTS", 2)
    first = _hr_grant(vault, 34)
    _hr_grant(vault, 34)
    with pytest.raises(EntryTooLarge, match="revoke one first"):
        _hr_grant(vault, 34)
    vault.revoke_grant(citizen_id=34, grant_id=first.grant_id)
    _hr_grant(vault, 34)  # a revoked share no longer counts
    assert _count(vault_url, "shares") == 3


def test_revoking_is_final_idempotent_and_only_for_the_grants_citizen(vault):
    from features.vault.errors import InvalidEntry, UnknownCitizen

    grant = _hr_grant(vault, 35)
    with pytest.raises(InvalidEntry, match="not one of yours"):
        vault.revoke_grant(citizen_id=36, grant_id=grant.grant_id)
    with pytest.raises(InvalidEntry):
        vault.revoke_grant(citizen_id=35, grant_id="no-such-share")
    with pytest.raises(UnknownCitizen):
        vault.revoke_grant(citizen_id=987_654_321, grant_id=grant.grant_id)
    assert vault.grant(grant_id=grant.grant_id).revoked is None
    revoked = vault.revoke_grant(citizen_id=35, grant_id=grant.grant_id)
    assert revoked.revoked is not None and revoked.state(datetime.now(UTC)) == sharing.REVOKED
    assert vault.revoke_grant(citizen_id=35, grant_id=grant.grant_id).revoked == revoked.revoked
    assert vault.grants(citizen_id=35) == [revoked]


def test_grant_writes_carry_their_audit_line_and_a_refused_one_writes_none(vault, vault_url):
    from features.vault import AuditLine

    line = AuditLine(endpoint="me.shares", status=201, citizen_id=37)
    grant = vault.create_grant(citizen_id=37, partner=HR, parts=[COMPETENCY_PROFILE], purpose=JOB_MEDIATION,
                               end=datetime.now(UTC) + timedelta(days=2), pseudonymised=False, audit=line)
    vault.revoke_grant(citizen_id=37, grant_id=grant.grant_id, audit=AuditLine(endpoint="me.shares", status=200,
                                                                               citizen_id=37))
    before = _count(vault_url, "audit_trail")
    with pytest.raises(ShareError):
        vault.create_grant(citizen_id=37, partner=HR, parts=["salary"], purpose=JOB_MEDIATION,
                           end=datetime.now(UTC) + timedelta(days=2), pseudonymised=False, audit=line)
    assert before == 2 and _count(vault_url, "audit_trail") == 2


# -- a partner's call -----------------------------------------------------------------------------------------------

def test_a_partner_gets_exactly_the_granted_parts_and_the_call_is_recorded(vault):
    citizen_id = _rich_citizen(vault)
    grant = _hr_grant(vault, citizen_id, parts=(COMPETENCY_PROFILE, WORK_HISTORY))
    profile = vault.disclose(grant_id=grant.grant_id, partner=HR)
    assert set(profile.parts) == {COMPETENCY_PROFILE, WORK_HISTORY} and profile.subject == grant.pseudonym
    career = vault.career_data(citizen_id=citizen_id).career
    expected, _ = sharing.disclose(grant=grant, partner=HR, at=datetime.now(UTC), career=career)
    assert profile == expected  # the vault answers what the sharing model gives on the vault's own career data
    assert profile.parts[WORK_HISTORY] and profile.parts[COMPETENCY_PROFILE]
    assert "citizen_id" not in json.dumps(profile.as_json())
    only_work = vault.disclose(grant_id=grant.grant_id, partner=HR, requested=[WORK_HISTORY], language="en")
    assert set(only_work.parts) == {WORK_HISTORY}
    refused = _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=HR,
                                              requested=[WORK_HISTORY, DIPLOMAS_AND_TRAININGS]))
    assert refused.reason == sharing.PART_NOT_GRANTED
    records = vault.accesses(citizen_id=citizen_id)
    assert [(record.outcome, record.parts) for record in records] == [
        (sharing.PART_NOT_GRANTED, (WORK_HISTORY, DIPLOMAS_AND_TRAININGS)), (sharing.DISCLOSED, (WORK_HISTORY,)),
        (sharing.DISCLOSED, (COMPETENCY_PROFILE, WORK_HISTORY))]
    assert all(record.partner_id == HR.partner_id and record.purpose == JOB_MEDIATION for record in records)
    assert records[0].at >= records[1].at >= records[2].at


def test_a_pseudonymised_grant_gives_dates_by_month_only(vault):
    citizen_id = _rich_citizen(vault)
    grant = _hr_grant(vault, citizen_id, parts=(WORK_HISTORY, DIPLOMAS_AND_TRAININGS), pseudonymised=True)
    profile = vault.disclose(grant_id=grant.grant_id, partner=HR)
    starts = [period["start"] for period in profile.parts[WORK_HISTORY]]
    obtained = [diploma["obtained"] for diploma in profile.parts[DIPLOMAS_AND_TRAININGS]["diplomas"]]
    assert starts and all(len(day) == 7 for day in starts + obtained)  # YYYY-MM
    assert vault.accesses(citizen_id=citizen_id)[0].pseudonymised


def test_another_partner_a_revoked_expired_or_future_grant_is_refused_and_recorded(vault):
    from features.vault.errors import InvalidEntry, UnknownGrant

    grant = _hr_grant(vault, 40, days=2)
    other = _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=SCHOOL))
    assert other.reason == sharing.OTHER_PARTNER
    expired = _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=HR,
                                              at=grant.end + timedelta(seconds=1)))
    assert expired.reason == sharing.EXPIRED
    future = _hr_grant(vault, 40, start=datetime.now(UTC) + timedelta(hours=1))
    assert _refused(lambda: vault.disclose(grant_id=future.grant_id, partner=HR)).reason == sharing.NOT_YET_VALID
    vault.disclose(grant_id=grant.grant_id, partner=HR)
    vault.revoke_grant(citizen_id=40, grant_id=grant.grant_id)
    assert _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=HR)).reason == sharing.REVOKED
    # a moment given from before the revocation does not bring the share back
    assert _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=HR,
                                           at=grant.start + timedelta(seconds=1))).reason == sharing.REVOKED
    with pytest.raises(UnknownGrant) as unknown:
        vault.disclose(grant_id="no-such-share", partner=HR)
    assert str(unknown.value) == NOT_AVAILABLE
    with pytest.raises(InvalidEntry):
        vault.disclose(grant_id=grant.grant_id, partner=HR, requested=["x" * 65])
    with pytest.raises(InvalidEntry):
        vault.disclose(grant_id=grant.grant_id, partner=HR, language="fr")
    outcomes = [(record.outcome, record.partner_id) for record in vault.accesses(citizen_id=40)]
    assert outcomes == [(sharing.REVOKED, HR.partner_id), (sharing.REVOKED, HR.partner_id),
                        (sharing.DISCLOSED, HR.partner_id), (sharing.NOT_YET_VALID, HR.partner_id),
                        (sharing.EXPIRED, HR.partner_id), (sharing.OTHER_PARTNER, SCHOOL.partner_id)]
    assert [record.outcome for record in vault.accesses(citizen_id=40, grant_id=future.grant_id)] == [
        sharing.NOT_YET_VALID]
    assert len(vault.accesses(citizen_id=40, limit=2)) == 2
    assert vault.accesses(citizen_id=41) == []


def test_a_refused_call_reads_nothing_of_the_citizen(vault):
    grant = _hr_grant(vault, 42)
    with processing(sharing_processing_key(SCHOOL.kind), strict=False) as scope:
        _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=SCHOOL))
    assert scope.read == {"vault.shares", "vault.share_accesses"}
    with processing(sharing_processing_key(HR.kind), strict=False) as answered:
        vault.disclose(grant_id=grant.grant_id, partner=HR)
    assert {"vault.career_records", "vault.competency_evidence"} <= answered.read  # the check can see a read


def test_a_revocation_refuses_every_call_after_it_and_every_call_is_recorded(vault):
    grant = _hr_grant(vault, 43, parts=(COMPETENCY_PROFILE, WORK_HISTORY))
    calls: list[tuple[float, float, str]] = []
    lock, stop = threading.Lock(), threading.Event()

    def partner() -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                vault.disclose(grant_id=grant.grant_id, partner=HR)
                outcome = sharing.DISCLOSED
            except AccessRefused as refused:
                outcome = refused.reason
            with lock:
                calls.append((began, time.monotonic(), outcome))

    def wait_for(count: int, since: float) -> None:
        deadline = time.monotonic() + 60
        while sum(began > since for began, _, _ in calls) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=partner) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(3, since=0.0)
        revoked = vault.revoke_grant(citizen_id=43, grant_id=grant.grant_id)
        returned = time.monotonic()
        wait_for(3, since=returned)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    after = [outcome for began, _, outcome in calls if began > returned]
    assert any(outcome == sharing.DISCLOSED for _, _, outcome in calls)
    assert len(after) >= 3 and set(after) == {sharing.REVOKED}
    assert all(outcome == sharing.DISCLOSED for _, ended, outcome in calls if ended < returned)
    records = vault.accesses(citizen_id=43)
    assert len(records) == len(calls)  # every call, answered or refused
    assert all(record.at <= revoked.revoked for record in records if record.outcome == sharing.DISCLOSED)
    assert all(record.at >= revoked.revoked for record in records if record.outcome == sharing.REVOKED)


def test_access_records_are_append_only_and_a_share_changes_only_by_its_revocation(vault, vault_url):
    grant = _hr_grant(vault, 44)
    vault.disclose(grant_id=grant.grant_id, partner=HR)
    _refused(lambda: vault.disclose(grant_id=grant.grant_id, partner=SCHOOL))
    engine = create_engine(vault_url)
    postgres = vault_url.startswith("postgresql")
    try:
        for statement in ("UPDATE share_accesses SET outcome = 'revoked'", "DELETE FROM share_accesses",
                          *(["TRUNCATE share_accesses"] if postgres else [])):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
        for statement in ("UPDATE shares SET parts = '[\"work_history\"]'", "UPDATE shares SET ends_at = ends_at",
                          "UPDATE shares SET partner_id = 'partner-werkgever-demo'",
                          "UPDATE shares SET pseudonymised = pseudonymised"):
            with pytest.raises(DBAPIError, match="never changes"), engine.begin() as connection:
                connection.execute(text(statement))
        revoked = vault.revoke_grant(citizen_id=44, grant_id=grant.grant_id)  # the one change a share allows
        with pytest.raises(DBAPIError, match="never changes"), engine.begin() as connection:
            connection.execute(text("UPDATE shares SET revoked_at = NULL"))
    finally:
        engine.dispose()
    assert vault.grants(citizen_id=44) == [revoked]
    assert [record.outcome for record in vault.accesses(citizen_id=44)] == [sharing.OTHER_PARTNER, sharing.DISCLOSED]


def test_the_access_records_hold_no_citizen_id(vault, vault_url):
    from features.vault.schema import ShareAccess

    assert not {"citizen_id", "citizen"} & set(ShareAccess.__table__.c.keys())
    grant = _hr_grant(vault, 1234)
    vault.disclose(grant_id=grant.grant_id, partner=HR)
    engine = create_engine(vault_url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM share_accesses")).mappings().one()
    engine.dispose()
    assert "1234" not in json.dumps({key: str(value) for key, value in row.items() if key != "id"})


# -- the data register -------------------------------------------------------------------------------------------

def test_the_registers_vault_tables_are_exactly_the_vaults_tables():
    from features.vault.schema import Base

    declared = {table.removeprefix(VAULT_PREFIX) for table in TABLE_CATEGORIES if table.startswith(VAULT_PREFIX)}
    assert declared == set(Base.metadata.tables)


def test_the_register_counts_the_vaults_active_grants(vault):
    now = datetime.now(UTC)
    for citizen_id in range(50, 56):
        _hr_grant(vault, citizen_id, pseudonymised=citizen_id % 2 == 0)
    revoked = _hr_grant(vault, 56)
    vault.revoke_grant(citizen_id=56, grant_id=revoked.grant_id)
    _hr_grant(vault, 57, start=now + timedelta(days=1))
    short = _hr_grant(vault, 58, days=1)
    vault.create_grant(citizen_id=59, partner=EMPLOYER, parts=[COMPETENCY_PROFILE], purpose=sharing.APPLY_FOR_VACANCY,
                       end=now + timedelta(days=10), pseudonymised=False, vacancy_id=3)
    active = vault.active_grants()
    assert len(active) == 8 and revoked.grant_id not in {grant.grant_id for grant in active}
    document = build_register(grants=active, partners=PARTNERS, at=datetime.now(UTC))
    by_kind = {entry.sharing.partner_kind: entry.sharing for entry in document.processings if entry.sharing}
    assert by_kind[sharing.HR_INTERMEDIARY].active_grants == 7
    assert by_kind[sharing.EMPLOYER].active_grants is None  # one: fewer than 5
    assert by_kind[sharing.TRAINING_PROVIDER].active_grants == 0
    later = vault.active_grants(at=short.end + timedelta(minutes=1))
    assert short.grant_id not in {grant.grant_id for grant in later} and len(later) == 8  # 57 has begun by then


def _site_calls(vault, citizen_id: int) -> None:
    """What the citizen's site asks of the vault: sign-in, suggestions, career data and edits, the AI switch,
    feedback, the shares and who looked at them, the audit line."""
    from features.vault import AuditLine

    assert vault.citizen_for_subject(issuer=ISSUER, subject="site-subject") == citizen_id
    context = vault.context(citizen_id=citizen_id)
    held = set(context.profile.indices.tolist())
    uris = vault.taxonomy.competencies["uri"].to_numpy()
    uri = str(next(uris[column] for column in range(100, len(uris)) if column not in held))
    data = vault.career_data(citizen_id=citizen_id)
    vault.add_competency(citizen_id=citizen_id, competency_uri=uri, revision=data.revision)
    vault.opted_out(citizen_id=citizen_id)
    vault.record_consent(citizen_id=citizen_id, opted_out=False)
    vault.record_feedback(citizen_id=citizen_id, kind="jobs", item_id="12", reason="too_far")
    vault.dismissed(citizen_id=citizen_id, kind="jobs")
    grant = _hr_grant(vault, citizen_id)
    vault.grants(citizen_id=citizen_id)
    vault.accesses(citizen_id=citizen_id)
    vault.revoke_grant(citizen_id=citizen_id, grant_id=grant.grant_id)
    vault.append_audit(AuditLine(endpoint="suggestions", status=200, citizen_id=citizen_id))


def _vault_reads(tables) -> set[str]:
    return {table for table in tables if table.startswith(VAULT_PREFIX)}


def test_the_citizens_site_reads_exactly_the_vault_tables_its_processing_declares(vault, vault_url, tmp_path):
    assert _link(vault_url, _subjects_file(tmp_path, [{"subject": "site-subject", "citizen_id": 60}])).exit_code == 0
    with processing(SUGGESTIONS) as scope:  # strict: an undeclared read fails the call
        _site_calls(vault, 60)
    assert _vault_reads(scope.read) == _vault_reads(PROCESSINGS[SUGGESTIONS].reads)


@pytest.mark.parametrize("partner", [HR, EMPLOYER, SCHOOL], ids=lambda partner: partner.kind)
def test_a_partners_call_reads_exactly_what_its_sharing_processing_declares(vault, partner):
    from features.vault import AuditLine

    vacancy = 8 if partner.kind == sharing.EMPLOYER else None
    grant = vault.create_grant(citizen_id=61, partner=partner, parts=list(sharing.PARTS)[:3],
                               purpose=sharing.PARTNER_KINDS[partner.kind].purposes[0],
                               end=datetime.now(UTC) + timedelta(days=5), pseudonymised=True, vacancy_id=vacancy)
    key = sharing_processing_key(partner.kind)
    with processing(key) as scope:
        vault.disclose(grant_id=grant.grant_id, partner=partner)
        vault.append_audit(AuditLine(endpoint="partner.profiles", status=200))
    assert scope.read == PROCESSINGS[key].reads


def test_a_partners_call_fails_under_a_register_that_does_not_declare_the_access_record(vault):
    from features.reads import UndeclaredRead

    grant = _hr_grant(vault, 62)
    key = sharing_processing_key(HR.kind)
    narrowed = {key: dataclasses.replace(PROCESSINGS[key], reads=PROCESSINGS[key].reads - {"vault.share_accesses"})}
    with pytest.raises(UndeclaredRead, match="'vault.share_accesses'"), processing(key, register=narrowed):
        vault.disclose(grant_id=grant.grant_id, partner=HR)
    assert vault.accesses(citizen_id=62) == []  # refused before anything was written


# -- migrations 0001 -> 0002 -> 0003 ----------------------------------------------------------------------------

def _rows(engine, tables: dict[str, str]) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {table: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))]
                for table, key in tables.items()}


def test_a_vault_made_at_0001_upgrades_to_the_head_and_keeps_every_row(blank_url, small_population_dir):
    from features.esco import load_esco
    from features.population import PopulationStore
    from features.vault import AuditLine, RecordCatalogue, Vault
    from features.vault.database import head_revision, open_engine, upgrade
    from features.vault.errors import VaultNotReady
    from features.vault.importer import import_population

    assert head_revision() == "0003"
    assert upgrade(blank_url, revision="0001") == (None, "0001")
    engine = create_engine(blank_url)  # the 0001 vault, filled as that version of loopbaan filled it
    import_population(engine=engine, store=PopulationStore(small_population_dir), batch_size=500, progress=False)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO consent_choices (citizen_id, opted_out, chosen_at) "
                                "VALUES (3, true, '2025-01-02 10:00:00')"))
        connection.execute(text("INSERT INTO feedback (citizen_id, kind, item_id, reason, note, given_on, recorded_at) "
                                "VALUES (3, 'jobs', '7', 'too_far', 'te ver', '2025-01-02', '2025-01-02 10:00:00')"))
        connection.execute(text("INSERT INTO audit_trail (at, endpoint, citizen, models, items, personalised, status) "
                                "VALUES ('2025-01-02 10:00:00', 'suggestions', 'abc', '{}', 3, true, 200)"))
    before = _rows(engine, OLD_TABLES)
    engine.dispose()
    assert len(before["citizens"]) == 1_500 and before["competency_evidence"] and before["career_records"]

    with pytest.raises(VaultNotReady, match=r"at migration 0001, this version of loopbaan needs 0003: run "
                                            r"`loopbaan vault upgrade`"):
        open_engine(blank_url)
    result = _run("vault", "upgrade", "--database-url", blank_url)
    assert result.exit_code == 0 and "moved from migration 0001 to 0003" in result.output
    assert "already at migration 0003" in _run("vault", "upgrade", "--database-url", blank_url).output

    engine = open_engine(blank_url)
    try:
        after = _rows(engine, OLD_TABLES)
        assert [row[:-2] for row in after.pop("audit_trail")] == before.pop("audit_trail")  # 0003 added two columns
        assert after == before
        assert all(not rows for rows in _rows(engine, {table: "1" for table in NEW_TABLES}).values())
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_trail"))
    finally:
        engine.dispose()
    vault = Vault.open(url=blank_url, taxonomy=load_esco(), pseudonym_key=KEY,
                       catalogue=RecordCatalogue.of(PopulationStore(small_population_dir)))
    try:
        assert vault.opted_out(citizen_id=3) is True and vault.dismissed(citizen_id=3, kind="jobs") == {"7"}
        grant = _hr_grant(vault, 3)
        vault.disclose(grant_id=grant.grant_id, partner=HR)
        vault.append_audit(AuditLine(endpoint="partner.profiles", status=200))
        assert [record.outcome for record in vault.accesses(citizen_id=3)] == [sharing.DISCLOSED]
    finally:
        vault.close()


def _downgraded(url: str, revision: str):
    """An engine on the vault at ``url`` once Alembic took it down to ``revision``."""
    from alembic import command

    from features.vault.database import _alembic_config, current_revision

    engine = create_engine(url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    assert current_revision(engine) == revision
    return engine


def test_the_head_downgrades_to_0001_and_upgrades_again(empty_vault_url):
    from sqlalchemy import inspect

    from features.vault.database import upgrade

    engine = _downgraded(empty_vault_url, "0001")
    try:
        assert not set(NEW_TABLES) & set(inspect(engine).get_table_names())
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO audit_trail (at, endpoint, models, items, personalised, status) "
                                    "VALUES ('2025-01-02 10:00:00', 'suggestions', '{}', 0, false, 200)"))
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_trail"))  # 0001's rule stays
    finally:
        engine.dispose()
    assert upgrade(empty_vault_url) == ("0001", "0003")  # its trigger functions went with it: nothing clashes
    assert all(_count(empty_vault_url, table) == 0 for table in NEW_TABLES)


def test_0003_keeps_the_audit_lines_of_0002_adds_why_a_request_was_refused_and_stays_append_only(empty_vault_url):
    from features.vault.database import upgrade

    engine = _downgraded(empty_vault_url, "0002")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO audit_trail (at, endpoint, models, items, personalised, status) "
                                    "VALUES ('2025-01-02 10:00:00', 'career_data', '{}', 0, false, 401)"))
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_trail"))  # 0001's rule holds without the new columns
    finally:
        engine.dispose()
    assert upgrade(empty_vault_url) == ("0002", "0003")
    engine = create_engine(empty_vault_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO audit_trail (at, endpoint, models, items, personalised, status, "
                                    "refusal, partner) VALUES ('2025-01-02 10:01:00', 'partner_profile', '{}', 0, "
                                    "false, 403, 'revoked', 'partner-hr-demo')"))
        with engine.connect() as connection:
            lines = connection.execute(text("SELECT endpoint, status, refusal, partner FROM audit_trail "
                                            "ORDER BY id")).all()
        assert [tuple(line) for line in lines] == [("career_data", 401, None, None),
                                                   ("partner_profile", 403, "revoked", "partner-hr-demo")]
        for statement in ("UPDATE audit_trail SET refusal = 'expired'", "DELETE FROM audit_trail"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                connection.execute(text(statement))
    finally:
        engine.dispose()
