"""`loopbaan`: generate data, inspect the taxonomy, run the demo. Each command is a thin call into a package."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS
from loopbaan_cli._errors import user_errors
from loopbaan_cli.assessment_commands import assess, policy_app, promote, review, schedule
from loopbaan_cli.batch_commands import batch_app
from loopbaan_cli.model_commands import compare, train
from loopbaan_cli.search_commands import competencies_app, occupations_app
from loopbaan_cli.service_commands import serve, token
from loopbaan_cli.vault_commands import vault_app

app = typer.Typer(
    name="loopbaan",
    help="Ethical AI career suggestions: jobs, trainings and career steps matched on competencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Generate and check the synthetic population (citizens, career data, outcomes).",
                       no_args_is_help=True)
taxonomy_app = typer.Typer(help="Inspect the competency taxonomy (ESCO), import its complete Dutch labels, or read a "
                                "Competent export.",
                           no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(batch_app, name="batch")
app.add_typer(occupations_app, name="occupations")
app.add_typer(competencies_app, name="competencies")
app.add_typer(policy_app, name="policy")
app.add_typer(vault_app, name="vault")
app.command("train")(train)
app.command("compare")(compare)
app.command("serve")(serve)
app.command("token")(token)
app.command("assess")(assess)
app.command("promote")(promote)
app.command("review")(review)
app.command("schedule")(schedule)

DEMO_CITIZENS = 20_000


@data_app.command("generate")
@user_errors
def data_generate(
    citizens: Annotated[int, typer.Option(min=50, max=5_000_000, help="Number of citizens aged 18-64.")] = 10_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives the same files.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: <home>/data/population).")] = None,
    vacancies: Annotated[int | None, typer.Option(min=10, help="Open vacancies (default: the real ratio, at least 2,000).")] = None,
    trainings: Annotated[int, typer.Option(min=10, help="Trainings in the catalogue.")] = 1_500,
    bias_age: Annotated[float, typer.Option(min=0, max=5, help="Hiring penalty (log-odds) for ages 55-64.")] = 0.8,
    bias_gender: Annotated[float, typer.Option(min=0, max=5, help="Penalty for a gender rare in the occupation.")] = 1.0,
    bias_origin: Annotated[float, typer.Option(min=0, max=5, help="Penalty for non-EU origin (half for EU).")] = 0.8,
    bias_disability: Annotated[float, typer.Option(min=0, max=5, help="Penalty for an arbeidshandicap.")] = 0.6,
    no_bias: Annotated[bool, typer.Option("--no-bias", help="Set every historical-bias knob to 0.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate a synthetic population and write it as Parquet, with a data sheet and a manifest.

    The output folder is replaced atomically: a failed or interrupted run leaves the previous one intact.
    """
    from features.population import BiasSettings, PopulationConfig, generate_to

    bias = BiasSettings.none() if no_bias else BiasSettings(
        age=bias_age, gender_stereotype=bias_gender, origin=bias_origin, disability=bias_disability)
    config = PopulationConfig(citizens=citizens, seed=seed, vacancies=vacancies, trainings=trainings, bias=bias)
    target = out or Settings().population_dir
    generated = generate_to(config, out=target, progress=not quiet)
    rows = generated.manifest.get("rows") or {name: len(frame) for name, frame in generated.tables.items()}
    seconds = sum(generated.manifest["timings_s"].values())
    typer.echo(f"wrote {citizens:,} citizens ({rows['job_outcomes']:,} job outcomes, {rows['profiles']:,} "
               f"profile evidence rows) to {target} in {seconds:.1f} s; data sheet: {target / 'datasheet.md'}")


@data_app.command("check")
@user_errors
def data_check(
    data: Annotated[Path | None, typer.Option(help="Population folder (default: <home>/data/population).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the row counts as JSON.")] = False,
) -> None:
    """Read every table of a population, check it against its schema, and print the row counts."""
    from features.population import PopulationStore

    store = PopulationStore(data or Settings().population_dir)
    counts = store.check()
    if as_json:
        typer.echo(json.dumps({"folder": str(store.folder), "config": store.manifest["config"], "rows": counts}))
        return
    for name, rows in counts.items():
        typer.echo(f"{name:24s} {rows:>12,d}")
    typer.echo(f"ok: {store.folder} matches every schema")


