"""The real service signed into by the real local provider: :func:`start_signed_in_service` (the conftest's
``oidc_service``) starts ``node oidc/provider.js`` with demo accounts for a few citizens of the service's
population, links their subjects in the service home's vault (as ``loopbaan vault link-subjects`` does) and starts
the service with ``LOOPBAAN_OIDC_ISSUER``.

A citizen's token comes through the provider's own sign-in (authorisation code with PKCE, the login form posted as a
browser would: :func:`citizen_token`); a partner's through client credentials (:func:`partner_token`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.conftest import free_port, start_service, stop_service
from tests.oidc_fixtures import AUDIENCE, SITE_CLIENT, ProviderProcess, init_state, partner_token, read_state

MAX_REDIRECTS = 10


def citizen_token(issuer: str, *, login: str, password: str, redirect_uri: str) -> str:
    """An access token for the site, through the provider's sign-in as a browser goes through it: the authorisation
    request with PKCE, the login form, the redirect back with the code in the fragment, the code exchange."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    with httpx.Client(timeout=15) as browser:
        response = browser.get(f"{issuer}/auth", params={
            "client_id": SITE_CLIENT, "response_type": "code", "redirect_uri": redirect_uri,
            "scope": "openid citizen", "code_challenge": challenge, "code_challenge_method": "S256",
            "state": state, "nonce": secrets.token_urlsafe(12), "response_mode": "fragment", "resource": AUDIENCE})
        for _ in range(MAX_REDIRECTS):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    answer = parse_qs(urlsplit(location).fragment)
                    assert answer.get("state") == [state], location
                    assert "code" in answer, f"the provider refused the sign-in: {answer}"
                    code = answer["code"][0]
                    break
                response = browser.get(location)
            elif "/interaction/" in str(response.url) and 'name="login"' in response.text:
                response = browser.post(f"{response.url}/login", data={"login": login, "password": password})
                assert response.status_code != 401, "the provider refused the login"
            else:
                raise AssertionError(f"unexpected answer of the provider: {response.status_code} {response.text[:300]}")
        else:
            raise AssertionError("the sign-in did not come back to the site")
        exchanged = browser.post(f"{issuer}/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": SITE_CLIENT,
            "code_verifier": verifier, "resource": AUDIENCE})
    assert exchanged.status_code == 200, exchanged.text
    return exchanged.json()["access_token"]


@dataclass
class SignedInService:
    client: httpx.Client
    home: Path
    issuer: str
    state: Path  # the provider's folder: demo-logins.json, partners.json, subjects.json
    site_url: str
    citizens: list[int]  # the citizens with a demo account, in the order of demo-logins.json

    @property
    def linked(self) -> list[int]:
        """The citizens the vault links to their sign-in subject (all but the last)."""
        return self.citizens[:-1]

    @property
    def unlinked(self) -> int:
        """A citizen with a demo account whose subject the vault does not link: signing in is refused."""
        return self.citizens[-1]

    def login(self, citizen_id: int) -> dict:
        """The demo login (``login``, ``password``, ``subject``) of one of :attr:`citizens`."""
        return read_state(self.state, "demo-logins.json")["logins"][self.citizens.index(citizen_id)]

    def token(self, citizen_id: int) -> str:
        demo = self.login(citizen_id)
        return citizen_token(self.issuer, login=demo["login"], password=demo["password"], redirect_uri=self.site_url)

    def partner_token(self, partner_id: str) -> str:
        response = partner_token(self.issuer, self.state, partner_id)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


FIRST_SIGNED_IN = 200  # citizens from here on get demo accounts: other modules use the first ones
SIGNED_IN = 6  # test_service_shares uses the first three linked, test_site the next two; the last is unlinked


def start_signed_in_service(home: Path, folder: Path) -> tuple[SignedInService, Callable[[], None]]:
    """The service of ``home`` with the real provider (state in ``folder``) as its issuer and its demo citizens
    linked; returns it and the function that stops both."""
    from features.settings import Settings
    from features.vault.database import open_engine
    from features.vault.links import link_subjects, read_subjects

    port = free_port()
    site_url = f"http://127.0.0.1:{port}/site/"
    state = folder / "state"
    citizens = signed_in_citizens(home)
    init_state(state, citizens=citizens)
    provider = ProviderProcess(state=state, site_urls=[site_url])
    engine = open_engine(Settings(home=home).vault_url)
    try:
        links = read_subjects(state / "subjects.json")
        link_subjects(engine=engine, issuer=provider.issuer, links=links[:-1], source="test")
        process, client = start_service(home, port=port, log_name="service-oidc.log", env={
            "LOOPBAAN_ALLOW_CHALLENGER": "true", "LOOPBAAN_OIDC_ISSUER": provider.issuer})
    except BaseException:
        provider.stop()
        raise
    finally:
        engine.dispose()

    def stop() -> None:
        stop_service(process, client)
        provider.stop()

    return SignedInService(client=client, home=home, issuer=provider.issuer, state=state, site_url=site_url,
                           citizens=citizens), stop


def signed_in_citizens(home: Path, count: int = SIGNED_IN) -> list[int]:
    """``count`` citizens with AI suggestions on, of the home's population, who get a demo account."""
    from features.population import PopulationStore
    from features.settings import Settings

    citizens = PopulationStore(Settings(home=home).population_dir).table("citizens")
    ids = sorted(int(value) for value in citizens.loc[~citizens["ai_opt_out"], "citizen_id"])
    return ids[FIRST_SIGNED_IN:FIRST_SIGNED_IN + count]
