"""The interactive terminal front end behind ``qabot repl``.

On a terminal: a prompt_toolkit line editor with history kept across sessions (``terminal``),
answers rendered with rich, the answer span highlighted, numbered citations (``view``),
``:commands`` and follow-up questions (``session``). With piped standard input it reads one
question per line and prints plain answers (``render.format_answer``), nothing else.
"""

from .session import COMMANDS, Repl
from .terminal import PROMPT, run_interactive, run_piped, run_repl
from .view import SPAN_STYLE

__all__ = ["COMMANDS", "PROMPT", "SPAN_STYLE", "Repl", "run_interactive", "run_piped",
           "run_repl"]
