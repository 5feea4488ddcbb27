"""The FAISS index over a generation's passage vectors: which kind by size, and searching it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Exact search up to this many vectors. Measured on this 2-core Zen 3: one exact query costs
#: about 0.1 µs per vector (3 ms at 32k, 10 ms at 100k, 57-124 ms at 1M), while IVF + SQ8 answers
#: in under 1.5 ms at 1M with recall@10 ≥ 0.97 (see bench/README.md).
EXACT_SEARCH_MAX = 32_768


#: Vectors added to FAISS per batch when building from a file.
ADD_BATCH = 65_536


def make_faiss_index(vectors: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """A FAISS inner-product index over ``vectors`` chosen by size, and its manifest entry
    (see ``build_faiss_index``)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return build_faiss_index(len(vectors), vectors.shape[1], lambda rows: vectors[rows],
                             lambda start, stop: vectors[start:stop])


def build_faiss_index(count: int, dimension: int, take: Callable[[np.ndarray], np.ndarray],
                      take_range: Callable[[int, int], np.ndarray]) -> tuple[Any, dict[str, Any]]:
    """A FAISS inner-product index over ``count`` vectors read through ``take`` (given rows)
    and ``take_range`` (a batch of consecutive rows), chosen by size, and its manifest entry.

    Up to ``EXACT_SEARCH_MAX`` vectors: exact ``IndexFlatIP``. Above: an inverted file with 8-bit
    scalar quantisation (``IndexIVFScalarQuantizer``), ~2·√n lists, a quarter of the memory of
    exact search, trained on a sample of 40 vectors per list; ``nprobe`` lists are visited per
    query (set again by ``set_search_params``). Vectors are added ``ADD_BATCH`` at a time, so
    only the index itself grows with ``count``.
    """
    import faiss

    if count <= EXACT_SEARCH_MAX:
        index = faiss.IndexFlatIP(dimension)
        params: dict[str, Any] = {"type": "IndexFlatIP"}
    else:
        nlist = 1 << max(4, int(round(np.log2(2 * np.sqrt(count)))))
        nprobe = min(nlist, max(32, nlist // 32))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, nlist,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(count, min(count, 40 * nlist), replace=False)
        index.train(np.ascontiguousarray(take(np.sort(sample)), dtype=np.float32))
        index.nprobe = nprobe
        params = {"type": "IndexIVFScalarQuantizer", "quantizer": "QT_8bit", "nlist": nlist,
                  "nprobe": nprobe}
    for start in range(0, count, ADD_BATCH):
        index.add(np.ascontiguousarray(take_range(start, min(count, start + ADD_BATCH)),
                                       dtype=np.float32))
    return index, params


def is_exact(params: Any) -> bool:
    """True when a manifest's ``faiss_index`` entry is exact search, whose file gives the
    vectors back unchanged (a quantised one cannot)."""
    return isinstance(params, dict) and params.get("type") == "IndexFlatIP"


def set_search_params(index: Any, params: Any) -> None:
    """Apply the search-time parameters a manifest recorded (``nprobe``)."""
    if not isinstance(params, dict):
        return
    import faiss

    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])


def search(index: Any, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Top ``k`` rows of ``index`` by inner product with ``query_vector``, best first."""
    k = min(k, index.ntotal)
    if k <= 0:
        return []
    scores, rows = index.search(
        np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1), k)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
