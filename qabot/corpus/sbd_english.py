"""pysbd's English rules with a cheaper abbreviation pass that gives the same output.

pysbd spends about two thirds of its time in ``AbbreviationReplacer.
search_for_abbreviations_in_string``: for each of its ~190 abbreviations found in a text it
compiles two patterns (through ``re``'s cache, which the many patterns overflow) and then, for
every place the abbreviation starts a word (" p" matches " people"), re-runs a substitution over
the whole text, almost always changing nothing. The subclass below keeps pysbd's loop and calls
its own ``scan_for_replacements``, and changes only how often work is repeated:

- the two patterns per abbreviation are compiled once per process (the same pattern strings and
  flags as pysbd's);
- the second pattern, ``(?<={abbr} ).{1}``, reads its braces literally (they enclose letters,
  not a repeat count), so it can only match a text that contains "{": other texts skip it;
- a ``scan_for_replacements`` call is skipped when the same call (same matched string, same
  following character) already left the current text unchanged. The call is a pure function of
  the text, the matched string and that character, so skipping it cannot change the result.

It plugs in through pysbd's own per-language hook (a language class's ``AbbreviationReplacer``),
only on the pysbd release whose loop it repeats; any other release gets stock English. Checked
segment for segment against stock pysbd on every paragraph of SQuAD v1.1 dev and ``seeds/``
(``tests/test_corpus.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

#: The pysbd release whose ``search_for_abbreviations_in_string`` the subclass repeats.
PYSBD_VERSION = "0.3.4"


@lru_cache(maxsize=None)
def _pattern(source: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(source, flags)


def english_language() -> type:
    """pysbd's English language class with the faster abbreviation pass (a subclass); stock
    English on a pysbd release other than ``PYSBD_VERSION``."""
    import pysbd
    from pysbd.lang.english import English

    if getattr(pysbd, "__version__", None) != PYSBD_VERSION:
        return English

    class _Replacer(English.AbbreviationReplacer):  # type: ignore[name-defined,misc]
        def search_for_abbreviations_in_string(self, text: str) -> str:
            # pysbd 0.3.4's loop, with compiled patterns and repeated no-op calls skipped.
            lowered = text.lower()
            for abbr in self.lang.Abbreviation.ABBREVIATIONS:
                stripped = abbr.strip()
                if stripped not in lowered:
                    continue
                abbrev_match = _pattern(r"(?:^|\s|\r|\n){}".format(stripped),
                                        re.IGNORECASE).findall(text)
                if not abbrev_match:
                    continue
                next_word_start = r"(?<={" + str(re.escape(stripped)) + "} ).{1}"
                if "{" not in text and stripped.replace(".", "").isalpha():
                    char_array = []  # the braces are literal: this pattern needs a "{"
                else:
                    char_array = _pattern(next_word_start).findall(text)
                unchanged: set[tuple[str, Any]] = set()
                for ind, match in enumerate(abbrev_match):
                    key = (match, char_array[ind] if ind < len(char_array) else "")
                    if key in unchanged:
                        continue
                    replaced = self.scan_for_replacements(text, match, ind, char_array)
                    if replaced == text:
                        unchanged.add(key)
                    else:
                        text = replaced
                        unchanged.clear()
            return text

    class FastEnglish(English):  # type: ignore[misc]
        AbbreviationReplacer = _Replacer

    return FastEnglish
