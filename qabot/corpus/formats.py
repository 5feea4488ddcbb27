"""The seed formats: ONE table from a file suffix to the parser that reads it.

To add a format, write a module with a parser and register its suffixes in :data:`PARSERS`;
discovery (:data:`SUFFIXES`), the folder watcher and reading all follow this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..schema import Article
from .html import parse_html
from .jsonl import parse_jsonl
from .markdown import parse_markdown
from .plain import parse_text
from .skipped import SkippedFile, skip

#: A parser: (seed name, decoded text with ``\n`` line ends) → (articles, skipped entries).
Parser = Callable[[str, str], tuple[list[Article], list[SkippedFile]]]


def _one_article(parse: Callable[[str, str], Article]) -> Parser:
    """A parser for formats of one article per file: a file without paragraphs is skipped."""

    def parse_file(name: str, text: str) -> tuple[list[Article], list[SkippedFile]]:
        article = parse(name, text)
        if not article.paragraphs:
            return [], [skip(name, "no paragraphs found")]
        return [article], []

    return parse_file


_PLAIN = _one_article(parse_text)
_MARKDOWN = _one_article(parse_markdown)
_HTML = _one_article(parse_html)

PARSERS: Mapping[str, Parser] = MappingProxyType({
    ".txt": _PLAIN,
    ".md": _MARKDOWN,
    ".markdown": _MARKDOWN,
    ".html": _HTML,
    ".htm": _HTML,
    ".jsonl": parse_jsonl,
})
#: The suffixes (lower case) of the files discovery lists and the watcher reacts to.
SUFFIXES: frozenset[str] = frozenset(PARSERS)


def parser_for(suffix: str) -> Parser:
    """The parser for a (lower-case) file suffix; an unknown one is read as plain text."""
    return PARSERS.get(suffix, _PLAIN)
