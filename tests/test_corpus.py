"""Tests for qabot.corpus: discovery, the four seed formats, bad input, passages and sentences."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from qabot.corpus import (
    SeedFile,
    SkippedFile,
    discover,
    parse_bytes,
    read_corpus,
    read_file,
    sentences,
    split_passages,
)
from qabot.errors import CorpusError
from qabot.schema import Article, Paragraph

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_a673f91f4b4f9cfb.txt"


def word_tokens(text: str) -> int:
    """A stand-in tokenizer: one token per word plus two special tokens."""
    return len(text.split()) + 2


def write(dir_: Path, name: str, content: str | bytes) -> Path:
    path = dir_ / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def read_one(dir_: Path, name: str) -> tuple[list[Article], list[SkippedFile]]:
    seeds = {seed.name: seed for seed in discover(dir_)}
    return read_file(seeds[name])


def texts(article: Article) -> list[str]:
    return [p.text for p in article.paragraphs]


# ------------------------------------------------------------------------------ the real seed


@pytest.fixture()
def seed_article(tmp_path: Path) -> Article:
    shutil.copy(SEED, tmp_path / SEED.name)
    articles, skipped, seeds = read_corpus(tmp_path)
    assert skipped == []
    assert [s.name for s in seeds] == [SEED.name]
    assert len(articles) == 1
    return articles[0]


def test_seed_title_key_and_source(seed_article: Article) -> None:
    assert seed_article.title == ("The government faces major protests against the president "
                                  "and prices.")
    assert seed_article.key == seed_article.source == SEED.name
    assert seed_article.date is None and seed_article.url is None


def test_seed_paragraph_numbers_and_sections(seed_article: Article) -> None:
    # Counted from the file: line 1 is the headline, lines 2-11 are paragraphs 1-10,
    # line 12 is the heading ‘Order restored’, lines 13-18 are paragraphs 11-16.
    arrested = [p for p in seed_article.paragraphs
                if "more than 3,800 people have been arrested" in p.text]
    assert len(arrested) == 1
    assert arrested[0].number == 16
    assert arrested[0].section == "‘Order restored’"
    assert arrested[0].text.startswith("The security forces reported 18 dead")

    first = seed_article.paragraphs[0]
    assert first.number == 1 and first.section is None
    assert first.text.startswith("This Friday the President of Kazakhstan")

    anger = next(p for p in seed_article.paragraphs if p.text.startswith("The intensity"))
    assert anger.section == "Anger against the former president"
    assert anger.number == 19


def test_seed_headings_are_not_paragraphs(seed_article: Article) -> None:
    all_text = texts(seed_article)
    assert "‘Order restored’" not in all_text
    assert "Anger against the former president" not in all_text
    assert seed_article.title not in all_text
    # 29 non-empty lines = 1 headline + 2 section headings + 25 paragraphs + 1 author biography (dropped)
    assert [p.number for p in seed_article.paragraphs] == list(range(1, 26))
    assert any("Nursultán Nazarbayev" in t for t in all_text)  # accents survive


def test_seed_passages_keep_paragraph_numbers(seed_article: Article) -> None:
    passages = split_passages(seed_article, word_tokens)
    assert [(p.paragraph, p.window) for p in passages] == [(n, 0) for n in range(1, 26)]
    assert all(p.title == seed_article.title for p in passages)
    assert passages[15].section == "‘Order restored’"
    assert passages[15].text == seed_article.paragraphs[15].text


# ------------------------------------------------------------------------------ plain text


def test_txt_normalises_whitespace_and_zero_width(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "\ufeff  Headline\u200b here  \n\n  First\tpara   has  "
                             "spaces.\r\nSecond\u00a0para here.\n***\nThird para.\n")
    [article], skipped = read_one(tmp_path, "a.txt")
    assert skipped == []
    assert article.title == "Headline here"
    assert texts(article) == ["First para has spaces.", "Second para here.", "Third para."]


def test_txt_nfc_normalisation(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Title\nNursulta\u0301n spoke.\n")  # decomposed á
    [article], _ = read_one(tmp_path, "a.txt")
    assert article.paragraphs[0].text == "Nursultán spoke."


def test_txt_short_lines_only_still_give_paragraphs(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Title\nTokyo hosts the games\n")
    [article], skipped = read_one(tmp_path, "a.txt")
    assert skipped == []
    assert texts(article) == ["Tokyo hosts the games"]


# ------------------------------------------------------------------------------ markdown


MARKDOWN = """---
title: "Front Matter Title"
date: 2022-01-07
---

