"""Reading the corpus: seed files → bytes → text → articles, every problem a skipped entry."""

from __future__ import annotations

import logging
from pathlib import Path

from ..schema import Article
from .cleaning import clean
from .dating import date_and_publisher
from .decoding import decode
from .files import DEFAULT_MAX_BYTES, SeedFile, discover, read_bytes
from .formats import parser_for
from .skipped import SkippedFile, skip

log = logging.getLogger(__name__)

#: Bumped whenever the same seed bytes are read into different paragraphs (2: boilerplate
#: dropped, UTF-8 with a few bad bytes kept as UTF-8), so that an index can tell it is stale.
READER_VERSION: int = 2


def read_corpus(seeds_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES, *,
                follow_external_links: bool = False
                ) -> tuple[list[Article], list[SkippedFile], list[SeedFile]]:
    """Discover and parse every seed file: (articles, skipped files, discovered seed files)."""
    seeds = discover(seeds_dir, follow_external_links=follow_external_links)
    articles: list[Article] = []
    skipped: list[SkippedFile] = []
    for seed in seeds:
        got, bad = read_file(seed, max_bytes=max_bytes)
        articles.extend(got)
        skipped.extend(bad)
    log.info("read %d articles from %d files in %s (%d skipped)",
             len(articles), len(seeds), seeds_dir, len(skipped))
    return articles, skipped, seeds


def read_file(seed: SeedFile, max_bytes: int = DEFAULT_MAX_BYTES
              ) -> tuple[list[Article], list[SkippedFile]]:
    """Parse one seed file into articles; every problem becomes a :class:`SkippedFile`.

    Never raises for bad content; each skip is logged once as a warning naming the file.
    """
    if seed.problem is not None:
        return [], [skip(seed.name, seed.problem)]
    data_or_reason = read_bytes(seed.path, max_bytes)
    if isinstance(data_or_reason, str):
        return [], [skip(seed.name, data_or_reason)]
    return parse_bytes(seed.name, data_or_reason)


def parse_bytes(name: str, data: bytes) -> tuple[list[Article], list[SkippedFile]]:
    """Parse the bytes of the seed file ``name`` (its suffix picks the format) into articles;
    like :func:`read_file`, every problem becomes a logged :class:`SkippedFile`."""
    if not data.strip():
        return [], [skip(name, "empty file")]
    text = decode(data, name)
    if text is None:
        return [], [skip(name, "binary file")]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not clean(text):
        return [], [skip(name, "empty file")]
    parse = parser_for(Path(name).suffix.lower())
    try:
        articles, skipped = parse(name, text)
        return [date_and_publisher(article) for article in articles], skipped
    except Exception as exc:  # a parser bug on odd input must not abort the whole build
        log.debug("parser failed on %s", name, exc_info=True)
        return [], [skip(name, f"cannot parse: {type(exc).__name__}: {exc}")]
