"""`loopbaan vault`: create or migrate the citizens' vault, fill it from a population, export the snapshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.settings import Settings
from loopbaan_cli._errors import user_errors

vault_app = typer.Typer(
    help="The citizens' vault (their career data, consent, feedback, sign-in links, shares and the audit trail) in a "
         "database: SQLite at <home>/vault.db by default, PostgreSQL with LOOPBAAN_DATABASE_URL.",
    no_args_is_help=True,
)


def _url(database_url: str | None) -> str:
    return database_url or Settings().vault_url


_DATABASE = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL of the vault (default: LOOPBAAN_DATABASE_URL, else <home>/vault.db).")]


@vault_app.command("upgrade")
@user_errors
def upgrade(database_url: _DATABASE = None) -> None:
    """Create the vault, or migrate it to the schema this version needs (the service never does this itself)."""
    from features.vault.database import upgrade as migrate

    url = _url(database_url)
    before, after = migrate(url)
    if before == after:
        typer.echo(f"the vault at {_shown(url)} is already at migration {after}")
    else:
        typer.echo(f"the vault at {_shown(url)} moved from migration {before or '(none: created)'} to {after}")


@vault_app.command("status")
@user_errors
def status(database_url: _DATABASE = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False) -> None:
    """Say the vault's migration, how many citizens it holds, and whether its last import finished."""
    from features.vault.database import import_status, open_engine

    url = _url(database_url)
    engine = open_engine(url)
    try:
        found = import_status(engine)
    finally:
        engine.dispose()
    run = found["import"]
    if as_json:
        typer.echo(json.dumps({"url": _shown(url), **found}, default=str))
        return
    typer.echo(f"vault {_shown(url)}: {found['citizens']:,} citizens, {found['subject_links']:,} sign-in links")
    if run is None:
        typer.echo("nothing imported yet: run `loopbaan vault import`")
    elif run["finished_at"] is None:
        typer.echo(f"import run {run['id']} from {run['folder']} did not finish: run `loopbaan vault import` again")
    else:
        typer.echo(f"import run {run['id']} from {run['folder']} finished at {run['finished_at']}")


@vault_app.command("import")
@user_errors
def import_(
    data: Annotated[Path | None, typer.Option(help="Population folder (default: <home>/data/population).")] = None,
    database_url: _DATABASE = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Citizens per transaction.")] = 500,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load a generated population's citizens (circumstances, career records, evidence) into the vault.

    Idempotent and safe to interrupt: each batch of citizens is one transaction, citizens already in the vault are
    skipped (their own additions are kept), and a rerun completes an interrupted import. Sensitive attributes are
    not imported.
    """
    from features.population import PopulationStore
    from features.vault.importer import import_population_into

    url = _url(database_url)
    summary = import_population_into(url, PopulationStore(data or Settings().population_dir), batch_size=batch_size,
                                     progress=not quiet)
    typer.echo(f"imported {summary.imported:,} citizens into {_shown(url)} in {summary.seconds:.1f} s "
               f"({summary.already_there:,} were already there; {summary.total:,} in the population)")


@vault_app.command("export")
@user_errors
def export(
    out: Annotated[Path | None, typer.Option(help="Snapshot folder to write (default: <home>/data/snapshot).")] = None,
    data: Annotated[Path | None, typer.Option(
        help="The population the vault was imported from, whose catalogues and outcomes are carried over "
             "(default: the folder of the last import).")] = None,
    database_url: _DATABASE = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write the data platform's snapshot: the vault's citizens and feedback as population Parquet tables, every
    other table of the source population unchanged. `loopbaan train` and `loopbaan assess` read it with --data."""
    from features.population import PopulationStore
    from features.vault.database import import_status, open_engine
    from features.vault.export import export_snapshot

    settings = Settings()
    url = _url(database_url)
    engine = open_engine(url)
    try:
        if data is None:
            run = import_status(engine)["import"]
            data = Path(run["folder"]) if run else settings.population_dir
        summary = export_snapshot(engine=engine, source=PopulationStore(data),
                                  out=out or settings.data_dir / "snapshot", progress=not quiet)
    finally:
        engine.dispose()
    typer.echo(f"wrote the snapshot {summary.folder}: {summary.rows['citizens']:,} citizens, "
               f"{summary.rows['profiles']:,} evidence rows, {summary.feedback:,} feedback labels; train on it with "
               f"`loopbaan train --data {summary.folder}`")


@vault_app.command("link-subjects")
@user_errors
def link_subjects(
    file: Annotated[Path, typer.Argument(help="The subjects file of the sign-in provider (DIR/subjects.json of "
                                              "`node oidc/provider.js init --dir DIR`).")],
    issuer: Annotated[str | None, typer.Option(
        help="The provider's issuer, exactly as in its tokens (default: LOOPBAAN_OIDC_ISSUER).")] = None,
    database_url: _DATABASE = None,
) -> None:
    """Link the sign-in provider's subjects to the vault's citizens: the only place where a subject meets a
    citizen id (the provider and its tokens know only the subject).

    All or nothing: a file of another format or a newer version, a citizen the vault does not hold, or a subject
    already linked to another citizen is refused and nothing is linked. A rerun changes nothing.
    """
    from features.vault.database import open_engine
    from features.vault.links import link_subjects as link
    from features.vault.links import read_subjects
    from serving.oidc import OidcSettings

    links = read_subjects(file)
    issuer = issuer or OidcSettings().required_issuer()
    url = _url(database_url)
    engine = open_engine(url)
    try:
        summary = link(engine=engine, issuer=issuer, links=links, source=str(file))
    finally:
        engine.dispose()
    typer.echo(f"linked {summary.linked:,} sign-in subjects of {issuer} to citizens in {_shown(url)} "
               f"({summary.already_there:,} were already linked; {summary.total:,} in {file})")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
