"""The one typed settings object, built once (``Settings()``) and passed down.

Every field can be set from the environment with the ``LOOPBAAN_`` prefix, e.g. ``LOOPBAAN_HOME``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_home() -> Path:
    """``.loopbaan/`` in the checkout when running from one, else in the working directory."""
    if (_PROJECT_ROOT / "pyproject.toml").is_file():
        return _PROJECT_ROOT / ".loopbaan"
    return Path.cwd() / ".loopbaan"


def default_prepared_cache() -> Path:
    """``share/loopbaan/cache`` under the Python installation (the project's ``.venv`` after ``make install``)."""
    return Path(sys.prefix) / "share" / "loopbaan" / "cache"


class Settings(BaseSettings):
    """Where loopbaan keeps its data, stores and reports, and how it reaches MLflow."""

    model_config = SettingsConfigDict(env_prefix="LOOPBAAN_", frozen=True, extra="ignore")

    home: Path = Field(default_factory=default_home, description="Folder holding data, stores, reports and logs.")
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking server URI; default is a sqlite database under home."
    )
    seed: int = Field(default=42, description="Default random seed for generation and training.")
    secret: SecretStr | None = Field(
        default=None, description="Key that signs citizen and admin tokens (may be rotated); default: a random key "
        "kept in <home>/secret.key (created on first use, readable by the owner only)."
    )
    pseudonym_key: SecretStr | None = Field(
        default=None, description="Key of the citizens' pseudonyms in the audit log and the consent store (never "
        "rotated: the recorded choices are found through it); default: <home>/pseudonym.key, created like secret.key."
    )
    reload_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often the service looks for a moved champion alias (seconds)."
    )
    allow_challenger: bool = Field(
        default=False, description="Serve the challenger when a kind has no champion yet (said in every response)."
    )
    service_workers: int = Field(default=2, ge=1, le=64, description="Worker processes of the suggestion service.")
    cache_home: Path | None = Field(
        default=None, description="Folder for derived caches (text embeddings); default is <home>/cache."
    )
    prepared_cache: Path = Field(
        default_factory=default_prepared_cache, description="Read-only cache of the bundled taxonomy's search "
        "indexes and competency embeddings, filled once per install by `loopbaan taxonomy prepare` (make install runs "
        "it) and read by every home after its own cache; default <python prefix>/share/loopbaan/cache."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the citizens' vault, e.g. postgresql+psycopg://user@host/db; "
        "default is the embedded SQLite database <home>/vault.db."
    )

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def population_dir(self) -> Path:
        return self.data_dir / "population"

    @property
    def cache_dir(self) -> Path:
        return self.cache_home or self.home / "cache"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def batch_dir(self) -> Path:
        """Nightly batch suggestions (``loopbaan batch suggest``), one folder per kind."""
        return self.home / "batches"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit" / "audit.jsonl"

    @property
    def consent_log(self) -> Path:
        return self.home / "consent" / "choices.jsonl"

    @property
    def vault_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'vault.db').as_posix()}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').as_posix()}"
