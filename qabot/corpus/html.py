"""HTML seeds (``.html``, ``.htm``): the visible paragraphs of a page, its title, date and URL
(read by :mod:`.html_meta`).

Every walk over the tree is iterative and linear, so a deeply nested page is no limit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import Article
from .cleaning import clean
from .html_meta import page_meta
from .paragraphs import headline, number_paragraphs

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "nav", "footer",
                        "aside", "form", "svg", "iframe", "object", "embed", "canvas", "title",
                        "meta", "link"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "header", "hgroup",
    "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}) | _HEADING_TAGS
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


def _strip_invisible(soup: BeautifulSoup) -> None:
    """Remove what a reader never sees: scripts, styles, chrome, hidden elements.

    One pass over the tree with an explicit stack, never entering a removed element: the cost is
    linear in the page however deeply it nests. (Asking bs4 for ``tag.decomposed`` searched the
    element's whole subtree for a child tag named ``_decomposed``: quadratic, 8,000 nested
    spans took 28 s.)
    """
    from bs4 import Tag

    stack: list[Any] = [soup]
    while stack:
        node = stack.pop()
        for child in list(node.contents):
            if not isinstance(child, Tag):
                continue
            name = (child.name or "").lower()
            attrs = child.attrs or {}
            if (name in _DROP_TAGS or "hidden" in attrs
                    or _HIDDEN_STYLE_RE.search(str(attrs.get("style", "")))):
                child.decompose()
            elif name == "br":
                child.replace_with("\n")
            else:
                stack.append(child)


def _block_holders(root: Any) -> set[int]:
    """``id()`` of every tag under ``root`` that has a block-level tag among its descendants.

    One bottom-up pass (reversed document order visits children before their parents), so the
    walker need not search each element's subtree again, which is quadratic on deep nesting.
    """
    from bs4 import Tag

    holders: set[int] = set()
    for node in reversed(list(root.descendants)):
        if isinstance(node, Tag) and ((node.name or "").lower() in _BLOCK_TAGS
                                      or id(node) in holders):
            if node.parent is not None:
                holders.add(id(node.parent))
    return holders


def _outer_cells(row: Tag) -> list[Tag]:
    """The ``td``/``th`` cells of a table row, not those of tables nested inside its cells."""
    from bs4 import Tag

    cells: list[Tag] = []
    stack: list[Any] = list(reversed(row.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if (node.name or "").lower() in ("td", "th"):
                cells.append(node)
            else:
                stack.extend(reversed(node.contents))
    return cells


def _raw_text(tag: Tag) -> str:
    """All text under ``tag`` (comments and declarations excluded), as is."""
    from bs4 import NavigableString

    return "".join(str(s) for s in tag.descendants
                   if isinstance(s, NavigableString) and type(s) is NavigableString)


def _visible_text(tag: Tag) -> str:
    """All text under ``tag`` (comments and declarations excluded), cleaned."""
    return clean(_raw_text(tag))


def html_fragment_text(fragment: str) -> str:
    """Visible text of an HTML fragment embedded in Markdown."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    _strip_invisible(soup)
    return _visible_text(soup)


class _HtmlWalker:
    """Collects the title, section headings and paragraphs of a cleaned HTML tree in order."""

    def __init__(self) -> None:
        self.h1: str | None = None
        self.section: str | None = None
        self.items: list[tuple[str, str | None]] = []
        self._buffer: list[str] = []

    def _emit(self, text: str) -> None:
        text = clean(text)
        if text:
            self.items.append((text, self.section))

    def _flush(self) -> None:
        if self._buffer:
            self._emit("".join(self._buffer))
            self._buffer = []

    def walk(self, root: Any) -> None:
        """Collect everything under ``root``; iterative, so nesting depth is no limit."""
        from bs4 import NavigableString, Tag

        holders = _block_holders(root)
        stack = [iter(list(root.children))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                if stack:  # the end of an element that held blocks ends a paragraph too
                    self._flush()
                continue
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a Comment, Doctype, CData...
                    self._buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _HEADING_TAGS:
                self._flush()
                heading = _visible_text(child)
                if not heading:
                    continue
                if name == "h1" and self.h1 is None:
                    self.h1 = heading
                else:
                    self.section = heading
            elif name == "tr":
                self._flush()
                cells = [_visible_text(c) for c in _outer_cells(child)]
                self._emit(" | ".join(c for c in cells if c))
            elif name == "pre":
                self._flush()
                self._emit(_visible_text(child))
            elif name in _BLOCK_TAGS:
                self._flush()
                if id(child) in holders:
                    stack.append(iter(list(child.children)))
                else:
                    self._emit(_visible_text(child))
            elif id(child) in holders:  # inline element wrapping blocks
                self._flush()
                stack.append(iter(list(child.children)))
            else:
                self._buffer.append(_raw_text(child))

    def finish(self) -> None:
        self._flush()


def parse_html(name: str, text: str) -> Article:
    """Visible paragraphs of an HTML page; first <h1> (else <title>) is the title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    meta = page_meta(soup)
    _strip_invisible(soup)
    walker = _HtmlWalker()
    walker.walk(soup.body if soup.body is not None else soup)
    walker.finish()
    title = walker.h1 or meta.title or Path(name).stem
    return Article(key=name, source=name, title=headline(name, title),
                   paragraphs=number_paragraphs(name, walker.items), date=meta.date,
                   url=meta.url, publisher=meta.publisher)
