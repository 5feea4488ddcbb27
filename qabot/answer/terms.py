"""Question words as answers compare them: Snowball stems, weighted by rarity (IDF).

A sentence or a passage is judged by the IDF-weighted share of the question's content words it
holds, so the rare words of a question decide and "the", "said" or "people" barely count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..text import STOPWORDS, WORD, fold

if TYPE_CHECKING:
    from ..index import Generation


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    """The Snowball English stemmer, loaded once."""
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a folded word; numbers are kept whole."""
    return word if word.isdigit() else _stemmer().stemWord(word)


def word_stems(text: str) -> list[str]:
    """Stems of the words of ``text`` after folding (so "3,800" → "3800", "Nursultán" →
    "nursultan")."""
    return [stem(w) for w in WORD.findall(fold(text))]


@dataclass(frozen=True, slots=True)
class QuestionTerms:
    """The question's content-word stems with their IDF weights."""

    stems: tuple[str, ...]
    idf: tuple[float, ...]

    def coverage(self, stems: set[str], power: float = 1.0) -> float:
        """IDF-weighted share of the question's words found in ``stems`` (weights IDF**power)."""
        total = sum(w ** power for w in self.idf)
        if not total:
            return 0.0
        return sum(w ** power for s, w in zip(self.stems, self.idf) if s in stems) / total


def question_terms(question: str, generation: Generation) -> QuestionTerms:
    """Stems of ``question``'s content words with IDF weights from ``generation``'s FTS index."""
    n = max(int(generation.counts.get("passages", 1)), 1)
    idf: dict[str, float] = {}
    for word in WORD.findall(fold(question)):
        if word in STOPWORDS or len(word) < 2 and not word.isdigit():
            continue
        s = stem(word)
        if s in idf:
            continue
        df = generation.document_frequency(word)
        # Smoothed so that a word in every passage still counts a little (small corpora).
        idf[s] = 1.0 + math.log((n + 1) / (df + 1))
    return QuestionTerms(stems=tuple(idf), idf=tuple(idf.values()))


def with_topic(question: str, topic: str | None) -> str:
    """The text searched for ``question`` with a follow-up's carried ``topic``."""
    return f"{question} {topic}" if topic else question
