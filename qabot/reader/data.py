"""SQuAD examples for the reader and the windows it reads: loading, the article split, and
tokenisation into ``[CLS] question [SEP] passage [SEP]`` windows with a document stride.

One tokenisation path serves training, evaluation and answering (the fast ``tokenizers``
library with the encoder's own ``tokenizer.json``), so the spans the trained model learnt are
decoded the same way at run time. Nothing here imports torch.
"""

from __future__ import annotations

import collections
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EvalDataError

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

MAX_LENGTH = 256
DOC_STRIDE = 96
MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True, slots=True)
class QAExample:
    """One SQuAD question with its paragraph; ``answers`` are (text, character start) pairs."""

    id: str
    article: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]

    @property
    def answerable(self) -> bool:
        """False for SQuAD v2.0's questions whose paragraph does not hold the answer."""
        return bool(self.answers)

    def main_answer(self) -> tuple[str, int] | None:
        """The answer most annotators marked (the first of those on a tie): the training label."""
        if not self.answers:
            return None
        counts = collections.Counter(self.answers)
        return max(self.answers, key=lambda a: (counts[a], -self.answers.index(a)))


@dataclass(frozen=True, slots=True)
class Window:
    """One model input: the question and a slice of the context, with each token's character
    span in the context (``None`` for the question and special tokens)."""

    example: int
    input_ids: tuple[int, ...]
    type_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int] | None, ...]

    def __len__(self) -> int:
        return len(self.input_ids)

    def label(self, answer: tuple[str, int] | None) -> tuple[int, int]:
        """Start and end token of ``answer`` in this window; (0, 0), the ``[CLS]`` no-answer,
        when there is none or it does not lie wholly inside the window."""
        if answer is None:
            return 0, 0
        text, start = answer
        end = start + len(text)
        context = [i for i, span in enumerate(self.offsets) if span is not None]
        first, last = context[0], context[-1]
        first_span, last_span = self.offsets[first], self.offsets[last]
        assert first_span is not None and last_span is not None
        if first_span[0] > start or last_span[1] < end:
            return 0, 0
        token_start = next(i for i in context if self.offsets[i][1] > start)  # type: ignore[index]
        token_end = next(i for i in reversed(context) if self.offsets[i][0] < end)  # type: ignore[index]
        return token_start, max(token_start, token_end)


def load_squad_examples(path: Path) -> list[QAExample]:
    """Every question of a SQuAD v1.1 or v2.0 file, with answer offsets kept."""
    try:
        records = json.loads(path.read_text("utf-8"))["data"]
        examples = []
        for record in records:
            title = str(record.get("title", "")).replace("_", " ")
            for paragraph in record["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = () if qa.get("is_impossible") else tuple(
                        dict.fromkeys((a["text"], int(a["answer_start"])) for a in qa["answers"]))
                    examples.append(QAExample(id=str(qa["id"]), article=title,
                                              question=qa["question"],
                                              context=paragraph["context"], answers=answers))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EvalDataError(f"{path} is not SQuAD JSON: {exc}") from exc
    if not examples:
        raise EvalDataError(f"{path} holds no questions")
    return examples


def merge_examples(*sets: Iterable[QAExample]) -> list[QAExample]:
    """The union of several SQuAD files' questions, each id once (v2.0 repeats v1.1's)."""
    return list({e.id: e for examples in sets for e in examples}.values())


@dataclass(frozen=True, slots=True)
class ArticleSplit:
    """Article titles for training, for fitting the no-answer threshold, and for validation."""

    train: tuple[str, ...]
    tune: tuple[str, ...]
    validation: tuple[str, ...]

    def of(self, examples: Sequence[QAExample], part: str) -> list[QAExample]:
        """The examples whose article is in ``part`` ("train", "tune" or "validation")."""
        titles = set(getattr(self, part))
        return [e for e in examples if e.article in titles]


def split_articles(examples: Sequence[QAExample], seed: int, validation: int = 5,
                   tune: int = 2) -> ArticleSplit:
    """A seeded split by article. Validation and tune articles are drawn from the articles that
    have unanswerable questions, so no-answer quality can be measured and fitted."""
    titles = sorted({e.article for e in examples})
    with_unanswerable = sorted({e.article for e in examples if not e.answerable})
    if len(with_unanswerable) < validation + tune:
        raise EvalDataError(f"need {validation + tune} articles with unanswerable questions, "
                            f"found {len(with_unanswerable)}",
                            hint="train on SQuAD v1.1 together with v2.0")
    held = random.Random(seed).sample(with_unanswerable, validation + tune)
    return ArticleSplit(train=tuple(t for t in titles if t not in held),
                        tune=tuple(sorted(held[validation:])),
                        validation=tuple(sorted(held[:validation])))


