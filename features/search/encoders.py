"""Sentence encoders for search: the bundled MiniLM or a tuned copy of it, loaded offline from a folder.

A :class:`SearchEncoder` embeds label lists in batches and single queries on a fast path (the transformer
called directly, one thread, the last queries remembered), unit-length float32 either way.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from features.minilm import ENCODER_NAME, load_encoder
from features.errors import LoopbaanError

QUERY_MAX_TOKENS = 48
QUERY_MEMORY = 20_000
QUERY_CHUNK = 128
BATCH = 256

ERR_ENCODER_FOLDER = ("the search encoder at {path} cannot be loaded ({reason}); retrain it with "
                      "`loopbaan train --kind encoder` or remove the damaged folder")


def sensible_threads() -> int:
    """Torch threads for this moment: every core on a quiet machine, one when the cores are already busy.

    On a shared two-core machine under load, two intra-op threads that wait for each other run several
    times slower than one (measured: 4 s against 0.6 s for one training batch).
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:
        busy = False
    return 1 if busy else cores


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX-512 BF16 or AMX); elsewhere torch emulates
    them, slower than float32."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@contextmanager
def torch_threads(count: int):
    """Run the block with ``count`` torch threads, restoring the previous number afterwards."""
    import torch

    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            torch.set_num_threads(before)


@contextmanager
def single_threaded():
    """Torch and the BLAS/OpenMP pools on one thread for the block: what typed queries want on a shared CPU.

    One query is too small to split; on a busy machine a second thread only adds waiting (a 2-thread query
    embedding measured 370 ms against 4 ms on one). Scoped: the previous settings come back after the block.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), torch_threads(1):
        yield


@contextmanager
def no_weight_loading_bars():
    """transformers draws a bar for loading a few MB of weights; around a search or a cache build it is only noise."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()


class SearchEncoder:
    """A ``SentenceTransformer`` with an identity (for caches and reports) and a fast single-query path.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
    identity : str
        Changes whenever the weights change (e.g. ``"loopbaan-encoder/3/<run id>"``); keys the embedding cache.
    description : str
        One line for people: which encoder answers, and how it was chosen.
    tuned : bool
        False for the untuned bundled MiniLM.
    """

    def __init__(self, model, *, identity: str, description: str, tuned: bool) -> None:
        self.model = model
        self.identity = identity
        self.description = description
        self.tuned = tuned
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        pooling = [module for module in model if type(module).__name__ == "Pooling"]
        self._direct = (len(model) >= 2 and type(model[0]).__name__ == "Transformer" and len(pooling) == 1
                        and getattr(pooling[0], "pooling_mode", "mean") == "mean")

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], *, progress: bool = False, batch_size: int = BATCH) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text."""
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        with torch_threads(sensible_threads()):
            vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                        show_progress_bar=progress, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embeddings of typed queries: remembered ones are reused, the rest embedded on one thread (short texts
        gain nothing from a second one, and lose much when the cores are shared)."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._memory))
        if missing:
            with torch_threads(1):
                vectors = self._direct_encode(missing) if self._direct else self.encode(missing, batch_size=64)
            for text, vector in zip(missing, vectors, strict=True):
                self._memory[text] = vector
                while len(self._memory) > QUERY_MEMORY:
                    self._memory.popitem(last=False)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._memory[text]
            self._memory.move_to_end(text)
        return out

    def _direct_encode(self, texts: list[str]) -> np.ndarray:
        import torch

        bert = self.model[0].auto_model
        order = np.argsort([len(text) for text in texts], kind="stable")  # similar lengths pad little
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), QUERY_CHUNK):
                chunk = order[start:start + QUERY_CHUNK]
                tokens = self.model.tokenizer([texts[index] for index in chunk], return_tensors="pt", padding=True,
                                              truncation=True, max_length=QUERY_MAX_TOKENS)
                hidden = bert(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


def base_encoder(*, description: str | None = None) -> SearchEncoder:
    """The untuned bundled MiniLM (English-only), as a :class:`SearchEncoder`."""
    return SearchEncoder(load_encoder(), identity=ENCODER_NAME,
                         description=description or f"{ENCODER_NAME} (untuned, English-only)", tuned=False)


def encoder_from_folder(path: Path, *, identity: str, description: str) -> SearchEncoder:
    """A tuned encoder saved with ``SentenceTransformer.save``, loaded offline on CPU."""
    from sentence_transformers import SentenceTransformer

    path = Path(path)
    if not (path / "modules.json").is_file():
        raise LoopbaanError(ERR_ENCODER_FOLDER.format(path=path, reason="modules.json is missing"))
    try:
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise LoopbaanError(ERR_ENCODER_FOLDER.format(path=path, reason=error)) from None
    return SearchEncoder(model, identity=identity, description=description, tuned=True)
