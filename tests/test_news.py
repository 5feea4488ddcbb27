"""News-aware answers over a made-up story told in three dated articles (tests/data/news_story:
Jan 8 as JSON Lines, Jan 10 as Markdown with front matter, Jan 13 as HTML with
``article:published_time``), each giving a different arrest figure: the newest figure answers,
dated, with the earlier ones in ``Answer.earlier``; agreeing articles cite the newest first;
relative days are resolved; questions about time get the latest article's answer, and a
follow-up about time keeps the conversation's topic. The .txt variant with a dateline
(tests/data/news_story/txt_variant) is exercised through the CLI in test_news_e2e.py. Runs
through the real service with the real model.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from qabot.answer.days import note_relative_days, resolve_day
from qabot.answer.time_questions import TimeAsk, TimeQuestion, time_question
from qabot.config import load_settings
from qabot.dates import stated_day
from qabot.conversation import Conversation
from qabot.embedding import Embedder
from qabot.schema import Answer
from qabot.service import QabotService

from .conftest import ROOT, run_qabot

STORY = ROOT / "tests" / "data" / "news_story"
DAY1, DAY2, DAY3 = "day1_arrests.jsonl", "day2_price.md", "day3_minister.html"


def _service(base: Path, embedder: Embedder, files: list[str], **settings: object) -> QabotService:
    """A service over copies of the story's ``files``, indexed."""
    (base / "seeds").mkdir(parents=True)
    for name in files:
        shutil.copy(STORY / name, base / "seeds" / name)
    service = QabotService(load_settings(ROOT / "config" / "qabot.toml", seeds_dir=base / "seeds",
                                         index_dir=base / "indexes", **settings),
                           embedder=embedder)
    service.index()
    return service


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> QabotService:
    """The three dated articles, answered with the reader on (the default)."""
    return _service(tmp_path_factory.mktemp("story"), real_embedder, [DAY1, DAY2, DAY3])


def answered(answer: Answer) -> Answer:
    assert not answer.abstained, f"refused {answer.question!r} ({answer.confidence:.2f})"
    assert answer.text and answer.citations
    return answer


@pytest.mark.model
def test_the_newest_figure_answers_with_the_earlier_ones_dated(story: QabotService) -> None:
    answer = answered(story.ask("How many people have been arrested?"))
    assert "10,000" in answer.span and "10,000" in answer.text
    assert answer.citations[0].source == DAY3
    assert answer.citations[0].published.startswith("2022-01-13")
    assert [(e.source, e.published, e.paragraph) for e in answer.earlier] == [
        (DAY2, "2022-01-10", 1), (DAY1, "2022-01-08", 1)]
    assert "6,200" in answer.earlier[0].span and "3,800" in answer.earlier[1].span
    assert answer.to_json()["earlier"][0]["published"] == "2022-01-10"


@pytest.mark.model
def test_without_the_newest_article_the_next_newest_figure_answers(
        tmp_path: Path, real_embedder: Embedder) -> None:
    service = _service(tmp_path, real_embedder, [DAY1, DAY2])
    answer = answered(service.ask("How many people have been arrested?"))
    assert "6,200" in answer.span and answer.citations[0].source == DAY2
    assert [e.source for e in answer.earlier] == [DAY1] and "3,800" in answer.earlier[0].span


@pytest.mark.model
def test_the_newest_figure_answers_with_the_reader_off(tmp_path: Path,
                                                      real_embedder: Embedder) -> None:
    service = _service(tmp_path, real_embedder, [DAY1, DAY2, DAY3], reader="off")
    answer = answered(service.ask("How many people have been arrested?"))
    assert "10,000" in answer.span and answer.citations[0].source == DAY3
    assert [e.source for e in answer.earlier] == [DAY2, DAY1]


