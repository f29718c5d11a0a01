"""The service started with sign-in through the real local OpenID provider, for the site's browser tests.

The provider must know the site's address (its redirect and CORS origin) before it starts, and the service the
provider's issuer: so the service's port is chosen first, the provider started with the site on that port, the
vault's subjects linked for the provider's issuer, and then the service started on that port.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import conftest
from tests.oidc_fixtures import PARTNER_SCOPE, ProviderProcess, init_state, partner_secret, read_state, require_provider


@dataclass
class SignInService:
    client: httpx.Client
    provider: ProviderProcess
    home: Path
    site_url: str
    logins: list[dict]  # {"login", "password", "subject", "citizen_id"} per demo citizen

    def partner_token(self, partner_id: str) -> str:
        """A partner's client-credentials token, from the token endpoint that the provider's discovery names."""
        discovery = httpx.get(f"{self.provider.issuer}/.well-known/openid-configuration", timeout=10).json()
        response = httpx.post(discovery["token_endpoint"], timeout=10,
                              auth=(partner_id, partner_secret(self.provider.state, partner_id)),
                              data={"grant_type": "client_credentials", "scope": PARTNER_SCOPE})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def _link_subjects(home: Path, *, issuer: str, subjects: Path) -> None:
    from features.settings import Settings
    from features.vault.database import open_engine
    from features.vault.links import link_subjects, read_subjects

    engine = open_engine(Settings(home=home).vault_url)
    try:
        link_subjects(engine=engine, issuer=issuer, links=read_subjects(subjects), source=str(subjects))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def signin_service(service_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the service home, its demo citizens (AI suggestions on) linked to the provider's subjects, served
    with LOOPBAAN_OIDC_ISSUER set to that provider."""
    from features.population import PopulationStore

    require_provider()
    home = tmp_path_factory.mktemp("signin") / "home"
    shutil.copytree(service_home, home, ignore=shutil.ignore_patterns("*.log"))
    citizens = PopulationStore(home / "data" / "population").table("citizens")
    demo = [int(citizen) for citizen in citizens.loc[~citizens["ai_opt_out"], "citizen_id"].iloc[130:133]]
    state = home / "oidc"
    init_state(state, citizens=demo)
    port = conftest.free_port()
    site_url = f"http://127.0.0.1:{port}/site/"
    provider = ProviderProcess(state=state, site_urls=[site_url])
    try:
        _link_subjects(home, issuer=provider.issuer, subjects=state / "subjects.json")
        citizen_of = {link["subject"]: link["citizen_id"] for link in read_state(state, "subjects.json")["subjects"]}
        logins = [{**login, "citizen_id": citizen_of[login["subject"]]}
                  for login in read_state(state, "demo-logins.json")["logins"]]
        process, client, log = conftest.start_service(
            home, log_name="signin-service.log", port=port,
            env={"LOOPBAAN_OIDC_ISSUER": provider.issuer, "LOOPBAAN_ALLOW_CHALLENGER": "true",
                 "LOOPBAAN_SERVICE_WORKERS": "1"})
    except BaseException:
        provider.stop()
        raise
    assert str(client.base_url).rstrip("/") == site_url.removesuffix("/site/")
    if client.get("/auth/config").status_code != 200:
        conftest.stop_service(process, client, log)
        provider.stop()
        pytest.fail("the service answers no GET /auth/config with LOOPBAAN_OIDC_ISSUER set: it needs the sign-in "
                    "side of the service (the commit 'Service: sign-in and sharing' on main)")
    yield SignInService(client=client, provider=provider, home=home, site_url=site_url, logins=logins)
    conftest.stop_service(process, client, log)
    provider.stop()
