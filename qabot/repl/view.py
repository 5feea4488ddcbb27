"""How the REPL shows things: answers with the span highlighted, numbered citations, ``:sources``,
``:help``, the banner and one-line notes; rich on a terminal, plain text (``render``) when piped.

Every function takes the console to print on, so a session can swap its console (tests do).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..render import (
    RELATED_HEAD,
    citation_label,
    earlier_text,
    format_answer,
    format_sources,
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
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    from ..progress import ProgressFn
    from ..schema import Answer, Citation
    from ..service import IndexStats

SPAN_STYLE = "bold black on yellow"
SENTENCE_STYLE = "bold"
NOTE_STYLE = "yellow"
EXCERPT_CHARS = 320
TITLE_CHARS = 80  # a long headline would push the file and paragraph off the line
KEYS_HELP = ("Keys: Enter asks, Ctrl-C abandons the line, Ctrl-D leaves, Up/Down and Ctrl-R "
             "search the history.")


def print_banner(console: Console, stats: IndexStats, model: str = "") -> None:
    """How much is loaded (and the language model writing the answers), and where to find
    help."""
    from rich.text import Text

    line = Text.assemble(("qabot", "bold"), f" — {plural(stats.articles, 'article')}, "
                         f"{plural(stats.passages, 'passage')} loaded ({stats.generation}). ")
    if model:
        line.append(f"Answers written by {printable(model)} (:mode extractive to quote). ")
    line.append("Ask a question, or :help for commands. Ctrl-D leaves.", style="dim")
    console.print(line)


def print_help(console: Console, commands: dict[str, str], plain: bool) -> None:
    """The commands and what they do, then the keys (on a terminal)."""
    from rich.table import Table

    if plain:
        console.print("\n".join(f"{c:<13} {h}" for c, h in commands.items()))
        return
    table = Table.grid(padding=(0, 2))
    for name, text in commands.items():
        table.add_row(f"[bold cyan]{name}[/]", text)
    console.print("Type a question and press Enter. Commands:")
    console.print(table)
    console.print(KEYS_HELP, style="dim", highlight=False)


def print_answer(console: Console, answer: Answer, plain: bool) -> None:
    """The answer with its span highlighted, then numbered citations (after the note on a
    generated answer that was not used)."""
    if answer.note:
        console.print(f"({printable(answer.note)})", style=None if plain else NOTE_STYLE,
                      markup=False, highlight=False)
    if plain:
        console.print(format_answer(answer), markup=False, highlight=False)
        console.print()
        return
    from rich.text import Text

    if answer.read_as:
        console.print(Text(read_as_text(answer), style="dim"))
    if answer.abstained:
        console.print(Text(printable(refusal_text(answer)), style="bold red"))
        if answer.related:
            console.print(Text(RELATED_HEAD, style="dim"))
            _print_citations(console, answer.related, answer)
        console.print()
        return
    text = Text(one_line(answer.text or ""), style=SENTENCE_STYLE)
    span = one_line(answer.span) if answer.span else None
    _highlight(text, span)
    console.print(text)
    if span:
        console.print(Text.assemble("Short answer: ", (span, SPAN_STYLE)))
    earlier = earlier_text(answer)
    if earlier:
        console.print(Text(earlier, style="italic"))
    _print_citations(console, answer.citations, answer)
    console.print()


def print_generated_sources(console: Console, answer: Answer, plain: bool) -> None:
    """The numbered passages under a generated answer (its text was streamed above)."""
    if plain:
        console.print("\nSources:", markup=False, highlight=False)
        for number, citation in enumerate(answer.citations, start=1):
            console.print(f"  [{number}] {citation_label(citation)}: "
                          f"{printable(quote(citation.text))}", markup=False, highlight=False)
    else:
        _print_citations(console, answer.citations, answer)
    console.print()


def print_sources(console: Console, answer: Answer, more: Sequence[Citation],
                  plain: bool) -> None:
    """``answer``'s passages in full, with title, paragraph and score, then ``more`` passages on
    the same question that the answer did not show."""
    if plain:
        console.print(format_sources(answer, more), markup=False, highlight=False)
        return
    from rich.text import Text

    if answer.abstained:
        console.print(Text(RELATED_HEAD, style="dim"))
    titled: set[str] = set()
    for number, citation in enumerate(sources_citations(answer), start=1):
        head = _citation_head(number, citation, title=False)
        head.append(f"  score {citation.score:.2f}", style="dim")
        if number == 1 and not answer.abstained:
            head.append(" (holds the answer)", style="dim")
        console.print(head)
        where = source_heading(citation, with_title=citation.source not in titled)
        titled.add(citation.source)
        if where:
            console.print(Text(f"    {where}", style="italic"))
        console.print(_passage(citation.text, answer, limit=None))
    if more:
        console.print(Text("Further passages on the question (not shown above):", style="dim"))
        for citation in more:
            head = Text("  · ")
            head.append(citation_label(citation), style="cyan")
            head.append(f"  score {citation.score:.2f}", style="dim")
            console.print(head)
            console.print(_passage(citation.text, answer, limit=EXCERPT_CHARS))


def print_note(console: Console, message: str, plain: bool, style: str = "dim") -> None:
    """A one-line message: plain and unstyled on stderr in piped mode, else styled."""
    if plain:
        print(message, file=sys.stderr, flush=True)
    else:
        console.print(message, style=style, highlight=False, markup=False)


def _print_citations(console: Console, citations: Iterable[Citation], answer: Answer) -> None:
    """Numbered citations; an article's title is shown once, with its first passage."""
    titled: set[str] = set()
    for number, citation in enumerate(citations, start=1):
        first = citation.source not in titled
        titled.add(citation.source)
        console.print(_citation_head(number, citation, title=first))
        console.print(_passage(citation.text, answer, limit=EXCERPT_CHARS))


def _citation_head(number: int, citation: Citation, title: bool = True) -> Text:
    from rich.text import Text

    head = Text.assemble((f"[{number}] ", "bold cyan"))
    if title and citation.title:
        head.append(printable(quote(citation.title, TITLE_CHARS)), style="italic")
        head.append(" — ")
    head.append(citation_label(citation), style="cyan")
    return head


def _passage(passage: str, answer: Answer, limit: int | None) -> Padding:
    """The passage, indented under its heading, with the answer sentence and span marked."""
    from rich.padding import Padding
    from rich.text import Text

    text = Text(_excerpt(one_line(passage), answer, limit))
    if answer.text:
        text.highlight_words([one_line(answer.text)], SENTENCE_STYLE)
    _highlight(text, one_line(answer.span) if answer.span else None)
    return Padding(text, (0, 0, 0, 4), expand=False)


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
def rich_progress(console: Console) -> Iterator[ProgressFn]:
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
