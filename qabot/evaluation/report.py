"""What an evaluation run measures: ``EvalReport`` and the measures of a SQuAD run, of its
out-of-corpus half and of a qabot JSONL run, computed from the asked questions (``Outcome``).
Nothing here prints; the CLI formats the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..schema import Answer
from .data import EvalQuestion
from ..squad_scores import exact_match, f1_score
from .metrics import contains_answer, loose, share, threshold_for


@dataclass
class EvalReport:
    """Numbers of one evaluation run (``metrics`` values are rates in [0, 1] unless named)."""

    file: str
    kind: str
    metrics: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    #: The same measures for other answer paths over the same retrieval (e.g. "reader off").
    variants: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {"file": self.file, "kind": self.kind,
                "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
                "variants": {name: {k: round(v, 4) for k, v in metrics.items()}
                             for name, metrics in self.variants.items()},
                "counts": self.counts, "settings": self.settings,
                "seconds": round(self.seconds, 1)}


@dataclass
class Outcome:
    """One asked question: what qabot answered and where the gold paragraph ranked."""

    question: EvalQuestion
    answer: Answer
    ranks: list[tuple[int, int]]  # (article, paragraph) of the top distinct paragraphs


def squad_metrics(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Retrieval, answer-sentence, span and refusal rates of SQuAD outcomes."""
    answerable = [o for o in outcomes if o.question.answerable]
    metrics: dict[str, float] = {}
    if answerable:
        def rank_of(o: Outcome) -> int | None:
            gold = (o.question.article, o.question.paragraph)
            return o.ranks.index(gold) + 1 if gold in o.ranks else None

        ranks = [rank_of(o) for o in answerable]
        n = len(answerable)
        metrics["recall@1"] = share(ranks, lambda r: r == 1)
        metrics["recall@5"] = share(ranks, lambda r: r is not None and r <= 5)
        metrics["mrr@10"] = sum(1 / r for r in ranks if r is not None) / n
        metrics["answer_sentence@1"] = share(
            answerable, lambda o: contains_answer(o.answer.text, o.question.answers))
        metrics["answer_sentence@1_if_answered"] = share(answerable, lambda o: contains_answer(
            o.answer.text or o.answer.debug.get("sentence"), o.question.answers))
        # Only the ``span`` field counts: a refusal or an answer without a span scores 0.
        predictions = [o.answer.span or "" for o in answerable]
        metrics["span_em"] = sum(exact_match(p, o.question.answers)
                                 for p, o in zip(predictions, answerable)) / n
        metrics["span_f1"] = sum(f1_score(p, o.question.answers)
                                 for p, o in zip(predictions, answerable)) / n
        metrics["span_given"] = share(answerable, lambda o: bool(o.answer.span))
        metrics["answered"] = share(answerable, lambda o: not o.answer.abstained)
    impossible = [o for o in outcomes if not o.question.answerable]
    if impossible:
        metrics["unanswerable_refused"] = share(impossible, lambda o: o.answer.abstained)
    return metrics


def out_of_corpus_metrics(in_answers: Sequence[Answer],
                          out_answers: Sequence[Answer]) -> dict[str, float]:
    """Answered share in corpus, refused share out of corpus, and the calibration aid: the
    threshold that would answer 95 % in corpus and what it would refuse outside."""
    if not in_answers or not out_answers:  # both halves must hold answerable questions
        return {}
    suggested = threshold_for([a.confidence for a in in_answers], 0.95)
    return {"in_corpus_answered": share(in_answers, lambda a: not a.abstained),
            "out_of_corpus_refused": share(out_answers, lambda a: a.abstained),
            "threshold_for_95%_answered": suggested,
            "out_of_corpus_refused_at_that_threshold": share(
                out_answers, lambda a: a.confidence < suggested)}


def jsonl_metrics(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Answered-correctly, support-cited, span and refusal rates of qabot JSONL outcomes."""
    answerable = [o for o in outcomes if o.question.answerable]
    impossible = [o for o in outcomes if not o.question.answerable]
    metrics: dict[str, float] = {}
    if answerable:
        metrics["answered_correctly"] = share(answerable, lambda o: (
            not o.answer.abstained and contains_answer(
                f"{o.answer.text} {o.answer.span or ''}", o.question.answers)))
        metrics["support_cited"] = share(answerable, lambda o: (
            not o.answer.abstained and bool(o.question.support)
            and any(loose(o.question.support) in loose(c.text)
                    for c in o.answer.citations[:1])))
        metrics["span_given"] = share(answerable, lambda o: bool(o.answer.span))
        metrics["answered"] = share(answerable, lambda o: not o.answer.abstained)
    if impossible:
        metrics["out_of_corpus_refused"] = share(impossible, lambda o: o.answer.abstained)
    return metrics
