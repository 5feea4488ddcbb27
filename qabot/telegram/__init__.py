"""The Telegram front end: a python-telegram-bot ``Application`` answering questions with citations."""

from .handlers import (
    RateLimiter,
    RedactSecret,
    answer_html,
    build_application,
    esc,
    protect_logs,
    require_token,
    run_bot,
    sources_html,
    visible_length,
)

__all__ = ["RateLimiter", "RedactSecret", "answer_html", "build_application", "esc",
           "protect_logs", "require_token", "run_bot", "sources_html", "visible_length"]
