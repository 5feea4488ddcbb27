"""Generated answers end to end, offline: the real ``qabot ask``, the REPL (pexpect) and the
Telegram bot (against the stand-in Bot API), each talking real HTTP to a stand-in
OpenAI-compatible server on 127.0.0.1 (``fake_llm_api``): a good streamed reply, a slow one, a
500, a reply citing [9] of 3 passages, one citing nothing, and refusals that must reach no model.

The index is built with the fake encoder (seconds, no embedding model). About 60 s on 2 busy
cores, most of it the slow and streamed scenarios and three process start-ups.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from qabot.config import Settings, load_settings
from qabot.service import build_service

from .conftest import QABOT, REPL_PROMPT, ROOT, SEED, repl_exchange, strip_ansi
from .fake_bot_api import FakeBotApi
from .fake_llm_api import FakeLlmApi

QUESTION = "how many people were arrested?"
OTHER = "who is the president of Kazakhstan?"
REFUSED = "what is the capital of France?"
KEY = "sk-test-secret-key-never-shown"
TOKEN = "987654321:AAH-llm-test-token"
PROMPT = REPL_PROMPT


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The seed article indexed with the fake encoder; the config file that says so."""
    base = tmp_path_factory.mktemp("llm")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    config = base / "qabot.toml"
    config.write_text('encoder = "fake"\n', "utf-8")
    build_service(load_settings(config, seeds_dir=base / "seeds",
                                index_dir=base / "indexes")).index()
    return {"base": base, "config": config, "seeds": base / "seeds", "index": base / "indexes"}


@pytest.fixture
def llm() -> Iterator[FakeLlmApi]:
    api = FakeLlmApi().start()
    yield api
    api.stop()


