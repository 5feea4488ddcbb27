"""From retrieved passages to an answer: question analysis, sentence choice, typed span, refusal.

No reader model is available offline, so the answer is the passage sentence that best matches the
question, plus a typed span pulled out of it by patterns.

* **Sentence choice.** Every sentence of the top passages is scored by its cosine to the question
  (sentence vectors are precomputed at index time, so only the question is encoded), the share of
  the question's words it contains weighted by rarity (IDF from the FTS5 index, words stemmed with
  Snowball), the retrieval score of its passage, and whether it holds the kind of thing asked for
  (a number for "how many", a date for "when", a name for "who").
* **Span.** A number with its qualifier and unit ("more than 3,800 people"), a day or date, a name
  or a place, chosen among the sentence's candidates by closeness to the question's words.
* **Refusal.** ``confidence`` is a logistic score of the evidence: the best sentence and passage
  cosines and the IDF-weighted share of question words found in the chosen passage and its
  title. Below ``abstain_threshold`` the answer is withheld and the passages are offered as
  "related". The coefficients and the threshold were fitted with ``qabot eval`` (README "How answers are chosen").
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

import numpy as np

from .index import Generation
from .retriever import STOPWORDS, WORD, HybridRetriever
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
    (Kind.NUMBER, re.compile(r"\bhow\s+(many|much|old|long|far|big|large|tall|high|often|deep|"
                             r"wide|heavy|fast)\b|"
                             r"\b(what|which)\s+(number|percentage|amount|proportion|age|size|"
                             r"population)\b|\bnumber of\b", re.I)),
    (Kind.DATE, re.compile(r"\bwhen\b|\b(what|which)\s+(year|day|date|month|time|century|"
                           r"decade|period|era)\b|\bin what year\b|\bwhat year\b", re.I)),
    (Kind.PERSON, re.compile(r"\bwho(m|se)?\b|\b(what|which)\s+(person|people|leader|president|"
                             r"company|organi[sz]ation|country|group|team|man|woman|king|queen|"
                             r"emperor|author|scientist|player|nation|party|army)\b", re.I)),
    (Kind.PLACE, re.compile(r"\bwhere\b|\b(what|which)\s+(city|place|town|region|province|"
                            r"location|state|continent|river|island|area|building|stadium)\b",
                            re.I)),
]

_NUMBER_WORDS = (r"zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                 r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|"
                 r"sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|dozens?|million|"
                 r"millions|billion|billions|half|once|twice")
_QUALIFIER = (r"(?:(?:more|fewer|less)\s+than|over|under|about|around|nearly|almost|at\s+least|"
              r"at\s+most|up\s+to|some|approximately|roughly|an\s+estimated|only|just|exactly)\s+")
_UNIT = (r"%|percent|per\s+cent|million|billion|trillion|thousand|hundred|km|kilometres|"
         r"kilometers|miles?|metres|meters|m|feet|ft|inches|kg|tons?|tonnes?|years?|months?|"
         r"weeks?|days?|hours?|minutes?|seconds?|people|persons|inhabitants|residents|dollars|"
         r"euros|pounds|times|points|games|members|students|soldiers|troops|deaths|casualties")
_NUMBER = re.compile(
    rf"(?:{_QUALIFIER})?(?:[$€£]\s?)?"
    rf"(?:\d{{1,3}}(?:[,\u00a0 ]\d{{3}})+(?:\.\d+)?|\d+(?:[.,]\d+)?|"
    rf"\b(?:{_NUMBER_WORDS})\b)(?:[\s-]+(?:{_NUMBER_WORDS})\b)*"
    rf"(?:\s*(?:{_UNIT})\b)?", re.I)
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|"
          r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE = re.compile(
    rf"\b(?:(?:from\s+)?\d{{3,4}}\s*(?:to|until|-|–|and)\s*\d{{2,4}}|"
    rf"(?:{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?|"
    rf"{_MONTH}\s+\d{{4}}|"
    rf"(?:(?:last|next|this)\s+)?{_WEEKDAY}(?:\s+(?:morning|afternoon|evening|night))?|"
    rf"(?:the\s+)?(?:early\s+|late\s+|mid-?)?\d{{3,4}}s?(?:\s+(?:BC|AD|BCE|CE))?|"
    rf"(?:the\s+)?\d{{1,2}}(?:th|st|nd|rd)\s+century|"
    rf"(?:yesterday|today|last\s+(?:week|month|year)))\b", re.I)
_NAME_WORD = r"[A-Z][\w'’\-.]*"
_NAME = re.compile(rf"\b{_NAME_WORD}(?:\s+(?:(?:of|von|van|der|de|del|la|le|al|bin|du)\s+)*"
                   rf"{_NAME_WORD})*", re.UNICODE)
_PLACE_CUE = re.compile(rf"\b(?:in|at|to|from|near|into|across|on)\s+(?:the\s+)?"
                        rf"({_NAME_WORD}(?:\s+(?:of\s+)?{_NAME_WORD})*)", re.UNICODE)
# Capitalised words that start sentences or name times, never a person or a place on their own.
_NOT_NAMES = frozenset("""the a an this that these those on in at to for from by with of and but
or it he she they we i his her its their our after before during when while since however
although also as if then there here what which who where why how some many most all both each
monday tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december today yesterday president mr mrs ms dr""".split())
# ... nor the last word of a name ("Bank of" → "Bank").
_NOT_NAME_ENDS = _NOT_NAMES | {"of", "de", "von", "van", "der"}
_ASKS_YEAR = re.compile(r"\b(?:what|which)\s+year\b", re.I)
_PRONOUN_START = re.compile(r"(?:He|She|It|They|His|Her|Its|Their|There|Then)\b")

# Sentence score weights (fitted on SQuAD v1.1 dev with `qabot eval`, see README "How answers are chosen").
_W_COSINE = 1.0
_W_OVERLAP = 0.6  # question words in the sentence
_W_CONTEXT = 0.4  # ... in the sentence and the one before it ("He" → the name said before)
_IDF_POWER = 2.0  # overlaps weight words by IDF squared: the rare words of a question decide
_W_PASSAGE = 0.5  # the passage's retrieval score relative to the best passage
_W_KIND = 0.2
# Refusal model: confidence = sigmoid(bias + sum(weight * feature)).
_CONFIDENCE_BIAS = -11.5
_CONFIDENCE_WEIGHTS = {"sentence_cosine": 11.3, "passage_cosine": 6.5, "coverage": 7.2}


def question_kind(question: str) -> Kind:
    """The kind of answer ``question`` asks for."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return Kind.OTHER


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"'})
_DIGIT_GROUP = re.compile(r"(?<=\d)[,\u00a0 ](?=\d{3}\b)")


