"""Planning a build's vectors: which passages reuse an earlier generation's vectors (by content
hash) and which are embedded, and embedding the new ones in blocks.

The plan lives on disk, not in memory: a scratch SQLite database attached to the connection
that writes the new generation's tables (``plan.reused``: one row per reused passage;
``plan.new``: one row per text to embed), so a build's memory does not grow with its corpus.
``VectorPlan.new_texts`` reads the texts to embed back from the passages table as asked.

An engine gives the vectors of ``new_texts`` as ``VectorChunks``: ``(position of the block's first
row, float32 rows)``, blocks in any order, each covering whole passages (a passage's sentence
texts follow it), every position exactly once. ``local_vector_chunks`` is the local engine.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np

from .. import corpus
from ..progress import ScaledProgress

if TYPE_CHECKING:
    from ..embedding import Embedder
    from ..schema import Passage

#: Kinds of rows of ``plan.new``: a passage whose sentences are embedded after it, a passage
#: that is its own only sentence, one sentence of the passage before it.
PASSAGE, ONE_SENTENCE_PASSAGE, SENTENCE = 0, 1, 2

PLAN_SCHEMA = """
CREATE TABLE plan.reused(passage_row INTEGER PRIMARY KEY, old_row INTEGER NOT NULL,
                         sentence_row INTEGER NOT NULL, old_sentence INTEGER NOT NULL,
                         sentence_count INTEGER NOT NULL);
CREATE TABLE plan.new(position INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
                      passage_row INTEGER NOT NULL, sentence_row INTEGER);
"""

VectorChunks = Iterator[tuple[int, np.ndarray]]


#: A newly embedded passage: its position in ``new_texts``, its text, and its sentence spans
#: when its sentences are embedded as well (more than one sentence), else ``[]``.
NewPassage = tuple[int, str, list[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class TextBlock:
    """The texts of ``plan.new_texts[start:start + len(texts)]`` and, for each passage among
    them, its offset in the block and, when it has several, its sentences' character spans
    (whose texts follow it in the block). Plain data: it can be sent to another process."""

    start: int
    texts: list[str]
    passages: list[tuple[int, list[tuple[int, int]]]]


class NewTexts(Sequence[str]):
    """The texts a build embeds, read from the new generation's tables on demand."""

    def __init__(self, plan: VectorPlan) -> None:
        self._plan = plan

    def __len__(self) -> int:
        return self._plan.new_count

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._plan.block(start, max(start, stop)).texts
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._plan.block(position, position + 1).texts[0]

    def __iter__(self) -> Iterator[str]:
        for start, stop in self._plan.blocks():
            yield from self._plan.block(start, stop).texts


