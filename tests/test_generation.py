"""Generated answers in-process, with LangChain's fake chat models: the citation check, the
prompt, refusals that never reach the model, every failure giving the extractive answer with a
note (timeout, error, a citation of a passage not shown, none at all), streaming that stops at a
bad citation, the settings that build a real ``ChatOpenAI``, and a run with ``llm`` unset that
loads no LangChain chat-model package. About 5 s.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from qabot.config import Settings, load_settings
from qabot.errors import ConfigError, GenerationError
from qabot.generation import (
    HUMAN,
    SYSTEM,
    Generator,
    LlmConfig,
    check_citations,
    cited_numbers,
    first_invalid,
)
from qabot.generation.model import NO_KEY, load_chat_model
from qabot.generation.prompt import prompt_inputs
from qabot.schema import Answer, Citation
from qabot.service import QabotService, llm_config

from .conftest import ROOT

EXTRACTIVE = Answer(
    question="how many were arrested?", text="To date, more than 3,800 people have been arrested.",
    span="3,800", abstained=False, confidence=0.8,
    citations=(Citation("almaty.txt", 16, "To date, more than 3,800 people have been arrested.",
                        0.9, title="Protests in Kazakhstan", published="2022-01-08"),
               Citation("almaty.txt", 2, "The revolt broke out after a rise in the price of gas.",
                        0.5, title="Protests in Kazakhstan"),
               Citation("moscow.txt", 4, "Russian troops arrived on Thursday.", 0.4)))
REFUSAL = Answer(question="what is the capital of France?", text=None, span=None,
                 abstained=True, related=EXTRACTIVE.citations)
GOOD = "More than 3,800 people were arrested [1], after gas prices rose [2]."


def _generic(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(content=r) for r in replies))


class _Broken(FakeListChatModel):
    """A model whose server refuses the connection."""

    def _call(self, *args: Any, **kwargs: Any) -> str:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        raise ConnectionRefusedError("[Errno 111] Connection refused")


@pytest.fixture
def settings() -> LlmConfig:
    """A one-second deadline (the model itself is injected by each test)."""
    return LlmConfig(timeout_s=1.0)


# ---------------------------------------------------------------- the citation check and prompt

@pytest.mark.parametrize(("text", "numbers"), [
    ("A [1] and B [2][3].", [1, 2, 3]), ("Both [1, 3].", [1, 3]), ("Plain text.", []),
    ("In [ 2 ] and [1;2].", [2, 1, 2])])
def test_citations_are_read_in_every_bracket_form(text: str, numbers: list[int]) -> None:
    assert cited_numbers(text) == numbers


def test_the_check_accepts_known_passages_and_names_what_is_wrong() -> None:
    assert check_citations(" Yes [1][3]. ", 3) == "Yes [1][3]."
    with pytest.raises(GenerationError, match=r"cited \[9\], but it was shown only 3 passages"):
        check_citations("Yes [1] and [9].", 3)
    with pytest.raises(GenerationError, match="cites no passage"):
        check_citations("Yes, many.", 3)
    with pytest.raises(GenerationError, match=r"cited \[0\]"):
        check_citations("Yes [0].", 3)
    assert first_invalid("Yes [1] then [4", 3) is None  # not a citation until it closes


def test_the_prompt_numbers_the_cited_passages_and_states_the_rules() -> None:
    inputs = prompt_inputs(replace(EXTRACTIVE, read_as="how many were arrested?"),
                           EXTRACTIVE.citations)
    assert inputs["question"] == "how many were arrested?"
    passages = inputs["passages"]
    assert passages.index("[1] Protests in Kazakhstan (almaty.txt, paragraph 16, published "
                          "2022-01-08)") < passages.index("[2] ") < passages.index("[3] ")
    assert "3,800 people have been arrested" in passages
    assert "only the numbered passages" in SYSTEM and "[1]" in SYSTEM
    assert "{passages}" in HUMAN and "{question}" in HUMAN


# ---------------------------------------------------------------- generate (the LCEL chain)

def test_a_good_reply_becomes_the_answer_with_the_same_citations(settings: LlmConfig) -> None:
    answer = Generator(settings, model=_generic(GOOD)).generate(EXTRACTIVE)
    assert (answer.mode, answer.text, answer.note, answer.span) == ("llm", GOOD, None, None)
    assert answer.citations == EXTRACTIVE.citations
    assert answer.to_json()["mode"] == "llm"


def test_a_refusal_never_reaches_the_model(settings: LlmConfig) -> None:
    model = FakeListChatModel(responses=[GOOD, GOOD])  # .i counts calls (up to the last reply)
    generator = Generator(settings, model=model)
    assert generator.generate(REFUSAL) is REFUSAL
    assert list(generator.stream(REFUSAL)) == []
    assert model.i == 0


@pytest.mark.parametrize(("model", "note"), [
    (FakeListChatModel(responses=["Many were arrested [9]."]), r"cited \[9\], but it was shown "
                                                                r"only 3 passages"),
    (FakeListChatModel(responses=["Many were arrested."]), "cites no passage"),
    (FakeListChatModel(responses=[GOOD], sleep=3.0), "did not finish within 1 s"),
    (_Broken(responses=[]), "ConnectionRefusedError: .*Connection refused"),
])
def test_every_failure_gives_the_extractive_answer_and_a_note(settings: LlmConfig, model: Any,
                                                              note: str) -> None:
    started = time.monotonic()
    answer = Generator(settings, model=model).generate(EXTRACTIVE)
    assert time.monotonic() - started < 2.5  # the deadline holds, whatever the model does
    assert answer == replace(EXTRACTIVE, note=answer.note)  # same text, span and citations
    assert answer.mode == "extractive" and answer.note is not None
    assert answer.note.startswith("generated answer not used: ")
    assert "\n" not in answer.note and "Traceback" not in answer.note
    assert re.search(note, answer.note), answer.note


def test_an_unbuildable_model_is_a_note_not_an_error() -> None:
    generator = Generator(LlmConfig(model="no-such-provider:some-model"))
    answer = generator.generate(EXTRACTIVE)
    assert answer.mode == "extractive" and "cannot be set up" in (answer.note or "")


# ---------------------------------------------------------------- stream

def test_the_stream_yields_the_reply_as_written_then_the_checked_answer(
        settings: LlmConfig) -> None:
    stream = Generator(settings, model=_generic(GOOD)).stream(EXTRACTIVE)
    assert stream.generating
    chunks = list(stream)
    assert len(chunks) > 5 and "".join(chunks) == GOOD
    assert stream.answer.mode == "llm" and stream.answer.text == GOOD


def test_the_stream_stops_before_a_citation_of_a_passage_not_shown(settings: LlmConfig) -> None:
    stream = Generator(settings, model=_generic("Many were arrested [1] and [9] more.")
                       ).stream(EXTRACTIVE)
    shown = "".join(stream)
    assert "[9]" not in shown and shown.startswith("Many were arrested [1]")
    assert stream.answer == replace(EXTRACTIVE, note=stream.answer.note)
    assert "[9]" in (stream.answer.note or "")


def test_a_stream_that_stalls_ends_at_the_deadline(settings: LlmConfig) -> None:
    started = time.monotonic()
    stream = Generator(settings, model=FakeListChatModel(responses=[GOOD], sleep=0.4)
                       ).stream(EXTRACTIVE)
    list(stream)
    assert time.monotonic() - started < 2.0
    assert "did not finish within 1 s" in (stream.answer.note or "")


# ---------------------------------------------------------------- through the service

def test_the_service_asks_the_model_only_for_answers_it_does_not_refuse(
        fake_service: QabotService, settings: LlmConfig) -> None:
    fake_service.index()
    baseline = fake_service.ask("how many people were arrested?")
    assert fake_service.default_mode() == "extractive" and not fake_service.llm_configured
    assert fake_service.ask("how many people were arrested?", mode="llm") == baseline
    model = FakeListChatModel(responses=["More than 3,800 [1]."] * 2)  # .i counts calls
    fake_service.generator = Generator(settings, model=model)
    assert fake_service.default_mode() == "llm"
    refused = fake_service.ask("what is the capital of France?", mode="llm")
    assert refused.abstained and model.i == 0
    answer = fake_service.ask("how many people were arrested?", mode="llm")
    assert answer.mode == "llm" and answer.text == "More than 3,800 [1]." and model.i == 1
    assert answer.citations == baseline.citations
    from qabot.langchain import QabotAnswerer

    runnable = QabotAnswerer.from_service(fake_service, mode="llm")
    assert runnable.invoke("how many people were arrested?").mode == "llm"
    assert model.i == 0  # a second call: .i wrapped round to the first reply


# ---------------------------------------------------------------- the settings' model

def test_base_url_builds_chat_openai_with_no_retries_and_a_dummy_key(
        make_settings: Callable[..., Settings]) -> None:
    model: Any = load_chat_model(llm_config(make_settings(
        llm_base_url="http://127.0.0.1:9/v1", llm="openai:local", llm_timeout_s=7)))
    assert type(model).__name__ == "ChatOpenAI"
    assert (model.model_name, model.openai_api_base, model.max_retries, model.request_timeout) \
        == ("local", "http://127.0.0.1:9/v1", 0, 7 + 5)  # qabot's deadline fires first
    assert model.openai_api_key.get_secret_value() == NO_KEY


def test_the_key_comes_from_the_environment_and_is_never_shown(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-show-me")
    settings = make_settings(llm="openai:gpt-4o-mini")
    config = llm_config(settings)
    assert "sk-test-never-show-me" not in repr(settings) + str(settings) + repr(config)
    model: Any = load_chat_model(config)
    assert model.model_name == "gpt-4o-mini"
    assert model.openai_api_key.get_secret_value() == "sk-test-never-show-me"
    generator = Generator(config, model=FakeListChatModel(responses=[]))
    broken = generator.fallback(EXTRACTIVE, RuntimeError("bad key sk-test-never-show-me"))
    assert "sk-test-never-show-me" not in (broken.note or "") and "***" in (broken.note or "")


def test_a_key_in_the_settings_file_is_refused_with_one_message(tmp_path: Path) -> None:
    settings_file = tmp_path / "qabot.toml"
    settings_file.write_text('llm = "openai:gpt-4o-mini"\nllm_api_key = "sk-in-a-file"\n')
    with pytest.raises(ConfigError, match="llm_api_key does not belong in the settings file"):
        load_settings(settings_file)


_NO_LLM_SCRIPT = """
import json, sys
from qabot.cli import main
sys.argv = ["qabot", "ask", "--json", "--seeds", sys.argv[1], "--index", sys.argv[2],
            "how many people were arrested?"]
try:
    main()
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                {"langchain", "langchain_openai", "langchain_core", "openai", "langchain_ollama"})
print(json.dumps(loaded), file=sys.stderr)
"""


def test_with_llm_unset_no_chat_model_package_is_imported(tmp_path: Path,
                                                          seeds_dir: Path) -> None:
    config = tmp_path / "qabot.toml"
    config.write_text('encoder = "fake"\n', "utf-8")
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "QABOT_CONFIG": str(config),
           "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "qabot.cli", "index", "--seeds", str(seeds_dir),
                    "--index", str(tmp_path / "idx")], env=env, cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    result = subprocess.run([sys.executable, "-c", _NO_LLM_SCRIPT, str(seeds_dir),
                             str(tmp_path / "idx")], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    answer = json.loads(result.stdout)
    assert answer["mode"] == "extractive" and "3,800" in answer["answer"]
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []
