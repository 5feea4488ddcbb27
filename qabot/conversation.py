"""Per-conversation memory so follow-ups ("and how many of them died?") reuse the last topic.

Shared by every front end: the REPL keeps one ``Conversation``, the Telegram bot one per chat.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .answer.terms import with_topic
from .text import content_terms
from .schema import Answer

_FOLLOW_UP_START = re.compile(r"^\s*(and|but|also|so|then|what about|how about|and what about)\b",
                              re.I)
_PRONOUN = re.compile(r"\b(they|them|their|theirs|it|its|he|him|his|she|her|those|these|that|"
                      r"this|there|the same|ones?)\b", re.I)


@dataclass(frozen=True, slots=True)
class Turn:
    """One answered question and the text that was searched for it."""

    question: str
    search_text: str
    answer: Answer
    at: float


def is_follow_up(question: str) -> bool:
    """True for questions that lean on the previous one: "and ...", or a pronoun with little topic."""
    if _FOLLOW_UP_START.search(question):
        return True
    return bool(_PRONOUN.search(question)) and len(content_terms(question)) <= 2


class Conversation:
    """The short memory of one chat; it forgets its topic after ``ttl_seconds`` of silence."""

    def __init__(self, ttl_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self.last: Turn | None = None

    def _live_last(self) -> Turn | None:
        if self.last is not None and self._clock() - self.last.at > self.ttl_seconds:
            self.last = None
        return self.last

    def topic(self, question: str) -> str | None:
        """The previous topic's terms that ``question`` lacks, when it is a follow-up; else None."""
        last = self._live_last()
        if last is None or not is_follow_up(question):
            return None
        own = set(content_terms(question))
        return " ".join(t for t in content_terms(last.search_text) if t not in own) or None

    def search_text(self, question: str) -> str:
        """What to search for: the question, plus the previous topic when it is a follow-up."""
        return with_topic(question, self.topic(question))

    def remember(self, question: str, search_text: str, answer: Answer) -> None:
        """Record an answered question as the topic for the next follow-up."""
        self.last = Turn(question, search_text, answer, self._clock())

    @property
    def last_answer(self) -> Answer | None:
        """The previous answer (for ``:sources`` / ``/sources``), while the memory is live."""
        last = self._live_last()
        return last.answer if last else None
