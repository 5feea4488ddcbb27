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
from .test_corpus import write

SECRET = "Root account\nThe root password is hunter2 and must never be served.\n"
GOOD = "Floods hit Umbria Vale\nHeavy rain on Tuesday flooded 240 homes in Umbria Vale.\n"
MINES = ("Copper mine reopens in Northgate\n"
         "About 1,150 miners returned to work at the Northgate copper mine on Monday.\n")


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


def test_jsonl_lone_surrogate_is_replaced_and_named(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    lines = [json.dumps({"title": "One", "text": "First article body."}),
             '{"title": "Bad \\ud800 title", "text": "Second \\udc00 body text."}',
             json.dumps({"title": "Three", "text": "Third article body."})]
    write(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, _ = read_corpus(tmp_path)
    assert skipped == []
    assert [a.key for a in articles] == ["feed.jsonl:1", "feed.jsonl:2", "feed.jsonl:3"]
    second = articles[1]
    assert second.title == "Bad \ufffd title"
    assert second.paragraphs[0].text == "Second \ufffd body text."
    assert utf8_clean(all_text(articles))
    assert any(w.startswith("feed.jsonl:2:") for w in warnings(caplog))


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


def test_escaped_name_never_duplicates_a_real_one(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xffname.txt"), "wb") as fh:
        fh.write(MINES.encode())
    write(tmp_path, "bad\\xffname.txt", GOOD)  # a real backslash: the escaped name, for real
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, seeds = read_corpus(tmp_path)
    assert [s.name for s in seeds] == ["bad\\xffname.txt"]
    assert [a.title for a in articles] == [GOOD.splitlines()[0]]
    assert any("escaped names" in w for w in warnings(caplog))


def test_cli_index_survives_bad_names_surrogates_and_outside_links(tmp_path: Path,
                                                                   outside: Path) -> None:
    seeds = tmp_path / "seeds"
    write(seeds, "good.txt", GOOD)
    with open(os.path.join(os.fsencode(seeds), b"bad\xffname.txt"), "wb") as fh:
        fh.write(MINES.encode())
    write(seeds, "feed.jsonl", '{"title": "Surrogate \\ud800", "text": "Lone \\udfff body."}\n')
    (seeds / "passwd.txt").symlink_to(outside / "secret.txt")
    index = tmp_path / "indexes"
    result = run_qabot("index", "--seeds", str(seeds), "--index", str(index),
                       env={"QABOT_ENCODER": "fake"}, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "Indexed 3 articles" in output and "skipped 1" in output
    assert "passwd.txt" in output and "bad\\xffname.txt" in output
    generation = (index / "CURRENT").read_text().strip()
    with sqlite3.connect(index / generation / "passages.sqlite") as db:
        rows = db.execute("SELECT source, text FROM passages").fetchall()
    assert ("bad\\xffname.txt", MINES.splitlines()[1]) in rows
    assert not any("hunter2" in text for _, text in rows)


def test_cli_index_follows_outside_links_when_the_setting_says_so(tmp_path: Path,
                                                                  outside: Path) -> None:
    seeds = tmp_path / "seeds"
    write(seeds, "good.txt", GOOD)
    (seeds / "passwd.txt").symlink_to(outside / "secret.txt")
    result = run_qabot("index", "--seeds", str(seeds), "--index", str(tmp_path / "indexes"),
                       env={"QABOT_ENCODER": "fake", "QABOT_FOLLOW_EXTERNAL_LINKS": "true"},
                       timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Indexed 2 articles" in result.stdout and "skipped 0" in result.stdout


def unpunctuated(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


def test_a_line_too_long_for_a_headline_is_body_text_and_titles_are_cut(tmp_path: Path) -> None:
    # A title is stored with each passage of its article: a 5 MB one-line file made its 5 MB
    # headline part of thousands of rows (the build ran past 15 minutes).
    text = unpunctuated(20_000)
    write(tmp_path, "wall.txt", text + "\n")
    write(tmp_path, "page.html", f"<html><head><title>{text}</title></head>"
                                 "<body><p>The harbour reopened on Monday.</p></body></html>")
    articles, skipped, _ = read_corpus(tmp_path)
    assert skipped == []
    by_key = {a.key: a for a in articles}
    assert by_key["wall.txt"].title == "wall"
    assert by_key["wall.txt"].paragraphs[0].text == text  # nothing of it is lost
    page_title = by_key["page.html"].title
    assert len(page_title) <= corpus.MAX_TITLE_CHARS + 1 and page_title.endswith("…")
    assert text.startswith(page_title[:-1])


@pytest.mark.timeout(60)
def test_megabyte_line_without_punctuation_is_cut_into_windows(tmp_path: Path) -> None:
    # 1.5 MB on one line. The old splitter re-tokenized every growing window word by word:
    # 120 times the text, two tokenizer calls per word (with the real tokenizer a 200 KB line
    # took 10 s and a 5 MB one over ten minutes). The work is measured, not the time.
    text = unpunctuated(150_000)
    write(tmp_path, "wall.txt", "A wall of text\n" + text + "\n")
    [article], skipped, _ = read_corpus(tmp_path)
    assert skipped == []
    embedder = FakeEmbedder()
    work = {"calls": 0, "chars": 0}

    def count_tokens(piece: str) -> int:
        work["calls"] += 1
        work["chars"] += len(piece)
        return embedder.count_tokens(piece)

    passages = split_passages(article, count_tokens, max_tokens=embedder.max_tokens)
    assert work["chars"] <= 20 * len(text) and work["calls"] <= 150_000 // 10
    assert len(passages) > 150_000 // 256
    assert all(embedder.count_tokens(p.text) <= embedder.max_tokens for p in passages)
    # the windows are pieces of the text, in order, and no word falls between two of them
    cursor = 0
    for passage in passages:
        start = text.index(passage.text, max(0, cursor - len(passage.text)))
        assert start <= cursor or text[cursor:start].isspace()
        cursor = start + len(passage.text)
    assert cursor == len(text)


@pytest.mark.timeout(60)
def test_deeply_nested_html_is_read(tmp_path: Path) -> None:
    depth = 20_000  # the old reader's invisible-element stripping took about 3 minutes
    page = ("<html><body><h1>Nested</h1><p>" + "<span>w " * depth + "end."
            + "</span>" * depth + "</p></body></html>")
    write(tmp_path, "deep.html", page)
    [article], skipped = read_file(discover(tmp_path)[0])
    assert skipped == []
    assert article.title == "Nested"
    assert [p.text for p in article.paragraphs] == ["w " * depth + "end."]


@pytest.mark.timeout(60)
def test_deeply_nested_blocks_are_read(tmp_path: Path) -> None:
    depth = 5_000  # the old walker recursed (and searched each subtree) once per level
    page = ("<html><body>" + "<div><p>level</p>" * depth + "</div>" * depth + "</body></html>")
    write(tmp_path, "divs.html", page)
    [article], skipped = read_file(discover(tmp_path)[0])
    assert skipped == []
    assert [p.text for p in article.paragraphs] == ["level"] * depth


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


# -------------------------------------------------------------- 3. one bad byte is not mojibake


def test_utf8_file_with_one_bad_byte_is_read_as_utf8(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    body = "The ministry said 26 “armed criminals” died, and the café reopened."
    raw = ("Kazakh unrest\n" + body + "\n").encode("utf-8").replace(b"died", b"di\xffed")
    write(tmp_path, "news.txt", raw)
    with caplog.at_level(logging.INFO, logger="qabot.corpus"):
        [article], skipped, _ = read_corpus(tmp_path)
    assert skipped == []
    assert article.paragraphs[0].text == body.replace("died", "di\ufffded")
    assert "â€" not in all_text([article])
    assert any("news.txt" in w and "UTF-8" in w for w in warnings(caplog))


def test_legacy_cp1252_file_is_still_decoded_as_cp1252(tmp_path: Path) -> None:
    text = "Lisbon protest\nAbout 450 café owners marched against the “tourism tax”.\n"
    write(tmp_path, "legacy.txt", text.encode("cp1252"))
    [article], _, _ = read_corpus(tmp_path)
    assert article.paragraphs[0].text == ("About 450 café owners marched against the "
                                          "“tourism tax”.")


# --------------------------------------------------------------- 4. boilerplate is not evidence


def test_seed_author_biography_is_not_indexed(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    shutil.copy(SEED, tmp_path / SEED.name)
    with caplog.at_level(logging.INFO, logger="qabot.corpus"):
        [article], _, _ = read_corpus(tmp_path)
    assert article.paragraphs[-1].text.startswith("On Thursday, the UN urged all parties")
    assert not any("author" in p.text and "journalist" in p.text for p in article.paragraphs)
    assert any(SEED.name in r.getMessage() and "dropped 1 boilerplate" in r.getMessage()
               for r in caplog.records if r.levelno == logging.INFO)


def test_boilerplate_is_dropped_from_every_format(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, "a.txt",
          "Bridge reopens in Lyon\nBy Claire Martin\n"
          "The Pont Lafayette reopened on Monday after two years of repairs.\n"
          "Traffic was light in the morning, the city said.\n"
          "Claire Martin is a freelance journalist with a passion for cities and transport. "
          "She currently writes for several regional papers.\n"
          "© 2023 Example Media. All rights reserved.\n")
    write(tmp_path, "b.md",
          "# Harvest falls\n\nThe wheat harvest fell by 12 percent this year.\n\n"
          "Read more: Why farmers are worried\n\nPrices are expected to rise.\n\n"
          "*This article was originally published on The Conversation.*\n")
    write(tmp_path, "c.html",
          "<html><body><h1>Port strike</h1><p>Dock workers walked out on Friday.</p>"
          "<p>The strike is expected to last a week.</p>"
          "<p>Tom Reyes is an award-winning reporter who enjoys long runs. "
          "Follow him on Twitter.</p></body></html>")
    write(tmp_path, "d.jsonl", json.dumps({
        "title": "Rates held", "text": "The central bank held rates at 4 percent.\n"
        "Sign up for our daily newsletter.\nAnalysts had expected a cut."}) + "\n")
    with caplog.at_level(logging.INFO, logger="qabot.corpus"):
        articles, skipped, _ = read_corpus(tmp_path)
    assert skipped == []
    paragraphs = {a.key: [p.text for p in a.paragraphs] for a in articles}
    assert paragraphs == {
        "a.txt": ["The Pont Lafayette reopened on Monday after two years of repairs.",
                  "Traffic was light in the morning, the city said."],
        "b.md": ["The wheat harvest fell by 12 percent this year.",
                 "Prices are expected to rise."],
        "c.html": ["Dock workers walked out on Friday.",
                   "The strike is expected to last a week."],
        "d.jsonl:1": ["The central bank held rates at 4 percent.",
                      "Analysts had expected a cut."],
    }
    assert all(a.paragraphs[0].section is None for a in articles)  # a byline is no heading
    dropped = {r.getMessage() for r in caplog.records if "boilerplate paragraph" in r.getMessage()}
    assert dropped == {"a.txt: dropped 2 boilerplate paragraph(s) (byline, author biography, "
                       "copyright, links)",
                       "b.md: dropped 2 boilerplate paragraph(s) (byline, author biography, "
                       "copyright, links)",
                       "c.html: dropped 1 boilerplate paragraph(s) (byline, author biography, "
                       "copyright, links)",
                       "d.jsonl:1: dropped 1 boilerplate paragraph(s) (byline, author "
                       "biography, copyright, links)"}


def test_news_about_journalists_is_kept(tmp_path: Path) -> None:
    news = [
        "Maria Ressa is a journalist with a passion for press freedom, her lawyers told "
        "the court on Monday.",
        "Netflix said two million more people subscribe each month.",
        "The report was first published in Nature in 2019 and has been cited widely.",
        "Evan Gershkovich is a reporter for The Wall Street Journal; he was detained in "
        "Yekaterinburg in March and denies the charges.",
    ]
    write(tmp_path, "press.txt", "Press freedom case\n" + "\n".join(news) + "\n")
    [article], _, _ = read_corpus(tmp_path)
    assert [p.text for p in article.paragraphs] == news


# ----------------------------------------------------------------- 5. one list of seed suffixes


def test_watcher_uses_the_corpus_suffixes() -> None:
    assert not hasattr(watch, "SEED_SUFFIXES")
    assert watch.SUFFIXES is corpus.SUFFIXES
    assert corpus.SUFFIXES == frozenset(corpus.PARSERS)  # the one suffix → parser table
    assert watch.is_seed_path("/seeds/sub/NEWS.HTML")  # the reader indexes any case
    assert not watch.is_seed_path("/seeds/notes.pdf")
