"""Disk cache of text embeddings, keyed by the encoder's identity and the exact texts, written atomically.

Used by the competency embeddings of matching (:mod:`features.minilm`) and by the search's label indexes
(:mod:`features.search.semantic`, :mod:`features.search.lexical`). A damaged file is rebuilt; a read-only cache only
costs the next run the work.

Two folders are read, in this order: the home's cache (``Settings.cache_dir``) and the install's prepared cache
(``Settings.prepared_cache``), which ``loopbaan taxonomy prepare`` fills once per install (``make install`` runs it),
so that a new home finds the bundled taxonomy's indexes ready. Entries are named by what they were computed from, so
a home whose taxonomy or encoder differs misses the prepared ones and writes its own into the home's cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from features.files import write_atomic


def readable_paths(cache_dir: Path, entry: Path | str) -> list[Path]:
    """Where a cache ``entry`` (a path relative to a cache folder) may be read: the home's cache ``cache_dir``
    first, then the install's prepared cache. New entries are written to the first."""
    from features.settings import Settings

    paths = [Path(cache_dir) / entry]
    prepared = Settings().prepared_cache / entry
    return paths if prepared == paths[0] else [*paths, prepared]


def cached_vectors(texts: list[str], *, encoder_id: str, encode: Callable[[list[str]], np.ndarray],
                   cache_dir: Path, name: str, subfolder: str = "", digest_chars: int = 20) -> np.ndarray:
    """``encode(texts)`` as float32, read from the cache when this encoder embedded the same texts before."""
    digest = hashlib.sha256("\x1f".join([encoder_id, *texts]).encode()).hexdigest()[:digest_chars]
    paths = readable_paths(cache_dir, Path(subfolder) / f"{name}-{digest}.npy")
    for path in paths:
        if path.is_file():
            try:
                vectors = np.load(path)
                if vectors.shape[0] == len(texts) and vectors.dtype == np.float32:
                    return vectors
            except (OSError, ValueError):
                pass  # a damaged cache file is rebuilt below
    vectors = np.ascontiguousarray(encode(texts), dtype=np.float32)
    try:
        write_atomic(paths[0], lambda handle: np.save(handle, vectors), durable=False)
    except OSError:
        pass  # a read-only cache only costs the next run the same work
    return vectors
