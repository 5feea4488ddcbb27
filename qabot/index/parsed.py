"""Seed files parsed into what a build ingests, the same way on either engine.

``parse_file`` is the whole per-file work after reading: parse the bytes, split the articles
into passages and find each passage's sentence spans. The local engine runs it here; the Ray
engine runs the very same function on the cluster's workers for the new and changed files
(``distributed.parser``). ``parsed_seeds`` gives every seed file's ``ParsedSeed`` in seed order:
files the reused generation already holds with the same content are carried over from it
(unchanged.py), never read or parsed again; the others are parsed by the build's
``SeedParser``, or here when it has none.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from .. import corpus
from ..progress import ProgressFn
from ..schema import Article, Passage
from .seeds import SeedRead, load_seed

Spans = list[tuple[int, int]]
#: How long a text is in the encoder's tokens, and the most one passage may have.
TokenBudget = tuple[Callable[[str], int], int]


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """One file's articles (their paragraphs dropped once split), each article's passages with
    their sentence spans (None: not computed yet, see ``passage_spans``), and why anything of
    it was skipped. Plain data: Ray workers send it back pickled."""

    articles: list[Article]
    passages: list[list[tuple[Passage, Spans | None]]]
    skipped: list[corpus.SkippedFile]


@dataclass(frozen=True, slots=True)
class ParsedSeed:
    """A seed file as the build ingests it: parsed, and what was recorded about its bytes."""

    parsed: ParsedFile
    record: SeedRead | None


#: Parses seed files elsewhere: given ``(name, bytes)`` of files (None bytes: a file that
#: could not be read), yields each one's ``ParsedFile`` in the same order, spans included
#: (an empty one for None).
SeedParser = Callable[[Iterable[tuple[str, bytes | None]]], Iterator[ParsedFile]]

EMPTY = ParsedFile([], [], [])


class Carried(Protocol):
    """Files carried over from an earlier generation (unchanged.py's ``UnchangedFiles``)."""

    def holds(self, seed: corpus.SeedFile) -> bool: ...
    def parsed(self, seed: corpus.SeedFile) -> ParsedSeed | None: ...


def passage_spans(text: str) -> Spans:
    """The character spans of a passage's sentences (the whole text when pysbd finds none)."""
    return corpus.sentences(text) or [(0, len(text))]


def split_file(articles: Sequence[Article], skipped: list[corpus.SkippedFile],
               budget: TokenBudget, spans: bool) -> ParsedFile:
    """Split ``articles`` into passages within the token ``budget``; ``spans``: find every
    passage's sentence spans now (else only the passages that are embedded get them)."""
    count_tokens, max_tokens = budget
    passages = []
    for article in articles:
        split = corpus.split_passages(article, count_tokens, max_tokens=max_tokens)
        passages.append([(p, passage_spans(p.text) if spans else None) for p in split])
    return ParsedFile([dataclasses.replace(a, paragraphs=()) for a in articles], passages,
                      skipped)


def parse_file(name: str, data: bytes, budget: TokenBudget, spans: bool = True) -> ParsedFile:
    """Parse the bytes of seed file ``name`` and split them (see ``split_file``)."""
    articles, skipped = corpus.parse_bytes(name, data)
    return split_file(articles, skipped, budget, spans)


def parsed_seeds(seeds: Sequence[corpus.SeedFile], budget: TokenBudget, max_bytes: int,
                 progress: ProgressFn | None, *, remote: SeedParser | None = None,
                 unchanged: Carried | None = None) -> Iterator[ParsedSeed]:
    """Every seed file parsed, in order, reporting ``("parsing", files done, files)``: the
    files ``unchanged`` holds carried over from it, the others read here and parsed by
    ``remote`` (it reads ahead: their records wait in a queue for their results) or here."""
    if progress is not None:
        progress("parsing", 0, len(seeds))
    carried = {seed.name for seed in seeds if unchanged is not None and unchanged.holds(seed)}
    sent = [seed for seed in seeds if seed.name not in carried] if remote is not None else []
    sent_names = {seed.name for seed in sent}
    loaded: deque[tuple[list[corpus.SkippedFile], SeedRead | None]] = deque()

    def feed() -> Iterator[tuple[str, bytes | None]]:
        for seed in sent:
            data, skipped, record = load_seed(seed, max_bytes)
            loaded.append((skipped, record))
            yield seed.name, data

    results = remote(feed()) if remote is not None and sent else iter(())
    for done, seed in enumerate(seeds, 1):
        carried_over = unchanged.parsed(seed) if unchanged is not None and seed.name in carried \
            else None
        if carried_over is not None:
            yield carried_over
        elif seed.name in sent_names:
            parsed = next(results)
            skipped, record = loaded.popleft()
            # Logged here, as a local parse logs them: the parser's log stays on its worker.
            skipped += [corpus.skip(bad.path, bad.reason) for bad in parsed.skipped]
            yield ParsedSeed(dataclasses.replace(parsed, skipped=skipped), record)
        else:
            data, skipped, record = load_seed(seed, max_bytes)
            yield ParsedSeed(dataclasses.replace(EMPTY, skipped=skipped) if data is None
                             else parse_file(seed.name, data, budget, spans=False), record)
        if progress is not None:
            progress("parsing", done, len(seeds))
    for _ in results:  # none left: this lets the parser finish (and report)
        pass
