"""Hybrid search: dense FAISS hits and lexical FTS5/BM25 hits, fused and deduplicated per paragraph.

Candidates are the union of the dense top-N (FAISS, passage vectors) and the lexical top-N (SQLite
FTS5, BM25 with the porter stemmer). Each candidate gets three signals: the passage cosine, the
best cosine over the passage's sentences (vectors precomputed at index time; a question usually
paraphrases one sentence, which a whole-paragraph vector blurs) and its BM25 score relative to the
query's best. ``weighted`` fusion adds them with fixed weights; ``rrf`` fuses the three rankings by
reciprocal rank. Both were measured with ``qabot eval`` (see README "How answers are chosen"); weighted is the
default.

LangChain apps get it as ``qabot.langchain.QabotRetriever``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import NoArticlesMatchError
from .schema import ArticleFilter, Hit
from .text import WORD, content_terms

if TYPE_CHECKING:
    from .embedding import Embedder
    from .index import Generation

log = logging.getLogger(__name__)


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression OR-ing the question's content terms (each quoted, so safe)."""
    terms = content_terms(text) or [t.lower() for t in WORD.findall(text)]
    return " OR ".join(f'"{t}"' for t in terms)


@dataclass(frozen=True, slots=True)
class RetrievalConfig:
    """Knobs of the hybrid search (from ``Settings``)."""

    candidates: int = 40
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = 60
    dense_weight: float = 0.7
    sentence_weight: float = 0.7


@dataclass(frozen=True, slots=True)
class Candidates:
    """The candidate passages of one query and the evidence for each (aligned arrays)."""

    rows: list[int]
    cosine: np.ndarray  # passage cosine
    sentence_cosine: np.ndarray  # best sentence cosine within the passage
    bm25: np.ndarray  # BM25 (0 when the lexical search did not return the row)
    lexical_rank: dict[int, int]  # row → 1-based rank in the lexical results
    sentences: dict[int, list[tuple[int, int, int]]]


class HybridRetriever:
    """Dense + lexical retrieval over one index generation."""

    def __init__(self, embedder: Embedder, config: RetrievalConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or RetrievalConfig()

    def candidates(self, generation: Generation, query: str, query_vector: np.ndarray,
                   article_filter: ArticleFilter | None = None) -> Candidates:
        """Dense and lexical candidates of ``query`` with passage, sentence and BM25 scores
        (only from the articles ``article_filter`` lets through, when given)."""
        depth = self.config.candidates
        dense = generation.dense_search(query_vector, depth, article_filter)
        lexical = generation.lexical_search(fts_query(query), depth, article_filter)
        rows = list(dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical]))
        cosine = (np.asarray(generation.passage_vectors[rows] @ query_vector, dtype=np.float32)
                  if rows else np.zeros(0, dtype=np.float32))
        spans = generation.sentences(rows)
        sentence_cosine = cosine.copy()
        if rows:
            sentence_rows = [s for row in rows for s, _, _ in spans.get(row, [])]
            if sentence_rows:
                sims = generation.sentence_vectors[sentence_rows] @ query_vector
                at = 0
                for i, row in enumerate(rows):
                    n = len(spans.get(row, []))
                    if n:
                        sentence_cosine[i] = max(float(sims[at:at + n].max()), float(cosine[i]))
                    at += n
        bm25_by_row = dict(lexical)
        bm25 = np.asarray([bm25_by_row.get(r, 0.0) for r in rows], dtype=np.float32)
        return Candidates(rows=rows, cosine=cosine, sentence_cosine=sentence_cosine, bm25=bm25,
                          lexical_rank={r: i for i, (r, _) in enumerate(lexical, start=1)},
                          sentences=spans)

    def fuse(self, found: Candidates) -> np.ndarray:
        """One fused score per candidate (higher is better)."""
        if not found.rows:
            return np.zeros(0, dtype=np.float32)
        w = self.config.dense_weight
        s = self.config.sentence_weight
        if self.config.fusion == "rrf":
            k = self.config.rrf_k
            fused = np.zeros(len(found.rows), dtype=np.float64)
            rankings = [((1 - w), found.bm25), (w * (1 - s), found.cosine),
                        (w * s, found.sentence_cosine)]
            for weight, values in rankings:
                if weight <= 0:
                    continue
                order = np.argsort(-values, kind="stable")
                ranks = np.empty(len(order), dtype=np.float64)
                ranks[order] = np.arange(1, len(order) + 1)
                ranks[values <= 0] = math.inf  # not retrieved by this signal
                fused += 2 * weight / (k + ranks)
            return fused
        top_bm25 = float(found.bm25.max()) or 1.0
        dense = (1 - s) * found.cosine + s * found.sentence_cosine
        return w * dense + (1 - w) * (found.bm25 / top_bm25)

    def search(self, generation: Generation, query: str, k: int = 5,
               query_vector: np.ndarray | None = None,
               article_filter: ArticleFilter | None = None) -> list[Hit]:
        """The ``k`` best paragraphs for ``query``, best first, one hit per paragraph, only from
        the articles ``article_filter`` lets through (``NoArticlesMatchError`` when none)."""
        if article_filter and not generation.rows_matching(article_filter).size:
            raise NoArticlesMatchError(f"no article matches {article_filter.describe()}",
                                       hint="widen or clear the filter")
        if query_vector is None:
            query_vector = self.embedder.embed_query(query)
        found = self.candidates(generation, query, query_vector, article_filter)
        if not found.rows:
            return []
        fused = self.fuse(found)
        passages = generation.passages(found.rows)
        best_per_paragraph: dict[tuple[str, int], Hit] = {}
        for i in np.argsort(-fused, kind="stable"):
            row = found.rows[int(i)]
            passage = passages[row]
            key = (passage.source, passage.paragraph)
            if key not in best_per_paragraph:
                best_per_paragraph[key] = Hit(passage=passage, score=float(fused[i]),
                                              dense_score=float(found.cosine[i]),
                                              lexical_rank=found.lexical_rank.get(row))
            if len(best_per_paragraph) >= k:
                break
        return list(best_per_paragraph.values())

