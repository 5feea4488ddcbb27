"""From retrieved passages to an answer (see ``answerer.py`` for the whole path)."""

from .answerer import (
    _READER_CONFIDENCE_WEIGHTS,
    AnswerConfig,
    Answerer,
    Kind,
    citation_from_hit,
    extract_span,
    question_kind,
    word_stems,
)
from .wording import Wording, WordingChecker

__all__ = ["_READER_CONFIDENCE_WEIGHTS", "AnswerConfig", "Answerer", "Kind", "Wording",
           "WordingChecker", "citation_from_hit", "extract_span", "question_kind", "word_stems"]
