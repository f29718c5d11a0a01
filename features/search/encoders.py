"""Sentence encoders for search: the bundled MiniLM or a tuned copy of it, loaded offline from a folder.

A :class:`SearchEncoder` embeds label lists in batches (sentence-transformers) and typed queries on a fast path
(a NumPy forward of the same weights, the last queries remembered), unit-length float32 either way.
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path

import numpy as np

from features.errors import LoopbaanError
from features.minilm import ENCODER_NAME, load_encoder, minilm_folder, no_weight_loading_bars
from features.search.bert_forward import BertForward, NotPlainBert

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
    """The BLAS/OpenMP pools (and torch, where it is loaded) on one thread for the block: what typed queries want on a
    shared CPU.

    One query is too small to split; on a busy machine a second thread only adds waiting (a 2-thread query
    embedding measured 370 ms against 4 ms on one). Scoped: the previous settings come back after the block.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), torch_threads(1) if "torch" in sys.modules else nullcontext():
        yield


class SearchEncoder:
    """A sentence encoder with an identity (for caches and reports) and a fast path for typed queries.

    Built from a saved folder (:meth:`from_folder`), it reads only the weights and the tokenizer: queries run on the
    NumPy forward (:mod:`features.search.bert_forward`), and sentence-transformers is loaded only when a whole label
    set must be embedded (:meth:`encode`), which a home with the install's prepared cache never asks. Built from an
    in-memory ``SentenceTransformer`` (:meth:`from_model`, a candidate during training), queries run on a NumPy copy
    of its weights made at its first query. A model the forward cannot run embeds queries with sentence-transformers.

    ``identity`` changes whenever the weights change (e.g. ``"loopbaan-encoder/3/<run id>"``) and keys the embedding
    cache; ``description`` is one line for people (which encoder answers, and how it was chosen); ``tuned`` is False
    for the untuned bundled MiniLM.
    """

    def __init__(self, *, identity: str, description: str, tuned: bool, load, forward: BertForward | None,
                 dimension: int | None) -> None:
        self.identity = identity
        self.description = description
        self.tuned = tuned
        self._load = load  # returns the SentenceTransformer
        self._model = None
        self._forward = forward
        self._forward_tried = forward is not None
        self._dimension = dimension
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()

    @classmethod
    def from_folder(cls, folder: Path, *, identity: str, description: str, tuned: bool, load=None) -> SearchEncoder:
        """The encoder saved in ``folder`` (``SentenceTransformer.save``); ``load`` loads it as a SentenceTransformer
        when a label set must be embedded (default: from the folder, offline, on CPU)."""
        folder = Path(folder)
        if not (folder / "modules.json").is_file():
            raise LoopbaanError(ERR_ENCODER_FOLDER.format(path=folder, reason="modules.json is missing"))
        load = load or (lambda: _sentence_transformer(folder))
        try:
            forward = BertForward.from_folder(folder, max_tokens=QUERY_MAX_TOKENS) if _mean_pooled(folder) else None
        except NotPlainBert:
            forward = None
        encoder = cls(identity=identity, description=description, tuned=tuned, load=load, forward=forward,
                      dimension=forward.dimension if forward is not None else None)
        if forward is None:
            encoder.model  # noqa: B018 - a folder the forward cannot run is checked by loading it now
        return encoder

    @classmethod
    def from_model(cls, model, *, identity: str, description: str, tuned: bool) -> SearchEncoder:
        encoder = cls(identity=identity, description=description, tuned=tuned, load=lambda: model, forward=None,
                      dimension=None)
        encoder._model = model
        return encoder

    @property
    def model(self):
        """The encoder as a ``SentenceTransformer``, loaded at first use."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = int(self.model.get_embedding_dimension())
        return self._dimension

    def encode(self, texts: list[str], *, progress: bool = False, batch_size: int = BATCH) -> np.ndarray:
        """Unit-length float32 embeddings of a label set, one row per text (sentence-transformers, in batches)."""
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        with torch_threads(sensible_threads()):
            vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                        show_progress_bar=progress, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embeddings of typed queries: remembered ones are reused, the rest embedded on the NumPy forward (the
        caller keeps it to one thread: short texts gain nothing from a second one, and lose much when the cores are
        shared)."""
        missing = list(dict.fromkeys(text for text in texts if text not in self._memory))
        if missing:
            forward = self._query_forward()
            vectors = forward.forward(missing, chunk=QUERY_CHUNK) if forward is not None else self.encode(
                missing, batch_size=64)
            for text, vector in zip(missing, vectors, strict=True):
                self._memory[text] = vector
                while len(self._memory) > QUERY_MEMORY:
                    self._memory.popitem(last=False)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._memory[text]
            self._memory.move_to_end(text)
        return out

    def _query_forward(self) -> BertForward | None:
        if self._forward is None and not self._forward_tried:
            self._forward_tried = True
            if self._model is not None and _plain_mean_pooled(self._model):
                try:
                    self._forward = BertForward.from_model(self._model, max_tokens=QUERY_MAX_TOKENS)
                except NotPlainBert:
                    pass  # its queries go through sentence-transformers
        return self._forward


def _sentence_transformer(folder: Path):
    from sentence_transformers import SentenceTransformer

    try:
        with no_weight_loading_bars():
            return SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise LoopbaanError(ERR_ENCODER_FOLDER.format(path=folder, reason=error)) from None


def _mean_pooled(folder: Path) -> bool:
    """Whether a saved folder is a Transformer at its root, mean pooling and at most a normalisation."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or modules[0]["path"]:
            return False
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    if "pooling_mode" in pooling:  # sentence-transformers 6 names the mode; earlier versions set one flag per mode
        return pooling["pooling_mode"] == "mean"
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode") and value is True}
    return modes == {"pooling_mode_mean_tokens"}


def _plain_mean_pooled(model) -> bool:
    kinds = [type(module).__name__ for module in model]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        return False
    return getattr(model[1], "pooling_mode", "mean") == "mean"


@lru_cache(maxsize=1)
def base_encoder() -> SearchEncoder:
    """The untuned bundled MiniLM (English-only), as a :class:`SearchEncoder`: one per process, since both kinds'
    concept vectors and the fallback query encoder are this same model."""
    return SearchEncoder.from_folder(minilm_folder(), identity=ENCODER_NAME, tuned=False, load=load_encoder,
                                     description=f"{ENCODER_NAME} (untuned, English-only)")


def encoder_from_folder(path: Path, *, identity: str, description: str) -> SearchEncoder:
    """A tuned encoder saved with ``SentenceTransformer.save``, read offline."""
    return SearchEncoder.from_folder(path, identity=identity, description=description, tuned=True)
