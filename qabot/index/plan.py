"""Planning a build's vectors: which passages reuse an earlier generation's vectors (by content
hash) and which are embedded, and embedding the new ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from .. import corpus
from ..progress import ScaledProgress
from ..schema import Passage

if TYPE_CHECKING:
    from ..embedding import Embedder
    from .reuse import Previous

#: A build's new vectors as blocks: (position in ``plan.new_texts`` of the block's first row, its
#: float32 rows). Blocks may come in any order, never split a passage from the sentence texts
#: that follow it, and cover every position of ``plan.new_texts`` exactly once.
VectorChunks: TypeAlias = Iterator[tuple[int, np.ndarray]]
#: How a build computes its new vectors: given the plan and a progress ``advance(n)`` callback,
#: yields its ``VectorChunks`` (the local engine, or a cluster's).
VectorSource: TypeAlias = Callable[["VectorPlan", Callable[[int], None]], VectorChunks]
#: A newly embedded passage: its position in ``new_texts``, its text, and its sentence spans
#: when its sentences are embedded as well (more than one sentence), else ``[]``.
NewPassage: TypeAlias = tuple[int, str, list[tuple[int, int]]]


@dataclass
class VectorPlan:
    """Where each passage's and sentence's vector comes from: reused or newly embedded."""

    sentence_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    passage_source: list[tuple[str, int]] = field(default_factory=list)  # ("old"|"new", index)
    sentence_source: list[tuple[str, int]] = field(default_factory=list)
    new_texts: list[str] = field(default_factory=list)
    embedded_passages: int = 0

    def assemble(self, new_vectors: np.ndarray, previous: Previous | None,
                 dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Gather reused and new vectors into the row order of the new generation."""
        def gather(sources: list[tuple[str, int]], old: np.ndarray | None) -> np.ndarray:
            out = np.empty((len(sources), dimension), dtype=np.float32)
            for kind, wanted in (("new", new_vectors), ("old", old)):
                positions = [i for i, (k, _) in enumerate(sources) if k == kind]
                if positions and wanted is not None:
                    out[positions] = wanted[[sources[i][1] for i in positions]]
            return out

        return (gather(self.passage_source, previous.passage_vectors if previous else None),
                gather(self.sentence_source, previous.sentence_vectors if previous else None))


def embed_new(embedder: Embedder, plan: VectorPlan, advance: Callable[[int], None]) -> np.ndarray:
    """Vectors for ``plan.new_texts``. An embedder that ``pools_sentences`` encodes only the
    passages and pools each sentence from its passage's token vectors in the same pass ("late
    chunking"), instead of encoding every sentence of a multi-sentence passage a second time."""
    texts = plan.new_texts
    if not texts or not embedder.pools_sentences:
        return embedder.embed_documents(texts, progress=advance) if texts \
            else np.zeros((0, embedder.dimension), dtype=np.float32)
    # plan_vectors puts a multi-sentence passage's sentence texts right after the passage.
    spans_of = {position: spans for (kind, position), spans
                in zip(plan.passage_source, plan.sentence_spans) if kind == "new"}
    positions = sorted(spans_of)
    scaled = ScaledProgress(advance, asked=len(texts), encoded=len(positions))  # sentences too
    passage_vectors, sentence_vectors = embedder.embed_with_spans(
        [texts[p] for p in positions],
        [spans_of[p] if len(spans_of[p]) > 1 else [] for p in positions], progress=scaled)
    scaled.finish()
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for p, vector, sentences in zip(positions, passage_vectors, sentence_vectors):
        out[p] = vector
        out[p + 1:p + 1 + len(sentences)] = sentences
    return out


def new_passages(plan: VectorPlan) -> Iterator[NewPassage]:
    """The passages ``plan`` embeds, in ``new_texts`` order; each one's texts are the passage
    and, after it, one text per span (``plan_vectors``'s layout)."""
    for (kind, position), spans in zip(plan.passage_source, plan.sentence_spans):
        if kind == "new":
            yield position, plan.new_texts[position], spans if len(spans) > 1 else []


def passages_plan(passages: Sequence[tuple[str, list[tuple[int, int]]]]) -> VectorPlan:
    """A plan that embeds just these ``(text, spans)`` passages, laid out from position 0 as
    ``plan_vectors`` lays out new passages (so ``embed_new`` works on a block of them)."""
    plan = VectorPlan()
    for text, spans in passages:
        plan.passage_source.append(("new", len(plan.new_texts)))
        plan.sentence_spans.append(list(spans) or [(0, len(text))])
        plan.new_texts.append(text)
        plan.new_texts.extend(text[start:end] for start, end in spans)
        plan.embedded_passages += 1
    return plan


def local_vector_chunks(embedder: Embedder, plan: VectorPlan, advance: Callable[[int], None],
                        block_texts: int = 4096) -> VectorChunks:
    """The local engine: ``plan.new_texts`` embedded here, in blocks of about ``block_texts``
    texts cut between passages."""
    block: list[tuple[str, list[tuple[int, int]]]] = []
    start = size = 0
    for position, text, spans in new_passages(plan):
        if block and size + 1 + len(spans) > block_texts:
            yield start, embed_new(embedder, passages_plan(block), advance)
            block, size = [], 0
        if not block:
            start = position
        block.append((text, spans))
        size += 1 + len(spans)
    if block:
        yield start, embed_new(embedder, passages_plan(block), advance)


def plan_vectors(passages: Sequence[Passage], previous: Previous | None) -> VectorPlan:
    plan = VectorPlan()
    for passage in passages:
        reused = previous.rows_by_hash.get(passage.content_hash) if previous else None
        if reused is not None and previous is not None:
            row, sentence_start, sentence_count = reused
            plan.passage_source.append(("old", row))
            plan.sentence_spans.append(previous.sentence_spans.get(row, []))
            plan.sentence_source.extend(("old", sentence_start + i) for i in range(sentence_count))
            continue
        spans = corpus.sentences(passage.text) or [(0, len(passage.text))]
        passage_position = len(plan.new_texts)
        plan.passage_source.append(("new", passage_position))
        plan.new_texts.append(passage.text)
        plan.sentence_spans.append(spans)
        if len(spans) == 1:  # a one-sentence passage: its sentence vector is the passage vector
            plan.sentence_source.append(("new", passage_position))
            plan.embedded_passages += 1
            continue
        for start, end in spans:
            plan.sentence_source.append(("new", len(plan.new_texts)))
            plan.new_texts.append(passage.text[start:end])
        plan.embedded_passages += 1
    return plan
