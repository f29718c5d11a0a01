"""`loopbaan serve` and `loopbaan token`: start the suggestion service; mint a test token (a test and script helper)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS
from loopbaan_cli._errors import user_errors
from serving.launch import serve_command

TEST_TOKEN_NOTE = ("a test and script token: only a service started without an OpenID provider (LOOPBAAN_OIDC_ISSUER "
                   "unset) accepts it; with one, citizens sign in at the provider (`loopbaan demo` starts one)")


def preflight(settings: Settings) -> list[str]:
    """What the service will serve, checked before starting it; raises LoopbaanError with the reason otherwise."""
    from features.population import PopulationStore
    from models import tracking

    PopulationStore(settings.population_dir)
    from mlflow.exceptions import MlflowException

    try:
        client = tracking.configure(settings)
        client.search_registered_models(max_results=1)  # fails fast when the registry cannot be reached
        lines = []
        for kind in KINDS:
            state = tracking.kind_state(client, kind)
            holders = set(state.aliases)
            if tracking.CHAMPION in holders:
                lines.append(f"{kind}: champion")
            elif state.withdrawal is not None:
                lines.append(f"{kind}: not served (withdrawn by the fairness gate on {state.withdrawal.at}: "
                             f"{state.withdrawal.reason})")
            elif tracking.CHALLENGER in holders and settings.allow_challenger:
                lines.append(f"{kind}: challenger (no champion yet; LOOPBAAN_ALLOW_CHALLENGER is on)")
            else:
                lines.append(f"{kind}: not served (no champion; promote one, or set LOOPBAAN_ALLOW_CHALLENGER=true)")
    except MlflowException as error:
        raise LoopbaanError(f"the MLflow registry at {settings.mlflow_tracking_uri} is unreachable "
                            f"({error.message}); check LOOPBAAN_TRACKING_URI") from None
    if all("not served" in line for line in lines):
        raise LoopbaanError("no kind has a model to serve: train with `loopbaan train`, then promote through the "
                            "fairness gate (or set LOOPBAAN_ALLOW_CHALLENGER=true for a demo)")
    lines.append(vault_line(settings))
    return lines


def vault_line(settings: Settings) -> str:
    """The vault the service will read and write, checked as the service checks it (migration, a finished import of
    this population); raises LoopbaanError with the command to run otherwise."""
    from features.population import PopulationStore
    from features.vault.database import open_engine
    from serving.vault import check_imported

    engine = open_engine(settings.vault_url)
    try:
        citizens = check_imported(engine, PopulationStore(settings.population_dir))
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    return f"vault: {shown} ({citizens:,} citizens)"


@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
) -> None:
    """Start the BentoML suggestion service (POST /suggestions, POST /compare, GET /me..., GET /metadata, /healthz).

    It reads and writes citizens' data through the vault (LOOPBAAN_DATABASE_URL, else <home>/vault.db), which must
    be at this version's migration and hold the population (`loopbaan vault upgrade`, `loopbaan vault import`).

    It serves, per kind, the model version holding the 'champion' alias (the challenger only when
    LOOPBAAN_ALLOW_CHALLENGER=true, and it says so in every response; never for a kind the fairness gate
    withdrew). It follows the registry while it runs: a moved alias serves within LOOPBAAN_RELOAD_SECONDS (or at
    once after `POST /admin/reload` with `loopbaan token --admin`). Stop it with Ctrl-C.
    """
    # A tracking server that is down should be reported in seconds, not after MLflow's long retry back-off.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    settings = Settings()
    for line in preflight(settings):
        typer.echo(line)
    command = serve_command(host=host, port=port)
    typer.echo(f"serving on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs)")
    os.execv(command[0], command)


@user_errors
def token(
    citizen: Annotated[int | None, typer.Option(min=1, help=(
        "The citizen the test token signs in as (only where the service has no OpenID provider)."))] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An operator's token for POST /admin/reload instead (it "
                                                         "reads no citizen's data).")] = False,
    hours: Annotated[float, typer.Option(min=0.01, max=24 * 30, help="Hours until the token expires.")] = 8.0,
) -> None:
    """Mint a bearer token signed with the service's signing key (send it as 'Authorization: Bearer'): an operator's
    (--admin), or a citizen's test token (--citizen ID).

    A citizen's token here is a helper for tests and scripts only: a service started without an OpenID provider
    (LOOPBAAN_OIDC_ISSUER unset, as `loopbaan serve` by default) accepts it; a service with a provider accepts only
    the provider's tokens, got by signing in (`loopbaan demo` starts the local provider and prints the demo logins).
    The token goes to stdout, the note saying so to stderr.
    """
    from features.keys import signing_key
    from features.population import PopulationStore
    from serving.auth import mint_admin_token, mint_token

    if admin == (citizen is not None):
        raise LoopbaanError("give either --citizen ID or --admin")
    settings = Settings()
    ttl = round(hours * 3600)
    if admin:
        typer.echo(mint_admin_token(key=signing_key(settings), ttl_s=ttl))
        return
    citizens = PopulationStore(settings.population_dir).table("citizens")["citizen_id"]
    if not (citizens == citizen).any():
        raise LoopbaanError(f"citizen {citizen} is not in the population at {settings.population_dir}")
    typer.echo(mint_token(citizen_id=citizen, key=signing_key(settings), ttl_s=ttl))
    typer.echo(f"note: {TEST_TOKEN_NOTE}", err=True)
