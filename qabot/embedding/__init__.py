"""Text → normalized float32 vectors.

``base`` declares the ``Embedder`` protocol (with its capability ``pools_sentences``); ``onnx``
is the default encoder (ONNX Runtime, no torch import, exported once from the local model);
``sbert`` the sentence-transformers one; ``fake`` a deterministic stand-in for tests; ``models``
finds local models; ``factory.load_embedder`` picks one from its parameters. Nothing here reads
settings or the environment: the caller passes the model, encoder and cache folder.
"""

from .base import Embedder, Spans, normalize, span_vectors
from .factory import Encoder, load_embedder
from .fake import FAKE_MODEL_ID, FakeEmbedder
from .models import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_ID,
    model_fingerprint,
    model_id_for,
    resolve_model_dir,
)
from .onnx import (
    ONNX_EXPORT_VERSION,
    OnnxEmbedder,
    default_cache_dir,
    export_onnx,
    onnx_compatible,
    onnx_model_path,
)
from .sbert import SentenceTransformerEmbedder

__all__ = [
    "DEFAULT_MODEL", "DEFAULT_MODEL_ID", "FAKE_MODEL_ID", "ONNX_EXPORT_VERSION", "Embedder",
    "Encoder", "FakeEmbedder", "OnnxEmbedder", "SentenceTransformerEmbedder", "Spans",
    "default_cache_dir", "export_onnx", "load_embedder", "model_fingerprint",
    "model_id_for", "normalize", "onnx_compatible", "onnx_model_path", "resolve_model_dir",
    "span_vectors",
]
