"""Streaming the seed files into a new generation's tables and the build's vector plan.

Files come parsed and split one at a time (parsed.py: here, or new and changed ones on a Ray
cluster); each passage is looked up by content hash in the previous generation (reused: its
vectors are copied later) or planned for embedding, and its rows go to SQLite by batches. What
stays in memory is per file (the seed-file table, skipped files), not per passage.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import corpus
from .arrival import date_by_arrival
from .parsed import ParsedSeed, Spans, passage_spans
from .plan import ONE_SENTENCE_PASSAGE, PASSAGE, SENTENCE, VectorPlan
from .seeds import SeedRead

if TYPE_CHECKING:
    from ..schema import Passage
    from .reuse import Previous

#: Rows buffered per table before one ``executemany``.
INSERT_BATCH = 4096

_INSERTS = {
    "files": "INSERT INTO files VALUES (?, ?, ?, ?)",
    "articles": "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
    "passages": "INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "sentences": "INSERT INTO sentences VALUES (?, ?, ?, ?)",
    "reused": "INSERT INTO plan.reused VALUES (?, ?, ?, ?, ?)",
    "new": "INSERT INTO plan.new VALUES (?, ?, ?, ?)",
}


@dataclass
class BuiltTables:
    """What the tables of a new generation hold, for its manifest and the build's report."""

    plan: VectorPlan
    articles: int
    skipped: list[corpus.SkippedFile]
    records: list[SeedRead]

    @property
    def file_table(self) -> dict[str, str]:
        """Seed file name → content hash of the bytes parsed."""
        return {s.name: s.content_hash for s in self.records}


@dataclass
class _Rows:
    """Rows waiting for their batch insert, and the counters that number them."""

    db: sqlite3.Connection
    pending: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {table: [] for table in _INSERTS})
    articles: int = 0
    passages: int = 0
    sentences: int = 0
    new: int = 0
    embedded: int = 0

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        rows = self.pending[table]
        rows.append(row)
        if len(rows) >= INSERT_BATCH:
            self.flush(table)

    def flush(self, table: str) -> None:
        if self.pending[table]:
            self.db.executemany(_INSERTS[table], self.pending[table])
            self.pending[table] = []


def ingest(db: sqlite3.Connection, seeds: Iterable[ParsedSeed], *, previous: Previous | None,
           arrived: dict[str, str]) -> BuiltTables:
    """Write the parsed seed files into the tables of ``db`` (see ``writer.open_tables``) and
    plan which vectors to reuse and which to embed."""
    rows = _Rows(db)
    skipped: list[corpus.SkippedFile] = []
    records: list[SeedRead] = []
    for seed in seeds:
        skipped.extend(seed.parsed.skipped)
        record = seed.record
        if record is not None:
            records.append(record)
            rows.add("files", (record.name, record.content_hash, record.size,
                               arrived[record.name]))
        articles = date_by_arrival(seed.parsed.articles, arrived)
        for article, passages in zip(articles, seed.parsed.passages):
            rows.articles += 1
            rows.add("articles", (article.key, article.source, article.title, article.date,
                                  article.url, article.publisher, article.dated_by))
            for passage, spans in passages:
                _add_passage(rows, passage, spans, previous)
    for table in _INSERTS:
        rows.flush(table)
    plan = VectorPlan(db, passages=rows.passages, sentences=rows.sentences, new_count=rows.new,
                      embedded_passages=rows.embedded)
    return BuiltTables(plan, rows.articles, skipped, records)


def _add_passage(rows: _Rows, passage: Passage, found: Spans | None,
                 previous: Previous | None) -> None:
    """One passage's rows, its sentences' and its plan: reused by content hash, or new (then
    embedded: the passage, and its sentences when it has several; ``found``: its sentence
    spans when the parser already found them)."""
    row, sentence_row = rows.passages, rows.sentences
    reused = previous.lookup(passage.content_hash) if previous is not None else None
    if reused is not None and previous is not None:
        old_row, old_sentence, count = reused
        spans = previous.spans(old_sentence, count)
        rows.add("reused", (row, old_row, sentence_row, old_sentence, len(spans)))
    else:
        spans = found if found is not None else passage_spans(passage.text)
        single = len(spans) == 1  # a one-sentence passage: its sentence vector is its own
        rows.add("new", (rows.new, ONE_SENTENCE_PASSAGE if single else PASSAGE, row,
                         sentence_row if single else None))
        rows.new += 1
        if not single:
            for i in range(len(spans)):
                rows.add("new", (rows.new, SENTENCE, row, sentence_row + i))
                rows.new += 1
        rows.embedded += 1
    rows.add("passages", (row, passage.article_key, passage.source, passage.title,
                          passage.paragraph, passage.window, passage.section, passage.text,
                          passage.content_hash, sentence_row, len(spans)))
    for i, (start, end) in enumerate(spans):
        rows.add("sentences", (sentence_row + i, row, start, end))
    rows.passages += 1
    rows.sentences += len(spans)