def fold(text: str) -> str:
    """Case-, accent-, quote- and digit-group-insensitive form used to compare words."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_QUOTES)
    return _DIGIT_GROUP.sub("", text.lower())


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    """The Snowball English stemmer, loaded once."""
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem of a folded word; numbers are kept whole."""
    return word if word.isdigit() else _stemmer().stemWord(word)


def word_stems(text: str) -> list[str]:
    """Stems of the words of ``text`` after folding (so "3,800" → "3800", "Nursultán" →
    "nursultan")."""
    return [stem(w) for w in WORD.findall(fold(text))]


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """Knobs of answer selection (from ``Settings``)."""

    abstain_threshold: float = 0.3
    top_k: int = 3
    passages_considered: int = 5


@dataclass(frozen=True, slots=True)
class QuestionTerms:
    """The question's content-word stems with their IDF weights."""

    stems: tuple[str, ...]
    idf: tuple[float, ...]

    def coverage(self, stems: set[str], power: float = 1.0) -> float:
        """IDF-weighted share of the question's words found in ``stems`` (weights IDF**power)."""
        total = sum(w ** power for w in self.idf)
        if not total:
            return 0.0
        return sum(w ** power for s, w in zip(self.stems, self.idf) if s in stems) / total


def question_terms(question: str, generation: Generation) -> QuestionTerms:
    """Stems of ``question``'s content words with IDF weights from ``generation``'s FTS index."""
    n = max(int(generation.counts.get("passages", 1)), 1)
    idf: dict[str, float] = {}
    for word in WORD.findall(fold(question)):
        if word in STOPWORDS or len(word) < 2 and not word.isdigit():
            continue
        s = stem(word)
        if s in idf:
            continue
        df = generation.document_frequency(word)
        # Smoothed so that a word in every passage still counts a little (small corpora).
        idf[s] = 1.0 + math.log((n + 1) / (df + 1))
    return QuestionTerms(stems=tuple(idf), idf=tuple(idf.values()))


