"""MLflow: where runs and models live, one experiment and one registered model per kind, aliases.

Default: a sqlite database and local artifacts under the settings' home; ``LOOPBAAN_TRACKING_URI``
points at a tracking server instead. Training sets only the ``challenger`` alias; ``champion`` is moved by
the promotion command of the fairness gate alone.

Withdrawal of a kind: when a champion fails its recurring assessment and no rollback target passes, the gate deletes
the registered model's ``champion`` alias and sets the withdrawal tags of :mod:`features.model_tags`. A kind with
no champion and a withdrawal is not served at all (:func:`withdrawal` reads it).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from features.errors import LoopbaanError
from features.model_tags import TAG_WITHDRAWN_AT, TAG_WITHDRAWN_REASON
from features.settings import Settings

if TYPE_CHECKING:  # imported where a ranker is loaded: a process that only looks up the search's encoder needs neither
    from models.ranker import ScoringModel
    from models.rerank import Reranker

MODEL_PREFIX = "loopbaan-"
CHALLENGER = "challenger"
CHAMPION = "champion"
ALIASES = (CHAMPION, CHALLENGER)

ERR_NO_MODEL = ("no model version of {name} holds the alias '{alias}'; train one with "
                "`loopbaan train --kind {kind}`")


def registered_name(kind: str) -> str:
    return f"{MODEL_PREFIX}{kind}"


def experiment_name(kind: str) -> str:
    return f"{MODEL_PREFIX}{kind}"


def configure(settings: Settings):
    """Point MLflow at the settings' tracking store and return a client for it."""
    import mlflow
    from mlflow.tracking import MlflowClient

    if settings.tracking_uri is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def ensure_experiment(client, kind: str, settings: Settings) -> str:
    experiment = client.get_experiment_by_name(experiment_name(kind))
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if settings.tracking_uri is None:
        folder = settings.artifacts_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.resolve().as_uri()
    return client.create_experiment(experiment_name(kind), artifact_location=location,
                                    tags={"kind": kind, "project": "loopbaan"})


@dataclass(frozen=True)
class LoadedModel:
    model: ScoringModel
    name: str
    version: str
    alias: str
    run_id: str
    reranker: Reranker | None = None  # a mitigated version re-ranks the booster's candidates

    @property
    def info(self) -> dict:
        info = {"name": self.name, "version": self.version, "alias": self.alias, "run_id": self.run_id}
        if self.reranker is not None:
            info["reranked"] = self.reranker.describe()
            info["guarantees"] = list(self.reranker.guarantees)
        return info


def is_mitigated(tags: dict) -> bool:
    """A mitigated version carries ``mitigation.*`` tags and its re-ranker as an artifact of its run."""
    return "mitigation.method" in tags


def load_reranker(client, run_id: str) -> Reranker:
    """The re-ranker stored with a mitigated version's run."""
    from models.rerank import ARTIFACT as RERANKER_ARTIFACT
    from models.rerank import Reranker

    switch = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(switch)
    os.environ[switch] = "false"  # one small file: no progress bar on the user's terminal
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = client.download_artifacts(run_id, RERANKER_ARTIFACT, scratch)
            return Reranker.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    finally:
        if before is None:
            os.environ.pop(switch, None)
        else:
            os.environ[switch] = before


def load_model(kind: str, *, alias: str, settings: Settings) -> LoadedModel:
    """The booster of the version of ``loopbaan-<kind>`` that holds ``alias``, with its re-ranker if mitigated.

    The alias is resolved once and the version then loaded by its number, so an alias that moves meanwhile can
    never give a model other than the version reported.
    """
    client = configure(settings)
    return load_version(kind, version=resolve_alias(client, kind, alias), alias=alias, settings=settings)


def resolve_alias(client, kind: str, alias: str) -> str:
    """The version number that holds ``alias`` now."""
    from mlflow.exceptions import MlflowException

    name = registered_name(kind)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        raise LoopbaanError(ERR_NO_MODEL.format(name=name, alias=alias, kind=kind)) from None


