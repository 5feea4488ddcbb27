"""Who the bot answers: the allow-list gate, the admin check, the per-user rate limit, and whether
a group message is addressed to the bot at all."""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from .chat_state import BotContext
from .messages import NOT_ALLOWED, esc

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^/\w+(?:@\w+)?\s*")


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


def addressed_question(message: Message, bot: Bot) -> str | None:
    """In a group: the question when the message mentions or replies to the bot, else None."""
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


class AccessGuard:
    """The allow-list (empty: everyone) and the admins who may rebuild the index."""

    def __init__(self, allowed: Iterable[int], admins: Iterable[int]) -> None:
        self.allowed = frozenset(allowed)
        self.admins = frozenset(admins)

    def is_allowed(self, update: Update) -> bool:
        """True when there is no allow-list, or the chat or the user is on it."""
        if not self.allowed:
            return True
        chat, user = update.effective_chat, update.effective_user
        return bool((chat and chat.id in self.allowed) or (user and user.id in self.allowed))

    def is_admin(self, user_id: int) -> bool:
        """True for the users allowed to run /reindex."""
        return user_id in self.admins

    async def gate(self, update: Update, context: BotContext) -> None:
        """Stop updates from chats and users outside the allow-list, politely where addressed.

        Runs before every other handler (group -1); raising ``ApplicationHandlerStop`` ends the
        update there.
        """
        if update.effective_user is None or update.effective_chat is None:
            raise ApplicationHandlerStop  # channel posts and service updates
        if self.is_allowed(update):
            return
        log.info("refused update from user %s in chat %s", update.effective_user.id,
                 update.effective_chat.id)
        private = update.effective_chat.type == ChatType.PRIVATE
        if update.callback_query is not None:
            await update.callback_query.answer(NOT_ALLOWED, show_alert=True)
        elif update.message is not None and (
                private or COMMAND.match(update.message.text or "")
                or addressed_question(update.message, context.bot) is not None):
            await update.message.reply_text(esc(NOT_ALLOWED), do_quote=not private)
        raise ApplicationHandlerStop
