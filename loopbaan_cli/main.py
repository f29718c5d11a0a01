"""`loopbaan`: generate data, inspect the taxonomy, run the demo. Each command is a thin call into a package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.settings import Settings
from loopbaan_cli._errors import user_errors
from loopbaan_cli.assessment_commands import assess, promote, review, schedule
from loopbaan_cli.batch_commands import batch_app
from loopbaan_cli.model_commands import compare, train
from loopbaan_cli.service_commands import serve, token

app = typer.Typer(
    name="loopbaan",
    help="Ethical AI career suggestions: jobs, trainings and career steps matched on competencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Generate and check the synthetic population (citizens, career data, outcomes).",
                       no_args_is_help=True)
taxonomy_app = typer.Typer(help="Inspect the competency taxonomy (ESCO) or import a Competent export.",
                           no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(batch_app, name="batch")
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


@taxonomy_app.command("info")
@user_errors
def taxonomy_info(
    competent: Annotated[Path | None, typer.Option(help="Import a Competent export folder instead of ESCO.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise the taxonomy: occupations, competencies, Dutch coverage, relations."""
    if competent is not None:
        from features.competent import CompetentSource

        taxonomy = CompetentSource(competent).load()
    else:
        from features.esco import ATTRIBUTION, load_esco

        taxonomy = load_esco()
    summary = {"source": taxonomy.source, **taxonomy.summary()}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for key, value in summary.items():
        typer.echo(f"{key:32s} {value:>10,}" if isinstance(value, int) else f"{key:32s} {value:>10}")
    if competent is None:
        typer.echo(ATTRIBUTION)


@app.command("demo")
@user_errors
def demo(
    citizens: Annotated[int, typer.Option(min=50, help="Population size when one must be generated.")] = DEMO_CITIZENS,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 42,
) -> None:
    """Run the main job on the embedded defaults: the population, then the three rankers (both reused when present)."""
    from features.population import PopulationConfig, PopulationStore, generate_to
    from models import tracking
    from models.training import train_kind

    settings = Settings()
    folder = settings.population_dir
    if (folder / "manifest.json").is_file():
        store = PopulationStore(folder)
        store.check()
        typer.echo(f"population: reusing {folder} ({store.manifest['config']['citizens']:,} citizens)")
    else:
        typer.echo(f"population: generating {citizens:,} citizens (seed {seed}) into {folder}")
        generate_to(PopulationConfig(citizens=citizens, seed=seed), out=folder)
        store = PopulationStore(folder)
    typer.echo(f"data sheet: {folder / 'datasheet.md'}")
    client = tracking.configure(settings)
    digest = store.digest()
    for kind in ("jobs", "trainings", "careers"):
        current = [version for version in tracking.model_versions(client, kind)
                   if version["tags"].get("dataset_digest") == digest]
        if current:
            typer.echo(f"{kind}: reusing loopbaan-{kind} version {current[0]['version']} (trained on this population)")
            continue
        train_kind(kind, store=store, settings=settings, echo=typer.echo)
    typer.echo(f"models: `loopbaan compare`; MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    typer.echo("next: the service, the fairness gate and the site arrive with their issues.")
