"""Confidence and refusal: whether the evidence for an answer is strong enough to give it.

``confidence`` is a logistic score of the evidence: the reader's margin over "no answer" (reader
on), the answer sentence's and the best passage's cosines and the IDF-weighted share of question
words found in the chosen passage and its title. Below the threshold the answer is withheld and
the passages are offered as "related". Both models were fitted on articles that are never
reported (``bench/fit_refusal.py``; README "How answers are chosen").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .terms import QuestionTerms, word_stems

if TYPE_CHECKING:
    from ..reader.model import Span
    from ..schema import Hit
    from .sentences import Candidate

# Pattern path: confidence = sigmoid(bias + sum(weight * feature)).
CONFIDENCE_BIAS = -11.5
CONFIDENCE_WEIGHTS = {"sentence_cosine": 11.3, "passage_cosine": 6.5, "coverage": 7.2}
# With the reader: the same kind of model with the reader's margin over "no answer" added
# (fitted by bench/fit_refusal.py on the reader's tune articles, never on reported ones).
READER_CONFIDENCE_BIAS = -5.467
READER_CONFIDENCE_WEIGHTS = {"reader_margin": 0.08, "sentence_cosine": 3.671,
                             "best_sentence_cosine": 6.273, "passage_cosine": 0.633,
                             "coverage": -0.371}


def confidence_from(features: dict[str, float], bias: float = CONFIDENCE_BIAS,
                    weights: dict[str, float] | None = None) -> float:
    """A refusal model: a logistic score in (0, 1) of the evidence ``features``."""
    z = bias + sum(w * features.get(name, 0.0)
                   for name, w in (weights or CONFIDENCE_WEIGHTS).items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _passage_coverage(best: Candidate, terms: QuestionTerms) -> float:
    """The question words' coverage of the answer's passage and its title."""
    passage = best.hit.passage
    return terms.coverage(set(word_stems(f"{passage.title} {passage.text}")))


def _best_passage_cosine(hits: list[Hit]) -> float:
    """The best passage cosine of the top three hits."""
    return max((h.dense_score or 0.0) for h in hits[:3])


def pattern_features(hits: list[Hit], best: Candidate | None,
                     terms: QuestionTerms) -> dict[str, float]:
    """The pattern refusal model's inputs (the names of ``CONFIDENCE_WEIGHTS``)."""
    if best is None:
        return {"sentence_cosine": 0.0, "passage_cosine": 0.0, "coverage": 0.0}
    return {"sentence_cosine": best.cosine, "passage_cosine": _best_passage_cosine(hits),
            "coverage": _passage_coverage(best, terms)}


def reader_features(span: Span | None, hits: list[Hit], terms: QuestionTerms,
                    best: Candidate | None = None,
                    best_cosine: float = 0.0) -> dict[str, float]:
    """The reader refusal model's inputs (the names of ``READER_CONFIDENCE_WEIGHTS``): the
    span's margin, its sentence's cosine, the best sentence cosine of the passages read, the
    best passage cosine and the question words' coverage of the answer's passage."""
    if span is None or best is None:
        return {"reader_margin": -20.0, "sentence_cosine": 0.0, "best_sentence_cosine": 0.0,
                "passage_cosine": 0.0, "coverage": 0.0}
    return {"reader_margin": span.margin, "sentence_cosine": best.cosine,
            "best_sentence_cosine": best_cosine, "passage_cosine": _best_passage_cosine(hits),
            "coverage": _passage_coverage(best, terms)}


def reader_confidence(features: dict[str, float], reader_threshold: float,
                      abstain_threshold: float) -> tuple[float, float]:
    """The confidence of a reader answer and the threshold it must reach.

    When the reader prefers a span and the sentence evidence alone would answer, the pattern
    path's confidence and threshold decide: the SQuAD-fitted model undervalues word coverage,
    which decides on small corpora ("Who is Ursula von der Leyen?" over one article).
    """
    confidence = confidence_from(features, READER_CONFIDENCE_BIAS, READER_CONFIDENCE_WEIGHTS)
    if (confidence < reader_threshold and features["reader_margin"] > 0
            and features["pattern_confidence"] >= abstain_threshold):
        return features["pattern_confidence"], abstain_threshold
    return confidence, reader_threshold