# Front Matter Title

Intro with a [link text](https://example.com/secret-url) and *emphasis* and `code`.

## Background

- first item
- second **bold** item

> A quoted paragraph.

![an image alt](https://example.com/img.png)
"""


def test_markdown(tmp_path: Path) -> None:
    write(tmp_path, "post.md", MARKDOWN)
    [article], skipped = read_one(tmp_path, "post.md")
    assert skipped == []
    assert article.title == "Front Matter Title"
    assert article.date == "2022-01-07"
    assert texts(article) == [
        "Intro with a link text and emphasis and code.",
        "first item",
        "second bold item",
        "A quoted paragraph.",
    ]
    assert [p.section for p in article.paragraphs] == [None, "Background", "Background",
                                                       "Background"]
    joined = " ".join(texts(article))
    assert "https://" not in joined and "*" not in joined and "`" not in joined
    assert "an image alt" not in joined


def test_markdown_first_heading_is_title(tmp_path: Path) -> None:
    write(tmp_path, "sub/b.markdown", "## Big News\n\nBody one.\n\n### Later\n\nBody two.\n")
    [article], _ = read_one(tmp_path, "sub/b.markdown")
    assert article.key == "sub/b.markdown"
    assert article.title == "Big News"
    assert [(p.number, p.text, p.section) for p in article.paragraphs] == [
        (1, "Body one.", None), (2, "Body two.", "Later")]


# ------------------------------------------------------------------------------ html


HTML = """<!doctype html>
<html><head>
<title>Page title | Site</title>
<meta name="date" content="2022-01-07">
<style>.x { color: red }</style>
<script>var secret = "SCRIPT TEXT";</script>
</head>
<body>
<nav><a href="/">Home</a> NAV TEXT</nav>
<h1>Real Headline</h1>
<p>First <b>bold</b> paragraph<br>continues.</p>
<div hidden>HIDDEN TEXT</div>
<h2>Reaction</h2>
<ul><li>Item one</li><li>Item two</li></ul>
<blockquote><p>Quoted words.</p></blockquote>
<div>Stray div text.</div>
<div><span>Mixed</span> text <p>Inner para.</p></div>
<script>document.write("MORE SCRIPT")</script>
<footer>FOOTER TEXT</footer>
</body></html>
"""


def test_html(tmp_path: Path) -> None:
    write(tmp_path, "page.html", HTML)
    [article], skipped = read_one(tmp_path, "page.html")
    assert skipped == []
    assert article.title == "Real Headline"
    assert article.date == "2022-01-07"
    assert texts(article) == ["First bold paragraph continues.", "Item one", "Item two",
                              "Quoted words.", "Stray div text.", "Mixed text", "Inner para."]
    assert [p.section for p in article.paragraphs] == [None] + ["Reaction"] * 6
    joined = " ".join(texts(article))
    for absent in ("SCRIPT", "color", "NAV TEXT", "HIDDEN", "FOOTER", "Page title"):
        assert absent not in joined


def test_html_title_falls_back_to_title_tag(tmp_path: Path) -> None:
    write(tmp_path, "p.htm", "<html><head><title>Only Title</title></head>"
                             "<body><p>Text.</p></body></html>")
    [article], _ = read_one(tmp_path, "p.htm")
    assert article.title == "Only Title"
    assert texts(article) == ["Text."]


def test_html_without_text_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "s.html", "<html><body><script>only()</script></body></html>")
    articles, skipped = read_one(tmp_path, "s.html")
    assert articles == []
    assert skipped == [SkippedFile("s.html", "no paragraphs found")]


# ------------------------------------------------------------------------------ jsonl


def test_jsonl_with_malformed_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = [
        json.dumps({"title": "One", "text": "Para A.\n\nPara B.", "url": "http://a",
                    "date": "2022-01-01"}),
        '{"title": "broken", "text": ',
        "",
        json.dumps({"text": "Short headline\nBody of three."}),
        json.dumps({"text": 42}),
        json.dumps(["not", "an", "object"]),
    ]
    write(tmp_path, "x.jsonl", "\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped = read_one(tmp_path, "x.jsonl")
    assert [a.key for a in articles] == ["x.jsonl:1", "x.jsonl:4"]
    assert all(a.source == "x.jsonl" for a in articles)
    first, second = articles
    assert (first.title, first.url, first.date) == ("One", "http://a", "2022-01-01")
    assert texts(first) == ["Para A.", "Para B."]
    assert second.title == "Short headline"
    assert texts(second) == ["Body of three."]
    assert [s.path for s in skipped] == ["x.jsonl:2", "x.jsonl:5", "x.jsonl:6"]
    assert skipped[0].reason.startswith("malformed JSON on line 2")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "x.jsonl:2" in warnings[0]


def test_jsonl_all_lines_bad(tmp_path: Path) -> None:
    write(tmp_path, "bad.jsonl", "nope\n{}\n")
    articles, skipped = read_one(tmp_path, "bad.jsonl")
    assert articles == []
    assert [s.path for s in skipped] == ["bad.jsonl:1", "bad.jsonl:2"]


def test_jsonl_title_fallback(tmp_path: Path) -> None:
    long_text = "This first paragraph is much too long to be a headline for the article at all."
    write(tmp_path, "feed.jsonl", json.dumps({"text": long_text}) + "\n")
    [article], _ = read_one(tmp_path, "feed.jsonl")
    assert article.title == "feed #1"
    assert texts(article) == [long_text]


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"  \n\t\r\n  ", "empty file"),
    (b"\xef\xbb\xbf\n", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)), "binary file"),
    (b"text" + b"\x01\x02\x03" * 20, "binary file"),
])
def test_bad_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                               content: bytes, reason: str) -> None:
    write(tmp_path, "bad.txt", content)
    write(tmp_path, "good.txt", "Title\nA good paragraph.\n")
    with caplog.at_level(logging.WARNING, logger="qabot.corpus"):
        articles, skipped, seeds = read_corpus(tmp_path)
    assert [a.key for a in articles] == ["good.txt"]
    assert skipped == [SkippedFile("bad.txt", reason)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"skipping bad.txt: {reason}"]


def test_cp1252_file_is_decoded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = "Café news\nShe said “bonjour” at the café.\n".encode("cp1252")
    assert b"\x93" in raw  # really not UTF-8
    write(tmp_path, "old.txt", raw)
    with caplog.at_level(logging.INFO, logger="qabot.corpus"):
        [article], skipped = read_one(tmp_path, "old.txt")
    assert skipped == []
    assert article.title == "Café news"
    assert texts(article) == ["She said “bonjour” at the café."]
    assert any("cp1252" in r.getMessage() for r in caplog.records)


def test_undefined_cp1252_bytes_fall_back_to_latin1(tmp_path: Path) -> None:
    write(tmp_path, "l.txt", b"Title\nCaf\xe9 \x81 ok.\n")  # 0x81 is undefined in cp1252
    [article], _ = read_one(tmp_path, "l.txt")
    assert article.paragraphs[0].text.startswith("Café")


def test_too_large_file(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "Title\n" + "word " * 400)
    [seed] = discover(tmp_path)
    articles, skipped = read_file(seed, max_bytes=1000)
    assert articles == []
    assert skipped == [SkippedFile("big.txt", "file too large (2.0 KB > limit 1000 B)")]
    assert read_file(seed)[0]  # within the default limit it is fine


def test_dangling_symlink_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "x.txt").symlink_to(tmp_path / "missing-target.txt")
    write(tmp_path, "ok.txt", "Title\nBody.\n")
    articles, skipped, seeds = read_corpus(tmp_path)
    assert [s.name for s in seeds] == ["ok.txt", "x.txt"]
    assert seeds[1].content_hash == ""
    assert [a.key for a in articles] == ["ok.txt"]
    assert skipped == [SkippedFile("x.txt", "cannot read: No such file or directory")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    articles, skipped, _ = read_corpus(tmp_path)
    assert articles == []
    assert skipped == [SkippedFile("pipe.txt", "cannot read: not a regular file")]


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 does not stop root (CI runs as root), so the OS refusal is simulated at open().
    path = write(tmp_path, "secret.txt", "Title\nBody.\n")
    real_open = open

    def refusing_open(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", refusing_open)
    [seed] = discover(tmp_path)
    assert seed.content_hash == ""
    articles, skipped = read_file(seed)
    assert articles == []
    assert skipped == [SkippedFile("secret.txt", "cannot read: Permission denied")]


# ------------------------------------------------------------------------------ discovery


def test_discover(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "B\nb.")
    write(tmp_path, "a.md", "# A\n\na.")
    write(tmp_path, "sub/c.HTML", "<p>c</p>")
    write(tmp_path, ".hidden.txt", "H\nh.")
    write(tmp_path, ".git/d.txt", "D\nd.")
    write(tmp_path, "sub/.cache/e.txt", "E\ne.")
    write(tmp_path, "notes.pdf", "nope")
    write(tmp_path, "f.jsonl", '{"text": "f"}')
    seeds = discover(tmp_path)
    assert [s.name for s in seeds] == ["a.md", "b.txt", "f.jsonl", "sub/c.HTML"]
    b = seeds[1]
    assert b == SeedFile("b.txt", tmp_path / "b.txt", b.content_hash, 4)
    assert len(b.content_hash) == 32
    write(tmp_path, "b.txt", "B\nc.")
    assert discover(tmp_path)[1].content_hash != b.content_hash


def test_missing_seeds_dir(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as info:
        discover(tmp_path / "nope")
    assert "seeds folder not found" in info.value.message
    assert info.value.hint and "--seeds" in info.value.hint
    write(tmp_path, "file.txt", "x")
    with pytest.raises(CorpusError):
        read_corpus(tmp_path / "file.txt")


# ------------------------------------------------------------------------------ passages


def _long_paragraph(words: int = 700) -> str:
    sentences_ = []
    n = 0
    while n < words:
        sentences_.append(f"Sentence {len(sentences_)} reports that value w{n} rose again today.")
        n += 8
    return " ".join(sentences_)


def _article(*paragraphs: str) -> Article:
    return Article(key="k.txt", source="k.txt", title="T",
                   paragraphs=tuple(Paragraph(i, t, "Sec") for i, t in enumerate(paragraphs, 1)))


def test_long_paragraph_is_windowed(tmp_path: Path) -> None:
    text = _long_paragraph()
    assert len(text.split()) >= 700
    article = _article("Short one.", text, "Short three.")
    passages = split_passages(article, word_tokens, max_tokens=256)
    long_windows = [p for p in passages if p.paragraph == 2]
    assert len(long_windows) > 1
    assert [p.window for p in long_windows] == list(range(len(long_windows)))
    assert all(word_tokens(p.text) <= 256 for p in long_windows)
    assert all(p.section == "Sec" and p.title == "T" for p in long_windows)
    covered = {w for p in long_windows for w in p.text.split()}
    assert set(text.split()) <= covered
    # windows are whole sentences taken from the paragraph, and consecutive ones overlap
    for p in long_windows:
        assert p.text in text and p.text.endswith(".")
    for a, b in zip(long_windows, long_windows[1:]):
        last_sentence = a.text[a.text.rindex("Sentence"):]
        assert b.text.startswith(last_sentence)
    assert [(p.paragraph, p.window) for p in passages if p.paragraph != 2] == [(1, 0), (3, 0)]


def test_single_huge_sentence_is_split_by_words() -> None:
    text = " ".join(f"w{i}" for i in range(600))
    passages = split_passages(_article(text), word_tokens, max_tokens=256)
    assert len(passages) >= 3
    assert all(word_tokens(p.text) <= 256 for p in passages)
    covered = [w for p in passages for w in p.text.split()]
    assert set(covered) == set(text.split())
    assert len(covered) > 600  # the pieces overlap
    assert all(p.paragraph == 1 for p in passages)


def test_no_overlap_option() -> None:
    text = _long_paragraph(300)
    passages = split_passages(_article(text), word_tokens, max_tokens=60, overlap_sentences=0)
    assert len(passages) > 1
    assert " ".join(p.text for p in passages) == text


# ------------------------------------------------------------------------------ sentences


def _sents(text: str) -> list[str]:
    spans = sentences(text)
    for (s1, e1), (s2, _) in zip(spans, spans[1:]):
        assert s1 < e1 <= s2
    return [text[s:e] for s, e in spans]


def test_sentences_abbreviations_and_quotes() -> None:
    text = ("Mr. Smith flew to the U.S. on Friday. He said “I am here.” Then he left? "
            "“Why?” she asked.")
    assert _sents(text) == ["Mr. Smith flew to the U.S. on Friday.", "He said “I am here.”",
                            "Then he left?", "“Why?” she asked."]


def test_sentences_keep_closing_quote() -> None:
    # pysbd alone would return 'He left.' and '” Then she came.'
    assert _sents("He left.” Then she came.") == ["He left.”", "Then she came."]
    assert _sents("‘Why?’ Smith asked.") == ["‘Why?’", "Smith asked."]
    assert _sents("They said ‘no.’ Done!") == ["They said ‘no.’", "Done!"]


def test_sentences_spans_are_stripped_and_cover_text() -> None:
    text = "  Leading space.   Two  spaces here.\n Trailing  "
    spans = sentences(text)
    assert [text[s:e] for s, e in spans] == ["Leading space.", "Two  spaces here.", "Trailing"]
    assert sentences("") == [] and sentences("   ") == []
    assert sentences("no punctuation at all") == [(0, 21)]


def test_sentences_on_seed_paragraph() -> None:
    text = ("The security forces reported 18 dead and 748 wounded among their troops. "
            "To date, more than 3,800 people have been arrested.")
    assert _sents(text) == ["The security forces reported 18 dead and 748 wounded among "
                            "their troops.", "To date, more than 3,800 people have been arrested."]


def test_sentences_on_very_long_text() -> None:
    # longer than the chunk pysbd is fed at once: sentences must be stitched back exactly
    parts = [f"Mr. Lee said item {i} costs 3.5 dollars in the U.S. today." for i in range(400)]
    text = " ".join(parts)
    assert len(text) > 20_000
    assert _sents(text) == parts


_SQUAD_DEV = SEED.parent.parent.parent / "shared" / "eval" / "squad" / "squad-v1.1-dev.json"


def test_faster_abbreviation_pass_segments_exactly_like_stock_pysbd() -> None:
    """qabot's English rules for pysbd (sbd_english) skip repeated work only: the same segments
    as stock pysbd on every seed paragraph, abbreviation-heavy text and, where the shared eval
    data is present, every SQuAD v1.1 dev paragraph."""
    import pysbd

    from qabot.corpus.sbd_english import PYSBD_VERSION, english_language

    texts = [line for path in sorted(SEED.parent.iterdir()) if path.is_file()
             for line in path.read_text("utf-8").splitlines() if line.strip()]
    texts += ["Mr. Smith met Dr. Jones at St. Mary's, p. 12, no. 5 in the U.S. Army. He left.",
              "e.g. the Gen. Motors Corp. and Ph.D. holders vs. the rest. It ended at 5 p.m. Then.",
              "See Fig. 3 and Ref. {no} Yes. Prof. X said no. Then the Rev. spoke; i.e. a. b. c.",
              "NO. 7 is at Mt. Fuji, Ft. Worth, ca. 1990. Sen. Ames (R.) spoke. Sgt. Pepper."]
    assert len(texts) > 20
    if _SQUAD_DEV.is_file():
        texts += [p["context"] for a in json.loads(_SQUAD_DEV.read_text("utf-8"))["data"]
                  for p in a["paragraphs"]]
    stock = pysbd.Segmenter(language="en", clean=False)
    fast = pysbd.Segmenter(language="en", clean=False)
    fast.language_module = english_language()
    assert (fast.language_module is not stock.language_module) == (
        pysbd.__version__ == PYSBD_VERSION)  # the faster pass is on where it was checked
    for text in texts:
        assert ([str(s) for s in fast.processor(text).process()]
                == [str(s) for s in stock.processor(text).process()]), text


def test_parse_bytes_picks_the_parser_by_suffix_and_reads_unknown_ones_as_text() -> None:
    page = b"<html><body><h1>Floods</h1><p>The river rose two metres.</p></body></html>"
    [article], skipped = parse_bytes("page.HTML", page)
    assert skipped == [] and article.title == "Floods"
    assert texts(article) == ["The river rose two metres."]
    [other], skipped = parse_bytes("notes.rst", b"Floods\nThe river rose two metres.\n")
    assert skipped == [] and other.title == "Floods"
    assert texts(other) == ["The river rose two metres."]