@dataclass(frozen=True, slots=True)
class _Candidate:
    """The best-scoring sentence so far: its passage, character span and scores."""

    hit: Hit
    hit_rank: int
    start: int
    end: int
    score: float
    cosine: float
    previous: tuple[int, int] | None = None  # the sentence before, for "He ..." answers


class Answerer:
    """Turns a question into an ``Answer`` using a retriever and an index generation."""

    def __init__(self, retriever: HybridRetriever, config: AnswerConfig | None = None) -> None:
        self.retriever = retriever
        self.config = config or AnswerConfig()

    def answer(self, generation: Generation, question: str, k: int | None = None,
               search_text: str | None = None, query_vector: np.ndarray | None = None,
               hits: list[Hit] | None = None) -> Answer:
        """Answer ``question``; ``search_text`` (a follow-up rewritten with its context) is what
        is searched for when given. ``query_vector`` and ``hits`` skip work already done."""
        k = k or self.config.top_k
        query = search_text or question
        if query_vector is None:
            query_vector = self.retriever.embedder.embed_query(query)
        if hits is None:
            hits = self.retriever.search(generation, query,
                                         k=max(k, self.config.passages_considered),
                                         query_vector=query_vector)
        if not hits:
            return Answer(question=question, text=None, span=None, abstained=True)
        kind = question_kind(question)
        terms = question_terms(query, generation)
        best = self._best_sentence(generation, hits, query_vector, terms, kind)
        features = self._features(hits, best, terms)
        confidence = confidence_from(features)
        citations = tuple(_citation(h) for h in hits[:k])
        sentence = best.hit.passage.text[best.start:best.end] if best is not None else None
        debug = {"kind": kind.value, "sentence": sentence, **features}
        if best is None or sentence is None or confidence < self.config.abstain_threshold:
            return Answer(question=question, text=None, span=None, abstained=True,
                          related=citations, confidence=confidence, debug=debug)
        span = extract_span(sentence, kind, question)
        if span is None and best.previous and _PRONOUN_START.match(sentence):
            # "He is also considered the mentor…": the name is in the sentence before.
            span = extract_span(best.hit.passage.text[slice(*best.previous)], kind, question)
        # The passage holding the chosen sentence is cited first.
        ordered = [best.hit] + [h for h in hits if h is not best.hit]
        return Answer(question=question, text=sentence, span=span, abstained=False,
                      citations=tuple(_citation(h) for h in ordered[:k]), confidence=confidence,
                      debug=debug)

    def _best_sentence(self, generation: Generation, hits: list[Hit], query_vector: np.ndarray,
                       terms: QuestionTerms, kind: Kind) -> _Candidate | None:
        """The highest-scoring sentence of the top passages (README "How answers are chosen")."""
        considered = hits[: self.config.passages_considered]
        spans = generation.sentences([h.passage.row for h in considered])
        top_score = considered[0].score or 1.0
        best: _Candidate | None = None
        for rank, hit in enumerate(considered):
            rows = spans.get(hit.passage.row) or []
            if not rows:
                continue
            vectors = generation.sentence_vectors[[r for r, _, _ in rows]]
            cosines = vectors @ query_vector
            relative = hit.score / top_score if top_score > 0 else 0.0
            stems = [set(word_stems(hit.passage.text[start:end])) for _, start, end in rows]
            for j, ((_, start, end), cosine) in enumerate(zip(rows, cosines)):
                sentence = hit.passage.text[start:end]
                context = stems[j] | stems[j - 1] if j else stems[j]
                score = (_W_COSINE * float(cosine)
                         + _W_OVERLAP * terms.coverage(stems[j], _IDF_POWER)
                         + _W_CONTEXT * terms.coverage(context, _IDF_POWER)
                         + _W_PASSAGE * relative + _W_KIND * _kind_match(sentence, kind))
                if best is None or score > best.score:
                    previous = (rows[j - 1][1], rows[j - 1][2]) if j else None
                    best = _Candidate(hit, rank, start, end, score, float(cosine), previous)
        return best

    @staticmethod
    def _features(hits: list[Hit], best: _Candidate | None,
                  terms: QuestionTerms) -> dict[str, float]:
        """The refusal model's inputs (the names of ``_CONFIDENCE_WEIGHTS``)."""
        if best is None:
            return {"sentence_cosine": 0.0, "passage_cosine": 0.0, "coverage": 0.0}
        passage = best.hit.passage
        stems = set(word_stems(f"{passage.title} {passage.text}"))
        return {"sentence_cosine": best.cosine,
                "passage_cosine": max((h.dense_score or 0.0) for h in hits[:3]),
                "coverage": terms.coverage(stems)}


