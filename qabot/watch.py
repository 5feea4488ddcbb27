"""Watch the seeds folder with watchdog and call back, debounced, once changes settle."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from .corpus import SUFFIXES

log = logging.getLogger(__name__)


def is_seed_path(path: str) -> bool:
    """Whether ``path`` names a file the corpus reader would index: a suffix of the corpus's
    format table (:data:`qabot.corpus.SUFFIXES`), in any case."""
    return Path(path).suffix.lower() in SUFFIXES


def watch_seeds(seeds_dir: Path, on_change: Callable[[], None], stop: threading.Event,
                debounce_seconds: float = 1.0, on_ready: Callable[[], None] | None = None) -> None:
    """Block until ``stop`` is set, calling ``on_change`` after each burst of seed-file events.

    ``on_ready`` is called once the watch is in place (changes from then on are seen).

    A burst ends when no relevant event has arrived for ``debounce_seconds``, so an editor's
    save-rename-chmod sequence or a copy of many files triggers one rebuild, not dozens.
    """
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    changed = threading.Event()

    class _Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
            if event.is_directory or any(is_seed_path(p) for p in paths if p):
                log.debug("seed change: %s %s", event.event_type, event.src_path)
                changed.set()

    observer = Observer()
    observer.schedule(_Handler(), str(seeds_dir), recursive=True)
    observer.start()
    if on_ready is not None:
        on_ready()
    try:
        while not stop.is_set():
            if not changed.wait(timeout=0.2):
                continue
            while changed.is_set() and not stop.is_set():  # wait for the burst to settle
                changed.clear()
                stop.wait(debounce_seconds)
            if not stop.is_set():
                on_change()
    finally:
        observer.stop()
        observer.join()