def _env(index: dict[str, Path], llm_url: str | None, **extra: str) -> dict[str, str]:
    """A clean environment (no developer QABOT_/OPENAI_ settings) over the fake-encoder index."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QABOT_", "TELEGRAM_", "OPENAI_"))}
    env.update(HF_HUB_OFFLINE="1", QABOT_CONFIG=str(index["config"]),
               QABOT_SEEDS_DIR=str(index["seeds"]), QABOT_INDEX_DIR=str(index["index"]),
               **extra)
    if llm_url is not None:
        env.update(QABOT_LLM_BASE_URL=llm_url, QABOT_LLM="local-model")
    return env


def _ask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QABOT, "ask", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def _same_extractive(answer: dict[str, Any], baseline: dict[str, Any]) -> bool:
    return all(answer[k] == baseline[k] for k in ("answer", "span", "abstained", "citations"))


# ---------------------------------------------------------------- qabot ask

def test_ask_json_gives_the_generated_answer_or_the_extractive_one_with_a_note(
        index: dict[str, Path], llm: FakeLlmApi) -> None:
    baseline = json.loads(_ask(_env(index, None), "--json", QUESTION).stdout)
    assert baseline["mode"] == "extractive" and "note" not in baseline
    env = _env(index, llm.base_url, QABOT_LLM_TIMEOUT_S="3", QABOT_LLM_API_KEY=KEY)
    process = subprocess.Popen([*QABOT, "ask", "--json"], env=env, cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    lines: list[str] = []

    def one(question: str, scenario: str) -> tuple[dict[str, Any], int, float]:
        llm.scenario, before, started = scenario, llm.count, time.monotonic()
        process.stdin.write(question + "\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        lines.append(process.stdout.readline())  # type: ignore[union-attr]
        return json.loads(lines[-1]), llm.count - before, time.monotonic() - started

    good, calls, _ = one(QUESTION, "good")
    assert (good["mode"], good["span"], calls) == ("llm", None, 1)
    assert good["answer"].endswith("arrested so far [1].") and "note" not in good
    assert good["citations"] == baseline["citations"]  # [1] is the first passage shown
    assert "[1] " in llm.prompt_text() and "[3] " in llm.prompt_text()
    assert "[4] " not in llm.prompt_text() and QUESTION in llm.prompt_text()
    for scenario, note in [("slow", "did not finish within 3 s"), ("error500", "500"),
                           ("badcite", "cited [9], but it was shown only 3 passages"),
                           ("nocite", "cites no passage")]:
        answer, calls, seconds = one(QUESTION, scenario)
        assert calls == 1 and seconds < 12, (scenario, seconds)
        assert answer["mode"] == "extractive" and _same_extractive(answer, baseline), scenario
        assert note in answer["note"] and answer["note"].startswith("generated answer not used")
    refusal, calls, _ = one(REFUSED, "good")
    assert refusal["abstained"] and calls == 0 and "note" not in refusal
    process.stdin.close()
    stderr = process.stderr.read()  # type: ignore[union-attr]
    assert process.wait(30) == 0
    assert "Traceback" not in stderr and KEY not in stderr + "".join(lines)
    assert llm.headers[0]["authorization"] == f"Bearer {KEY}"  # the key did reach the server


def test_unreachable_server_prints_the_extractive_answer_after_a_note(
        index: dict[str, Path]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = _ask(_env(index, f"http://127.0.0.1:{closed_port}/v1"), QUESTION)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("(generated answer not used: ") and "onnect" in first
    assert "Short answer: 3,800" in rest and "Traceback" not in result.stderr


def test_mode_extractive_skips_the_model_and_mode_llm_needs_one(index: dict[str, Path],
                                                                llm: FakeLlmApi) -> None:
    result = _ask(_env(index, llm.base_url), "--json", "--mode", "extractive", QUESTION)
    assert json.loads(result.stdout)["mode"] == "extractive" and llm.count == 0
    refused = _ask(_env(index, None), "--mode", "llm", QUESTION)
    assert refused.returncode == 2 and "needs a language model" in refused.stderr
    assert "Traceback" not in refused.stderr


# ---------------------------------------------------------------- the REPL

@pytest.fixture(scope="module")
def repl_llm() -> Iterator[FakeLlmApi]:
    api = FakeLlmApi(chunk_delay_s=0.02).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def repl(index: dict[str, Path], repl_llm: FakeLlmApi) -> Iterator[pexpect.spawn]:
    env = _env(index, repl_llm.base_url, TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1",
               COLUMNS="120", QABOT_LLM_TIMEOUT_S="20",
               QABOT_HISTORY_FILE=str(index["base"] / "history"))
    child = pexpect.spawn(sys.executable, ["-m", "qabot.cli", "repl"], env=env, cwd=ROOT,
                          encoding="utf-8", timeout=60, dimensions=(50, 160))
    child.expect_exact(PROMPT)
    child.startup = child.before  # type: ignore[attr-defined]
    yield child
    if child.isalive():
        child.terminate(force=True)


def test_repl_streams_the_answer_as_it_is_written(repl: pexpect.spawn,
                                                  repl_llm: FakeLlmApi) -> None:
    assert f"Answers written by local-model at {repl_llm.base_url}" in repl.startup
    repl_llm.scenario, repl_llm.hold = "good", threading.Event()
    repl.sendline(QUESTION)
    repl.expect_exact("The security")  # the first words, while the server holds the rest
    with pytest.raises(pexpect.TIMEOUT):
        repl.expect_exact("arrested so far", timeout=1.5)
    repl_llm.hold.set()
    repl.expect_exact("arrested so far [1].")
    repl.expect_exact(PROMPT)
    shown = repl.before
    assert "000_a673f91f4b4f9cfb.txt ¶16" in shown and "discarded" not in shown
    assert repl_llm.count == 1


def test_repl_discards_a_reply_citing_a_passage_it_was_not_shown(
        repl: pexpect.spawn, repl_llm: FakeLlmApi) -> None:
    repl_llm.scenario, repl_llm.hold = "badcite", None
    screen = repl_exchange(repl, QUESTION, "discarded")
    assert "More than 3,800 people were arrested" in screen and "arrested [9]" not in screen
    assert "generated answer not used: the model cited [9]" in screen
    assert "Short answer: 3,800" in screen


def test_repl_mode_switches_and_refusals_reach_no_model(repl: pexpect.spawn,
                                                        repl_llm: FakeLlmApi) -> None:
    repl_llm.scenario = "good"
    assert "written by the language model" in repl_exchange(repl, ":mode", "language model")
    repl_exchange(repl, ":mode extractive", "quoted from the articles")
    before = repl_llm.count
    assert "Short answer: 3,800" in repl_exchange(repl, QUESTION, "Short answer")
    repl_exchange(repl, ":mode llm", "language model")
    repl_exchange(repl, REFUSED, "do not say")
    assert repl_llm.count == before
    repl.sendline(":quit")
    repl.expect(pexpect.EOF)


def test_repl_mode_without_a_model_says_so(fake_service: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from rich.console import Console

    from qabot.repl import Repl

    repl = Repl(fake_service, Console(file=io.StringIO(), width=200), plain=True)
    assert repl.state.mode == "extractive"
    repl.command(":mode llm")
    assert repl.state.mode == "extractive"
    assert "no language model is configured" in capsys.readouterr().err


def test_bot_mode_without_a_model_says_so(fake_service: Any,
                                          make_settings: Callable[..., Settings]) -> None:
    from .test_telegram import _run_app

    fake_service.index()
    telegram = FakeBotApi(TOKEN).start()
    settings = make_settings(telegram_bot_token=TOKEN, telegram_base_url=telegram.base_url)

    def ask_mode() -> None:
        telegram.send_text(70, 70, "/mode llm")
        telegram.wait_messages(70, 1, 20)

    _run_app(settings, fake_service, telegram, ask_mode)
    assert "no language model is configured" in telegram.messages(70)[0].plain


# ---------------------------------------------------------------- the Telegram bot

@pytest.fixture(scope="module")
def bot(index: dict[str, Path]) -> Iterator[tuple[FakeBotApi, FakeLlmApi]]:
    """``qabot telegram`` against the stand-in Bot API and the stand-in model server."""
    telegram, model = FakeBotApi(TOKEN).start(), FakeLlmApi(chunk_delay_s=0.25).start()
    env = _env(index, model.base_url, TELEGRAM_BOT_TOKEN=TOKEN, QABOT_LLM_TIMEOUT_S="9",
               QABOT_TELEGRAM_BASE_URL=telegram.base_url, QABOT_TELEGRAM_RATE_LIMIT="0")
    stderr = index["base"] / "bot.stderr"
    with stderr.open("wb") as err:
        process = subprocess.Popen([*QABOT, "telegram"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=err)
    try:
        telegram.wait_until(lambda: telegram.find("getUpdates"), 120, "the bot to poll")
        yield telegram, model
        assert process.poll() is None, stderr.read_text()[-3000:]
        assert "Traceback" not in stderr.read_text()
    finally:
        process.kill()
        process.wait(10)
        telegram.stop()
        model.stop()


def _final(telegram: FakeBotApi, chat: int, marker: str, timeout: float = 40) -> str:
    """The chat's first bot message as it reads once it holds ``marker``."""
    def now() -> str | None:
        sent = telegram.messages(chat)
        text = sent and telegram.text_now(chat, sent[0].result["message_id"])
        return text if text and marker in text else None
    return str(telegram.wait_until(now, timeout, f"{marker!r} in chat {chat}"))