@taxonomy_app.command("prepare")
@user_errors
def taxonomy_prepare(
    cache: Annotated[Path | None, typer.Option(help="Cache folder to fill (default: this install's prepared cache, "
                                               "LOOPBAAN_PREPARED_CACHE).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Build the search's label indexes and the competency embeddings of the bundled taxonomy once for this install
    (`make install` runs it), so that the first search on a new home answers at once instead of embedding every
    label. Entries already there are kept; a few minutes on two cores the first time."""
    from features.esco import load_esco
    from features.prepared_cache import prepare

    folder = cache or Settings().prepared_cache
    typer.echo(f"preparing the search indexes and competency embeddings in {folder}")
    seconds = prepare(load_esco(), cache_dir=folder, progress=not quiet, say=typer.echo)
    typer.echo(f"ok: {folder} ready in {sum(seconds.values()):.1f} s")


@taxonomy_app.command("import-labels")
@user_errors
def taxonomy_import_labels(
    folder: Annotated[Path, typer.Argument(help="Folder of the unpacked ESCO CSV package of the language (it holds "
                                           "occupations_nl.csv and skills_nl.csv).")],
    lang: Annotated[str, typer.Option(help="Language of the package; only nl (English comes with the bundle).")],
) -> None:
    """Show every occupation and competency in Dutch: import the labels of the complete Dutch ESCO CSV package
    (downloaded from the ESCO portal) into this home. The package is checked whole first (files, columns, concept
    types, known concepts, language); a failed or interrupted import keeps the previous labels. The service, its
    search and the CLI's search use them from their next start; training keeps the bundled labels. Delete
    <home>/taxonomy/labels-nl to return to the bundled ones."""
    from features.imported_labels import home_taxonomy, import_labels, index_labels

    settings = Settings()
    found = import_labels(folder, lang=lang, settings=settings)
    for kind, counts in found.items():
        typer.echo(f"{kind}: {counts.known:,} Dutch labels imported ({counts.unknown:,} concepts of the package are "
                   f"not in the bundle and were left out); concepts with a Dutch label {counts.dutch_before:,} -> "
                   f"{counts.dutch_after:,}")
    seconds = index_labels(home_taxonomy(settings), settings=settings)
    typer.echo(f"ok: the search's indexes of the new labels ready in {seconds:.1f} s; restart the service "
               "(`loopbaan serve`) to show them")


@taxonomy_app.command("info")
@user_errors
def taxonomy_info(
    competent: Annotated[Path | None, typer.Option(help="Import a Competent export folder instead of ESCO.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise the taxonomy: occupations, competencies, Dutch coverage, relations."""
    if competent is not None:
        from features.competent import CompetentSource

        taxonomy, imported = CompetentSource(competent).load(), None
    else:
        from features.esco import ATTRIBUTION
        from features.imported_labels import home_taxonomy, imported_summary

        settings = Settings()
        taxonomy = home_taxonomy(settings)
        imported = imported_summary(settings)
    summary = {"source": taxonomy.source, **taxonomy.summary()}
    if imported is not None:
        summary["dutch_labels_imported_from"] = imported["package"]
        summary["dutch_labels_imported_at"] = imported["imported_at"]
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key:32s} {value:>10,}" if isinstance(value, int) else f"{key:32s} {value:>10}")
    if competent is None:
        typer.echo(ATTRIBUTION)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@app.command("demo")
@user_errors
def demo(
    citizens: Annotated[int, typer.Option(min=50, help="Population size when one must be generated.")] = DEMO_CITIZENS,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 42,
    host: Annotated[str, typer.Option(help="Interface the service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the service and the site.")] = 3000,
    oidc_port: Annotated[int, typer.Option(min=0, max=65535, help=(
        "Port of the local OpenID provider the citizens and partners sign in with (on 127.0.0.1; 0: any free port). "
        "Its address is the issuer the vault links the demo accounts to, so keep it from run to run."))] = 3001,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help=(
        "Start the OpenID provider, the service and the site at the end."))] = True,
    token_hours: Annotated[float, typer.Option(min=0.1, max=720, help=(
        "With --no-serve: hours the printed test token (`loopbaan token`) is valid."))] = 24.0,
    encoder: Annotated[str, typer.Option(help=(
        "The search's query encoder when none is registered yet: full (train it; docs/search.md gives the "
        "time), quick (a small run, for tests) or none (the untuned MiniLM)."))] = "full",
) -> None:
    """Run the main job on the embedded defaults, end to end, and open the citizen's site with sign-in.

    Generates the synthetic population, trains the three rankers and the search's query encoder (MLflow), assesses
    each challenger with the fairness gate (trying the fairness re-ranker when it fails), records a DEMO approval
    where the gate passed (marked as automatic, never as a board decision), promotes, writes the reports, fills the
    vault, makes demo sign-in accounts for five citizens at the local OpenID provider (`node oidc/provider.js`, in
    <home>/oidc; it needs Node.js and `make oidc-deps`) and links them in the vault, starts the provider and the
    service with the site "Mijn loopbaan", and prints where to look: the site, each demo citizen's login and
    password, a partner's token request and the data register. Every stage reuses what an earlier run finished.
    Ctrl-C stops the service and the provider.
    """
    from assessments.policy import load_policy
    from loopbaan_cli import demo as steps
    from loopbaan_cli import oidc_provider

    if encoder not in steps.ENCODER_MODES:
        raise LoopbaanError(f"unknown --encoder {encoder!r}: choose one of {', '.join(steps.ENCODER_MODES)}")
    if serve:
        oidc_provider.node()  # before the long stages: sign-in needs Node.js and the provider's packages
    settings = Settings()
    started = time.perf_counter()
    current = "population"
    search = None
    try:
        try:
            store = steps.population(settings, citizens=citizens, seed=seed)
            current = "train"
            versions = steps.rankers(settings, store)
            current = "encoder"
            steps.search_encoder(settings, mode=encoder)
            current = "gate"
            if serve:
                search = steps.SearchIndexes(settings)  # after training: it reads the registry for a search encoder
            policy = load_policy(settings=settings)
            gates = [steps.gate(settings, kind=kind, version=versions[kind], policy=policy,
                                population_dir=store.folder) for kind in KINDS]
        except KeyboardInterrupt:
            typer.secho(f"\ninterrupted during {current}: the stages before it are kept and the next `loopbaan demo` "
                        "reuses them (an interrupted training run is marked failed in MLflow).", err=True)
            raise typer.Exit(130) from None
        refused = [result.kind for result in gates if not result.passed]
        accounts_for = steps.demo_citizens(store)
        if not serve:
            _print_reports(settings, gates, started=started)
            _print_test_token(settings, citizen=accounts_for[0], hours=token_hours, host=host, port=port)
            return
        if oidc_port == port:
            raise LoopbaanError(f"--oidc-port and --port are both {port}: give the OpenID provider another port")
        steps.check_port(host=host, port=port, option="--port")
        steps.check_port(host="127.0.0.1", port=oidc_port, option="--oidc-port (0: any free port)")
        signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops the service and the provider as cleanly as Ctrl-C
        provider = None
        try:
            steps.vault(settings)
            accounts, provider = steps.sign_in(settings, citizens=accounts_for, host=host, port=port,
                                               oidc_port=oidc_port)
            search.wait()
            process, log = steps.start_service(settings, host=host, port=port, allow_challenger=bool(refused),
                                               oidc_issuer=provider.issuer)
        except BaseException as error:
            if provider is not None:
                provider.stop()
            if isinstance(error, KeyboardInterrupt):
                typer.secho("\ninterrupted while the service started; nothing is left running.", err=True)
                raise typer.Exit(130) from None
            raise
    finally:
        if search is not None:
            search.stop()  # a no-op once the indexes are built (SearchIndexes.wait)
    _print_reports(settings, gates, started=started)
    if refused:
        typer.echo(f"  no champion for {', '.join(refused)}: a real deployment serves nothing there; this demo site "
                   "shows the challenger, marked as not approved on every list")
    _print_sign_in(accounts, provider, host=host, port=port)
    typer.echo("Ctrl-C stops the service and the OpenID provider.")
    try:
        while process.poll() is None and provider.running():
            time.sleep(0.5)
    except KeyboardInterrupt:
        steps.stop_service(process)
        provider.stop()
        typer.echo("\nservice and OpenID provider stopped.")
        return
    stopped = (f"the service stopped by itself (exit code {process.returncode}); its log: {log}"
               if process.poll() is not None else
               f"the OpenID provider stopped by itself (exit code {provider.process.returncode}); its log: "
               f"{provider.log}")
    steps.stop_service(process)
    provider.stop()
    raise LoopbaanError(f"{stopped}; the other one is stopped too")


