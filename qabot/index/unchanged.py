"""The seed files a build finds unchanged: their articles and passages carried over from the
generation whose vectors it reuses, instead of being read and parsed again (on either engine).

A file is unchanged when that generation recorded the same content hash for it as discovery
computed now. Both generations list files in discovery order (sorted by name), so one walk
over the old tables, in row order, finds each unchanged file's rows after the previous one's:
memory stays per file. Each file's rows are counted against the old tables, so rows out of that
order make the file parsed again, never lost. What the old build skipped in such a file is
reported again.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

from .. import corpus
from ..schema import Article, Passage
from .parsed import ParsedFile, ParsedSeed
from .reuse import Previous
from .seeds import SeedRead

log = logging.getLogger(__name__)


class _Rows:
    """Rows of one query in order, with a look at the next one."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self.next: tuple[Any, ...] | None = next(rows, None)

    def take(self) -> tuple[Any, ...]:
        row, self.next = self.next, next(self._rows, None)
        assert row is not None
        return row


class UnchangedFiles:
    """The files of ``previous`` a build may carry over, and their rows, file by file in
    discovery order (``parsed`` must be asked in that order)."""

    def __init__(self, previous: Previous) -> None:
        db = previous.db
        self._files = {name: (content_hash, size) for name, content_hash, size
                       in db.execute("SELECT name, content_hash, size FROM files")}
        self._articles = _Rows(_query(db, "SELECT source, key, title, date, url, publisher, "
                                          "dated_by FROM articles ORDER BY rowid"))
        self._passages = _Rows(_query(db, "SELECT source, article_key, title, paragraph, "
                                          "window, text, section FROM passages ORDER BY row"))
        self._skipped = previous.skipped
        # What each file holds, to check every walk: rows out of discovery order (a generation
        # written some other way) must fall back to parsing, never drop a file's articles.
        self._counts = {source: (articles, passages) for source, articles, passages in db.execute(
            "SELECT source, COUNT(DISTINCT article_key), COUNT(*) FROM passages GROUP BY source")}

    def holds(self, seed: corpus.SeedFile) -> bool:
        """True when the old generation has this file, with these very contents."""
        return (seed.problem is None and bool(seed.content_hash)
                and self._files.get(seed.name, ("", 0))[0] == seed.content_hash)

    def parsed(self, seed: corpus.SeedFile) -> ParsedSeed | None:
        """The file's articles and passages as the old generation holds them (articles dated
        by arrival are dated again by the build); None when its rows are not where the walk
        expects them (the caller parses the file instead)."""
        name = seed.name
        articles: list[Article] = []
        passages: list[list[tuple[Passage, None]]] = []
        _skip_before(self._articles, name)
        _skip_before(self._passages, name)
        while self._articles.next is not None and self._articles.next[0] == name:
            _, key, title, date, url, publisher, dated_by = self._articles.take()
            if dated_by == "indexed":
                date = dated_by = None
            articles.append(Article(key=key, source=name, title=title, paragraphs=(), date=date,
                                    url=url, publisher=publisher, dated_by=dated_by))
            own: list[tuple[Passage, None]] = []
            while (self._passages.next is not None and self._passages.next[0] == name
                   and self._passages.next[1] == key):
                _, _, p_title, paragraph, window, text, section = self._passages.take()
                own.append((Passage(article_key=key, source=name, title=p_title,
                                    paragraph=paragraph, window=window, text=text,
                                    section=section), None))
            passages.append(own)
        found = (len([a for a, own in zip(articles, passages) if own]),
                 sum(len(own) for own in passages))
        if found != self._counts.get(name, (0, 0)):
            log.warning("%s: its rows in the reused generation are out of order; parsing it "
                        "again", name)
            return None
        skipped = [corpus.skip(s["path"], s["reason"]) for s in self._skipped
                   if _in_file(s["path"], name)]
        content_hash, size = self._files[name]
        return ParsedSeed(ParsedFile(articles, passages, skipped),
                          SeedRead(name, content_hash, size))


def _query(db: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sql``, fetched in batches (the old tables are never loaded whole)."""
    cursor = db.execute(sql)
    while batch := cursor.fetchmany(2048):
        yield from batch


def _skip_before(rows: _Rows, name: str) -> None:
    """Pass the rows of files sorted before ``name`` (changed or removed since)."""
    while rows.next is not None and rows.next[0] < name:
        rows.take()


def _in_file(path: str, name: str) -> bool:
    """True when a skipped entry's ``path`` is the file ``name`` or one of its lines."""
    return path == name or (path.startswith(f"{name}:") and path[len(name) + 1:].isdigit())

