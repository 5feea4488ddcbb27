"""The fast paths of issue 7: the ONNX encoder gives sentence-transformers' vectors, sentence
vectors come from the passage's own forward pass, the ask path never imports torch, and the
FAISS index type follows the corpus size.

Takes about 25 s (loads sentence-transformers once to compare against; the rest is cheap).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qabot.index import vectors as index_vectors
from qabot.config import Settings
from qabot.embedding import (
    Embedder,
    FakeEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    default_cache_dir,
    load_embedder,
    onnx_model_path,
)
from qabot.errors import EmbeddingError
from qabot.index import IndexStore, build_index, make_faiss_index

from .conftest import ROOT, SEED

HEAVY = ("torch", "sentence_transformers", "transformers", "langchain_core", "langchain")

# Texts of very different lengths, so padded batches are exercised.
TEXTS = [
    line.strip() for line in SEED.read_text("utf-8").splitlines() if line.strip()
] + [
    "Who was arrested?", "x", "", "numbers 1, 2 and 3,800", "ünïcödé çafé naïve résumé",
    "word " * 300,  # longer than the 256-token window: truncated the same way
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    """sentence-transformers itself, the reference the ONNX encoder must reproduce."""
    return SentenceTransformerEmbedder()


@pytest.mark.model
def test_default_embedder_is_onnx(real_embedder: Embedder) -> None:
    assert isinstance(real_embedder, OnnxEmbedder)
    assert real_embedder.onnx_path == onnx_model_path(real_embedder.model_dir)


@pytest.mark.model
def test_onnx_vectors_match_sentence_transformers(
        real_embedder: Embedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    ours = real_embedder.embed_documents(TEXTS)
    theirs = torch_embedder.embed_documents(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    for text in ("How many people were arrested?", TEXTS[0]):
        assert float(real_embedder.embed_query(text) @ torch_embedder.embed_query(text)) >= 0.9999


@pytest.mark.model
def test_sentence_vectors_come_from_the_passage_pass(
        real_embedder: Embedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    text = "The storm hit the coast on Monday. Two bridges collapsed. Schools stay closed."
    spans = [(0, 34), (35, 56), (57, len(text))]
    assert isinstance(real_embedder, OnnxEmbedder)
    passages, sentences = real_embedder.embed_with_spans([text, "Only one."], [spans, []])
    assert np.allclose(passages, real_embedder.embed_documents([text, "Only one."]), atol=1e-5)
    assert sentences[0].shape == (3, 384) and sentences[1].shape == (0, 384)
    assert np.allclose(np.linalg.norm(sentences[0], axis=1), 1.0, atol=1e-5)
    # Each pooled sentence is closest to its own sentence encoded alone.
    alone = real_embedder.embed_documents([text[s:e] for s, e in spans])
    assert list(np.argmax(sentences[0] @ alone.T, axis=1)) == [0, 1, 2]
    # The torch implementation pools the same way.
    _, torch_sentences = torch_embedder.embed_with_spans([text], [spans])
    assert np.min(np.sum(sentences[0] * torch_sentences[0], axis=1)) >= 0.9999


def _run_checking_imports(*args: str) -> list[str]:
    """Run the CLI in a fresh interpreter and return the heavy modules it imported."""
    code = ("import sys\nfrom qabot.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert result.returncode == 0, result.stderr
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("HEAVY")][-1]
    return eval(line.split(" ", 1)[1])  # a list literal we printed ourselves


@pytest.mark.model
def test_ask_help_and_unchanged_index_never_import_torch(real_seed_index: Path,
                                                        real_embedder: Embedder) -> None:
    folders = ["--seeds", str(real_seed_index.parent / "seeds"), "--index", str(real_seed_index)]
    assert _run_checking_imports("--help") == []
    assert _run_checking_imports("index", *folders) == []
    assert _run_checking_imports("ask", "How many people were arrested?", *folders) == []


def test_onnx_cache_location_follows_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        make_settings: Callable[..., Settings]) -> None:
    assert load_embedder(encoder="onnx").cache_dir == default_cache_dir()
    monkeypatch.setenv("QABOT_CACHE_DIR", str(tmp_path))
    embedder = load_embedder(encoder="onnx", cache_dir=make_settings().cache_dir)
    assert isinstance(embedder, OnnxEmbedder)
    path = onnx_model_path(embedder.model_dir, embedder.cache_dir)
    assert path.parent.parent == tmp_path.resolve() / "onnx" and path.name == "model.onnx"
    assert isinstance(load_embedder(encoder="torch"), SentenceTransformerEmbedder)


def test_fake_is_an_encoder_choice_not_a_model_name() -> None:
    assert isinstance(load_embedder(encoder="fake"), FakeEmbedder)
    with pytest.raises(EmbeddingError, match="not a local sentence-transformers directory"):
        load_embedder("fake")


def _clustered(n: int, dimension: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dimension))
    x = centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, dimension))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_small_corpora_get_exact_search_and_large_ones_ivf(
        monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = _clustered(6000)
    exact, params = make_faiss_index(vectors[:500])
    assert params == {"type": "IndexFlatIP"}
    monkeypatch.setattr(index_vectors, "EXACT_SEARCH_MAX", 1000)
    approximate, params = make_faiss_index(vectors)
    assert params["type"] == "IndexIVFScalarQuantizer" and params["nprobe"] >= 1
    assert approximate.ntotal == 6000
    queries = _clustered(50, seed=1)
    import faiss

    flat = faiss.IndexFlatIP(32)
    flat.add(vectors)
    _, truth = flat.search(queries, 10)
    _, found = approximate.search(queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9


def test_manifest_records_the_index_type_and_open_applies_its_parameters(
        monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    embedder = FakeEmbedder()
    build_index(settings.seeds_dir, settings.index_dir, embedder)
    generation = IndexStore(settings.index_dir).open_current()
    assert generation.manifest["faiss_index"] == {"type": "IndexFlatIP"}
    generation.close()

    monkeypatch.setattr(index_vectors, "EXACT_SEARCH_MAX", 5)
    build_index(settings.seeds_dir, settings.index_dir, embedder, rebuild=True)
    store = IndexStore(settings.index_dir)
    manifest = json.loads((settings.index_dir / store.current_name() / "manifest.json")
                          .read_text())
    assert manifest["faiss_index"]["type"] == "IndexIVFScalarQuantizer"
    assert manifest["faiss_index"]["nlist"] == 16
    # Search-time parameters come from the manifest when the generation is opened.
    manifest["faiss_index"]["nprobe"] = 3
    (settings.index_dir / store.current_name() / "manifest.json").write_text(json.dumps(manifest))
    generation = store.open_current()
    import faiss

    assert faiss.extract_index_ivf(generation.faiss_index).nprobe == 3
    hits = generation.dense_search(embedder.embed_query("arrested"), 3)
    assert hits and all(0 <= row < generation.counts["passages"] for row, _ in hits)
    generation.close()


def test_build_encodes_each_passage_once_and_pools_its_sentences(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    embedder = FakeEmbedder(pools_sentences=True)
    report = build_index(settings.seeds_dir, settings.index_dir, embedder)
    generation = IndexStore(settings.index_dir).open_current()
    try:
        assert len(embedder.span_texts) == report.passages == generation.counts["passages"]
        rows = generation.passages(range(report.passages))
        spans = generation.sentences(range(report.passages))
        for row, passage in rows.items():
            for sentence_row, start, end in spans[row]:
                expected = (embedder.embed_query(passage.text[start:end]) if len(spans[row]) > 1
                            else generation.passage_vectors[row])
                assert np.allclose(generation.sentence_vectors[sentence_row], expected, atol=1e-6)
    finally:
        generation.close()
