"""Which query encoder the search uses: the registered ``loopbaan-encoder`` (champion, else the newest version),
copied once from the registry into the cache, or the untuned MiniLM with a note saying why.

The search's side of the encoder, kept apart from its training (:mod:`models.encoder_training`) so that a process
that only searches imports neither torch nor the rankers; MLflow is imported only where a store exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.files import staged_folder
from features.search.encoders import SearchEncoder, base_encoder, encoder_from_folder
from features.settings import Settings
from models import tracking

KIND = "encoder"
MODEL_SUBFOLDER = "model.sentence_transformer"  # where the sentence-transformers flavour keeps the weights
ALPHA_TAG = "search_alpha_"  # model-version tag prefix: the fusion weight chosen for each kind

NOTE_NO_ENCODER = ("note: no loopbaan-encoder is registered yet, so the untuned, English-only MiniLM embeds the "
                   "queries (Dutch queries rely on the lexical matcher); train one with `loopbaan train --kind "
                   "encoder`")
NOTE_REGISTRY_FAILED = ("note: the encoder registered at {uri} could not be loaded ({reason}); searching with the "
                        "untuned, English-only MiniLM; retrain with `loopbaan train --kind encoder`")


@dataclass(frozen=True)
class ResolvedEncoder:
    """The query encoder the search should use, the fusion weight per kind, and a note when it is a fallback."""

    encoder: SearchEncoder
    alphas: dict[str, float]
    note: str | None = None
    version: str | None = None
    alias: str | None = None


def search_encoder(*, settings: Settings) -> ResolvedEncoder:
    """The registered encoder holding ``champion``, else the newest version; else the untuned MiniLM, with a note.

    Never touches the network: the registry is the local store (or the configured tracking server) and the weights
    are copied once into ``<cache>/encoders/``. An empty or absent registry is not an error.
    """
    if settings.tracking_uri is None and not (settings.home / "mlflow.db").is_file():
        return ResolvedEncoder(encoder=base_encoder(), alphas={}, note=NOTE_NO_ENCODER)  # do not create a store
    from mlflow.exceptions import MlflowException  # MLflow takes a second to import: only where a store exists

    try:
        client = tracking.configure(settings)
        name = tracking.registered_name(KIND)
        found, alias = None, None
        try:
            found, alias = client.get_model_version_by_alias(name, tracking.CHAMPION), tracking.CHAMPION
        except MlflowException:
            versions = client.search_model_versions(f"name = '{name}'")
            if versions:
                found = max(versions, key=lambda version: int(version.version))
        if found is None:
            return ResolvedEncoder(encoder=base_encoder(), alphas={}, note=NOTE_NO_ENCODER)
        folder = _local_copy(name=name, version=str(found.version), run_id=found.run_id or "", settings=settings)
    except (MlflowException, OSError) as error:
        reason = error.message if isinstance(error, MlflowException) else str(error)
        return ResolvedEncoder(encoder=base_encoder(), alphas={}, note=NOTE_REGISTRY_FAILED.format(
            uri=settings.mlflow_tracking_uri, reason=(reason.splitlines() or ["unknown"])[0][:200]))
    description = f"{name} version {found.version}" + (f" ({alias})" if alias else " (newest; no champion yet)")
    encoder = encoder_from_folder(folder / MODEL_SUBFOLDER, identity=f"{name}/{found.version}/{found.run_id}",
                                  description=description)
    alphas = {}
    for key, value in (found.tags or {}).items():
        if key.startswith(ALPHA_TAG):
            try:
                alphas[key.removeprefix(ALPHA_TAG)] = float(value)
            except ValueError:
                continue
    return ResolvedEncoder(encoder=encoder, alphas=alphas, version=str(found.version), alias=alias)


def _local_copy(*, name: str, version: str, run_id: str, settings: Settings) -> Path:
    """The registered version's files under ``<cache>/encoders/``, downloaded once, atomically."""
    import mlflow.artifacts

    folder = settings.cache_dir / "encoders" / f"{name}-v{version}-{run_id[:12]}"
    if (folder / MODEL_SUBFOLDER / "modules.json").is_file():
        return folder
    with staged_folder(folder, durable=False, replace=False) as partial:  # another process may copy it first
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(partial))
    return folder
