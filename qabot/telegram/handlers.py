"""The bot's command, message and button handlers around one ``QabotService``.

Private chats: every text message is a question. Groups: ``/ask <question>``, a mention of the bot,
or a reply to one of its messages. Blocking work (encoding, search, index builds) runs in threads
off the event loop. Per-chat memory lives in ``context.chat_data`` (``chat_state.ChatState``);
the Sources button carries its ``Answer`` itself (PTB's arbitrary callback data).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InvalidCallbackData,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..errors import IndexLockedError, NoArticlesMatchError, QabotError
from ..generation import GeneratedStream
from ..render import changed_filter, filter_status, no_match_text
from ..schema import Answer
from . import messages as say
from .chat_state import BotContext, chat_state, forget_quiet_chats
from .guards import COMMAND, AccessGuard, RateLimiter, addressed_question
from .streaming import replace_text, stream_text

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import QabotService

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMANDS = [
    BotCommand("ask", "Ask a question about the articles"),
    BotCommand("sources", "Show the full passages behind my last answer"),
    BotCommand("since", "Answer only from articles since a date (/since off clears it)"),
    BotCommand("source", "Answer only from one source's articles (/source off clears it)"),
    BotCommand("mode", "Answers written by the language model, or quoted (/mode llm|extractive)"),
    BotCommand("help", "What I know and how to ask"),
    BotCommand("reindex", "Update the index from the seeds folder (admins)"),
]


async def reply(message: Message, texts: list[str],
                markup: InlineKeyboardMarkup | None = None) -> None:
    """Send ``texts`` in order, quoting the question in groups; ``markup`` on the last one."""
    quote_it = message.chat.type != ChatType.PRIVATE
    for n, text in enumerate(texts, start=1):
        await message.reply_text(text, do_quote=quote_it,
                                 reply_markup=markup if n == len(texts) else None)


async def while_typing(context: BotContext, chat_id: int, work: Awaitable[T]) -> T:
    """Await ``work`` while showing "typing…" (Telegram drops the action after ~5 s)."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as exc:
            log.debug("chat action failed: %s", exc)
        done, _ = await asyncio.wait({task}, timeout=4.5)
        if done:
            return task.result()


def sources_button(answer: Answer) -> InlineKeyboardMarkup:
    """The Sources button under an answer; PTB keeps ``answer`` and sends Telegram a key."""
    return InlineKeyboardMarkup([[InlineKeyboardButton("Sources", callback_data=answer)]])


