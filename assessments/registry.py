"""The MLflow side of the gate: which version is assessed, its booster and re-ranker, the result tags.

Contract with the service (it reads these model-version tags, never this package): the ``fairness.*`` tags of
:mod:`features.model_tags`; a mitigated version also carries ``mitigation.*`` tags and the artifact
``mitigation/reranker.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assessments.document import worst_finding
from features.errors import LoopbaanError
from features import model_tags
from features.model_tags import result_tags
from features.settings import Settings
from features.vocabulary import ERR_UNKNOWN_KIND, KINDS
from models import tracking
from models.lineage import load_lineage
from models.ranker import ScoringModel
from models.rerank import Reranker

ERR_NO_VERSIONS = "{name} has no registered version; train one with `loopbaan train --kind {kind}`"
ERR_UNKNOWN_VERSION = "{name} has no version {version}; registered versions: {known}"
ERR_UNKNOWN_ALIAS = "no version of {name} holds the alias '{alias}'; aliases in use: {known}"
ERR_BOTH = "give either --version or --alias, not both"
_METRIC_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


@dataclass(frozen=True)
class VersionRef:
    kind: str
    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    tags: dict

    @property
    def mitigated(self) -> bool:
        return tracking.is_mitigated(self.tags)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise LoopbaanError(ERR_UNKNOWN_KIND.format(kind=kind))
    return kind


def resolve(client, kind: str, *, version: str | None = None, alias: str | None = None) -> VersionRef:
    """The registered version named by number or alias (default: the challenger)."""
    from mlflow.exceptions import MlflowException

    check_kind(kind)
    if version is not None and alias is not None:
        raise LoopbaanError(ERR_BOTH)
    name = tracking.registered_name(kind)
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        raise LoopbaanError(ERR_NO_VERSIONS.format(name=name, kind=kind)) from None
    aliases = dict(registered.aliases or {})
    if version is None:
        alias = alias or tracking.CHALLENGER
        if alias not in aliases:
            known = ", ".join(f"{key} (v{value})" for key, value in sorted(aliases.items())) or "none"
            raise LoopbaanError(ERR_UNKNOWN_ALIAS.format(name=name, alias=alias, known=known))
        version = str(aliases[alias])
    try:
        found = client.get_model_version(name, str(version))
    except MlflowException:
        known = ", ".join(sorted((str(entry.version) for entry in client.search_model_versions(f"name = '{name}'")),
                                 key=int)) or "none"
        raise LoopbaanError(ERR_UNKNOWN_VERSION.format(name=name, version=version, known=known)) from None
    held = tuple(sorted(key for key, value in aliases.items() if str(value) == str(found.version)))
    return VersionRef(kind=kind, name=name, version=str(found.version), run_id=found.run_id, aliases=held,
                      tags=dict(found.tags or {}))


def aliases_of(client, kind: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        return {key: str(value) for key, value in (client.get_registered_model(tracking.registered_name(kind)).aliases
                                                   or {}).items()}
    except MlflowException:
        return {}


def load_booster(ref: VersionRef, settings: Settings) -> ScoringModel:
    import mlflow.lightgbm

    tracking.configure(settings)
    booster = mlflow.lightgbm.load_model(f"models:/{ref.name}/{ref.version}")
    return ScoringModel(kind=ref.kind, booster=booster)


def booster_digest(model: ScoringModel) -> str:
    """SHA-256 of the booster's model text: the same trees give the same digest, whatever version holds them."""
    return hashlib.sha256(model.booster.model_to_string().encode()).hexdigest()


def content_digest(model: ScoringModel, reranker: Reranker | None) -> str:
    """What a board decision binds: the booster and, for a mitigated version, its re-ranker."""
    rerank = json.dumps(reranker.to_dict(), sort_keys=True, default=str) if reranker else "none"
    return hashlib.sha256(f"{booster_digest(model)}\n{rerank}".encode()).hexdigest()


def lineage_of(client, ref: VersionRef) -> dict[str, np.ndarray]:
    return load_lineage(client, run_id=ref.run_id, name=ref.name, version=ref.version, kind=ref.kind)


