"""The Telegram bot, end to end: the real ``qabot telegram`` command in a subprocess, talking real
HTTP (through python-telegram-bot) to a stand-in Bot API server on 127.0.0.1.

One bot process serves every scenario in turn, each in its own chats with its own users, so the
model loads once. Plus fast in-process checks of formatting, the rate limiter, log redaction and
the error handler. Wall time: about 12 s on 2 cores (most of it loading the model, three times).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qabot.config import Settings
from qabot.render import RELATED_HEAD
from qabot.schema import Answer, Citation
from qabot.telegram import (
    RateLimiter,
    RedactSecret,
    answer_html,
    build_application,
    sources_html,
    visible_length,
)
from qabot.telegram.chat_state import forget_quiet_chats

from .conftest import QABOT, ROOT
from .fake_bot_api import BOT_USERNAME, FakeBotApi, parse_html

pytestmark = pytest.mark.model

TOKEN = "987654321:AAH-never-log-this-secret-token-xyz"
ADMIN = 500
OUTSIDER = 666
RATE_LIMIT = 5
GROUP = -100200
NEW_ARTICLE = """Harbour festival draws record crowds

The harbour festival in Tallinn drew 12,345 visitors on Saturday, the organisers said.

Stalls sold smoked fish, and a brass band played until midnight.
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The test environment without the developer's qabot/Telegram settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QABOT_", "TELEGRAM_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               QABOT_CONFIG=str(ROOT / "config" / "qabot.toml"), **extra)
    return env


