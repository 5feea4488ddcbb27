"""One opened, verified, read-only index generation: search, passages, sentences and stats.

A generation folder holds ``passages.sqlite`` (passages, sentences, files, articles and an FTS5
table for BM25), the passage and sentence vectors as ``.npy`` files (row i = passage row i) and
FAISS's own file over the passage vectors; ``manifest.json`` describes and checksums them.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import IndexCorruptError, IndexMismatchError
from ..schema import ArticleFilter, StoredPassage
from ..text import LETTER_WORD
from .manifest import (
    FAISS_FILE,
    FORMAT_VERSION,
    PASSAGE_VECTORS,
    REBUILD_HINT,
    SENTENCE_VECTORS,
    SQLITE,
    read_manifest,
    verify_files,
)
from .vectors import search, set_search_params

log = logging.getLogger(__name__)


class ArticleSummary(NamedTuple):
    """One article as listed by :meth:`Generation.article_summaries`. ``date`` is ISO 8601: a
    day ("2022-01-08") when the file or its dateline gave it, else the UTC time qabot first
    indexed the file ("2026-12-03T13:45:12.123456Z"; ``dated_by`` says which)."""

    key: str
    source: str
    title: str
    date: str | None
    publisher: str | None
    dated_by: str | None
    passages: int


class Generation:
    """One opened, verified, read-only index generation."""

    def __init__(self, path: Path, manifest: dict[str, Any], faiss_index: Any,
                 passage_vectors: np.ndarray, sentence_vectors: np.ndarray,
                 db: sqlite3.Connection) -> None:
        self.path = path
        self.name = path.name
        self.manifest = manifest
        self.faiss_index = faiss_index
        self.passage_vectors = passage_vectors
        self.sentence_vectors = sentence_vectors
        self._db = db
        self._db_lock = threading.Lock()
        self._df_cache: dict[str, int] = {}
        self._word_counts: dict[str, int] | None = None

    @classmethod
    def open(cls, path: Path, model_id: str | None = None, verify: bool = True) -> Generation:
        """Open ``path``; raise a clear domain error when it is foreign, stale or damaged."""
        manifest = read_manifest(path)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index {path} has format version {manifest.get('format_version')}, this qabot "
                f"reads version {FORMAT_VERSION}", hint=REBUILD_HINT)
        if model_id is not None and manifest.get("model_id") != model_id:
            raise IndexMismatchError(
                f"index {path} was built with model {manifest.get('model_id')!r}, but qabot is "
                f"configured for {model_id!r}", hint=REBUILD_HINT)
        if verify:
            verify_files(path, manifest)
        import faiss

        try:
            faiss_index = faiss.read_index(str(path / FAISS_FILE))
            passage_vectors = load_vectors(path / PASSAGE_VECTORS)
            sentence_vectors = load_vectors(path / SENTENCE_VECTORS)
            db = connect_read_only(path, shared=True)
            db.execute("SELECT count(*) FROM passages").fetchone()
        except (RuntimeError, ValueError, OSError, sqlite3.DatabaseError) as exc:
            raise IndexCorruptError(f"index {path} cannot be read: {exc}",
                                    hint=REBUILD_HINT) from exc
        if faiss_index.ntotal != manifest["counts"]["passages"]:
            raise IndexCorruptError(f"index {path}: vector count does not match the manifest",
                                    hint=REBUILD_HINT)
        set_search_params(faiss_index, manifest.get("faiss_index"))
        return cls(path, manifest, faiss_index, passage_vectors, sentence_vectors, db)

    @property
    def counts(self) -> dict[str, int]:
        """Articles, passages, sentences and files in this generation."""
        return dict(self.manifest["counts"])

    def close(self) -> None:
        """Release the SQLite handle (vectors are freed with the object)."""
        with self._db_lock:
            self._db.close()

    def dense_search(self, query_vector: np.ndarray, k: int,
                     article_filter: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """Top ``k`` passage rows by inner product (cosine: vectors are normalized), only from
        the articles ``article_filter`` lets through (searched exactly) when given."""
        if not article_filter:
            return search(self.faiss_index, query_vector, k)
        rows = self.rows_matching(article_filter)
        scores = self.passage_vectors[rows] @ query_vector
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(rows[i]), float(scores[i])) for i in top]

    def rows_matching(self, article_filter: ArticleFilter) -> np.ndarray:
        """The passage rows of the articles ``article_filter`` lets through, in row order."""
        where, parameters = _article_condition(article_filter)
        found = self._query(f"SELECT p.row FROM passages p JOIN articles a "
                            f"ON a.key = p.article_key WHERE {where} ORDER BY p.row", parameters)
        return np.asarray([r for (r,) in found], dtype=np.int64)

    def lexical_search(self, match_query: str, k: int,
                       article_filter: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """Top ``k`` passage rows by FTS5 BM25 for an FTS5 MATCH expression (higher is better),
        only from the articles ``article_filter`` lets through when given."""
        if not match_query:
            return []
        where, parameters = _article_condition(article_filter or ArticleFilter())
        with self._db_lock:
            try:
                rows = self._db.execute(
                    "SELECT rowid, -bm25(passages_fts, 1.0, 0.5, 0.5) FROM passages_fts "
                    "WHERE passages_fts MATCH ? AND rowid IN (SELECT p.row FROM passages p "
                    f"JOIN articles a ON a.key = p.article_key WHERE {where}) "
                    "ORDER BY bm25(passages_fts, 1.0, 0.5, 0.5) LIMIT ?",
                    (match_query, *parameters, k)).fetchall()
            except sqlite3.OperationalError as exc:
                log.warning("lexical search failed for %r: %s", match_query, exc)
                return []
        return [(int(r), float(s)) for r, s in rows]

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """All rows of one query; the connection is shared by threads, one query at a time."""
        with self._db_lock:
            return self._db.execute(sql, parameters).fetchall()

    def _query_rows(self, sql: str, rows: Sequence[int]) -> list[Any]:
        """``sql`` with ``{marks}`` standing for one placeholder per row of ``rows``."""
        return self._query(sql.format(marks=",".join("?" * len(rows))), list(rows))

    def passages(self, rows: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by row, with their article's date."""
        if not rows:
            return {}
        found = self._query_rows(
            "SELECT p.row, p.source, p.title, p.paragraph, p.window, p.text, p.section, "
            "a.date, a.publisher FROM passages p JOIN articles a ON a.key = p.article_key "
            "WHERE p.row IN ({marks})", rows)
        return {r[0]: StoredPassage(row=r[0], source=r[1], title=r[2], paragraph=r[3],
                                    window=r[4], text=r[5], section=r[6], date=r[7],
                                    publisher=r[8])
                for r in found}

    def sentences(self, rows: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        """For each passage row: its sentences as ``(sentence_row, start, end)`` character spans."""
        if not rows:
            return {}
        found = self._query_rows(
            "SELECT passage_row, row, start, end FROM sentences WHERE passage_row IN ({marks}) "
            "ORDER BY row", rows)
        spans: dict[int, list[tuple[int, int, int]]] = {row: [] for row in rows}
        for passage_row, sentence_row, start, end in found:
            spans[passage_row].append((sentence_row, start, end))
        return spans

    def articles(self) -> list[tuple[str, str, str | None]]:
        """``(source, title, date)`` of every article, newest date first."""
        return self._query("SELECT source, title, date FROM articles ORDER BY date DESC, source")

    def article_passage_counts(self) -> list[tuple[str, str, int]]:
        """``(source, title, passages)`` of every article (none counts 0), by file name."""
        return self._query("SELECT a.source, a.title, count(p.row) FROM articles a "
                           "LEFT JOIN passages p ON p.article_key = a.key "
                           "GROUP BY a.key ORDER BY a.source, a.title")

    def article_summaries(self) -> list[ArticleSummary]:
        """Every article with its date, publisher and passage count, newest first (then by
        file name): the order undated files arrived in, too."""
        return [ArticleSummary(*row) for row in self._query(
            "SELECT a.key, a.source, a.title, a.date, a.publisher, a.dated_by, count(p.row) "
            "FROM articles a LEFT JOIN passages p ON p.article_key = a.key GROUP BY a.key "
            "ORDER BY a.date IS NULL, a.date DESC, a.source, a.key")]

    def holds_word(self, word: str) -> bool:
        """True when some passage's text or title holds ``word`` (FTS5 tokenisation: porter
        stems, no accents), so "arrests" is known when "arrested" is indexed."""
        return self.document_frequency(word, columns="") > 0

    def word_counts(self) -> dict[str, int]:
        """Every lower-cased word of the passages' texts and titles with its count: the
        vocabulary misspelt question words are corrected against. Computed once, on first use."""
        with self._db_lock:
            if self._word_counts is None:
                counts: collections.Counter[str] = collections.Counter()
                for text, title in self._db.execute("SELECT text, title FROM passages"):
                    counts.update(LETTER_WORD.findall(f"{title} {text}".lower()))
                self._word_counts = dict(counts)
            return self._word_counts

    def document_frequency(self, term: str, columns: str = "text : ") -> int:
        """Passages whose text holds ``term`` (tokenized as FTS5 does: porter, no accents).

        Answer selection weights question words by rarity (IDF) with this; results are cached.
        """
        cache = self._df_cache
        key = columns + term
        if key in cache:
            return cache[key]
        quoted = columns + '"' + term.replace('"', '""') + '"'
        with self._db_lock:
            try:
                (count,) = self._db.execute(
                    "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?",
                    (quoted,)).fetchone()
            except sqlite3.OperationalError:
                count = 0
        if len(cache) < 100_000:
            cache[key] = int(count)
        return int(count)


def load_vectors(path: Path) -> np.ndarray:
    """A ``.npy`` vector file, memory-mapped read-only."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def connect_read_only(path: Path, *, shared: bool = False) -> sqlite3.Connection:
    """A read-only connection to a generation's ``passages.sqlite``; ``shared`` lets other
    threads use it (callers then serialise access)."""
    return sqlite3.connect(f"file:{path / SQLITE}?mode=ro", uri=True,
                           check_same_thread=not shared)


def _article_condition(article_filter: ArticleFilter) -> tuple[str, list[Any]]:
    """An SQL condition on ``articles a`` for ``article_filter`` and its parameters. Dates are
    stored as ISO 8601 text, a day or a UTC timestamp, so comparing strings compares dates:
    "2022-01-08T09:00:00.000000Z" >= "2022-01-08" and "2022-01-07T23:59:59.000000Z" is not.
    A publisher matches itself or, as a web host's first label, the host ("reuters" lets
    "reuters.com" through)."""
    conditions, parameters = ["1"], []
    if article_filter.since is not None:
        conditions.append("a.date >= ?")
        parameters.append(article_filter.since.isoformat())
    if article_filter.publisher is not None:
        conditions.append("(lower(a.publisher) = lower(?) "
                          "OR lower(a.publisher) LIKE ? ESCAPE '\\')")
        literal = article_filter.publisher.lower().translate({ord(c): "\\" + c for c in "\\%_"})
        parameters += [article_filter.publisher, literal + ".%"]
    return " AND ".join(conditions), parameters
