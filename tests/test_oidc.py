"""OpenID Connect sign-in: the resource server's token validation (serving/oidc.py) against tokens of an issuer of
our own (for what the real provider will not mint) and of the real local provider (oidc/provider.js): every refusal
with its reason, key rotation without a restart, partners' client-credentials tokens, and a citizen signing in
with authorisation code + PKCE in headless Chromium through serving/site/signin.js."""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from features.errors import LoopbaanError
from serving import oidc
from serving.oidc import AuthError, OidcSettings, OidcUnavailable, TokenValidator
from tests.oidc_fixtures import (
    AUDIENCE,
    PARTNER_SCOPE,
    SITE_CLIENT,
    ProviderProcess,
    StaticSite,
    init_state,
    partner_secret,
    partner_token,
    read_state,
    run_provider_command,
    serve_local_issuer,
    signing_key,
)

SKEW_S = 30
SUBJECTS = {"subject-1": 101}
DEMO_CITIZENS = [1017, 42, 990]
PARTNERS = ("partner-werkgever-demo", "partner-opleiding-demo", "partner-hr-demo")


def settings_for(issuer: str, **overrides) -> OidcSettings:
    fields = {"issuer": issuer, "audience": AUDIENCE, "client_id": SITE_CLIENT, "citizen_scope": "citizen",
              "partner_scope": PARTNER_SCOPE, "clock_skew_s": SKEW_S, "jwks_min_refresh_s": 0, "http_timeout_s": 2}
    return OidcSettings(**{**fields, **overrides})


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refusal(call) -> str:
    with pytest.raises(AuthError) as raised:
        call()
    assert str(raised.value) == "sign in again"
    return raised.value.reason


def unsigned_token(header: dict, payload) -> str:
    """Header and payload as given, with a signature of garbage (for checks made before the signature's)."""
    def part(value) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(payload)}.c2lnbmF0dXJl"


@pytest.fixture
def local():
    issuer, server = serve_local_issuer()
    yield issuer
    server.close()


@pytest.fixture
def validator(local):
    with TokenValidator(settings=settings_for(local.issuer), resolver=SUBJECTS.get) as validator:
        yield validator


# --- the validator, against an issuer of our own --------------------------------------------------------------

