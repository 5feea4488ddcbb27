"""Answers on the seed article with the real model and the reader off (the pattern path, which
is also the reader's sanity check): each question type, paraphrases, accents, curly quotes,
number formats, refusals; plus the span extractor and scorer on their own. The reader path is
tested in test_reader_answers.py.

Takes ~10 s (most of it loading the model and indexing the seed once for the session).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qabot.answer import Kind, extract_span, question_kind, word_stems
from qabot.text import fold
from qabot.config import load_settings
from qabot.embedding import Embedder, FakeEmbedder
from qabot.render import NOT_IN_CORPUS, format_answer
from qabot.retriever import Candidates, HybridRetriever, RetrievalConfig
from qabot.schema import Answer
from qabot.service import QabotService

from .conftest import ROOT


@pytest.fixture(scope="module")
def real_service(real_seed_index: Path, real_embedder: Embedder) -> QabotService:
    """The seed index answered with the reader off."""
    settings = load_settings(ROOT / "config" / "qabot.toml", seeds_dir=real_seed_index.parent
                             / "seeds", index_dir=real_seed_index, reader="off")
    return QabotService(settings, embedder=real_embedder)


def ask(service: QabotService, question: str) -> Answer:
    answer = service.ask(question)
    assert not answer.abstained, f"refused {question!r} (confidence {answer.confidence:.2f})"
    assert answer.text and answer.citations
    # The chosen sentence is quoted from the first citation.
    assert answer.text in answer.citations[0].text
    return answer


@pytest.mark.parametrize("question", ["how many were arrested?",
                                      "How many people have been arrested so far?",
                                      "how many people were detained?"])
@pytest.mark.model
def test_how_many_gives_the_number_with_its_qualifier(real_service: QabotService,
                                                      question: str) -> None:
    answer = ask(real_service, question)
    assert answer.span == "more than 3,800 people"
    assert "3,800" in answer.text
    assert "arrested" in answer.citations[0].text


@pytest.mark.model
def test_a_number_is_picked_next_to_the_words_asked_about(real_service: QabotService) -> None:
    assert ask(real_service, "How many checkpoints were installed?").span == "70"
    assert ask(real_service, "How many armed criminals died?").span == "26"


@pytest.mark.model
def test_number_in_millions(real_service: QabotService) -> None:
    answer = ask(real_service, "How many inhabitants does Kazakhstan have?")
    assert answer.span == "19 million inhabitants"


@pytest.mark.model
def test_who_gives_a_name(real_service: QabotService) -> None:
    answer = ask(real_service, "Who thanked Vladimir Putin?")
    assert answer.span == "Tokayev"
    assert "thanked" in answer.text


@pytest.mark.model
def test_who_follows_a_pronoun_back_to_the_name(real_service: QabotService) -> None:
    answer = ask(real_service, "Who mentors the current president?")
    assert answer.span == "Nursultán Nazarbayev"


@pytest.mark.model
def test_when_gives_a_day_or_a_period(real_service: QabotService) -> None:
    assert ask(real_service, "When was the City Hall burned?").span == "Wednesday"
    assert ask(real_service, "On which day was the City Hall set on fire?").span == "Wednesday"
    assert ask(real_service, "When did the revolt break out?").span == "last Sunday"


@pytest.mark.model
def test_where_gives_a_place(real_service: QabotService) -> None:
    answer = ask(real_service, "In which city were there charred vehicles?")
    assert answer.span == "Almaty"


@pytest.mark.model
def test_what_question_answers_with_the_sentence(real_service: QabotService) -> None:
    answer = ask(real_service, "What did Putin do?")
    assert "responded very quickly" in answer.text
    assert answer.span is None


@pytest.mark.parametrize("question", ["Who is Nursultán Nazarbayev?",
                                      "Who is Nursultan Nazarbayev?"])
@pytest.mark.model
def test_accents_do_not_matter(real_service: QabotService, question: str) -> None:
    answer = ask(real_service, question)
    assert "Nursultán Nazarbayev" in answer.text


@pytest.mark.model
def test_curly_quotes_in_the_question(real_service: QabotService) -> None:
    answer = ask(real_service, "What did Tokayev promise to do to the “bandits”?")
    assert "eliminate" in answer.text


@pytest.mark.parametrize("question", ["Who won the 2018 football World Cup?",
                                      "What is the boiling point of water?",
                                      "Who wrote Hamlet?"])
@pytest.mark.model
def test_questions_the_article_does_not_answer_are_refused(real_service: QabotService,
                                                           question: str) -> None:
    answer = real_service.ask(question)
    assert answer.abstained and answer.text is None and answer.span is None
    assert answer.to_json()["answer"] is None
    shown = format_answer(answer)
    assert shown.startswith(NOT_IN_CORPUS)


@pytest.mark.model
def test_refused_answers_can_show_related_passages(real_service: QabotService) -> None:
    answer = real_service.ask("What is the population of Almaty's zoo?")
    if not answer.abstained:
        pytest.fail(f"answered {answer.text!r}")
    assert answer.related
    assert "Closest passages" in format_answer(answer)


@pytest.mark.model
def test_rrf_fusion_still_finds_the_passage(real_service: QabotService) -> None:
    retriever = real_service.retriever
    saved = retriever.config
    retriever.config = RetrievalConfig(fusion="rrf")
    try:
        hits = retriever.search(real_service.generation(), "how many were arrested?", k=3)
    finally:
        retriever.config = saved
    assert any("3,800" in hit.passage.text for hit in hits[:1])


@pytest.mark.model
def test_hits_are_one_per_paragraph(real_service: QabotService) -> None:
    hits = real_service.search("Tokayev security forces troops", k=8)
    keys = [(h.passage.source, h.passage.paragraph) for h in hits]
    assert len(keys) == len(set(keys)) == 8
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


# --------------------------------------------------------------------------- no model needed


def test_question_kinds() -> None:
    assert question_kind("How many were hurt?") is Kind.NUMBER
    assert question_kind("In what year did it open?") is Kind.DATE
    assert question_kind("When did it start?") is Kind.DATE
    assert question_kind("Who leads the party?") is Kind.PERSON
    assert question_kind("Which country sent troops?") is Kind.PERSON
    assert question_kind("Where was the meeting?") is Kind.PLACE
    assert question_kind("Why did they leave?") is Kind.OTHER


def test_number_formats_compare_equal() -> None:
    assert "3800" in word_stems("more than 3,800 people")
    assert word_stems("3800") == word_stems("3,800") == word_stems("3 800")
    assert word_stems("Nursultán") == word_stems("NURSULTAN")
    assert fold("“strong measures”") == '"strong measures"'


def test_span_patterns() -> None:
    assert extract_span("Police said nearly 1,200 people were hurt.", Kind.NUMBER,
                        "How many people were hurt?") == "nearly 1,200 people"
    assert extract_span("The fund lost $4.5 million in 2020.", Kind.NUMBER,
                        "How much did the fund lose?") == "$4.5 million"
    assert extract_span("The bridge opened on March 3, 1998 after delays.", Kind.DATE,
                        "When did the bridge open?") == "March 3, 1998"
    assert extract_span("He ruled from 1989 to 2019.", Kind.DATE,
                        "When did he rule?") == "from 1989 to 2019"
    assert extract_span("On Monday the mayor, Carla Benedetti, closed the schools.", Kind.PERSON,
                        "Who closed the schools?") == "Carla Benedetti"
    assert extract_span("The summit was held in Geneva last week.", Kind.PLACE,
                        "Where was the summit held?") == "Geneva"
    assert extract_span("Nobody knows.", Kind.NUMBER, "How many?") is None


def test_fusion_formulas() -> None:
    # Row 10 is found only by the dense search (BM25 0), rows 11 and 12 by both.
    found = Candidates(rows=[10, 11, 12], cosine=np.array([0.5, 0.4, 0.3], np.float32),
                       sentence_cosine=np.array([0.5, 0.8, 0.3], np.float32),
                       bm25=np.array([0.0, 2.0, 4.0], np.float32),
                       lexical_rank={12: 1, 11: 2}, sentences={})
    weighted = HybridRetriever(FakeEmbedder(), RetrievalConfig(fusion="weighted")).fuse(found)
    # 0.7 × (0.3 × passage cosine + 0.7 × sentence cosine) + 0.3 × BM25 / best BM25
    assert weighted == pytest.approx([0.35, 0.626, 0.51], abs=1e-6)
    rrf = HybridRetriever(FakeEmbedder(), RetrievalConfig(fusion="rrf", rrf_k=60)).fuse(found)
    # weights 0.3 (BM25), 0.21 (passage cosine), 0.49 (sentence cosine); no BM25 rank for row 10
    assert rrf == pytest.approx([2 * (0.21 / 61 + 0.49 / 62),
                                 2 * (0.3 / 62 + 0.21 / 62 + 0.49 / 61),
                                 2 * (0.3 / 61 + 0.21 / 63 + 0.49 / 63)])


def test_a_who_span_never_just_repeats_the_name_asked_about() -> None:
    sentence = ("The anger was directed at former President Nursultán Nazarbayev, who ruled "
                "the country from 1989 to 2019.")
    assert extract_span(sentence, Kind.PERSON, "Who is Nursultan Nazarbayev?") is None
    assert extract_span(sentence, Kind.PERSON, "Who ruled the country?") == "Nursultán Nazarbayev"
