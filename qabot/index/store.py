"""An index folder: its generations, the ``CURRENT`` pointer, the build lock and write errors.

::

    indexes/CURRENT          "gen-000007"
    indexes/.build.lock      serialises builders (readers never lock)
    indexes/gen-000007/      one generation (see manifest.py for its files)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from pathlib import Path

from ..errors import (
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    IndexMissingError,
    IndexWriteError,
)
from .generation import Generation

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".build.lock"
KEEP_GENERATIONS = 2
_GEN_RE = re.compile(r"^gen-(\d{6,})$")
REPAIR_HINT = "run `qabot index` to repair it"


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

    def current_or_none(self) -> str | None:
        """``current_name`` for clean-up code paths: None when ``CURRENT`` is damaged."""
        try:
            return self.current_name()
        except (IndexCorruptError, ConfigError):
            return None

    def generations(self) -> list[str]:
        """Complete generation directories, oldest first."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir() if p.is_dir() and _GEN_RE.match(p.name)]
        return sorted(names, key=generation_number)

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

    def next_name(self) -> str:
        """The directory name the next generation gets."""
        numbers = [generation_number(n) for n in self.generations()]
        return f"gen-{(max(numbers) + 1 if numbers else 1):06d}"

    def switch_to(self, name: str) -> None:
        """Point ``CURRENT`` at generation ``name`` atomically (and durably)."""
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
        fsync_dir(self.root)

    def remove_leftovers(self) -> None:
        """Drop what killed builds left behind (best effort: a read-only folder keeps them)."""
        for leftover in self.root.glob(".gen-*.tmp*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in self.root.glob(f".{CURRENT_FILE}.*.tmp"):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                log.debug("cannot remove %s: %s", leftover, exc)

    def prune(self, current: str, keep: int = KEEP_GENERATIONS) -> None:
        """Drop all generations but ``current`` and the newest ``keep - 1`` others."""
        old = [n for n in self.generations() if n != current]
        for name in old[: max(0, len(old) - (keep - 1))]:
            log.info("pruning old generation %s", name)
            shutil.rmtree(self.root / name, ignore_errors=True)


def generation_number(name: str) -> int:
    """The number of generation directory ``name`` (``gen-000007`` → 7)."""
    return int(name.split("-")[1])


def fsync_dir(path: Path) -> None:
    """Make a rename or new file in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BuildLock:
    """The build lock (an OS file lock, so a killed builder never leaves it held)."""

    def __init__(self, root: Path, wait_seconds: float | None) -> None:
        from filelock import FileLock, Timeout

        self._root = root
        self._timeout_type = Timeout
        self._lock = FileLock(str(root / LOCK_FILE))
        self._wait = -1 if wait_seconds is None else wait_seconds

    def __enter__(self) -> BuildLock:
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
                raise write_error(self._root, exc) from exc
        except OSError as exc:  # the lock file cannot be created: read-only or full
            raise write_error(self._root, exc) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def write_error(root: Path, exc: BaseException) -> IndexWriteError:
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
