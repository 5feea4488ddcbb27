"""``load_embedder``: the encoder the settings ask for, built from parameters only (the caller
reads the settings; this layer never reads the environment)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import EmbeddingError
from .base import Embedder
from .fake import FakeEmbedder
from .models import DEFAULT_MODEL, resolve_model_dir
from .onnx import OnnxEmbedder, onnx_compatible
from .sbert import SentenceTransformerEmbedder

#: The encoder runtimes; qabot.config's ``encoder`` setting offers the same choices.
Encoder = Literal["auto", "onnx", "torch", "fake"]


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 8, encoder: Encoder = "auto",
                  cache_dir: Path | None = None, threads: int | None = None) -> Embedder:
    """The configured embedder (heavy parts load on first use).

    ``encoder``: "onnx" runs ONNX Runtime (exported once from the local model with torch and
    cached under ``cache_dir``, default the user cache directory; see ``qabot prepare``);
    "torch" runs sentence-transformers; "auto" picks ONNX when the model is a plain mean-pooled
    transformer (the default model is), else torch; "fake" is ``FakeEmbedder`` (hashed
    bag-of-words vectors for tests, no model; ``model`` is ignored). ``threads``: cores used
    to embed many texts at once, default the usable cores (``runtime.usable_cores``).
    """
    if encoder == "fake":
        return FakeEmbedder()
    if encoder == "torch":
        return SentenceTransformerEmbedder(model, batch_size=batch_size, threads=threads)
    model_dir = resolve_model_dir(model)
    if onnx_compatible(model_dir):
        return OnnxEmbedder(model, batch_size=batch_size, cache_dir=cache_dir,
                            threads=threads)
    if encoder == "onnx":
        raise EmbeddingError(f"model {model!r} cannot run on the ONNX encoder (it needs plain "
                             "mean pooling)", hint='set encoder = "torch"')
    return SentenceTransformerEmbedder(model, batch_size=batch_size, threads=threads)