class VectorPlan:
    """Where each passage's and sentence's vector comes from, kept in the scratch database
    attached as ``plan`` to ``db`` (the connection writing the new generation)."""

    def __init__(self, db: sqlite3.Connection, *, passages: int, sentences: int,
                 new_count: int, embedded_passages: int) -> None:
        self.db = db
        self.passages = passages            # rows of the new generation
        self.sentences = sentences
        self.new_count = new_count          # len(new_texts)
        self.embedded_passages = embedded_passages
        self._lock = threading.Lock()       # an engine may read texts from another thread

    @property
    def new_texts(self) -> NewTexts:
        """The texts to embed, in order: each new passage, then its sentences when it has
        several."""
        return NewTexts(self)

    def _rows(self, sql: str, parameters: Sequence[object]) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, parameters).fetchall()

    def block(self, start: int, stop: int) -> TextBlock:
        """The texts of positions ``start`` to ``stop`` (excluded) with their passages' spans."""
        found = self._rows(
            "SELECT n.kind, p.text, s.start, s.end FROM plan.new n "
            "JOIN passages p ON p.row = n.passage_row "
            "LEFT JOIN sentences s ON s.row = n.sentence_row "
            "WHERE n.position >= ? AND n.position < ? ORDER BY n.position", (start, stop))
        texts: list[str] = []
        passages: list[tuple[int, list[tuple[int, int]]]] = []
        for kind, text, begin, end in found:
            if kind == SENTENCE:
                texts.append(text[begin:end])
                if passages:
                    passages[-1][1].append((begin, end))
                continue
            passages.append((len(texts), []))
            texts.append(text)
        return TextBlock(start, texts, passages)

    def blocks(self, block_texts: int = 4096) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` ranges of about ``block_texts`` positions covering ``new_texts``,
        each starting at a passage (never splitting a passage from its sentences)."""
        start = 0
        while start < self.new_count:
            found = self._rows("SELECT min(position) FROM plan.new WHERE position >= ? "
                               "AND kind != ?", (start + max(1, block_texts), SENTENCE))
            stop = found[0][0] if found and found[0][0] is not None else self.new_count
            yield start, stop
            start = stop

    def destinations(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """For positions ``start`` to ``stop``: the passage row and the sentence row each
        vector goes to (-1: none)."""
        found = self._rows("SELECT kind, passage_row, sentence_row FROM plan.new "
                           "WHERE position >= ? AND position < ? ORDER BY position", (start, stop))
        kinds = np.fromiter((k for k, _, _ in found), dtype=np.int64, count=len(found))
        passage = np.fromiter((r for _, r, _ in found), dtype=np.int64, count=len(found))
        sentence = np.fromiter((-1 if s is None else s for _, _, s in found), dtype=np.int64,
                               count=len(found))
        return np.where(kinds == SENTENCE, -1, passage), sentence

    def reused(self, batch: int = 8192) -> Iterator[list[tuple[int, int, int, int, int]]]:
        """The reused passages in batches: ``(passage_row, old_row, sentence_row,
        old_sentence, sentence_count)``."""
        last = -1
        while True:
            found = self._rows("SELECT * FROM plan.reused WHERE passage_row > ? "
                               "ORDER BY passage_row LIMIT ?", (last, batch))
            if not found:
                return
            yield found
            last = found[-1][0]


VectorSource = Callable[[VectorPlan, Callable[[int], None]], VectorChunks]


def embed_block(embedder: Embedder, block: TextBlock,
                advance: Callable[[int], None] | None = None) -> np.ndarray:
    """The vectors of one block's texts. An embedder that ``pools_sentences`` encodes only the
    passages and pools each sentence from its passage's token vectors in the same pass ("late
    chunking"), instead of encoding every sentence of a multi-sentence passage a second time."""
    texts = block.texts
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    if not embedder.pools_sentences:
        return embedder.embed_documents(texts, progress=advance)
    positions = [p for p, _ in block.passages]
    scaled = ScaledProgress(advance, asked=len(texts), encoded=len(positions))  # sentences too
    passage_vectors, sentence_vectors = embedder.embed_with_spans(
        [texts[p] for p in positions], [spans for _, spans in block.passages], progress=scaled)
    scaled.finish()
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for p, vector, sentences in zip(positions, passage_vectors, sentence_vectors):
        out[p] = vector
        out[p + 1:p + 1 + len(sentences)] = sentences
    return out


def local_vector_chunks(embedder: Embedder, plan: VectorPlan, advance: Callable[[int], None],
                        block_texts: int = 4096) -> VectorChunks:
    """The local engine: embed ``plan.new_texts`` block by block in this process."""
    for start, stop in plan.blocks(block_texts):
        yield start, embed_block(embedder, plan.block(start, stop), advance)


def plan_vectors(passages: Sequence[Passage], previous: None = None) -> VectorPlan:
    """A plan that embeds every one of ``passages``, kept in memory (tests and small tools;
    a build plans on disk as it streams, see ingest.py)."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript("CREATE TABLE passages(row INTEGER PRIMARY KEY, text TEXT NOT NULL);"
                     "CREATE TABLE sentences(row INTEGER PRIMARY KEY, start INTEGER NOT NULL,"
                     " end INTEGER NOT NULL);")
    db.execute("ATTACH DATABASE ':memory:' AS plan")
    db.executescript(PLAN_SCHEMA)
    position = sentence = 0
    for row, passage in enumerate(passages):
        spans = corpus.sentences(passage.text) or [(0, len(passage.text))]
        db.execute("INSERT INTO passages VALUES (?, ?)", (row, passage.text))
        db.executemany("INSERT INTO sentences VALUES (?, ?, ?)",
                       [(sentence + i, a, b) for i, (a, b) in enumerate(spans)])
        single = len(spans) == 1
        new = [(position, ONE_SENTENCE_PASSAGE if single else PASSAGE, row,
                sentence if single else None)]
        new += [] if single else [(position + 1 + i, SENTENCE, row, sentence + i)
                                  for i in range(len(spans))]
        db.executemany("INSERT INTO plan.new VALUES (?, ?, ?, ?)", new)
        position, sentence = position + len(new), sentence + len(spans)
    return VectorPlan(db, passages=len(passages), sentences=sentence, new_count=position,
                      embedded_passages=len(passages))


def new_passages(plan: VectorPlan, block_texts: int = 4096) -> Iterator[NewPassage]:
    """The passages ``plan`` embeds, in ``new_texts`` order, read a block at a time: each one's
    texts are the passage and, after it when it has several, one text per sentence span."""
    for start, stop in plan.blocks(block_texts):
        block = plan.block(start, stop)
        for offset, spans in block.passages:
            yield start + offset, block.texts[offset], spans


def passages_plan(passages: Sequence[tuple[str, list[tuple[int, int]]]]) -> TextBlock:
    """A block of just these ``(text, spans)`` passages, laid out from position 0 as a plan
    lays out new passages (for ``embed_new`` on another process's share of a build)."""
    texts: list[str] = []
    laid_out: list[tuple[int, list[tuple[int, int]]]] = []
    for text, spans in passages:
        laid_out.append((len(texts), list(spans)))
        texts.append(text)
        texts.extend(text[start:end] for start, end in spans)
    return TextBlock(0, texts, laid_out)


def embed_new(embedder: Embedder, plan: VectorPlan | TextBlock,
              advance: Callable[[int], None]) -> np.ndarray:
    """Every vector of a block, or of ``plan.new_texts`` at once (small plans and tests;
    builds stream them with ``local_vector_chunks``)."""
    if isinstance(plan, TextBlock):
        return embed_block(embedder, plan, advance)
    out = np.empty((plan.new_count, embedder.dimension), dtype=np.float32)
    for start, rows in local_vector_chunks(embedder, plan, advance):
        out[start:start + len(rows)] = rows
    return out
