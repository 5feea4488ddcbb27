"""Dates and filters in the front ends: every citation shows its article's publication date, stats
list the articles newest first with their dates, and ``--since``/``--source`` (``ask``),
``:since``/``:source`` (REPL) and ``/since``/``/source`` (Telegram, per chat) narrow the articles
answered from; a filter that leaves none is one clear message, never "the articles do not say".

The real CLI and piped REPL run as processes over a two-article dated corpus written here, with
the fake encoder (fast builds); the bot runs in-process against the stand-in Bot API. The source
filter's SQL is the index's (seam tests); until articles get a publisher from their files, the
source filter is checked here as far as the front ends go: what they pass to the service.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from qabot import cli
from qabot.config import load_settings
from qabot.errors import NoArticlesMatchError
from qabot.generation.generator import GeneratedStream
from qabot.repl.session import Repl
from qabot.schema import Answer, ArticleFilter, Citation, EarlierReport
from qabot.service import QabotService
from qabot.telegram import answer_html

from .conftest import ROOT, run_qabot
from .fake_bot_api import FakeBotApi
from .test_telegram import TOKEN, _run_app

QUESTION = "how many people have been arrested?"
MONDAY = """---
title: Protests spread across Kazakhstan
date: 2022-01-08
---

# Protests spread across Kazakhstan

The interior ministry said that more than 3,800 people have been arrested since the unrest began.

Gas prices doubled at the start of the year, which set off the first protests in the west.
"""
THURSDAY = """---
title: Kazakhstan arrests climb as calm returns
date: 2022-01-13
---

# Kazakhstan arrests climb as calm returns

The authorities said that nearly 10,000 people have been arrested across the country.

Shops in Almaty reopened on Thursday and the internet was restored after a week of blackouts.
"""
OLD = "monday.md ¶1 · Jan 8, 2022"
NEW = "reuters/thursday.md ¶1 · Jan 13, 2022"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``--seeds/--index`` of the two dated articles, indexed with the fake encoder."""
    base = tmp_path_factory.mktemp("dated")
    (base / "seeds" / "reuters").mkdir(parents=True)
    (base / "seeds" / "monday.md").write_text(MONDAY, encoding="utf-8")
    (base / "seeds" / "reuters" / "thursday.md").write_text(THURSDAY, encoding="utf-8")
    where = ["--seeds", str(base / "seeds"), "--index", str(base / "indexes")]
    built = _qabot("index", *where)
    assert built.returncode == 0, built.stderr
    return where


