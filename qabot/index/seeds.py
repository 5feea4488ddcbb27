"""Reading the seed files for a build: each one's bytes, and the digest of the bytes parsed.

The corpus package parses (``corpus.parse_bytes``, here or on a Ray worker: parsed.py) and names
why a file cannot be used (``corpus.read_file``); what a build adds is reading each file once,
without blocking on a FIFO, and recording the digest and size of exactly the bytes it parsed,
so that a file edited, replaced or removed while the build runs is seen as changed by the next
build.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass

from .. import corpus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SeedRead:
    """What a build recorded about one seed file: the digest and size of the bytes it parsed."""

    name: str
    content_hash: str
    size: int


def load_seed(seed: corpus.SeedFile, max_bytes: int
              ) -> tuple[bytes | None, list[corpus.SkippedFile], SeedRead | None]:
    """Read one seed file's bytes and record their digest (one read), so a file edited or
    replaced while the build runs is seen as changed by the next build. ``None`` bytes: it
    cannot be parsed, and the skipped entries say why; a file that vanished since discovery is
    not recorded (None)."""
    if seed.problem is not None:  # e.g. a link out of the seeds folder: never opened
        return None, *_not_parsed(seed, max_bytes, "")
    try:
        # O_NONBLOCK: opening a FIFO that replaced the file must not hang the build.
        fd = os.open(seed.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        if not seed.content_hash:  # already unreadable when discovered (a dangling link)
            return None, *_not_parsed(seed, max_bytes, "")
        log.warning("skipping %s: it vanished while the index was being built", seed.name)
        return None, [corpus.SkippedFile(seed.name, "vanished during the build")], None
    except OSError:
        return None, *_not_parsed(seed, max_bytes, "")
    data: bytes | None = None
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
            with open(fd, "rb", closefd=False) as fh:
                data = fh.read(max_bytes + 1)
    except OSError:
        return None, *_not_parsed(seed, max_bytes, "")
    finally:
        os.close(fd)
    if data is None or len(data) > max_bytes:
        return None, *_not_parsed(seed, max_bytes, seed.content_hash)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return data, [], SeedRead(seed.name, digest, len(data))


def _not_parsed(seed: corpus.SeedFile, max_bytes: int, recorded_hash: str
                ) -> tuple[list[corpus.SkippedFile], SeedRead]:
    """Why a seed cannot be parsed (unreadable, too large, not a regular file), as corpus names
    it. Should it have become parseable in the meantime, nothing of it is indexed and an empty
    hash makes the next build read it again."""
    articles, skipped = corpus.read_file(seed, max_bytes=max_bytes)
    if articles:
        log.warning("skipping %s: it changed while the index was being built", seed.name)
        return [corpus.SkippedFile(seed.name, "changed during the build")], SeedRead(
            seed.name, "", 0)
    return skipped, SeedRead(seed.name, recorded_hash, seed.size)
