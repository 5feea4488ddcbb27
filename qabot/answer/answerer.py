"""From retrieved passages to an answer: wording, the reader, sentence choice, typed span, refusal.

* **Wording.** Misspelt words are corrected against the index's vocabulary and a question not in
  English is answered with a sentence saying so (``wording.py``).
* **Reader (default).** The shipped extractive reader (``qabot/reader``) reads the question with
  the top ``reader_passages`` passages in one batched call. Each passage's best span is scored by
  the reader's margin over "no answer" plus, weighted, its passage's retrieval score relative to
  the best one and the pattern path's score of the sentence holding it; the winner is the short
  answer, the sentence holding it the answer sentence, and its passage is cited first. The typed
  patterns are the sanity check: a how-many span keeps one number, and a how-many or who span
  holding no number or name is replaced by the patterns' pick in that sentence
  (``reading.py``).
* **Patterns (``reader = "off"``).** Every sentence of the top passages is scored by its cosine to
  the question (sentence vectors are precomputed at index time), the share of the question's
  words it contains weighted by rarity (IDF from the FTS5 index, words stemmed with Snowball), the
  retrieval score of its passage, and whether it holds the kind of thing asked for; the span is
  pulled out of it by patterns (a number with its qualifier and unit, a date, a name, a place):
  ``sentences.py``, ``spans.py``.
* **Refusal.** ``confidence`` is a logistic score of the evidence: the reader's no-answer margin
  (reader on), the answer sentence and passage cosines and the IDF-weighted share of question
  words found in the chosen passage and its title. Below the threshold the answer is withheld
  and the passages are offered as "related". Both refusal models were fitted on articles that
  are never reported (``refusal.py``, ``bench/fit_refusal.py``; README "How answers are
  chosen").
* **News.** When confident answers come from differently dated articles, the newest article's
  answers and the older different ones are listed in ``Answer.earlier`` (``news.py``); relative
  days in a dated answer get the day they name ("on Thursday (Jan 13)", ``days.py``); questions
  about time ("what happened on Wednesday?", "the latest on ...", "what changed since ...") are
  answered from the latest articles (``time_questions.py``, ``latest.py``). Undated articles
  are answered as above, unchanged.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, NamedTuple

from ..dates import stated_day
from ..schema import Answer, ArticleFilter, EarlierReport
from .answer_config import AnswerConfig
from .citations import answer_first, citation_from_hit
from .latest import answer_about_time
from .days import note_relative_days
from .news import Option, newest_first, pattern_options
from .reading import read_best_span
from .refusal import confidence_from, pattern_features, reader_confidence
from .sentences import Candidate, best_of, score_sentences
from .spans import PRONOUN_START, Kind, extract_span, question_kind
from .time_questions import time_question
from .terms import QuestionTerms, question_terms, with_topic
from .wording import Wording, WordingChecker, language_name

if TYPE_CHECKING:
    import numpy as np

    from ..index import Generation
    from ..reader.model import OnnxReader
    from ..retriever import HybridRetriever
    from ..schema import Hit

log = logging.getLogger(__name__)


class _Choice(NamedTuple):
    """The answer path's pick: the answer sentence, the span (reader on), the refusal model's
    inputs, and the confidence with the threshold it must reach."""

    best: Candidate | None
    span: str | None
    features: dict[str, float]
    confidence: float
    threshold: float
    options: list[Option]  # every passage's answer, when the passages are dated


class Answerer:
    """Turns a question into an ``Answer`` using a retriever, an index generation and, when
    given, the reader."""

    def __init__(self, retriever: HybridRetriever, config: AnswerConfig | None = None,
                 reader: OnnxReader | None = None) -> None:
        self.retriever = retriever
        self.config = config or AnswerConfig()
        self.reader = reader
        self._checkers: dict[str, WordingChecker] = {}

    def check_wording(self, generation: Generation, question: str) -> Wording:
        """``question`` with misspellings corrected against ``generation``, or marked as not
        English."""
        checker = self._checkers.get(generation.name)
        if checker is None:
            checker = WordingChecker(generation.holds_word, generation.word_counts,
                                     spelling=self.config.spelling)
            self._checkers = {generation.name: checker}  # one live generation at a time
        return checker.check(question)

    def answer(self, generation: Generation, question: str, k: int | None = None,
               topic: str | None = None, query_vector: np.ndarray | None = None,
               hits: list[Hit] | None = None, wording: Wording | None = None,
               article_filter: ArticleFilter | None = None) -> Answer:
        """Answer ``question``; ``topic`` is a follow-up's carried topic (``Conversation.topic``),
        searched for with the question. ``query_vector``, ``hits`` and ``wording`` skip work already
        done (they must belong to the question as corrected). ``article_filter`` limits the
        articles searched (raises ``NoArticlesMatchError`` when it leaves none)."""
        k = k or self.config.top_k
        wording = wording or self.check_wording(generation, question)
        if not wording.english:
            assert wording.language is not None
            return Answer(question=question, text=None, span=None, abstained=True,
                          notice=f"qabot reads questions in English; this one looks like "
                                 f"{language_name(wording.language)}. Please ask it in English.")
        read_as = wording.text if wording.corrections else None
        question_read = wording.text
        query = with_topic(question_read, topic)
        if query_vector is None:
            query_vector = self.retriever.embedder.embed_query(query)
        asked = time_question(question_read)
        if asked is not None and asked.topic is None and topic:
            # A follow-up ("And what is the latest?") asks about the conversation's topic.
            asked = dataclasses.replace(asked, topic=topic)
        if asked is not None and hits is None:
            timed = answer_about_time(self.retriever, self.config, generation, question, asked,
                                      article_filter, k)
            if timed is not None:
                return dataclasses.replace(timed, read_as=read_as)
        if hits is None:
            hits = self.retriever.search(generation, query,
                                         k=max(k, self.config.passages_considered),
                                         query_vector=query_vector, article_filter=article_filter)
        if not hits:
            return Answer(question=question, text=None, span=None, abstained=True,
                          read_as=read_as)
        kind = question_kind(question_read)
        choice = self._choose(generation, question_read, hits, query_vector,
                              question_terms(query, generation), kind)
        best, span, confidence = choice.best, choice.span, choice.confidence
        sentence = best.text if best is not None else None
        debug = {"kind": kind.value, "sentence": sentence, "span": span, **choice.features}
        if best is None or sentence is None or choice.confidence < choice.threshold:
            return Answer(question=question, text=None, span=None, abstained=True,
                          related=tuple(citation_from_hit(h) for h in hits[:k]),
                          confidence=choice.confidence, read_as=read_as, debug=debug)
        earlier: tuple[EarlierReport, ...] = ()
        mine = next((o for o in choice.options if o.candidate is best), None)
        if mine is not None:
            chosen, earlier = newest_first(mine, choice.options, kind)
            if chosen is not mine:
                debug["newest_article"] = chosen.source
            best, span, confidence = chosen.candidate, chosen.span, chosen.confidence
            sentence = best.text
        if span is None:
            span = extract_span(sentence, kind, question_read)
            if span is None and best.previous and PRONOUN_START.match(sentence):
                # "He is also considered the mentor…": the name is in the sentence before.
                span = extract_span(best.hit.passage.text[slice(*best.previous)], kind,
                                    question_read)
        day = stated_day(best.hit.passage.date)
        return Answer(question=question, text=note_relative_days(sentence, day),
                      span=note_relative_days(span, day) if span else span, abstained=False,
                      citations=answer_first(best.hit, hits, k), confidence=confidence,
                      read_as=read_as, earlier=earlier, debug=debug)

    def _choose(self, generation: Generation, question: str, hits: list[Hit],
                query_vector: np.ndarray, terms: QuestionTerms, kind: Kind) -> _Choice:
        """The answer sentence (and, reader on, span) with the evidence for it."""
        config = self.config
        if self.reader is not None:
            best, span, features, options = read_best_span(
                self.reader, config, generation, question, hits, query_vector, terms, kind)
            confidence, threshold = reader_confidence(features, config.reader_threshold,
                                                      config.abstain_threshold)
            return _Choice(best, span, features, confidence, threshold, options)
        considered = hits[: config.passages_considered]
        sentences = score_sentences(generation, considered, query_vector, terms, kind)
        best = best_of(sentences)
        features = pattern_features(hits, best, terms)
        options = (pattern_options(sentences, hits, terms, kind, question, config)
                   if best is not None and best.hit.passage.date else [])
        return _Choice(best, None, features, confidence_from(features),
                       config.abstain_threshold, options)
