"""The NumPy query forward (features.search.bert_forward) gives the vectors sentence-transformers gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from features.minilm import minilm_folder
from features.search.bert_forward import BertForward, NotPlainBert
from features.search.encoders import QUERY_MAX_TOKENS, SearchEncoder, base_encoder

TEXTS = ["lasser", "vrachtwagenchauffeur", "heftruck besturen", "patiënten verzorgen", "C++ / C#", "", "a",
         "Engels spreken, schrijven en lezen op niveau B2 " * 8,  # past the query's token limit: truncated alike
         "software developer", "forklift driver"]


@pytest.fixture(scope="module")
def reference():
    """A separate sentence-transformers copy of the bundled MiniLM, truncating queries as the search does."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_folder()), device="cpu", local_files_only=True)
    model.max_seq_length = QUERY_MAX_TOKENS
    return model


def _st_vectors(model, texts: list[str]) -> np.ndarray:
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


def test_the_numpy_forward_gives_the_vectors_of_sentence_transformers(reference) -> None:
    forward = BertForward.from_folder(minilm_folder(), max_tokens=QUERY_MAX_TOKENS)
    ours = forward.forward(TEXTS, chunk=3)  # several chunks of different lengths
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    assert np.abs(ours - _st_vectors(reference, TEXTS)).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_the_comparison_tells_a_changed_weight_apart(reference) -> None:
    """The tolerance above is far below what one wrong weight does: a forward with one changed matrix fails it."""
    forward = BertForward.from_folder(minilm_folder(), max_tokens=QUERY_MAX_TOKENS)
    layer = forward.layers[1]
    forward.layers[1] = type(layer)(**{**layer.__dict__, "intermediate": layer.intermediate * np.float32(1.05)})
    assert np.abs(forward.forward(TEXTS) - _st_vectors(reference, TEXTS)).max() > 1e-3


@pytest.mark.slow  # builds a student model
def test_a_training_candidate_answers_queries_with_its_weights() -> None:
    from features.search.distillation import student

    model = student(layers=2, max_tokens=QUERY_MAX_TOKENS)
    candidate = SearchEncoder.from_model(model, identity="candidate", description="candidate", tuned=True)
    assert np.abs(candidate.encode_queries(TEXTS) - _st_vectors(model, TEXTS)).max() < 1e-5
    assert np.abs(candidate.encode_queries(TEXTS) - base_encoder().encode_queries(TEXTS)).max() > 1e-2


def _copy_of_minilm(tmp_path: Path) -> Path:
    folder = tmp_path / "encoder"
    shutil.copytree(minilm_folder(), folder)
    return folder


def test_a_folder_that_is_not_plain_bert_is_refused_with_what_differs(tmp_path: Path) -> None:
    folder = _copy_of_minilm(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta", "hidden_act": "relu"}))
    with pytest.raises(NotPlainBert, match="model_type is 'roberta'; hidden_act is 'relu'"):
        BertForward.from_folder(folder, max_tokens=QUERY_MAX_TOKENS)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(NotPlainBert, match="tokenizer.json is missing"):
        BertForward.from_folder(folder, max_tokens=QUERY_MAX_TOKENS)


def test_a_damaged_weights_file_is_refused_not_run(tmp_path: Path) -> None:
    folder = _copy_of_minilm(tmp_path)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(NotPlainBert, match="cannot be read"):
        BertForward.from_folder(folder, max_tokens=QUERY_MAX_TOKENS)


def test_a_folder_encoder_answers_queries_without_loading_torch() -> None:
    """What makes the first query of a new process fast: neither torch nor sentence-transformers is imported."""
    child = ("import sys; from features.search.encoders import base_encoder, single_threaded\n"
             "encoder = base_encoder()\n"
             "with single_threaded():\n"
             "    vectors = encoder.encode_queries(['lasser', 'heftruck besturen'])\n"
             "loaded = sorted(name for name in ('torch', 'transformers', 'sentence_transformers') if name in sys.modules)\n"
             "print(vectors.shape, loaded)")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == "(2, 384) []"


@pytest.mark.slow  # loads sentence-transformers
def test_a_folder_pooled_otherwise_is_embedded_by_sentence_transformers(tmp_path: Path) -> None:
    """Only mean pooling runs on the NumPy forward; a CLS-pooled copy takes sentence-transformers' own path."""
    folder = _copy_of_minilm(tmp_path)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {**pooling, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    encoder = SearchEncoder.from_folder(folder, identity="cls", description="cls", tuned=True)
    assert encoder._forward is None
    ours = encoder.encode_queries(TEXTS[:4])
    assert np.abs(ours - _st_vectors(encoder.model, TEXTS[:4])).max() < 1e-5
    assert np.abs(ours - base_encoder().encode_queries(TEXTS[:4])).max() > 1e-2  # not the mean-pooled vectors
