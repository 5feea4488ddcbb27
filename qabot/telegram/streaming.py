"""A generated answer shown in Telegram as the model writes it: one message, sent with the first
words and then edited as more arrive, at most once per ``interval`` seconds (Telegram allows
about one message a second per chat and twenty a minute per group; a ``RetryAfter`` pushes the
next edit back). The model runs in a worker thread, so other chats are never held up.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ChatType
from telegram.error import RetryAfter, TelegramError

from ..generation import GeneratedStream
from .messages import streaming_html

log = logging.getLogger(__name__)

PRIVATE_EDIT_INTERVAL_S = 1.2
GROUP_EDIT_INTERVAL_S = 3.0
MAX_RETRY_WAIT_S = 30.0


def edit_interval(message: Message) -> float:
    """Seconds between two edits of a streamed reply in ``message``'s chat."""
    private = message.chat.type == ChatType.PRIVATE
    return PRIVATE_EDIT_INTERVAL_S if private else GROUP_EDIT_INTERVAL_S


def _seconds(retry_after: float | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after


async def stream_text(message: Message, stream: GeneratedStream,
                      interval: float | None = None) -> Message | None:
    """Show ``stream`` as it is written, replying to ``message``; returns the reply that was
    sent and edited (None when no text came, e.g. the model failed at once). The final text
    (checked, or the extractive answer) is the caller's to put in place: ``replace_text``."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[str | None] = asyncio.Queue()
    interval = edit_interval(message) if interval is None else interval

    def pump() -> None:
        try:
            for chunk in stream:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
        finally:
            loop.call_soon_threadsafe(chunks.put_nowait, None)

    worker = asyncio.ensure_future(asyncio.to_thread(pump))
    text, shown, sent, next_edit = "", "", None, 0.0
    while True:
        wait = None if text == shown else max(0.0, next_edit - loop.time())
        try:
            chunk = await asyncio.wait_for(chunks.get(), wait)
        except TimeoutError:
            chunk = ""  # nothing new, but an edit is due: show what has arrived
        if chunk is None:
            break
        text += chunk
        if text.strip() and text != shown and loop.time() >= next_edit:
            try:
                if sent is None:
                    sent = await message.reply_text(
                        streaming_html(text), do_quote=message.chat.type != ChatType.PRIVATE)
                else:
                    await sent.edit_text(streaming_html(text))
                next_edit = loop.time() + interval
            except RetryAfter as exc:
                next_edit = loop.time() + _seconds(exc.retry_after)
            except TelegramError as exc:  # a dropped edit: the final text replaces it anyway
                log.debug("streamed edit failed: %s", exc)
                next_edit = loop.time() + interval
            shown = text
    await worker
    if sent is not None:  # the final edit keeps the pace too
        await asyncio.sleep(max(0.0, next_edit - loop.time()))
    return sent


async def replace_text(sent: Message, html: str,
                       markup: InlineKeyboardMarkup | None = None) -> bool:
    """Put the final ``html`` into the streamed reply ``sent`` (after a flood wait if Telegram
    asks for one); False when it cannot be edited, so the caller sends it instead."""
    for _ in range(2):
        try:
            await sent.edit_text(html, reply_markup=markup)
            return True
        except RetryAfter as exc:
            await asyncio.sleep(min(_seconds(exc.retry_after), MAX_RETRY_WAIT_S))
        except TelegramError as exc:
            log.info("could not put the final answer in place: %s", exc)
            return False
    return False
