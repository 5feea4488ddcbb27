"""From retrieved passages to an answer: wording, the reader, sentence choice, typed span, refusal.

``answerer.py`` holds the whole path (``Answerer``); ``wording.py`` corrects and classifies the
question, ``reading.py`` runs the trained reader, ``sentences.py`` scores answer sentences,
``spans.py`` knows question kinds and typed spans, ``terms.py`` stems and weighs question words
and ``refusal.py`` decides whether the evidence is strong enough to answer. Over dated articles,
``news.py`` answers from the newest article (older different answers become ``earlier``),
``days.py`` resolves relative days against an article's date, and ``time_questions.py`` with
``latest.py`` answer questions about time from the latest articles.
"""

from .answer_config import AnswerConfig
from .answerer import Answerer
from .citations import citation_from_hit
from .spans import Kind, extract_span, question_kind
from .terms import word_stems
from .wording import Wording, WordingChecker

__all__ = ["AnswerConfig", "Answerer", "Kind", "Wording", "WordingChecker", "citation_from_hit",
           "extract_span", "question_kind", "word_stems"]
