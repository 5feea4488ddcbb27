"""The encoder a Ray Data actor runs: qabot's own embedder, loaded once per actor, turning a
batch of passages (with their sentence spans) into their rows of ``plan.new_texts`` vectors.

Nothing here imports Ray: the pipeline (``ray_source``) hands this class to ``map_batches``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import numpy as np

from ..config import prepare_environment
from ..embedding import load_embedder
from ..errors import EmbeddingError
from ..index.plan import NewPassage, embed_new, passages_plan
from .pool import EncoderSpec

log = logging.getLogger(__name__)


def passage_rows(passages: Iterable[NewPassage]) -> dict[str, list[object]]:
    """Columns of a block of passages as the actors read them: position, text, spans (JSON)."""
    columns: dict[str, list[object]] = {"position": [], "text": [], "spans": []}
    for position, text, spans in passages:
        columns["position"].append(position)
        columns["text"].append(text)
        columns["spans"].append(json.dumps(spans))
    return columns


class EncoderActor:
    """One actor of the pool: the embedder of ``spec`` on ``threads`` ONNX Runtime threads."""

    def __init__(self, spec: EncoderSpec, threads: int) -> None:
        prepare_environment()
        self.embedder = load_embedder(spec.model, batch_size=spec.batch_size,
                                      encoder=spec.encoder,  # type: ignore[arg-type]
                                      cache_dir=spec.cache_dir, threads=threads)
        if (self.embedder.model_id, self.embedder.pools_sentences) != (spec.model_id,
                                                                       spec.pools_sentences):
            raise EmbeddingError(f"this node's encoder is {self.embedder.model_id}, the build's "
                                 f"is {spec.model_id}",
                                 hint="install the same qabot and model on every node")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Vectors of the batch's passages and sentences, each row with its position in
        ``plan.new_texts`` (a passage's sentences follow it)."""
        passages = [(str(text), [(int(s), int(e)) for s, e in json.loads(str(spans))])
                    for text, spans in zip(batch["text"], batch["spans"])]
        vectors = embed_new(self.embedder, passages_plan(passages), lambda n: None)
        positions = np.concatenate([np.arange(int(p), int(p) + 1 + len(spans))
                                    for p, (_, spans) in zip(batch["position"], passages)])
        return {"position": positions.astype(np.int64), "vector": vectors}
