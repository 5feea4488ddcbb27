"""The interactive terminal front end behind ``qabot repl``.

On a terminal: a prompt_toolkit line editor with history kept across sessions, answers rendered
with rich (the answer span highlighted, numbered citations), ``:commands``, and follow-up questions
through the same ``chat.Conversation`` memory as the Telegram bot. With piped standard input it
reads one question per line and prints plain answers (``render.format_answer``), nothing else.

The embedding model loads in a background thread while the prompt is already shown; the first
question waits for that thread, so an early answer is never a worse one.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .conversation import Conversation
from .errors import QabotError
from .render import (
    RELATED_HEAD,
    citation_label,
    clean_input,
    format_answer,
    format_report,
    format_sources,
    format_stats,
    one_line,
    plural,
    printable,
    quote,
    read_as_text,
    refusal_text,
    source_heading,
    sources_citations,
)

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    from .index import BuildReport
    from .progress import ProgressFn
    from .schema import Answer, Citation
    from .service import QabotService

PROMPT = "qabot> "
SPAN_STYLE = "bold black on yellow"
SENTENCE_STYLE = "bold"
MAX_K = 20
EXCERPT_CHARS = 320
TITLE_CHARS = 80  # a long headline would push the file and paragraph off the line

COMMANDS: dict[str, str] = {
    ":help": "show this list",
    ":sources": "the last answer's passages in full, with scores, and further ones",
    ":k N": f"show N citations per answer (1-{MAX_K})",
    ":reindex": "index new or changed files in the seeds folder, then keep going",
    ":stats": "articles, passages, model and index generation",
    ":quit": "leave (Ctrl-D works too)",
}
KEYS_HELP = ("Keys: Enter asks, Ctrl-C abandons the line, Ctrl-D leaves, Up/Down and Ctrl-R "
             "search the history.")


def default_history_file() -> Path:
    """``history`` under the user's data directory (e.g. ~/.local/share/qabot/history)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("qabot", appauthor=False)) / "history"


