"""Streaming builds (issue 16): vectors arrive from an engine in blocks, in any order, and are
written to their rows as they come; an engine that fails or misbehaves mid-stream leaves the
previous generation live and nothing half-written behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from qabot.embedding import FakeEmbedder
from qabot.errors import EmbeddingError
from qabot.index import IndexStore, build_index, make_faiss_index, vectors
from qabot.index.plan import VectorChunks, VectorPlan, local_vector_chunks

FILES = ("passage_vectors.npy", "sentence_vectors.npy", "vectors.faiss")


def _add_articles(seeds: Path, count: int = 6) -> None:
    """Articles of several multi-sentence paragraphs, each sentence distinct."""
    for number in range(count):
        paragraphs = [" ".join(f"Report {number} part {p} line {s} says the river rose by "
                               f"{number * 7 + p * 3 + s} centimetres near town {number}."
                               for s in range(1 + (number + p) % 3))
                      for p in range(5)]
        (seeds / f"report-{number}.txt").write_text(
            f"River report {number}\n\n" + "\n\n".join(paragraphs) + "\n", "utf-8")


def _live(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().strip()


def _files(index: Path) -> dict[str, bytes]:
    return {name: (_live(index) / name).read_bytes() for name in FILES}


def _shuffled(block_texts: int, seed: int) -> Callable[[VectorPlan, Callable[[int], None]],
                                                        VectorChunks]:
    """A vector source that gives small blocks in a random order, as a cluster would."""
    embedder = FakeEmbedder()

    def source(plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        chunks = list(local_vector_chunks(embedder, plan, advance, block_texts=block_texts))
        assert len(chunks) > 3  # the point is several blocks
        order = np.random.default_rng(seed).permutation(len(chunks))
        return iter([chunks[i] for i in order])

    return source


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "ivf"])
def test_blocks_in_any_order_give_the_same_index(seeds_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 exact: bool) -> None:
    _add_articles(seeds_dir)
    if not exact:  # a quantised index, trained on a sample and filled in several batches
        monkeypatch.setattr(vectors, "EXACT_SEARCH_MAX", 10)
        monkeypatch.setattr(vectors, "ADD_BATCH", 7)
    reference, shuffled = tmp_path / "reference", tmp_path / "shuffled"
    report = build_index(seeds_dir, reference, FakeEmbedder())
    build_index(seeds_dir, shuffled, FakeEmbedder(), vector_source=_shuffled(5, seed=1))
    assert _files(shuffled) == _files(reference)
    assert report.passages > 40
    stored = np.load(_live(reference) / "passage_vectors.npy")
    expected = FakeEmbedder().embed_documents(_passage_texts(reference))
    assert np.array_equal(stored, expected)
    if not exact:  # adding in batches stores what adding all at once does
        import faiss

        monkeypatch.setattr(vectors, "ADD_BATCH", 1 << 20)
        whole, _ = make_faiss_index(stored)
        assert faiss.serialize_index(whole).tobytes() == _files(reference)["vectors.faiss"]
    answers = [IndexStore(i).open_current().dense_search(expected[3], 3)
               for i in (reference, shuffled)]
    assert answers[0] == answers[1] and len(answers[0]) == 3


def _passage_texts(index: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(_live(index) / "passages.sqlite")
    try:
        return [text for (text,) in db.execute("SELECT text FROM passages ORDER BY row")]
    finally:
        db.close()


def test_late_chunking_by_blocks_matches_one_pass(seeds_dir: Path, tmp_path: Path) -> None:
    """An embedder that pools sentences from its passage gets whole passages in every block."""
    _add_articles(seeds_dir)
    one, blocks = tmp_path / "one", tmp_path / "blocks"
    build_index(seeds_dir, one, FakeEmbedder(pools_sentences=True))
    pooling = FakeEmbedder(pools_sentences=True)
    build_index(seeds_dir, blocks, pooling, vector_source=lambda plan, advance: (
        local_vector_chunks(pooling, plan, advance, block_texts=4)))
    assert _files(blocks) == _files(one)
    assert len(pooling.span_texts) == len(_passage_texts(blocks))  # each passage encoded once


def _failing(after: int, problem: Callable[[], Iterator[tuple[int, np.ndarray]]] | None = None
             ) -> Callable[[VectorPlan, Callable[[int], None]], VectorChunks]:
    def source(plan: VectorPlan, advance: Callable[[int], None]) -> VectorChunks:
        for number, chunk in enumerate(local_vector_chunks(FakeEmbedder(), plan, advance,
                                                           block_texts=4)):
            if number == after:
                if problem is None:
                    raise RuntimeError("the embedding cluster went away")
                yield from problem()
                return
            yield chunk
    return source


def _gap() -> Iterator[tuple[int, np.ndarray]]:
    return iter(())


def _twice() -> Iterator[tuple[int, np.ndarray]]:
    yield 0, np.zeros((1, 64), dtype=np.float32)


def _wrong_width() -> Iterator[tuple[int, np.ndarray]]:
    yield 0, np.zeros((1, 3), dtype=np.float32)


@pytest.mark.parametrize(("problem", "error", "message"), [
    (None, RuntimeError, "cluster went away"),
    (_gap, EmbeddingError, "without a vector"),
    (_twice, EmbeddingError, "twice"),
    (_wrong_width, EmbeddingError, "shape"),
], ids=["engine-fails", "gap", "twice", "wrong-width"])
def test_an_engine_failing_mid_stream_leaves_the_previous_generation(
        seeds_dir: Path, index_dir: Path, problem: Callable[[], Iterator[tuple[int, np.ndarray]]]
        | None, error: type[Exception], message: str) -> None:
    first = build_index(seeds_dir, index_dir, FakeEmbedder())
    before = (_live(index_dir), sorted(p.name for p in index_dir.iterdir()), _files(index_dir))
    _add_articles(seeds_dir)
    with pytest.raises(error, match=message):
        build_index(seeds_dir, index_dir, FakeEmbedder(), vector_source=_failing(2, problem))
    assert (_live(index_dir), sorted(p.name for p in index_dir.iterdir()),
            _files(index_dir)) == before
    assert not list(index_dir.glob(".gen-*"))  # no half generation left behind
    generation = IndexStore(index_dir).open_current()
    assert generation.counts["passages"] == first.passages
    again = build_index(seeds_dir, index_dir, FakeEmbedder())
    assert again.passages_reused == first.passages and again.passages > first.passages
