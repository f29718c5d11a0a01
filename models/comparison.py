"""Registered versions and recent runs of each kind side by side, with the baselines (for `compare` and notebooks)."""

from __future__ import annotations

from features.settings import Settings
from features.vocabulary import K, NDCG_AT_K, RECALL_AT_K
from models import tracking
from models.baselines import BASELINES

METRIC_KEYS = {NDCG_AT_K: f"ndcg@{K}", RECALL_AT_K: f"recall@{K}", "map": "map", "coverage": "coverage"}


def comparison(kinds: tuple[str, ...], *, settings: Settings) -> dict:
    """Per kind: registered versions with aliases and metrics, the baselines, and recent runs."""
    client = tracking.configure(settings)
    out = {}
    for name in kinds:
        versions = tracking.model_versions(client, name)
        entries = []
        for version in versions:
            metrics = version["metrics"]
            entries.append({
                "version": version["version"], "aliases": version["aliases"], "run_id": version["run_id"],
                "metrics": {key: metrics.get(raw) for raw, key in METRIC_KEYS.items()},
                "baselines": {baseline: {key: metrics.get(f"baseline_{baseline}_{raw}") for raw, key in METRIC_KEYS.items()
                                         if f"baseline_{baseline}_{raw}" in metrics}
                              for baseline in BASELINES},
            })
        runs = tracking.recent_runs(client, name)
        out[name] = {
            "registered_model": tracking.registered_name(name),
            "versions": entries,
            "baselines": entries[0]["baselines"] if entries else {},
            "runs": [{"run_id": run["run_id"], "run_name": run["run_name"], "status": run["status"],
                      "metrics": {key: run["metrics"].get(raw) for raw, key in METRIC_KEYS.items()}} for run in runs],
        }
    return out