class _Warmup:
    """Loads the model and opens the index in a background thread; ``wait`` re-raises its error."""

    def __init__(self, service: QabotService) -> None:
        self._service = service
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="qabot-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._service.warm_up()
        except BaseException as exc:  # reported on the first question, not in this thread
            self._error = exc

    def running(self) -> bool:
        """True while the model is still loading."""
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until warm; raise what went wrong (once), so the question gets a clear error."""
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error


@dataclass
class _State:
    """What the commands change: citations per answer (None = the setting) and the last answer."""

    k: int | None
    last: Answer | None = None


class Repl:
    """One REPL session over a service: commands, questions, rendering."""

    def __init__(self, service: QabotService, console: Console, k: int | None = None,
                 plain: bool = False) -> None:
        self.service = service
        self.console = console
        self.plain = plain
        self.state = _State(k=k)
        self.conversation = Conversation(ttl_seconds=service.settings.followup_ttl_s)
        self._warmup: _Warmup | None = None
        self._generation_name: str | None = None

    # -- start-up ---------------------------------------------------------------------------

    def ensure_index(self) -> None:
        """Build the index from the seeds folder when none exists yet, with a progress bar."""
        if self.service.has_index():
            return
        self.note(f"No index yet in {self.service.settings.index_dir}; building one from "
                  f"{self.service.settings.seeds_dir} …")
        self.note(format_report(self._index()))

    def banner(self) -> None:
        """How much is loaded, and where to find help."""
        from rich.text import Text

        stats = self.service.stats()
        self._generation_name = stats.generation
        line = Text.assemble(("qabot", "bold"), f" — {plural(stats.articles, 'article')}, "
                             f"{plural(stats.passages, 'passage')} loaded ({stats.generation}). ")
        line.append("Ask a question, or :help for commands. Ctrl-D leaves.", style="dim")
        self.console.print(line)

    def warming(self) -> bool:
        """True while the background model load is still running."""
        return self._warmup is not None and self._warmup.running()

    def start_warmup(self) -> None:
        """Load the model while the person types the first question."""
        self._warmup = _Warmup(self.service)

    # -- input handling ---------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one line (a command or a question); False when the REPL should end."""
        text, replaced = clean_input(line.strip())
        if replaced:
            self.note(f"(the line held bytes that are not UTF-8; read as: {printable(text)})")
        if not text:
            return True
        if text.startswith(":"):
            return self.command(text)
        self.ask(text)
        return True

    def command(self, text: str) -> bool:
        """Run a ``:command``; False for ``:quit``."""
        name, _, arg = text.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in (":quit", ":q", ":exit"):
            return False
        if name in (":help", ":h", ":?"):
            self.help()
        elif name == ":sources":
            self.sources()
        elif name == ":k":
            self.set_k(arg)
        elif name == ":reindex":
            self.reindex()
        elif name == ":stats":
            self.stats()
        else:
            self.note(f"Unknown command {name}. Type :help for the list of commands; "
                      "anything not starting with ':' is a question.")
        return True

    def ask(self, question: str) -> None:
        """Answer one question (a follow-up when it leans on the previous one) and show it."""
        try:
            if self._warmup is not None:
                with self._busy("loading the model…"):
                    self._warmup.wait()
                self._warmup = None
            with self._busy("thinking…"):
                answer = self.service.ask(question, k=self.state.k,
                                          conversation=self.conversation)
        except QabotError as exc:
            self.error(exc)
            return
        self.state.last = answer
        self._note_new_generation()
        self.show_answer(answer)

    # -- commands ---------------------------------------------------------------------------

    def help(self) -> None:
        """List the commands and keys."""
        from rich.table import Table

        if self.plain:
            self.console.print("\n".join(f"{c:<10} {h}" for c, h in COMMANDS.items()))
            return
        table = Table.grid(padding=(0, 2))
        for name, text in COMMANDS.items():
            table.add_row(f"[bold cyan]{name}[/]", text)
        self.console.print("Type a question and press Enter. Commands:")
        self.console.print(table)
        self.console.print(KEYS_HELP, style="dim", highlight=False)

    def sources(self) -> None:
        """The last answer's passages in full, with title, paragraph and score, then the next
        best passages on the same question that the answer did not show."""
        answer = self.state.last
        if answer is None:
            self.note("No answer yet: ask a question first.")
            return
        citations = sources_citations(answer)
        if not citations:
            self.note("The last answer has no passages.")
            return
        more = self._further_passages(answer, citations)
        if self.plain:
            self.console.print(format_sources(answer, more), markup=False, highlight=False)
            return
        from rich.text import Text

        if answer.abstained:
            self.console.print(Text(RELATED_HEAD, style="dim"))
        titled: set[str] = set()
        for number, citation in enumerate(citations, start=1):
            head = self._citation_head(number, citation, title=False)
            head.append(f"  score {citation.score:.2f}", style="dim")
            if number == 1 and not answer.abstained:
                head.append(" (holds the answer)", style="dim")
            self.console.print(head)
            where = source_heading(citation, with_title=citation.source not in titled)
            titled.add(citation.source)
            if where:
                self.console.print(Text(f"    {where}", style="italic"))
            self.console.print(self._passage(citation.text, answer, limit=None))
        if more:
            self.console.print(Text("Further passages on the question (not shown above):",
                                    style="dim"))
            for citation in more:
                head = Text("  · ")
                head.append(citation_label(citation), style="cyan")
                head.append(f"  score {citation.score:.2f}", style="dim")
                self.console.print(head)
                self.console.print(self._passage(citation.text, answer, limit=EXCERPT_CHARS))

    def _further_passages(self, answer: Answer, shown: tuple[Citation, ...],
                          extra: int = 2) -> list[Citation]:
        """Up to ``extra`` passages on ``answer``'s question beyond those already ``shown``."""
        from .answer import citation_from_hit

        last = self.conversation.last
        query = (last.search_text if last is not None and last.answer is answer
                 else answer.read_as or answer.question)
        try:
            hits = self.service.search(query, k=len(shown) + extra)
        except QabotError:
            return []  # an extra, not worth an error message
        seen = {(c.source, c.paragraph, c.text) for c in shown}
        return [citation_from_hit(h) for h in hits
                if (h.passage.source, h.passage.paragraph, h.passage.text) not in seen][:extra]

    def set_k(self, arg: str) -> None:
        """``:k N`` sets the number of citations; ``:k`` alone shows it."""
        current = self.state.k or self.service.settings.top_k
        if not arg:
            self.note(f"Showing {current} citation(s) per answer; change it with :k N.")
            return
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_K:
            self.note(f"Usage: :k N, with N from 1 to {MAX_K} (now {current}).")
            return
        self.state.k = int(arg)
        self.note(f"Showing {self.state.k} citation(s) per answer from now on.")

    def reindex(self) -> None:
        """Incremental index of the seeds folder; the next question uses the new generation."""
        try:
            report = self._index(wait=False)
        except QabotError as exc:
            self.error(exc)
            return
        self.note(format_report(report))
        self._note_new_generation()

    def stats(self) -> None:
        """What the live index holds."""
        try:
            stats = self.service.stats()
        except QabotError as exc:
            self.error(exc)
            return
        settings = self.service.settings
        self.console.print(format_stats(stats, settings.seeds_dir, settings.index_dir),
                           highlight=False, markup=False)

    # -- rendering --------------------------------------------------------------------------

    def show_answer(self, answer: Answer) -> None:
        """The answer with its span highlighted, then numbered citations."""
        if self.plain:
            self.console.print(format_answer(answer), markup=False, highlight=False)
            self.console.print()
            return
        from rich.text import Text

        if answer.read_as:
            self.console.print(Text(read_as_text(answer), style="dim"))
        if answer.abstained:
            self.console.print(Text(printable(refusal_text(answer)), style="bold red"))
            if answer.related:
                self.console.print(Text(RELATED_HEAD, style="dim"))
                self._print_citations(answer.related, answer)
            self.console.print()
            return
        text = Text(one_line(answer.text or ""), style=SENTENCE_STYLE)
        span = one_line(answer.span) if answer.span else None
        _highlight(text, span)
        self.console.print(text)
        if span:
            self.console.print(Text.assemble("Short answer: ", (span, SPAN_STYLE)))
        self._print_citations(answer.citations, answer)
        self.console.print()

    def _print_citations(self, citations: Iterable[Citation], answer: Answer) -> None:
        """Numbered citations; an article's title is shown once, with its first passage."""
        titled: set[str] = set()
        for number, citation in enumerate(citations, start=1):
            first = citation.source not in titled
            titled.add(citation.source)
            self.console.print(self._citation_head(number, citation, title=first))
            self.console.print(self._passage(citation.text, answer, limit=EXCERPT_CHARS))

    @staticmethod
    def _citation_head(number: int, citation: Citation, title: bool = True) -> Text:
        from rich.text import Text

        head = Text.assemble((f"[{number}] ", "bold cyan"))
        if title and citation.title:
            head.append(printable(quote(citation.title, TITLE_CHARS)), style="italic")
            head.append(" — ")
        head.append(citation_label(citation), style="cyan")
        return head

    @staticmethod
    def _passage(passage: str, answer: Answer, limit: int | None) -> Padding:
        """The passage, indented under its heading, with the answer sentence and span marked."""
        from rich.padding import Padding
        from rich.text import Text

        text = Text(_excerpt(one_line(passage), answer, limit))
        if answer.text:
            text.highlight_words([one_line(answer.text)], SENTENCE_STYLE)
        _highlight(text, one_line(answer.span) if answer.span else None)
        return Padding(text, (0, 0, 0, 4), expand=False)

    # -- helpers ----------------------------------------------------------------------------

    def note(self, message: str) -> None:
        """A one-line message (plain and unstyled in piped mode, where it goes to stderr)."""
        if self.plain:
            print(message, file=sys.stderr, flush=True)
        else:
            self.console.print(message, style="dim", highlight=False, markup=False)

    def error(self, exc: QabotError) -> None:
        """A domain error as one clear message; the REPL keeps going."""
        message = f"error: {exc}"  # QabotError's str: the message, then the hint in brackets
        if self.plain:
            print(message, file=sys.stderr, flush=True)
        else:
            self.console.print(message, style="bold red", highlight=False, markup=False)

    def _note_new_generation(self) -> None:
        name = self.service.store.current_name()
        if self._generation_name is not None and name is not None and name != self._generation_name:
            self.note(f"(now answering from the new index {name})")
        self._generation_name = name or self._generation_name

    def _busy(self, message: str) -> AbstractContextManager[object]:
        """A spinner on terminals; nothing in piped mode."""
        if self.plain:
            return nullcontext()
        return self.console.status(message, spinner="dots")

    def _index(self, wait: bool = True) -> BuildReport:
        """An incremental build with a progress bar (tqdm on stderr when piped, else rich)."""
        if self.plain:
            from .render import tqdm_progress

            bar: AbstractContextManager[ProgressFn] = nullcontext(tqdm_progress())
        else:
            bar = _rich_progress(self.console)
        with bar as progress:
            return self.service.index(progress=progress, lock_wait_seconds=None if wait else 0)


