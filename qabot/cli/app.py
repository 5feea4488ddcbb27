"""The ``qabot`` command group: the version option, the help text, and every command added.

Each command lives with its kind (``commands``, ``evaluation``, ``reader``, ``launchers``) and
imports what it needs inside its body, so ``qabot --help`` and ``qabot ask`` start fast.
"""

from __future__ import annotations

import click

from .. import __version__
from .commands import ask_command, index_command, prepare_command, stats_command
from .evaluation import eval_command
from .launchers import repl_command, telegram_command
from .reader import reader_group
from .shared import QabotGroup


@click.group(cls=QabotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qabot")
def main() -> None:
    """qabot answers questions about the news articles in a seeds folder, offline, citing the
    passages it used.

    \b
    Quick start:
      qabot index                        build or update the index from seeds/
      qabot ask "how many were arrested?"
      qabot repl                         ask interactively
    """
    from ..config import prepare_environment

    prepare_environment()


for _command in (index_command, ask_command, stats_command, repl_command, telegram_command,
                 eval_command, prepare_command, reader_group):
    main.add_command(_command)
