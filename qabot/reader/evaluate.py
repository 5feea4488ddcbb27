"""The reader alone, given the gold paragraph: SQuAD EM/F1 (official normalisation), how often
v2.0's unanswerable questions get "no answer" and answerable ones a span, the no-answer
threshold fitted on the tune articles, and the reader's speed."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..squad_scores import exact_match, f1_score
from .data import QAExample
from .model import OnnxReader


@dataclass(frozen=True, slots=True)
class Prediction:
    """The reader's best span for one question and its margin over "no answer"."""

    example: QAExample
    text: str
    margin: float


def predict(reader: OnnxReader, examples: Sequence[QAExample],
            batch_size: int = 32) -> list[Prediction]:
    """The reader's best span for every example, windows batched by length."""
    windows = sorted(reader.windows([e.question for e in examples],
                                    [e.context for e in examples]), key=len)
    spans = reader.read_windows(windows, [e.context for e in examples], batch_size)
    return [Prediction(e, s.text if s else "", s.margin if s else float("-inf"))
            for e, s in zip(examples, spans)]


def _scores(prediction: Prediction, threshold: float) -> tuple[float, float]:
    """EM and F1 of one prediction, "no answer" counting as the empty string (SQuAD v2.0)."""
    answered = -prediction.margin <= threshold
    golds = [text for text, _ in prediction.example.answers]
    if not golds:
        return (0.0, 0.0) if answered else (1.0, 1.0)
    if not answered:
        return 0.0, 0.0
    return exact_match(prediction.text, golds), f1_score(prediction.text, golds)


def fit_null_threshold(predictions: Sequence[Prediction],
                       min_answered: float | None = None) -> float:
    """The threshold on (no-answer score − span score) fitted on ``predictions``: with
    ``min_answered``, the lowest one (most refusals) at which at least that share of the
    answerable questions still gets a span; without, the one that maximises overall SQuAD v2.0
    F1 (the official script's best-threshold search). Fit it on articles that are neither
    trained on nor reported."""
    candidates = sorted({-p.margin for p in predictions if p.margin != float("-inf")})
    if min_answered is not None:
        answerable = sorted(-p.margin for p in predictions if p.example.answerable)
        if not answerable:
            return 0.0
        return answerable[max(0, math.ceil(min_answered * len(answerable)) - 1)]
    best, best_f1 = 0.0, -1.0
    for threshold in [min(candidates, default=0.0) - 1.0, *candidates]:
        f1 = sum(_scores(p, threshold)[1] for p in predictions)
        if f1 > best_f1:
            best, best_f1 = threshold, f1
    return best


def quality(predictions: Sequence[Prediction], threshold: float) -> dict[str, float | int]:
    """EM/F1 on answerable questions, with the reader forced to answer (the v1.1 task) and with
    the threshold (the v2.0 task); has-answer and no-answer rates; overall v2.0 F1."""
    answerable = [p for p in predictions if p.example.answerable]
    unanswerable = [p for p in predictions if not p.example.answerable]
    forced = [_scores(p, float("inf")) for p in answerable]
    judged = [_scores(p, threshold) for p in predictions]

    def mean(values: Sequence[float]) -> float:
        return round(statistics.fmean(values), 4) if values else 0.0

    return {
        "questions": len(predictions), "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "em": mean([em for em, _ in forced]), "f1": mean([f1 for _, f1 in forced]),
        "answered": mean([float(-p.margin <= threshold) for p in answerable]),
        "no_answer_refused": mean([float(-p.margin > threshold) for p in unanswerable]),
        "v2_em": mean([em for em, _ in judged]), "v2_f1": mean([f1 for _, f1 in judged]),
    }


def speed(reader: OnnxReader, examples: Sequence[QAExample], repeats: int = 50) -> dict[str, float]:
    """Passages per second, batched (all of ``examples``) and one question at a time."""
    sample = list(examples[:repeats])
    reader.warm_up()
    started = time.perf_counter()
    predict(reader, examples)
    batched = len(examples) / (time.perf_counter() - started)
    times = []
    for example in sample:
        started = time.perf_counter()
        reader.read(example.question, [example.context])
        times.append(time.perf_counter() - started)
    return {"batched_passages_per_s": round(batched, 1),
            "single_passages_per_s": round(1 / statistics.median(times), 1),
            "single_median_ms": round(1000 * statistics.median(times), 1)}


def report(reader: OnnxReader, examples: Sequence[QAExample], with_speed: bool = True,
           threshold: float | None = None) -> dict[str, Any]:
    """Quality (and speed) of ``reader`` on ``examples`` with its shipped threshold."""
    threshold = reader.meta.null_threshold if threshold is None else threshold
    result: dict[str, Any] = {"threshold": round(threshold, 4),
                              **quality(predict(reader, examples), threshold)}
    if with_speed:
        result.update(speed(reader, examples))
    return result
