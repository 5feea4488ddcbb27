"""From retrieved passages to an answer: question analysis, sentence choice, typed span, refusal.

No reader model is available offline, so the answer is the passage sentence that best matches the
question (dense similarity from vectors precomputed at index time, term overlap, the passage's
retrieval score, and whether the sentence holds the kind of thing asked for), plus a typed span
pulled out of it by patterns: a number with its qualifier and unit, a date, a name, a place.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .index import Generation
from .retriever import HybridRetriever, content_terms
from .schema import Answer, Citation, Hit

log = logging.getLogger(__name__)


class Kind(str, Enum):
    """What sort of answer a question asks for."""

    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    OTHER = "other"


_KIND_PATTERNS: list[tuple[Kind, re.Pattern[str]]] = [
    (Kind.NUMBER, re.compile(r"\bhow\s+(many|much|old|long|far|big|large|tall|high|often)\b|"
                             r"\b(what|which)\s+(number|percentage|amount|proportion)\b|"
                             r"\bnumber of\b", re.I)),
    (Kind.DATE, re.compile(r"\bwhen\b|\b(what|which)\s+(year|day|date|month|time|century)\b|"
                           r"\bin what year\b", re.I)),
    (Kind.PERSON, re.compile(r"\bwho(m|se)?\b|\b(what|which)\s+(person|people|leader|president|"
                             r"company|organi[sz]ation|country|group|team)\b", re.I)),
    (Kind.PLACE, re.compile(r"\bwhere\b|\b(what|which)\s+(city|place|town|region|province|"
                            r"location|state)\b", re.I)),
]

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                 r"forty|fifty|hundred|hundreds|thousand|thousands|dozens?|million|millions")
_QUALIFIER = (r"(?:(?:more|fewer|less)\s+than|over|under|about|around|nearly|almost|at\s+least|"
              r"at\s+most|up\s+to|some|approximately|roughly|an\s+estimated|only|just)\s+")
_NUMBER = re.compile(
    rf"(?:{_QUALIFIER})?(?:[$€£]\s?)?(?:\d{{1,3}}(?:[,\u00a0 ]\d{{3}})+|\d+(?:[.,]\d+)?|"
    rf"\b(?:{_NUMBER_WORDS})\b)"
    r"(?:\s*(?:%|percent|per\s+cent|million|billion|thousand|hundred|km|kilometres|kilometers|"
    r"miles|metres|meters|feet|years?|months?|days?|hours?|people|inhabitants|dollars|euros))?",
    re.I)
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE = re.compile(
    rf"\b(?:from\s+\d{{3,4}}\s+(?:to|until|-|–)\s+\d{{3,4}}|"
    rf"(?:on\s+)?(?:{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?|"
    rf"(?:in\s+)?{_MONTH}\s+\d{{4}}|"
    rf"(?:(?:last|next|this|on|on\s+the)\s+)?{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?|"
    rf"(?:in\s+)?(?:the\s+)?\d{{4}}s?|"
    rf"\d{{1,2}}(?:th|st|nd|rd)\s+century|"
    rf"(?:yesterday|today|last\s+(?:week|month|year)))\b", re.I)
_NAME = re.compile(r"\b[A-Z][\w'’\-]*(?:\s+(?:(?:von|van|der|de|del|la|le|al|bin|du)\s+)*"
                   r"[A-Z][\w'’\-]*)*", re.UNICODE)
_PLACE_CUE = re.compile(r"\b(?:in|at|to|from|near|into|across)\s+(?:the\s+)?"
                        r"([A-Z][\w'’\-]*(?:\s+[A-Z][\w'’\-]*)*)", re.UNICODE)


def question_kind(question: str) -> Kind:
    """The kind of answer ``question`` asks for."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return Kind.OTHER


