"""The knobs of answer selection, filled from ``Settings`` by the service."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """Knobs of answer selection (from ``Settings``)."""

    abstain_threshold: float = 0.3
    top_k: int = 3
    passages_considered: int = 5
    reader_passages: int = 3
    reader_threshold: float = 0.263
    # A span's score across passages: reader margin + this × its passage's retrieval score
    # relative to the best passage's (both fitted on the tune articles: bench/fit_refusal.py).
    reader_retrieval_weight: float = 8.0
    reader_sentence_weight: float = 8.0  # × the pattern path's score of the span's sentence
    spelling: bool = True
