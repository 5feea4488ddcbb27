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
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import corpus
from .embedding import Embedder, ScaledProgress
from .errors import (
    CorpusError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
)
from .schema import Article, Passage, StoredPassage
from .wording import LETTER_WORD

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

#: ``(stage, done, total)``: lets a front end draw a progress bar without the core printing.
ProgressFn = Callable[[str, int, int], None]

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

    def current_name(self) -> str | None:
        """The live generation's directory name, or None before the first build."""
        try:
            name = (self.root / CURRENT_FILE).read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IndexCorruptError(f"cannot read {self.root / CURRENT_FILE}: {exc}",
                                    hint=REBUILD_HINT) from exc
        return name or None

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
                                    f"{self.root}", hint=REBUILD_HINT)
        return Generation.open(path, model_id=model_id, verify=verify)

    def _switch_to(self, name: str) -> None:
        pointer = self.root / CURRENT_FILE
        tmp = self.root / f".{CURRENT_FILE}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, pointer)
        _fsync_dir(self.root)

    def _next_name(self) -> str:
        numbers = [int(n.split("-")[1]) for n in self.generations()]
        return f"gen-{(max(numbers) + 1 if numbers else 1):06d}"

    def _remove_stale(self, keep: int = KEEP_GENERATIONS) -> None:
        """Drop leftovers of killed builds and all but the newest ``keep`` generations."""
        for leftover in self.root.glob(".gen-*.tmp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(f".{CURRENT_FILE}.*.tmp"):
            leftover.unlink(missing_ok=True)
        current = self.current_name()
        old = [n for n in self.generations() if n != current]
        for name in old[: max(0, len(old) - (keep - 1))]:
            log.info("pruning old generation %s", name)
            shutil.rmtree(self.root / name, ignore_errors=True)


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
    for name, expected in manifest.get("files_checksums", {}).items():
        file = path / name
        try:
            size = file.stat().st_size
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"index {path}: {name} is missing", hint=REBUILD_HINT) from exc
        if size != expected["size"]:
            raise IndexCorruptError(f"index {path}: {name} is truncated or altered "
                                    f"({size} bytes, expected {expected['size']})",
                                    hint=REBUILD_HINT)
        if _file_digest(file) != expected["blake2b"]:
            raise IndexCorruptError(f"index {path}: {name} is corrupted (checksum mismatch)",
                                    hint=REBUILD_HINT)


# --------------------------------------------------------------------------- building


def _load_previous(store: IndexStore, embedder: Embedder) -> _Previous | None:
    """The live generation's reusable parts, or None when it is absent, foreign, damaged, or its
    vectors were made another way (then everything is re-embedded)."""
    try:
        generation = store.open_current(model_id=embedder.model_id, verify=True)
    except (IndexMissingError, IndexMismatchError, IndexCorruptError) as exc:
        if not isinstance(exc, IndexMissingError):
            log.warning("not reusing the current index: %s", exc.message)
        return None
    if generation.manifest.get("chunking") != _chunking(embedder):
        log.warning("not reusing the current index: its passages or sentence vectors were made "
                    "with other settings (%s)", generation.manifest.get("chunking"))
        generation.close()
        return None
    try:
        db = generation._db
        rows_by_hash = {h: (r, s, c) for r, h, s, c in db.execute(
            "SELECT row, content_hash, sentence_start, sentence_count FROM passages")}
        spans: dict[int, list[tuple[int, int]]] = {}
        for passage_row, start, end in db.execute(
                "SELECT passage_row, start, end FROM sentences ORDER BY row"):
            spans.setdefault(passage_row, []).append((start, end))
        return _Previous(generation.manifest, rows_by_hash, spans, generation.passage_vectors,
                         generation.sentence_vectors)
    finally:
        generation.close()


def _file_table(seeds: Iterable[corpus.SeedFile]) -> dict[str, str]:
    return {s.name: s.content_hash for s in seeds}


def _chunking(embedder: Embedder) -> dict[str, Any]:
    """How passages and sentence vectors are made; vectors are reused only when this matches."""
    pooled = callable(getattr(embedder, "embed_with_spans", None))
    return {"max_tokens": embedder.max_tokens, "splitter": "pysbd-v1",
            "sentence_vectors": "pooled-from-passage" if pooled else "encoded-separately"}


