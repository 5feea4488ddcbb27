"""Follow-up memory shared by the REPL and the Telegram bot: which questions lean on the previous
one, what is searched for them, when the topic is forgotten, and one real follow-up end to end."""

from __future__ import annotations

import pytest

from qabot.conversation import Conversation, is_follow_up
from qabot.schema import Answer
from qabot.service import QabotService


def _answer(question: str) -> Answer:
    return Answer(question=question, text="x", span=None, abstained=False)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("question", ["and how many of them died?", "how many of them died?",
                                      "what about the police?", "And who ordered it?"])
def test_questions_leaning_on_the_last_one_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize("question", ["how many people were arrested in Almaty?",
                                      "who is the president of Kazakhstan?"])
def test_self_contained_questions_are_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_up_is_searched_with_the_previous_topic() -> None:
    conversation = Conversation()
    first = "how many security forces were wounded?"
    conversation.remember(first, first, _answer(first))
    text = conversation.search_text("and how many of them died?")
    assert text.startswith("and how many of them died?")
    assert "security" in text and "wounded" in text
    fresh = "who is the president of Kazakhstan?"
    assert conversation.search_text(fresh) == fresh


def test_topic_and_last_answer_are_forgotten_after_the_ttl() -> None:
    clock = _Clock()
    conversation = Conversation(ttl_seconds=60, clock=clock)
    first = "how many security forces were wounded?"
    conversation.remember(first, first, _answer(first))
    clock.now = 59
    assert conversation.last_answer is not None
    clock.now = 61  # over 60 s since the remembered turn
    assert conversation.search_text("and how many of them died?") == "and how many of them died?"
    assert conversation.last_answer is None


@pytest.mark.model
def test_real_follow_up_answers_about_the_previous_topic(real_service: QabotService) -> None:
    conversation = Conversation()
    wounded = real_service.ask("how many security forces were wounded?",
                               conversation=conversation)
    assert wounded.span == "748"
    died = real_service.ask("and how many of them died?", conversation=conversation)
    assert died.span is not None and "18" in died.span
    assert "18 dead" in (died.text or "")
