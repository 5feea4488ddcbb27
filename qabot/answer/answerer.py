"""From retrieved passages to an answer: wording, the reader, sentence choice, typed span, refusal.

* **Wording.** Misspelt words are corrected against the index's vocabulary and a question not in
  English is answered with a sentence saying so (``wording.py``).
* **Reader (default).** The shipped extractive reader (``qabot/reader``) reads the question with
  the top ``reader_passages`` passages in one batched call. Each passage's best span is scored by
  the reader's margin over "no answer" plus, weighted, its passage's retrieval score relative to
  the best one and the pattern path's score of the sentence holding it; the winner is the short
  answer, the sentence holding it the answer sentence, and its passage is cited first. The typed
  patterns are the sanity check: a how-many span keeps one number, and a how-many or who span
  holding no number or name is replaced by the patterns' pick in that sentence.
* **Patterns (``reader = "off"``).** Every sentence of the top passages is scored by its cosine to
  the question (sentence vectors are precomputed at index time), the share of the question's
  words it contains weighted by rarity (IDF from the FTS5 index, words stemmed with Snowball), the
  retrieval score of its passage, and whether it holds the kind of thing asked for; the span is
  pulled out of it by patterns (a number with its qualifier and unit, a date, a name, a place).
* **Refusal.** ``confidence`` is a logistic score of the evidence: the reader's no-answer margin
  (reader on), the answer sentence and passage cosines and the IDF-weighted share of question
  words found in the chosen passage and its title. Below the threshold the answer is withheld
  and the passages are offered as "related". Both refusal models were fitted on articles that
  are never reported (``bench/fit_refusal.py``; README "How answers are chosen").
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..index import Generation
from ..retriever import HybridRetriever
from ..text import STOPWORDS, WORD, fold
from ..schema import Answer, Citation, Hit
from .wording import WordingChecker, Wording, language_name

if TYPE_CHECKING:
    from ..reader.model import OnnxReader, Span

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
# With the reader: the same kind of model with the reader's margin over "no answer" added
# (fitted by bench/fit_refusal.py on the reader's tune articles, never on reported ones).
_READER_CONFIDENCE_BIAS = -5.467
_READER_CONFIDENCE_WEIGHTS = {"reader_margin": 0.08, "sentence_cosine": 3.671,
                              "best_sentence_cosine": 6.273, "passage_cosine": 0.633,
                              "coverage": -0.371}


def question_kind(question: str) -> Kind:
    """The kind of answer ``question`` asks for."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return Kind.OTHER


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
    reader_passages: int = 3
    reader_threshold: float = 0.263
    # A span's score across passages: reader margin + this × its passage's retrieval score
    # relative to the best passage's (both fitted on the tune articles: bench/fit_refusal.py).
    reader_retrieval_weight: float = 8.0
    reader_sentence_weight: float = 8.0  # × the pattern path's score of the span's sentence
    spelling: bool = True


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
    start: int
    end: int
    score: float
    cosine: float
    previous: tuple[int, int] | None = None  # the sentence before, for "He ..." answers


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
               search_text: str | None = None, query_vector: np.ndarray | None = None,
               hits: list[Hit] | None = None, wording: Wording | None = None) -> Answer:
        """Answer ``question``; ``search_text`` (a follow-up rewritten with its context) is what
        is searched for when given. ``query_vector``, ``hits`` and ``wording`` skip work already
        done (they must belong to the question as corrected)."""
        k = k or self.config.top_k
        wording = wording or self.check_wording(generation, question)
        if not wording.english:
            assert wording.language is not None
            return Answer(question=question, text=None, span=None, abstained=True,
                          notice=f"qabot reads questions in English; this one looks like "
                                 f"{language_name(wording.language)}. Please ask it in English.")
        read_as = wording.text if wording.corrections else None
        question_read = wording.text
        query = search_text or question_read
        if query_vector is None:
            query_vector = self.retriever.embedder.embed_query(query)
        if hits is None:
            hits = self.retriever.search(generation, query,
                                         k=max(k, self.config.passages_considered),
                                         query_vector=query_vector)
        if not hits:
            return Answer(question=question, text=None, span=None, abstained=True,
                          read_as=read_as)
        kind = question_kind(question_read)
        terms = question_terms(query, generation)
        if self.reader is not None:
            best, span, features = self._read(generation, question_read, hits, query_vector,
                                              terms, kind)
            confidence = confidence_from(features, _READER_CONFIDENCE_BIAS,
                                         _READER_CONFIDENCE_WEIGHTS)
            threshold = self.config.reader_threshold
            if (confidence < threshold and features["reader_margin"] > 0
                    and features["pattern_confidence"] >= self.config.abstain_threshold):
                # The reader prefers a span and the sentence evidence alone would answer: the
                # SQuAD-fitted model undervalues word coverage, which decides on small corpora
                # ("Who is Ursula von der Leyen?" over one article).
                confidence, threshold = features["pattern_confidence"], self.config.abstain_threshold
        else:
            best = self._best_sentence(generation, hits, query_vector, terms, kind)
            features = self._features(hits, best, terms)
            confidence = confidence_from(features)
            threshold = self.config.abstain_threshold
            span = None
        citations = tuple(citation_from_hit(h) for h in hits[:k])
        sentence = best.hit.passage.text[best.start:best.end] if best is not None else None
        debug = {"kind": kind.value, "sentence": sentence, "span": span, **features}
        if best is None or sentence is None or confidence < threshold:
            return Answer(question=question, text=None, span=None, abstained=True,
                          related=citations, confidence=confidence, read_as=read_as,
                          debug=debug)
        if span is None:
            span = extract_span(sentence, kind, question_read)
            if span is None and best.previous and _PRONOUN_START.match(sentence):
                # "He is also considered the mentor…": the name is in the sentence before.
                span = extract_span(best.hit.passage.text[slice(*best.previous)], kind,
                                    question_read)
        return Answer(question=question, text=sentence, span=span, abstained=False,
                      citations=_answer_first(best.hit, hits, k), confidence=confidence,
                      read_as=read_as, debug=debug)

    def _read(self, generation: Generation, question: str, hits: list[Hit],
              query_vector: np.ndarray, terms: QuestionTerms, kind: Kind
              ) -> tuple[_Candidate | None, str | None, dict[str, float]]:
        """The reader's best span over the top passages, the sentence holding it, and the
        refusal model's inputs. A span's score: the reader's margin over "no answer", plus
        weighted retrieval evidence: its passage's score relative to the best passage, and the
        pattern path's score of the sentence holding it."""
        assert self.reader is not None
        config = self.config
        considered = hits[: config.reader_passages]
        spans = self.reader.read(question, [h.passage.text for h in considered])
        sentences = self._sentences(generation, considered, query_vector, terms, kind)
        top_score = considered[0].score or 1.0
        scored: list[tuple[float, Span, _Candidate]] = []
        for hit, span in zip(considered, spans):
            if span is None:
                continue
            holding = _sentence_holding(hit, sentences.get(hit.passage.row, []), span)
            relative = hit.score / top_score if top_score > 0 else 0.0
            scored.append((span.margin + config.reader_retrieval_weight * relative
                           + config.reader_sentence_weight * holding.score, span, holding))
        if not scored:
            return None, None, {**_reader_features(None, hits, terms), "pattern_confidence": 0.0}
        _, span, best = max(scored, key=lambda item: item[0])
        best_sentence = max((c for cs in sentences.values() for c in cs),
                            key=lambda c: c.score, default=None)
        best_cosine = max((c.cosine for cs in sentences.values() for c in cs), default=0.0)
        pattern = confidence_from(self._features(hits, best_sentence, terms))
        text = " ".join(span.text.split()).strip(" ,;:")
        if kind is Kind.NUMBER:
            text = _one_number(best.hit.passage.text, span, question) or text
        if not _holds_kind(text, kind):
            # The typed patterns as a sanity check: a how-many answer holds a number, a who
            # answer a name; else the patterns' pick in the same sentence, when they have one.
            sentence = best.hit.passage.text[best.start:best.end]
            text = extract_span(sentence, kind, question) or text
        return best, text or None, {**_reader_features(span, hits, terms, best, best_cosine),
                                    "pattern_confidence": pattern}

    def _sentences(self, generation: Generation, hits: list[Hit], query_vector: np.ndarray,
                   terms: QuestionTerms, kind: Kind) -> dict[int, list[_Candidate]]:
        """Every sentence of ``hits`` by passage row, scored as the pattern path scores them
        (README "How answers are chosen")."""
        spans = generation.sentences([h.passage.row for h in hits])
        top_score = hits[0].score or 1.0
        scored: dict[int, list[_Candidate]] = {}
        for hit in hits:
            rows = spans.get(hit.passage.row) or []
            if not rows:
                continue
            vectors = generation.sentence_vectors[[r for r, _, _ in rows]]
            cosines = vectors @ query_vector
            relative = hit.score / top_score if top_score > 0 else 0.0
            stems = [set(word_stems(hit.passage.text[start:end])) for _, start, end in rows]
            found = scored.setdefault(hit.passage.row, [])
            for j, ((_, start, end), cosine) in enumerate(zip(rows, cosines)):
                sentence = hit.passage.text[start:end]
                context = stems[j] | stems[j - 1] if j else stems[j]
                score = (_W_COSINE * float(cosine)
                         + _W_OVERLAP * terms.coverage(stems[j], _IDF_POWER)
                         + _W_CONTEXT * terms.coverage(context, _IDF_POWER)
                         + _W_PASSAGE * relative + _W_KIND * _kind_match(sentence, kind))
                previous = (rows[j - 1][1], rows[j - 1][2]) if j else None
                found.append(_Candidate(hit, start, end, score, float(cosine), previous))
        return scored

    def _best_sentence(self, generation: Generation, hits: list[Hit], query_vector: np.ndarray,
                       terms: QuestionTerms, kind: Kind) -> _Candidate | None:
        """The highest-scoring sentence of the top passages."""
        considered = hits[: self.config.passages_considered]
        found = self._sentences(generation, considered, query_vector, terms, kind)
        return max((c for cs in found.values() for c in cs), key=lambda c: c.score,
                   default=None)

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


