"""Body lines and (text, section) items → numbered paragraphs; the heading rule; headlines.

Paragraph numbers are 1-based in reading order over body paragraphs; titles and section headings
are not paragraphs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..schema import Paragraph
from .boilerplate import drop_boilerplate, is_boilerplate
from .cleaning import clean

log = logging.getLogger(__name__)

# A line this short, without closing punctuation, is a section heading (plain text and JSONL).
_HEADING_MAX_WORDS = 12
_HEADING_MAX_CHARS = 80
#: A title is stored with every passage of its article, so one that is longer is cut.
MAX_TITLE_CHARS = 200
_TRAILING_CLOSERS = "’”\"')]}»›"
_CLOSING_PUNCT = frozenset(".!?…:;,")


def is_short(line: str) -> bool:
    """Whether ``line`` is short enough to be a heading or a headline."""
    return len(line) <= _HEADING_MAX_CHARS and len(line.split()) <= _HEADING_MAX_WORDS


def ends_with_punctuation(line: str) -> bool:
    """Whether ``line`` ends like a sentence (closing quotes and brackets aside)."""
    stripped = line.rstrip(_TRAILING_CLOSERS + " ")
    return bool(stripped) and stripped[-1] in _CLOSING_PUNCT


def _is_heading(line: str) -> bool:
    """A short line without closing punctuation, e.g. ``‘Order restored’``."""
    return is_short(line) and not ends_with_punctuation(line)


def _has_words(line: str) -> bool:
    return any(ch.isalnum() for ch in line)


def lines_to_paragraphs(name: str, lines: Iterable[str]) -> tuple[Paragraph, ...]:
    """Plain-text body lines → paragraphs; short unpunctuated lines become section headings.

    Lines without any letter or digit (``***``, ``—``) are separators and dropped. If the
    heading rule would leave no paragraph at all, the "headings" are kept as paragraphs.
    A byline or other boilerplate line is neither (see :func:`drop_boilerplate`).
    """
    items: list[tuple[bool, str]] = []
    for raw in lines:
        line = clean(raw)
        if line and _has_words(line):
            items.append((_is_heading(line), line))
    if not any(not heading for heading, _ in items):
        items = [(False, line) for _, line in items]
    paragraphs: list[tuple[str, str | None]] = []
    section: str | None = None
    for heading, line in items:
        if not heading:
            paragraphs.append((line, section))
        elif not is_boilerplate(line):  # "By Jane Doe" is no section heading
            section = line
    return number_paragraphs(name, paragraphs)


def number_paragraphs(name: str, items: Sequence[tuple[str, str | None]]) -> tuple[Paragraph, ...]:
    """(text, section) items → numbered paragraphs, boilerplate dropped first."""
    return tuple(Paragraph(number=i, text=text, section=section)
                 for i, (text, section) in enumerate(drop_boilerplate(name, items), start=1))


def headline(name: str, title: str) -> str:
    """``title`` cut at a word to ``MAX_TITLE_CHARS`` (with a warning naming the file)."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    log.warning("%s: title longer than %d characters cut", name, MAX_TITLE_CHARS)
    cut = title[:MAX_TITLE_CHARS]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
