"""Sign-in and sharing on the real service: a citizen signs in through the real local OpenID provider, shares parts
of their profile with a partner, the partner reads exactly those with its own client-credentials token, the citizen
sees every call and revokes; every refused token is 401 "sign in again" with its reason only in the audit line; the
data register counts the active shares. Without a provider: no sign-in configuration and no partner calls."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from features.keys import signing_key as service_key
from features.settings import Settings
from features.sharing import MAX_PERIOD_DAYS, NOT_AVAILABLE
from serving import oidc, schemas
from serving.auth import mint_token
from serving.oidc import SIGN_IN_AGAIN
from serving.signin import ERR_NO_PARTNERS, ERR_NO_SIGN_IN
from tests.conftest import audit_records
from tests.oidc_fixtures import serve_local_issuer
from tests.signin_fixtures import SignedInService

pytestmark = [pytest.mark.slow, pytest.mark.oidc]

TRAINING_PROVIDER = "partner-opleiding-demo"
EMPLOYER = "partner-werkgever-demo"
HR = "partner-hr-demo"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def signed_in(oidc_service: SignedInService) -> dict[int, dict[str, str]]:
    """Each linked citizen's Authorization header, signed in once through the provider."""
    return {citizen: _bearer(oidc_service.token(citizen)) for citizen in oidc_service.linked}


def _share(service: SignedInService, headers: dict, **overrides) -> httpx.Response:
    body = {"partner_id": TRAINING_PROVIDER, "parts": ["competency_profile", "diplomas_and_trainings"],
            "purpose": "training_enrolment", "purpose_text": "inschrijving lasopleiding", "days": 30,
            "pseudonymised": True, **overrides}
    return service.client.post("/me/shares", json=body, headers=headers)


def _read(service: SignedInService, share: str, partner: str, **params) -> httpx.Response:
    return service.client.get(f"/partner/profiles/{share}", params=params,
                              headers=_bearer(service.partner_token(partner)))


def _scalars(value) -> list:
    """Every number and string in a JSON value (keys and values)."""
    if isinstance(value, dict):
        return [*value, *(item for inner in value.values() for item in _scalars(inner))]
    if isinstance(value, list):
        return [item for inner in value for item in _scalars(inner)]
    return [value]


def _lines(service: SignedInService, endpoint: str) -> list[dict]:
    return [line for line in audit_records(service.home) if line["endpoint"] == endpoint]


# -- sign-in ----------------------------------------------------------------------------------------------------------


def test_the_site_gets_the_providers_sign_in_configuration(oidc_service):
    response = oidc_service.client.get("/auth/config")
    assert response.status_code == 200, response.text
    assert response.json() == {"issuer": oidc_service.issuer, "client_id": "loopbaan-site",
                               "audience": "urn:loopbaan:api", "scope": "openid citizen"}


def test_a_citizen_signed_in_through_the_provider_reads_only_their_own_data(oidc_service, signed_in):
    first, second = oidc_service.linked[:2]
    response = oidc_service.client.get("/me", headers=signed_in[first])
    assert response.status_code == 200, response.text
    assert response.json()["citizen_id"] == first
    claims = jwt.decode(signed_in[first]["Authorization"].split()[1], options={"verify_signature": False})
    # the token names a random subject, never the citizen: no claim is the citizen's id (a substring test of the
    # whole token failed whenever the id appeared inside a timestamp)
    assert str(first) not in {str(value) for value in claims.values()} and str(first) not in claims["sub"]
    other = oidc_service.client.post("/suggestions", json={"kind": "jobs", "citizen_id": second, "k": 5},
                                     headers=signed_in[first])
    assert other.status_code == 403, other.text


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = "someone-else"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


