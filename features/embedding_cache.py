"""Disk cache of text embeddings, keyed by the encoder's identity and the exact texts, written atomically.

Used by the competency embeddings of matching (:mod:`features.minilm`) and by the search's label indexes
(:mod:`features.search.semantic`). A damaged file is rebuilt; a read-only cache only costs the next run the work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from features.files import write_atomic


def cached_vectors(texts: list[str], *, encoder_id: str, encode: Callable[[list[str]], np.ndarray],
                   folder: Path, name: str, digest_chars: int = 20) -> np.ndarray:
    """``encode(texts)`` as float32, read from ``folder`` when this encoder embedded the same texts before."""
    digest = hashlib.sha256("\x1f".join([encoder_id, *texts]).encode()).hexdigest()[:digest_chars]
    path = Path(folder) / f"{name}-{digest}.npy"
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
