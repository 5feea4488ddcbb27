"""Keeping the bot token out of every log line and error message.

The token is part of every Bot API URL, and httpx logs request URLs, so the library loggers are
routed through a redacting filter before the bot starts.
"""

from __future__ import annotations

import logging
import re
import sys

TOKEN_MASK = "<token>"


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
