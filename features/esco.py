"""The ESCO taxonomy from the compact copy the project carries (``features/taxonomy_data``).

This service uses the ESCO classification of the European Commission.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import LoopbaanError
from features.taxonomy import Taxonomy

BUNDLE_DIR = Path(__file__).resolve().parent / "taxonomy_data"
ATTRIBUTION = "This service uses the ESCO classification of the European Commission."
TABLES = ("occupations", "competencies", "relations", "occupation_hierarchy", "skill_hierarchy")

ERR_NO_MANIFEST = (
    "the taxonomy bundle at {path} is missing its manifest.json; reinstall loopbaan "
    "or rebuild the bundle with `make taxonomy-bundle`."
)
ERR_MISSING = "taxonomy file {path} is missing; reinstall loopbaan or rebuild it with `make taxonomy-bundle`."
ERR_CORRUPT = (
    "taxonomy file {path} is corrupt (its checksum does not match the manifest); reinstall loopbaan "
    "or rebuild it with `make taxonomy-bundle`."
)
ERR_UNREADABLE = "taxonomy file {path} cannot be read as Parquet ({reason}); reinstall loopbaan or rebuild it."


class EscoSource:
    """Loads ESCO (v1.1.1 concepts and relations, v1.2.1 Dutch labels) from a bundle folder."""

    name = "esco-1.1.1"

    def __init__(self, bundle_dir: Path = BUNDLE_DIR) -> None:
        self.bundle_dir = Path(bundle_dir)

    def load(self) -> Taxonomy:
        return load_esco(self.bundle_dir)


def _manifest(bundle_dir: Path) -> dict:
    path = bundle_dir / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoopbaanError(ERR_NO_MANIFEST.format(path=bundle_dir)) from None
    except (OSError, ValueError) as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=exc)) from None


class ChecksumMismatch(ValueError):
    """A file's bytes differ from the SHA-256 its manifest recorded."""


def read_checked_parquet(path: Path, sha256: str) -> pd.DataFrame:
    """A Parquet table whose SHA-256 a manifest recorded. Raises FileNotFoundError, :class:`ChecksumMismatch`, or
    ``pa.ArrowException``/``OSError`` for bytes that are not Parquet; each caller words them for its own files."""
    payload = path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise ChecksumMismatch(f"{path.name} does not match its checksum")
    return pq.read_table(pa.BufferReader(payload)).to_pandas()


def _read_table(bundle_dir: Path, name: str, expected_sha256: str) -> pd.DataFrame:
    path = bundle_dir / f"{name}.parquet"
    try:
        return read_checked_parquet(path, expected_sha256)
    except FileNotFoundError:
        raise LoopbaanError(ERR_MISSING.format(path=path)) from None
    except ChecksumMismatch:
        raise LoopbaanError(ERR_CORRUPT.format(path=path)) from None
    except (pa.ArrowException, OSError) as exc:
        raise LoopbaanError(ERR_UNREADABLE.format(path=path, reason=exc)) from None


@lru_cache(maxsize=4)
def load_esco(bundle_dir: Path = BUNDLE_DIR) -> Taxonomy:
    """Load (once per process and folder) the ESCO taxonomy; checksums guard against corrupt files."""
    bundle_dir = Path(bundle_dir)
    manifest = _manifest(bundle_dir)
    tables = {}
    for name in TABLES:
        entry = manifest.get("tables", {}).get(name)
        if entry is None:
            raise LoopbaanError(ERR_MISSING.format(path=bundle_dir / f"{name}.parquet"))
        tables[name] = _read_table(bundle_dir, name, entry["sha256"])
    return Taxonomy(source=EscoSource.name, **tables)


@lru_cache(maxsize=4)
def load_isco_groups(bundle_dir: Path = BUNDLE_DIR) -> pd.DataFrame:
    """ISCO-08 groups (code, English and Dutch label) as carried in the ESCO bundle."""
    bundle_dir = Path(bundle_dir)
    entry = _manifest(bundle_dir).get("tables", {}).get("isco_groups")
    if entry is None:
        raise LoopbaanError(ERR_MISSING.format(path=bundle_dir / "isco_groups.parquet"))
    return _read_table(bundle_dir, "isco_groups", entry["sha256"])
