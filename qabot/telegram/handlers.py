"""The Telegram front end: a python-telegram-bot ``Application`` answering questions with citations.

Private chats: every text message is a question. Groups: ``/ask <question>``, a mention of the bot,
or a reply to one of its messages. Replies use HTML parse mode, and every piece of user or corpus
text is escaped. Blocking work (encoding, search, index builds) runs in threads off the event loop.
The bot token never reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import sys
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageLimit, ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..conversation import Conversations
from ..errors import ConfigError, IndexLockedError, QabotError
from ..render import RELATED_HEAD, format_report, plural, printable, quote, read_as_text
from ..schema import Answer, Citation

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import QabotService

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_QUESTION_CHARS = 1000
SOURCES_PREFIX = "src:"
TOKEN_MASK = "<token>"
_COMMAND = re.compile(r"^/\w+(?:@\w+)?\s*")
_TAG = re.compile(r"<[^>]*>")

COMMANDS = [
    BotCommand("ask", "Ask a question about the articles"),
    BotCommand("sources", "Show the full passages behind my last answer"),
    BotCommand("help", "What I know and how to ask"),
    BotCommand("reindex", "Update the index from the seeds folder (admins)"),
]


# ---------------------------------------------------------------- formatting (pure, tested alone)

def esc(text: str) -> str:
    """``text`` made safe for Telegram's HTML parse mode, control and bidi characters shown as
    escapes as on the terminal (``render.printable``)."""
    return html.escape(printable(text), quote=True)


def visible_length(html_text: str) -> int:
    """Length Telegram counts (UTF-16 code units of the text after parsing tags and entities)."""
    plain = html.unescape(_TAG.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def split_plain(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters, at whitespace where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def pack_messages(blocks: Iterable[str], limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Join self-contained HTML blocks with blank lines into as few messages as fit ``limit``."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if current and visible_length(candidate) > limit:
            messages.append(current)
            current = block
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def citation_title(citation: Citation, limit: int = 90) -> str:
    """The article title (or the file name when it has none), shortened."""
    return quote(citation.title or citation.source, limit)


def answer_html(answer: Answer) -> list[str]:
    """The reply to an answered question: the sentence with the span in bold, then citations."""
    span = answer.span or ""
    text = answer.text or ""
    if len(text) > 3000:  # a run-on "sentence" must not push the reply past Telegram's limit
        text = quote(text, 3000)
    at = text.find(span) if span else -1
    if at >= 0:
        head = f"{esc(text[:at])}<b>{esc(span)}</b>{esc(text[at + len(span):])}"
    else:
        head = esc(text) + (f"\n<b>{esc(span)}</b>" if span else "")
    cited = [f"[{n}] <i>{esc(citation_title(citation))}</i>, ¶{citation.paragraph}\n"
             f"“{esc(quote(citation.text, 160))}”"
             for n, citation in enumerate(answer.citations, start=1)]
    blocks = [f"<i>{esc(read_as_text(answer))}</i>\n{head}" if answer.read_as else head]
    if cited:
        blocks += [f"<b>Sources</b>\n{cited[0]}", *cited[1:]]
    return pack_messages(blocks)


def refusal_html(question: str, answer: Answer | None = None) -> str:
    """A friendly refusal that repeats the question so people see what was not found (or says
    why it could not be read, e.g. not in English)."""
    if answer is not None and answer.notice:
        return esc(answer.notice)
    return (f"Sorry, the articles I have don't cover that: “{esc(quote(question, 200))}”.\n"
            "Try rephrasing, or ask about something the articles report (see /help).")


def sources_html(answer: Answer) -> list[str]:
    """The full cited passages of ``answer``, split across messages only when needed."""
    citations = answer.citations or answer.related
    if not citations:
        return ["My last answer cited no passages."]
    blocks: list[str] = [] if answer.citations else [
        esc(RELATED_HEAD)]
    for n, citation in enumerate(citations, start=1):
        head = (f"<b>[{n}] {esc(citation_title(citation, 200))}</b>\n"
                f"{esc(citation.source)}, paragraph {citation.paragraph}")
        pieces = split_plain(" ".join(citation.text.split()), 3000)
        blocks.append(f"{head}\n{esc(pieces[0])}")
        blocks.extend(esc(piece) for piece in pieces[1:])
    return pack_messages(blocks)


def welcome_html(articles: int, newest: str | None, bot_username: str | None) -> str:
    """What /start and /help say: what the bot knows and how to ask it."""
    mention = f"@{bot_username}" if bot_username else "me"
    knows = f"I answer questions about <b>{plural(articles, 'news article')}</b>"
    newest_line = f"\nNewest: <i>{esc(quote(newest, 120))}</i>" if newest else ""
    return (f"{knows}, and I cite the passages I used.{newest_line}\n\n"
            "<b>How to ask</b>\n"
            "• In a private chat, just type your question.\n"
            f"• In a group, use /ask &lt;question&gt;, mention {esc(mention)}, or reply to one of "
            "my messages.\n"
            "• Follow-ups work: after “How many were wounded?” you can ask “and how many died?”.\n\n"
            "<b>Commands</b>\n"
            "/ask &lt;question&gt; – ask a question\n"
            "/sources – the full passages behind my last answer\n"
            "/help – this message\n"
            "/reindex – update the index from the seeds folder (admins only)")


# ---------------------------------------------------------------- rate limit and log redaction

class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key, as a sliding window; 0 = unlimited."""

    def __init__(self, limit: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[int, deque[float]] = {}

    def retry_after(self, key: int) -> float:
        """0 and the event is counted when allowed; else the seconds until the next one is."""
        if self.limit <= 0:
            return 0.0
        now = self._clock()
        if len(self._events) > 10_000:  # forget users who have been quiet for a window
            self._events = {k: v for k, v in self._events.items()
                            if v and now - v[-1] < self.window}
        events = self._events.setdefault(key, deque())
        while events and now - events[0] >= self.window:
            events.popleft()
        if len(events) >= self.limit:
            return max(self.window - (now - events[0]), 0.1)
        events.append(now)
        return 0.0


class RedactSecret(logging.Filter):
    """Replaces a secret (the bot token) in log messages and tracebacks before they are written."""

    def __init__(self, secret: str, mask: str = TOKEN_MASK) -> None:
        super().__init__()
        self.secret = secret
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, self.mask), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self.secret, self.mask)
        if record.stack_info and self.secret in record.stack_info:
            record.stack_info = record.stack_info.replace(self.secret, self.mask)
        return True


