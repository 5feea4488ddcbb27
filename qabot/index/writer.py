"""Writing a generation: its SQLite tables, vectors, FAISS file and manifest, all or nothing.

The build streams into it: tables by batches (ingest.py), vectors by blocks (vector_files.py),
then the full-text index, the FAISS file (trained on a sample, filled in batches) and the
manifest, whose checksums are computed by reading the files back.

A generation is written under a temporary name, fsynced, renamed into place, and only then does
``CURRENT`` point at it, so readers only ever see complete generations.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import (
    DATA_FILES,
    FAISS_FILE,
    FORMAT_VERSION,
    MANIFEST,
    PASSAGE_VECTORS,
    SQLITE,
    chunking,
    corpus_fingerprint,
    file_checksums,
)
from .plan import PLAN_SCHEMA
from .store import IndexStore, fsync_dir, write_error
from .vector_files import read_range, read_rows
from .vectors import build_faiss_index

if TYPE_CHECKING:
    from ..embedding import Embedder
    from .ingest import BuiltTables

#: The scratch database of a build's plan, inside the generation being written; removed before
#: the manifest is written.
PLAN_FILE = ".plan.sqlite"

_SCHEMA = """
CREATE TABLE files(name TEXT PRIMARY KEY, content_hash TEXT NOT NULL, size INTEGER NOT NULL,
                   first_indexed TEXT NOT NULL);
CREATE TABLE articles(key TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL,
                      date TEXT, url TEXT, publisher TEXT, dated_by TEXT);
CREATE TABLE passages(row INTEGER PRIMARY KEY, article_key TEXT NOT NULL, source TEXT NOT NULL,
                      title TEXT NOT NULL, paragraph INTEGER NOT NULL, window INTEGER NOT NULL,
                      section TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL,
                      sentence_start INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
CREATE TABLE sentences(row INTEGER PRIMARY KEY, passage_row INTEGER NOT NULL,
                       start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    text, title, section, content='passages', content_rowid='row',
    tokenize='porter unicode61 remove_diacritics 2');
"""


def write_and_switch(store: IndexStore, name: str, write: Callable[[Path], object]) -> None:
    """Write generation ``name`` under a temporary name, move it into place and point
    ``CURRENT`` at it. On any failure nothing of it is left and ``CURRENT`` is unchanged;
    write failures become ``IndexWriteError``."""
    tmp = store.root / f".{name}.tmp-{os.getpid()}"
    final = store.root / name
    try:
        tmp.mkdir()
        write(tmp)
        os.replace(tmp, final)
        fsync_dir(store.root)
        store.switch_to(name)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.is_dir() and store.current_or_none() != name:
            shutil.rmtree(final, ignore_errors=True)
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise write_error(store.root, exc) from exc
        raise


#: Made once the rows are in: one sort, instead of an insert at a random place of the index per
#: row (with SQLite's small page cache, that re-read and re-wrote a page per passage).
_INDEXES = """
CREATE INDEX articles_by_date ON articles(date);
CREATE INDEX passages_by_hash ON passages(content_hash);
"""


def open_tables(path: Path) -> sqlite3.Connection:
    """The SQLite file of the new generation at ``path``, its tables created, with the build's
    scratch plan database attached as ``plan``; rows go in by batches in one transaction."""
    db = sqlite3.connect(path / SQLITE, check_same_thread=False)
    try:
        db.executescript(_SCHEMA)
        db.execute("ATTACH DATABASE ? AS plan", (str(path / PLAN_FILE),))
        db.execute("PRAGMA plan.journal_mode = OFF")
        db.execute("PRAGMA plan.synchronous = OFF")
        db.executescript(PLAN_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def finish_tables(path: Path, db: sqlite3.Connection) -> None:
    """Commit the tables, drop the scratch plan and build the full-text index."""
    db.commit()
    db.execute("DETACH DATABASE plan")
    (path / PLAN_FILE).unlink()
    db.executescript(_INDEXES)
    db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
    db.commit()


def write_faiss(path: Path, count: int, dimension: int) -> dict[str, Any]:
    """The FAISS file over the passage vectors already written; returns its manifest entry."""
    import faiss

    faiss_index, faiss_params = build_faiss_index(
        count, dimension, lambda rows: read_rows(path / PASSAGE_VECTORS, rows),
        lambda start, stop: read_range(path / PASSAGE_VECTORS, start, stop))
    try:
        faiss.write_index(faiss_index, str(path / FAISS_FILE))
    except RuntimeError as exc:  # FAISS reports failed writes (e.g. a full disk) this way
        raise OSError(f"FAISS could not write {FAISS_FILE}: {exc}") from exc
    return faiss_params


def write_manifest(path: Path, built: BuiltTables, embedder: Embedder,
                   faiss_params: dict[str, Any], max_file_bytes: int,
                   generation: int) -> dict[str, Any]:
    """Make the data files durable, then write the manifest that checksums them, last."""
    for name in DATA_FILES:
        with open(path / name, "rb+") as fh:
            os.fsync(fh.fileno())
    files = built.file_table
    manifest = {
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_id": embedder.model_id,
        "dimension": embedder.dimension,
        "metric": "inner_product",
        "normalized": True,
        "faiss_index": faiss_params,
        "chunking": chunking(embedder),
        "max_file_bytes": max_file_bytes,
        "counts": {"files": len(built.records), "articles": built.articles,
                   "passages": built.plan.passages, "sentences": built.plan.sentences,
                   "skipped": len(built.skipped)},
        "files": files,
        "corpus_fingerprint": corpus_fingerprint(files),
        "skipped": [{"path": s.path, "reason": s.reason} for s in built.skipped],
        "files_checksums": file_checksums(path),
    }
    with open(path / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path)
    return manifest