def confidence_from(features: dict[str, float]) -> float:
    """The refusal model: a logistic score in (0, 1) of the evidence ``features``."""
    z = _CONFIDENCE_BIAS + sum(w * features.get(name, 0.0)
                               for name, w in _CONFIDENCE_WEIGHTS.items())
    return 1.0 / (1.0 + math.exp(-z))


def _kind_match(sentence: str, kind: Kind) -> float:
    """1.0 when ``sentence`` holds the kind of thing asked for (a number, a date, a name)."""
    if kind is Kind.NUMBER:
        return 1.0 if re.search(r"\d", sentence) or _NUMBER.search(sentence) else 0.0
    if kind is Kind.DATE:
        return 1.0 if _DATE.search(sentence) else 0.0
    if kind in (Kind.PERSON, Kind.PLACE):
        return 1.0 if any(_clean_name(m.group(0)) for m in _NAME.finditer(sentence, 1)) else 0.0
    return 0.0


def extract_span(sentence: str, kind: Kind, question: str) -> str | None:
    """The phrase of ``sentence`` that answers a ``kind`` question, or None."""
    question_words = set(word_stems(question))
    if kind is Kind.NUMBER:
        return _closest_match(sentence, _NUMBER, question_words)
    if kind is Kind.DATE:
        date = _closest_match(sentence, _DATE, question_words)
        year = re.search(r"\b\d{3,4}s?\b", date or "")
        if date and year and _ASKS_YEAR.search(question):
            return year.group(0)  # "In what year…?" → "2014", not "June 4, 2014"
        return date
    if kind is Kind.PLACE:
        places = [m for m in _PLACE_CUE.finditer(sentence)
                  if _clean_name(m.group(1)) and not _in_question(m.group(1), question_words)]
        if places:
            chosen = _closest_to_terms(sentence, places, question_words)
            return _clean_name(chosen.group(1))
    if kind in (Kind.PERSON, Kind.PLACE):
        # Judge the cleaned name: "President X" must not pass as new when X is in the question.
        names = [m for m in _NAME.finditer(sentence)
                 if (cleaned := _clean_name(m.group(0))) and not _in_question(cleaned, question_words)
                 and not (m.start() == 0 and " " not in m.group(0))]  # "Despite", "Instead"
        if names:
            return _clean_name(_closest_to_terms(sentence, names, question_words).group(0))
    return None


def _clean_name(phrase: str) -> str | None:
    """``phrase`` without leading words that are not names ("This Friday" → None)."""
    words = phrase.rstrip(".").split()
    while words and words[0].lower().strip("'’") in _NOT_NAMES:
        words.pop(0)
    while words and words[-1].lower() in _NOT_NAME_ENDS:
        words.pop()
    return " ".join(words) or None


def _in_question(phrase: str, question_words: set[str]) -> bool:
    """True when every content word of ``phrase`` is already in the question."""
    words = [w for w in word_stems(phrase) if w not in STOPWORDS]
    return bool(words) and all(w in question_words for w in words)


def _closest_match(sentence: str, pattern: re.Pattern[str],
                   question_words: set[str]) -> str | None:
    """The ``pattern`` match nearest the question's words that does not merely repeat them."""
    matches = [m for m in pattern.finditer(sentence) if m.group(0).strip()
               and not _in_question(m.group(0), question_words)]
    if not matches:
        return None
    return _closest_to_terms(sentence, matches, question_words).group(0).strip()


def _closest_to_terms(sentence: str, matches: list[re.Match[str]],
                      question_words: set[str]) -> re.Match[str]:
    """The match nearest (in characters) to a word of the question; the first on ties."""
    anchors = [m.start() for m in WORD.finditer(sentence)
               if m.group(0).lower() not in STOPWORDS
               and stem(fold(m.group(0))) in question_words]
    if not anchors:
        return matches[0]

    def distance(match: re.Match[str]) -> int:
        return min(min(abs(a - match.start()), abs(a - match.end())) for a in anchors)

    return min(matches, key=distance)


def _citation(hit: Hit) -> Citation:
    """How ``hit`` is cited in an answer."""
    p = hit.passage
    return Citation(source=p.source, paragraph=p.paragraph, text=p.text, score=hit.score,
                    title=p.title, section=p.section)
