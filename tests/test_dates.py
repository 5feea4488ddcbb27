"""When each article was published and by whom: read from every seed format, from a dateline, or
from when qabot first indexed the file (kept across re-indexes and rebuilds, so undated files
keep their arrival order), stored in the index, and used by the since/source filters of the
search and the LangChain retriever."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from qabot.config import Settings
from qabot.embedding import FakeEmbedder
from qabot.errors import NoArticlesMatchError
from qabot.index import ArticleSummary, IndexStore
from qabot.langchain import QabotRetriever
from qabot.schema import ArticleFilter
from qabot.service import QabotService

from .conftest import run_qabot

ARRESTS = "More than 3,800 people have been arrested after the protests in Almaty, police said."
FORMATS = {
    "reuters/wire.txt": f"Kazakh arrests rise\nALMATY, Jan 8 (Reuters) - {ARRESTS}\n",
    "dated.txt": f"Kazakh arrests rise\nPublished 9 Jan 2022\n{ARRESTS}\n",
    "story.md": ("---\ntitle: Arrests in Almaty\npublished: 2022-01-10T08:00:00Z\n"
                 "source: AP\n---\n\n" + ARRESTS + "\n"),
    "feed.jsonl": "\n".join(json.dumps(r) for r in [
        {"title": "Arrests climb", "text": ARRESTS, "published_at": "2022-01-13T10:00:00+06:00",
         "url": "https://www.reuters.com/world/asia/arrests"},
        {"title": "Arrests climb again", "text": ARRESTS, "date": "January 14, 2022",
         "source": "Tengrinews"}]) + "\n",
    "meta.html": ('<html><head><meta property="article:published_time" '
                  'content="2022-01-11T09:30:00Z"><meta property="og:site_name" content="BBC">'
                  f"</head><body><h1>Arrests</h1><p>{ARRESTS}</p></body></html>"),
    "ld.html": ('<html><head><script type="application/ld+json">{"@context": '
                '"https://schema.org", "@graph": [{"@type": "NewsArticle", "datePublished": '
                '"2022-01-12T10:00:00Z", "publisher": {"@type": "Organization", '
                '"name": "Al Jazeera"}}]}</script></head>'
                f"<body><h1>Arrests</h1><p>{ARRESTS}</p></body></html>"),
    "time.html": ('<html><head><link rel="canonical" href="https://www.theguardian.com/x">'
                  '</head><body><h1>Arrests</h1><p>By Ann Smith <time datetime="2022-01-07">'
                  f"7 January</time></p><p>{ARRESTS}</p></body></html>"),
}


def _build(settings: Settings, embedder: FakeEmbedder, rebuild: bool = False
           ) -> list[ArticleSummary]:
    """Index and list the articles newest first."""
    service = QabotService(settings, embedder=embedder)
    service.index(rebuild=rebuild)
    return service.generation().article_summaries()


def test_every_format_gives_its_date_and_publisher(
        seeds_dir: Path, make_settings: Callable[..., Settings],
        fake_embedder: FakeEmbedder) -> None:
    (seeds_dir / "reuters").mkdir()
    for name, text in FORMATS.items():
        (seeds_dir / name).write_text(text, "utf-8")
    found = {s.key: (s.date, s.dated_by, s.publisher)
             for s in _build(make_settings(), fake_embedder)}
    year = date.today().year if date(date.today().year, 1, 8) <= date.today() \
        else date.today().year - 1  # a dateline without a year is the latest Jan 8 so far
    assert found["reuters/wire.txt"] == (f"{year}-01-08", "text", "reuters")
    assert found["dated.txt"] == ("2022-01-09", "text", None)
    assert found["story.md"] == ("2022-01-10", "file", "AP")
    assert found["feed.jsonl:1"] == ("2022-01-13", "file", "reuters.com")
    assert found["feed.jsonl:2"] == ("2022-01-14", "file", "Tengrinews")
    assert found["meta.html"] == ("2022-01-11", "file", "BBC")
    assert found["ld.html"] == ("2022-01-12", "file", "Al Jazeera")
    assert found["time.html"] == ("2022-01-07", "file", "theguardian.com")


def test_a_date_in_the_story_is_not_its_publication_date(
        seeds_dir: Path, make_settings: Callable[..., Settings],
        fake_embedder: FakeEmbedder) -> None:
    (seeds_dir / "body.txt").write_text(
        "Protests spread\nThe protests that began on January 2, 2022 in Zhanaozen spread to "
        "Almaty, where police said more than 3,800 people had been arrested.\n"
        "On Jan 5, 2022 the government resigned.\n", "utf-8")
    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    found = {s.source: s for s in _build(make_settings(), fake_embedder)}
    assert found["body.txt"].dated_by == "indexed"
    assert found["body.txt"].date >= before  # type: ignore[operator]


def _undated(settings: Settings, embedder: FakeEmbedder, rebuild: bool = False
             ) -> dict[str, str | None]:
    return {s.source: s.date for s in _build(settings, embedder, rebuild)
            if s.dated_by == "indexed"}


def test_first_indexed_time_survives_reindex_edit_and_rebuild(
        seeds_dir: Path, index_dir: Path, make_settings: Callable[..., Settings],
        fake_embedder: FakeEmbedder) -> None:
    settings = make_settings()
    first = _undated(settings, fake_embedder)
    assert list(first) == ["000_a673f91f4b4f9cfb.txt"]
    assert first == _undated(settings, fake_embedder)  # unchanged: nothing is rewritten
    seed = seeds_dir / "000_a673f91f4b4f9cfb.txt"
    seed.write_text(seed.read_text("utf-8") + "A new paragraph was added later.\n", "utf-8")
    assert first == _undated(settings, fake_embedder)  # changed: still the first time
    assert first == _undated(settings, fake_embedder, rebuild=True)
    result = run_qabot("index", "--rebuild", "--seeds", str(seeds_dir), "--index",
                       str(index_dir), env={"QABOT_ENCODER": "fake"})
    assert result.returncode == 0, result.stderr
    assert first == _undated(settings, fake_embedder)
    seed.rename(seeds_dir / "renamed.txt")  # a new name is a new arrival
    later = _undated(settings, fake_embedder)
    assert later["renamed.txt"] > first["000_a673f91f4b4f9cfb.txt"]  # type: ignore[operator]


def test_undated_files_added_one_at_a_time_keep_their_arrival_order(tmp_path: Path) -> None:
    seeds, index = tmp_path / "seeds", tmp_path / "indexes"
    seeds.mkdir()
    where = ["--seeds", str(seeds), "--index", str(index)]
    for name, figure in (("monday.txt", "3,800"), ("tuesday.txt", "5,100"),
                         ("thursday.txt", "nearly 10,000")):
        (seeds / name).write_text(f"Arrests in Almaty\nPolice said {figure} people were "
                                  "arrested after the protests.\n", "utf-8")
        result = run_qabot("index", *where, env={"QABOT_ENCODER": "fake"})
        assert result.returncode == 0, result.stderr
    summaries = IndexStore(index).open_current().article_summaries()
    assert [s.source for s in summaries] == ["thursday.txt", "tuesday.txt", "monday.txt"]
    assert {s.date[:10] for s in summaries} == {  # type: ignore[index]
        datetime.now(timezone.utc).date().isoformat()}


@pytest.fixture
def dated_service(seeds_dir: Path, make_settings: Callable[..., Settings],
                  fake_embedder: FakeEmbedder) -> QabotService:
    """Reports of the arrests from Jan 8 (reuters folder), Jan 10 (a feed linking to
    reuters.com) and Jan 13 (AP front matter), over the seed article (undated: indexed today)."""
    (seeds_dir / "reuters").mkdir()
    (seeds_dir / "reuters" / "monday.txt").write_text(
        f"Arrests\nPublished 8 Jan 2022\n{ARRESTS}\n", "utf-8")
    (seeds_dir / "thursday.md").write_text(
        "---\ndate: 2022-01-13\nsource: AP\n---\n\nNearly 10,000 people have been arrested "
        "after the protests in Almaty, police said.\n", "utf-8")
    (seeds_dir / "feed.jsonl").write_text(json.dumps(
        {"title": "Arrests", "date": "2022-01-10", "url": "https://www.reuters.com/x",
         "text": "Some 5,000 people have been arrested after the protests in Almaty."}) + "\n")
    service = QabotService(make_settings(), embedder=fake_embedder)
    service.index()
    return service


def test_since_and_publisher_filters_restrict_the_hits(dated_service: QabotService) -> None:
    question = "how many people have been arrested in Almaty?"
    everything = {h.passage.source for h in dated_service.search(question, k=10)}
    assert {"reuters/monday.txt", "thursday.md"} <= everything
    since = {h.passage.source for h in dated_service.search(
        question, k=10, article_filter=ArticleFilter(since=date(2022, 1, 9)))}
    assert "thursday.md" in since and "reuters/monday.txt" not in since
    assert "000_a673f91f4b4f9cfb.txt" in since  # dated by arrival: today
    reuters = dated_service.search(question, k=10, article_filter=ArticleFilter(
        publisher="Reuters"))
    assert {h.passage.source for h in reuters} == {"reuters/monday.txt", "feed.jsonl"}
    assert {(h.passage.date, h.passage.publisher) for h in reuters} == {
        ("2022-01-08", "reuters"), ("2022-01-10", "reuters.com")}


def test_since_today_keeps_articles_indexed_today(dated_service: QabotService) -> None:
    today = datetime.now(timezone.utc).date()
    hits = dated_service.search("protests", k=10, article_filter=ArticleFilter(since=today))
    assert {h.passage.source for h in hits} == {"000_a673f91f4b4f9cfb.txt"}
    with pytest.raises(NoArticlesMatchError, match="since"):
        dated_service.search("protests", article_filter=ArticleFilter(
            since=today + timedelta(days=1)))


def test_a_filter_matching_nothing_says_so(dated_service: QabotService) -> None:
    with pytest.raises(NoArticlesMatchError, match="source nobody"):
        dated_service.search("arrested", article_filter=ArticleFilter(publisher="nobody"))
    with pytest.raises(NoArticlesMatchError):
        dated_service.search("arrested", article_filter=ArticleFilter(
            since=date(2022, 1, 11), publisher="reuters"))


def test_the_langchain_retriever_takes_the_filter(dated_service: QabotService) -> None:
    retriever = QabotRetriever.from_service(dated_service, k=5, source="ap")
    documents = retriever.invoke("how many people have been arrested?")
    assert documents and {d.metadata["source"] for d in documents} == {"thursday.md"}
    assert documents[0].metadata["published"] == "2022-01-13"
    assert documents[0].metadata["publisher"] == "AP"
    unfiltered = QabotRetriever.from_service(dated_service, k=5)
    assert len({d.metadata["source"] for d in unfiltered.invoke("arrested protests")}) > 1
    with pytest.raises(NoArticlesMatchError):
        QabotRetriever.from_service(dated_service, source="nobody").invoke("arrested")


def test_an_index_from_before_first_indexed_times_dates_its_files_by_its_build(
        index_dir: Path, make_settings: Callable[..., Settings],
        fake_embedder: FakeEmbedder) -> None:
    settings = make_settings()
    _build(settings, fake_embedder)
    live = index_dir / IndexStore(index_dir).current_name()  # type: ignore[operator]
    db = sqlite3.connect(live / "passages.sqlite")
    db.execute("ALTER TABLE files DROP COLUMN first_indexed")  # as format 2 wrote it
    db.commit()
    db.close()
    manifest = json.loads((live / "manifest.json").read_text("utf-8"))
    manifest.update(format_version=2, created_at="2026-01-05T10:00:00+00:00")
    (live / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    assert _undated(settings, fake_embedder) == {
        "000_a673f91f4b4f9cfb.txt": "2026-01-05T10:00:00.000000Z"}