def load_version(kind: str, *, version: str, alias: str, settings: Settings) -> LoadedModel:
    """Version ``version`` of ``loopbaan-<kind>`` by its number (``alias``: the alias it was resolved from)."""
    import mlflow.lightgbm

    from models.ranker import ScoringModel

    client = configure(settings)
    name = registered_name(kind)
    found = client.get_model_version(name, str(version))
    booster = mlflow.lightgbm.load_model(f"models:/{name}/{found.version}")
    reranker = load_reranker(client, found.run_id) if is_mitigated(dict(found.tags or {})) else None
    return LoadedModel(model=ScoringModel(kind=kind, booster=booster), name=name, version=str(found.version),
                       alias=alias, run_id=found.run_id, reranker=reranker)


@dataclass(frozen=True)
class Withdrawal:
    """A kind taken out of service by the fairness gate: why (a sentence) and when (ISO 8601 UTC)."""

    reason: str
    at: str | None


@dataclass(frozen=True)
class KindState:
    """What the registry says of a kind now: its aliases (alias → version) and any withdrawal."""

    aliases: dict[str, str]
    withdrawal: Withdrawal | None


def withdrawal_of(tags: dict) -> Withdrawal | None:
    """The withdrawal recorded in a registered model's tags, or None."""
    reason = (tags or {}).get(TAG_WITHDRAWN_REASON)
    return Withdrawal(reason=reason, at=tags.get(TAG_WITHDRAWN_AT)) if reason else None


def kind_state(client, kind: str) -> KindState:
    """Aliases and withdrawal of ``loopbaan-<kind>`` in one registry call (an unregistered kind has neither)."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(registered_name(kind))
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return KindState(aliases={}, withdrawal=None)
        raise
    return KindState(aliases={alias: str(version) for alias, version in (registered.aliases or {}).items()},
                     withdrawal=withdrawal_of(dict(registered.tags or {})))


def withdrawal(client, kind: str) -> Withdrawal | None:
    """The kind's withdrawal when it has no champion and the gate withdrew it (see the module docstring)."""
    state = kind_state(client, kind)
    return state.withdrawal if CHAMPION not in state.aliases else None


class ServedVersion(NamedTuple):
    """The version that serves a kind, the alias it holds, and whether it is the challenger standing in."""

    version: str
    alias: str
    fallback: bool


def served_version(state: KindState, *, allow_challenger: bool) -> ServedVersion | None:
    """Which version serves a kind (the service and the nightly batch alike): the champion; else, unless the gate
    withdrew the kind, the challenger where ``allow_challenger``; else none. Resolved from one registry read
    (:func:`kind_state`), then loaded by its number (:func:`load_version`), so that an alias moving in between
    cannot serve another version than the one reported."""
    if CHAMPION in state.aliases:
        return ServedVersion(state.aliases[CHAMPION], CHAMPION, False)
    if state.withdrawal is None and allow_challenger and CHALLENGER in state.aliases:
        return ServedVersion(state.aliases[CHALLENGER], CHALLENGER, True)
    return None


def model_versions(client, kind: str) -> list[dict]:
    """Every registered version of a kind, newest first, with aliases, tags and its run's metrics."""
    from mlflow.exceptions import MlflowException

    name = registered_name(kind)
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    out = []
    for version in client.search_model_versions(f"name = '{name}'"):
        run = client.get_run(version.run_id) if version.run_id else None
        out.append({"version": str(version.version), "aliases": sorted(aliases.get(str(version.version), [])),
                    "run_id": version.run_id, "created": version.creation_timestamp,
                    "tags": dict(version.tags or {}), "metrics": dict(run.data.metrics) if run else {}})
    return sorted(out, key=lambda entry: -int(entry["version"]))


def recent_runs(client, kind: str, *, limit: int = 10) -> list[dict]:
    experiment = client.get_experiment_by_name(experiment_name(kind))
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=limit)
    return [{"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
             "start_time": run.info.start_time, "metrics": dict(run.data.metrics), "params": dict(run.data.params)}
            for run in runs]
