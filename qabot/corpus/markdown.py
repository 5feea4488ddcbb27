"""Markdown seeds (``.md``, ``.markdown``): front matter, headings as title and sections."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..schema import Article
from .cleaning import clean
from .dating import url_host
from .html import html_fragment_text
from .paragraphs import headline, number_paragraphs

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Simple ``key: value`` front matter between leading ``---`` lines, and the rest."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            meta[key.strip().lower()] = value
    return meta, text[match.end():]


def _inline_text(token: Any) -> str:
    """Visible text of a markdown-it inline token: markup, URLs, images and raw HTML dropped."""
    parts: list[str] = []
    for child in token.children or ():
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
    return clean("".join(parts))


def parse_markdown(name: str, text: str) -> Article:
    """Headings give title and sections; paragraphs, list items, quotes, code, tables are text."""
    from markdown_it import MarkdownIt

    meta, body = _front_matter(text)
    fm_title = clean(meta.get("title", "")) or None
    tokens = MarkdownIt("commonmark").enable("table").parse(body)

    title: str | None = fm_title
    section: str | None = None
    items: list[tuple[str, str | None]] = []
    first_block_single_line: bool | None = None  # whether the first paragraph was one source line
    row: list[str] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            heading = _inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
            i += 3
            if not heading:
                continue
            if title is None and not items:
                title = heading
            elif fm_title is not None and heading.casefold() == fm_title.casefold() and not items:
                continue
            else:
                section = heading
            continue
        if kind == "tr_open":
            row = []
        elif kind == "tr_close":
            cells = [c for c in (row or []) if c]
            if cells:
                items.append((" | ".join(cells), section))
            row = None
        elif kind == "inline" and row is not None:
            row.append(_inline_text(tok))
        elif kind == "paragraph_open" and i + 1 < len(tokens):
            para = _inline_text(tokens[i + 1])
            if para:
                if first_block_single_line is None:
                    first_block_single_line = bool(tok.map and tok.map[1] - tok.map[0] == 1)
                items.append((para, section))
            i += 3
            continue
        elif kind in ("fence", "code_block"):
            code = clean(tok.content)
            if code:
                items.append((code, section))
        elif kind == "html_block":
            fragment = html_fragment_text(tok.content)
            if fragment:
                items.append((fragment, section))
        i += 1

    if title is None:
        title, items = _title_from_body(name, items, first_block_single_line)
    url = meta.get("url") or None
    return Article(key=name, source=name, title=headline(name, title),
                   paragraphs=number_paragraphs(name, items),
                   date=meta.get("date") or meta.get("published") or None, url=url,
                   publisher=meta.get("publisher") or meta.get("source") or url_host(url))


def _title_from_body(name: str, items: list[tuple[str, str | None]],
                     first_block_single_line: bool | None
                     ) -> tuple[str, list[tuple[str, str | None]]]:
    """(title, remaining items) of a document without a heading or front-matter title.

    A short first paragraph written on one source line is the headline; otherwise the file's
    stem is the title and every paragraph is kept.
    """
    first = items[0][0] if items else ""
    if (first and first_block_single_line and len(items) > 1
            and len(first.split()) <= 20 and len(first) <= 150):
        return first, items[1:]
    return Path(name).stem, items
