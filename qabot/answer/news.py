"""Newest facts first: when dated articles answer the same question, the newest one answers.

Each passage read gives an ``Option``: its best sentence, span and confidence (the same refusal
model and threshold as the answer itself). When options that answer confidently, whose sentences
hold as much of the question's words as the best answer's, each holding the kind of thing asked
for (a number, a date, a name; with the reader, any span), come from at least two differently
dated articles, the newest article's option is the answer and, for a typed question, the older
articles' different spans become ``Answer.earlier``, newest first. Undated articles are never
part of this: a corpus without dates is answered exactly as before.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..schema import EarlierReport
from .refusal import confidence_from, pattern_features
from .spans import Kind, extract_span, is_kind
from .terms import word_stems

if TYPE_CHECKING:
    from ..schema import Hit
    from .answer_config import AnswerConfig
    from .sentences import Candidate
    from .terms import QuestionTerms

log = logging.getLogger(__name__)

# An option answers the same question as the best one only when its sentence holds as much of
# the question (less this): "Interior Minister Tomas Varga said the police would clear the
# square" and "Brel dismissed Interior Minister Tomas Varga" do not answer the same thing.
_COVERAGE_SLACK = 0.05


@dataclass(frozen=True, slots=True)
class Option:
    """One passage's answer: its sentence, span, score among spans and confidence."""

    candidate: Candidate
    span: str | None
    score: float
    confidence: float
    threshold: float
    coverage: float  # the (IDF-weighted) share of the question's words in the sentence

    @property
    def published(self) -> str | None:
        """When the option's article was published (ISO 8601 text, so it sorts): a day from the
        file or its dateline, or the time its file was first indexed, which orders files that
        arrived one by one on the same day."""
        return self.candidate.hit.passage.date

    @property
    def source(self) -> str:
        """The option's article (its file name, plus line for JSONL feeds)."""
        return self.candidate.hit.passage.source


def sentence_coverage(candidate: Candidate, terms: QuestionTerms) -> float:
    """The IDF-weighted share of the question's words in ``candidate``'s sentence and the one
    before it (where "He" or "It" is named)."""
    text = candidate.hit.passage.text
    start = candidate.previous[0] if candidate.previous else candidate.start
    return terms.coverage(set(word_stems(text[start:candidate.end])))


def _answers(option: Option, kind: Kind) -> bool:
    """True when ``option`` answers confidently with the kind of thing asked for."""
    if option.published is None or not option.span or option.confidence < option.threshold:
        return False
    return is_kind(option.span, kind)


def _same(a: str, b: str) -> bool:
    """True when two spans say the same ("Oskel" and "oskel,")."""
    return re.sub(r"\W+", " ", a).strip().lower() == re.sub(r"\W+", " ", b).strip().lower()


def newest_first(best: Option, options: list[Option], kind: Kind
                 ) -> tuple[Option, tuple[EarlierReport, ...]]:
    """The option to answer with and the older articles' different answers (newest first).

    ``best`` (the answer as chosen without dates) stands unless it and another confident option
    come from differently dated articles; then the newest article's best option answers."""
    if not _answers(best, kind):
        return best, ()
    answering = [o for o in options if _answers(o, kind)
                 and o.coverage >= best.coverage - _COVERAGE_SLACK]
    log.debug("options: %s", [(o.source, o.span, round(o.confidence, 3), round(o.coverage, 3))
                              for o in options])
    if best not in answering:
        answering.append(best)
    if len({o.published for o in answering}) < 2:
        return best, ()
    by_article: dict[str, Option] = {}
    for option in sorted(answering, key=lambda o: o.score, reverse=True):
        by_article.setdefault(option.source, option)
    ranked = sorted(by_article.values(), key=lambda o: (o.published or "", o.score),
                    reverse=True)
    chosen = ranked[0]
    assert chosen.span is not None
    if kind is Kind.OTHER:  # spans in other words are no different answer
        return chosen, ()
    earlier = tuple(EarlierReport(span=o.span, published=o.candidate.hit.passage.date,
                                  source=o.source, paragraph=o.candidate.hit.passage.paragraph)
                    for o in ranked[1:]
                    if o.span and o.published != chosen.published and not _same(o.span, chosen.span))
    return chosen, earlier


def pattern_options(sentences: dict[int, list[Candidate]], hits: list[Hit], terms: QuestionTerms,
                    kind: Kind, question: str, config: AnswerConfig) -> list[Option]:
    """The pattern path's options: each passage's best sentence with its typed span and the
    confidence the pattern refusal model gives it."""
    options: list[Option] = []
    for found in sentences.values():
        top = max(found, key=lambda c: c.score, default=None)
        if top is not None:
            options.append(Option(top, extract_span(top.text, kind, question), top.score,
                                  confidence_from(pattern_features(hits, top, terms)),
                                  config.abstain_threshold, sentence_coverage(top, terms)))
    return options