def _print_reports(settings: Settings, gates, *, started: float) -> None:
    typer.echo(f"\nready in {time.perf_counter() - started:.0f} s. Where to look:")
    typer.echo(f"  MLflow UI (data scientists):  mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    for result in gates:
        typer.echo(f"  fairness report, {result.kind:9s}: {result.report}")
    typer.echo(f"  board reviews and promotions: {settings.home / 'governance'}")


def _print_test_token(settings: Settings, *, citizen: int, hours: float, host: str, port: int) -> None:
    from serving.auth import mint_token
    from serving.keys import service_key

    token = mint_token(citizen_id=citizen, key=service_key(settings), ttl_s=round(hours * 3600))
    typer.echo(f"  demo citizen {citizen}, token (valid {hours:g} h): {token}")
    typer.echo(f"  that token is a test and script helper for a service without an OpenID provider: "
               f"`loopbaan serve --port {port}`, then http://{host}:{port}/site/#token={token}. `loopbaan demo` "
               "(without --no-serve) starts the service with sign-in instead")


def _print_sign_in(accounts, provider, *, host: str, port: int) -> None:
    from loopbaan_cli.oidc_provider import partner_token_command

    base = f"http://{host}:{port}"
    typer.echo(f"  the site \"Mijn loopbaan\":      {base}/site/")
    typer.echo("  sign in (\"Aanmelden\") as a demo citizen, login and password "
               f"(from {accounts.folder / 'demo-logins.json'}):")
    for login in accounts.logins:
        typer.echo(f"    {login.login:10s} {login.password:14s} (citizen {login.citizen_id})")
    typer.echo(f"  the OpenID provider:          {provider.issuer} (log {provider.log})")
    typer.echo(f"  a partner's token (client credentials, the secrets of {accounts.folder / 'partners.json'}):")
    for partner in accounts.partners:
        typer.echo(f"    {partner.name}: {partner_token_command(issuer=provider.issuer, partner=partner)}")
    typer.echo(f"    then, for a share a citizen granted that partner on the site (its grant_id): curl -H "
               f"\"Authorization: Bearer <access_token>\" {base}/partner/profiles/<grant_id>")
    typer.echo(f"  the data register:            {base}/register.html (GET {base}/register: JSON)")
    typer.echo(f"  API documentation:            {base}/docs")