def fold(text: str) -> str:
    """Case-, accent- and digit-group-insensitive form used to compare words."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"(?<=\d)[,\u00a0 ](?=\d{3}\b)", "", text.lower())


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 else word


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """Knobs of answer selection (from ``Settings``)."""

    abstain_threshold: float = 0.5
    top_k: int = 3
    passages_considered: int = 5


@dataclass(frozen=True, slots=True)
class _Candidate:
    hit: Hit
    hit_rank: int
    start: int
    end: int
    score: float
    cosine: float


class Answerer:
    """Turns a question into an ``Answer`` using a retriever and an index generation."""

    def __init__(self, retriever: HybridRetriever, config: AnswerConfig | None = None) -> None:
        self.retriever = retriever
        self.config = config or AnswerConfig()

    def answer(self, generation: Generation, question: str, k: int | None = None,
               search_text: str | None = None) -> Answer:
        """Answer ``question``; ``search_text`` (a follow-up rewritten with its context) is what
        is searched for when given."""
        k = k or self.config.top_k
        query = search_text or question
        query_vector = self.retriever.embedder.embed_query(query)
        hits = self.retriever.search(generation, query, k=max(k, self.config.passages_considered),
                                     query_vector=query_vector)
        if not hits:
            return Answer(question=question, text=None, span=None, abstained=True)
        kind = question_kind(question)
        terms = content_terms(query)
        best = self._best_sentence(generation, hits, query_vector, terms, kind)
        confidence = self._confidence(hits, best, terms)
        citations = tuple(_citation(h) for h in hits[:k])
        if best is None or confidence < self.config.abstain_threshold:
            return Answer(question=question, text=None, span=None, abstained=True,
                          related=citations, confidence=confidence)
        sentence = best.hit.passage.text[best.start:best.end]
        span = extract_span(sentence, kind, question)
        # The passage holding the chosen sentence is cited first.
        ordered = [best.hit] + [h for h in hits if h is not best.hit]
        return Answer(question=question, text=sentence, span=span, abstained=False,
                      citations=tuple(_citation(h) for h in ordered[:k]), confidence=confidence,
                      debug={"kind": kind.value, "sentence_cosine": best.cosine})

    def _best_sentence(self, generation: Generation, hits: list[Hit], query_vector: np.ndarray,
                       terms: list[str], kind: Kind) -> _Candidate | None:
        considered = hits[: self.config.passages_considered]
        spans = generation.sentences([h.passage.row for h in considered])
        stems = {_stem(fold(t)) for t in terms}
        top_score = considered[0].score or 1.0
        best: _Candidate | None = None
        for rank, hit in enumerate(considered):
            rows = spans.get(hit.passage.row, [])
            if not rows:
                continue
            vectors = generation.sentence_vectors[[r for r, _, _ in rows]]
            cosines = vectors @ query_vector
            for (_, start, end), cosine in zip(rows, cosines):
                sentence = hit.passage.text[start:end]
                words = {_stem(w) for w in re.findall(r"\w+", fold(sentence))}
                overlap = len(stems & words) / len(stems) if stems else 0.0
                score = (0.55 * float(cosine) + 0.25 * overlap
                         + 0.15 * (hit.score / top_score) + 0.1 * _kind_match(sentence, kind))
                if best is None or score > best.score:
                    best = _Candidate(hit, rank, start, end, score, float(cosine))
        return best

    @staticmethod
    def _confidence(hits: list[Hit], best: _Candidate | None, terms: list[str]) -> float:
        if best is None:
            return 0.0
        passage_words = {_stem(w) for w in re.findall(r"\w+", fold(best.hit.passage.text))}
        stems = [_stem(fold(t)) for t in terms]
        coverage = sum(s in passage_words for s in stems) / len(stems) if stems else 0.0
        dense = max((h.dense_score or 0.0) for h in hits[:3])
        return 0.5 * dense + 0.3 * best.cosine + 0.2 * coverage


def _kind_match(sentence: str, kind: Kind) -> float:
    if kind is Kind.NUMBER:
        return 1.0 if re.search(r"\d", sentence) or _NUMBER.search(sentence) else 0.0
    if kind is Kind.DATE:
        return 1.0 if _DATE.search(sentence) else 0.0
    if kind in (Kind.PERSON, Kind.PLACE):
        return 1.0 if _NAME.search(sentence[1:]) else 0.0
    return 0.0


def extract_span(sentence: str, kind: Kind, question: str) -> str | None:
    """The phrase of ``sentence`` that answers a ``kind`` question, or None."""
    question_words = {_stem(w) for w in re.findall(r"\w+", fold(question))}
    if kind is Kind.NUMBER:
        return _closest_match(sentence, _NUMBER, question_words, need_digit=False)
    if kind is Kind.DATE:
        return _closest_match(sentence, _DATE, question_words)
    if kind is Kind.PLACE:
        for match in _PLACE_CUE.finditer(sentence):
            if not _in_question(match.group(1), question_words):
                return match.group(1)
    if kind in (Kind.PERSON, Kind.PLACE):
        names = [m for m in _NAME.finditer(sentence)
                 if not _in_question(m.group(0), question_words) and not _is_sentence_start(m, sentence)]
        if names:
            return _closest_to_terms(sentence, names, question_words).group(0)
    return None


def _is_sentence_start(match: re.Match[str], sentence: str) -> bool:
    """A capitalised word that opens the sentence is usually not a name (unless multi-word)."""
    return match.start() == 0 and " " not in match.group(0)


def _in_question(phrase: str, question_words: set[str]) -> bool:
    words = [_stem(w) for w in re.findall(r"\w+", fold(phrase))]
    return bool(words) and all(w in question_words for w in words)


def _closest_match(sentence: str, pattern: re.Pattern[str], question_words: set[str],
                   need_digit: bool = False) -> str | None:
    matches = [m for m in pattern.finditer(sentence) if m.group(0).strip()
               and not _in_question(m.group(0), question_words)]
    if need_digit:
        matches = [m for m in matches if re.search(r"\d", m.group(0))]
    if not matches:
        return None
    return _closest_to_terms(sentence, matches, question_words).group(0).strip()


def _closest_to_terms(sentence: str, matches: list[re.Match[str]],
                      question_words: set[str]) -> re.Match[str]:
    """The match nearest (in characters) to a word of the question; the first on ties."""
    anchors = [m.start() for m in re.finditer(r"\w+", sentence)
               if _stem(fold(m.group(0))) in question_words]
    if not anchors:
        return matches[0]

    def distance(match: re.Match[str]) -> int:
        return min(min(abs(a - match.start()), abs(a - match.end())) for a in anchors)

    return min(matches, key=distance)


def _citation(hit: Hit) -> Citation:
    p = hit.passage
    return Citation(source=p.source, paragraph=p.paragraph, text=p.text, score=hit.score,
                    title=p.title, section=p.section)
