"""`loopbaan train` and `loopbaan compare`: the data scientist's commands, thin calls into ``models``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from features.errors import LoopbaanError
from features.settings import Settings
from features.vocabulary import KINDS, NDCG_AT_K
from loopbaan_cli._errors import user_errors
from models.compute_engine import ENGINES

KindChoice = Enum("KindChoice", {name: name for name in (*KINDS, "all")}, type=str, module=__name__)
TrainKindChoice = Enum("TrainKindChoice", {name: name for name in (*KINDS, "all", "encoder")}, type=str,
                       module=__name__)
EngineChoice = Enum("EngineChoice", {name: name for name in ENGINES}, type=str, module=__name__)


def _kinds(choice: KindChoice | TrainKindChoice) -> tuple[str, ...]:
    return KINDS if choice.value == "all" else (choice.value,)


def _mlflow_errors(action):
    """MLflow failures (an unreachable tracking server, a locked database) as one clear line."""
    from mlflow.exceptions import MlflowException

    try:
        return action()
    except MlflowException as error:
        settings = Settings()
        raise LoopbaanError(f"MLflow at {settings.mlflow_tracking_uri} failed: {error.message}. Check "
                            "LOOPBAAN_TRACKING_URI (unset it to use the local store under LOOPBAAN_HOME).") from None


@user_errors
def train(
    kind: Annotated[TrainKindChoice, typer.Option(
        help="Which ranker to train ('all' = the three rankers), or 'encoder' for the bilingual search encoder.")
    ] = TrainKindChoice.all,
    data: Annotated[Path | None, typer.Option(help="Population folder (default: <home>/data/population).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="LightGBM parameter as key=value, repeatable (e.g. --param learning_rate=0.1).")] = None,
    engine: Annotated[EngineChoice, typer.Option(
        help="'local' trains in this process; 'dask' trains with lightgbm.dask on a Dask cluster.")] = EngineChoice.local,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (tcp://host:8786); without it --engine dask starts a local cluster.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Encoder only: a short fine-tune for tests and trials.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train the rankers, evaluate them on held-out citizens against the baselines, and register each in MLflow.

    Every run logs parameters, the dataset digest, metrics of the model and the baselines, a feature-importance
    and a SHAP summary plot, and the model; the new version gets the alias 'challenger' (only `promote` sets
    'champion').
    """
    from features.population.store import PopulationStore
    from models.ranker import parse_params
    from models.training import train_kind

    try:
        params = parse_params(param or [])
    except ValueError as error:
        raise LoopbaanError(str(error)) from None
    settings = Settings()
    if kind is TrainKindChoice.encoder:
        _train_encoder(settings, engine=engine, quick=quick, quiet=quiet)
        return
    if quick:
        raise LoopbaanError("--quick applies to --kind encoder only; the rankers have no quick setting.")
    store = PopulationStore(data or settings.population_dir)
    engine_options = {} if engine is EngineChoice.local else {"engine": engine.value, "scheduler": scheduler}
    for name in _kinds(kind):
        try:
            result = _mlflow_errors(lambda name=name: train_kind(name, store=store, settings=settings, params=params,
                                                                 progress=not quiet, echo=typer.echo,
                                                                 **engine_options))
        except KeyboardInterrupt:
            typer.secho(f"interrupted while training {name}: its MLflow run, if started, is marked failed, and no "
                        "alias was moved; the kinds trained before it are registered.", err=True)
            raise typer.Exit(130) from None
        seconds = sum(result.timings_s.values())
        typer.echo(f"{name}: done in {seconds:.1f} s")
    typer.echo(f"compare the versions with `loopbaan compare`; MLflow UI: mlflow ui --backend-store-uri "
               f"{settings.mlflow_tracking_uri}")


def _train_encoder(settings: Settings, *, engine: EngineChoice, quick: bool, quiet: bool) -> None:
    try:
        from models.encoder_training import train_encoder
    except ModuleNotFoundError as error:
        if error.name != "models.encoder_training":
            raise
        raise LoopbaanError("this installation has no encoder training (models/encoder_training.py is missing); "
                            "update the checkout and run `make install`") from None
    if engine is not EngineChoice.local:
        raise LoopbaanError("the encoder trains locally only; drop --engine dask for --kind encoder.")
    try:
        _mlflow_errors(lambda: train_encoder(settings=settings, quick=quick, progress=not quiet, echo=typer.echo))
    except KeyboardInterrupt:
        typer.secho("interrupted while training the encoder: its MLflow run, if started, is marked failed.", err=True)
        raise typer.Exit(130) from None


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@user_errors
def compare(
    kind: Annotated[KindChoice, typer.Option(help="Which kind to show.")] = KindChoice.all,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Show the registered versions and recent runs side by side, with the baselines and who holds which alias."""
    from models.comparison import METRIC_KEYS, comparison

    settings = Settings()
    result = _mlflow_errors(lambda: comparison(_kinds(kind), settings=settings))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    header = f"{'':12s} {'aliases':22s} " + " ".join(f"{key:>10s}" for key in METRIC_KEYS.values())
    for name, entry in result.items():
        typer.echo(f"\n{entry['registered_model']}")
        if not entry["versions"]:
            typer.echo(f"  no registered versions yet: run `loopbaan train --kind {name}`")
            continue
        typer.echo(header)
        for version in entry["versions"]:
            aliases = ",".join(version["aliases"]) or "-"
            typer.echo(f"{'v' + version['version']:12s} {aliases:22s} "
                       + " ".join(f"{_cell(version['metrics'][key]):>10s}" for key in METRIC_KEYS.values()))
        for baseline, metrics in entry["baselines"].items():
            typer.echo(f"{baseline:12s} {'(baseline, newest run)':22s} "
                       + " ".join(f"{_cell(metrics.get(key)):>10s}" for key in METRIC_KEYS.values()))
        ndcg = METRIC_KEYS[NDCG_AT_K]
        typer.echo("recent runs: " + ", ".join(f"{run['run_name']} ({run['status'].lower()}, {ndcg} "
                                                 f"{_cell(run['metrics'][ndcg])})" for run in entry["runs"][:5]))
