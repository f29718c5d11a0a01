"""What the service serves: per kind the model version it follows in the MLflow registry, swapped in one assignment.

**Live model changes.** What is served is one immutable :class:`ServingState` (per kind the served model, or why
there is none). :meth:`ServedModels.reload` reads the registry (one call per kind), and for a kind whose champion
alias names another version it resolves the alias once, loads that version *by number*, builds the new
:class:`ServedKind` completely off to the side and then replaces the state in one assignment: a request takes the
state once when it starts, so requests in flight finish on the old version and the next ones get the new one.
Every process of the service runs its own :class:`RegistryWatcher` (every ``LOOPBAAN_RELOAD_SECONDS``, and at once
when an admin reload touched the reload marker in the home). A kind without champion answers 503: with the
reason the fairness gate recorded when it withdrew the kind (never the challenger then), else as before (the
challenger only with ``LOOPBAAN_ALLOW_CHALLENGER``).

The served versions' fairness verdicts are read from the registry's tags (:mod:`features.model_tags`), the contract
the gate writes; the service core (:mod:`serving.core`) answers the requests with what is served here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from features.errors import LoopbaanError
from features.model_tags import FAIRNESS_TAGS, read_result
from features.population.store import PopulationStore
from features.settings import Settings
from features.taxonomy import Taxonomy
from features.vocabulary import KINDS
from models import tracking
from models.baselines import outcome_popularity
from models.resources import KindResources, load_resources
from models.suggest import Suggester
from serving import schemas
from serving.recourse import RecourseWords

__all__ = ["RegistryWatcher", "ServedKind", "ServedModels", "ServingState"]

logger = logging.getLogger(__name__)
RELOAD_MARKER = Path("service") / "reload.request"  # under the home: touched by an admin reload
MARKER_CHECK_S = 0.5

ERR_NO_CHAMPION = ("no champion for {kind}: promote a version through the fairness gate, or set "
                   "LOOPBAAN_ALLOW_CHALLENGER=true to serve the challenger meanwhile")
ERR_WITHDRAWN = "{kind} is withdrawn by the fairness gate (since {at}): {reason}"
ERR_LOAD_FAILED = "version {version} of {name} could not be loaded ({reason}); the service keeps what it served"
ERR_UNREACHABLE = "the MLflow registry at {uri} is unreachable ({reason}); check LOOPBAAN_TRACKING_URI"
ERR_NOTHING_TO_SERVE = "no kind has a model to serve: {reasons}"


@dataclass(frozen=True)
class ServedKind:
    """One kind's served model version with everything its requests need, built before it serves."""

    resources: KindResources
    suggester: Suggester
    info: schemas.ModelInfo
    run_id: str
    popularity: np.ndarray
    words: RecourseWords

    @property
    def label(self) -> str:
        return f"{self.info.name}/{self.info.version}@{self.info.alias}"


