"""When qabot first indexed each seed file, kept from generation to generation, and the date it
gives the articles no file or dateline dates.

The live generation's ``files`` table records a first-indexed timestamp per file name; the next
build carries it over for every file still there (unchanged or changed, and through
``--rebuild``), and a file seen for the first time gets the build's time. So undated articles
sort in the order their files arrived, and an unchanged re-index changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from ..dates import timestamp
from ..errors import IndexCorruptError
from ..schema import Article
from .generation import connect_read_only
from .manifest import read_manifest
from .reuse import Live
from .store import IndexStore

log = logging.getLogger(__name__)


def first_indexed(store: IndexStore, live: Live, names: Iterable[str]) -> dict[str, str]:
    """File name → when it was first indexed, for every one of ``names``: carried over from the
    newest readable generation (the live one first), now for a file it does not hold."""
    earlier = _recorded(store, live)
    now = timestamp()
    return {name: earlier.get(name) or now for name in names}


def date_by_arrival(articles: Sequence[Article], arrived: dict[str, str]) -> list[Article]:
    """``articles``, each one without a date dated by when its file was first indexed."""
    return [article if article.date or article.source not in arrived
            else dataclasses.replace(article, date=arrived[article.source], dated_by="indexed")
            for article in articles]


def _recorded(store: IndexStore, live: Live) -> dict[str, str]:
    """The first-indexed table of the newest generation that can be read, {} when none."""
    candidates = [live.name] if live.name else []
    candidates += [n for n in reversed(store.generations()) if n != live.name]
    for name in candidates:
        try:
            return _read_first_indexed(store, name)
        except (sqlite3.Error, OSError, IndexCorruptError, ValueError) as exc:
            log.warning("cannot read when files were first indexed from %s: %s", name, exc)
    return {}


def _read_first_indexed(store: IndexStore, name: str) -> dict[str, str]:
    """Generation ``name``'s first-indexed times; an index from before they were recorded
    (format 2) gives its files the time the generation was built."""
    path = store.root / name
    db = connect_read_only(path)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(files)")}
        if "first_indexed" in columns:
            return dict(db.execute("SELECT name, first_indexed FROM files"))
        names = [n for (n,) in db.execute("SELECT name FROM files")]
    finally:
        db.close()
    built = timestamp(datetime.fromisoformat(read_manifest(path)["created_at"]))
    return dict.fromkeys(names, built)
