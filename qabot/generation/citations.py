"""The check every generated answer must pass: each ``[n]`` it cites names a passage the model
was shown (1 to the number of passages), and it cites at least one. Pure text, no LangChain."""

from __future__ import annotations

import re

from ..errors import GenerationError

# [1], [1, 3], [1;2]: a bracket of numbers is a citation; "[1][3]" is two of them.
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")


def cited_numbers(text: str) -> list[int]:
    """Every passage number ``text`` cites, in order of appearance (repeats kept)."""
    return [int(n) for group in _CITATION.findall(text) for n in re.split(r"[,;]", group)]


def first_invalid(text: str, passages: int) -> int | None:
    """The first number ``text`` cites that is not among passages 1 to ``passages``, else None.
    Streaming checks every chunk with it, so a bad citation stops the reply where it appears."""
    return next((n for n in cited_numbers(text) if not 1 <= n <= passages), None)


def check_citations(text: str, passages: int) -> str:
    """``text`` stripped, when every citation names one of ``passages`` numbered passages and
    there is at least one; else ``GenerationError`` saying what is wrong."""
    bad = first_invalid(text, passages)
    if bad is not None:
        raise GenerationError(f"the model cited [{bad}], but it was shown only "
                              f"{passages} passage{'' if passages == 1 else 's'}")
    if not cited_numbers(text):
        raise GenerationError("the model's reply cites no passage")
    return text.strip()
