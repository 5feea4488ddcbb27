"""Build, update, open and verify index generations.

An index folder holds immutable generations and a ``CURRENT`` pointer::

    indexes/CURRENT                 "gen-000007"
    indexes/.build.lock             serialises builders (readers never lock)
    indexes/gen-000007/manifest.json        model, dimension, counts, checksums, format version
    indexes/gen-000007/passages.sqlite      passages, sentences, files + FTS5 table (BM25)
    indexes/gen-000007/passage_vectors.npy  float32, row i = passage row i
    indexes/gen-000007/sentence_vectors.npy float32, row j = sentence row j
    indexes/gen-000007/vectors.faiss        FAISS's own file over the passage vectors

A build writes a new generation under a temporary name, renames it into place and then replaces
``CURRENT`` atomically, so readers only ever see complete generations. Vectors of unchanged
passages are copied from the previous generation by content hash instead of being re-embedded.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import corpus
from ..embedding import Embedder
from ..errors import (
    ConfigError,
    CorpusError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    IndexWriteError,
)
from ..progress import ProgressFn, ScaledProgress
from ..schema import Article, Passage, StoredPassage
from ..text import LETTER_WORD

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".build.lock"
MANIFEST = "manifest.json"
SQLITE = "passages.sqlite"
PASSAGE_VECTORS = "passage_vectors.npy"
SENTENCE_VECTORS = "sentence_vectors.npy"
FAISS_FILE = "vectors.faiss"
KEEP_GENERATIONS = 2
_GEN_RE = re.compile(r"^gen-(\d{6,})$")
REBUILD_HINT = "run `qabot index --rebuild`"
REPAIR_HINT = "run `qabot index` to repair it"

_SCHEMA = """
CREATE TABLE files(name TEXT PRIMARY KEY, content_hash TEXT NOT NULL, size INTEGER NOT NULL);
CREATE TABLE articles(key TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL,
                      date TEXT, url TEXT);
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
class BuildReport:
    """What one ``qabot index`` run did, for the summary line."""

    generation: str | None
    articles: int
    passages: int
    files_added: int
    files_changed: int
    files_removed: int
    files_unchanged: int
    passages_embedded: int
    passages_reused: int
    skipped: tuple[corpus.SkippedFile, ...]
    seconds: float
    no_change: bool = False


@dataclass
class _Previous:
    """What a build may reuse from the live generation."""

    manifest: dict[str, Any]
    rows_by_hash: dict[str, tuple[int, int, int]]  # content hash → (row, sentence_start, count)
    sentence_spans: dict[int, list[tuple[int, int]]]
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray


# --------------------------------------------------------------------------- the folder