def test_every_refused_token_is_401_sign_in_again_with_its_reason_only_in_the_audit_line(oidc_service, signed_in):
    service = oidc_service
    own = signed_in[service.linked[0]]["Authorization"].split()[1]
    unlinked = service.token(service.unlinked)
    key = service_key(Settings(home=service.home))
    local, server = serve_local_issuer()  # a well-formed token of an issuer the service does not trust
    try:
        elsewhere = local.sign(local.claims())
    finally:
        server.close()
    cases = {
        oidc.NO_TOKEN: {},
        oidc.MALFORMED: _bearer(mint_token(citizen_id=service.linked[0], key=key)),  # test tokens are off now
        oidc.BAD_SIGNATURE: _bearer(_tampered(own)),
        oidc.WRONG_ISSUER: _bearer(elsewhere),
        oidc.WRONG_CLIENT: _bearer(service.partner_token(HR)),  # a partner's token is no citizen's
        oidc.UNKNOWN_SUBJECT: _bearer(unlinked),  # an account at the provider, but no link in the vault
    }
    before = len(_lines(service, "career_data"))
    for reason, headers in cases.items():
        response = service.client.get("/me", headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": SIGN_IN_AGAIN, "details": []}), reason
    lines = _lines(service, "career_data")[before:]
    assert [(line["status"], line["refusal"], line["citizen"]) for line in lines] == [
        (401, reason, None) for reason in cases]


def test_the_admin_reload_takes_no_citizen_token(oidc_service, signed_in):
    response = oidc_service.client.post("/admin/reload", headers=signed_in[oidc_service.linked[0]])
    assert response.status_code == 403, response.text


# -- sharing ----------------------------------------------------------------------------------------------------------


def test_a_share_gives_the_partner_exactly_the_granted_parts_until_the_citizen_revokes_it(oidc_service, signed_in):
    service = oidc_service
    citizen = service.linked[0]
    headers = signed_in[citizen]
    created = _share(service, headers)
    assert created.status_code == 201, created.text
    grant = schemas.GrantResponse.model_validate(created.json()).grant
    assert (grant.state, grant.partner_name, grant.purpose_name) == ("active", "Demo-opleidingsverstrekker",
                                                                     "Inschrijven voor een opleiding")
    assert grant.parts == ["competency_profile", "diplomas_and_trainings"]

    read = _read(service, grant.grant_id, TRAINING_PROVIDER)
    assert read.status_code == 200, read.text
    profile = read.json()
    assert set(profile["parts"]) == {"competency_profile", "diplomas_and_trainings"}
    assert profile["subject"].startswith("p-") and citizen not in _scalars(profile) and str(citizen) not in _scalars(
        profile) and "citizen_id" not in json.dumps(profile)
    own = service.client.get("/me", headers=headers).json()
    shared = {item["id"] for item in profile["parts"]["competency_profile"]}
    assert shared == {item["id"] for item in own["competencies"]}
    assert all(len(diploma["obtained"]) == 7 for diploma in profile["parts"]["diplomas_and_trainings"]["diplomas"])

    refused = {
        "other_partner": _read(service, grant.grant_id, HR),
        "part_not_granted": _read(service, grant.grant_id, TRAINING_PROVIDER, part=["work_history"]),
    }
    unknown = _read(service, "no-such-share", TRAINING_PROVIDER)
    for response in (*refused.values(), unknown):
        assert (response.status_code, response.json()["error"]) == (403, NOT_AVAILABLE)
    citizen_token = service.client.get(f"/partner/profiles/{grant.grant_id}", headers=headers)
    assert citizen_token.status_code == 401  # a citizen's token is no partner's

    revoked = service.client.delete(f"/me/shares/{grant.grant_id}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["grant"]["state"] == "revoked", revoked.text
    after = _read(service, grant.grant_id, TRAINING_PROVIDER)
    assert (after.status_code, after.json()["error"]) == (403, NOT_AVAILABLE)

    overview = service.client.get("/me/shares", headers=headers)
    assert overview.status_code == 200, overview.text
    shares = schemas.SharesResponse.model_validate(overview.json())
    mine = [access for access in shares.accesses if access.grant_id == grant.grant_id]
    assert [(access.partner_name, access.outcome) for access in reversed(mine)] == [
        ("Demo-opleidingsverstrekker", "disclosed"), ("Demo-HR-bemiddelaar", "other_partner"),
        ("Demo-opleidingsverstrekker", "part_not_granted"), ("Demo-opleidingsverstrekker", "revoked")]
    assert next(item for item in shares.grants if item.grant_id == grant.grant_id).state == "revoked"
    assert {partner.partner_id for partner in shares.partners} == {TRAINING_PROVIDER, EMPLOYER, HR}
    assert shares.max_days == MAX_PERIOD_DAYS == schemas.MAX_SHARE_DAYS

    calls = _lines(service, "partner_profile")[-6:]
    assert [(line["status"], line["partner"], line["refusal"]) for line in calls] == [
        (200, TRAINING_PROVIDER, None), (403, HR, "other_partner"), (403, TRAINING_PROVIDER, "part_not_granted"),
        (403, TRAINING_PROVIDER, "unknown_share"), (401, None, "wrong_client"), (403, TRAINING_PROVIDER, "revoked")]


def test_a_share_that_cannot_be_made_is_422_with_its_rule_and_stores_nothing(oidc_service, signed_in):
    service = oidc_service
    headers = signed_in[service.linked[1]]
    before = service.client.get("/me/shares", headers=headers).json()["grants"]
    cases = {
        "vacancy_needed": {"partner_id": EMPLOYER, "purpose": "apply_for_vacancy"},
        "purpose_not_for_partner": {"purpose": "apply_for_vacancy"},
        "unknown_partner": {"partner_id": "partner-unknown"},
        "contact_needed": {"parts": ["contact_wish"]},
        "contact_not_pseudonymous": {"parts": ["contact_wish"], "contact": {
            "channel": "email", "name": "An", "address": "an@example.be"}},
    }
    for code, overrides in cases.items():
        response = _share(service, headers, **overrides)
        assert response.status_code == 422 and response.json()["code"] == code, (code, response.text)
    too_long = _share(service, headers, days=MAX_PERIOD_DAYS + 1)
    assert too_long.status_code == 400, too_long.text  # the schema's bound
    assert service.client.get("/me/shares", headers=headers).json()["grants"] == before


def test_a_citizen_cannot_revoke_another_citizens_share(oidc_service, signed_in):
    service = oidc_service
    owner, other = service.linked[:2]
    grant = _share(service, signed_in[owner]).json()["grant"]
    response = service.client.delete(f"/me/shares/{grant['grant_id']}", headers=signed_in[other])
    assert response.status_code == 404, response.text
    assert _read(service, grant["grant_id"], TRAINING_PROVIDER).status_code == 200  # still active
    service.client.delete(f"/me/shares/{grant['grant_id']}", headers=signed_in[owner])


def test_the_register_counts_active_shares_per_kind_of_partner_and_withholds_small_counts(oidc_service, signed_in):
    service = oidc_service

    def training_sharing() -> dict:
        document = service.client.get("/register").json()
        return next(entry["sharing"] for entry in document["processings"]
                    if entry["sharing"] and entry["sharing"]["partner_kind"] == "training_provider")

    before = training_sharing()
    grant = _share(service, signed_in[service.linked[2]]).json()["grant"]
    during = training_sharing()
    assert before["partners"] == [] and before["active_grants"] == 0  # the module's other shares are revoked
    assert [partner["partner_id"] for partner in during["partners"]] == [TRAINING_PROVIDER]
    assert during["active_grants"] is None  # one share: fewer than SMALL_COUNT, withheld
    page = service.client.get("/register.html", params={"lang": "nl"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Demo-opleidingsverstrekker" in page.text and 'hreflang="en"' in page.text
    service.client.delete(f"/me/shares/{grant['grant_id']}", headers=signed_in[service.linked[2]])
    assert training_sharing() == before


# -- without a provider -----------------------------------------------------------------------------------------------


def test_without_a_provider_there_is_no_sign_in_configuration_and_no_partner_call(service):
    config = service.get("/auth/config")
    assert (config.status_code, config.json()["error"]) == (404, ERR_NO_SIGN_IN)
    partner = service.get("/partner/profiles/some-share", headers=_bearer("anything"))
    assert (partner.status_code, partner.json()["error"]) == (401, ERR_NO_PARTNERS)
