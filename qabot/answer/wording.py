"""How a question is worded: misspelt words corrected, questions not in English recognised.

* **Spelling.** A question word that is neither in the index nor an English word ("peple",
  "arested") is replaced by the closest word of the index's own vocabulary (symspellpy, edit
  distance ≤ 1 for words up to 5 letters, ≤ 2 beyond, the most frequent on ties). A real English
  word the articles lack is left alone, so a question about something absent stays absent.
* **Language.** When most words are unknown both to the index and to English, py3langid names
  the language and qabot says that it reads questions in English instead of "the articles do not
  say".

English words come from the frequency list shipped inside symspellpy (82,765 words), read only
when a question holds a word the index does not know.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from ..text import LETTER_WORD

log = logging.getLogger(__name__)

#: Below this share of known words a question is checked for another language.
KNOWN_SHARE_FOR_ENGLISH = 0.5
_LANGUAGE_CONFIDENCE = 0.9
_LANGUAGE_NAMES = {
    "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "uk": "Ukrainian", "pl": "Polish", "tr": "Turkish",
    "kk": "Kazakh", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ar": "Arabic",
    "fa": "Persian", "hi": "Hindi", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
    "fi": "Finnish", "cs": "Czech", "el": "Greek", "he": "Hebrew", "ro": "Romanian",
    "hu": "Hungarian", "id": "Indonesian", "vi": "Vietnamese",
}


@dataclass(frozen=True, slots=True)
class Wording:
    """A question as qabot will read it: ``text`` after corrections, the ``corrections`` made
    (``(typed, read as)`` pairs), and ``language`` when the question is not in English."""

    original: str
    text: str
    corrections: tuple[tuple[str, str], ...] = ()
    language: str | None = None

    @property
    def english(self) -> bool:
        """True unless the question was recognised as another language."""
        return self.language is None


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """The words of symspellpy's English frequency dictionary."""
    path = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    with path.open(encoding="utf-8") as fh:
        return frozenset(line.split(" ", 1)[0] for line in fh)


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def language_of(text: str) -> tuple[str, float]:
    """py3langid's language code for ``text`` and its probability."""
    code, probability = _language_identifier().classify(text)
    return str(code), float(probability)


def language_name(code: str) -> str:
    """A readable name for an ISO 639-1 ``code`` (the code itself when unlisted)."""
    return _LANGUAGE_NAMES.get(code, code)


class SpellingCorrector:
    """Closest vocabulary word for a misspelt one (symspellpy over the index's words)."""

    def __init__(self, counts: Mapping[str, int], max_distance: int = 2) -> None:
        from symspellpy import SymSpell

        self.max_distance = max_distance
        self._symspell = SymSpell(max_dictionary_edit_distance=max_distance)
        for word, count in counts.items():
            if len(word) >= 3 and word.isalpha():
                self._symspell.create_dictionary_entry(word, count)

    def correct(self, word: str) -> str | None:
        """The vocabulary word ``word`` most likely meant, or None when none is close."""
        from symspellpy import Verbosity

        allowed = 1 if len(word) <= 5 else self.max_distance
        found = self._symspell.lookup(word.lower(), Verbosity.CLOSEST, max_edit_distance=allowed)
        if not found or found[0].distance == 0:
            return None
        return str(found[0].term)


class WordingChecker:
    """Corrects and classifies questions for one index generation.

    ``known(word)`` tells whether the index holds a (folded) word; ``vocabulary()`` gives every
    word with its count and is only called, once, when a correction is needed.
    """

    def __init__(self, known: Callable[[str], bool], vocabulary: Callable[[], Mapping[str, int]],
                 spelling: bool = True) -> None:
        self._known = known
        self._vocabulary = vocabulary
        self.spelling = spelling
        self._corrector: SpellingCorrector | None = None
        self._lock = threading.Lock()

    def corrector(self) -> SpellingCorrector:
        """The spelling corrector over this index's words, built on first use."""
        with self._lock:
            if self._corrector is None:
                counts = self._vocabulary()
                log.info("building the spelling dictionary from %d index words", len(counts))
                self._corrector = SpellingCorrector(counts)
            return self._corrector

    def check(self, question: str) -> Wording:
        """``question`` with misspelt words corrected, or marked as not English."""
        words = list(LETTER_WORD.finditer(question))
        unknown = [m for m in words if not self._known(m.group(0).lower())]
        if not unknown:
            return Wording(question, question)
        english = english_words()
        foreign = [m for m in unknown if m.group(0).lower() not in english]
        if words and len(foreign) / len(words) > 1 - KNOWN_SHARE_FOR_ENGLISH:
            code, probability = language_of(question)
            if code != "en" and probability >= _LANGUAGE_CONFIDENCE:
                log.info("question in %s (p=%.2f): %r", code, probability, question)
                return Wording(question, question, language=code)
        if not self.spelling:
            return Wording(question, question)
        corrections: list[tuple[str, str]] = []
        pieces: list[str] = []
        last = 0
        for match in foreign:
            typed = match.group(0)
            if len(typed) < 4:
                continue
            meant = self.corrector().correct(typed)
            if meant is None:
                continue
            meant = meant.capitalize() if typed[:1].isupper() else meant
            corrections.append((typed, meant))
            pieces += [question[last:match.start()], meant]
            last = match.end()
        if not corrections:
            return Wording(question, question)
        text = "".join(pieces) + question[last:]
        log.info("question read as %r", text)
        return Wording(question, text, tuple(corrections))