def load_reranker(client, ref: VersionRef) -> Reranker | None:
    """The re-ranker a mitigated version carries (None for a plain version)."""
    return tracking.load_reranker(client, ref.run_id) if ref.mitigated else None


def run_params(client, ref: VersionRef) -> dict[str, str]:
    return dict(client.get_run(ref.run_id).data.params)


def training_facts(client, ref: VersionRef) -> dict:
    """What the model card needs from the version's run: parameters, metrics, the baselines."""
    run = client.get_run(ref.run_id)
    return {"params": dict(run.data.params), "metrics": dict(run.data.metrics), "run_name": run.info.run_name,
            "tags": {key: value for key, value in run.data.tags.items() if not key.startswith("mlflow.")}}


def set_result_tags(client, ref: VersionRef, *, assessment_id: str, passed: bool, assessed_at: str,
                    policy_version: str, failed: list[str]) -> None:
    for key, value in result_tags(assessment_id=assessment_id, passed=passed, assessed_at=assessed_at,
                                  policy_version=policy_version, failed=failed).items():
        client.set_model_version_tag(ref.name, ref.version, key, value)


def metric_key(*parts: str) -> str:
    return _METRIC_KEY.sub("_", ".".join(parts))[:250]


def log_results(client, ref: VersionRef, *, metrics: dict[str, float], step: int, report: Path,
                assessment: Path, assessment_id: str) -> None:
    """Every fairness metric onto the version's run (step = how many assessments it had), plus the report."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    entries = [Metric(key=key, value=float(value), timestamp=now, step=step) for key, value in metrics.items()]
    for start in range(0, len(entries), 900):
        client.log_batch(ref.run_id, metrics=entries[start:start + 900])
    client.log_artifact(ref.run_id, str(report), artifact_path=f"fairness/{assessment_id}")
    client.log_artifact(ref.run_id, str(assessment), artifact_path=f"fairness/{assessment_id}")


def flat_metrics(results: dict[str, dict], checks: list[dict]) -> dict[str, float]:
    """MLflow metrics: each check's worst finding, and every estimate of the model and of the reference ranking,
    per group and overall, with the model's CI."""
    out: dict[str, float] = {}
    for check in checks:
        worst = worst_finding(check["findings"], floor=check["floor"])
        if worst is not None:
            out[metric_key("fairness", "check", check["name"])] = worst["value"]
        out[metric_key("fairness", "check", check["name"], "passed")] = float(check["status"] != "fail")
    for metric, result in results.items():
        entries = [(("fairness", metric, "overall"), result.get("overall", {}))]
        entries += [(("fairness", metric, key, group["group"].replace(" × ", "+")), group)
                    for key, breakdown in result.get("breakdowns", {}).items() for group in breakdown["groups"]]
        for base, values in entries:
            if values.get("model") is not None:
                out[metric_key(*base)] = values["model"]
                if values.get("model_ci") and values["model_ci"][0] is not None:
                    out[metric_key(*base, "ci_low")] = values["model_ci"][0]
                    out[metric_key(*base, "ci_high")] = values["model_ci"][1]
            if values.get("reference") is not None:
                out[metric_key(*base, "reference")] = values["reference"]
    return out


def set_champion(client, kind: str, version: str) -> None:
    client.set_registered_model_alias(tracking.registered_name(kind), tracking.CHAMPION, version)


def withdraw(client, kind: str, *, reason: str, at: str) -> None:
    """No version serves the kind any more: ``champion`` removed, the reason on the registered model (the
    contract the service reads)."""
    name = tracking.registered_name(kind)
    client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_REASON, reason)
    client.set_registered_model_tag(name, model_tags.TAG_WITHDRAWN_AT, at)
    if tracking.CHAMPION in aliases_of(client, kind):  # after the reason: no moment without champion nor reason
        client.delete_registered_model_alias(name, tracking.CHAMPION)


def clear_withdrawal(client, kind: str) -> None:
    name = tracking.registered_name(kind)
    tags = client.get_registered_model(name).tags or {}
    for key in (model_tags.TAG_WITHDRAWN_REASON, model_tags.TAG_WITHDRAWN_AT):
        if key in tags:
            client.delete_registered_model_tag(name, key)

