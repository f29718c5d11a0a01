"""Disk cache of label embeddings, keyed by the encoder's identity and the exact texts, written atomically."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from features.files import write_atomic


def cached_vectors(texts: list[str], *, encoder_id: str, encode: Callable[[list[str]], np.ndarray],
                   cache_dir: Path, name: str) -> np.ndarray:
    """``encode(texts)``, read from ``cache_dir`` when this encoder embedded the same texts before."""
    digest = hashlib.sha256("\x1f".join([encoder_id, *texts]).encode()).hexdigest()[:20]
    path = Path(cache_dir) / "search" / f"{name}-{digest}.npy"
    if path.is_file():
        try:
            vectors = np.load(path)
            if vectors.shape[0] == len(texts) and vectors.dtype == np.float32:
                return vectors
        except (OSError, ValueError):
            pass  # a damaged cache file is rebuilt below
    vectors = np.ascontiguousarray(encode(texts), dtype=np.float32)
    try:
        write_atomic(path, lambda handle: np.save(handle, vectors), durable=False)
    except OSError:
        pass  # a read-only cache only costs the next run the same work
    return vectors