def test_bot_edits_one_message_as_the_answer_is_written_at_a_bounded_rate(
        bot: tuple[FakeBotApi, FakeLlmApi]) -> None:
    telegram, model = bot
    model.scenario = "good"
    telegram.send_text(1, 1, QUESTION)
    final = _final(telegram, 1, "Sources")
    assert "arrested so far [1]." in final and "¶16" in final
    [sent] = telegram.messages(1)
    assert sent.plain.endswith(" …") and sent.plain.startswith("The")  # the first words
    edits = telegram.edits(1)
    assert len(edits) >= 2 and {int(e.params["message_id"]) for e in edits} == {
        sent.result["message_id"]}
    assert edits[-1].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Sources"
    times = [sent.at] + [e.at for e in edits]
    assert min(b - a for a, b in zip(times, times[1:])) >= 1.0  # at most one edit a second
    assert all(c.status == 200 for c in telegram.find("editMessageText", 1))


def test_bot_replaces_an_invalid_reply_by_the_extractive_answer(
        bot: tuple[FakeBotApi, FakeLlmApi]) -> None:
    telegram, model = bot
    model.scenario = "badcite"
    telegram.send_text(2, 2, QUESTION)
    final = _final(telegram, 2, "generated answer not used")
    assert "cited [9]" in final and "arrested [9]" not in final
    assert "To date, more than 3,800 people have been arrested." in final and "Sources" in final