class IndexStore:
    """An index folder: its generations, the ``CURRENT`` pointer and the build lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def check_folder(self) -> None:
        """Raise ``ConfigError`` when the index location exists but is not a folder."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"the index folder {self.root} is a file, not a folder",
                              hint="point --index (or QABOT_INDEX_DIR) at a folder")

    def current_name(self) -> str | None:
        """The live generation's directory name, or None before the first build.

        Raises ``IndexCorruptError`` when ``CURRENT`` exists but does not name a generation
        (unreadable, junk, a directory): ``qabot index`` repairs that.
        """
        self.check_folder()
        pointer = self.root / CURRENT_FILE
        try:
            raw = pointer.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorruptError(f"the index in {self.root} is damaged: {CURRENT_FILE} cannot "
                                    f"be read ({exc.strerror or exc})", hint=REPAIR_HINT) from exc
        name = raw.decode("utf-8", errors="replace").strip()
        if not _GEN_RE.match(name):
            raise IndexCorruptError(f"the index in {self.root} is damaged: {CURRENT_FILE} does "
                                    f"not name a generation", hint=REPAIR_HINT)
        return name

    def generations(self) -> list[str]:
        """Complete generation directories, oldest first."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if p.is_dir() and _GEN_RE.match(p.name)]
        return sorted(names, key=lambda n: int(n.split("-")[1]))

    def open_current(self, model_id: str | None = None, verify: bool = True) -> Generation:
        """Open the live generation, checking format, model and file integrity."""
        name = self.current_name()
        if name is None:
            raise IndexMissingError(f"no index found in {self.root}",
                                    hint="run `qabot index` to build one from the seeds folder")
        path = self.root / name
        if not path.is_dir():
            raise IndexCorruptError(f"{CURRENT_FILE} names {name}, which is missing from "
                                    f"{self.root}", hint=REPAIR_HINT)
        return Generation.open(path, model_id=model_id, verify=verify)

    def _switch_to(self, name: str) -> None:
        pointer = self.root / CURRENT_FILE
        tmp = self.root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            if pointer.is_dir() and not pointer.is_symlink():
                # os.replace cannot put a file over a directory; a directory there is damage.
                shutil.rmtree(pointer)
            os.replace(tmp, pointer)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        _fsync_dir(self.root)

    def _next_name(self) -> str:
        numbers = [int(n.split("-")[1]) for n in self.generations()]
        return f"gen-{(max(numbers) + 1 if numbers else 1):06d}"

    def _remove_leftovers(self) -> None:
        """Drop what killed builds left behind (best effort: a read-only folder keeps them)."""
        for leftover in self.root.glob(".gen-*.tmp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(f".{CURRENT_FILE}.*.tmp"):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                log.debug("cannot remove %s: %s", leftover, exc)

    def _prune(self, current: str, keep: int = KEEP_GENERATIONS) -> None:
        """Drop all generations but ``current`` and the newest ``keep - 1`` others."""
        old = [n for n in self.generations() if n != current]
        for name in old[: max(0, len(old) - (keep - 1))]:
            log.info("pruning old generation %s", name)
            shutil.rmtree(self.root / name, ignore_errors=True)

    def _current_or_none(self) -> str | None:
        """``current_name`` for clean-up code paths: None when ``CURRENT`` is damaged."""
        try:
            return self.current_name()
        except (IndexCorruptError, ConfigError):
            return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Files up to this size are checksummed whole when an index is opened; larger ones by a sample
#: of 64 blocks of 64 KiB spread over the file (plus the size), so opening a large index stays
#: fast (hashing runs at ~1 GB/s here: a 1M-passage index would add seconds to every cold start).
FULL_CHECKSUM_MAX = 64 * 2**20
_SAMPLE_BLOCKS, _SAMPLE_BLOCK = 64, 64 * 2**10


def _file_digest(path: Path) -> str:
    """blake2b of the whole file, or of an evenly spread sample of it above FULL_CHECKSUM_MAX."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size <= FULL_CHECKSUM_MAX:
            return hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
        digest = hashlib.blake2b(digest_size=16)
        digest.update(size.to_bytes(8, "little"))
        last_start = size - _SAMPLE_BLOCK
        for i in range(_SAMPLE_BLOCKS):
            fh.seek(last_start * i // (_SAMPLE_BLOCKS - 1))
            digest.update(fh.read(_SAMPLE_BLOCK))
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


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
            passage_vectors = np.load(path / PASSAGE_VECTORS, mmap_mode="r", allow_pickle=False)
            sentence_vectors = np.load(path / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False)
            db = sqlite3.connect(f"file:{path / SQLITE}?mode=ro", uri=True,
                                 check_same_thread=False)
            db.execute("SELECT count(*) FROM passages").fetchone()
        except (RuntimeError, ValueError, OSError, sqlite3.DatabaseError) as exc:
            raise IndexCorruptError(f"index {path} cannot be read: {exc}", hint=REBUILD_HINT) from exc
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

    def dense_search(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top ``k`` passage rows by inner product (cosine: vectors are normalized)."""
        k = min(k, self.faiss_index.ntotal)
        if k <= 0:
            return []
        scores, rows = self.faiss_index.search(
            np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def lexical_search(self, match_query: str, k: int) -> list[tuple[int, float]]:
        """Top ``k`` passage rows by FTS5 BM25 for an FTS5 MATCH expression (higher is better)."""
        if not match_query:
            return []
        with self._db_lock:
            try:
                rows = self._db.execute(
                    "SELECT rowid, -bm25(passages_fts, 1.0, 0.5, 0.5) FROM passages_fts "
                    "WHERE passages_fts MATCH ? ORDER BY bm25(passages_fts, 1.0, 0.5, 0.5) "
                    "LIMIT ?", (match_query, k)).fetchall()
            except sqlite3.OperationalError as exc:
                log.warning("lexical search failed for %r: %s", match_query, exc)
                return []
        return [(int(r), float(s)) for r, s in rows]

    def passages(self, rows: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by row, with their article's date."""
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        with self._db_lock:
            found = self._db.execute(
                f"SELECT p.row, p.source, p.title, p.paragraph, p.window, p.text, p.section, "
                f"a.date FROM passages p JOIN articles a ON a.key = p.article_key "
                f"WHERE p.row IN ({marks})", list(rows)).fetchall()
        return {r[0]: StoredPassage(row=r[0], source=r[1], title=r[2], paragraph=r[3],
                                    window=r[4], text=r[5], section=r[6], date=r[7])
                for r in found}

    def sentences(self, rows: Sequence[int]) -> dict[int, list[tuple[int, int, int]]]:
        """For each passage row: its sentences as ``(sentence_row, start, end)`` character spans."""
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        with self._db_lock:
            found = self._db.execute(
                f"SELECT passage_row, row, start, end FROM sentences WHERE passage_row IN ({marks}) "
                f"ORDER BY row", list(rows)).fetchall()
        spans: dict[int, list[tuple[int, int, int]]] = {row: [] for row in rows}
        for passage_row, sentence_row, start, end in found:
            spans[passage_row].append((sentence_row, start, end))
        return spans

    def articles(self) -> list[tuple[str, str, str | None]]:
        """``(source, title, date)`` of every article, newest date first."""
        with self._db_lock:
            return self._db.execute(
                "SELECT source, title, date FROM articles ORDER BY date DESC, source").fetchall()

    def article_passage_counts(self) -> list[tuple[str, str, int]]:
        """``(source, title, passages)`` of every article (none counts 0), by file name."""
        with self._db_lock:
            return self._db.execute(
                "SELECT a.source, a.title, count(p.row) FROM articles a "
                "LEFT JOIN passages p ON p.article_key = a.key "
                "GROUP BY a.key ORDER BY a.source, a.title").fetchall()

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


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed manifest of a generation directory."""
    try:
        manifest = json.loads((path / MANIFEST).read_text("utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"index {path} has no {MANIFEST}", hint=REBUILD_HINT) from exc
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"index {path}: {MANIFEST} is unreadable ({exc})",
                                hint=REBUILD_HINT) from exc
    if not isinstance(manifest, dict) or "counts" not in manifest:
        raise IndexCorruptError(f"index {path}: {MANIFEST} is incomplete", hint=REBUILD_HINT)
    return manifest


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    """Check every data file against the size and checksum the manifest recorded."""
    for problem in file_problems(path, manifest).values():
        raise IndexCorruptError(f"index {path}: {problem}", hint=REBUILD_HINT)


def file_problems(path: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Each data file of ``path`` that is missing, truncated or altered, with what is wrong."""
    problems: dict[str, str] = {}
    for name, expected in manifest.get("files_checksums", {}).items():
        file = path / name
        try:
            size = file.stat().st_size
            if size != expected["size"]:
                problems[name] = (f"{name} is truncated or altered ({size} bytes, expected "
                                  f"{expected['size']})")
            elif _file_digest(file) != expected["blake2b"]:
                problems[name] = f"{name} is corrupted (checksum mismatch)"
        except FileNotFoundError:
            problems[name] = f"{name} is missing"
        except OSError as exc:
            problems[name] = f"{name} cannot be read ({exc.strerror or exc})"
    return problems


# --------------------------------------------------------------------------- building


@dataclass
class _Live:
    """The live generation as a build finds it: trusted only when ``manifest`` is set."""

    name: str | None = None            # what CURRENT names; None when absent or damaged
    manifest: dict[str, Any] | None = None  # set only when every data file checks out
    files: dict[str, str] = field(default_factory=dict)  # its seed-file table, for the report


def _inspect_live(store: IndexStore) -> _Live:
    """Read ``CURRENT`` and verify the generation it names; warn about any damage found."""
    try:
        name = store.current_name()
    except IndexCorruptError as exc:
        log.warning("%s; repairing it", exc.message)
        return _Live()
    if name is None:
        return _Live()
    path = store.root / name
    if not path.is_dir():
        log.warning("%s names %s, which is missing from %s; repairing it", CURRENT_FILE, name,
                    store.root)
        return _Live()
    try:
        manifest = read_manifest(path)
    except IndexCorruptError as exc:
        log.warning("the live index is damaged: %s; rebuilding it", exc.message)
        return _Live(name=name)
    problems = file_problems(path, manifest)
    files = manifest.get("files", {})
    if problems:
        log.warning("the live index %s is damaged: %s; rebuilding it from what is intact", name,
                    "; ".join(problems.values()))
        return _Live(name=name, files=files)
    return _Live(name=name, manifest=manifest, files=files)


def _reuse_candidates(store: IndexStore, live: _Live) -> list[str]:
    """Generations whose vectors a build may reuse, best first: the live one, then (when it is
    damaged or ``CURRENT`` is unusable) the others, newest first."""
    if live.manifest is not None:
        return [live.name] if live.name else []
    others = [n for n in reversed(store.generations()) if n != live.name]
    return ([live.name] if live.name else []) + others


def _load_previous(store: IndexStore, live: _Live, embedder: Embedder) -> _Previous | None:
    """Reusable vectors from the live generation or, failing that, the newest intact one;
    None when nothing can be reused (then everything is re-embedded)."""
    for name in _reuse_candidates(store, live):
        previous = _load_reusable(store.root / name, embedder)
        if previous is not None:
            if name != live.name:
                log.warning("reusing the vectors of %s", name)
            return previous
    return None


def _load_reusable(path: Path, embedder: Embedder) -> _Previous | None:
    """What a build can reuse from generation ``path``, even a partly damaged one: the passage
    table must be intact; passage vectors come from their ``.npy`` or else from an exact FAISS
    file; sentence vectors from theirs."""
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
    if manifest.get("chunking") != _chunking(embedder):
        log.warning("not reusing %s: its passages or sentence vectors were made with other "
                    "settings (%s)", path.name, manifest.get("chunking"))
        return None
    problems = file_problems(path, manifest)
    unusable = {SQLITE, SENTENCE_VECTORS} & problems.keys()
    exact_faiss = manifest.get("faiss_index", {}).get("type") == "IndexFlatIP"
    if PASSAGE_VECTORS in problems and (FAISS_FILE in problems or not exact_faiss):
        unusable.add(PASSAGE_VECTORS)  # a quantised FAISS file cannot give the vectors back
    if unusable:
        log.warning("not reusing %s: %s", path.name,
                    "; ".join(problems[n] for n in sorted(unusable)))
        return None
    counts = manifest["counts"]
    try:
        if PASSAGE_VECTORS in problems:
            import faiss

            passage_vectors = faiss.read_index(str(path / FAISS_FILE)).reconstruct_n(
                0, counts["passages"])
        else:
            passage_vectors = np.load(path / PASSAGE_VECTORS, mmap_mode="r", allow_pickle=False)
        sentence_vectors = np.load(path / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False)
        db = sqlite3.connect(f"file:{path / SQLITE}?mode=ro", uri=True)
        try:
            rows_by_hash = {h: (r, s, c) for r, h, s, c in db.execute(
                "SELECT row, content_hash, sentence_start, sentence_count FROM passages")}
            spans: dict[int, list[tuple[int, int]]] = {}
            for passage_row, start, end in db.execute(
                    "SELECT passage_row, start, end FROM sentences ORDER BY row"):
                spans.setdefault(passage_row, []).append((start, end))
        finally:
            db.close()
    except (RuntimeError, ValueError, OSError, sqlite3.DatabaseError) as exc:
        log.warning("not reusing %s: %s", path.name, exc)
        return None
    dimension = manifest.get("dimension")
    if (passage_vectors.shape != (counts["passages"], dimension)
            or sentence_vectors.shape != (counts["sentences"], dimension)):
        log.warning("not reusing %s: its vectors do not match its manifest", path.name)
        return None
    return _Previous(manifest, rows_by_hash, spans, passage_vectors, sentence_vectors)


def _file_table(seeds: Iterable[corpus.SeedFile]) -> dict[str, str]:
    return {s.name: s.content_hash for s in seeds}


def _chunking(embedder: Embedder) -> dict[str, Any]:
    """How passages and sentence vectors are made; vectors are reused only when this matches."""
    # "reader": how files become paragraphs; a change (e.g. boilerplate dropped) re-reads them.
    return {"max_tokens": embedder.max_tokens, "splitter": "pysbd-v1",
            "reader": corpus.READER_VERSION,
            "sentence_vectors": "pooled-from-passage" if embedder.pools_sentences else "encoded-separately"}


@dataclass(frozen=True, slots=True)
class _SeedRead:
    """What a build recorded about one seed file: the digest and size of the bytes it parsed."""

    name: str
    content_hash: str
    size: int


def _read_seeds(seeds: Sequence[corpus.SeedFile], max_bytes: int, progress: ProgressFn | None
                ) -> tuple[list[Article], list[corpus.SkippedFile], list[_SeedRead]]:
    """Parse every seed file, reporting ``("parsing", files done, files)`` as it goes."""
    articles: list[Article] = []
    skipped: list[corpus.SkippedFile] = []
    records: list[_SeedRead] = []
    if progress is not None:
        progress("parsing", 0, len(seeds))
    for done, seed in enumerate(seeds, 1):
        got, bad, record = _read_seed(seed, max_bytes)
        articles.extend(got)
        skipped.extend(bad)
        if record is not None:
            records.append(record)
        if progress is not None:
            progress("parsing", done, len(seeds))
    return articles, skipped, records


def _read_seed(seed: corpus.SeedFile, max_bytes: int
               ) -> tuple[list[Article], list[corpus.SkippedFile], _SeedRead | None]:
    """Parse one seed file and record the digest of exactly the bytes parsed (one read), so a
    file edited or replaced while the build runs is seen as changed by the next build. A file
    that vanished since discovery is skipped and not recorded (None)."""
    if seed.problem is not None:  # e.g. a link out of the seeds folder: never opened
        return _not_parsed(seed, max_bytes, "")
    try:
        # O_NONBLOCK: opening a FIFO that replaced the file must not hang the build.
        fd = os.open(seed.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        if not seed.content_hash:  # already unreadable when discovered (a dangling link)
            return _not_parsed(seed, max_bytes, "")
        log.warning("skipping %s: it vanished while the index was being built", seed.name)
        return [], [corpus.SkippedFile(seed.name, "vanished during the build")], None
    except OSError:
        return _not_parsed(seed, max_bytes, "")
    data: bytes | None = None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
            with open(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
    except OSError:
        return _not_parsed(seed, max_bytes, "")
    finally:
        os.close(fd)
    if data is None or len(data) > max_bytes:
        return _not_parsed(seed, max_bytes, seed.content_hash)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    articles, skipped = corpus.parse_bytes(seed.name, data)
    return articles, skipped, _SeedRead(seed.name, digest, len(data))


def _not_parsed(seed: corpus.SeedFile, max_bytes: int, recorded_hash: str
                ) -> tuple[list[Article], list[corpus.SkippedFile], _SeedRead]:
    """A seed that cannot be parsed (unreadable, too large, not a regular file): corpus names
    the reason. Should it have become parseable in the meantime, nothing of it is indexed and
    an empty hash makes the next build read it again."""
    articles, skipped = corpus.read_file(seed, max_bytes=max_bytes)
    if articles:
        log.warning("skipping %s: it changed while the index was being built", seed.name)
        return [], [corpus.SkippedFile(seed.name, "changed during the build")], _SeedRead(
            seed.name, "", 0)
    return [], skipped, _SeedRead(seed.name, recorded_hash, seed.size)


class _Lock:
    """The build lock (an OS file lock, so a killed builder never leaves it held)."""

    def __init__(self, root: Path, wait_seconds: float | None) -> None:
        from filelock import FileLock, Timeout

        self._root = root
        self._timeout_type = Timeout
        self._lock = FileLock(str(root / LOCK_FILE))
        self._wait = -1 if wait_seconds is None else wait_seconds

    def __enter__(self) -> _Lock:
        try:
            self._lock.acquire(timeout=0)
        except self._timeout_type:
            log.warning("another qabot index is running; waiting for it to finish")
            try:
                self._lock.acquire(timeout=self._wait)
            except self._timeout_type:
                raise IndexLockedError("another `qabot index` is building this index",
                                       hint="wait for it to finish and try again") from None
            except OSError as exc:
                raise _write_error(self._root, exc) from exc
        except OSError as exc:  # the lock file cannot be created: read-only or full
            raise _write_error(self._root, exc) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def _write_error(root: Path, exc: BaseException) -> IndexWriteError:
    """A failed write as one message that says what happened and what to do."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    untouched = "the index was left as it was"
    if code in _FULL_ERRNOS or "disk is full" in text or "No space left" in text:
        return IndexWriteError(f"the disk holding {root} is full; the new index could not be "
                               f"written ({text}); {untouched}",
                               hint="free some disk space and run `qabot index` again")
    if code in _READ_ONLY_ERRNOS or "readonly" in text or "read-only" in text.lower():
        return IndexWriteError(f"the index folder {root} is not writable ({text}); {untouched}",
                               hint="make it writable, or point --index (QABOT_INDEX_DIR) at a "
                                    "writable folder, and run `qabot index` again")
    return IndexWriteError(f"the new index could not be written to {root} ({text}); {untouched}",
                           hint="check the disk and the folder, then run `qabot index` again")


def build_index(seeds_dir: Path, index_dir: Path, embedder: Embedder, *, rebuild: bool = False,
                max_file_bytes: int = 20 * 2**20, progress: ProgressFn | None = None,
                lock_wait_seconds: float | None = None,
                follow_external_links: bool = False) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``seeds_dir``.

    Embeds only passages whose text is new; a run with no file changes over an intact live
    generation returns at once without loading the model or writing a generation. A damaged
    live generation or ``CURRENT`` is rebuilt from whatever is intact. ``lock_wait_seconds``
    None waits for a concurrent build indefinitely, 0 fails at once with ``IndexLockedError``.
    Raises ``IndexWriteError`` when the new generation cannot be written; the live one is
    then left as it was.
    """
    started = time.perf_counter()
    seeds = corpus.discover(seeds_dir, follow_external_links=follow_external_links)
    store = IndexStore(index_dir)
    store.check_folder()
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(index_dir, exc) from exc
    with _Lock(index_dir, lock_wait_seconds):
        store._remove_leftovers()
        files_now = _file_table(seeds)
        live = _inspect_live(store)
        manifest = live.manifest
        if (not rebuild and manifest is not None
                and manifest.get("format_version") == FORMAT_VERSION
                and manifest.get("model_id") == embedder.model_id
                and manifest.get("chunking") == _chunking(embedder)
                and manifest.get("files") == files_now
                and manifest.get("max_file_bytes") == max_file_bytes):
            counts = manifest["counts"]
            return BuildReport(
                generation=live.name, articles=counts["articles"],
                passages=counts["passages"], files_added=0, files_changed=0, files_removed=0,
                files_unchanged=len(files_now), passages_embedded=0,
                passages_reused=counts["passages"],
                skipped=tuple(corpus.SkippedFile(**s) for s in manifest.get("skipped", [])),
                seconds=time.perf_counter() - started, no_change=True)
        return _build_generation(store, seeds, embedder, live=live, rebuild=rebuild,
                                 max_file_bytes=max_file_bytes, progress=progress,
                                 started=started)


def _build_generation(store: IndexStore, seeds: list[corpus.SeedFile], embedder: Embedder, *,
                      live: _Live, rebuild: bool, max_file_bytes: int,
                      progress: ProgressFn | None, started: float) -> BuildReport:
    articles, skipped, records = _read_seeds(seeds, max_file_bytes, progress)
    passages: list[Passage] = []
    for article in articles:
        passages.extend(corpus.split_passages(article, embedder.count_tokens,
                                              max_tokens=embedder.max_tokens))
    if not passages:
        raise CorpusError(f"no article could be read from {seeds[0].path.parent if seeds else 'the seeds folder'}"
                          if seeds else "the seeds folder holds no .txt, .md, .html or .jsonl files",
                          hint="add article files to the seeds folder (see README 'Seed formats')")

    previous = None if rebuild else _load_previous(store, live, embedder)
    plan = _plan_vectors(passages, previous)
    to_embed_texts = plan.new_texts
    log.info("embedding %d new texts (%d of %d passages are new)", len(to_embed_texts),
             plan.embedded_passages, len(passages))
    if progress is not None:
        progress("embedding", 0, len(to_embed_texts))
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("embedding", done, len(to_embed_texts))

    new_vectors = _embed_new(embedder, plan, advance)
    passage_vectors, sentence_vectors = plan.assemble(new_vectors, previous, embedder.dimension)

    files_now = {r.name: r.content_hash for r in records}
    name = store._next_name()
    _write_and_switch(store, name, lambda tmp: _write_generation(
        tmp, articles, passages, plan, passage_vectors, sentence_vectors, records, skipped,
        embedder, files_now, max_file_bytes, int(name.split("-")[1])))
    store._prune(name)
    # Without a trustworthy CURRENT, changes are counted against the generation reused.
    previous_files = live.files or (previous.manifest.get("files", {}) if previous else {})
    added = sum(1 for n in files_now if n not in previous_files)
    changed = sum(1 for n, h in files_now.items() if n in previous_files and previous_files[n] != h)
    removed = sum(1 for n in previous_files if n not in files_now)
    return BuildReport(
        generation=name, articles=len(articles), passages=len(passages), files_added=added,
        files_changed=changed, files_removed=removed,
        files_unchanged=len(files_now) - added - changed,
        passages_embedded=plan.embedded_passages, passages_reused=len(passages) - plan.embedded_passages,
        skipped=tuple(skipped), seconds=time.perf_counter() - started)


def _write_and_switch(store: IndexStore, name: str, write: Callable[[Path], object]) -> None:
    """Write generation ``name`` under a temporary name, move it into place and point
    ``CURRENT`` at it. On any failure nothing of it is left and ``CURRENT`` is unchanged;
    write failures become ``IndexWriteError``."""
    tmp = store.root / f".{name}.tmp-{os.getpid()}"
    final = store.root / name
    try:
        tmp.mkdir()
        write(tmp)
        os.replace(tmp, final)
        _fsync_dir(store.root)
        store._switch_to(name)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.is_dir() and store._current_or_none() != name:
            shutil.rmtree(final, ignore_errors=True)
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise _write_error(store.root, exc) from exc
        raise


@dataclass
class _VectorPlan:
    """Where each passage's and sentence's vector comes from: reused or newly embedded."""

    sentence_spans: list[list[tuple[int, int]]] = field(default_factory=list)
    passage_source: list[tuple[str, int]] = field(default_factory=list)  # ("old"|"new", index)
    sentence_source: list[tuple[str, int]] = field(default_factory=list)
    new_texts: list[str] = field(default_factory=list)
    embedded_passages: int = 0

    def assemble(self, new_vectors: np.ndarray, previous: _Previous | None,
                 dimension: int) -> tuple[np.ndarray, np.ndarray]:
        """Gather reused and new vectors into the row order of the new generation."""
        def gather(sources: list[tuple[str, int]], old: np.ndarray | None) -> np.ndarray:
            out = np.empty((len(sources), dimension), dtype=np.float32)
            for kind, wanted in (("new", new_vectors), ("old", old)):
                positions = [i for i, (k, _) in enumerate(sources) if k == kind]
                if positions and wanted is not None:
                    out[positions] = wanted[[sources[i][1] for i in positions]]
            return out

        return (gather(self.passage_source, previous.passage_vectors if previous else None),
                gather(self.sentence_source, previous.sentence_vectors if previous else None))


def _embed_new(embedder: Embedder, plan: _VectorPlan, advance: Callable[[int], None]) -> np.ndarray:
    """Vectors for ``plan.new_texts``. An embedder that ``pools_sentences`` encodes only the
    passages and pools each sentence from its passage's token vectors in the same pass ("late
    chunking"), instead of encoding every sentence of a multi-sentence passage a second time."""
    texts = plan.new_texts
    if not texts or not embedder.pools_sentences:
        return embedder.embed_documents(texts, progress=advance) if texts \
            else np.zeros((0, embedder.dimension), dtype=np.float32)
    # _plan_vectors puts a multi-sentence passage's sentence texts right after the passage.
    spans_of = {position: spans for (kind, position), spans
                in zip(plan.passage_source, plan.sentence_spans) if kind == "new"}
    positions = sorted(spans_of)
    scaled = ScaledProgress(advance, asked=len(texts), encoded=len(positions))  # sentences too
    passage_vectors, sentence_vectors = embedder.embed_with_spans(
        [texts[p] for p in positions],
        [spans_of[p] if len(spans_of[p]) > 1 else [] for p in positions], progress=scaled)
    scaled.finish()
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for p, vector, sentences in zip(positions, passage_vectors, sentence_vectors):
        out[p] = vector
        out[p + 1:p + 1 + len(sentences)] = sentences
    return out


def _plan_vectors(passages: Sequence[Passage], previous: _Previous | None) -> _VectorPlan:
    plan = _VectorPlan()
    for passage in passages:
        reused = previous.rows_by_hash.get(passage.content_hash) if previous else None
        if reused is not None and previous is not None:
            row, sentence_start, sentence_count = reused
            plan.passage_source.append(("old", row))
            plan.sentence_spans.append(previous.sentence_spans.get(row, []))
            plan.sentence_source.extend(("old", sentence_start + i) for i in range(sentence_count))
            continue
        spans = corpus.sentences(passage.text) or [(0, len(passage.text))]
        passage_position = len(plan.new_texts)
        plan.passage_source.append(("new", passage_position))
        plan.new_texts.append(passage.text)
        plan.sentence_spans.append(spans)
        if len(spans) == 1:  # a one-sentence passage: its sentence vector is the passage vector
            plan.sentence_source.append(("new", passage_position))
            plan.embedded_passages += 1
            continue
        for start, end in spans:
            plan.sentence_source.append(("new", len(plan.new_texts)))
            plan.new_texts.append(passage.text[start:end])
        plan.embedded_passages += 1
    return plan


#: Exact search up to this many vectors. Measured on this 2-core Zen 3: one exact query costs
#: about 0.1 µs per vector (3 ms at 32k, 10 ms at 100k, 57-124 ms at 1M), while IVF + SQ8 answers
#: in under 1.5 ms at 1M with recall@10 ≥ 0.97 (see bench/README.md).
EXACT_SEARCH_MAX = 32_768


def make_faiss_index(vectors: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """A FAISS inner-product index over ``vectors`` chosen by size, and its manifest entry.

    Up to ``EXACT_SEARCH_MAX`` vectors: exact ``IndexFlatIP``. Above: an inverted file with 8-bit
    scalar quantisation (``IndexIVFScalarQuantizer``), ~2·√n lists, a quarter of the memory of
    exact search; ``nprobe`` lists are visited per query (set again by ``set_search_params``).
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dimension = vectors.shape
    if count <= EXACT_SEARCH_MAX:
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, {"type": "IndexFlatIP"}
    nlist = 1 << max(4, int(round(np.log2(2 * np.sqrt(count)))))
    nprobe = min(nlist, max(32, nlist // 32))
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, nlist,
                                          faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(count, min(count, 40 * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)
    index.nprobe = nprobe
    return index, {"type": "IndexIVFScalarQuantizer", "quantizer": "QT_8bit", "nlist": nlist,
                   "nprobe": nprobe}


def set_search_params(index: Any, params: Any) -> None:
    """Apply the search-time parameters a manifest recorded (``nprobe``, ``efSearch``)."""
    if not isinstance(params, dict):
        return
    import faiss

    if "nprobe" in params:
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    if "efSearch" in params:
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])


def _write_generation(path: Path, articles: Sequence[Article], passages: Sequence[Passage],
                      plan: _VectorPlan, passage_vectors: np.ndarray,
                      sentence_vectors: np.ndarray, seeds: Sequence[_SeedRead],
                      skipped: Sequence[corpus.SkippedFile], embedder: Embedder,
                      files_now: dict[str, str], max_file_bytes: int,
                      generation: int) -> dict[str, Any]:
    import faiss

    db = sqlite3.connect(path / SQLITE)
    try:
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO files VALUES (?, ?, ?)",
                       [(s.name, s.content_hash, s.size) for s in seeds])
        db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?)",
                       [(a.key, a.source, a.title, a.date, a.url) for a in articles])
        sentence_row = 0
        passage_rows = []
        sentence_rows = []
        for row, (passage, spans) in enumerate(zip(passages, plan.sentence_spans)):
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

    np.save(path / PASSAGE_VECTORS, passage_vectors, allow_pickle=False)
    np.save(path / SENTENCE_VECTORS, sentence_vectors, allow_pickle=False)
    faiss_index, faiss_params = make_faiss_index(passage_vectors)
    try:
        faiss.write_index(faiss_index, str(path / FAISS_FILE))
    except RuntimeError as exc:  # FAISS reports failed writes (e.g. a full disk) this way
        raise OSError(f"FAISS could not write {FAISS_FILE}: {exc}") from exc

    data_files = [SQLITE, PASSAGE_VECTORS, SENTENCE_VECTORS, FAISS_FILE]
    for name in data_files:
        with open(path / name, "rb+") as fh:
            os.fsync(fh.fileno())
    manifest = {
        "format_version": FORMAT_VERSION,
        "generation": generation,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_id": embedder.model_id,
        "dimension": embedder.dimension,
        "metric": "inner_product",
        "normalized": True,
        "faiss_index": faiss_params,
        "chunking": _chunking(embedder),
        "max_file_bytes": max_file_bytes,
        "counts": {"files": len(seeds), "articles": len(articles), "passages": len(passages),
                   "sentences": len(sentence_vectors), "skipped": len(skipped)},
        "files": files_now,
        "corpus_fingerprint": hashlib.blake2b(
            json.dumps(files_now, sort_keys=True).encode(), digest_size=16).hexdigest(),
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "files_checksums": {name: {"size": (path / name).stat().st_size,
                                   "blake2b": _file_digest(path / name)} for name in data_files},
    }
    with open(path / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(path)
    return manifest