class QabotHandlers:
    """Every handler of the bot, sharing the service, the settings and the guards."""

    def __init__(self, settings: Settings, service: QabotService) -> None:
        self.settings = settings
        self.service = service
        self.access = AccessGuard(settings.telegram_allowed_ids, settings.telegram_admin_ids)
        self.limiter = RateLimiter(settings.telegram_rate_limit)
        # a chat's answers until its /mode: generated when a language model is configured
        self.default_mode = "llm" if settings.llm or settings.llm_base_url else "extractive"

    def register(self, app: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
        """Add every handler to ``app``, the allow-list gate first."""
        app.add_handler(TypeHandler(Update, self.access.gate), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("ask", self.on_ask))
        app.add_handler(CommandHandler("sources", self.on_sources))
        app.add_handler(CommandHandler("reindex", self.on_reindex))
        app.add_handler(CommandHandler("since", self.on_since))
        app.add_handler(CommandHandler("source", self.on_source))
        app.add_handler(CommandHandler("mode", self.on_mode))
        app.add_handler(CallbackQueryHandler(self.on_sources_button, pattern=Answer))
        app.add_handler(CallbackQueryHandler(self.on_expired_button, pattern=InvalidCallbackData))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND,
                                       self.on_private_text))
        app.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND,
                                       self.on_group_text))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND,
                                       self.on_unknown_command))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application[Any, BotContext, Any, Any, Any, Any]) -> None:
        """Publish the command menu and load the model once, before the first update."""
        try:
            await app.bot.set_my_commands(COMMANDS)
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)
        started = time.perf_counter()
        await asyncio.to_thread(self.service.warm_up)
        log.info("model and index ready in %.1f s; @%s is listening",
                 time.perf_counter() - started, app.bot.username)

    # -- the question path

    async def answer_question(self, update: Update, context: BotContext, question: str) -> None:
        """Rate-limit, answer off the event loop, and reply with citations and a Sources button."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        question = " ".join(question.split())
        if not question:
            await reply(message, [say.EMPTY_QUESTION])
            return
        if len(question) > say.MAX_QUESTION_CHARS:
            await reply(message, [say.LONG_QUESTION])
            return
        wait = self.limiter.retry_after(user.id)
        if wait:
            await reply(message, [say.slow_down_html(self.limiter.limit, wait)])
            return
        state = chat_state(context)
        sent = None
        async with state.lock:
            conversation = state.conversation(self.settings.followup_ttl_s)
            generate = (state.mode or self.default_mode) == "llm"
            try:
                found = await while_typing(context, chat.id, asyncio.to_thread(
                    self.service.ask_streaming if generate else self.service.ask, question,
                    None, conversation, article_filter=state.article_filter))
            except NoArticlesMatchError:
                await reply(message, [say.esc(no_match_text(state.article_filter,
                                                            "/since off and /source off"))])
                return
            if isinstance(found, GeneratedStream):
                if found.generating:
                    sent = await stream_text(message, found)  # shown as written, then replaced
                found = found.answer
        forget_quiet_chats(context.application)
        answer: Answer = found
        if answer.abstained:
            await reply(message, [say.refusal_html(question, answer)])
            return
        texts, markup = say.answer_html(answer), sources_button(answer)
        if sent is not None and await replace_text(sent, texts[0],
                                                   markup if len(texts) == 1 else None):
            texts = texts[1:]
        if texts:
            await reply(message, texts, markup=markup)

    async def on_ask(self, update: Update, context: BotContext) -> None:
        """/ask <question>: the way to ask in groups (works in private chats too)."""
        assert update.effective_message is not None
        text = update.effective_message.text or ""
        await self.answer_question(update, context, COMMAND.sub("", text, count=1))

    async def on_private_text(self, update: Update, context: BotContext) -> None:
        """A private text message is a question."""
        assert update.effective_message is not None
        await self.answer_question(update, context, update.effective_message.text or "")

    async def on_group_text(self, update: Update, context: BotContext) -> None:
        """A group message is a question only when it mentions or replies to the bot."""
        assert update.effective_message is not None
        question = addressed_question(update.effective_message, context.bot)
        if question is not None:
            await self.answer_question(update, context, question)

    # -- sources

    async def on_sources(self, update: Update, context: BotContext) -> None:
        """/sources: the full passages behind this chat's last answer."""
        assert update.effective_message is not None
        answer = chat_state(context).last_answer
        texts = say.sources_html(answer) if answer is not None else [say.NO_RECENT_ANSWER]
        await reply(update.effective_message, texts)

    async def on_sources_button(self, update: Update, context: BotContext) -> None:
        """The Sources button: the full passages behind the answer it is attached to."""
        query = update.callback_query
        assert query is not None and isinstance(query.data, Answer)
        await query.answer()
        if isinstance(query.message, Message):
            await reply(query.message, say.sources_html(query.data))
        elif update.effective_chat is not None:
            for text in say.sources_html(query.data):
                await context.bot.send_message(update.effective_chat.id, text)

    async def on_expired_button(self, update: Update, context: BotContext) -> None:
        """A button whose answer PTB no longer keeps (or one it never made): say so."""
        assert update.callback_query is not None
        await update.callback_query.answer(say.SOURCES_EXPIRED, show_alert=True)

    # -- the rest

    async def on_help(self, update: Update, context: BotContext) -> None:
        """/start and /help: what the bot knows and how to ask it."""
        assert update.effective_message is not None
        stats = await asyncio.to_thread(self.service.stats)
        await reply(update.effective_message,
                    [say.welcome_html(stats.articles, stats.newest, context.bot.username,
                                      stats.newest_published)])

    async def on_since(self, update: Update, context: BotContext) -> None:
        """/since DATE: answer this chat only from articles published since DATE."""
        await self.set_filter(update, context, "since")

    async def on_source(self, update: Update, context: BotContext) -> None:
        """/source NAME: answer this chat only from that source's articles."""
        await self.set_filter(update, context, "source")

    async def set_filter(self, update: Update, context: BotContext, which: str) -> None:
        """Change this chat's article filter ("off" clears ``which``); alone, say what it is."""
        message = update.effective_message
        assert message is not None
        state, arg = chat_state(context), " ".join(context.args or [])
        if arg:
            try:
                state.article_filter = changed_filter(state.article_filter, which, arg)
            except ValueError as exc:
                await reply(message, [say.esc(f"Usage: /since <date> — {exc}.")])
                return
        await reply(message, [say.esc(filter_status(state.article_filter))])

    async def on_mode(self, update: Update, context: BotContext) -> None:
        """/mode llm|extractive: this chat's answers, generated or quoted; alone, say which."""
        message = update.effective_message
        assert message is not None
        state, arg = chat_state(context), " ".join(context.args or []).lower()
        if self.default_mode != "llm":
            await reply(message, [say.NO_LLM])
            return
        if arg and arg not in ("llm", "extractive"):
            await reply(message, [say.MODE_USAGE])
            return
        state.mode = arg or state.mode
        await reply(message, [say.mode_html(state.mode or self.default_mode,
                                            self.service.generator.label())])

    async def on_reindex(self, update: Update, context: BotContext) -> None:
        """/reindex (admins): update the index from the seeds folder and report the summary."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        assert message is not None and user is not None and chat is not None
        if not self.access.is_admin(user.id):
            await reply(message, [say.ADMINS_ONLY])
            return
        log.info("reindex requested by user %s", user.id)
        try:
            report = await while_typing(context, chat.id, asyncio.to_thread(
                self.service.index, lock_wait_seconds=0))
        except IndexLockedError:
            await reply(message, [say.INDEX_BUSY])
            return
        except QabotError as exc:  # admins may see domain errors: they are theirs to fix
            await reply(message, [say.index_failed_html(exc.message)])
            return
        await reply(message, [say.index_updated_html(report)])

    async def on_unknown_command(self, update: Update, context: BotContext) -> None:
        """An unknown command in a private chat: point to /help."""
        assert update.effective_message is not None
        await reply(update.effective_message, [say.UNKNOWN_COMMAND])

    async def on_error(self, update: object, context: BotContext) -> None:
        """Log the exception and tell the user something went wrong, without internals."""
        log.error("error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            await context.bot.send_message(update.effective_chat.id, say.SOMETHING_WENT_WRONG)
        except TelegramError as exc:
            log.warning("could not report the error to the chat: %s", exc)