def _highlight(text: Text, span: str | None) -> None:
    """Mark every occurrence of the answer ``span`` in ``text``."""
    if span:
        text.highlight_words([span], SPAN_STYLE)


def _excerpt(passage: str, answer: Answer, limit: int | None) -> str:
    """``passage`` cut to about ``limit`` characters, keeping the answer sentence (or span)."""
    if limit is None or len(passage) <= limit:
        return passage
    anchor = next((a for a in (answer.text and one_line(answer.text),
                               answer.span and one_line(answer.span))
                   if a and a in passage), None)
    if anchor is None:
        start = 0
    else:
        middle = passage.index(anchor) + len(anchor) // 2
        start = max(0, min(middle - limit // 2, len(passage) - limit))
    end = min(len(passage), start + limit)
    # Snap to word boundaries so no word is cut in half.
    if start > 0:
        start = passage.rfind(" ", 0, start) + 1
    if end < len(passage):
        end = max(passage.rfind(" ", start, end), start + 1)
    return ("… " if start > 0 else "") + passage[start:end] + (" …" if end < len(passage) else "")


@contextmanager
def _rich_progress(console: Console) -> Iterator[ProgressFn]:
    """A rich progress bar as an index ``ProgressFn``, one task per build stage."""
    from rich.progress import Progress, TaskID

    tasks: dict[str, TaskID] = {}
    with Progress(console=console, transient=True) as bar:
        def update(stage: str, done: int, total: int) -> None:
            task = tasks.get(stage)
            if task is None:
                task = tasks[stage] = bar.add_task(stage, total=total)
            bar.update(task, completed=done, total=total)

        yield update


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
    """The terminal REPL; returns the exit status (0 on Ctrl-D or ``:quit``)."""
    from rich.console import Console

    console = Console(highlight=False)
    repl = Repl(service, console, k=k)
    repl.ensure_index()
    repl.banner()
    repl.start_warmup()
    session = _prompt_session(history_file or default_history_file())
    while True:
        try:
            line = session.prompt(PROMPT)
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
    """``qabot repl``: interactive on a terminal, line by line when input is piped."""
    # The model's own "Loading weights" bar would scribble over the prompt from the warm-up thread.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        return run_interactive(service, k=k, history_file=history_file)
    return run_piped(service, sys.stdin, k=k)


__all__ = ["COMMANDS", "PROMPT", "Repl", "default_history_file", "run_interactive", "run_piped",
           "run_repl"]
