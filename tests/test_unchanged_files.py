"""Unchanged seed files are carried over from the reused generation instead of being parsed
again; a generation whose rows are not in discovery order must not make a build lose a file's
articles: those files are parsed again."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from qabot import corpus
from qabot.embedding import FakeEmbedder
from qabot.index import build_index
from qabot.index.manifest import SQLITE
from qabot.index.parsed import parsed_seeds
from qabot.index.reuse import Previous
from qabot.index.unchanged import UnchangedFiles

from .ray_cluster import write_articles


def _articles(seeds: list[corpus.SeedFile], embedder: FakeEmbedder,
              unchanged: UnchangedFiles | None) -> list[list[tuple[str, str]]]:
    parsed = parsed_seeds(seeds, (embedder.count_tokens, embedder.max_tokens), 2**20, None,
                          unchanged=unchanged)
    return [[(p.source, p.text) for passages in seed.parsed.passages for p, _ in passages]
            for seed in parsed]


def test_files_whose_rows_are_out_of_order_are_parsed_again_not_dropped(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    write_articles(tmp_path / "seeds", 3)
    build_index(tmp_path / "seeds", tmp_path / "indexes", embedder)
    live = tmp_path / "indexes" / (tmp_path / "indexes" / "CURRENT").read_text().strip()
    shutil.copy(live / SQLITE, tmp_path / "old.sqlite")
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript("CREATE TABLE reversed AS SELECT * FROM articles ORDER BY rowid DESC;"
                     "DELETE FROM articles; INSERT INTO articles SELECT * FROM reversed;")
    seeds = corpus.discover(tmp_path / "seeds")
    files = {name: h for name, h in db.execute("SELECT name, content_hash FROM files")}

    def carried(database: sqlite3.Connection) -> UnchangedFiles:
        return UnchangedFiles(Previous(files, database, live / "x.npy", live / "y.npy"))

    fresh = _articles(seeds, embedder, None)
    assert all(fresh)
    assert _articles(seeds, embedder, carried(db)) == fresh  # two of three parsed again
    in_order = sqlite3.connect(live / SQLITE)
    assert _articles(seeds, embedder, carried(in_order)) == fresh  # all carried over
