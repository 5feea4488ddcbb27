"""What the bot remembers about each chat, kept for it by python-telegram-bot.

``ContextTypes(chat_data=ChatState)`` makes ``context.chat_data`` one ``ChatState`` per chat,
created on first use: the chat's follow-up memory (a ``Conversation``), its article filter
(``/since``, ``/source``), its answer mode (``/mode``) and the lock that answers one question per chat at a time. ``forget_quiet_chats`` keeps the number of chats bounded.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from ..conversation import Conversation
from ..schema import ArticleFilter

if TYPE_CHECKING:
    from ..schema import Answer

MAX_CHATS = 10_000


class ChatState:
    """One chat's memory; PTB builds it without arguments, the conversation comes on first use."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # one question per chat at a time: follow-ups see the last one
        self.last_active = time.monotonic()
        self._conversation: Conversation | None = None
        self.article_filter = ArticleFilter()  # /since and /source: the articles answered from
        self.mode: str | None = None  # /mode: "llm" or "extractive"; None: the bot's default

    def conversation(self, ttl_seconds: float) -> Conversation:
        """The chat's follow-up memory (it forgets its topic after ``ttl_seconds`` of silence)."""
        self.last_active = time.monotonic()
        if self._conversation is None:
            self._conversation = Conversation(ttl_seconds)
        return self._conversation

    @property
    def last_answer(self) -> Answer | None:
        """The chat's previous answer while its memory is live (for /sources)."""
        return self._conversation.last_answer if self._conversation is not None else None


BotContext = CallbackContext[ExtBot[None], dict[Any, Any], ChatState, dict[Any, Any]]
"""The ``context`` every handler gets: ``context.chat_data`` is the chat's ``ChatState``."""

CONTEXT_TYPES = ContextTypes(chat_data=ChatState)


def chat_state(context: BotContext) -> ChatState:
    """The state of the chat the update came from (every handled update has a chat: see gate)."""
    state = context.chat_data
    if state is None:
        raise RuntimeError("an update without a chat reached a chat handler")
    return state


def forget_quiet_chats(application: Application[Any, BotContext, Any, ChatState, Any, Any],
                       max_chats: int = MAX_CHATS) -> None:
    """Beyond ``max_chats``, drop the chats quiet the longest (never one answering now) until a
    quarter of the room is free again, so the scan runs rarely."""
    chats = application.chat_data
    if len(chats) <= max_chats:
        return
    quiet = sorted((state.last_active, chat_id) for chat_id, state in chats.items()
                   if not state.lock.locked())
    for _, chat_id in quiet[:len(chats) - max_chats * 3 // 4]:
        application.drop_chat_data(chat_id)
