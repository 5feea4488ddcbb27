"""``build_index``: bring an index folder up to date with a seeds folder.

A build takes the lock, checks the live generation, and streams a new generation (writer.py):
unchanged seed files are carried over from the previous generation (unchanged.py), the new
and changed ones parsed (parsed.py: here, or by the engine's ``SeedParser``), into its tables
one file at a time (ingest.py); the vectors of unchanged passages (by content hash) are copied
from the previous generation, the new ones embedded by blocks (plan.py, or the engine's
``VectorSource``) and written to their rows as they come (vector_files.py); a run with no file
changes over an intact live generation writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import corpus
from ..errors import CorpusError
from ..progress import ProgressFn
from .arrival import first_indexed
from .ingest import BuiltTables, ingest
from .manifest import FORMAT_VERSION, chunking
from .parsed import SeedParser, parsed_seeds
from .plan import VectorSource, local_vector_chunks
from .reuse import Live, Previous, inspect_live, load_previous
from .store import BuildLock, IndexStore, generation_number, write_error
from .unchanged import UnchangedFiles
from .vector_files import VectorFiles
from .writer import finish_tables, open_tables, write_and_switch, write_faiss, write_manifest

if TYPE_CHECKING:
    from ..embedding import Embedder

log = logging.getLogger(__name__)


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


def build_index(seeds_dir: Path, index_dir: Path, embedder: Embedder, *, rebuild: bool = False,
                max_file_bytes: int = 20 * 2**20, progress: ProgressFn | None = None,
                lock_wait_seconds: float | None = None,
                follow_external_links: bool = False,
                vector_source: VectorSource | None = None,
                seed_parser: SeedParser | None = None) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``seeds_dir``.

    Embeds only passages whose text is new; a run with no file changes over an intact live
    generation returns at once without loading the model or writing a generation. A damaged
    live generation or ``CURRENT`` is rebuilt from whatever is intact. ``lock_wait_seconds``
    None waits for a concurrent build indefinitely, 0 fails at once with ``IndexLockedError``.
    ``vector_source`` gives the vectors of the new texts (plan.py); None embeds them here with
    ``embedder``. ``seed_parser`` parses the files the reused generation does not hold as
    they are now (parsed.py); None parses them here. The build streams: its memory does not
    grow with the corpus beyond FAISS's.
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
        raise write_error(index_dir, exc) from exc
    with BuildLock(index_dir, lock_wait_seconds):
        store.remove_leftovers()
        files_now = {s.name: s.content_hash for s in seeds}
        live = inspect_live(store)
        if (not rebuild and live.manifest is not None
                and _up_to_date(live.manifest, files_now, embedder, max_file_bytes)):
            return _no_change(live.name, live.manifest, len(files_now), started)
        return _build_generation(store, seeds, embedder, live=live, rebuild=rebuild,
                                 max_file_bytes=max_file_bytes, progress=progress,
                                 started=started, vector_source=vector_source,
                                 seed_parser=seed_parser)


def _up_to_date(manifest: dict[str, Any], files_now: dict[str, str], embedder: Embedder,
                max_file_bytes: int) -> bool:
    """True when the intact live generation was built from these very files, this way."""
    return (manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("model_id") == embedder.model_id
            and manifest.get("chunking") == chunking(embedder)
            and manifest.get("files") == files_now
            and manifest.get("max_file_bytes") == max_file_bytes)


def _no_change(name: str | None, manifest: dict[str, Any], files: int,
               started: float) -> BuildReport:
    """The report of a run that found the live generation up to date."""
    counts = manifest["counts"]
    return BuildReport(
        generation=name, articles=counts["articles"],
        passages=counts["passages"], files_added=0, files_changed=0, files_removed=0,
        files_unchanged=files, passages_embedded=0, passages_reused=counts["passages"],
        skipped=tuple(corpus.SkippedFile(**s) for s in manifest.get("skipped", [])),
        seconds=time.perf_counter() - started, no_change=True)


def _build_generation(store: IndexStore, seeds: list[corpus.SeedFile], embedder: Embedder, *,
                      live: Live, rebuild: bool, max_file_bytes: int,
                      progress: ProgressFn | None, started: float,
                      vector_source: VectorSource | None,
                      seed_parser: SeedParser | None) -> BuildReport:
    arrived = first_indexed(store, live, [seed.name for seed in seeds])
    previous = None if rebuild else load_previous(store, live, embedder)
    name = store.next_name()
    built: list[BuiltTables] = []
    try:
        write_and_switch(store, name, lambda tmp: built.append(_write(
            tmp, seeds, embedder, previous=previous, arrived=arrived,
            max_file_bytes=max_file_bytes, progress=progress, vector_source=vector_source,
            seed_parser=seed_parser, generation=generation_number(name))))
    finally:
        if previous is not None:
            previous.close()
    store.prune(name)
    tables = built[0]
    # Without a trustworthy CURRENT, changes are counted against the generation reused.
    previous_files = live.files or (previous.files if previous else {})
    files_now = tables.file_table
    added = sum(1 for n in files_now if n not in previous_files)
    changed = sum(1 for n, h in files_now.items() if n in previous_files and previous_files[n] != h)
    removed = sum(1 for n in previous_files if n not in files_now)
    plan = tables.plan
    return BuildReport(
        generation=name, articles=tables.articles, passages=plan.passages, files_added=added,
        files_changed=changed, files_removed=removed,
        files_unchanged=len(files_now) - added - changed,
        passages_embedded=plan.embedded_passages,
        passages_reused=plan.passages - plan.embedded_passages,
        skipped=tuple(tables.skipped), seconds=time.perf_counter() - started)


def _write(path: Path, seeds: list[corpus.SeedFile], embedder: Embedder, *,
           previous: Previous | None, arrived: dict[str, str], max_file_bytes: int,
           progress: ProgressFn | None, vector_source: VectorSource | None,
           seed_parser: SeedParser | None, generation: int) -> BuiltTables:
    """Stream the generation into the empty folder ``path``: tables and plan, vectors (reused,
    then the engine's chunks as they come), full-text index, FAISS file, manifest."""
    db = open_tables(path)
    try:
        parsed = parsed_seeds(seeds, (embedder.count_tokens, embedder.max_tokens),
                              max_file_bytes, progress, remote=seed_parser,
                              unchanged=UnchangedFiles(previous) if previous else None)
        tables = ingest(db, parsed, previous=previous, arrived=arrived)
        plan = tables.plan
        if not plan.passages:
            raise CorpusError(f"no article could be read from {seeds[0].path.parent}" if seeds
                              else "the seeds folder holds no .txt, .md, .html or .jsonl files",
                              hint="add article files to the seeds folder (see README "
                                   "'Seed formats')")
        log.info("embedding %d new texts (%d of %d passages are new)", plan.new_count,
                 plan.embedded_passages, plan.passages)
        files = VectorFiles(path, plan, embedder.dimension)
        complete = False
        try:
            if previous is not None:
                files.fill_reused(previous.passage_vectors, previous.sentence_vectors)
            advance = _embedding_progress(progress, plan.new_count)
            source = vector_source or (
                lambda plan_, advance_: local_vector_chunks(embedder, plan_, advance_))
            chunks = source(plan, advance)
            try:
                for start, vectors in chunks:
                    files.write_chunk(start, vectors)
            finally:  # a stream given up on (a bad chunk) stops its engine now, not when collected
                getattr(chunks, "close", lambda: None)()
            complete = True
        finally:
            files.close(complete)
        finish_tables(path, db)
    finally:
        db.close()
    faiss_params = write_faiss(path, plan.passages, embedder.dimension)
    write_manifest(path, tables, embedder, faiss_params, max_file_bytes, generation)
    return tables


def _embedding_progress(progress: ProgressFn | None, total: int) -> Callable[[int], None]:
    """Report ``("embedding", 0, total)`` now, and return the callback that advances it."""
    if progress is not None:
        progress("embedding", 0, total)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress("embedding", done, total)

    return advance