#: Names (capitalised runs) and numbers: the anchors a question is swapped on.
_ANCHOR = re.compile(r"\b(?:[A-Z][\w'-]+(?:\s+(?:of\s+|the\s+)?[A-Z][\w'-]+)*|\d[\d,.]*)\b")


_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"(]\s*)$")


def _anchors(text: str) -> list[re.Match[str]]:
    """Names and numbers of ``text``; a capitalised word that opens a sentence is grammar, not
    a name, so it counts only as part of a longer run ("The Hague")."""
    return [m for m in _ANCHOR.finditer(text)
            if m.group()[0].isdigit() or " " in m.group()
            or not _SENTENCE_START.search(text[max(0, m.start() - 3):m.start()])]


def near_miss_negatives(examples: Sequence[QAExample], swap_share: float, other_share: float,
                        seed: int) -> list[QAExample]:
    """Unanswerable questions made from answerable ones, for training only.

    * swapped: a name or number of the question that its paragraph holds is replaced by one of
      the same kind from another paragraph of the article that this paragraph lacks ("in France"
      → "in Sicily"), like SQuAD v2.0's entity-swap questions;
    * other paragraph: the question paired with another paragraph of its article that does not
      hold the answer, as retrieval serves the reader at run time.

    ``swap_share`` and ``other_share`` are the shares of answerable questions that get each.
    """
    rng = random.Random(seed)
    by_article: dict[str, list[str]] = collections.defaultdict(list)
    for example in examples:
        if example.context not in by_article[example.article]:
            by_article[example.article].append(example.context)
    pools = {article: sorted({m.group() for c in contexts for m in _anchors(c)})
             for article, contexts in by_article.items()}
    made: list[QAExample] = []
    for example in examples:
        if not example.answerable:
            continue
        if rng.random() < swap_share:
            swapped = _swap_anchor(example, pools[example.article], rng)
            if swapped is not None:
                made.append(QAExample(id=f"{example.id}:swap", article=example.article,
                                      question=swapped, context=example.context, answers=()))
        if rng.random() < other_share:
            answers = {text.lower() for text, _ in example.answers}
            others = [c for c in by_article[example.article] if c != example.context
                      and not any(a in c.lower() for a in answers)]
            if others:
                made.append(QAExample(id=f"{example.id}:other", article=example.article,
                                      question=example.question, context=rng.choice(others),
                                      answers=()))
    return made


def _swap_anchor(example: QAExample, pool: Sequence[str], rng: random.Random) -> str | None:
    """``example.question`` with one anchor its paragraph holds replaced by a same-kind anchor
    the paragraph lacks; None when the question has no such anchor."""
    context = example.context
    held = [m for m in _anchors(example.question) if m.group() in context]
    if not held:
        return None
    target = rng.choice(held)
    numeric = target.group()[0].isdigit()
    candidates = [a for a in pool if a[0].isdigit() == numeric and a not in context
                  and a.lower() not in example.question.lower()]
    if not candidates:
        return None
    q = example.question
    return q[:target.start()] + rng.choice(candidates) + q[target.end():]


def reader_tokenizer(tokenizer_file: Path) -> Tokenizer:
    """The encoder's tokenizer set up for question/passage windows (no padding, stride)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _short_question(tokenizer: Tokenizer, question: str) -> str:
    """``question`` cut to ``MAX_QUESTION_TOKENS`` word pieces (rare; keeps room for context)."""
    encoding = tokenizer.encode(question, add_special_tokens=False)
    if len(encoding.ids) <= MAX_QUESTION_TOKENS:
        return question
    return question[:encoding.offsets[MAX_QUESTION_TOKENS - 1][1]]


def encode_windows(tokenizer: Tokenizer, questions: Sequence[str], contexts: Sequence[str],
                   max_length: int = MAX_LENGTH, stride: int = DOC_STRIDE) -> list[Window]:
    """Windows for each (question, context) pair, in order; ``Window.example`` is the pair's
    index. A context longer than one window is cut into overlapping windows ``stride`` word
    pieces apart in overlap, each holding the whole question."""
    tokenizer.enable_truncation(max_length=max_length, stride=stride, strategy="only_second")
    try:
        pairs = [(_short_question(tokenizer, q), c) for q, c in zip(questions, contexts)]
        encodings = tokenizer.encode_batch(pairs)
    finally:
        tokenizer.no_truncation()
    windows: list[Window] = []
    for example, encoding in enumerate(encodings):
        for piece in (encoding, *encoding.overflowing):
            windows.append(_window(example, piece))
    return windows


def _window(example: int, encoding: Encoding) -> Window:
    offsets = tuple(span if sequence == 1 else None
                    for span, sequence in zip(encoding.offsets, encoding.sequence_ids))
    return Window(example=example, input_ids=tuple(encoding.ids),
                  type_ids=tuple(encoding.type_ids), offsets=offsets)
