"""The seed files on disk: discovery (links, hidden entries, odd names), hashing, reading bytes.

Discovery lists every file whose suffix the format table knows (:data:`SUFFIXES`); a file that
cannot be read is still listed so that reading reports it as skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError
from .cleaning import SURROGATE_RE
from .formats import SUFFIXES

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: int = 20 * 2**20


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A candidate seed file found by :func:`discover`; ``name`` is relative to the seeds dir.

    ``name`` is always valid UTF-8 (see :func:`display_name`). ``problem`` is set for an entry
    that discovery already knows cannot be indexed (a link out of the seeds folder, a folder
    that cannot be listed): :func:`read_file` reports it as skipped without opening it.
    """

    name: str
    path: Path
    content_hash: str
    size: int
    problem: str | None = None


def display_name(name: str) -> str:
    """``name`` as valid UTF-8: bytes a file name holds that are not UTF-8 become ``\\xNN``.

    On POSIX, Python hands such bytes over as lone surrogates ("surrogateescape"), which cannot
    be stored in SQLite or JSON; ``bad\\udcffname.txt`` becomes ``bad\\xffname.txt``.
    """
    if not SURROGATE_RE.search(name):
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def discover(seeds_dir: Path, *, follow_external_links: bool = False) -> list[SeedFile]:
    """Every seed file under ``seeds_dir`` (recursive, hidden entries ignored), sorted by name.

    Raises :class:`CorpusError` when ``seeds_dir`` is missing, not a directory or cannot be
    listed. A file that cannot be read (or is not a regular file) is still listed, with
    ``content_hash=""``, so that :func:`read_file` reports it. So are, with a ``problem``:

    * a symbolic link (to a file or a folder) whose target lies outside ``seeds_dir``, unless
      ``follow_external_links`` is true: a link such as ``passwd.txt -> /etc/passwd`` must not
      put a file the seeds folder's owner never meant to publish into answers;
    * a sub-folder that cannot be listed (permission denied), named ``"sub/"``.

    A link to a folder inside ``seeds_dir`` is not descended into (its files are found at
    their real place); links to files inside ``seeds_dir`` are read like any file.
    """
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise CorpusError(f"seeds folder not found: {seeds_dir}",
                          hint="create it and add .txt/.md/.html/.jsonl articles, "
                               "or pass --seeds DIR")
    root = seeds_dir.resolve()
    found: list[SeedFile] = []
    seen_dirs: set[Path] = {root}
    stack: list[Path] = [seeds_dir]
    while stack:  # an explicit stack: no recursion limit on deep folder trees
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if folder == seeds_dir:
                raise CorpusError(f"cannot read the seeds folder {seeds_dir}: "
                                  f"{exc.strerror or exc}") from None
            found.append(_problem(seeds_dir, folder, f"cannot read folder: {exc.strerror or exc}",
                                  is_dir=True))
            continue
        for entry in entries:
            visited = _visit(entry, seeds_dir, root, seen_dirs, follow_external_links)
            if isinstance(visited, SeedFile):
                found.append(visited)
            elif visited is not None:
                stack.append(visited)
    # names are keys (SQLite primary keys): an escaped name equal to a real one is dropped
    found.sort(key=lambda seed: (seed.name, SURROGATE_RE.search(str(seed.path)) is not None))
    unique = [seed for i, seed in enumerate(found) if i == 0 or found[i - 1].name != seed.name]
    if len(unique) < len(found):
        log.warning("%d file(s) not indexed: their escaped names equal another file's name",
                    len(found) - len(unique))
    log.debug("discovered %d seed files in %s", len(unique), seeds_dir)
    return unique


def _visit(entry: os.DirEntry[str], seeds_dir: Path, root: Path, seen_dirs: set[Path],
           follow_external_links: bool) -> SeedFile | Path | None:
    """What one folder entry adds to the walk: a seed file (or a problem) to list, a folder to
    descend into, or nothing. Folders reached through links are added to ``seen_dirs``."""
    if entry.name.startswith("."):
        return None
    path = Path(entry.path)
    is_dir = _is_dir(entry)
    if not is_dir and Path(entry.name).suffix.lower() not in SUFFIXES:
        return None
    if not entry.is_symlink():
        return path if is_dir else _seed(seeds_dir, path)
    target = path.resolve()
    if not _inside(target, root):
        if not follow_external_links:
            return _problem(seeds_dir, path, "symbolic link to outside the seeds folder "
                            f"({display_name(str(target))}); set follow_external_links "
                            "to index it", is_dir=is_dir)
    elif is_dir:
        log.debug("not following %s: its target is inside the seeds folder", path)
        return None
    if not is_dir:
        return _seed(seeds_dir, path)
    if target in seen_dirs:  # a link cycle is walked once
        return None
    seen_dirs.add(target)
    return path


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _relative_name(seeds_dir: Path, path: Path) -> str:
    raw = path.relative_to(seeds_dir).as_posix()
    name = display_name(raw)
    if name != raw:
        log.warning("%s: the file name is not valid UTF-8 (shown with \\x escapes, and cited "
                    "so); rename the file to fix it", name)
    return name


def _seed(seeds_dir: Path, path: Path) -> SeedFile:
    content_hash, size = _hash_file(path)
    return SeedFile(name=_relative_name(seeds_dir, path), path=path, content_hash=content_hash,
                    size=size)


def _problem(seeds_dir: Path, path: Path, problem: str, *, is_dir: bool) -> SeedFile:
    name = _relative_name(seeds_dir, path) + ("/" if is_dir else "")
    return SeedFile(name=name, path=path, content_hash="", size=0, problem=problem)


def _hash_file(path: Path) -> tuple[str, int]:
    """(blake2b-128 hex of the bytes, size); ``("", size)`` when it is unreadable or irregular."""
    try:
        st = os.stat(path)
    except OSError:
        return "", 0
    if not stat.S_ISREG(st.st_mode):  # never open a FIFO or device: it could block forever
        return "", 0
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16))
    except OSError:
        return "", st.st_size
    return digest.hexdigest(), st.st_size


def read_bytes(path: Path, max_bytes: int) -> bytes | str:
    """The file's bytes, or the reason it cannot be used (unreadable, empty, too large)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return "cannot read: is a directory"
        if not stat.S_ISREG(st.st_mode):
            return "cannot read: not a regular file"
        if st.st_size == 0:
            return "empty file"
        if st.st_size > max_bytes:
            return _too_large(st.st_size, max_bytes)
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if len(data) > max_bytes:  # it grew since stat()
        return _too_large(len(data), max_bytes)
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return f"file too large ({_human_size(size)} > limit {_human_size(max_bytes)})"


def _human_size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KB"
    return f"{n} B"
