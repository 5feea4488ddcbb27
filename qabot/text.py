"""Words as qabot compares them: tokens, stopwords, folding. Shared by retrieval, answers,
conversation and the fake embedder, so all of them agree on what a word is."""

from __future__ import annotations

import re
import unicodedata

# Function words that carry no topic; dropping them keeps BM25 from matching on "the" and "was".
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
whose why will with would you your yours yourself yourselves many much did does also say said
tell told according called known
""".split())

# A word as qabot compares them (lexical query terms here, question and sentence words in answer.py).
WORD = re.compile(r"\w+", re.UNICODE)


def content_terms(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` without stopwords, in order, de-duplicated."""
    seen: dict[str, None] = {}
    for token in WORD.findall(text.lower()):
        if token not in STOPWORDS and token not in seen:
            seen[token] = None
    return list(seen)

#: A run of letters: the words the index vocabulary and the spelling checks are made of.
LETTER_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"'})
_DIGIT_GROUP = re.compile(r"(?<=\d)[,\u00a0 ](?=\d{3}\b)")


def fold(text: str) -> str:
    """Case-, accent-, quote- and digit-group-insensitive form used to compare words."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_QUOTES)
    return _DIGIT_GROUP.sub("", text.lower())