class _Lock:
    """The build lock (an OS file lock, so a killed builder never leaves it held)."""

    def __init__(self, root: Path, wait_seconds: float | None) -> None:
        from filelock import FileLock, Timeout

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
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def build_index(seeds_dir: Path, index_dir: Path, embedder: Embedder, *, rebuild: bool = False,
                max_file_bytes: int = 20 * 2**20, progress: ProgressFn | None = None,
                lock_wait_seconds: float | None = None) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``seeds_dir``.

    Embeds only passages whose text is new; a run with no file changes returns at once without
    loading the model or writing a generation. ``lock_wait_seconds`` None waits for a concurrent
    build indefinitely, 0 fails at once with ``IndexLockedError``.
    """
    started = time.perf_counter()
    seeds = corpus.discover(seeds_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    store = IndexStore(index_dir)
    with _Lock(index_dir, lock_wait_seconds):
        store._remove_stale()
        files_now = _file_table(seeds)
        previous_manifest = _current_manifest(store)
        if (not rebuild and previous_manifest is not None
                and previous_manifest.get("format_version") == FORMAT_VERSION
                and previous_manifest.get("model_id") == embedder.model_id
                and previous_manifest.get("chunking") == _chunking(embedder)
                and previous_manifest.get("files") == files_now
                and previous_manifest.get("max_file_bytes") == max_file_bytes):
            counts = previous_manifest["counts"]
            return BuildReport(
                generation=store.current_name(), articles=counts["articles"],
                passages=counts["passages"], files_added=0, files_changed=0, files_removed=0,
                files_unchanged=len(files_now), passages_embedded=0,
                passages_reused=counts["passages"],
                skipped=tuple(corpus.SkippedFile(**s) for s in previous_manifest.get("skipped", [])),
                seconds=time.perf_counter() - started, no_change=True)
        return _build_generation(store, seeds, embedder, rebuild=rebuild,
                                 max_file_bytes=max_file_bytes, progress=progress,
                                 started=started, previous_files=(previous_manifest or {}).get(
                                     "files", {}))


def _current_manifest(store: IndexStore) -> dict[str, Any] | None:
    name = store.current_name()
    if name is None:
        return None
    try:
        return read_manifest(store.root / name)
    except IndexCorruptError as exc:
        log.warning("%s", exc)
        return None


def _build_generation(store: IndexStore, seeds: list[corpus.SeedFile], embedder: Embedder, *,
                      rebuild: bool, max_file_bytes: int, progress: ProgressFn | None,
                      started: float, previous_files: dict[str, str]) -> BuildReport:
    articles: list[Article] = []
    skipped: list[corpus.SkippedFile] = []
    for seed in seeds:
        file_articles, file_skipped = corpus.read_file(seed, max_bytes=max_file_bytes)
        articles.extend(file_articles)
        skipped.extend(file_skipped)
    passages: list[Passage] = []
    for article in articles:
        passages.extend(corpus.split_passages(article, embedder.count_tokens,
                                              max_tokens=embedder.max_tokens))
    if not passages:
        raise CorpusError(f"no article could be read from {seeds[0].path.parent if seeds else 'the seeds folder'}"
                          if seeds else "the seeds folder holds no .txt, .md, .html or .jsonl files",
                          hint="add article files to the seeds folder (see README 'Seed formats')")

    previous = None if rebuild else _load_previous(store, embedder)
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

    name = store._next_name()
    tmp = store.root / f".{name}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        files_now = _file_table(seeds)
        _write_generation(tmp, articles, passages, plan, passage_vectors,
                                     sentence_vectors, seeds, skipped, embedder, files_now,
                                     max_file_bytes, int(name.split("-")[1]))
        os.replace(tmp, store.root / name)
        _fsync_dir(store.root)
        store._switch_to(name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store._remove_stale()
    added = sum(1 for n in files_now if n not in previous_files)
    changed = sum(1 for n, h in files_now.items() if n in previous_files and previous_files[n] != h)
    removed = sum(1 for n in previous_files if n not in files_now)
    return BuildReport(
        generation=name, articles=len(articles), passages=len(passages), files_added=added,
        files_changed=changed, files_removed=removed,
        files_unchanged=len(files_now) - added - changed,
        passages_embedded=plan.embedded_passages, passages_reused=len(passages) - plan.embedded_passages,
        skipped=tuple(skipped), seconds=time.perf_counter() - started)


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
    """Vectors for ``plan.new_texts``. An embedder with ``embed_with_spans`` encodes only the
    passages and pools each sentence from its passage's token vectors in the same pass ("late
    chunking"), instead of encoding every sentence of a multi-sentence passage a second time."""
    texts = plan.new_texts
    late = getattr(embedder, "embed_with_spans", None)
    if not texts or late is None:
        return embedder.embed_documents(texts, progress=advance) if texts \
            else np.zeros((0, embedder.dimension), dtype=np.float32)
    # _plan_vectors puts a multi-sentence passage's sentence texts right after the passage.
    spans_of = {position: spans for (kind, position), spans
                in zip(plan.passage_source, plan.sentence_spans) if kind == "new"}
    positions = sorted(spans_of)
    scaled = ScaledProgress(advance, asked=len(texts), encoded=len(positions))  # sentences too
    passage_vectors, sentence_vectors = late(
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
                      sentence_vectors: np.ndarray, seeds: Sequence[corpus.SeedFile],
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
    faiss.write_index(faiss_index, str(path / FAISS_FILE))

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