def test_a_valid_token_signs_in_its_citizen(local, validator) -> None:
    citizen = validator.citizen(authorization=bearer(local.sign(local.claims())))
    assert citizen.citizen_id == 101
    assert citizen.subject == "subject-1"
    assert citizen.scopes == {"citizen"}


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to the moment the test runs (parameters are built at collection, maybe long before)."""

    offset_s: int

    def at(self, now: int) -> int:
        return now + self.offset_s


@pytest.mark.parametrize(("claims", "reason"), [
    ({"iss": "http://127.0.0.1:9/other"}, oidc.WRONG_ISSUER),
    ({"aud": "urn:someone-else:api"}, oidc.WRONG_AUDIENCE),
    ({"exp": FromNow(-SKEW_S - 60)}, oidc.EXPIRED),
    ({"nbf": FromNow(SKEW_S + 60)}, oidc.NOT_YET_VALID),
    ({"iat": FromNow(SKEW_S + 60)}, oidc.NOT_YET_VALID),
    ({"sub": "no-vault-entry"}, oidc.UNKNOWN_SUBJECT),
    ({"client_id": "another-client"}, oidc.WRONG_CLIENT),
    ({"scope": "partner:profiles"}, oidc.MISSING_SCOPE),
    ({"exp": None}, oidc.MALFORMED),
    ({"client_id": None}, oidc.MALFORMED),
])
def test_each_bad_claim_is_refused_with_its_reason(local, validator, claims, reason) -> None:
    now = int(time.time())
    token = local.sign(local.claims(**{name: value.at(now) if isinstance(value, FromNow) else value
                                       for name, value in claims.items()}))
    assert refusal(lambda: validator.citizen(authorization=bearer(token))) == reason


def test_the_clock_skew_setting_is_the_leeway(local) -> None:
    now = int(time.time())
    just_expired = local.sign(local.claims(exp=now - 10))
    soon_valid = local.sign(local.claims(nbf=now + 10))
    with TokenValidator(settings=settings_for(local.issuer, clock_skew_s=SKEW_S), resolver=SUBJECTS.get) as lenient:
        assert lenient.citizen(authorization=bearer(just_expired)).citizen_id == 101
        assert lenient.citizen(authorization=bearer(soon_valid)).citizen_id == 101
    with TokenValidator(settings=settings_for(local.issuer, clock_skew_s=0), resolver=SUBJECTS.get) as strict:
        assert refusal(lambda: strict.citizen(authorization=bearer(just_expired))) == oidc.EXPIRED
        assert refusal(lambda: strict.citizen(authorization=bearer(soon_valid))) == oidc.NOT_YET_VALID


def test_a_tampered_token_is_refused_as_a_bad_signature(local, validator) -> None:
    header, payload, signature = local.sign(local.claims()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "subject-2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert refusal(lambda: validator.claims(token=f"{header}.{forged}.{signature}")) == oidc.BAD_SIGNATURE
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert refusal(lambda: validator.claims(token=f"{header}.{payload}.{flipped}")) == oidc.BAD_SIGNATURE
    impostor = local.sign(local.claims(), kid="key-1", key=signing_key("stranger"))
    assert refusal(lambda: validator.claims(token=impostor)) == oidc.BAD_SIGNATURE


def test_an_unknown_key_id_is_refused_after_one_rate_limited_refetch(local) -> None:
    settings = settings_for(local.issuer, jwks_min_refresh_s=3600)
    with TokenValidator(settings=settings, resolver=SUBJECTS.get) as validator:
        validator.claims(token=local.sign(local.claims()))
        fetched = validator.fetches
        assert refusal(lambda: validator.claims(token=local.sign(local.claims(), kid="key-2"))) == oidc.UNKNOWN_KEY
        assert refusal(lambda: validator.claims(token=local.sign(local.claims(), kid="key-3",
                                                                   key=signing_key("stranger")))) == oidc.UNKNOWN_KEY
        assert validator.fetches == fetched  # the first JWKS is younger than jwks_min_refresh_s: no refetch
    with TokenValidator(settings=settings_for(local.issuer), resolver=SUBJECTS.get) as validator:
        validator.claims(token=local.sign(local.claims()))
        fetched = validator.fetches
        assert refusal(lambda: validator.claims(token=local.sign(local.claims(), kid="key-2"))) == oidc.UNKNOWN_KEY
        assert validator.fetches == fetched + 1
        local.published = ["key-2"]
        assert validator.citizen(authorization=bearer(local.sign(local.claims(), kid="key-2"))).citizen_id == 101


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_dropped_from_the_jwks_is_refused_once_the_cached_jwks_is_too_old(local) -> None:
    clock = FakeClock()
    local.published = ["key-1", "key-2"]
    settings = settings_for(local.issuer, jwks_max_age_s=300, jwks_min_refresh_s=10)
    with TokenValidator(settings=settings, resolver=SUBJECTS.get, monotonic=clock) as validator:
        old = local.sign(local.claims(), kid="key-1")
        validator.claims(token=old)
        local.published = ["key-2"]
        clock.now += 299
        validator.claims(token=old)  # the cached JWKS is still young enough
        clock.now += 2
        assert refusal(lambda: validator.claims(token=old)) == oidc.UNKNOWN_KEY
        assert validator.claims(token=local.sign(local.claims(), kid="key-2"))["sub"] == "subject-1"


def test_cached_keys_stay_in_use_while_the_issuer_is_down() -> None:
    clock = FakeClock()
    issuer, server = serve_local_issuer()
    settings = settings_for(issuer.issuer, jwks_max_age_s=300, jwks_min_refresh_s=10, http_timeout_s=0.5)
    with TokenValidator(settings=settings, resolver=SUBJECTS.get, monotonic=clock) as validator:
        token = issuer.sign(issuer.claims())
        validator.claims(token=token)
        server.close()
        clock.now += 400
        fetched = validator.fetches
        assert validator.claims(token=token)["sub"] == "subject-1"
        assert validator.fetches == fetched + 1  # it tried, failed, and kept the keys it had


@pytest.mark.parametrize(("authorization", "reason"), [
    (None, oidc.NO_TOKEN),
    ("", oidc.NO_TOKEN),
    ("Basic dXNlcjpwYXNz", oidc.MALFORMED),
    ("Bearer not-a-jwt", oidc.MALFORMED),
    ("Bearer lb1.101.9999999999.c2lnbmF0dXJl", oidc.MALFORMED),
])
def test_a_missing_or_unreadable_token_is_refused(validator, authorization, reason) -> None:
    assert refusal(lambda: validator.citizen(authorization=authorization)) == reason


def test_tokens_that_are_not_access_tokens_of_an_accepted_algorithm_are_malformed(local, validator) -> None:
    unsigned = jwt.encode(local.claims(), None, algorithm="none", headers={"kid": "key-1", "typ": "at+jwt"})
    symmetric = jwt.encode(local.claims(), "a shared secret that is long enough to be accepted by hs256",
                           algorithm="HS256", headers={"kid": "key-1", "typ": "at+jwt"})
    id_token = local.sign(local.claims(), headers={"typ": "JWT"})
    odd_headers = [unsigned_token({"alg": "RS256", "typ": 5, "kid": "key-1"}, local.claims()),
                   unsigned_token({"alg": "RS256", "typ": "at+jwt", "kid": ["key-1"]}, local.claims()),
                   unsigned_token({"alg": "RS256", "typ": "at+jwt", "kid": "key-1"}, "a string, not claims")]
    for token in (unsigned, symmetric, id_token, *odd_headers):
        assert refusal(lambda token=token: validator.claims(token=token)) == oidc.MALFORMED
    numeric_subject = local.sign(local.claims(sub=101))
    assert refusal(lambda: validator.claims(token=numeric_subject)) == oidc.MALFORMED



def test_a_partner_token_names_the_partner_and_is_no_citizen_token(local, validator) -> None:
    token = local.sign(local.claims(sub="partner-hr-demo", client_id="partner-hr-demo", scope=PARTNER_SCOPE))
    partner = validator.partner(authorization=bearer(token))
    assert partner.partner_id == "partner-hr-demo"
    assert partner.scopes == {PARTNER_SCOPE}
    assert refusal(lambda: validator.citizen(authorization=bearer(token))) == oidc.WRONG_CLIENT
    citizen_token = local.sign(local.claims())
    assert refusal(lambda: validator.partner(authorization=bearer(citizen_token))) == oidc.WRONG_CLIENT
    unscoped = local.sign(local.claims(sub="partner-hr-demo", client_id="partner-hr-demo", scope=""))
    assert refusal(lambda: validator.partner(authorization=bearer(unscoped))) == oidc.MISSING_SCOPE


def test_an_unreachable_issuer_is_a_clear_error_not_a_hang() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        issuer = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = settings_for(issuer, http_timeout_s=0.5, jwks_min_refresh_s=60)
        with TokenValidator(settings=settings, resolver=SUBJECTS.get) as validator:
            token = jwt.encode({"iss": issuer}, signing_key("stranger"), algorithm="RS256",
                               headers={"kid": "k", "typ": "at+jwt"})
            with pytest.raises(OidcUnavailable, match="cannot be reached") as first:
                validator.claims(token=token)
            assert "LOOPBAAN_OIDC_ISSUER" in str(first.value)
            with pytest.raises(OidcUnavailable, match="last attempt failed"):
                validator.claims(token=token)  # no second wait within jwks_min_refresh_s
            assert validator.fetches == 1


def test_a_discovery_document_of_another_issuer_is_refused(local) -> None:
    claimed = f"{local.issuer}/"  # the discovery says "http://...:port", not with the trailing slash
    token = local.sign(local.claims(iss=claimed))
    with TokenValidator(settings=settings_for(claimed), resolver=SUBJECTS.get) as validator, \
            pytest.raises(OidcUnavailable, match="names the issuer"):
        validator.claims(token=token)


def test_no_issuer_setting_is_a_clear_error() -> None:
    with pytest.raises(LoopbaanError, match="LOOPBAAN_OIDC_ISSUER"):
        TokenValidator(settings=OidcSettings(issuer=None), resolver=SUBJECTS.get)


def test_the_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOOPBAAN_OIDC_ISSUER", "http://127.0.0.1:4000")
    monkeypatch.setenv("LOOPBAAN_OIDC_CLOCK_SKEW_S", "5")
    settings = OidcSettings()
    assert (settings.issuer, settings.clock_skew_s) == ("http://127.0.0.1:4000", 5)
    assert settings.site_config() == {"issuer": "http://127.0.0.1:4000", "client_id": "loopbaan-site",
                                      "audience": "urn:loopbaan:api", "scope": "openid citizen"}


# --- the real provider ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site():
    site = StaticSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory, site):
    state = tmp_path_factory.mktemp("oidc") / "state"
    init_state(state, citizens=DEMO_CITIZENS)
    process = ProviderProcess(state=state, site_urls=[site.url])
    site.config = settings_for(process.issuer).site_config()
    yield process
    process.stop()


def vault_links(state: Path) -> dict[str, int]:
    """The subjects file as the vault imports it: subject -> citizen id."""
    document = read_state(state, "subjects.json")
    assert (document["format"], document["version"]) == ("loopbaan-oidc-subjects", 1)
    return {link["subject"]: link["citizen_id"] for link in document["subjects"]}


@pytest.mark.oidc
def test_demo_subjects_are_random_and_linked_to_their_citizen_only_in_the_subjects_file(provider) -> None:
    links = vault_links(provider.state)
    assert sorted(links.values()) == sorted(DEMO_CITIZENS)
    assert all(len(subject) == 22 and not subject.isdigit() for subject in links)
    accounts = read_state(provider.state, "accounts.json")["accounts"]
    assert {account["sub"] for account in accounts} == set(links)
    assert all(set(account) == {"sub", "login", "password"} for account in accounts)  # no citizen id at the provider
    logins = read_state(provider.state, "demo-logins.json")["logins"]
    hashes = {account["password"] for account in accounts}
    assert all(hashed.startswith("scrypt$") for hashed in hashes)
    assert not {login["password"] for login in logins} & hashes  # the provider keeps only hashes


@pytest.mark.oidc
def test_init_keeps_its_accounts_and_refuses_other_citizens(provider) -> None:
    before = (provider.state / "subjects.json").read_text()
    again = run_provider_command("init", "--dir", str(provider.state), "--citizens", ",".join(map(str, DEMO_CITIZENS)))
    assert again.returncode == 0, again.stderr
    assert (provider.state / "subjects.json").read_text() == before
    other = run_provider_command("init", "--dir", str(provider.state), "--citizens", "5,6")
    assert other.returncode == 1 and "remove the folder" in other.stderr
    bad = run_provider_command("init", "--dir", str(provider.state), "--citizens", "five")
    assert bad.returncode == 1 and "comma-separated list of citizen ids" in bad.stderr


@pytest.mark.oidc
def test_partner_tokens_from_the_provider_identify_each_partner(provider) -> None:
    with TokenValidator(settings=settings_for(provider.issuer), resolver=vault_links(provider.state).get) as validator:
        for partner_id in PARTNERS:
            response = partner_token(provider.issuer, provider.state, partner_id)
            assert response.status_code == 200, response.text
            partner = validator.partner(authorization=bearer(response.json()["access_token"]))
            assert (partner.partner_id, partner.scopes) == (partner_id, {PARTNER_SCOPE})
            assert refusal(lambda response=response: validator.citizen(
                authorization=bearer(response.json()["access_token"]))) == oidc.WRONG_CLIENT
    other_secret = partner_secret(provider.state, PARTNERS[1])
    assert partner_token(provider.issuer, provider.state, PARTNERS[0], secret=other_secret).status_code == 401
    with TokenValidator(settings=settings_for(provider.issuer, audience="urn:other:api"),
                        resolver={}.get) as elsewhere:
        token = partner_token(provider.issuer, provider.state, PARTNERS[0]).json()["access_token"]
        assert refusal(lambda: elsewhere.partner(authorization=bearer(token))) == oidc.WRONG_AUDIENCE


@pytest.mark.oidc
def test_a_rotated_out_key_is_refused_and_the_new_key_accepted_without_restarting_the_validator(tmp_path, site):
    state = tmp_path / "state"
    init_state(state, citizens=[7])
    provider = ProviderProcess(state=state, site_urls=[site.url])
    clock = FakeClock()
    settings = settings_for(provider.issuer, jwks_min_refresh_s=10, jwks_max_age_s=300)
    try:
        with TokenValidator(settings=settings, resolver={}.get, monotonic=clock) as validator:
            old_token = partner_token(provider.issuer, provider.state, PARTNERS[0]).json()["access_token"]
            assert validator.partner(authorization=bearer(old_token)).partner_id == PARTNERS[0]
            (old_kid,) = (key["kid"] for key in read_state(state, "jwks.json")["keys"])

            assert run_provider_command("rotate-keys", "--dir", str(state)).returncode == 0
            new_kid, kept_kid = provider.reload()
            assert kept_kid == old_kid != new_kid
            published = httpx.get(f"{provider.issuer}/jwks", timeout=10).json()["keys"]
            assert [key["kid"] for key in published] == [new_kid, old_kid]
            assert all("d" not in key for key in published)

            new_token = partner_token(provider.issuer, provider.state, PARTNERS[0]).json()["access_token"]
            assert jwt.get_unverified_header(new_token)["kid"] == new_kid
            clock.now += 11  # past jwks_min_refresh_s: the unknown kid may make it fetch the JWKS again
            assert validator.partner(authorization=bearer(new_token)).partner_id == PARTNERS[0]
            assert validator.partner(authorization=bearer(old_token)).partner_id == PARTNERS[0]

            assert run_provider_command("retire-keys", "--dir", str(state)).returncode == 0
            assert provider.reload() == [new_kid]
            clock.now += 300  # the cached JWKS is now too old: the next token makes it fetch the JWKS again
            assert refusal(lambda: validator.partner(authorization=bearer(old_token))) == oidc.UNKNOWN_KEY
            assert validator.partner(authorization=bearer(new_token)).partner_id == PARTNERS[0]
            newest_token = partner_token(provider.issuer, provider.state, PARTNERS[0]).json()["access_token"]
            assert validator.partner(authorization=bearer(newest_token)).partner_id == PARTNERS[0]
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def browser():
    from tests.test_site import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium where it may (root and apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _sign_in(page, site: StaticSite, *, login: str, password: str) -> None:
    page.goto(site.url)
    page.click("#sign-in")
    page.wait_for_selector("input[name=login]", timeout=15_000)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _wait_for_state(page, state: str) -> None:
    page.wait_for_function("state => document.querySelector('#state')?.textContent === state", arg=state,
                           timeout=15_000)


@pytest.mark.oidc
@pytest.mark.browser
def test_a_citizen_signs_in_with_code_and_pkce_and_gets_a_token_the_validator_accepts(browser, provider, site):
    links = vault_links(provider.state)
    demo = read_state(provider.state, "demo-logins.json")["logins"][1]
    context = browser.new_context(locale="nl-BE")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    authorize: list[str] = []
    page.on("request", lambda request: authorize.append(request.url) if "/auth?" in request.url else None)
    try:
        _sign_in(page, site, login=demo["login"], password="wrong")
        assert "Onbekende gebruikersnaam of fout wachtwoord" in page.text_content("[role=alert]")
        page.fill("input[name=password]", demo["password"])
        page.click("button[type=submit]")
        _wait_for_state(page, "signed-in")
        token = page.evaluate("loopbaanSignIn.accessToken()")
        assert page.url == site.url  # the fragment with the code is gone from the address bar
        assert page.evaluate("sessionStorage.getItem('loopbaan-signin-pending')") is None
    finally:
        context.close()
    assert not errors, errors
    request = httpx.URL(authorize[0]).params
    assert (request["code_challenge_method"], request["response_mode"], request["resource"]) == ("S256", "fragment",
                                                                                              AUDIENCE)
    assert len(request["code_challenge"]) == 43 and request["state"] and request["nonce"]
    assert not any("code=" in path or token in path for path in site.requests)  # nothing reached the site's server
    with TokenValidator(settings=settings_for(provider.issuer), resolver=links.get) as validator:
        citizen = validator.citizen(authorization=bearer(token))
    assert citizen.citizen_id == links[demo["subject"]] == DEMO_CITIZENS[1]
    assert citizen.scopes == {"citizen"}  # resource scopes only: "openid" is for the ID token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert DEMO_CITIZENS[1] not in claims.values() and str(DEMO_CITIZENS[1]) not in claims.values()


@pytest.mark.oidc
@pytest.mark.browser
def test_the_provider_refuses_a_code_exchange_without_the_pkce_verifier(browser, provider, site):
    demo = read_state(provider.state, "demo-logins.json")["logins"][0]
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(site.url)
        page.evaluate("""() => {  // lose the verifier between the redirect and the callback
            const realSetItem = Storage.prototype.setItem;
            Storage.prototype.setItem = function (key, value) {
                if (key === 'loopbaan-signin-pending') {
                    value = JSON.stringify({...JSON.parse(value), verifier: 'x'.repeat(43)});
                }
                return realSetItem.call(this, key, value);
            };
        }""")
        page.click("#sign-in")
        page.wait_for_selector("input[name=login]", timeout=15_000)
        page.fill("input[name=login]", demo["login"])
        page.fill("input[name=password]", demo["password"])
        page.click("button[type=submit]")
        _wait_for_state(page, "exchange_failed")
        assert page.evaluate("loopbaanSignIn.accessToken()") is None
    finally:
        context.close()


@pytest.mark.oidc
@pytest.mark.browser
def test_signing_out_forgets_the_token_and_ends_the_session_at_the_provider(browser, provider, site):
    demo = read_state(provider.state, "demo-logins.json")["logins"][2]
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in(page, site, login=demo["login"], password=demo["password"])
        _wait_for_state(page, "signed-in")
        page.evaluate("loopbaanSignIn.signOut()")
        page.click("button[name=logout][value=yes]")
        page.wait_for_url(site.url, timeout=15_000)
        assert page.evaluate("loopbaanSignIn.accessToken()") is None
        page.click("#sign-in")
        page.wait_for_selector("input[name=login]", timeout=15_000)  # asked again: the provider's session ended
    finally:
        context.close()
