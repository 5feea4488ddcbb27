"""Plain-text seeds (``.txt``): the first line is the headline, each later line a paragraph."""

from __future__ import annotations

from pathlib import Path

from ..schema import Article
from .cleaning import clean
from .paragraphs import MAX_TITLE_CHARS, lines_to_paragraphs


def parse_text(name: str, text: str) -> Article:
    """First non-empty line is the headline; each later non-empty line is a paragraph."""
    lines = [line for line in (clean(raw) for raw in text.splitlines()) if line]
    if lines and len(lines[0]) > MAX_TITLE_CHARS:  # too long for a headline: it is body text
        title, body = Path(name).stem, lines
    else:
        title = lines[0] if lines else Path(name).stem
        body = lines[1:]
    if not body and lines:  # a one-line file: its only line is both headline and paragraph
        body = lines
    return Article(key=name, source=name, title=title, paragraphs=lines_to_paragraphs(name, body))
