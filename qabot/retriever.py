"""Hybrid search: dense FAISS hits and lexical FTS5/BM25 hits, fused and deduplicated per paragraph.

Also offered as a LangChain ``BaseRetriever`` (built lazily so the CLI does not pay for importing
LangChain unless someone asks for it).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from .embedding import Embedder
from .index import Generation
from .schema import Hit

log = logging.getLogger(__name__)

# Function words that carry no topic; dropping them keeps BM25 from matching on "the" and "was".
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
whose why will with would you your yours yourself yourselves many much did does also say said
tell told according called known
""".split())

_TOKEN = re.compile(r"\w+", re.UNICODE)


def content_terms(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` without stopwords, in order, de-duplicated."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        if token not in STOPWORDS and token not in seen:
            seen[token] = None
    return list(seen)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression OR-ing the question's content terms (each quoted, so safe)."""
    terms = content_terms(text) or [t.lower() for t in _TOKEN.findall(text)]
    return " OR ".join(f'"{t}"' for t in terms)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    """Knobs of the hybrid search (from ``Settings``)."""

    candidates: int = 40
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = 60
    dense_weight: float = 0.5


class HybridRetriever:
    """Dense + lexical retrieval over one index generation."""

    def __init__(self, embedder: Embedder, config: RetrievalConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    def search(self, generation: Generation, query: str, k: int = 5,
               query_vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``, best first, one hit per paragraph."""
        if query_vector is None:
            query_vector = self.embedder.embed_query(query)
        depth = self.config.candidates
        dense = generation.dense_search(query_vector, depth)
        lexical = generation.lexical_search(fts_query(query), depth)
        rows = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]))
        if not rows:
            return []
        cosine = dict(zip(rows, generation.passage_vectors[rows] @ query_vector))
        lexical_rank = {row: rank for rank, (row, _) in enumerate(lexical, start=1)}
        fused = self._fuse(rows, dense, lexical, cosine)
        passages = generation.passages(rows)
        best_per_paragraph: dict[tuple[str, int], Hit] = {}
        for row in sorted(rows, key=lambda r: -fused[r]):
            passage = passages[row]
            key = (passage.source, passage.paragraph)
            if key not in best_per_paragraph:
                best_per_paragraph[key] = Hit(passage=passage, score=fused[row],
                                              dense_score=float(cosine[row]),
                                              lexical_rank=lexical_rank.get(row))
            if len(best_per_paragraph) >= k:
                break
        return list(best_per_paragraph.values())

    def _fuse(self, rows: list[int], dense: list[tuple[int, float]],
              lexical: list[tuple[int, float]], cosine: dict[int, float]) -> dict[int, float]:
        if self.config.fusion == "rrf":
            k = self.config.rrf_k
            fused = dict.fromkeys(rows, 0.0)
            for ranking in (dense, lexical):
                for rank, (row, _) in enumerate(ranking, start=1):
                    fused[row] += 1.0 / (k + rank)
            return fused
        # Weighted: cosine as is (already in [-1, 1]); BM25 scaled by the best BM25 of this query.
        top_bm25 = max((s for _, s in lexical), default=0.0) or 1.0
        bm25 = {row: score / top_bm25 for row, score in lexical}
        w = self.config.dense_weight
        return {row: w * float(cosine[row]) + (1 - w) * bm25.get(row, 0.0) for row in rows}


@lru_cache(maxsize=1)
def _langchain_retriever_class() -> type:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    class QabotLangChainRetriever(BaseRetriever):
        """qabot's hybrid search as a LangChain retriever; metadata carries the citation."""

        searcher: Any
        k: int = 4

        def _get_relevant_documents(self, query: str, *,
                                    run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
            hits = self.searcher(query, self.k)
            return [Document(page_content=hit.passage.text, metadata={
                "source": hit.passage.source, "paragraph": hit.passage.paragraph,
                "title": hit.passage.title, "section": hit.passage.section,
                "score": hit.score, "dense_score": hit.dense_score}) for hit in hits]

    return QabotLangChainRetriever


def as_langchain_retriever(searcher: Any, k: int = 4) -> Any:
    """Wrap ``searcher(query, k) -> list[Hit]`` as a LangChain ``BaseRetriever``."""
    return _langchain_retriever_class()(searcher=searcher, k=k)
