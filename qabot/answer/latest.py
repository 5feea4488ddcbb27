"""Answers to questions about time ("What happened on Wednesday?", "What is the latest on the
protests?", "What changed since yesterday?") from the latest articles.

The day a question names is read against the newest article's date (``days.resolve_day``).
"What happened on <day>?" is answered by a sentence naming that day in the newest article
(published on or after it) that has one. "The latest (on <topic>)" and "what changed since
<day>" are answered by the lead of the newest relevant article (published on or after the day);
for "since" the older relevant articles' leads become ``Answer.earlier``, newest first. A
corpus without dates, or a question these rules cannot answer, goes the ordinary way. These
answers come from rules, not the refusal model: a topic must be found in the passage
(``_TOPIC_COVERAGE``), a day named in the sentence; ``confidence`` is then 1.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from ..dates import from_iso, stated_day
from ..schema import Answer, ArticleFilter, EarlierReport
from .citations import answer_first
from .days import days_in, note_relative_days, resolve_day
from .terms import question_terms, word_stems
from .time_questions import TimeAsk, TimeQuestion

if TYPE_CHECKING:
    from ..index import Generation
    from ..retriever import HybridRetriever
    from ..schema import Hit
    from .answer_config import AnswerConfig

log = logging.getLogger(__name__)

_TOPIC_COVERAGE = 0.5  # share of a topic's (IDF-weighted) words a relevant passage must hold


def answer_about_time(retriever: HybridRetriever, config: AnswerConfig, generation: Generation,
                      question: str, asked: TimeQuestion, article_filter: ArticleFilter | None,
                      k: int) -> Answer | None:
    """The answer to a question about time from the latest articles, or None to answer it the
    ordinary way (no dated article, no day named that the rules can read, nothing found)."""
    newest = max((d for _, _, text in generation.articles() if (d := from_iso(text))),
                 default=None)
    if newest is None:
        return None
    day = resolve_day(asked.day, newest) if asked.day else None
    if asked.day and day is None:
        return None
    hits = retriever.search(generation, asked.topic or question,
                            k=2 * max(k, config.passages_considered),
                            article_filter=article_filter)
    dated = [h for h in hits if from_iso(h.passage.date) is not None]
    if asked.topic:
        terms = question_terms(asked.topic, generation)
        dated = [h for h in dated if terms.coverage(
            set(word_stems(f"{h.passage.title} {h.passage.text}"))) >= _TOPIC_COVERAGE]
    if not dated:
        return None
    if asked.ask is TimeAsk.ON_DAY:
        assert day is not None
        found = _on_day(generation, dated, day)
    else:
        found = _leads(generation, dated, day if asked.ask is TimeAsk.SINCE else None)
    if found is None:
        return None
    hit, sentence, earlier = found
    log.debug("time question %s answered from %s", asked, hit.passage.source)
    return Answer(question=question,
                  text=note_relative_days(sentence, stated_day(hit.passage.date)), span=None,
                  abstained=False, citations=answer_first(hit, dated, k),
                  confidence=1.0, earlier=earlier if asked.ask is TimeAsk.SINCE else (),
                  debug={"kind": f"time:{asked.ask.value}", "day": str(day) if day else None})


def _day(hit: Hit) -> date:
    """The publication day of a dated hit's article."""
    day = from_iso(hit.passage.date)
    assert day is not None
    return day


def _newest_first(hits: list[Hit]) -> list[Hit]:
    """``hits`` from the newest article first, by rank within a day (the sort is stable)."""
    return sorted(hits, key=_day, reverse=True)


def _sentences(generation: Generation, hit: Hit) -> list[str]:
    """The sentences of ``hit``'s passage (the whole passage when it has no sentence spans)."""
    spans = generation.sentences([hit.passage.row]).get(hit.passage.row) or []
    text = hit.passage.text
    return [text[start:end] for _, start, end in spans] or [text]


def _on_day(generation: Generation, hits: list[Hit], day: date
            ) -> tuple[Hit, str, tuple[EarlierReport, ...]] | None:
    """The first sentence naming ``day`` in the newest article (published on or after ``day``)
    that has one, the best-ranked passage first within an article."""
    for hit in _newest_first(hits):
        published = _day(hit)
        if published < day:
            continue
        for sentence in _sentences(generation, hit):
            if day in days_in(sentence, published):
                return hit, sentence, ()
    return None


def _leads(generation: Generation, hits: list[Hit], since: date | None
           ) -> tuple[Hit, str, tuple[EarlierReport, ...]] | None:
    """The lead of the newest article among ``hits`` (published on or after ``since``), and
    the older articles' leads, newest first."""
    by_article: dict[str, Hit] = {}
    for hit in _newest_first(hits):
        first = by_article.get(hit.passage.source)
        if first is None or hit.passage.paragraph < first.passage.paragraph:
            by_article[hit.passage.source] = hit
    ordered = _newest_first(list(by_article.values()))
    newest = ordered[0]
    if since is not None and _day(newest) < since:
        return None
    earlier = tuple(EarlierReport(span=note_relative_days(_sentences(generation, h)[0],
                                                        stated_day(h.passage.date)),
                                  published=h.passage.date, source=h.passage.source,
                                  paragraph=h.passage.paragraph)
                    for h in ordered[1:] if _day(h) < _day(newest))
    return newest, _sentences(generation, newest)[0], earlier