def _without_traceback(record: logging.LogRecord) -> bool:
    """Drop a library record's traceback (kept at DEBUG); the record itself is still written."""
    record.exc_info, record.exc_text = None, None
    return True


def protect_logs(token: str, level: str) -> None:
    """Route telegram/httpx logs to stderr through a token-redacting filter.

    Their loggers stay at WARNING unless qabot's own level is more verbose (INFO, DEBUG), since
    httpx logs every request URL, and the URL contains the token. Library tracebacks are shown
    only at DEBUG: the front end reports the error itself, in one line.
    """
    redact = RedactSecret(token)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(name)s: %(message)s"))
    verbose = logging.getLevelName(level.upper())
    if verbose != logging.DEBUG:
        handler.addFilter(_without_traceback)
    handler.addFilter(redact)
    library_level = verbose if isinstance(verbose, int) and verbose < logging.WARNING \
        else logging.WARNING
    for name in ("telegram", "httpx", "httpcore"):
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(logging.WARNING if name == "httpcore" else library_level)
        library.propagate = False
    # qabot's own handlers, and the last-resort handler that writes records of loggers with no
    # handler of their own (asyncio, tornado in webhook mode, ...)
    for existing in (*logging.getLogger().handlers, *logging.getLogger("qabot").handlers,
                     logging.lastResort):
        if existing is not None:
            existing.addFilter(redact)


def redact_url(url: str) -> str:
    """``url`` with anything after ``/bot`` hidden, for messages about the Bot API address."""
    return re.sub(r"(/bot)[^/]*", r"\1…", url)


