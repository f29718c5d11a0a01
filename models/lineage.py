"""What a model version learnt from: the ids of the citizens whose data trained, validated or tuned it.

Recorded with every version (the artifact ``lineage/citizens.parquet`` of its MLflow run, one row per
citizen and role) so that an assessment can leave them out by id on any later population snapshot: a data
digest says nothing about which citizens two snapshots share. Roles: ``train`` and ``valid`` (the ranker's
own splits), ``tuning`` (the citizens a fairness mitigation chose its setting on). Cold-start queries have no
citizen and are not recorded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import LoopbaanError

ARTIFACT = "lineage/citizens.parquet"
ROLES = ("train", "valid", "tuning")
ERR_NO_LINEAGE = ("version {version} of {name} carries no record of the citizens it was trained on (it predates "
                  "lineage records), so no assessment can tell its held-out citizens apart: retrain it with "
                  "`loopbaan train --kind {kind}`")


def lineage_frame(roles: dict[str, np.ndarray]) -> pd.DataFrame:
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"lineage roles are {', '.join(ROLES)}, not {', '.join(unknown)}")
    parts = [pd.DataFrame({"citizen_id": np.unique(np.asarray(ids, dtype=np.int64)), "role": role})
             for role, ids in roles.items()]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"citizen_id": [], "role": []})
    return frame[frame["citizen_id"] >= 0].reset_index(drop=True)


def digest(frame: pd.DataFrame) -> str:
    ordered = frame.sort_values(["role", "citizen_id"], kind="stable")
    text = "\n".join(f"{role}:{citizen}" for role, citizen in zip(ordered["role"], ordered["citizen_id"], strict=True))
    return hashlib.sha256(text.encode()).hexdigest()


def log_lineage(roles: dict[str, np.ndarray]) -> dict[str, str]:
    """Log the lineage artifact on the active MLflow run; returns the tags that summarise it."""
    import mlflow

    frame = lineage_frame(roles)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / Path(ARTIFACT).name
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(ARTIFACT).parent))
    counts = frame["role"].value_counts()
    return {"lineage.digest": digest(frame),
            **{f"lineage.{role}_citizens": str(int(counts.get(role, 0))) for role in roles}}


def load_lineage(client, *, run_id: str, name: str, version: str, kind: str) -> dict[str, np.ndarray]:
    """Role → sorted citizen ids of a version's run; LoopbaanError when the run has no lineage record."""
    switch = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(switch)
    os.environ[switch] = "false"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            try:
                path = client.download_artifacts(run_id, ARTIFACT, scratch)
            except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
                raise LoopbaanError(ERR_NO_LINEAGE.format(version=version, name=name, kind=kind)) from None
            frame = pd.read_parquet(path)
    finally:
        if before is None:
            os.environ.pop(switch, None)
        else:
            os.environ[switch] = before
    return {role: np.sort(group["citizen_id"].to_numpy(dtype=np.int64)) for role, group in frame.groupby("role")}


def seen_citizens(roles: dict[str, np.ndarray]) -> np.ndarray:
    """Every citizen a version learnt from in any role."""
    parts = [np.asarray(ids, dtype=np.int64) for ids in roles.values()]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
