"""What a build finds in the index folder and may reuse: the live generation, checked, and the
vectors of the newest generation that is intact enough to give them back.

Nothing of the previous generation is loaded whole: passages are looked up by content hash in
its SQLite file and its vectors read from its ``.npy`` files a batch at a time."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import IndexCorruptError
from .generation import connect_read_only
from .manifest import (
    FAISS_FILE,
    FORMAT_VERSION,
    PASSAGE_VECTORS,
    SENTENCE_VECTORS,
    SQLITE,
    chunking,
    file_problems,
    read_manifest,
)
from .store import CURRENT_FILE, IndexStore
from .vector_files import npy_shape
from .vectors import is_exact

if TYPE_CHECKING:
    from ..embedding import Embedder

log = logging.getLogger(__name__)


@dataclass
class Live:
    """The live generation as a build finds it: trusted only when ``manifest`` is set."""

    name: str | None = None            # what CURRENT names; None when absent or damaged
    manifest: dict[str, Any] | None = None  # set only when every data file checks out
    files: dict[str, str] = field(default_factory=dict)  # its seed-file table, for the report


@dataclass
class Previous:
    """What a build may reuse from an earlier generation: its passage table (open read-only)
    and its vectors, as files (or, rebuilt from an exact FAISS file, in memory)."""

    files: dict[str, str]  # its seed-file table, for the report when CURRENT is unusable
    db: sqlite3.Connection
    passage_vectors: Path | np.ndarray
    sentence_vectors: Path
    skipped: list[dict[str, str]] = field(default_factory=list)  # its manifest's skipped files

    def lookup(self, content_hash: str) -> tuple[int, int, int] | None:
        """``(row, sentence_start, sentence_count)`` of a passage with this content hash."""
        return self.db.execute(
            "SELECT row, sentence_start, sentence_count FROM passages WHERE content_hash = ? "
            "ORDER BY row DESC LIMIT 1", (content_hash,)).fetchone()

    def spans(self, sentence_start: int, count: int) -> list[tuple[int, int]]:
        """The character spans of sentences ``sentence_start`` to ``sentence_start + count``."""
        return self.db.execute("SELECT start, end FROM sentences WHERE row >= ? AND row < ? "
                               "ORDER BY row", (sentence_start, sentence_start + count)).fetchall()

    def close(self) -> None:
        """Close its passage table."""
        self.db.close()


def inspect_live(store: IndexStore) -> Live:
    """Read ``CURRENT`` and verify the generation it names; warn about any damage found."""
    try:
        name = store.current_name()
    except IndexCorruptError as exc:
        log.warning("%s; repairing it", exc.message)
        return Live()
    if name is None:
        return Live()
    path = store.root / name
    if not path.is_dir():
        log.warning("%s names %s, which is missing from %s; repairing it", CURRENT_FILE, name,
                    store.root)
        return Live()
    try:
        manifest = read_manifest(path)
    except IndexCorruptError as exc:
        log.warning("the live index is damaged: %s; rebuilding it", exc.message)
        return Live(name=name)
    problems = file_problems(path, manifest)
    files = manifest.get("files", {})
    if problems:
        log.warning("the live index %s is damaged: %s; rebuilding it from what is intact", name,
                    "; ".join(problems.values()))
        return Live(name=name, files=files)
    return Live(name=name, manifest=manifest, files=files)


def _reuse_candidates(store: IndexStore, live: Live) -> list[str]:
    """Generations whose vectors a build may reuse, best first: the live one, then (when it is
    damaged or ``CURRENT`` is unusable) the others, newest first."""
    if live.manifest is not None:
        return [live.name] if live.name else []
    others = [n for n in reversed(store.generations()) if n != live.name]
    return ([live.name] if live.name else []) + others


def load_previous(store: IndexStore, live: Live, embedder: Embedder) -> Previous | None:
    """Reusable vectors from the live generation or, failing that, the newest intact one;
    None when nothing can be reused (then everything is re-embedded)."""
    for name in _reuse_candidates(store, live):
        previous = _load_reusable(store.root / name, embedder)
        if previous is not None:
            if name != live.name:
                log.warning("reusing the vectors of %s", name)
            return previous
    return None


def _reusable_manifest(path: Path, embedder: Embedder) -> dict[str, Any] | None:
    """The manifest of ``path`` when its vectors were made the way ``embedder`` makes them."""
    try:
        manifest = read_manifest(path)
    except IndexCorruptError as exc:
        log.warning("not reusing %s: %s", path.name, exc.message)
        return None
    if (manifest.get("format_version") != FORMAT_VERSION
            or manifest.get("model_id") != embedder.model_id):
        log.warning("not reusing %s: it was built with model %r, format %s", path.name,
                    manifest.get("model_id"), manifest.get("format_version"))
        return None
    if manifest.get("chunking") != chunking(embedder):
        log.warning("not reusing %s: its passages or sentence vectors were made with other "
                    "settings (%s)", path.name, manifest.get("chunking"))
        return None
    return manifest


def _load_reusable(path: Path, embedder: Embedder) -> Previous | None:
    """What a build can reuse from generation ``path``, even a partly damaged one: the passage
    table must be intact; passage vectors come from their ``.npy`` or else from an exact FAISS
    file; sentence vectors from theirs."""
    manifest = _reusable_manifest(path, embedder)
    if manifest is None:
        return None
    problems = file_problems(path, manifest)
    unusable = {SQLITE, SENTENCE_VECTORS} & problems.keys()
    if PASSAGE_VECTORS in problems and (FAISS_FILE in problems
                                        or not is_exact(manifest.get("faiss_index", {}))):
        unusable.add(PASSAGE_VECTORS)  # a quantised FAISS file cannot give the vectors back
    if unusable:
        log.warning("not reusing %s: %s", path.name,
                    "; ".join(problems[n] for n in sorted(unusable)))
        return None
    counts = manifest["counts"]
    passage_vectors: Path | np.ndarray = path / PASSAGE_VECTORS
    try:
        if PASSAGE_VECTORS in problems:  # exact search only, so at most EXACT_SEARCH_MAX rows
            import faiss

            passage_vectors = faiss.read_index(str(path / FAISS_FILE)).reconstruct_n(
                0, counts["passages"])
        shapes = (passage_vectors.shape if isinstance(passage_vectors, np.ndarray)
                  else npy_shape(passage_vectors), npy_shape(path / SENTENCE_VECTORS))
        db = connect_read_only(path)
        db.execute("SELECT p.row, s.start FROM passages p, sentences s LIMIT 1").fetchall()
    except (RuntimeError, ValueError, OSError, sqlite3.DatabaseError) as exc:
        log.warning("not reusing %s: %s", path.name, exc)
        return None
    dimension = manifest.get("dimension")
    if shapes != ((counts["passages"], dimension), (counts["sentences"], dimension)):
        db.close()
        log.warning("not reusing %s: its vectors do not match its manifest", path.name)
        return None
    return Previous(manifest.get("files", {}), db, passage_vectors, path / SENTENCE_VECTORS,
                    manifest.get("skipped", []))
