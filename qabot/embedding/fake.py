"""A deterministic stand-in for a real encoder, for tests (``encoder = "fake"``): hashed
bag-of-words vectors, so texts sharing words get similar vectors; no model, fast, stable
across runs and machines."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ..progress import ProgressCallback
from ..text import WORD
from .base import Spans, no_vectors, normalize

FAKE_MODEL_ID = "fake-hashing-embedder"


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors: texts sharing words get similar vectors.

    For tests only: fast, no model, stable across runs and machines.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 256,
                 model_id: str = FAKE_MODEL_ID, pools_sentences: bool = False) -> None:
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.model_id = model_id
        #: Declared like the real encoders' (which pool); the fake's span vectors are the same
        #: either way, but the index records the choice, so changing it must re-embed.
        self.pools_sentences = pools_sentences
        self.calls = 0
        self.texts_embedded = 0
        #: The passages given to ``embed_with_spans``, so tests can see each was encoded once.
        self.span_texts: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        words = [w.lower() for w in WORD.findall(text)]
        for word in words:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        if not words:
            vector[0] = 1.0
        return vector

    def count_tokens(self, text: str) -> int:
        """One token per word plus the two special tokens."""
        return len(WORD.findall(text)) + 2

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Hash each text; counts calls so tests can assert what was (not) re-embedded."""
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return no_vectors(self.dimension)
        vectors = normalize(np.stack([self._vector(t) for t in texts]))
        if progress is not None:
            progress(len(texts))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Same hashing as documents."""
        return normalize(self._vector(text)[None, :])[0]

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus its spans' vectors, hashed like any other text."""
        self.span_texts.extend(texts)
        span_vectors = [self.embed_documents([t[a:b] for a, b in sp]) for t, sp in zip(texts, spans)]
        return self.embed_documents(texts, progress=progress), span_vectors