@pytest.mark.model
def test_articles_added_one_at_a_time_through_the_cli_give_the_newest_figure(
        tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    where = ["--seeds", str(seeds), "--index", str(tmp_path / "indexes")]

    def ask_json() -> dict[str, object]:
        result = run_qabot("ask", "--json", "How many people have been arrested?", *where)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    for name in (DAY1, DAY3):
        shutil.copy(STORY / name, seeds / name)
        assert run_qabot("index", *where).returncode == 0
    shown = ask_json()
    assert "10,000" in shown["span"] and shown["citations"][0]["source"] == DAY3
    assert shown["citations"][0]["published"].startswith("2022-01-13")
    assert [e["source"] for e in shown["earlier"]] == [DAY1]
    shutil.copy(STORY / DAY2, seeds / DAY2)  # an article between the two arrives last
    assert run_qabot("index", *where).returncode == 0
    shown = ask_json()
    assert "10,000" in shown["span"]
    assert [(e["source"], e["published"]) for e in shown["earlier"]] == [
        (DAY2, "2022-01-10"), (DAY1, "2022-01-08")]


@pytest.mark.model
def test_articles_that_agree_cite_the_newest_first(story: QabotService) -> None:
    answer = answered(story.ask("Where did the protests begin?"))
    assert answer.span == "Oskel"
    assert answer.citations[0].source == DAY3
    assert answer.earlier == ()


@pytest.mark.model
@pytest.mark.parametrize("question, source, span", [
    ("Who threatened to clear Freedom Square by force?", DAY1, "Tomas Varga"),
    ("What did Tomas Varga say the police would do?", DAY1, "Freedom Square"),
    ("How long will the bread price stay at its old level?", DAY2, "six months")])
def test_an_older_article_answers_what_only_it_says(story: QabotService, question: str,
                                                    source: str, span: str) -> None:
    # A newer article naming the same people or places answers another question: no override.
    answer = answered(story.ask(question))
    assert answer.citations[0].source == source
    assert span in answer.span and answer.earlier == ()


@pytest.mark.model
def test_a_relative_day_is_given_the_day_it_names(story: QabotService) -> None:
    answer = answered(story.ask("When did the protests begin?"))
    # Jan 8's article says "last Sunday": Jan 2.
    assert answer.citations[0].source == DAY1
    assert answer.span == "last Sunday (Jan 2)"
    assert "began last Sunday (Jan 2) in Oskel" in answer.text


@pytest.mark.model
def test_what_happened_on_a_weekday_is_read_against_the_newest_article(
        story: QabotService) -> None:
    answer = answered(story.ask("What happened on Wednesday?"))
    assert answer.citations[0].source == DAY3
    assert answer.text.startswith("On Wednesday (Jan 12), President Anton Brel dismissed")


@pytest.mark.model
@pytest.mark.parametrize("question", ["What is the latest on the protests?",
                                      "What changed since yesterday?"])
def test_the_latest_and_what_changed_come_from_the_newest_article(
        story: QabotService, question: str) -> None:
    answer = answered(story.ask(question))
    assert answer.citations[0].source == DAY3
    assert answer.citations[0].published.startswith("2022-01-13")
    assert answer.text.startswith("Nearly 10,000 people have been arrested")


@pytest.mark.model
def test_what_changed_lists_the_earlier_reports(story: QabotService) -> None:
    answer = answered(story.ask("What changed since Monday?"))
    assert answer.citations[0].source == DAY3
    assert [e.source for e in answer.earlier] == [DAY2, DAY1]
    assert answer.earlier[0].span.startswith("About 6,200 people have been arrested")


@pytest.mark.model
def test_a_time_question_about_another_topic_is_not_answered_with_the_story(
        story: QabotService) -> None:
    answer = story.ask("What is the latest on the football transfer market?")
    assert answer.abstained


@pytest.mark.model
def test_a_follow_up_about_time_keeps_the_conversations_topic(story: QabotService) -> None:
    about_protests, about_football = Conversation(), Conversation()
    story.ask("How many people have been arrested?", conversation=about_protests)
    answer = answered(story.ask("And what is the latest?", conversation=about_protests))
    assert answer.citations[0].source == DAY3
    assert story.ask("Who won the football transfer market award?",
                     conversation=about_football).abstained
    assert story.ask("And what is the latest?", conversation=about_football).abstained


@pytest.mark.parametrize("question, expected", [
    ("What happened on Wednesday?", TimeQuestion(TimeAsk.ON_DAY, "on Wednesday")),
    ("what happened yesterday in Marsk?", TimeQuestion(TimeAsk.ON_DAY, "yesterday", "Marsk")),
    ("What happened in Marsk on Jan 12?", TimeQuestion(TimeAsk.ON_DAY, "on Jan 12", "Marsk")),
    ("what is the latest on the protests?", TimeQuestion(TimeAsk.LATEST, None, "the protests")),
    ("Latest news?", TimeQuestion(TimeAsk.LATEST)),
    ("What's new?", TimeQuestion(TimeAsk.LATEST)),
    ("And what is the latest?", TimeQuestion(TimeAsk.LATEST)),
    ("what changed since yesterday?", TimeQuestion(TimeAsk.SINCE, "yesterday")),
    ("What has changed in Marsk since Monday?", TimeQuestion(TimeAsk.SINCE, "Monday", "Marsk")),
])
def test_questions_about_time_are_recognised(question: str, expected: TimeQuestion) -> None:
    assert time_question(question) == expected


@pytest.mark.parametrize("question", [
    "How many people were arrested?", "When did the protests begin?",
    "What happened to the minister?", "What is the latest figure for arrests?",
    "what happened on the square?", "Who won on Sunday?"])
def test_other_questions_are_not_about_time(question: str) -> None:
    assert time_question(question) is None


THURSDAY = date(2022, 1, 13)


@pytest.mark.parametrize("phrase, day", [
    ("on Wednesday", date(2022, 1, 12)), ("Thursday", THURSDAY),
    ("last Thursday", date(2022, 1, 6)), ("last Sunday", date(2022, 1, 9)),
    ("yesterday", date(2022, 1, 12)), ("today", THURSDAY), ("Jan 10", date(2022, 1, 10))])
def test_days_are_read_against_the_articles_date(phrase: str, day: date) -> None:
    assert resolve_day(phrase, THURSDAY) == day


def test_relative_days_are_noted_only_when_the_date_is_known() -> None:
    sentence = "Troops arrived on Thursday and left yesterday, the ministry said on Jan 12."
    assert note_relative_days(sentence, THURSDAY) == (
        "Troops arrived on Thursday (Jan 13) and left yesterday (Jan 12), the ministry said on "
        "Jan 12.")
    assert note_relative_days(sentence, None) == sentence


def test_the_time_a_file_was_first_indexed_anchors_no_relative_day() -> None:
    assert stated_day("2022-01-13") == date(2022, 1, 13)
    assert stated_day("2026-12-03T14:21:14.320033Z") is None  # arrival: not a publication day
    assert stated_day(None) is None


@pytest.mark.parametrize("sentence, noted", [
    ("The talks resume next Monday.", "The talks resume next Monday."),
    ("This Friday the president refused talks.",
     "This Friday (Jan 7) the president refused talks."),
    ("It began on Monday, Jan 3, in Oskel.", "It began on Monday, Jan 3, in Oskel."),
    ("On Sunday 40 people marched.", "On Sunday (Jan 9) 40 people marched.")])
def test_only_days_not_yet_given_are_noted(sentence: str, noted: str) -> None:
    assert note_relative_days(sentence, THURSDAY) == noted
