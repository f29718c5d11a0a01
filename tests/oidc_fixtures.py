"""Helpers for the sign-in tests: the real local provider (``oidc/provider.js``) in a child process, a small
issuer of our own (discovery + JWKS over HTTP, keys made here) for tokens the provider will not mint, and a
static site that serves ``signin.js`` on a test page."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from loopbaan_cli import oidc_provider

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROVIDER = oidc_provider.PROVIDER
SIGNIN_JS = PROJECT_ROOT / "serving" / "site" / "signin.js"
AUDIENCE = "urn:loopbaan:api"
SITE_CLIENT = "loopbaan-site"
PARTNER_SCOPE = "partner:profiles"


def require_provider() -> str:
    """The node executable, or a skip that says what is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the sign-in tests need Node.js 20+ and `make oidc-deps`")
    if not oidc_provider.PACKAGES.is_dir():
        pytest.skip("the provider's npm packages are missing: run `make oidc-deps` (npm ci in oidc/)")
    return node


def run_provider_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_provider(), str(PROVIDER), *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


class ProviderProcess:
    """``node oidc/provider.js serve`` on a free loopback port, started as the demo starts it
    (:func:`loopbaan_cli.oidc_provider.start`), for one test module or test; its log beside ``state``."""

    def __init__(self, *, state: Path, site_urls: list[str]) -> None:
        require_provider()
        self.state = state
        self._provider = oidc_provider.start(folder=state, port=0, site_urls=site_urls,
                                             log=state.parent / f"{state.name}-provider.log")
        self.issuer = self._provider.issuer

    def reload(self) -> list[str]:
        """SIGHUP: the provider re-reads its keys and accounts; returns the key ids it now serves."""
        return self._provider.reload()

    def stop(self) -> None:
        self._provider.stop()


def init_state(state: Path, *, citizens: list[int]) -> None:
    result = run_provider_command("init", "--dir", str(state), "--citizens", ",".join(map(str, citizens)))
    assert result.returncode == 0, result.stderr


def read_state(state: Path, name: str) -> dict:
    return json.loads((state / name).read_text(encoding="utf-8"))


def partner_secret(state: Path, partner_id: str) -> str:
    partners = read_state(state, "partners.json")["partners"]
    return next(partner["client_secret"] for partner in partners if partner["client_id"] == partner_id)


def partner_token(issuer: str, state: Path, partner_id: str, *, secret: str | None = None) -> httpx.Response:
    """The provider's answer to a partner's client-credentials request (its secret from ``partners.json``)."""
    secret = secret or partner_secret(state, partner_id)
    return httpx.post(f"{issuer}/token", auth=(partner_id, secret), timeout=10,
                      data={"grant_type": "client_credentials", "scope": PARTNER_SCOPE})


@dataclass
class LocalIssuer:
    """An issuer of our own: serves discovery and a JWKS, signs any token a test asks for."""

    issuer: str
    keys: dict[str, rsa.RSAPrivateKey]
    published: list[str]
    requests: list[str] = field(default_factory=list)

    def sign(self, claims: dict, *, kid: str | None = None, key: rsa.RSAPrivateKey | None = None,
             headers: dict | None = None, algorithm: str = "RS256") -> str:
        kid = kid or self.published[0]
        return jwt.encode(claims, key or self.keys[kid], algorithm=algorithm,
                          headers={"kid": kid, "typ": "at+jwt", **(headers or {})})

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": "subject-1", "client_id": SITE_CLIENT,
                  "scope": "citizen", "iat": now, "exp": now + 600, "jti": f"t{time.monotonic_ns()}"}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def jwks(self) -> dict:
        keys = []
        for kid in self.published:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
            keys.append({**public, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": keys}


@functools.cache
def signing_key(name: str) -> rsa.RSAPrivateKey:
    """One RSA key per name for the whole session (making a 2048-bit key takes a while)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Server:
    """A threaded loopback HTTP server answering GETs with ``route(path) -> (status, content type, body)``."""

    def __init__(self, route: Callable[[str], tuple[int, str, bytes]], log: list[str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                log.append(self.path)
                status, content_type, body = route(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _json(value: dict) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(value).encode()


def serve_local_issuer() -> tuple[LocalIssuer, _Server]:
    log: list[str] = []
    holder: dict[str, LocalIssuer] = {}

    def route(path: str) -> tuple[int, str, bytes]:
        issuer = holder["issuer"]
        if path == "/.well-known/openid-configuration":
            return _json({"issuer": issuer.issuer, "jwks_uri": f"{issuer.issuer}/jwks"})
        if path == "/jwks":
            return _json(issuer.jwks())
        return 404, "text/plain", b"not found"

    server = _Server(route, log)
    keys = {"key-1": signing_key("key-1"), "key-2": signing_key("key-2")}
    holder["issuer"] = LocalIssuer(issuer=server.url, keys=keys, published=["key-1"], requests=log)
    return holder["issuer"], server


TEST_PAGE = """<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>sign-in test</title>
<script src="/site/signin.js" data-config="/auth/config"></script></head>
<body><button id="sign-in" type="button">Aanmelden</button><p id="state">waiting</p>
<script>
  loopbaanSignIn.onSignedIn(() => { document.querySelector("#state").textContent = "signed-in"; });
  loopbaanSignIn.ready.then(({ error }) => { if (error) document.querySelector("#state").textContent = error; });
  document.querySelector("#sign-in").addEventListener("click", () => loopbaanSignIn.signIn());
</script></body></html>"""


class StaticSite:
    """``/site/`` (the test page), ``/site/signin.js`` and ``/auth/config``, recording every path asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.config: dict = {}
        self._server = _Server(self._route, self.requests)
        self.url = f"{self._server.url}/site/"

    def _route(self, path: str) -> tuple[int, str, bytes]:
        if path.split("?")[0] == "/site/":
            return 200, "text/html; charset=utf-8", TEST_PAGE.encode()
        if path == "/site/signin.js":
            return 200, "text/javascript; charset=utf-8", SIGNIN_JS.read_bytes()
        if path == "/auth/config":
            return _json(self.config)
        return 404, "text/plain", b"not found"

    def close(self) -> None:
        self._server.close()
