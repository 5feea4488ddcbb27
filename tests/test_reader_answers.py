"""The reader in the answer path, with the real model on the seed article: the span and the
sentence holding it, follow-ups that answer the new question, misspelt words, questions not in
English, the reader switched off, and a damaged reader refused at the edge. The wording checker
is also tested on its own with a made-up vocabulary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qabot.conversation import Conversation
from qabot.config import load_settings
from qabot.embedding import Embedder
from qabot.reader.model import SHIPPED_READER_DIR
from qabot.service import QabotService
from qabot.answer.wording import WordingChecker

from .conftest import ROOT, run_qabot


def _where(index: Path) -> list[str]:
    return ["--seeds", str(index.parent / "seeds"), "--index", str(index)]


@pytest.mark.model
def test_the_reader_marks_the_span_inside_the_cited_sentence(real_service: QabotService) -> None:
    assert real_service.reader is not None
    answer = real_service.ask("How many people were arrested?")
    assert not answer.abstained
    assert answer.span and "3,800" in answer.span
    assert answer.text and answer.span in answer.text
    assert answer.text in answer.citations[0].text  # the passage holding it is cited first


@pytest.mark.model
def test_a_who_span_is_a_name(real_service: QabotService) -> None:
    answer = real_service.ask("Who thanked Vladimir Putin?")
    assert answer.span == "Tokayev" and "thanked" in (answer.text or "")


@pytest.mark.model
def test_a_follow_up_answers_the_new_question(real_service: QabotService) -> None:
    conversation = Conversation()
    first = real_service.ask("how many were arrested?", conversation=conversation)
    assert first.span and "3,800" in first.span
    second = real_service.ask("how many of them died?", conversation=conversation)
    assert not second.abstained, second.debug
    assert second.span and "3,800" not in second.span
    assert any(n in second.span for n in ("26", "18")), second.span


@pytest.mark.model
def test_misspelt_words_are_corrected_against_the_index(real_service: QabotService) -> None:
    answer = real_service.ask("how many peple were arested?")
    assert answer.read_as == "how many people were arrested?"
    assert not answer.abstained and answer.span and "3,800" in answer.span


@pytest.mark.model
def test_real_words_the_articles_lack_are_left_alone(real_service: QabotService) -> None:
    answer = real_service.ask("Who won the football World Cup in Qatar?")
    assert answer.read_as is None
    assert answer.abstained


@pytest.mark.parametrize("question, language", [
    ("Wie viele Menschen wurden verhaftet?", "German"),
    ("Combien de personnes ont été arrêtées ?", "French"),
    ("Сколько человек было арестовано?", "Russian"),
])
@pytest.mark.model
def test_a_question_not_in_english_is_told_so(real_service: QabotService, question: str,
                                              language: str) -> None:
    answer = real_service.ask(question)
    assert answer.abstained
    assert answer.notice and "English" in answer.notice and language in answer.notice


@pytest.mark.model
def test_the_cli_says_it_reads_english_and_shows_corrections(real_seed_index: Path) -> None:
    result = run_qabot("ask", *_where(real_seed_index), "Wie viele Menschen wurden verhaftet?")
    assert result.returncode == 0, result.stderr
    assert "reads questions in English" in result.stdout
    assert "The articles do not say" not in result.stdout
    result = run_qabot("ask", "--json", *_where(real_seed_index), "how many peple were arested?")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["read_as"] == "how many people were arrested?"
    assert "3,800" in shown["span"] and not shown["abstained"]


@pytest.mark.model
def test_reader_off_answers_with_patterns(real_seed_index: Path, real_embedder: Embedder) -> None:
    settings = load_settings(ROOT / "config" / "qabot.toml", seeds_dir=real_seed_index.parent
                             / "seeds", index_dir=real_seed_index, reader="off")
    service = QabotService(settings, embedder=real_embedder)
    assert service.reader is None
    answer = service.ask("how many were arrested?")
    assert answer.span == "more than 3,800 people"  # the number pattern keeps qualifier and unit


@pytest.mark.model
def test_a_damaged_reader_is_one_clear_error(real_seed_index: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "reader"
    shutil.copytree(SHIPPED_READER_DIR, damaged)
    with open(damaged / "reader.onnx", "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0\0\0\0")
    result = run_qabot("ask", *_where(real_seed_index), "how many were arrested?",
                       env={"QABOT_READER_DIR": str(damaged)})
    assert result.returncode != 0
    assert "checksum" in result.stderr and "Traceback" not in result.stderr
    result = run_qabot("ask", *_where(real_seed_index), "how many were arrested?",
                       env={"QABOT_READER_DIR": str(damaged), "QABOT_READER": "off"})
    assert result.returncode == 0 and "3,800" in result.stdout


def _checker(words: dict[str, int]) -> WordingChecker:
    return WordingChecker(lambda w: w in words, lambda: words)


def test_wording_corrects_only_unknown_non_english_words() -> None:
    words = {"how": 9, "many": 9, "people": 5, "were": 9, "arrested": 4, "protesters": 3}
    checker = _checker(words)
    fixed = checker.check("How many peple were arested?")
    assert fixed.text == "How many people were arrested?"
    assert fixed.corrections == (("peple", "people"), ("arested", "arrested"))
    # "Peru" is English but not in the index: kept, so the question stays out of corpus.
    assert checker.check("how many people were arrested in Peru?").corrections == ()
    # Too far from every indexed word: kept as typed.
    assert checker.check("how many xqzvw were arrested?").text == "how many xqzvw were arrested?"
    assert _checker(words).check("Wie viele Menschen wurden verhaftet?").language == "de"
    off = WordingChecker(lambda w: w in words, lambda: words, spelling=False)
    assert off.check("how many peple were arested?").corrections == ()
