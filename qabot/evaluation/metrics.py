"""Scoring one answer against gold answers: the official SQuAD normalisation, exact match and F1,
loose containment, and the share and threshold helpers the reports are built from."""

from __future__ import annotations

import collections
import math
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

from ..text import fold

T = TypeVar("T")

_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Official SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    norm = normalize_answer(prediction)
    return float(any(norm == normalize_answer(g) for g in golds))


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 of ``prediction`` against the gold answers (SQuAD's definition)."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        truth = normalize_answer(gold).split()
        common = collections.Counter(pred) & collections.Counter(truth)
        same = sum(common.values())
        if not pred or not truth:
            best = max(best, float(pred == truth))
            continue
        if same == 0:
            continue
        precision, recall = same / len(pred), same / len(truth)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


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
