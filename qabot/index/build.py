"""``build_index``: bring an index folder up to date with a seeds folder.

A build takes the lock, checks the live generation, parses the seed files, reuses the vectors of
unchanged passages (by content hash), embeds the new ones and writes a new generation
(writer.py); a run with no file changes over an intact live generation writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import corpus
from ..errors import CorpusError, EmbeddingError
from ..progress import ProgressFn
from ..schema import Passage
from .arrival import date_by_arrival, first_indexed
from .manifest import FORMAT_VERSION, chunking
from .plan import VectorChunks, VectorSource, local_vector_chunks, plan_vectors
from .reuse import Live, inspect_live, load_previous
from .seeds import read_seeds
from .store import BuildLock, IndexStore, generation_number, write_error
from .writer import GenerationContents, write_and_switch, write_generation

if TYPE_CHECKING:
    import numpy as np

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
                vector_source: VectorSource | None = None) -> BuildReport:
    """Bring the index in ``index_dir`` up to date with ``seeds_dir``.

    Embeds only passages whose text is new; a run with no file changes over an intact live
    generation returns at once without loading the model or writing a generation. A damaged
    live generation or ``CURRENT`` is rebuilt from whatever is intact. ``lock_wait_seconds``
    None waits for a concurrent build indefinitely, 0 fails at once with ``IndexLockedError``.
    Raises ``IndexWriteError`` when the new generation cannot be written; the live one is
    then left as it was. ``vector_source`` computes the new vectors (None: ``embedder`` here;
    e.g. a Ray cluster's); ``embedder`` still splits the passages and names the model.
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
        source = vector_source or (lambda plan, advance: local_vector_chunks(embedder, plan,
                                                                            advance))
        return _build_generation(store, seeds, embedder, source, live=live, rebuild=rebuild,
                                 max_file_bytes=max_file_bytes, progress=progress,
                                 started=started)


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


def _build_generation(store: IndexStore, seeds: list[corpus.SeedFile], embedder: Embedder,
                      source: VectorSource, *,
                      live: Live, rebuild: bool, max_file_bytes: int,
                      progress: ProgressFn | None, started: float) -> BuildReport:
    articles, skipped, records = read_seeds(seeds, max_file_bytes, progress)
    arrived = first_indexed(store, live, [record.name for record in records])
    articles = date_by_arrival(articles, arrived)
    passages: list[Passage] = []
    for article in articles:
        passages.extend(corpus.split_passages(article, embedder.count_tokens,
                                              max_tokens=embedder.max_tokens))
    if not passages:
        raise CorpusError(f"no article could be read from {seeds[0].path.parent}" if seeds
                          else "the seeds folder holds no .txt, .md, .html or .jsonl files",
                          hint="add article files to the seeds folder (see README 'Seed formats')")

    previous = None if rebuild else load_previous(store, live, embedder)
    plan = plan_vectors(passages, previous)
    log.info("embedding %d new texts (%d of %d passages are new)", len(plan.new_texts),
             plan.embedded_passages, len(passages))
    new_vectors = _gather(source(plan, _embedding_progress(progress, len(plan.new_texts))),
                          len(plan.new_texts), embedder.dimension)
    passage_vectors, sentence_vectors = plan.assemble(new_vectors, previous, embedder.dimension)

    contents = GenerationContents(articles, passages, plan.sentence_spans, passage_vectors,
                                  sentence_vectors, records, skipped, arrived)
    name = store.next_name()
    write_and_switch(store, name, lambda tmp: write_generation(
        tmp, contents, embedder, max_file_bytes=max_file_bytes,
        generation=generation_number(name)))
    store.prune(name)
    # Without a trustworthy CURRENT, changes are counted against the generation reused.
    previous_files = live.files or (previous.files if previous else {})
    files_now = contents.file_table
    added = sum(1 for n in files_now if n not in previous_files)
    changed = sum(1 for n, h in files_now.items() if n in previous_files and previous_files[n] != h)
    removed = sum(1 for n in previous_files if n not in files_now)
    return BuildReport(
        generation=name, articles=len(articles), passages=len(passages), files_added=added,
        files_changed=changed, files_removed=removed,
        files_unchanged=len(files_now) - added - changed,
        passages_embedded=plan.embedded_passages,
        passages_reused=len(passages) - plan.embedded_passages,
        skipped=tuple(skipped), seconds=time.perf_counter() - started)


def _gather(chunks: VectorChunks, rows: int, dimension: int) -> np.ndarray:
    """The chunks' rows in ``new_texts`` order; every row must come exactly once."""
    import numpy as np

    out = np.empty((rows, dimension), dtype=np.float32)
    seen = np.zeros(rows, dtype=bool)
    for start, block in chunks:
        if block.shape[1:] != (dimension,) or seen[start:start + len(block)].any() \
                or start + len(block) > rows:
            raise EmbeddingError(f"the vector source sent a bad block at row {start}")
        out[start:start + len(block)] = block
        seen[start:start + len(block)] = True
    if not seen.all():
        raise EmbeddingError(f"the vector source left {int((~seen).sum())} of {rows} texts "
                             "without a vector")
    return out


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
