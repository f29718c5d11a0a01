"""The query encoder's forward pass in NumPy: a BERT encoder with mean pooling, as sentence-transformers runs it.

Typed queries are embedded one or a few at a time. For them, importing torch, transformers and sentence-transformers
costs seconds per process and the framework's dispatch costs more than the arithmetic, so the queries take this
path: the `tokenizers` library, the weights from ``model.safetensors`` and a dozen matrix products per layer.
:class:`features.search.encoders.SearchEncoder` keeps sentence-transformers for embedding whole label sets and
for training; tests/test_search.py holds both paths to the same vectors within float32 rounding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

SUPPORTED = ("a BERT encoder (model_type 'bert', hidden_act 'gelu', absolute positions) saved as model.safetensors "
             "with its tokenizer.json")


class NotPlainBert(ValueError):
    """The folder or model is not a BERT encoder this forward can run (the message says what differs)."""


@dataclass(frozen=True)
class _Layer:
    qkv: np.ndarray  # (hidden, 3 * hidden): query, key and value projections side by side
    qkv_bias: np.ndarray
    attention_out: np.ndarray
    attention_out_bias: np.ndarray
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: np.ndarray
    intermediate_bias: np.ndarray
    output: np.ndarray
    output_bias: np.ndarray
    output_norm: tuple[np.ndarray, np.ndarray]


class BertForward:
    """Unit-length mean-pooled embeddings of short texts; ``forward(texts)`` returns float32 ``(n, hidden)``."""

    def __init__(self, weights: dict[str, np.ndarray], *, config: dict, tokenizer, max_tokens: int) -> None:
        _check_config(config)
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        weights = {name.removeprefix("bert."): value for name, value in weights.items()}
        try:
            self.word = _f32(weights["embeddings.word_embeddings.weight"])
            self.position = _f32(weights["embeddings.position_embeddings.weight"])
            self.token_type = _f32(weights["embeddings.token_type_embeddings.weight"][0])
            self.embedding_norm = _norm(weights, "embeddings.LayerNorm")
            self.layers = []
            while f"encoder.layer.{len(self.layers)}.attention.self.query.weight" in weights:
                self.layers.append(_layer(weights, f"encoder.layer.{len(self.layers)}."))
        except KeyError as missing:
            raise NotPlainBert(f"the weights lack {missing}") from None
        if not self.layers:
            raise NotPlainBert("the weights hold no encoder layers")
        self.dimension = self.word.shape[1]
        if self.dimension % self.heads:
            raise NotPlainBert(f"hidden size {self.dimension} is not divisible by {self.heads} heads")
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=min(max_tokens, self.position.shape[0]))

    @classmethod
    def from_folder(cls, folder: Path, *, max_tokens: int) -> BertForward:
        """The forward of a saved sentence-transformers folder (its Transformer module at the folder's root)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (folder / name).is_file():
                raise NotPlainBert(f"{name} is missing; this forward runs {SUPPORTED}")
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            weights = load_file(str(folder / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as error:  # noqa: BLE001 - OSError, or safetensors' and tokenizers' own exception types
            raise NotPlainBert(f"its files cannot be read ({type(error).__name__}: {error})") from None
        return cls(weights, config=config, tokenizer=tokenizer, max_tokens=max_tokens)

    @classmethod
    def from_model(cls, model, *, max_tokens: int) -> BertForward:
        """The forward of an in-memory ``SentenceTransformer`` (a candidate during training), copied as it is now."""
        from tokenizers import Tokenizer

        transformer = model[0]
        bert = transformer.auto_model
        config = bert.config.to_dict()
        weights = {name: tensor.detach().float().cpu().numpy().copy() for name, tensor in bert.state_dict().items()}
        tokenizer = Tokenizer.from_str(transformer.tokenizer.backend_tokenizer.to_str())
        return cls(weights, config=config, tokenizer=tokenizer, max_tokens=max_tokens)

    def forward(self, texts: list[str], *, chunk: int = 128) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        lengths = np.array([len(encoding.ids) for encoding in encodings])
        order = np.argsort(lengths, kind="stable")  # similar lengths pad little
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), chunk):
            rows = order[start:start + chunk]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for slot, row in enumerate(rows):
                ids[slot, :lengths[row]] = encodings[row].ids
                mask[slot, :lengths[row]] = 1.0
            out[rows] = self._pooled(ids, mask)
        return out

    def _pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, width = ids.shape
        head = self.dimension // self.heads
        # Token rows stay one (batch * width, hidden) matrix: numpy multiplies a 3-d array by a matrix one batch row
        # at a time, several times slower than one product.
        hidden = (self.word[ids] + self.position[:width] + self.token_type).reshape(batch * width, self.dimension)
        hidden = self._normalised(hidden, self.embedding_norm)
        blocked = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]  # padding is never attended to
        scale = np.float32(1.0 / math.sqrt(head))
        for layer in self.layers:
            qkv = (hidden @ layer.qkv + layer.qkv_bias).reshape(batch, width, 3, self.heads, head)
            query, key, value = (qkv[:, :, part].transpose(0, 2, 1, 3) for part in range(3))
            scores = (query @ key.transpose(0, 1, 3, 2)) * scale + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * width, self.dimension)
            hidden = self._normalised(hidden + context @ layer.attention_out + layer.attention_out_bias,
                                      layer.attention_norm)
            inner = _gelu(hidden @ layer.intermediate + layer.intermediate_bias)
            hidden = self._normalised(hidden + inner @ layer.output + layer.output_bias, layer.output_norm)
        hidden = hidden.reshape(batch, width, self.dimension)
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _normalised(self, values: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        weight, bias = norm
        mean = values.mean(axis=-1, keepdims=True)
        centred = values - mean
        variance = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / np.sqrt(variance + np.float32(self.eps)) * weight + bias


def _check_config(config: dict) -> None:
    differs = [f"{key} is {config.get(key)!r}" for key, wanted in
               (("model_type", "bert"), ("hidden_act", "gelu"), ("position_embedding_type", "absolute"))
               if config.get(key, wanted) != wanted]
    if config.get("model_type") is None:
        differs.append("model_type is missing")
    if differs:
        raise NotPlainBert(f"{'; '.join(differs)}; this forward runs {SUPPORTED}")


def _gelu(values: np.ndarray) -> np.ndarray:  # the exact GELU that BERT's "gelu" names
    return values * np.float32(0.5) * (np.float32(1.0) + erf(values * np.float32(1.0 / math.sqrt(2.0))))


def _f32(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


def _norm(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return _f32(weights[f"{prefix}.weight"]), _f32(weights[f"{prefix}.bias"])


def _layer(weights: dict[str, np.ndarray], prefix: str) -> _Layer:
    def linear(name: str) -> tuple[np.ndarray, np.ndarray]:  # torch stores (out, in); x @ W.T is x @ this
        return _f32(weights[f"{prefix}{name}.weight"].T), _f32(weights[f"{prefix}{name}.bias"])

    projections = [linear(f"attention.self.{part}") for part in ("query", "key", "value")]
    attention_out, attention_out_bias = linear("attention.output.dense")
    intermediate, intermediate_bias = linear("intermediate.dense")
    output, output_bias = linear("output.dense")
    return _Layer(qkv=_f32(np.concatenate([matrix for matrix, _ in projections], axis=1)),
                  qkv_bias=_f32(np.concatenate([bias for _, bias in projections])),
                  attention_out=attention_out, attention_out_bias=attention_out_bias,
                  attention_norm=_norm(weights, f"{prefix}attention.output.LayerNorm"),
                  intermediate=intermediate, intermediate_bias=intermediate_bias, output=output,
                  output_bias=output_bias, output_norm=_norm(weights, f"{prefix}output.LayerNorm"))