@dataclass
class RunningBot:
    """The bot subprocess and the fake server it talks to."""

    api: FakeBotApi
    process: subprocess.Popen[bytes]
    base: Path
    stderr: Path

    def alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the bot exited with {self.process.returncode}:\n"
                                 f"{self.stderr.read_text()[-3000:]}")
        return True

    def wait(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
        return self.api.wait_until(lambda: self.alive() and predicate(), timeout, what)

    def ask(self, chat_id: int, user_id: int, text: str, count: int = 1,
            chat_type: str = "private", reply_to: dict[str, Any] | None = None) -> list[Any]:
        """Send ``text`` and wait until the chat has ``count`` more messages; return the new ones."""
        before = len(self.api.messages(chat_id))
        self.api.send_text(chat_id, user_id, text, chat_type=chat_type, reply_to=reply_to)
        self.wait(lambda: len(self.api.messages(chat_id)) >= before + count,
                  what=f"{count} reply(ies) to {text!r} in chat {chat_id}")
        return self.api.messages(chat_id)[before:]


@pytest.fixture(scope="module")
def bot(real_seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    """``qabot telegram`` running against the fake Bot API, over a writable copy of the seed index."""
    base = tmp_path_factory.mktemp("telegram")
    shutil.copytree(real_seed_index.parent / "seeds", base / "seeds")
    shutil.copytree(real_seed_index, base / "indexes")
    api = FakeBotApi(TOKEN).start()
    allowed = [ADMIN, GROUP, *range(1, 100), *range(1000, 1020)]
    env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, QABOT_TELEGRAM_BASE_URL=api.base_url,
                    QABOT_SEEDS_DIR=str(base / "seeds"), QABOT_INDEX_DIR=str(base / "indexes"),
                    QABOT_TELEGRAM_ALLOWED_IDS=str(allowed),
                    QABOT_TELEGRAM_ADMIN_IDS=f"[{ADMIN}]",
                    QABOT_TELEGRAM_RATE_LIMIT=str(RATE_LIMIT), QABOT_LOG_LEVEL="INFO")
    stderr = base / "bot.stderr"
    with stderr.open("wb") as err:
        process = subprocess.Popen([*QABOT, "telegram"], env=env, cwd=base,
                                   stdout=subprocess.DEVNULL, stderr=err)
    running = RunningBot(api, process, base, stderr)
    try:
        # the first getUpdates comes after post_init, i.e. once the model is warm
        running.wait(lambda: api.find("getUpdates"), timeout=180, what="the bot to start polling")
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        api.stop()


def _one(messages: list[Any]) -> Any:
    assert len(messages) == 1, [m.plain for m in messages]
    return messages[0]


# ---------------------------------------------------------------- end to end, one bot process

def test_start_says_what_it_knows_and_how_to_ask(bot: RunningBot) -> None:
    reply = _one(bot.ask(1, 1, "/start"))
    assert "1 news article" in reply.plain
    assert "The government faces major protests" in reply.plain  # the newest article
    assert "just type" in reply.plain and "/ask <question>" in reply.plain
    assert f"@{BOT_USERNAME}" in reply.plain
    commands = bot.api.find("setMyCommands")[0].params["commands"]
    assert {c["command"] for c in commands} >= {"ask", "sources", "help", "reindex"}
    assert _one(bot.ask(1, 1, "/help")).plain == reply.plain  # /help says the same


def test_mission_question_gets_one_reply_with_bold_span_and_citations(bot: RunningBot) -> None:
    reply = _one(bot.ask(2, 2, "how many were arrested?"))
    assert "3,800" in reply.plain
    assert re.search(r"<b>[^<]*3,800[^<]*</b>", reply.params["text"])  # the span is bold
    assert "[1]" in reply.plain and "¶16" in reply.plain
    assert "The government faces major protests" in reply.plain  # cited by article title
    button = reply.params["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "Sources" and button["callback_data"]
    # a typing action while working, and no placeholder message edited later
    actions = bot.api.find("sendChatAction", 2)
    assert actions and actions[0].params["action"] == "typing" and actions[0].at <= reply.at
    assert not bot.api.find("editMessageText")


def test_follow_up_reuses_the_chat_topic(bot: RunningBot) -> None:
    first = _one(bot.ask(3, 3, "How many troops of the security forces were wounded?"))
    assert "<b>748</b>" in first.params["text"]
    # without the first question this is about the "armed criminals" (26); with it, the troops
    follow_up = _one(bot.ask(3, 3, "and how many of them died?"))
    assert "<b>18</b>" in follow_up.params["text"]


def test_sources_button_and_command_show_full_passages(bot: RunningBot) -> None:
    answer = _one(bot.ask(4, 4, "how many were arrested?"))
    full = ("placed under greater protection,” with 70 checkpoints installed in the country, "
            "according to a statement.")  # the end of paragraph 15, the second citation
    assert full not in answer.plain  # the answer shortens quotes, the sources show everything
    message = {**answer.result, "chat": {"id": 4, "type": "private"}}
    before = len(bot.api.messages(4))
    bot.api.press_button(4, message, answer.params["reply_markup"]["inline_keyboard"][0][0]
                         ["callback_data"])
    shown = bot.wait(lambda: bot.api.messages(4)[before:], what="the sources")
    assert full in shown[0].plain and "paragraph 15" in shown[0].plain
    assert bot.api.find("answerCallbackQuery")
    by_command = bot.ask(4, 4, "/sources")
    assert full in by_command[0].plain
    # a button whose answer the bot no longer keeps (too old, or from before a restart)
    before = len(bot.api.messages(4))
    bot.api.press_button(4, message, "0" * 64)
    alert = bot.wait(lambda: [c for c in bot.api.find("answerCallbackQuery")
                              if "expired" in str(c.params.get("text"))], what="the alert")
    assert "please ask again" in alert[0].params["text"] and alert[0].params["show_alert"]
    assert len(bot.api.messages(4)) == before  # nothing else was sent


def test_markup_in_a_question_is_escaped(bot: RunningBot) -> None:
    question = "What does <b>bold</b> & <script>alert(1)</script> mean?"
    reply = _one(bot.ask(5, 5, question))
    # the fake server rejects unsupported tags and bare < > & with a 400, as Telegram does
    assert all(call.status == 200 for call in bot.api.find("sendMessage", 5))
    assert "<script>alert(1)</script>" in reply.plain  # shown literally, not interpreted
    assert "don't cover" in reply.plain  # a friendly refusal


def test_group_answers_only_ask_mentions_and_replies_to_the_bot(bot: RunningBot) -> None:
    chatter = bot.api.send_text(GROUP, 10, "how many were arrested?", chat_type="group")
    by_ask = _one(bot.ask(GROUP, 11, f"/ask@{BOT_USERNAME} how many were arrested?",
                          chat_type="group"))
    assert "3,800" in by_ask.plain
    by_mention = _one(bot.ask(GROUP, 12, f"@{BOT_USERNAME} how many were wounded?",
                              chat_type="group"))
    assert "748" in by_mention.plain
    bot_message = {**by_mention.result, "chat": {"id": GROUP, "type": "group"}}
    by_reply = _one(bot.ask(GROUP, 13, "and how many of them died?", chat_type="group",
                            reply_to=bot_message))
    assert by_reply.plain
    replies_to = [m.params["reply_parameters"]["message_id"] for m in bot.api.messages(GROUP)]
    assert chatter["message_id"] not in replies_to  # the plain group message was ignored
    assert len(replies_to) == 3
    assert "3,800" in _one(bot.ask(GROUP, 14, "/ask how many were arrested?",
                                   chat_type="group")).plain


def test_ten_chats_at_once_are_all_answered(bot: RunningBot) -> None:
    chats = range(1000, 1010)
    started = time.monotonic()
    for chat in chats:
        bot.api.send_text(chat, chat, "how many were arrested?")
    bot.wait(lambda: all(bot.api.messages(c) for c in chats), timeout=60,
             what="answers in all ten chats")
    elapsed = time.monotonic() - started
    for chat in chats:
        assert "3,800" in _one(bot.api.messages(chat)).plain
    assert elapsed < 30, f"ten questions took {elapsed:.1f} s"


def test_unauthorised_user_is_refused_politely(bot: RunningBot) -> None:
    reply = _one(bot.ask(OUTSIDER, OUTSIDER, "how many were arrested?"))
    assert "not on its list of allowed users" in reply.plain
    assert "3,800" not in reply.plain
    assert not bot.api.find("sendChatAction", OUTSIDER)  # no work was done for them


def test_rate_limit_answers_then_asks_to_slow_down(bot: RunningBot) -> None:
    for _ in range(RATE_LIMIT + 2):
        bot.api.send_text(20, 20, "how many were arrested?")
    replies = bot.wait(lambda: len(m := bot.api.messages(20)) >= RATE_LIMIT + 2 and m,
                       what="all replies to the rate-limited user")
    answered = [r for r in replies if "3,800" in r.plain]
    slowed = [r for r in replies if "try again in" in r.plain]
    assert len(answered) == RATE_LIMIT and len(slowed) == 2
    assert "questions a minute" in slowed[0].plain


def test_reindex_is_for_admins_and_reports_the_summary(bot: RunningBot) -> None:
    refused = _one(bot.ask(30, 30, "/reindex"))
    assert "only the bot's admins" in refused.plain
    (bot.base / "seeds" / "999_harbour.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    done = _one(bot.ask(ADMIN, ADMIN, "/reindex"))
    assert "Indexed 2 articles" in done.plain and "1 added" in done.plain
    # the running bot swaps in the new generation before the next question
    answer = _one(bot.ask(31, 31, "How many visitors did the harbour festival draw?"))
    assert "12,345" in answer.plain and "Harbour festival" in answer.plain


def test_every_message_was_accepted_and_sigterm_stops_cleanly(bot: RunningBot) -> None:
    rejected = [(c.params.get("text"), c.result) for c in bot.api.find("sendMessage")
                if c.status != 200]
    assert not rejected
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(30) == 0
    log = bot.stderr.read_text()
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    assert "/bot<token>/getUpdates" in log  # httpx logged URLs at INFO, redacted
    assert "Traceback" not in log


def test_webhook_mode_receives_updates_and_answers(real_seed_index: Path, tmp_path: Path) -> None:
    api = FakeBotApi(TOKEN).start()
    with socket.socket() as probe:  # a free port for the bot's webhook server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, QABOT_TELEGRAM_BASE_URL=api.base_url,
                    QABOT_INDEX_DIR=str(real_seed_index),
                    QABOT_SEEDS_DIR=str(real_seed_index.parent / "seeds"),
                    QABOT_TELEGRAM_WEBHOOK_URL="https://bot.example.invalid/qabot-hook",
                    QABOT_TELEGRAM_WEBHOOK_LISTEN="127.0.0.1",
                    QABOT_TELEGRAM_WEBHOOK_PORT=str(port))
    process = subprocess.Popen([*QABOT, "telegram"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        registered = api.wait_until(lambda: process.poll() is None and api.find("setWebhook"),
                                    120, "setWebhook")[0].params
        assert registered["url"] == "https://bot.example.invalid/qabot-hook"
        update = {"update_id": 1, "message": api.text_message(70, 70, "how many were arrested?")}
        post = urllib.request.Request(
            f"http://127.0.0.1:{port}/qabot-hook", data=json.dumps(update).encode(),
            headers={"Content-Type": "application/json",
                     "X-Telegram-Bot-Api-Secret-Token": registered["secret_token"]})
        deadline = time.monotonic() + 30
        while True:  # the webhook server may still be binding
            try:
                with urllib.request.urlopen(post, timeout=10) as response:
                    assert response.status == 200
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert "3,800" in api.wait_messages(70, 1)[0].plain
        forged = urllib.request.Request(post.full_url, data=post.data, headers={
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "guess"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=10)
        assert refused.value.code == 403  # only Telegram, which knows the secret, may post
        assert not api.find("getUpdates")  # no polling in webhook mode
        process.send_signal(signal.SIGINT)  # Ctrl-C stops it as cleanly as SIGTERM (above)
        assert process.wait(30) == 0
        assert process.stderr is not None
        assert TOKEN not in process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        api.stop()


# ---------------------------------------------------------------- start-up errors

def test_missing_token_is_one_clear_error(tmp_path: Path) -> None:
    result = subprocess.run([*QABOT, "telegram"], env=clean_env(), cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no Telegram bot token" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "@BotFather" in result.stderr and "Traceback" not in result.stderr


def test_rejected_token_is_reported_without_the_token(real_seed_index: Path,
                                                      tmp_path: Path) -> None:
    api = FakeBotApi("111:the-right-token").start()
    try:
        env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, QABOT_TELEGRAM_BASE_URL=api.base_url,
                        QABOT_INDEX_DIR=str(real_seed_index),
                        QABOT_SEEDS_DIR=str(real_seed_index.parent / "seeds"))
        result = subprocess.run([*QABOT, "telegram"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
    finally:
        api.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "rejected the bot token" in output
    assert TOKEN not in output and "Traceback" not in output


# ---------------------------------------------------------------- fast in-process checks

def _answer(text: str, span: str, passage: str) -> Answer:
    citation = Citation(source="a&b.txt", paragraph=2, text=passage, score=0.9,
                        title="Tom & <Jerry>")
    return Answer(question="q", text=text, span=span, abstained=False, citations=(citation,))


def test_answer_html_escapes_corpus_text_and_bolds_the_span() -> None:
    answer = _answer("Prices rose 5% <fast> & then fell.", "5%", "A <i>raw</i> & passage.")
    [message] = answer_html(answer)
    plain = parse_html(message)  # raises on anything Telegram would refuse
    assert "<b>5%</b>" in message
    assert "Prices rose 5% <fast> & then fell." in plain
    assert "Tom & <Jerry>" in plain and "A <i>raw</i> & passage." in plain


def test_long_passages_are_split_under_the_telegram_limit() -> None:
    passage = " ".join(["Protesters & <police> clashed again."] * 600)  # ~22,000 characters
    messages = sources_html(_answer("x", "x", passage))
    assert len(messages) > 1
    for message in messages:
        assert visible_length(message) <= 4096
        assert len(parse_html(message)) <= 4096
    assert "".join(parse_html(m) for m in messages).count("<police>") == 600


def test_sources_after_a_refusal_say_the_passages_do_not_answer() -> None:
    related = _answer("x", "x", "Nearby text.").citations
    refusal = Answer(question="q", text=None, span=None, abstained=True, related=related)
    [message] = sources_html(refusal)
    assert RELATED_HEAD in parse_html(message) and "Nearby text." in parse_html(message)
    [answered] = sources_html(_answer("x", "x", "Nearby text."))
    assert RELATED_HEAD not in answered


def test_quiet_chats_are_forgotten_beyond_the_limit(make_settings: Callable[..., Settings]) -> None:
    app = build_application(make_settings(telegram_bot_token=TOKEN), _SlowService())
    for chat in range(10):
        app.chat_data[chat].conversation(600).remember("q", "q", _answer("x", "x", "y"))
    app.chat_data[0].last_active = time.monotonic() + 1  # chat 0 spoke last
    forget_quiet_chats(app, max_chats=10)
    assert len(app.chat_data) == 10  # within the limit: nothing is dropped
    forget_quiet_chats(app, max_chats=8)
    assert len(app.chat_data) == 6 and 0 in app.chat_data  # the quietest go, to 3/4 of the room
    assert app.chat_data[0].last_answer is not None


def test_rate_limiter_is_a_sliding_window_per_user() -> None:
    now = [0.0]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.retry_after(1) == 0 and limiter.retry_after(1) == 0
    assert limiter.retry_after(1) == pytest.approx(60)
    assert limiter.retry_after(2) == 0  # other users are not affected
    now[0] = 30
    assert limiter.retry_after(1) == pytest.approx(30)
    now[0] = 61
    assert limiter.retry_after(1) == 0
    assert RateLimiter(0).retry_after(1) == 0  # 0 = unlimited


def test_log_redaction_hides_the_token_in_messages_and_tracebacks() -> None:
    redact = RedactSecret(TOKEN)
    try:
        raise RuntimeError(f"The token `{TOKEN}` was rejected")
    except RuntimeError:
        record = logging.LogRecord("telegram", logging.ERROR, __file__, 1, "POST %s/getMe",
                                   (f"https://api.telegram.org/bot{TOKEN}",), sys.exc_info())
    assert redact.filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text and "bot<token>/getMe" in text and "`<token>`" in text


def test_protect_logs_redacts_every_logger_that_reaches_stderr() -> None:
    script = (
        "import logging, sys\n"
        "from qabot.telegram import protect_logs\n"
        "token = sys.argv[1]\n"
        "protect_logs(token, 'WARNING')\n"
        "logging.getLogger('telegram.ext.Updater').warning('GET /bot%s/getUpdates', token)\n"
        "logging.getLogger('asyncio').error('Task failed: /bot%s/sendMessage', token)\n")
    result = subprocess.run([sys.executable, "-c", script, TOKEN], capture_output=True, text=True,
                            env=clean_env(), cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stderr
    assert "/bot<token>/getUpdates" in result.stderr and "/bot<token>/sendMessage" in result.stderr


class _SlowService:
    """A service that takes half a second per answer (in the calling thread, like the real one)."""

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Answer:
        time.sleep(0.5)
        return _answer("To date, more than 3,800 people have been arrested.", "3,800",
                       "To date, more than 3,800 people have been arrested.")


def _run_app(settings: Settings, service: Any, api: FakeBotApi,
             scenario: Callable[[], None]) -> None:
    """Run the bot's Application in-process against ``api`` while ``scenario`` runs in a thread,
    then stop ``api`` (also when the run fails)."""
    async def main() -> None:
        app = build_application(settings, service)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            await asyncio.to_thread(scenario)
            await app.updater.stop()
            await app.stop()

    try:
        asyncio.run(main())
    finally:
        api.stop()


def test_slow_answers_do_not_block_other_chats(make_settings: Callable[..., Settings]) -> None:
    api = FakeBotApi(TOKEN).start()
    settings = make_settings(telegram_bot_token=TOKEN, telegram_base_url=api.base_url)
    elapsed: list[float] = []

    def ten_chats() -> None:
        started = time.monotonic()
        for chat in range(50, 60):
            api.send_text(chat, chat, "how many were arrested?")
        api.wait_until(lambda: all(api.messages(c) for c in range(50, 60)), 30, "ten answers")
        elapsed.append(time.monotonic() - started)

    _run_app(settings, _SlowService(), api, ten_chats)
    # one after the other (or on the event loop) would take 10 x 0.5 s
    assert elapsed[0] < 3.0, f"ten slow answers took {elapsed[0]:.1f} s"


class _BrokenService:
    """A service whose answering fails with internals that must not reach the user."""

    def ask(self, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("disk /srv/secret/index is on fire")


def test_error_handler_logs_and_tells_the_user_without_internals(
        make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    api = FakeBotApi(TOKEN).start()
    settings = make_settings(telegram_bot_token=TOKEN, telegram_base_url=api.base_url)

    def one_question() -> None:
        api.send_text(40, 40, "how many were arrested?")
        api.wait_messages(40, 1, 20)

    with caplog.at_level(logging.ERROR, logger="qabot.telegram"):
        _run_app(settings, _BrokenService(), api, one_question)
    reply = _one(api.messages(40))
    assert "something went wrong" in reply.plain and "/srv/secret" not in reply.plain
    assert any("disk /srv/secret/index is on fire" in str(r.exc_info) for r in caplog.records)


def test_sources_name_the_file_paragraph_and_publication_date() -> None:
    cited = Citation("monday.md", 2, "More than 3,800 people have been arrested.", 0.8,
                     title="Protests spread", published="2022-01-08")
    undated = Citation("notes.txt", 1, "No date here.", 0.5, title="Notes")
    answer = Answer("how many?", "More than 3,800 people have been arrested.", "3,800", False,
                    citations=(cited, undated))
    text = parse_html("\n\n".join(sources_html(answer)))
    assert "monday.md, paragraph 2 · Jan 8, 2022" in text
    assert "notes.txt, paragraph 1\n" in text  # no date, no dot
