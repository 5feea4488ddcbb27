"""The torch encoder: a local model through sentence-transformers on the CPU, for models the
ONNX encoder cannot reproduce (``encoder = "torch"``) and as the reference the ONNX vectors are
tested against. torch loads on first use, so commands that never embed never import it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from functools import cached_property

import numpy as np

from ..errors import EmbeddingError
from ..progress import ProgressCallback
from .base import Spans, no_vectors, normalize, span_vectors
from .models import DEFAULT_MODEL, LocalModelEncoder
from .runtime import usable_cores

log = logging.getLogger(__name__)


def _use_cores(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class SentenceTransformerEmbedder(LocalModelEncoder):
    """all-MiniLM-L6-v2 (or another local model) through sentence-transformers on the CPU.

    The model loads on first use, so commands that never embed never import torch. Hugging Face
    must already be offline (``qabot.config.prepare_environment``).
    """

    pools_sentences = True

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 8,
                 threads: int | None = None) -> None:
        super().__init__(model, batch_size)
        self.threads = threads or usable_cores()  # not os.cpu_count(): see runtime.py
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
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
            log.info("loading embedding model from %s", self.model_dir)
            return SentenceTransformer(str(self.model_dir), device="cpu")
        except Exception as exc:  # the library raises many types; all mean "cannot load"
            raise EmbeddingError(f"cannot load the embedding model at {self.model_dir}: {exc}") from exc

    @property
    def _chunk(self) -> int:
        """Texts per ``encode`` call: several batches, so a progress callback can follow along."""
        return max(self.batch_size * 8, 256)

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed in chunks so a progress callback can follow along."""
        if not texts:
            return no_vectors(self.dimension)
        _use_cores(self.threads)
        parts: list[np.ndarray] = []
        with self._lock:
            for start in range(0, len(texts), self._chunk):
                batch = list(texts[start:start + self._chunk])
                parts.append(self._model.encode(batch, batch_size=self.batch_size,
                                                normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False))
                if progress is not None:
                    progress(len(batch))
        return normalize(np.vstack(parts))

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span, pooled from the same pass
        (the same "late chunking" as ``OnnxEmbedder.embed_with_spans``)."""
        if not texts:
            return no_vectors(self.dimension), []
        _use_cores(self.threads)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        spans_out: list[np.ndarray] = []
        with self._lock:
            for start in range(0, len(texts), self._chunk):
                batch = list(texts[start:start + self._chunk])
                tokens = self._model.encode(batch, batch_size=self.batch_size,
                                            output_value="token_embeddings",
                                            show_progress_bar=False)
                for offset, (text, hidden) in enumerate(zip(batch, tokens)):
                    hidden = np.asarray(hidden.float().numpy(), dtype=np.float32)
                    vectors[start + offset] = normalize(hidden.mean(axis=0, keepdims=True))[0]
                    spans_out.append(self._pool_spans(text, hidden, spans[start + offset],
                                                      vectors[start + offset]))
                if progress is not None:
                    progress(len(batch))
        return vectors, spans_out

    def _pool_spans(self, text: str, hidden: np.ndarray, spans: Spans,
                    pooled: np.ndarray) -> np.ndarray:
        """The spans' vectors from one text's token vectors (``hidden``, already truncated)."""
        if not spans:
            return no_vectors(self.dimension)
        encoding = self._count.tokenizer.encode(text)
        n = len(hidden)  # truncated to max_tokens, [SEP] last
        offsets = encoding.offsets[:n - 1] + [(0, 0)]
        special = encoding.special_tokens_mask[:n - 1] + [1]
        return span_vectors(hidden, offsets, special, spans, pooled)

    def embed_query(self, text: str) -> np.ndarray:
        """One thread: a single short query does not gain from two, and degrades badly under load."""
        import torch

        with self._lock:
            torch.set_num_threads(1)
            vector = self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
        return normalize(vector)[0]
