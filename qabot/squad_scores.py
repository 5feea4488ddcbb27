"""The official SQuAD answer scores: normalisation, exact match and token F1. Standard library
only, so the reader's own evaluation and the end-to-end evaluation score answers the same way."""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence

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
