"""Paragraphs → passages: the units that get embedded and cited, each within a token budget.

A paragraph over the budget is cut into overlapping windows of whole sentences (see
:func:`split_passages`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..schema import Article, Passage
from .sentences import sentences

# Words of overlap between the word-cut pieces of one over-long sentence, per overlap sentence.
_WORD_OVERLAP = 12
_WORD_RE = re.compile(r"\S+")


def split_passages(article: Article, count_tokens: Callable[[str], int], max_tokens: int = 256,
                   overlap_sentences: int = 1) -> list[Passage]:
    """The passages of ``article``: one per paragraph, or overlapping windows of long ones.

    A paragraph within ``max_tokens`` (as measured by ``count_tokens``) is one passage with
    ``window=0``. A longer one is cut into windows of whole sentences that each fit the budget,
    consecutive windows sharing ``overlap_sentences`` sentences; a sentence that alone exceeds
    the budget is cut by words into overlapping pieces. Every word lands in some window.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if overlap_sentences < 0:
        raise ValueError(f"overlap_sentences must be >= 0, got {overlap_sentences}")
    passages: list[Passage] = []
    for para in article.paragraphs:
        if count_tokens(para.text) <= max_tokens:
            windows = [para.text]
        else:
            windows = [para.text[a:b] for a, b in
                       _window_spans(para.text, count_tokens, max_tokens, overlap_sentences)]
        for window, text in enumerate(windows):
            passages.append(Passage(article_key=article.key, source=article.source,
                                    title=article.title, paragraph=para.number, window=window,
                                    text=text, section=para.section))
    return passages


def _window_spans(text: str, count_tokens: Callable[[str], int], max_tokens: int,
                  overlap: int) -> list[tuple[int, int]]:
    """Character spans of overlapping, budget-sized windows of ``text`` (whole sentences)."""

    def fits(span: tuple[int, int]) -> bool:
        return count_tokens(text[span[0]:span[1]]) <= max_tokens

    # A word this short fits without asking the tokenizer: none makes more than 4 tokens of a
    # character (byte-level BPE on 4-byte UTF-8), plus 2 special tokens. Asking for each of the
    # ~800,000 words of a 5 MB sentence would cost minutes.
    safe_chars = (max_tokens - 2) // 4
    units: list[tuple[int, int]] = []
    for span in sentences(text):
        if fits(span):
            units.append(span)
        else:
            pieces: list[tuple[int, int]] = []
            for match in _WORD_RE.finditer(text, *span):
                if match.end() - match.start() <= safe_chars:
                    pieces.append(match.span())
                else:
                    pieces.extend(_fit_word(text, match.span(), fits))
            units.extend(_pack(pieces, fits, _WORD_OVERLAP * overlap))
    return _pack(units, fits, overlap)


def _fit_word(text: str, span: tuple[int, int], fits: Callable[[tuple[int, int]], bool]
              ) -> list[tuple[int, int]]:
    """A word as one unit, or cut into character chunks if it alone exceeds the budget."""
    if fits(span) or not fits((span[0], span[0] + 1)):  # fits, or nothing could fit at all
        return [span]
    pieces: list[tuple[int, int]] = []
    start, end = span
    while start < end:
        lo, hi = start + 1, end  # largest cut in [start+1, end] that fits (at least one char)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits((start, mid)):
                lo = mid
            else:
                hi = mid - 1
        pieces.append((start, lo))
        start = lo
    return pieces


def _pack(units: Sequence[tuple[int, int]], fits: Callable[[tuple[int, int]], bool],
          overlap: int) -> list[tuple[int, int]]:
    """Greedily group consecutive spans into windows that fit, sharing ``overlap`` units.

    Every window adds at least one new unit, so the loop ends and nothing is left out; a single
    unit that does not fit on its own becomes a window by itself. Each window's end is found
    with a logarithmic number of ``fits`` calls (see :func:`_furthest_fit`), so the cost is
    about linear in the text, not in (text length x window size).
    """
    windows: list[tuple[int, int]] = []
    i, n = 0, len(units)
    hint = 1
    while i < n:
        end = _furthest_fit(units, i, fits, hint)
        windows.append((units[i][0], units[end - 1][1]))
        if end >= n:
            break
        hint = end - i
        nxt = max(i + 1, end - overlap)
        while nxt < end and not fits((units[nxt][0], units[end][1])):
            nxt += 1
        i = nxt
    return windows


def _furthest_fit(units: Sequence[tuple[int, int]], i: int,
                  fits: Callable[[tuple[int, int]], bool], hint: int) -> int:
    """The largest ``end`` (at least ``i + 1``) such that ``units[i:end]`` fits in one window.

    Gallops from ``i + hint`` (the size of the previous window) and then bisects, assuming, as
    holds for tokenizers, that a longer span never has fewer tokens.
    """
    n = len(units)

    def ok(end: int) -> bool:
        return fits((units[i][0], units[end - 1][1]))

    good, bad = i + 1, n + 1  # units[i:good] is taken (alone, even if it does not fit)
    probe = min(n, i + max(hint, 2))
    step = 1
    while probe > good:
        if ok(probe):
            good = probe
            probe = min(n, good + step)
            step *= 2
        else:
            bad = probe
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
