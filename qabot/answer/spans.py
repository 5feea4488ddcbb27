"""Typed answers: what kind of thing a question asks for, and the phrase of a sentence that is one.

``question_kind`` reads the question's wh-word ("how many" → a number, "when" → a date, "who" →
a person, "where" → a place). ``extract_span`` pulls such a phrase out of an answer sentence with
patterns (a number with its qualifier and unit, a date, a name, a place after "in"/"at"/...),
preferring the match nearest the question's words that does not merely repeat them. With the
reader on, the same patterns are its sanity check (``holds_kind``, ``one_number``).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING

from ..text import STOPWORDS, WORD, fold
from .terms import stem, word_stems

if TYPE_CHECKING:
    from ..reader.model import Span

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
PRONOUN_START = re.compile(r"(?:He|She|It|They|His|Her|Its|Their|There|Then)\b")


def question_kind(question: str) -> Kind:
    """The kind of answer ``question`` asks for."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return Kind.OTHER



def kind_match(sentence: str, kind: Kind) -> float:
    """1.0 when ``sentence`` holds the kind of thing asked for (a number, a date, a name)."""
    if kind is Kind.NUMBER:
        return 1.0 if re.search(r"\d", sentence) or _NUMBER.search(sentence) else 0.0
    if kind is Kind.DATE:
        return 1.0 if _DATE.search(sentence) else 0.0
    if kind in (Kind.PERSON, Kind.PLACE):
        return 1.0 if any(_clean_name(m.group(0)) for m in _NAME.finditer(sentence, 1)) else 0.0
    return 0.0


def one_number(passage: str, span: Span, question: str) -> str | None:
    """When a how-many ``span`` holds several numbers ("18 dead and 748"), the one nearest the
    question's words in the passage; None when it holds one or none."""
    inside = [m for m in _NUMBER.finditer(passage, span.start, span.end) if m.group(0).strip()]
    if len(inside) < 2:
        return None
    chosen = _closest_to_terms(passage, inside, set(word_stems(question)))
    return chosen.group(0).strip()


def holds_kind(span: str, kind: Kind) -> bool:
    """False when a number or person question's ``span`` holds no number or name."""
    if kind is Kind.NUMBER:
        return bool(_NUMBER.search(span))
    if kind is Kind.PERSON:
        return any(_clean_name(m.group(0)) for m in _NAME.finditer(span))
    return True


def is_kind(span: str, kind: Kind) -> bool:
    """True when ``span`` is (or holds) the kind of thing asked for: a number, a date, a name;
    any span answers a question of no particular kind."""
    if kind is Kind.DATE:
        return bool(_DATE.search(span))
    return holds_kind(span, Kind.PERSON if kind is Kind.PLACE else kind)


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

