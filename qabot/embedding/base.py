"""What every embedder is (the ``Embedder`` protocol, with its declared capabilities) and the
vector arithmetic the encoders share: L2 normalisation and pooling token vectors over spans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..progress import ProgressCallback

#: A passage's sentences as character ``(start, end)`` spans into its text.
Spans = Sequence[tuple[int, int]]


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalized float32 row vectors."""

    model_id: str
    dimension: int
    max_tokens: int
    #: True when ``embed_with_spans`` pools sentence vectors from their passage's token vectors
    #: (one pass); False when it encodes sentences separately. Part of the index's chunking.
    pools_sentences: bool

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed many texts; ``progress`` is called with the number done after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question (a 1-D vector)."""
        ...

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span of it (its sentences)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would read for ``text``, special tokens included."""
        ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (an all-zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def no_vectors(dimension: int) -> np.ndarray:
    """An empty ``(0, dimension)`` float32 matrix: the vectors of no texts."""
    return np.zeros((0, dimension), dtype=np.float32)


def span_vectors(hidden: np.ndarray, offsets: Sequence[tuple[int, int]],
                 special: Sequence[int], spans: Spans, fallback: np.ndarray) -> np.ndarray:
    """Mean of the token vectors inside each character span ("late chunking"); a span with no
    token (cut off by truncation) gets ``fallback`` (the whole text's vector)."""
    starts = np.array([s for s, _ in offsets])
    ends = np.array([e for _, e in offsets])
    real = ~np.asarray(special, dtype=bool) & (ends > starts)
    out = np.empty((len(spans), hidden.shape[-1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        out[i] = hidden[inside].mean(axis=0) if inside.any() else fallback
    return normalize(out)