@dataclass(frozen=True)
class ServingState:
    """What the service serves now: per kind the served model, or why there is none."""

    kinds: MappingProxyType
    unavailable: MappingProxyType
    withdrawn: MappingProxyType  # kind → tracking.Withdrawal


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ServedModels:
    """The served model of each kind, following the registry (see the module docstring); a kind's resources (its
    catalogue and match space) are loaded once and kept across versions."""

    def __init__(self, *, settings: Settings, store: PopulationStore, taxonomy: Taxonomy,
                 watch: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.taxonomy = taxonomy
        self._resources: dict[str, tuple[KindResources, np.ndarray]] = {}
        self._reload_lock = threading.Lock()
        self._state = ServingState(kinds=MappingProxyType({}), unavailable=MappingProxyType({}),
                                   withdrawn=MappingProxyType({}))
        self.registry_reachable = True
        self.checked_at: str | None = None
        self.reload(initial=True)
        if not self._state.kinds:
            raise LoopbaanError(ERR_NOTHING_TO_SERVE.format(reasons="; ".join(self._state.unavailable.values())))
        self.watcher = RegistryWatcher(self, interval_s=self.settings.reload_seconds) if watch else None
        if self.watcher is not None:
            self.watcher.start()

    @property
    def state(self) -> ServingState:
        """What is served now; a request takes it once and finishes on it."""
        return self._state

    @property
    def kinds(self) -> MappingProxyType:
        return self._state.kinds

    @property
    def unavailable(self) -> MappingProxyType:
        return self._state.unavailable

    @property
    def reload_marker(self) -> Path:
        return self.settings.home / RELOAD_MARKER

    def registry_signature(self) -> tuple | None:
        """For the local sqlite registry, the state of its files: unchanged, nothing in the registry moved (None for
        a tracking server, which is always asked)."""
        if self.settings.tracking_uri is not None:
            return None
        database = self.settings.home / "mlflow.db"
        return tuple(_stat(path) for path in (database, database.with_name(f"{database.name}-wal")))

    def reload(self, *, initial: bool = False) -> dict[str, str]:
        """Follow the registry now: load and swap in each kind whose served version changed (see the module
        docstring). Returns what changed, per kind, in words. An unreachable registry stops the start-up; later it
        keeps what is served."""
        from mlflow.exceptions import MlflowException

        with self._reload_lock:
            try:
                client = tracking.configure(self.settings)
                states = {kind: tracking.kind_state(client, kind) for kind in KINDS}
            except (MlflowException, OSError, ConnectionError) as error:
                reason = getattr(error, "message", None) or str(error)
                if initial:
                    raise LoopbaanError(ERR_UNREACHABLE.format(uri=self.settings.mlflow_tracking_uri,
                                                               reason=reason)) from None
                if self.registry_reachable:
                    logger.warning("registry unreachable, the loaded models keep serving: %s", reason)
                self.registry_reachable = False
                return {}
            self.registry_reachable, self.checked_at = True, _now()
            state = self._state
            kinds, unavailable, withdrawn = dict(state.kinds), dict(state.unavailable), {}
            changes = {}
            for kind, registry in states.items():
                target = self._target(kind, registry)
                if isinstance(target, str):
                    if kind in kinds:
                        changes[kind] = f"stopped serving {kinds.pop(kind).label}: {target}"
                    unavailable[kind] = target
                    if registry.withdrawal is not None and tracking.CHAMPION not in registry.aliases:
                        withdrawn[kind] = registry.withdrawal
                    continue
                current = kinds.get(kind)
                if current is not None and (current.info.version, current.info.alias, current.info.fallback) == target:
                    continue
                try:
                    served = self._build(kind, *target)
                except (LoopbaanError, MlflowException, OSError) as error:
                    reason = ERR_LOAD_FAILED.format(version=target[0], name=tracking.registered_name(kind),
                                                    reason=getattr(error, "message", None) or str(error))
                    logger.warning("%s", reason)
                    if current is None:
                        unavailable[kind] = reason
                    continue
                kinds[kind] = served
                unavailable.pop(kind, None)
                changes[kind] = f"now serving {served.label}" + (f" (was {current.label})" if current else "")
            self._state = ServingState(kinds=MappingProxyType(kinds), unavailable=MappingProxyType(unavailable),
                                       withdrawn=MappingProxyType(withdrawn))
        for kind, change in changes.items():
            logger.info("%s: %s", kind, change)
        return changes

    def _target(self, kind: str, registry: tracking.KindState) -> tuple[str, str, bool] | str:
        """(version, alias, fallback) to serve (:func:`models.tracking.served_version`), or the reason there is none."""
        served = tracking.served_version(registry, allow_challenger=self.settings.allow_challenger)
        if served is not None:
            return served
        if registry.withdrawal is not None:
            return ERR_WITHDRAWN.format(kind=kind, at=registry.withdrawal.at or "an unrecorded moment",
                                        reason=registry.withdrawal.reason)
        return ERR_NO_CHAMPION.format(kind=kind)

    def _build(self, kind: str, version: str, alias: str, fallback: bool) -> ServedKind:
        loaded = tracking.load_version(kind, version=version, alias=alias, settings=self.settings)
        if kind not in self._resources:
            resources = load_resources(kind, store=self.store, settings=self.settings, taxonomy=self.taxonomy)
            self._resources[kind] = (resources, outcome_popularity(store=self.store, catalogue=resources.catalogue))
        resources, popularity = self._resources[kind]
        info = schemas.ModelInfo(name=loaded.name, version=loaded.version, alias=loaded.alias, fallback=fallback,
                                 reranked=loaded.reranker.describe() if loaded.reranker else None,
                                 guarantees=list(loaded.reranker.guarantees) if loaded.reranker else None,
                                 serving_since=_now())
        suggester = Suggester(resources=resources, model=loaded.model, reranker=loaded.reranker)
        _ = suggester.labels  # built now, not by the first request
        return ServedKind(resources=resources, suggester=suggester, info=info, run_id=loaded.run_id,
                          popularity=popularity, words=RecourseWords(suggester=suggester))

    def request_reload(self) -> dict[str, str]:
        """An operator's reload: this process follows the registry now, the others at their next marker check."""
        self.reload_marker.parent.mkdir(parents=True, exist_ok=True)
        self.reload_marker.touch()
        return self.reload()

    def assessments(self, state: ServingState) -> tuple[dict[str, schemas.AssessmentInfo | None], bool]:
        """Per served kind of ``state``, the last fairness verdict on its version (None: not assessed), read from the
        registry now; and whether the registry could be read for every kind (a kind not read has None)."""
        tags: dict[str, dict[str, str]] = {}
        read = True
        try:
            client = tracking.configure(self.settings)
            for kind, served in state.kinds.items():
                tags[kind] = _fairness_tags(client, served.info.name, served.info.version)
        except Exception:  # noqa: BLE001 - the registry may be gone; the loaded models keep serving
            read = False
        return {kind: _assessment(tags.get(kind, {})) for kind in state.kinds}, read

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


class RegistryWatcher(threading.Thread):
    """Follows the registry for one process: every ``interval_s``, and at once after an admin reload elsewhere."""

    def __init__(self, served_models: ServedModels, *, interval_s: float) -> None:
        super().__init__(name="loopbaan-registry-watcher", daemon=True)
        self.served_models = served_models
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._marker = _mtime(served_models.reload_marker)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        served_models = self.served_models
        last, seen = time.monotonic(), served_models.registry_signature()
        while not self._stop.wait(min(self.interval_s, MARKER_CHECK_S)):
            marker = _mtime(served_models.reload_marker)
            if marker == self._marker and time.monotonic() - last < self.interval_s:
                continue
            asked, self._marker, last = marker != self._marker, marker, time.monotonic()
            signature = served_models.registry_signature()
            if not asked and signature is not None and signature == seen:
                served_models.checked_at = _now()  # the registry's files did not change: nothing moved
                continue
            try:
                served_models.reload()
                seen = signature
            except Exception:  # noqa: BLE001 - the watcher must outlive any one failed look at the registry
                logger.exception("following the registry failed; the served models stay")


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _mtime(path: Path) -> int | None:
    found = _stat(path)
    return None if found is None else found[0]


def _fairness_tags(client, name: str, version: str) -> dict[str, str]:
    tags = client.get_model_version(name, version).tags or {}
    return {key: tags[key] for key in FAIRNESS_TAGS if key in tags}


def _assessment(tags: dict[str, str]) -> schemas.AssessmentInfo | None:
    result = read_result(tags)
    if result is None:
        return None
    return schemas.AssessmentInfo(assessment_id=result.assessment_id, passed=result.passed,
                                  assessed_at=result.assessed_at, policy_version=result.policy_version,
                                  failed_checks=list(result.failed_checks))
