"""The demo's local OpenID provider (``node oidc/provider.js``, see docs/sign-in.md): its demo accounts, and the
provider serving them in a child process that the demo starts and stops."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from features.errors import LoopbaanError
from serving.signin import CLIENTS_FILE

OIDC_DIR = Path(__file__).resolve().parent.parent / "oidc"
PROVIDER = OIDC_DIR / "provider.js"
PACKAGES = OIDC_DIR / "node_modules" / "oidc-provider"
READY = "loopbaan-oidc ready "
RELOADED = "loopbaan-oidc reloaded "  # after SIGHUP: the key ids it now serves
READY_TIMEOUT_S = 60
INIT_TIMEOUT_S = 120
STOP_TIMEOUT_S = 10
ERR_NO_NODE = ("Node.js is not installed (`node` is not on PATH): the demo's sign-in runs the local OpenID provider "
               "`node oidc/provider.js`. Install Node.js 20.19 or later, run `make oidc-deps`, then `make demo` again "
               "(or `loopbaan demo --no-serve` to stop before the service)")
ERR_NO_PROVIDER = "the local OpenID provider {path} is missing: run the demo from the project's checkout"
ERR_NO_PACKAGES = ("the local OpenID provider's npm packages are missing ({path}): run `make oidc-deps` "
                   "(npm ci in oidc/), then `make demo` again")
ERR_INIT = "the local OpenID provider could not make the demo accounts in {folder} (exit code {code}): {output}"
ERR_STATE = "the demo accounts in {folder} are unusable ({cause}): remove that folder and run the demo again"
ERR_EXITED = ("the local OpenID provider stopped before printing {line!r} (exit code {code}); its log {log}: {tail}. "
              "If its packages are missing or broken, run `make oidc-deps`")
ERR_SLOW = ("the local OpenID provider did not print {line!r} within {seconds} s; its log {log}: {tail}. "
            "If its packages are missing or broken, run `make oidc-deps`")


@dataclass(frozen=True)
class DemoLogin:
    login: str
    password: str
    citizen_id: int


@dataclass(frozen=True)
class PartnerSecret:
    client_id: str
    client_secret: str
    name: str
    scope: str


@dataclass(frozen=True)
class Accounts:
    """What ``provider.js init`` made in ``folder``: the demo citizens' logins and the partners' secrets."""

    folder: Path
    logins: list[DemoLogin]
    partners: list[PartnerSecret]
    reused: bool

    @property
    def subjects_file(self) -> Path:
        return self.folder / "subjects.json"


@dataclass
class Provider:
    """``provider.js serve`` in a child process, its output in ``log``."""

    process: subprocess.Popen
    log: Path
    issuer: str = ""

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, prefix: str, *, after: int = 0, timeout_s: float = READY_TIMEOUT_S) -> str:
        """The first line of the log from line ``after`` on that starts with ``prefix``, waiting for it; the
        provider is stopped and the error says why when it exits or stays silent."""
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                found = next((line for line in _read(self.log).splitlines()[after:] if line.startswith(prefix)), None)
                if found is not None:
                    return found
                if self.process.poll() is not None:
                    raise LoopbaanError(ERR_EXITED.format(line=prefix.strip(), code=self.process.returncode,
                                                          log=self.log, tail=_tail(self.log)))
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        self.stop()
        raise LoopbaanError(ERR_SLOW.format(line=prefix.strip(), seconds=timeout_s, log=self.log,
                                            tail=_tail(self.log)))

    def reload(self) -> list[str]:
        """SIGHUP: the provider re-reads its keys and accounts; returns the key ids it now serves."""
        seen = len(_read(self.log).splitlines())
        self.process.send_signal(signal.SIGHUP)
        return self.wait_for(RELOADED, after=seen).removeprefix(RELOADED).strip().split(",")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def node() -> str:
    """The node executable that runs the provider, or a clear error saying what to install."""
    executable = shutil.which("node")
    if executable is None:
        raise LoopbaanError(ERR_NO_NODE)
    if not PROVIDER.is_file():
        raise LoopbaanError(ERR_NO_PROVIDER.format(path=PROVIDER))
    if not PACKAGES.is_dir():
        raise LoopbaanError(ERR_NO_PACKAGES.format(path=PACKAGES))
    return executable


def init(*, folder: Path, citizens: list[int]) -> Accounts:
    """``provider.js init``: one demo account per citizen (kept when the folder holds them already)."""
    executable = node()
    reused = (folder / "accounts.json").is_file()
    result = subprocess.run([executable, str(PROVIDER), "init", "--dir", str(folder),
                             "--citizens", ",".join(map(str, citizens))],
                            capture_output=True, text=True, timeout=INIT_TIMEOUT_S, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip() or "no output"
        raise LoopbaanError(ERR_INIT.format(folder=folder, code=result.returncode, output=output))
    return read_accounts(folder, reused=reused)


def read_accounts(folder: Path, *, reused: bool) -> Accounts:
    try:
        logins = json.loads((folder / "demo-logins.json").read_text(encoding="utf-8"))["logins"]
        subjects = json.loads((folder / "subjects.json").read_text(encoding="utf-8"))["subjects"]
        partners = json.loads((folder / "partners.json").read_text(encoding="utf-8"))["partners"]
        clients = {client["client_id"]: client
                   for client in json.loads(CLIENTS_FILE.read_text(encoding="utf-8"))["partners"]}
        citizen_of = {link["subject"]: int(link["citizen_id"]) for link in subjects}
        return Accounts(folder=folder, reused=reused,
                        logins=[DemoLogin(login=entry["login"], password=entry["password"],
                                          citizen_id=citizen_of[entry["subject"]]) for entry in logins],
                        partners=[PartnerSecret(client_id=entry["client_id"], client_secret=entry["client_secret"],
                                                name=clients[entry["client_id"]]["client_name"],
                                                scope=clients[entry["client_id"]]["scope"])
                                  for entry in partners if entry["client_id"] in clients])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LoopbaanError(ERR_STATE.format(folder=folder, cause=type(error).__name__)) from None


def start(*, folder: Path, port: int, site_urls: list[str], log: Path) -> Provider:
    """``provider.js serve`` on loopback (``port`` 0: any free port), waiting for its ready line."""
    executable = node()
    command = [executable, str(PROVIDER), "serve", "--dir", str(folder), "--port", str(port)]
    for url in site_urls:
        command += ["--site-url", url]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as output:
        # Its own session: a Ctrl-C reaches the demo only, which then stops the provider after the service.
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    provider = Provider(process=process, log=log)
    provider.issuer = provider.wait_for(READY).removeprefix(READY).strip()
    return provider


def _read(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tail(log: Path, *, lines: int = 5) -> str:
    return " | ".join(_read(log).strip().splitlines()[-lines:]) or "empty"


def partner_token_command(*, issuer: str, partner: PartnerSecret) -> str:
    """The curl line with which a partner gets its client-credentials token from the provider."""
    return (f"curl -s -u {partner.client_id}:{partner.client_secret} -d grant_type=client_credentials "
            f"-d scope={partner.scope} {issuer}/token")