def test_bot_slow_model_in_one_chat_does_not_hold_up_another(
        bot: tuple[FakeBotApi, FakeLlmApi]) -> None:
    telegram, model = bot
    model.scenario, model.scenario_for = "good", {QUESTION: "slow"}
    telegram.send_text(3, 3, QUESTION)
    telegram.wait_until(lambda: any(QUESTION in json.dumps(r) for r in model.requests[-1:]),
                        20, "the slow request")
    telegram.send_text(4, 4, OTHER)
    _final(telegram, 4, "Sources")
    assert not telegram.messages(3)  # chat 3 still waits for its model
    slow = _final(telegram, 3, "did not finish within 9 s")
    assert "3,800" in slow
    model.scenario_for = {}


def test_bot_mode_per_chat_and_refusals_reach_no_model(
        bot: tuple[FakeBotApi, FakeLlmApi]) -> None:
    telegram, model = bot
    model.scenario = "good"
    telegram.send_text(5, 5, "/mode")
    assert "written by the language model" in telegram.wait_messages(5, 1)[-1].plain
    telegram.send_text(5, 5, "/mode extractive")
    assert "quoted from the articles" in telegram.wait_messages(5, 2)[-1].plain
    before = model.count
    telegram.send_text(5, 5, QUESTION)
    assert "3,800" in telegram.wait_messages(5, 3)[-1].plain
    telegram.send_text(5, 5, "/mode llm")
    telegram.wait_messages(5, 4)
    telegram.send_text(5, 5, REFUSED)
    assert "don't cover that" in telegram.wait_messages(5, 5)[-1].plain
    assert model.count == before and not telegram.edits(5)


def test_bot_streaming_backs_off_when_telegram_says_retry_after() -> None:
    import asyncio
    from types import SimpleNamespace

    from telegram.error import RetryAfter

    from qabot.generation import GeneratedStream
    from qabot.schema import Answer, Citation
    from qabot.telegram.streaming import replace_text, stream_text

    class Sent:
        def __init__(self) -> None:
            self.edits: list[tuple[float, str]] = []
            self.refused = False

        async def edit_text(self, text: str, **kwargs: Any) -> None:
            if not self.refused:  # the first edit hits Telegram's flood control
                self.refused = True
                raise RetryAfter(1)
            self.edits.append((time.monotonic(), text))

    sent = Sent()

    async def reply_text(text: str, **kwargs: Any) -> Sent:
        sent.edits.append((time.monotonic(), text))
        return sent

    def words() -> Iterator[str]:
        for word in "Many were arrested in Almaty on Friday and Saturday, police said [1].".split():
            word = word if word == "Many" else " " + word
            time.sleep(0.15)
            yield word

    message: Any = SimpleNamespace(chat=SimpleNamespace(type="private"), reply_text=reply_text)
    answer = Answer("q", "text", None, False, citations=(Citation("f.txt", 1, "t", 0.5),))
    stream = GeneratedStream(answer, words())

    async def run() -> None:
        assert await stream_text(message, stream, interval=0.2) is sent
        assert await replace_text(sent, "final <b>answer</b>")

    asyncio.run(run())
    times = [t for t, _ in sent.edits]
    assert sent.edits[0][1] == "Many …" and sent.edits[-1][1] == "final <b>answer</b>"
    assert len(sent.edits) >= 3 and times[1] - times[0] >= 1.0  # waited out the RetryAfter
    assert all(b - a >= 0.19 for a, b in zip(times, times[1:]))  # and the pace after it
    assert stream.answer.mode == "llm" and stream.answer.text.endswith("police said [1].")
