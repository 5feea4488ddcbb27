"""Sentence splitting with pysbd: character spans that cover every word of a text.

pysbd is slow on long texts and stumbles on quotes; the code around it chunks long texts, skips
texts without any possible boundary and fixes the quote cases (see :func:`sentences`).
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pysbd

log = logging.getLogger(__name__)

_segmenter_lock = threading.Lock()
_segmenter_instance: pysbd.Segmenter | None = None
_CLOSING_QUOTES = "”’\"'»"
# Texts longer than this many characters go through pysbd in chunks (its cost is superlinear).
_PYSBD_CHUNK = 4000
# pysbd does not split after a sentence that ends inside single curly quotes: "said ‘no.’ Then".
_SINGLE_QUOTE_BREAK_RE = re.compile(r"(?<=[.!?…]’)\s+(?=[A-Z“‘])")
# pysbd only ever ends a sentence at one of these (terminal punctuation, the ")" of a list item
# or aside, a line break); a text without any is one sentence, and pysbd (~30 ms per 4,000
# characters) need not read it: a 5 MB unpunctuated line took minutes.
_MAYBE_BOUNDARY_RE = re.compile("[.!?…。．！？ȸȹ☉☈☇☄)\n\r]")


def _segmenter() -> pysbd.Segmenter:
    """The shared pysbd segmenter, created on first use."""
    global _segmenter_instance
    if _segmenter_instance is None:
        import pysbd

        from .sbd_english import english_language

        segmenter = pysbd.Segmenter(language="en", clean=False)
        segmenter.language_module = english_language()  # same sentences, fewer repeated scans
        _segmenter_instance = segmenter
    return _segmenter_instance


def _pysbd_sentences(text: str) -> list[str]:
    """pysbd's (stripped) sentences; falls back to one sentence if pysbd fails."""
    try:
        with _segmenter_lock:
            seg = _segmenter()
            # processor() returns the segments without the quadratic re-matching that
            # Segmenter.segment() does (and which drops sentences it cannot find again).
            return [str(s) for s in seg.processor(text).process()]
    except Exception:  # pysbd is regex-heavy; odd input must not break indexing
        log.debug("pysbd failed on a %d-char text", len(text), exc_info=True)
        return [text]


def _next_non_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _advance_non_space(text: str, pos: int, count: int) -> int:
    """Position after ``count`` non-whitespace characters starting at ``pos``."""
    while pos < len(text) and count > 0:
        if not text[pos].isspace():
            count -= 1
        pos += 1
    return pos


def _aligned_starts(text: str) -> list[int]:
    """Where each pysbd sentence of ``text`` starts in ``text`` (sorted, unique)."""
    if not _MAYBE_BOUNDARY_RE.search(text):
        return [_next_non_space(text, 0)]
    starts: list[int] = []
    cursor = 0
    for raw in _pysbd_sentences(text):
        sent = raw.strip()
        if not sent:
            continue
        idx = text.find(sent, cursor)
        if idx < 0:  # pysbd altered the text: align by non-whitespace characters instead
            idx = _next_non_space(text, cursor)
            end = _advance_non_space(text, idx, sum(1 for ch in sent if not ch.isspace()))
        else:
            end = idx + len(sent)
        if idx < len(text):
            starts.append(idx)
        cursor = max(cursor, end)
    first = _next_non_space(text, 0)
    return sorted({s for s in starts if s > first} | {first})


def _sentence_starts(text: str) -> list[int]:
    """Sentence starts of ``text``; long texts go through pysbd in overlapping chunks.

    pysbd's cost grows faster than linearly with text length, so a text over
    ``_PYSBD_CHUNK`` characters is segmented chunk by chunk: every sentence but the last of a
    chunk is kept, and the next chunk starts where that last (possibly cut) sentence starts.
    A run longer than a chunk without any sentence boundary is cut at a space.
    """
    if len(text) <= _PYSBD_CHUNK:
        return _aligned_starts(text)
    starts: list[int] = []
    pos = 0
    while pos < len(text):
        end = min(len(text), pos + _PYSBD_CHUNK)
        if end < len(text):
            space = text.rfind(" ", pos + _PYSBD_CHUNK // 2, end)
            if space > pos:
                end = space
        local = _aligned_starts(text[pos:end])
        if end >= len(text) or len(local) < 2:
            starts.extend(pos + s for s in local)
            pos = end
        else:
            starts.extend(pos + s for s in local[:-1])
            pos += local[-1]
    return sorted(set(starts))


@lru_cache(maxsize=8192)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    if not text or text.isspace():
        return ()
    # 1. where each pysbd sentence starts in the original text
    starts = _sentence_starts(text)

    # 2. a sentence that begins with a closing quote belongs to the previous one:
    #    pysbd turns 'He left.” Then' into 'He left.' + '” Then'.
    fixed: list[int] = [starts[0]]
    for start in starts[1:]:
        pos = start
        while pos < len(text) and text[pos] in _CLOSING_QUOTES:
            pos += 1
        if pos > start and (pos == len(text) or text[pos].isspace()):
            prev_end = len(text[:start].rstrip())
            if prev_end and text[prev_end - 1] in ".!?…":
                start = _next_non_space(text, pos)
                if start >= len(text):
                    continue
        if start > fixed[-1]:
            fixed.append(start)

    # 3. spans between consecutive starts, stripped; extra split after .’ / ?’ / !’
    spans: list[tuple[int, int]] = []
    bounds = fixed + [len(text)]
    for a, b in zip(bounds, bounds[1:]):
        pieces = [a]
        pieces.extend(m.end() for m in _SINGLE_QUOTE_BREAK_RE.finditer(text, a, b))
        pieces.append(b)
        for s, e in zip(pieces, pieces[1:]):
            s = _next_non_space(text, s)
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return tuple(spans)


def sentences(text: str) -> list[tuple[int, int]]:
    """Character ``(start, end)`` spans of the sentences of ``text`` (pysbd, English).

    Spans are in order, non-empty, stripped of surrounding whitespace, and together cover every
    non-whitespace character of ``text``; ``text[start:end]`` is the sentence. A closing quote
    after the final punctuation (``.”``, ``?’``) stays with its sentence. Results are cached.
    """
    return list(_sentence_spans(text))
