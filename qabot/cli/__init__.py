"""The ``qabot`` command line (``qabot = "qabot.cli:main"``): index, ask, stats, eval, the reader's
tools, and the commands that start the REPL and the Telegram bot.

``make_service`` is exported here because tests replace it on this package; every command builds
its service through ``shared.service_for``, which looks it up here.
"""

from .app import main
from .shared import make_service

__all__ = ["main", "make_service"]