def confidence_from(features: dict[str, float], bias: float = _CONFIDENCE_BIAS,
                    weights: dict[str, float] | None = None) -> float:
    """A refusal model: a logistic score in (0, 1) of the evidence ``features``."""
    z = bias + sum(w * features.get(name, 0.0)
                   for name, w in (weights or _CONFIDENCE_WEIGHTS).items())
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def _sentence_holding(hit: Hit, sentences: list[_Candidate], span: Span) -> _Candidate:
    """The scored sentence of ``hit`` in which ``span`` starts, extended to the end of the
    sentence where it ends should it cross one (the whole passage when the index holds no
    sentence spans for it)."""
    if not sentences:
        return _Candidate(hit, 0, len(hit.passage.text), 0.0, hit.dense_score or 0.0)
    first = next((c for c in sentences if span.start < c.end), sentences[-1])
    last = next((c for c in sentences if span.end <= c.end), sentences[-1])
    return dataclasses.replace(first, end=max(first.end, last.end))


def _reader_features(span: Span | None, hits: list[Hit], terms: QuestionTerms,
                     best: _Candidate | None = None,
                     best_cosine: float = 0.0) -> dict[str, float]:
    """The reader refusal model's inputs (the names of ``_READER_CONFIDENCE_WEIGHTS``): the
    span's margin, its sentence's cosine, the best sentence cosine of the passages read, the
    best passage cosine and the question words' coverage of the answer's passage."""
    if span is None or best is None:
        return {"reader_margin": -20.0, "sentence_cosine": 0.0, "best_sentence_cosine": 0.0,
                "passage_cosine": 0.0, "coverage": 0.0}
    passage = best.hit.passage
    return {"reader_margin": span.margin, "sentence_cosine": best.cosine,
            "best_sentence_cosine": best_cosine,
            "passage_cosine": max((h.dense_score or 0.0) for h in hits[:3]),
            "coverage": terms.coverage(set(word_stems(f"{passage.title} {passage.text}")))}


