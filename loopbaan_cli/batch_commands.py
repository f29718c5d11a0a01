"""`loopbaan batch`: nightly suggestions for every citizen, on this machine or on a Dask cluster."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from features.settings import Settings
from loopbaan_cli._errors import EXIT_INTERRUPTED, user_errors
from loopbaan_cli.model_commands import EngineChoice, KindChoice, _kinds

batch_app = typer.Typer(
    help="Nightly batch suggestions: every citizen's top k per kind, with explanations, as Parquet partitions "
         "that the service can answer from. Runs here or on a Dask cluster; a crashed run resumes.",
    no_args_is_help=True,
)


class AliasChoice(str, Enum):
    champion = "champion"
    challenger = "challenger"


@batch_app.command("suggest")
@user_errors
def suggest(
    kind: Annotated[KindChoice, typer.Option(help="Which kind to compute ('all' = jobs, trainings and careers).")
                    ] = KindChoice.all,
    engine: Annotated[EngineChoice, typer.Option(
        help="'local' computes in this process; 'dask' sends one task per partition to a Dask cluster.")
    ] = EngineChoice.local,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); without it --engine dask starts a local cluster.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Worker processes of the local cluster "
                                                              "(--engine dask without --scheduler).")] = 2,
    out: Annotated[Path | None, typer.Option(
        help="Folder of the batches (default: <home>/batches); on a cluster every worker must reach it.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="Suggestions per citizen.")] = 10,
    data: Annotated[Path | None, typer.Option(help="Population folder (default: <home>/data/population).")] = None,
    alias: Annotated[AliasChoice | None, typer.Option(
        help="Model alias (default: the champion; the challenger stands in when LOOPBAAN_ALLOW_CHALLENGER=true "
             "and there is no champion).")] = None,
    partition_size: Annotated[int, typer.Option(min=1, help="Citizens per partition (one task, one file).")
                              ] = 5_000,
    approximate: Annotated[bool, typer.Option(
        "--approximate", help="Match many citizens in one float32 product: faster on large catalogues, but values "
                              "may then differ from the service's one-citizen answer by rounding (~1e-7).")] = False,
    discard_partial: Annotated[bool, typer.Option(
        "--discard-partial", help="Delete another run's partial batch of the kind instead of stopping.")] = False,
    connect_timeout: Annotated[float, typer.Option(min=0.5, help="Seconds to wait for the Dask scheduler.")] = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Compute every citizen's top k suggestions with readiness, gap, bridging trainings and explanations.

    Citizens who opted out of AI suggestions are left out. The result is partitioned by citizen and written as
    Parquet with the model version and run id; a manifest written last makes it visible, so a partial result is
    never read. An interrupted or crashed run resumes where it stopped when run again with the same options.
    """
    from features.population.store import PopulationStore
    from models.batch_run import run_batch

    settings = Settings()
    store = PopulationStore(data or settings.population_dir)
    for name in _kinds(kind):
        try:
            result = run_batch(
                name, store=store, settings=settings, out=out, engine=engine.value, scheduler=scheduler,
                workers=workers, k=k, partition_size=partition_size, alias=alias.value if alias else None,
                exact=not approximate, discard_partial=discard_partial, progress=not quiet,
                connect_timeout_s=connect_timeout, echo=typer.echo)
        except KeyboardInterrupt:
            typer.secho(f"interrupted while computing {name}: the partitions written so far are kept and no partial "
                        "batch is visible; run the same command again to resume.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        info = result.info
        where = "this process" if result.engine == "local" else f"{result.workers} Dask workers"
        resumed = f", {result.resumed_partitions} partitions reused" if result.resumed_partitions else ""
        peak = max(result.peak_memory_mb.values()) if result.peak_memory_mb else float("nan")
        fallback = " standing in for the champion" if result.fallback else ""
        typer.echo(f"{name}: {info.citizens:,} citizens x top {k} in {result.seconds:.1f} s "
                   f"({result.citizens_per_s:,.0f} citizens/s computing on {where}, peak {peak:,.0f} MiB per "
                   f"worker{resumed}); batch {info.batch_id} from {info.model_name} v{info.model_version} "
                   f"({info.model_alias}{fallback}) committed in {info.path}")


@batch_app.command("status")
@user_errors
def status(
    kind: Annotated[KindChoice, typer.Option(help="Which kind to show.")] = KindChoice.all,
    out: Annotated[Path | None, typer.Option(help="Folder of the batches (default: <home>/batches).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Show the newest complete batch of each kind, and any partial batch a crashed run left to resume."""
    from models.batch_read import latest_complete_batch, partial_batches

    settings = Settings()
    report = {}
    for name in _kinds(kind):
        info = latest_complete_batch(settings, name, out=out)
        partial = partial_batches(settings, name, out=out)
        report[name] = {
            "latest": None if info is None else {**{key: value for key, value in vars(info).items()
                                                    if key != "path"}, "path": str(info.path)},
            "partial": [{"batch_id": plan["batch_id"], "created_at": plan["created_at"],
                         "model": f"{plan['model']['name']} v{plan['model']['version']}",
                         "partitions_written": plan["written"], "partitions": len(plan["partitions"])}
                        for plan in partial]}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for name, entry in report.items():
        latest = entry["latest"]
        if latest is None:
            typer.echo(f"{name}: no complete batch yet (run `loopbaan batch suggest --kind {name}`)")
        else:
            typer.echo(f"{name}: {latest['batch_id']}: {latest['citizens']:,} citizens, {latest['model_name']} "
                       f"v{latest['model_version']} ({latest['model_alias']}), completed {latest['completed_at']}")
        for plan in entry["partial"]:
            typer.echo(f"{name}: partial {plan['batch_id']} ({plan['model']}): {plan['partitions_written']} of "
                       f"{plan['partitions']} partitions written; rerun `loopbaan batch suggest` to resume")
