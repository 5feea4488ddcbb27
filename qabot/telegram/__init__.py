"""The Telegram front end: a python-telegram-bot ``Application`` answering questions with citations.

``messages`` says things (HTML, split to Telegram's limits), ``guards`` decides whom to answer,
``chat_state`` is the per-chat memory PTB keeps, ``handlers`` reacts to commands, messages and
buttons, ``redaction`` keeps the token out of logs, and ``app`` builds and runs the bot.
"""

from .app import build_application, require_token, run_bot
from .guards import RateLimiter
from .messages import answer_html, esc, sources_html, visible_length
from .redaction import RedactSecret, protect_logs

__all__ = ["RateLimiter", "RedactSecret", "answer_html", "build_application", "esc",
           "protect_logs", "require_token", "run_bot", "sources_html", "visible_length"]