def _qabot(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_qabot(*args, env={"QABOT_ENCODER": "fake", "QABOT_CONFIG":
                                 str(ROOT / "config" / "qabot.toml")}, input=input)


# ---------------------------------------------------------------- qabot ask and stats

def test_ask_cites_each_passage_with_its_publication_date(corpus: list[str]) -> None:
    result = _qabot("ask", *corpus, QUESTION)
    assert result.returncode == 0, result.stderr
    assert "nearly 10,000" in result.stdout
    assert f"[1] {NEW}:" in result.stdout and OLD in result.stdout


def test_ask_json_says_when_each_cited_article_was_published(corpus: list[str]) -> None:
    result = _qabot("ask", *corpus, "--json", QUESTION)
    published = {c["source"]: c["published"] for c in json.loads(result.stdout)["citations"]}
    assert published == {"reuters/thursday.md": "2022-01-13", "monday.md": "2022-01-08"}


@pytest.mark.parametrize("since", ["2022-01-10", "Jan 10, 2022"])
def test_since_leaves_out_the_older_article(corpus: list[str], since: str) -> None:
    result = _qabot("ask", *corpus, "--since", since, QUESTION)
    assert result.returncode == 0, result.stderr
    assert "nearly 10,000" in result.stdout and NEW in result.stdout
    assert "monday.md" not in result.stdout


def test_a_filter_that_matches_nothing_is_a_clear_error(corpus: list[str]) -> None:
    result = _qabot("ask", *corpus, "--since", "yesterday", "--source", "reuters", QUESTION)
    yesterday = date.fromordinal(date.today().toordinal() - 1).isoformat()
    assert result.returncode == 1
    assert (f"No article matches since {yesterday}, source reuters; clear the filter with a "
            "question asked without --since and --source") in result.stderr
    assert "do not say" not in result.stdout + result.stderr


def test_since_that_is_not_a_date_is_a_usage_error(corpus: list[str]) -> None:
    result = _qabot("ask", *corpus, "--since", "banana", QUESTION)
    assert result.returncode == 2
    assert "Invalid value for '--since': 'banana' is not a date" in result.stderr


def test_stats_lists_the_articles_newest_first_with_their_dates(corpus: list[str]) -> None:
    result = _qabot("stats", *corpus)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(\S+) +(\w{3} \d+, \d{4}) +(\d+) +(.+)$", result.stdout, re.M)
    assert rows == [("reuters/thursday.md", "Jan 13, 2022", "2",
                     "Kazakhstan arrests climb as calm returns"),
                    ("monday.md", "Jan 8, 2022", "2", "Protests spread across Kazakhstan")]


# ---------------------------------------------------------------- the REPL, piped

def test_piped_repl_dates_citations_and_since_narrows_until_cleared(corpus: list[str]) -> None:
    lines = [QUESTION, ":since 2022-01-10", QUESTION, ":sources", ":since Jan 20 2022", QUESTION,
             ":since someday soon", ":since off", QUESTION]
    result = _qabot("repl", *corpus, input="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    answers = result.stdout.split("Short answer:")
    assert len(answers) == 4  # three answers (the excluding filter answers none), then the rest
    assert OLD in answers[1] and NEW in answers[1]
    assert NEW in answers[2] and "monday.md" not in answers[2]  # the answer and its :sources
    assert OLD in answers[3]  # after :since off
    assert "Answering only from articles since 2022-01-10." in result.stderr
    assert ("No article matches since 2022-01-20; clear the filter with :since off and "
            ":source off.") in result.stderr
    assert "'someday soon' is not a date" in result.stderr
    assert "Answering from every article." in result.stderr
    assert "do not say" not in result.stdout


def test_repl_help_lists_the_filters_and_stats_the_dates(fake_service: QabotService) -> None:
    console = Console(record=True, width=120)
    shell = Repl(fake_service, console, plain=False)
    fake_service.index()
    shell.handle(":help")
    shell.handle(":stats")
    text = console.export_text()
    assert ":since DATE" in text and ":source NAME" in text and ":since off" in text
    # The seed carries no date of its own: it is dated by when it was first indexed (today).
    assert re.search(r"^000_a673f91f4b4f9cfb\.txt +[A-Z][a-z]{2} \d{1,2} +25 +The government",
                     text, re.M)


# ---------------------------------------------------------------- filters reach the service

class _RecordingService:
    """Stands in for the service where only what the front end passes on matters: it answers
    with a dated citation unless the filter names a source, which matches nothing."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.filters: list[ArticleFilter | None] = []

    llm_configured = False

    def default_mode(self) -> str:
        return "extractive"

    def ask(self, question: str, k: int | None = None, conversation: Any = None,
            article_filter: ArticleFilter | None = None, mode: str = "extractive") -> Answer:
        self.filters.append(article_filter)
        if article_filter and article_filter.publisher:
            raise NoArticlesMatchError("no article matches", hint="widen or clear the filter")
        return _dated_answer()

    def ask_streaming(self, question: str, k: int | None = None, conversation: Any = None,
                      article_filter: ArticleFilter | None = None,
                      mode: str = "extractive") -> GeneratedStream:
        """The REPL's way in: the same answer, with nothing generated to stream."""
        return GeneratedStream(self.ask(question, k, conversation, article_filter, mode))

    def check_index(self) -> None:
        """Always ready."""

    def live_generation_name(self) -> str:
        return "gen-000001"


def _dated_answer() -> Answer:
    cite = Citation("reuters/thursday.md", 1, "nearly 10,000 people have been arrested", 0.9,
                    title="Kazakhstan arrests climb", published="2022-01-13T09:00:00Z")
    return Answer(QUESTION, "nearly 10,000 people have been arrested", "nearly 10,000", False,
                  citations=(cite,), earlier=(EarlierReport("more than 3,800", "2022-01-08",
                                                            "monday.md", 1),))


def test_ask_passes_since_and_source_to_the_service(make_settings: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    service = _RecordingService(make_settings())
    monkeypatch.setattr(cli, "make_service", lambda settings: service)
    result = CliRunner().invoke(cli.main, ["ask", "--since", "2022-01-07", QUESTION])
    assert result.exit_code == 0, result.output
    assert "earlier reports: more than 3,800 (Jan 8, 2022, monday.md ¶1)" in result.output
    result = CliRunner().invoke(cli.main, ["ask", "--source", "Reuters", QUESTION])
    assert result.exit_code == 1 and "No article matches source Reuters" in result.output
    assert service.filters == [ArticleFilter(since=date(2022, 1, 7)),
                               ArticleFilter(publisher="Reuters")]


def test_repl_source_is_passed_on_shown_in_the_prompt_and_cleared(make_settings: Any) -> None:
    from qabot.repl.terminal import prompt_for

    service = _RecordingService(make_settings())
    console = Console(record=True, width=120)
    shell = Repl(service, console, plain=False)  # type: ignore[arg-type]
    shell.handle(":source reuters")
    assert prompt_for(shell) == "qabot [source reuters]> "
    shell.handle(QUESTION)
    shell.handle(":source off")
    assert prompt_for(shell) == "qabot> "
    shell.handle(QUESTION)
    text = console.export_text()
    assert "No article matches source reuters; clear the filter with :since off" in text
    assert "reuters/thursday.md ¶1 · Jan 13, 2022" in text
    assert "earlier reports: more than 3,800 (Jan 8, 2022, monday.md ¶1)" in text
    assert service.filters == [ArticleFilter(publisher="reuters"), ArticleFilter()]


def test_telegram_answer_dates_its_sources_and_names_earlier_reports() -> None:
    text = "\n".join(answer_html(_dated_answer()))
    assert "¶1 · Jan 13, 2022" in text
    assert "<i>earlier reports: more than 3,800 (Jan 8, 2022, monday.md ¶1)</i>" in text


# ---------------------------------------------------------------- the bot, per chat

def test_bot_since_is_kept_per_chat_and_a_filter_without_match_says_so(
        corpus: list[str]) -> None:
    api = FakeBotApi(TOKEN).start()
    settings = load_settings(ROOT / "config" / "qabot.toml", seeds_dir=Path(corpus[1]),
                             index_dir=Path(corpus[3]), encoder="fake",
                             telegram_bot_token=TOKEN, telegram_base_url=api.base_url)
    replies: dict[str, str] = {}

    def say(chat: int, text: str) -> str:
        before = len(api.messages(chat))
        api.send_text(chat, chat, text)
        return api.wait_messages(chat, before + 1, 30)[-1].plain

    def scenario() -> None:
        replies["start"] = say(71, "/start")
        replies["since"] = say(71, "/since 2022-01-10")
        replies["filtered"] = say(71, QUESTION)
        replies["other chat"] = say(72, QUESTION)
        replies["bad"] = say(71, "/since whenever it was")
        replies["none"] = say(71, "/since Jan 20, 2022")
        replies["no match"] = say(71, QUESTION)
        replies["off"] = say(71, "/since off")
        replies["cleared"] = say(71, QUESTION)

    _run_app(settings, QabotService(settings), api, scenario)
    assert "Newest: Kazakhstan arrests climb as calm returns (Jan 13, 2022)" in replies["start"]
    assert "/since" in replies["start"] and "/source" in replies["start"]
    assert replies["since"] == "Answering only from articles since 2022-01-10."
    assert "nearly 10,000" in replies["filtered"] and "Jan 13, 2022" in replies["filtered"]
    assert "Jan 8, 2022" not in replies["filtered"]
    assert "Jan 8, 2022" in replies["other chat"]  # the other chat has no filter
    assert "'whenever it was' is not a date" in replies["bad"]
    assert replies["no match"] == ("No article matches since 2022-01-20; clear the filter with "
                                   "/since off and /source off.")
    assert replies["off"] == "Answering from every article."
    assert "Jan 8, 2022" in replies["cleared"]
