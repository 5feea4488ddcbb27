"""Issue 12: bad seed input never blocks a build, never leaks files from outside the seeds
folder, and is read the way a person would read it (no mojibake, no author biography).

Each test states what a user would notice: what gets indexed, skipped and warned about.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from qabot import corpus, watch
from qabot.config import load_settings
from qabot.corpus import SkippedFile, discover, read_corpus, read_file, split_passages
from qabot.embedding import FakeEmbedder
from qabot.schema import Article

from .conftest import ROOT, SEED, run_qabot

SECRET = "Root account\nThe root password is hunter2 and must never be served.\n"
GOOD = "Floods hit Umbria Vale\nHeavy rain on Tuesday flooded 240 homes in Umbria Vale.\n"
MINES = ("Copper mine reopens in Northgate\n"
         "About 1,150 miners returned to work at the Northgate copper mine on Monday.\n")


def write(dir_: Path, name: str, content: str | bytes) -> Path:
    path = dir_ / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def all_text(articles: list[Article]) -> str:
    return "\n".join([a.title for a in articles]
                     + [p.text for a in articles for p in a.paragraphs])


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def utf8_clean(*texts: str) -> bool:
    """Whether every text can be stored as UTF-8 (no lone surrogates)."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the seeds folder, holding a secret file and a sub-folder of articles."""
    folder = tmp_path / "outside"
    write(folder, "secret.txt", SECRET)
    write(folder, "more/mines.txt", MINES)
    return folder


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    folder = tmp_path / "seeds"
    write(folder, "good.txt", GOOD)
    return folder


# ------------------------------------------------------------- 1. links out of the seeds folder


def test_link_to_a_file_outside_the_seeds_folder_is_skipped_and_named(
        seeds: Path, outside: Path, caplog: pytest.LogCaptureFixture) -> None:
    (seeds / "passwd.txt").symlink_to(outside / "secret.txt")
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, _ = read_corpus(seeds)
    assert [a.key for a in articles] == ["good.txt"]
    assert "hunter2" not in all_text(articles)
    assert [s.path for s in skipped] == ["passwd.txt"]
    assert "outside the seeds folder" in skipped[0].reason
    assert any("passwd.txt" in w and "outside the seeds folder" in w for w in warnings(caplog))


def test_link_to_a_folder_outside_the_seeds_folder_is_skipped_and_named(
        seeds: Path, outside: Path, caplog: pytest.LogCaptureFixture) -> None:
    (seeds / "ext").symlink_to(outside / "more", target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, _ = read_corpus(seeds)
    assert [a.key for a in articles] == ["good.txt"]
    assert [s.path for s in skipped] == ["ext/"]
    assert any("ext/" in w and "outside the seeds folder" in w for w in warnings(caplog))


def test_external_links_are_followed_only_when_the_setting_says_so(
        seeds: Path, outside: Path) -> None:
    (seeds / "passwd.txt").symlink_to(outside / "secret.txt")
    (seeds / "ext").symlink_to(outside / "more", target_is_directory=True)
    articles, skipped, _ = read_corpus(seeds, follow_external_links=True)
    assert sorted(a.key for a in articles) == ["ext/mines.txt", "good.txt", "passwd.txt"]
    assert skipped == []


def test_links_inside_the_seeds_folder_keep_working(seeds: Path) -> None:
    write(seeds, "archive/mines.txt", MINES)
    (seeds / "mines-latest.txt").symlink_to(seeds / "archive" / "mines.txt")
    (seeds / "archive-alias").symlink_to(seeds / "archive", target_is_directory=True)
    articles, skipped, _ = read_corpus(seeds)
    # the folder alias is not walked twice: its file is indexed at its real place
    assert sorted(a.key for a in articles) == ["archive/mines.txt", "good.txt",
                                               "mines-latest.txt"]
    assert skipped == []


def test_follow_external_links_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ROOT / "config" / "qabot.toml"
    monkeypatch.delenv("QABOT_FOLLOW_EXTERNAL_LINKS", raising=False)
    assert load_settings(config).follow_external_links is False
    monkeypatch.setenv("QABOT_FOLLOW_EXTERNAL_LINKS", "true")
    assert load_settings(config).follow_external_links is True


# -------------------------------------------------------- 2. one bad input never blocks a build


def test_file_name_with_undecodable_byte_gets_a_safe_name(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"bad\xffname.txt")
    with open(raw, "wb") as fh:
        fh.write(MINES.encode())
    write(tmp_path, "good.txt", GOOD)
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, seeds = read_corpus(tmp_path)
    assert skipped == []
    assert [s.name for s in seeds] == ["bad\\xffname.txt", "good.txt"]
    assert [a.key for a in articles] == ["bad\\xffname.txt", "good.txt"]
    assert all(utf8_clean(a.key, a.source, a.title) for a in articles)
    assert any("bad\\xffname.txt" in w for w in warnings(caplog))


def test_unreadable_sub_folder_is_named_and_counted(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    # chmod 000 does not stop root (CI runs as root), so the OS refusal is simulated.
    write(tmp_path, "good.txt", GOOD)
    locked = write(tmp_path, "locked/inside.txt", MINES).parent
    real_scandir = os.scandir

    def refusing_scandir(path: object = ".") -> object:
        if os.fspath(path) == str(locked):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, _ = read_corpus(tmp_path)
    assert [a.key for a in articles] == ["good.txt"]
    assert skipped == [SkippedFile("locked/", "cannot read folder: Permission denied")]
    assert warnings(caplog) == ["skipping locked/: cannot read folder: Permission denied"]
