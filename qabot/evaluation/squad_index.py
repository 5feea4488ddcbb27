"""A SQuAD file as a corpus: one plain-text seed per article, indexed with the real embedder,
and the map from an indexed passage back to its SQuAD paragraph."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import corpus
from ..index import IndexStore, build_index
from .data import SquadSet

if TYPE_CHECKING:
    from ..embedding import Embedder
    from ..index import Generation
    from ..progress import ProgressFn
    from ..schema import Hit

#: (seed file, parsed paragraph number) → (article, SQuAD paragraph).
ParagraphMap = dict[tuple[str, int], tuple[int, int]]

_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f\u200b-\u200d\u2060\ufeff\u00ad]+")


def write_squad_seeds(squad: SquadSet, folder: Path,
                      articles: Sequence[int] | None = None) -> dict[str, int]:
    """One plain-text seed per article (title line, one paragraph per line); returns the seed
    file name → article number map."""
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[str, int] = {}
    for a in (range(len(squad.articles)) if articles is None else articles):
        title, paragraphs = squad.articles[a]
        name = f"a{a:04d}.txt"
        lines = [title] + [" ".join(p.split()) for p in paragraphs]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        names[name] = a
    return names


def paragraph_map(squad: SquadSet, folder: Path, names: dict[str, int]) -> ParagraphMap:
    """(seed file, parsed paragraph number) → (article, SQuAD paragraph), matched by text so a
    paragraph the parser reads differently is simply never counted as found."""
    mapping: ParagraphMap = {}
    seeds = {seed.name: seed for seed in corpus.discover(folder)}
    for name, a in names.items():
        wanted = {_text_key(p): i for i, p in enumerate(squad.articles[a][1])}
        parsed, _ = corpus.read_file(seeds[name])
        for article in parsed:
            for paragraph in article.paragraphs:
                index = wanted.get(_text_key(paragraph.text))
                if index is not None:
                    mapping[(name, paragraph.number)] = (a, index)
    return mapping


def _text_key(text: str) -> str:
    """``text`` without whitespace, invisible or control characters, NFC: how a paragraph is
    recognised after the corpus reader has cleaned it."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFC", text))


def build_squad_index(squad: SquadSet, work: Path, embedder: Embedder,
                      articles: Sequence[int] | None, label: str, progress: ProgressFn | None,
                      reuse_from: Path | None = None) -> tuple[Generation, ParagraphMap]:
    """Seeds of ``articles`` (all when None) and their index under ``work`` (named after
    ``label``), opened, with the map from its passages to SQuAD paragraphs; ``reuse_from`` is a
    bigger index to start from, so unchanged paragraphs are not re-embedded."""
    seeds = work / f"seeds-{label}"
    index_dir = work / f"index-{label}"
    names = write_squad_seeds(squad, seeds, articles)
    if reuse_from is not None and not index_dir.exists() and (reuse_from / "CURRENT").is_file():
        shutil.copytree(reuse_from, index_dir, ignore=shutil.ignore_patterns(".build.lock"))
    build_index(seeds, index_dir, embedder, progress=progress)
    generation = IndexStore(index_dir).open_current(model_id=embedder.model_id)
    return generation, paragraph_map(squad, seeds, names)


def locator(mapping: ParagraphMap) -> Callable[[Hit], tuple[int, int] | None]:
    """Hit → (article, SQuAD paragraph) through a ``paragraph_map``."""
    return lambda hit: mapping.get((hit.passage.source, hit.passage.paragraph))
