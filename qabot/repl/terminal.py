"""How ``qabot repl`` meets its input: a prompt_toolkit line editor with history kept across
sessions on a terminal, or one question per line with plain answers when input is piped."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..render import printable
from .session import Repl

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from ..service import QabotService

PROMPT = "qabot> "


def prompt_for(repl: Repl) -> str:
    """``qabot> ``, or ``qabot [since 2022-01-07]> `` while a filter narrows the articles."""
    active = repl.state.article_filter
    return f"qabot [{printable(active.describe())}]> " if active else PROMPT


def _prompt_session(history_file: Path) -> PromptSession[str]:
    """A line editor with history in ``history_file`` (in memory only if it cannot be written)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history_file.touch(exist_ok=True)
        history = FileHistory(str(history_file))
    except OSError:
        history = InMemoryHistory()  # a read-only home must not stop the REPL
    return PromptSession(history=history, auto_suggest=AutoSuggestFromHistory())


def run_interactive(service: QabotService, k: int | None = None,
                    history_file: Path | None = None) -> int:
    """The terminal REPL; returns the exit status (0 on Ctrl-D or ``:quit``). History goes to
    ``history_file``, by default the ``history_file`` setting."""
    from rich.console import Console

    console = Console(highlight=False)
    repl = Repl(service, console, k=k)
    repl.ensure_index()
    repl.banner()
    repl.start_warmup()
    session = _prompt_session(history_file or service.settings.history_file)
    while True:
        try:
            line = session.prompt(prompt_for(repl))
        except KeyboardInterrupt:
            continue  # Ctrl-C abandons the line; the prompt comes back
        except EOFError:
            break
        try:
            if not repl.handle(line):
                break
        except KeyboardInterrupt:
            repl.note("interrupted")
    if repl.warming():
        # Leaving while torch is still loading in the warm-up thread aborts the interpreter at
        # shutdown ("terminate called without an active exception"); skip the shutdown instead of
        # making a quick quit wait for the model. History is already on disk (written per line).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def run_piped(service: QabotService, stream: TextIO, k: int | None = None) -> int:
    """Answer each line of ``stream`` in plain text on stdout; messages go to stderr."""
    from rich.console import Console

    # Plain text only: no colour, no wrapping at an imagined terminal width.
    console = Console(no_color=True, highlight=False, soft_wrap=True, force_terminal=False,
                      emoji=False)
    repl = Repl(service, console, k=k, plain=True)
    repl.ensure_index()
    for line in stream:
        if not repl.handle(line):
            break
        sys.stdout.flush()
    return 0


def run_repl(service: QabotService, k: int | None = None, history_file: Path | None = None,
             interactive: bool | None = None) -> int:
    """``qabot repl``: interactive on a terminal, line by line when input is piped. The Hugging
    Face progress bars that would scribble over the prompt are off (``config.prepare_environment``,
    run when the service is built)."""
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        return run_interactive(service, k=k, history_file=history_file)
    return run_piped(service, sys.stdin, k=k)
