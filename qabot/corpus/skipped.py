"""What was not indexed, and why: one record and one logged warning per skipped file or line."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A seed file (or one JSONL line, ``"feed.jsonl:7"``) that was not indexed, and why."""

    path: str
    reason: str


def skip(name: str, reason: str) -> SkippedFile:
    """A :class:`SkippedFile` for ``name``, logged once as a warning that says why."""
    log.warning("skipping %s: %s", name, reason)
    return SkippedFile(path=name, reason=reason)
