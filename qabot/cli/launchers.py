"""``qabot repl`` and ``qabot telegram``: the commands that start the other front ends."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .shared import load, service_for, settings_options, tolerant_stdin


@click.command("repl")
@settings_options
@click.option("-k", "--top-k", type=click.IntRange(1, 20), default=None,
              help="Number of citations (default: top_k setting; :k N changes it).")
@click.option("--history", "history_file", type=click.Path(path_type=Path, dir_okay=False),
              help="History file. Default: $QABOT_HISTORY_FILE, else 'history' in the user data "
                   "directory (e.g. ~/.local/share/qabot/history).")
def repl_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                 top_k: int | None, history_file: Path | None) -> None:
    """Ask questions interactively (type :help inside).

    Builds the index first when there is none. With piped input, answers one question per line
    in plain text: echo "how many were arrested?" | qabot repl
    """
    from ..repl import run_repl

    settings = load(config_file, seeds_dir, index_dir, history_file=history_file)
    tolerant_stdin()
    sys.exit(run_repl(service_for(settings), k=top_k))


@click.command("telegram")
@settings_options
def telegram_command(config_file: Path | None, seeds_dir: Path | None,
                     index_dir: Path | None) -> None:
    """Run the Telegram bot until Ctrl-C or SIGTERM.

    The token comes from TELEGRAM_BOT_TOKEN (environment or .env; create a bot with @BotFather).
    Long polling by default; webhook mode when telegram_webhook_url is set. In private chats
    every message is a question; in groups use /ask, a mention, or a reply to the bot.
    """
    from ..telegram import require_token, run_bot

    settings = load(config_file, seeds_dir, index_dir)
    require_token(settings)  # before anything slow
    run_bot(settings, service_for(settings))
