"""The default encoder: the local model's transformer exported once to ONNX (with torch, cached
under the cache folder) and run by ONNX Runtime with mean pooling, so answering never imports
torch and gives the same vectors as sentence-transformers."""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmbeddingError
from ..progress import ProgressCallback, ScaledProgress
from .base import Spans, no_vectors, normalize, span_vectors
from .models import DEFAULT_MODEL, LocalModelEncoder, model_fingerprint
from .runtime import RuntimeSettings, make_session, parallel_map, usable_cores

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

log = logging.getLogger(__name__)

#: Bump when the export recipe changes, so caches made by an older recipe are not reused.
ONNX_EXPORT_VERSION = 1
_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    """The user cache directory for qabot (e.g. ~/.cache/qabot), used when no folder is given."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qabot"))


def onnx_model_path(model_dir: Path, cache_dir: Path | None = None) -> Path:
    """The cached ONNX export of ``model_dir`` under ``cache_dir`` (it may not exist yet)."""
    fingerprint = model_fingerprint(model_dir, recipe=f"export-v{ONNX_EXPORT_VERSION}")
    return (cache_dir or default_cache_dir()) / "onnx" / fingerprint / "model.onnx"


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
    is written under a temporary name and renamed, so concurrent exports are safe. Hugging Face
    must already be offline (``qabot.config.prepare_environment``).
    """
    target = target or onnx_model_path(model_dir)
    if target.is_file():
        return target
    log.info("exporting %s to ONNX at %s (once)", model_dir, target)
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


class OnnxEmbedder(LocalModelEncoder):
    """all-MiniLM-L6-v2 through ONNX Runtime: the same vectors as sentence-transformers (mean
    pooling of the exported transformer's output, L2-normalized) without importing torch.

    Queries run on one thread (a short query gains nothing from two and degrades badly when
    another process holds the cores). Batches run side by side, ``threads`` at a time (default:
    the usable cores, see ``runtime``), each single-threaded on one shared session. Sessions
    load on first use. The export is cached under ``cache_dir`` (default: the user cache
    directory).
    """

    pools_sentences = True

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 8,
                 export: bool = True, cache_dir: Path | None = None,
                 threads: int | None = None) -> None:
        super().__init__(model, batch_size)
        self.export = export
        self.cache_dir = cache_dir or default_cache_dir()
        cores = usable_cores()
        self.runtime = RuntimeSettings(workers=threads or cores, batch_size=batch_size,
                                       usable_cores=cores, machine_cpus=os.cpu_count() or 1)
        pooling = self.model_dir / "1_Pooling" / "config.json"
        self.dimension = int(json.loads(pooling.read_text("utf-8"))["word_embedding_dimension"])

    @cached_property
    def onnx_path(self) -> Path:
        """The exported model, exporting it first when allowed and missing."""
        path = onnx_model_path(self.model_dir, self.cache_dir)
        if path.is_file():
            return path
        if not self.export:
            raise EmbeddingError(f"no ONNX export of {self.model_dir} in {path.parent}",
                                 hint="run `qabot prepare`")
        return export_onnx(self.model_dir, path)

    @cached_property
    def _query_session(self):  # type: ignore[no-untyped-def]
        return make_session(self.onnx_path, self.runtime)

    @property
    def _batch_session(self):  # type: ignore[no-untyped-def]
        # One single-threaded session serves both: batches run concurrently on it.
        return self._query_session

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        """The model's tokenizer, truncating to the token window; padding is done in ``_run``."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()
        return tokenizer

    def _run(self, session: Any, encodings: Sequence[Encoding]) -> tuple[np.ndarray, np.ndarray]:
        """The transformer's token vectors for ``encodings`` padded to the longest (pad id 0,
        as ``Tokenizer.enable_padding()`` pads; masked out), and the attention mask."""
        ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = encoding.attention_mask
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        return hidden, mask

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Positions grouped into batches of similar token counts. Sorting by tokens, not
        characters, matters: by characters a batch of 8 SQuAD passages was 15 % padding (the
        ratio of characters to word pieces varies by text), by tokens 0.5 %."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
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

    def embed_with_spans(self, texts: Sequence[str], spans: Sequence[Spans],
                         progress: ProgressCallback | None = None
                         ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector plus one vector per character span of it (e.g. its sentences),
        pooled from the same forward pass: the spans cost no extra encoding."""
        vectors, spans_out = self._embed(texts, spans, progress)
        assert spans_out is not None
        return vectors, spans_out

    def _embed(self, texts: Sequence[str], spans: Sequence[Spans] | None,
               progress: ProgressCallback | None) -> tuple[np.ndarray, list[np.ndarray] | None]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        spans_out: list[np.ndarray] | None = (None if spans is None
                                              else [no_vectors(self.dimension)] * len(texts))
        if not texts:
            return out, spans_out
        session = self._batch_session
        encodings = self._tokenizer.encode_batch(list(texts))

        def encode(batch: list[int]) -> tuple[list[int], np.ndarray, list[np.ndarray] | None]:
            hidden, mask = self._run(session, [encodings[i] for i in batch])
            pooled = normalize(_mean_pool(hidden, mask))
            if spans is None:
                return batch, pooled, None
            return batch, pooled, [
                span_vectors(hidden[j, :len(encodings[i].ids)], encodings[i].offsets,
                             encodings[i].special_tokens_mask, spans[i], pooled[j])
                if spans[i] else no_vectors(self.dimension) for j, i in enumerate(batch)]

        batches = self._batches([len(e.ids) for e in encodings])
        for batch, pooled, pooled_spans in parallel_map(encode, batches, self.runtime.workers):
            out[batch] = pooled
            if spans_out is not None and pooled_spans is not None:
                for i, vectors in zip(batch, pooled_spans):
                    spans_out[i] = vectors
            if progress is not None:
                progress(len(batch))
        return out, spans_out

    def embed_query(self, text: str) -> np.ndarray:
        """One text on one thread, no padding."""
        encoding = self._tokenizer.encode(text)
        hidden, mask = self._run(self._query_session, [encoding])
        return normalize(_mean_pool(hidden, mask))[0]

    def prepare(self) -> Path:
        """Export (if needed) and load the query session now instead of on first use."""
        path = self.onnx_path
        self._query_session  # noqa: B018 - loads and checks the file
        return path