def _kind_match(sentence: str, kind: Kind) -> float:
    """1.0 when ``sentence`` holds the kind of thing asked for (a number, a date, a name)."""
    if kind is Kind.NUMBER:
        return 1.0 if re.search(r"\d", sentence) or _NUMBER.search(sentence) else 0.0
    if kind is Kind.DATE:
        return 1.0 if _DATE.search(sentence) else 0.0
    if kind in (Kind.PERSON, Kind.PLACE):
        return 1.0 if any(_clean_name(m.group(0)) for m in _NAME.finditer(sentence, 1)) else 0.0
    return 0.0


def _one_number(passage: str, span: Span, question: str) -> str | None:
    """When a how-many ``span`` holds several numbers ("18 dead and 748"), the one nearest the
    question's words in the passage; None when it holds one or none."""
    inside = [m for m in _NUMBER.finditer(passage, span.start, span.end) if m.group(0).strip()]
    if len(inside) < 2:
        return None
    chosen = _closest_to_terms(passage, inside, set(word_stems(question)))
    return chosen.group(0).strip()


def _holds_kind(span: str, kind: Kind) -> bool:
    """False when a number or person question's ``span`` holds no number or name."""
    if kind is Kind.NUMBER:
        return bool(_NUMBER.search(span))
    if kind is Kind.PERSON:
        return any(_clean_name(m.group(0)) for m in _NAME.finditer(span))
    return True


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


def citation_from_hit(hit: Hit, score: float | None = None) -> Citation:
    """How ``hit`` is cited in an answer (with its retrieval score unless ``score`` is given)."""
    p = hit.passage
    return Citation(source=p.source, paragraph=p.paragraph, text=p.text,
                    score=hit.score if score is None else score, title=p.title, section=p.section)


def _answer_first(answer_hit: Hit, hits: list[Hit], k: int) -> tuple[Citation, ...]:
    """The top ``k`` citations, best first: the passage holding the answer, then the others by
    retrieval score. The answer step ranked the answer's passage above passages that retrieval
    scored higher, so it carries the best score of the list: the scores read best first, like
    the order (a passage retrieval put first keeps its own score)."""
    others = sorted((h for h in hits if h is not answer_hit), key=lambda h: h.score,
                    reverse=True)
    top = max(h.score for h in hits)
    return (citation_from_hit(answer_hit, score=max(answer_hit.score, top)),
            *(citation_from_hit(h) for h in others[: k - 1]))
