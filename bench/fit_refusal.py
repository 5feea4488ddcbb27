"""Fit the reader-on answer path on the reader's *tune* articles (never trained on, never
reported): how many passages the reader reads, how much retrieval weighs when picking a span
across them, and the refusal model (a logistic regression over the reader's no-answer margin and
the retrieval evidence) with its threshold.

    .venv/bin/python bench/fit_refusal.py [--squad DIR] [--cache DIR] [--answered 0.92]

Runs the real ``Answerer`` through the real index of each SQuAD dev half (retrieval over every
article) and prints the chosen values as JSON; they are pasted into ``qabot/answer/refusal.py``
(``READER_CONFIDENCE_*``) and ``qabot/config.py`` (``reader_passages``, ``reader_threshold``).
The reader's span for a (question, passage) pair does not depend on the other passages of the
batch, so reads are memoised; every configuration answers over one shared retrieval per question.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qabot.answer import AnswerConfig, Answerer  # noqa: E402
from qabot.answer.refusal import READER_CONFIDENCE_WEIGHTS  # noqa: E402
from qabot.config import load_settings  # noqa: E402
from qabot.evaluation import (  # noqa: E402
    EvalQuestion, ask_all, build_squad_index, contains_answer, exact_match, f1_score, load_squad)
from qabot.reader.data import load_squad_examples, merge_examples, split_articles  # noqa: E402
from qabot.reader.model import OnnxReader, Span  # noqa: E402
from qabot.service import QabotService  # noqa: E402

FEATURES = tuple(READER_CONFIDENCE_WEIGHTS)


class MemoReader:
    """An ``OnnxReader`` whose per-passage spans are remembered across calls."""

    def __init__(self, reader: OnnxReader) -> None:
        self.reader = reader
        self.meta = reader.meta
        self._memo: dict[tuple[str, str], Span | None] = {}

    def read(self, question: str, passages: Sequence[str]) -> list[Span | None]:
        missing = [p for p in dict.fromkeys(passages) if (question, p) not in self._memo]
        if missing:
            for text, span in zip(missing, self.reader.read(question, missing)):
                self._memo[(question, text)] = span
        found = [self._memo[(question, p)] for p in passages]
        return [None if s is None else dataclasses.replace(s, passage=i)
                for i, s in enumerate(found)]


def answers_of(answerers: dict[str, Answerer], generation, questions: list[EvalQuestion]
               ) -> dict[str, list]:
    """Answers of ``questions`` by each answerer, through ``qabot eval``'s own loop (one
    retrieval per question, shared by the answerers)."""
    outcomes = ask_all(questions, generation, answerers, lambda hit: None, None, "fit")
    return {name: [o.answer for o in found] for name, found in outcomes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=ROOT.parent / "shared/eval/squad")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache/eval")
    parser.add_argument("--answered", type=float, default=0.92,
                        help="share of answerable tune questions the threshold must answer")
    parser.add_argument("--seed", type=int, default=13, help="the reader's split seed")
    parser.add_argument("--passages", type=int, default=None,
                        help="skip the grid: read this many passages (with the weights below)")
    parser.add_argument("--retrieval-weight", type=float, default=8.0)
    parser.add_argument("--sentence-weight", type=float, default=8.0)
    args = parser.parse_args()

    v1, v2 = args.squad / "squad-v1.1-dev.json", args.squad / "squad-v2.0-dev.json"
    split = split_articles(merge_examples(load_squad_examples(v1), load_squad_examples(v2)),
                           seed=args.seed)
    settings = load_settings()
    service = QabotService(settings)
    reader = service.reader
    assert reader is not None, "the fit needs reader = \"on\""
    assert set(split.tune) <= set(reader.meta.seen_articles), "split differs from the reader's"
    memo = MemoReader(reader)
    retriever = service.retriever
    print(f"tune articles: {', '.join(split.tune)}", file=sys.stderr)

    def tune_questions(squad) -> list[EvalQuestion]:
        return [q for q in squad.questions if squad.articles[q.article][0] in split.tune]

    sets = {}
    for path in (v1, v2):
        squad = load_squad(path)
        stem = path.stem.replace(".", "-")
        generation, _ = build_squad_index(squad, args.cache, service.embedder, None,
                                          f"{stem}-all", None)
        others = [a for a, (title, _) in enumerate(squad.articles) if title not in split.tune]
        without, _ = build_squad_index(squad, args.cache, service.embedder, others,
                                       f"{stem}-notune", None,
                                       reuse_from=args.cache / f"index-{stem}-all")
        sets[path.stem] = (squad, generation, without, tune_questions(squad))

    # 1. Passages read and retrieval weight: best span F1 on v1.1 tune questions.
    _, gen1, _, questions1 = sets["squad-v1.1-dev"]
    grid = []
    combos = (itertools.product((1, 2, 3), (0.0, 4.0, 8.0), (0.0, 4.0, 8.0))
              if args.passages is None
              else [(args.passages, args.retrieval_weight, args.sentence_weight)])
    configs = {combo: AnswerConfig(reader_passages=combo[0], reader_retrieval_weight=combo[1],
                                   reader_sentence_weight=combo[2], reader_threshold=0.0)
               for combo in combos
               if combo[0] > 1 or not (combo[1] or combo[2])}  # one passage: nothing to weigh
    answered = answers_of({str(c): Answerer(retriever, config, memo)
                        for c, config in configs.items()}, gen1, questions1)
    for (passages, weight, sentence_weight), answers in zip(configs, answered.values()):
        f1 = float(np.mean([f1_score(a.span or "", q.answers)
                            for a, q in zip(answers, questions1)]))
        em = float(np.mean([exact_match(a.span or "", q.answers)
                            for a, q in zip(answers, questions1)]))
        sentence = float(np.mean([contains_answer(a.text, q.answers)
                                  for a, q in zip(answers, questions1)]))
        grid.append({"passages": passages, "weight": weight, "sentence_weight": sentence_weight,
                     "f1": round(f1, 4), "em": round(em, 4),
                     "answer_sentence@1": round(sentence, 4)})
        print(json.dumps(grid[-1]), file=sys.stderr)
    best_f1 = max(g["f1"] for g in grid)
    # Within half a point of the best, read as few passages as possible (speed).
    chosen = min((g for g in grid if g["f1"] >= best_f1 - 0.005),
                 key=lambda g: (g["passages"], -g["f1"]))
    config = AnswerConfig(reader_passages=chosen["passages"],
                          reader_retrieval_weight=chosen["weight"],
                          reader_sentence_weight=chosen["sentence_weight"], reader_threshold=0.0)
    answerer = Answerer(retriever, config, memo)

    # 2. Refusal: answerable (1) vs v2.0 unanswerable and out-of-corpus (0) tune questions.
    rows: list[tuple[list[float], int, str]] = []
    for name, (squad, generation, without, questions) in sets.items():
        for q, a in zip(questions, answers_of({"fit": answerer}, generation, questions)["fit"]):
            rows.append(([a.debug[f] for f in FEATURES], int(q.answerable),
                         f"{name} {'answerable' if q.answerable else 'unanswerable'}"))
        answerable = [q for q in questions if q.answerable]
        for a in answers_of({"fit": answerer}, without, answerable)["fit"]:
            rows.append(([a.debug[f] for f in FEATURES], 0, f"{name} out of corpus"))
    from sklearn.linear_model import LogisticRegression

    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    groups = np.array([r[2] for r in rows])
    # Every group (answerable, unanswerable, out of corpus of each file) weighs the same.
    sizes = {g: int(np.sum(groups == g)) for g in set(groups)}
    weights = np.array([1.0 / sizes[g] for g in groups])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y, sample_weight=weights * len(y))
    z = model.decision_function(x)
    confidence = 1 / (1 + np.exp(-z))
    positive = np.sort(confidence[y == 1])
    threshold = float(positive[int(math.floor((1 - args.answered) * len(positive)))])
    threshold = math.floor(threshold * 1000) / 1000
    shares = {g: round(float(np.mean((confidence[groups == g] >= threshold)
                                     if "answerable" == g.split()[-1] else
                                     (confidence[groups == g] < threshold))), 4)
              for g in sorted(set(groups))}
    print(json.dumps({
        "tune_articles": list(split.tune),
        "grid_chosen": chosen,
        "bias": round(float(model.intercept_[0]), 3),
        "weights": {f: round(float(w), 3) for f, w in zip(FEATURES, model.coef_[0])},
        "threshold": threshold,
        "tune_answered_or_refused": shares,
        "tune_questions": {g: int(np.sum(groups == g)) for g in sorted(set(groups))},
    }, indent=1))


if __name__ == "__main__":
    main()