# ---------------------------------------------------------------- the bot

class QabotTelegram:
    """The bot's handlers and per-chat state around one ``QabotService``."""

    def __init__(self, settings: Settings, service: QabotService) -> None:
        self.settings = settings
        self.service = service
        self.conversations = Conversations(ttl_seconds=settings.followup_ttl_s)
        self.limiter = RateLimiter(settings.telegram_rate_limit)
        self.allowed = set(settings.telegram_allowed_ids)
        self.admins = set(settings.telegram_admin_ids)
        self._answers: OrderedDict[int, Answer] = OrderedDict()
        self._answer_ids = 0
        self._chat_locks: dict[int, tuple[asyncio.Lock, int]] = {}

    # -- plumbing

    def register(self, app: Application) -> None:
        """Add every handler to ``app``."""
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler(["start", "help"], self.on_help))
        app.add_handler(CommandHandler("ask", self.on_ask))
        app.add_handler(CommandHandler("sources", self.on_sources))
        app.add_handler(CommandHandler("reindex", self.on_reindex))
        app.add_handler(CallbackQueryHandler(self.on_sources_button,
                                             pattern=rf"^{SOURCES_PREFIX}\d+$"))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND,
                                       self.on_private_text))
        app.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND,
                                       self.on_group_text))
        app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND,
                                       self.on_unknown_command))
        app.add_error_handler(self.on_error)

    async def post_init(self, app: Application) -> None:
        """Publish the command menu and load the model once, before the first update."""
        try:
            await app.bot.set_my_commands(COMMANDS)
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", exc)
        started = time.perf_counter()
        await asyncio.to_thread(self.service.warm_up)
        log.info("model and index ready in %.1f s; @%s is listening",
                 time.perf_counter() - started, app.bot.username)

    def is_allowed(self, update: Update) -> bool:
        """True when there is no allow-list, or the chat or the user is on it."""
        if not self.allowed:
            return True
        chat, user = update.effective_chat, update.effective_user
        return bool((chat and chat.id in self.allowed) or (user and user.id in self.allowed))

    @asynccontextmanager
    async def _chat_lock(self, chat_id: int) -> AsyncIterator[None]:
        """Answer one question per chat at a time, so follow-ups see the previous answer."""
        lock, users = self._chat_locks.get(chat_id, (asyncio.Lock(), 0))
        self._chat_locks[chat_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._chat_locks[chat_id]
            if users <= 1:
                del self._chat_locks[chat_id]
            else:
                self._chat_locks[chat_id] = (lock, users - 1)

    async def _while_typing(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int,
                            work: Awaitable[T]) -> T:
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

    def _remember(self, answer: Answer) -> int:
        self._answer_ids += 1
        self._answers[self._answer_ids] = answer
        while len(self._answers) > 2000:
            self._answers.popitem(last=False)
        return self._answer_ids

    @staticmethod
    async def _reply(message: Message, texts: list[str],
                     markup: InlineKeyboardMarkup | None = None) -> None:
        """Send ``texts`` in order, quoting the question in groups; ``markup`` on the last one."""
        quote_it = message.chat.type != ChatType.PRIVATE
        for n, text in enumerate(texts, start=1):
            await message.reply_text(text, do_quote=quote_it,
                                     reply_markup=markup if n == len(texts) else None)

    # -- the gate and the question path

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop updates from chats and users outside the allow-list, politely where addressed."""
        if update.effective_user is None or update.effective_chat is None:
            raise ApplicationHandlerStop  # channel posts and service updates
        if self.is_allowed(update):
            return
        log.info("refused update from user %s in chat %s", update.effective_user.id,
                 update.effective_chat.id)
        refusal = "Sorry, this bot is private and you are not on its list of allowed users."
        if update.callback_query is not None:
            await update.callback_query.answer(refusal, show_alert=True)
        elif update.message is not None and (
                update.effective_chat.type == ChatType.PRIVATE
                or _COMMAND.match(update.message.text or "")
                or self._addressed(update.message, context) is not None):
            await update.message.reply_text(esc(refusal),
                                            do_quote=update.effective_chat.type != ChatType.PRIVATE)
        raise ApplicationHandlerStop

    async def answer_question(self, update: Update, context: ContextTypes.DEFAULT_TYPE,
                              question: str) -> None:
        """Rate-limit, answer off the event loop, and reply with citations and a Sources button."""
        message, chat, user = update.effective_message, update.effective_chat, update.effective_user
        assert message is not None and chat is not None and user is not None
        question = " ".join(question.split())
        if not question:
            await self._reply(message, ["Ask me a question, e.g. <i>/ask how many were "
                                        "arrested?</i>"])
            return
        if len(question) > MAX_QUESTION_CHARS:
            await self._reply(message, [f"That is a long question; please keep it under "
                                        f"{MAX_QUESTION_CHARS} characters."])
            return
        wait = self.limiter.retry_after(user.id)
        if wait:
            await self._reply(message, [
                f"You're asking faster than I can keep up with (at most "
                f"{self.limiter.limit} questions a minute). Please try again in "
                f"{max(1, round(wait))} seconds."])
            return
        async with self._chat_lock(chat.id):
            conversation = self.conversations.get(chat.id)
            answer = await self._while_typing(
                context, chat.id, asyncio.to_thread(self.service.ask, question, None, conversation))
        if answer.abstained:
            await self._reply(message, [refusal_html(question, answer)])
            return
        button = InlineKeyboardMarkup([[InlineKeyboardButton(
            "Sources", callback_data=f"{SOURCES_PREFIX}{self._remember(answer)}")]])
        await self._reply(message, answer_html(answer), markup=button)

    def _addressed(self, message: Message, context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """In a group: the question when the message mentions or replies to the bot, else None."""
        bot = context.bot
        text = message.text or ""
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return text
        mentions = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        for entity, entity_text in mentions.items():
            named = entity_text.lstrip("@").lower() == (bot.username or "").lower()
            if named or (entity.user is not None and entity.user.id == bot.id):
                return text.replace(entity_text, " ") if named else text
        return None

    # -- handlers

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: what the bot knows and how to ask it."""
        assert update.effective_message is not None
        stats = await asyncio.to_thread(self.service.stats)
        await self._reply(update.effective_message,
                          [welcome_html(stats.articles, stats.newest, context.bot.username)])

    async def on_ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/ask <question>: the way to ask in groups (works in private chats too)."""
        assert update.effective_message is not None
        text = update.effective_message.text or ""
        await self.answer_question(update, context, _COMMAND.sub("", text, count=1))

    async def on_private_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A private text message is a question."""
        assert update.effective_message is not None
        await self.answer_question(update, context, update.effective_message.text or "")

    async def on_group_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group message is a question only when it mentions or replies to the bot."""
        assert update.effective_message is not None
        question = self._addressed(update.effective_message, context)
        if question is not None:
            await self.answer_question(update, context, question)

    async def on_sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/sources: the full passages behind this chat's last answer."""
        message, chat = update.effective_message, update.effective_chat
        assert message is not None and chat is not None
        answer = self.conversations.get(chat.id).last_answer
        if answer is None:
            await self._reply(message, ["There is no recent answer here yet; ask me something "
                                        "first."])
            return
        await self._reply(message, sources_html(answer))

    async def on_sources_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The Sources button: the full passages behind the answer it is attached to."""
        query = update.callback_query
        assert query is not None
        answer = self._answers.get(int((query.data or "0").removeprefix(SOURCES_PREFIX)))
        if answer is None:
            await query.answer("Those sources have expired; please ask again.", show_alert=True)
            return
        await query.answer()
        if isinstance(query.message, Message):
            await self._reply(query.message, sources_html(answer))
        elif update.effective_chat is not None:
            for text in sources_html(answer):
                await context.bot.send_message(update.effective_chat.id, text)

    async def on_reindex(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reindex (admins): update the index from the seeds folder and report the summary."""
        message, user, chat = update.effective_message, update.effective_user, update.effective_chat
        assert message is not None and user is not None and chat is not None
        if user.id not in self.admins:
            await self._reply(message, ["Sorry, only the bot's admins can update the index."])
            return
        log.info("reindex requested by user %s", user.id)
        try:
            report = await self._while_typing(context, chat.id, asyncio.to_thread(
                self.service.index, lock_wait_seconds=0))
        except IndexLockedError:
            await self._reply(message, ["Another index build is running; try again in a minute."])
            return
        except QabotError as exc:  # admins may see domain errors: they are theirs to fix
            await self._reply(message, [f"The index was not updated: {esc(exc.message)}"])
            return
        await self._reply(message, [f"Index updated.\n{esc(format_report(report))}"])

    async def on_unknown_command(self, update: Update,
                                 context: ContextTypes.DEFAULT_TYPE) -> None:
        """An unknown command in a private chat: point to /help."""
        assert update.effective_message is not None
        await self._reply(update.effective_message,
                          ["I don't know that command. Send /help to see what I can do."])

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the exception and tell the user something went wrong, without internals."""
        log.error("error while handling an update", exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            await context.bot.send_message(
                update.effective_chat.id,
                "Sorry, something went wrong on my side. Please try again in a moment.")
        except TelegramError as exc:
            log.warning("could not report the error to the chat: %s", exc)


# ---------------------------------------------------------------- running it

def require_token(settings: Settings) -> str:
    """The bot token, or a ``ConfigError`` that says how to set it."""
    secret = settings.telegram_bot_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        raise ConfigError("no Telegram bot token is set",
                          hint="create a bot with @BotFather, then set TELEGRAM_BOT_TOKEN in the "
                               "environment or in a .env file")
    return token


def build_application(settings: Settings, service: QabotService) -> Application:
    """The configured ``Application`` (handlers, defaults, concurrency), not yet running."""
    token = require_token(settings)
    bot = QabotTelegram(settings, service)
    app = (ApplicationBuilder()
           .token(token)
           .base_url(settings.telegram_base_url)
           .defaults(Defaults(parse_mode=ParseMode.HTML, allow_sending_without_reply=True,
                              link_preview_options=LinkPreviewOptions(is_disabled=True)))
           .concurrent_updates(True)
           .post_init(bot.post_init)
           .build())
    bot.register(app)
    return app


def run_bot(settings: Settings, service: QabotService) -> None:
    """Run the bot until SIGINT/SIGTERM: webhook mode when a webhook URL is set, else polling."""
    token = require_token(settings)
    protect_logs(token, settings.log_level)
    service.generation()  # fail fast, before contacting Telegram, when there is no index
    app = build_application(settings, service)
    try:
        if settings.telegram_webhook_url:
            _run_webhook(app, settings)
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        raise ConfigError("the Telegram Bot API rejected the bot token",
                          hint="check TELEGRAM_BOT_TOKEN (from @BotFather)") from None
    except NetworkError as exc:
        message = str(exc).replace(token, TOKEN_MASK)
        raise QabotError(f"cannot reach the Telegram Bot API at "
                         f"{redact_url(settings.telegram_base_url)}: {message}",
                         hint="check the network or QABOT_TELEGRAM_BASE_URL") from None


def _run_webhook(app: Application, settings: Settings) -> None:
    """Serve updates on ``telegram_webhook_listen:port`` at the webhook URL's path."""
    try:
        import tornado  # noqa: F401  (PTB's webhook server)
    except ImportError:
        raise ConfigError("webhook mode needs the 'webhooks' extra of python-telegram-bot",
                          hint="pip install 'python-telegram-bot[webhooks]', or unset "
                               "telegram_webhook_url to use polling") from None
    url = settings.telegram_webhook_url or ""
    app.run_webhook(listen=settings.telegram_webhook_listen, port=settings.telegram_webhook_port,
                    url_path=urlparse(url).path.lstrip("/"), webhook_url=url,
                    secret_token=secrets.token_urlsafe(32), allowed_updates=Update.ALL_TYPES)
