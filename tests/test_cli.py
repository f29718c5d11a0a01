"""The `loopbaan` command line as a user meets it: help, generation, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from features.errors import LoopbaanError
from tests.conftest import PROJECT_ROOT

LOOPBAAN = [sys.executable, "-m", "loopbaan_cli"]


def run(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPBAAN_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([*LOOPBAAN, *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT,
                          timeout=timeout, check=False)


def test_help_lists_the_commands(isolated_home: Path) -> None:
    result = run("--help", home=isolated_home)
    assert result.returncode == 0
    for command in ("data", "taxonomy", "demo", "train", "compare", "serve", "token", "assess", "promote", "review",
                    "schedule"):
        assert command in result.stdout


@pytest.mark.parametrize("command", [["data", "generate"], ["data", "check"], ["taxonomy", "info"], ["demo"], ["train"],
                                     ["compare"], ["serve"], ["token"], ["assess"], ["promote"], ["review"],
                                     ["schedule"]])
def test_every_command_has_help(command: list[str], isolated_home: Path) -> None:
    result = run(*command, "--help", home=isolated_home)
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.slow
def test_generate_then_check(isolated_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "pop"
    result = run("data", "generate", "--citizens", "300", "--seed", "5", "--vacancies", "200", "--trainings", "50",
                 "--out", str(out), "--quiet", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert "wrote 300 citizens" in result.stdout
    check = run("data", "check", "--data", str(out), "--json", home=isolated_home)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["rows"]["citizens"] == 300


def test_taxonomy_info_json(isolated_home: Path) -> None:
    result = run("taxonomy", "info", "--json", home=isolated_home)
    summary = json.loads(result.stdout)
    assert summary["occupations"] == 3007 and summary["relations"] == 123855


def test_taxonomy_info_imports_competent(isolated_home: Path) -> None:
    fixture = PROJECT_ROOT / "tests" / "fixtures" / "competent"
    result = run("taxonomy", "info", "--competent", str(fixture), "--json", home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["source"] == "competent"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "generate", "--citizens", "-5"], "Invalid value for '--citizens'"),
        (["data", "generate", "--citizens", "many"], "Invalid value for '--citizens'"),
        (["data", "check", "--data", "/nonexistent/population"], "error: no population at /nonexistent/population"),
        (["taxonomy", "info", "--competent", "/nonexistent/competent"], "error:"),
    ],
)
def test_bad_input_gets_a_message_not_a_traceback(args: list[str], message: str, isolated_home: Path) -> None:
    result = run(*args, home=isolated_home)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_corrupt_population_file_gets_one_line(isolated_home: Path, small_population_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(small_population_dir, copy)
    (copy / "profiles.parquet").write_bytes(b"\x00" * 64)
    result = run("data", "check", "--data", str(copy), home=isolated_home)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "profiles.parquet is not readable Parquet" in lines[0]
    assert "Traceback" not in result.stderr


def test_output_over_a_foreign_folder_is_refused(isolated_home: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    result = run("data", "generate", "--citizens", "100", "--out", str(foreign), "-q", home=isolated_home)
    assert result.returncode == 2 and "is not a loopbaan population folder" in result.stderr
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_demo_help_explains_sign_in(isolated_home: Path) -> None:
    result = run("demo", "--help", home=isolated_home)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--oidc-port" in text and "OpenID provider" in text and "make oidc-deps" in text


def test_token_says_it_is_a_test_and_script_helper(isolated_home: Path) -> None:
    result = run("token", "--help", home=isolated_home)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "tests and scripts only" in text and "without an OpenID provider" in text


def test_token_prints_the_token_and_says_on_stderr_what_it_is_for(isolated_home: Path,
                                                                   small_population_dir: Path) -> None:
    from features.population import PopulationStore

    (isolated_home / "data").mkdir(parents=True)
    (isolated_home / "data" / "population").symlink_to(small_population_dir, target_is_directory=True)
    citizen = int(PopulationStore(small_population_dir).table("citizens")["citizen_id"].iloc[0])
    result = run("token", "--citizen", str(citizen), home=isolated_home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("lb1.") and len(result.stdout.splitlines()) == 1  # a script reads only the token
    assert "test and script token" in result.stderr and "LOOPBAAN_OIDC_ISSUER" in result.stderr


def test_demo_refuses_an_unknown_encoder_mode_before_any_stage(isolated_home: Path) -> None:
    result = run("demo", "--encoder", "huge", "--no-serve", home=isolated_home)
    assert result.returncode == 2
    assert "unknown --encoder 'huge'" in result.stderr and "full, quick, none" in result.stderr
    assert not (isolated_home / "data").exists()  # nothing generated


def test_demo_without_node_says_to_install_it_before_any_long_stage(isolated_home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "LOOPBAAN_HOME": str(isolated_home), "COLUMNS": "200", "PATH": str(empty)}
    result = subprocess.run([*LOOPBAAN, "demo", "--citizens", "100"], capture_output=True, text=True, env=env,
                            cwd=PROJECT_ROOT, timeout=120, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Node.js is not installed" in result.stderr and "make oidc-deps" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (isolated_home / "data" / "population").exists()  # failed before generating anything


@pytest.mark.oidc
def test_the_demo_provider_keeps_its_accounts_answers_while_running_and_is_gone_after(tmp_path: Path) -> None:
    import httpx

    from loopbaan_cli import oidc_provider
    from tests.oidc_fixtures import require_provider

    require_provider()
    folder = tmp_path / "oidc"
    first = oidc_provider.init(folder=folder, citizens=[17, 42, 99])
    again = oidc_provider.init(folder=folder, citizens=[17, 42, 99])
    assert (first.reused, again.reused) == (False, True)
    assert again.logins == first.logins and [login.citizen_id for login in first.logins] == [17, 42, 99]
    assert {partner.client_id for partner in first.partners} == {
        "partner-werkgever-demo", "partner-opleiding-demo", "partner-hr-demo"}
    with pytest.raises(LoopbaanError, match="remove the folder"):
        oidc_provider.init(folder=folder, citizens=[5, 6])
    provider = oidc_provider.start(folder=folder, port=0, site_urls=["http://127.0.0.1:3999/site/"],
                                   log=tmp_path / "oidc.log")
    try:
        discovery = httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10)
        assert discovery.status_code == 200 and discovery.json()["issuer"] == provider.issuer
        partner = first.partners[0]
        command = oidc_provider.partner_token_command(issuer=provider.issuer, partner=partner)
        assert command.startswith(f"curl -s -u {partner.client_id}:{partner.client_secret} ")
        token = httpx.post(f"{provider.issuer}/token", auth=(partner.client_id, partner.client_secret), timeout=10,
                           data={"grant_type": "client_credentials", "scope": partner.scope})
        assert token.status_code == 200 and token.json()["access_token"].count(".") == 2
        wrong = httpx.post(f"{provider.issuer}/token", auth=(partner.client_id, "not-the-secret"), timeout=10,
                           data={"grant_type": "client_credentials", "scope": partner.scope})
        assert wrong.status_code == 401
    finally:
        provider.stop()
    assert provider.process.poll() is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5)


@pytest.mark.oidc
def test_a_provider_that_does_not_start_is_a_clear_error_with_its_log(tmp_path: Path) -> None:
    from loopbaan_cli import oidc_provider
    from tests.oidc_fixtures import require_provider

    require_provider()
    log = tmp_path / "oidc.log"
    with pytest.raises(LoopbaanError) as refused:  # no accounts in the folder: `serve` exits at once
        oidc_provider.start(folder=tmp_path / "empty", port=0, site_urls=["http://127.0.0.1:3999/site/"], log=log)
    message = str(refused.value)
    assert "stopped before printing" in message and str(log) in message and "make oidc-deps" in message
    assert "accounts.json" in message  # the provider's own reason, from its log


def test_missing_provider_packages_say_to_run_make_oidc_deps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loopbaan_cli import oidc_provider
    from tests.oidc_fixtures import require_provider

    require_provider()
    monkeypatch.setattr(oidc_provider, "PACKAGES", tmp_path / "node_modules" / "oidc-provider")
    with pytest.raises(LoopbaanError, match=r"npm packages are missing .*run `make oidc-deps`"):
        oidc_provider.node()


def _vault_link(home: Path, *, issuer: str, subject: str) -> int | None:
    from features.settings import Settings
    from features.vault.database import open_engine
    from features.vault.links import citizen_for_subject

    engine = open_engine(Settings(home=home).vault_url)
    try:
        with engine.connect() as connection:
            return citizen_for_subject(connection, issuer=issuer, subject=subject)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.oidc
def test_demo_runs_end_to_end_then_reuses_everything_signs_in_and_stops_cleanly(isolated_home: Path) -> None:
    """Population, training, the gate with a demo approval and promotion; then a second run reuses every stage,
    links the local OpenID provider's demo accounts in the vault, starts the provider and the service with the
    site, prints how to sign in, and Ctrl-C stops both."""
    import httpx

    from tests.conftest import free_port
    from tests.oidc_fixtures import require_provider

    require_provider()
    first = run("demo", "--citizens", "1500", "--seed", "3", "--no-serve", "--encoder", "quick", home=isolated_home,
                timeout=1800)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert sum(line.startswith("[train]") and "trained loopbaan-" in line for line in lines) == 3
    assert any(line.startswith("[encoder] trained loopbaan-encoder v1 (quick): held-out Dutch top-5 0.")
               for line in lines), first.stdout
    gate = [line for line in lines if line.startswith("[gate]")]
    assert len(gate) == 3
    passed = [line for line in gate if "passed the fairness gate" in line]
    if passed:
        reviews = (isolated_home / "governance" / "reviews.jsonl").read_text(encoding="utf-8")
        assert reviews.count("demo (automatic, not an ethics-board decision)") == len(passed)
    for line in gate:
        report = Path(re.search(r"Report: (\S+)", line).group(1))
        assert report.is_file() and "<html" in report.read_text(encoding="utf-8")[:500].lower()
    assert "token (valid 24 h): lb1." in first.stdout and "test and script helper" in first.stdout
    assert not (isolated_home / "oidc").exists()  # --no-serve stops before sign-in

    port, oidc_port = free_port(), free_port()
    env = {**os.environ, "LOOPBAAN_HOME": str(isolated_home), "COLUMNS": "200"}
    process = subprocess.Popen([*LOOPBAAN, "demo", "--port", str(port), "--oidc-port", str(oidc_port)],
                               cwd=PROJECT_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = []
    issuer = f"http://127.0.0.1:{oidc_port}"
    try:
        for line in process.stdout:
            output.append(line)
            if "Ctrl-C stops the service" in line:
                break
        text = "".join(output)
        assert "population] reusing" in text and text.count("reusing loopbaan-") == 4, text  # the rankers, the encoder
        assert "[encoder] reusing loopbaan-encoder v1" in text  # the site's search embeds with it
        assert text.count("[gate]") == 3 and text.count("still champion") == len(passed)
        assert f"the OpenID provider is ready on {issuer}" in text
        assert "[search] indexes ready" in text  # built beside the gates, before the service starts
        assert "lb1." not in text  # a service with a provider takes no test tokens: none is offered
        site = f"http://127.0.0.1:{port}/site/"
        assert site in text
        page = httpx.get(site, timeout=30)
        assert page.status_code == 200 and "Mijn loopbaan" in page.text
        served = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=30).json()["models"]
        assert set(served) == {"jobs", "trainings", "careers"}
        for kind, model in served.items():
            passing = any(line.startswith(f"[gate] {kind}:") for line in passed)
            assert model["alias"] == ("champion" if passing else "challenger") and model["fallback"] is not passing

        # Every demo login with its password, each linked in the vault to the citizen printed beside it.
        state = isolated_home / "oidc"
        logins = json.loads((state / "demo-logins.json").read_text(encoding="utf-8"))["logins"]
        assert len(logins) == 5
        for login in logins:
            shown = re.search(rf"^\s+{re.escape(login['login'])}\s+{re.escape(login['password'])}\s+"
                              rf"\(citizen (\d+)\)$", text, re.MULTILINE)
            assert shown, text
            assert _vault_link(isolated_home, issuer=issuer, subject=login["subject"]) == int(shown.group(1))
        # The provider answers, and a partner's printed curl line gets it a token.
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
        assert discovery.status_code == 200 and discovery.json()["issuer"] == issuer
        for partner in json.loads((state / "partners.json").read_text(encoding="utf-8"))["partners"]:
            assert (f"curl -s -u {partner['client_id']}:{partner['client_secret']} -d grant_type=client_credentials "
                    f"-d scope=partner:profiles {issuer}/token") in text
        partner = json.loads((state / "partners.json").read_text(encoding="utf-8"))["partners"][0]
        token = httpx.post(f"{issuer}/token", auth=(partner["client_id"], partner["client_secret"]), timeout=10,
                           data={"grant_type": "client_credentials", "scope": "partner:profiles"})
        assert token.status_code == 200, token.text
        # The service signs in with that provider, and the register is where the printout says.
        config = httpx.get(f"http://127.0.0.1:{port}/auth/config", timeout=30)
        assert config.status_code == 200 and config.json()["issuer"] == issuer, config.text
        assert f"http://127.0.0.1:{port}/register.html" in text and f"http://127.0.0.1:{port}/register" in text
        assert httpx.get(f"http://127.0.0.1:{port}/register", timeout=30).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert "service and OpenID provider stopped" in rest and "Traceback" not in errors
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
