"""Scoring one answer against gold answers: loose containment on top of the official SQuAD
scores (``qabot.squad_scores``), and the share and threshold helpers the reports are built from."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..squad_scores import normalize_answer
from ..text import fold

T = TypeVar("T")

def contains_answer(text: str | None, golds: Sequence[str]) -> bool:
    """True when a gold answer occurs in ``text`` (SQuAD normalisation, accents and "3,800" =
    "3800" folded)."""
    if not text:
        return False
    haystack = loose(text)
    return any(loose(g) in haystack for g in golds if loose(g))


def loose(text: str) -> str:
    """``text`` folded (accents, quotes, digit groups) and SQuAD-normalised, for containment."""
    return normalize_answer(unicodedata.normalize("NFC", fold(text)))


def share(items: Sequence[T], predicate: Callable[[T], bool]) -> float:
    """The share of ``items`` for which ``predicate`` holds (0.0 for none)."""
    return sum(1 for item in items if predicate(item)) / len(items) if items else 0.0


def threshold_for(confidences: Sequence[float], answer_rate: float) -> float:
    """The highest threshold that still answers ``answer_rate`` of ``confidences``."""
    if not confidences:
        return 0.0
    ordered = sorted(confidences)
    cut = math.floor((1 - answer_rate) * len(ordered))
    return float(ordered[min(cut, len(ordered) - 1)])
