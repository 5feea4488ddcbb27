"""The trained reader in the answer path: the best span over the top passages.

The reader reads the question with the top ``reader_passages`` passages in one batched call.
Each passage's best span is scored by the reader's margin over "no answer" plus, weighted, its
passage's retrieval score relative to the best one and the sentence score (``sentences.py``) of
the sentence holding it. The typed patterns are the sanity check: a how-many span keeps one
number, and a how-many or who span holding no number or name is replaced by the patterns' pick
in that sentence. Each passage's span also comes back as an ``Option`` with its own
confidence, for newest-first answers over dated articles (``news.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .news import Option, sentence_coverage
from .refusal import confidence_from, pattern_features, reader_confidence, reader_features
from .sentences import Candidate, best_of, score_sentences, sentence_holding
from .spans import Kind, extract_span, holds_kind, one_number
from .terms import QuestionTerms

if TYPE_CHECKING:
    import numpy as np

    from ..index import Generation
    from ..reader.model import OnnxReader, Span
    from ..schema import Hit
    from .answer_config import AnswerConfig


def read_best_span(reader: OnnxReader, config: AnswerConfig, generation: Generation,
                   question: str, hits: list[Hit], query_vector: np.ndarray,
                   terms: QuestionTerms, kind: Kind
                   ) -> tuple[Candidate | None, str | None, dict[str, float], list[Option]]:
    """The reader's best span over the top passages, the sentence holding it, the refusal
    model's inputs (with ``pattern_confidence``, the pattern path's confidence) and, when the
    passages read are dated, every passage's span as an ``Option``."""
    considered = hits[: config.reader_passages]
    spans = reader.read(question, [h.passage.text for h in considered])
    sentences = score_sentences(generation, considered, query_vector, terms, kind)
    top_score = considered[0].score or 1.0
    scored: list[tuple[float, Span, Candidate]] = []
    for hit, span in zip(considered, spans):
        if span is None:
            continue
        holding = sentence_holding(hit, sentences.get(hit.passage.row, []), span)
        relative = hit.score / top_score if top_score > 0 else 0.0
        scored.append((span.margin + config.reader_retrieval_weight * relative
                       + config.reader_sentence_weight * holding.score, span, holding))
    if not scored:
        return None, None, {**reader_features(None, hits, terms), "pattern_confidence": 0.0}, []
    _, span, best = max(scored, key=lambda item: item[0])
    best_cosine = max((c.cosine for cs in sentences.values() for c in cs), default=0.0)
    pattern = confidence_from(pattern_features(hits, best_of(sentences), terms))
    text = _typed_text(best, span, question, kind)
    options: list[Option] = []
    if any(h.passage.date for h in considered):
        for score, other, holding in scored:
            features = {**reader_features(other, hits, terms, holding, best_cosine),
                        "pattern_confidence": pattern}
            confidence, threshold = reader_confidence(features, config.reader_threshold,
                                                      config.abstain_threshold)
            options.append(Option(holding, _typed_text(holding, other, question, kind) or None,
                                  score, confidence, threshold, sentence_coverage(holding, terms)))
    return best, text or None, {**reader_features(span, hits, terms, best, best_cosine),
                                "pattern_confidence": pattern}, options


def _typed_text(best: Candidate, span: Span, question: str, kind: Kind) -> str:
    """The span's text, checked against the kind of thing asked for: one number for a how-many
    question; the patterns' pick in the same sentence when a number or person answer holds no
    number or name (and the patterns have one)."""
    text = " ".join(span.text.split()).strip(" ,;:")
    if kind is Kind.NUMBER:
        text = one_number(best.hit.passage.text, span, question) or text
    if not holds_kind(text, kind):
        text = extract_span(best.text, kind, question) or text
    return text
