"""The parse stage a Ray Data task runs: seed files' bytes → each file's ``ParsedFile``
(articles, passages, sentence spans), pickled, by ``index.parsed.parse_file``, the function the
local engine runs, with the build's own token budget.

Nothing here imports Ray: the driver hands ``parse_batch`` to ``map_batches``.
"""

from __future__ import annotations

import functools
import pickle
from typing import TYPE_CHECKING

from ..config import prepare_environment
from ..embedding import load_embedder
from ..errors import EmbeddingError
from ..index.parsed import TokenBudget, parse_file
from .pool import EncoderSpec

if TYPE_CHECKING:
    import pyarrow as pa


@functools.lru_cache(maxsize=2)
def token_budget(spec: EncoderSpec) -> TokenBudget:
    """The encoder's token counter and window, loaded once per worker process (only the
    tokenizer: the model itself loads on first encode, which a parser never asks for)."""
    prepare_environment()
    embedder = load_embedder(spec.model, batch_size=spec.batch_size,
                             encoder=spec.encoder,  # type: ignore[arg-type]
                             cache_dir=spec.cache_dir, threads=1)
    if embedder.model_id != spec.model_id:
        raise EmbeddingError(f"this node's encoder is {embedder.model_id}, the build's "
                             f"is {spec.model_id}",
                             hint="install the same qabot and model on every node")
    return embedder.count_tokens, embedder.max_tokens


def parse_batch(batch: pa.Table, spec: EncoderSpec) -> pa.Table:
    """Parse a batch of files (columns ``position``, ``name``, ``data``): the same positions,
    each with its pickled ``ParsedFile`` (``parsed``)."""
    import pyarrow as pa

    budget = token_budget(spec)
    parsed = [pickle.dumps(parse_file(name, data, budget), protocol=pickle.HIGHEST_PROTOCOL)
              for name, data in zip(batch.column("name").to_pylist(),
                                    batch.column("data").to_pylist())]
    return pa.table({"position": batch.column("position"),
                     "parsed": pa.array(parsed, type=pa.large_binary())})


def file_rows(files: list[tuple[int, str, bytes]]) -> pa.Table:
    """A block of files to parse: their positions in the window, names and bytes."""
    import pyarrow as pa

    return pa.table({"position": pa.array([p for p, _, _ in files], type=pa.int64()),
                     "name": pa.array([n for _, n, _ in files], type=pa.string()),
                     "data": pa.array([d for _, _, d in files], type=pa.large_binary())})
