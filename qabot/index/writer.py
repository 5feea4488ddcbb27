"""Writing a generation: its SQLite tables, vectors, FAISS file and manifest, all or nothing.

A generation is written under a temporary name, fsynced, renamed into place, and only then does
``CURRENT`` point at it, so readers only ever see complete generations.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .manifest import (
    DATA_FILES,
    FAISS_FILE,
    FORMAT_VERSION,
    MANIFEST,
    PASSAGE_VECTORS,
    SENTENCE_VECTORS,
    SQLITE,
    chunking,
    corpus_fingerprint,
    file_checksums,
)
from .store import IndexStore, fsync_dir, write_error
from .vectors import make_faiss_index

if TYPE_CHECKING:
    from .. import corpus
    from ..embedding import Embedder
    from ..schema import Article, Passage
    from .seeds import SeedRead

_SCHEMA = """
CREATE TABLE files(name TEXT PRIMARY KEY, content_hash TEXT NOT NULL, size INTEGER NOT NULL,
                   first_indexed TEXT NOT NULL);
CREATE TABLE articles(key TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL,
                      date TEXT, url TEXT, publisher TEXT, dated_by TEXT);
CREATE INDEX articles_by_date ON articles(date);
CREATE TABLE passages(row INTEGER PRIMARY KEY, article_key TEXT NOT NULL, source TEXT NOT NULL,
                      title TEXT NOT NULL, paragraph INTEGER NOT NULL, window INTEGER NOT NULL,
                      section TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL,
                      sentence_start INTEGER NOT NULL, sentence_count INTEGER NOT NULL);
CREATE INDEX passages_by_hash ON passages(content_hash);
CREATE TABLE sentences(row INTEGER PRIMARY KEY, passage_row INTEGER NOT NULL,
                       start INTEGER NOT NULL, end INTEGER NOT NULL);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    text, title, section, content='passages', content_rowid='row',
    tokenize='porter unicode61 remove_diacritics 2');
"""


@dataclass(frozen=True, slots=True)
class GenerationContents:
    """Everything a new generation holds; passages, spans and vectors in row order."""

    articles: Sequence[Article]
    passages: Sequence[Passage]
    sentence_spans: Sequence[Sequence[tuple[int, int]]]  # per passage, character spans
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    seeds: Sequence[SeedRead]
    skipped: Sequence[corpus.SkippedFile]
    first_indexed: Mapping[str, str]  # seed file name → when qabot first indexed it

    @property
    def file_table(self) -> dict[str, str]:
        """Seed file name → content hash of the bytes parsed."""
        return {s.name: s.content_hash for s in self.seeds}


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


def write_generation(path: Path, contents: GenerationContents, embedder: Embedder, *,
                     max_file_bytes: int, generation: int) -> dict[str, Any]:
    """Write every file of a generation into the empty folder ``path``; the manifest last."""
    _write_tables(path / SQLITE, contents)
    faiss_params = _write_vectors(path, contents)
    for name in DATA_FILES:
        with open(path / name, "rb+") as fh:
            os.fsync(fh.fileno())
    manifest = _manifest(path, contents, embedder, faiss_params, max_file_bytes, generation)
    with open(path / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path)
    return manifest


def _write_tables(sqlite_file: Path, contents: GenerationContents) -> None:
    db = sqlite3.connect(sqlite_file)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO files VALUES (?, ?, ?, ?)",
                       [(s.name, s.content_hash, s.size, contents.first_indexed[s.name])
                        for s in contents.seeds])
        db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(a.key, a.source, a.title, a.date, a.url, a.publisher, a.dated_by)
                        for a in contents.articles])
        sentence_row = 0
        passage_rows = []
        sentence_rows = []
        for row, (passage, spans) in enumerate(zip(contents.passages, contents.sentence_spans)):
            passage_rows.append((row, passage.article_key, passage.source, passage.title,
                                 passage.paragraph, passage.window, passage.section, passage.text,
                                 passage.content_hash, sentence_row, len(spans)))
            for start, end in spans:
                sentence_rows.append((sentence_row, row, start, end))
                sentence_row += 1
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       passage_rows)
        db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?)", sentence_rows)
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
        db.commit()
    finally:
        db.close()


def _write_vectors(path: Path, contents: GenerationContents) -> dict[str, Any]:
    """The ``.npy`` files and the FAISS file; returns the FAISS entry of the manifest."""
    import faiss

    np.save(path / PASSAGE_VECTORS, contents.passage_vectors, allow_pickle=False)
    np.save(path / SENTENCE_VECTORS, contents.sentence_vectors, allow_pickle=False)
    faiss_index, faiss_params = make_faiss_index(contents.passage_vectors)
    try:
        faiss.write_index(faiss_index, str(path / FAISS_FILE))
    except RuntimeError as exc:  # FAISS reports failed writes (e.g. a full disk) this way
        raise OSError(f"FAISS could not write {FAISS_FILE}: {exc}") from exc
    return faiss_params


def _manifest(path: Path, contents: GenerationContents, embedder: Embedder,
              faiss_params: dict[str, Any], max_file_bytes: int,
              generation: int) -> dict[str, Any]:
    files = contents.file_table
    return {
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
        "counts": {"files": len(contents.seeds), "articles": len(contents.articles),
                   "passages": len(contents.passages),
                   "sentences": len(contents.sentence_vectors),
                   "skipped": len(contents.skipped)},
        "files": files,
        "corpus_fingerprint": corpus_fingerprint(files),
        "skipped": [{"path": s.path, "reason": s.reason} for s in contents.skipped],
        "files_checksums": file_checksums(path),
    }
