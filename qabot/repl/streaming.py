"""How the REPL shows a generated answer as the model writes it: each chunk printed as it comes,
then the numbered passages it cites. When the reply fails its checks (a citation of a passage it
was not shown, none at all, a timeout or an error), a line says the text above is discarded and
the extractive answer follows, with the note saying why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..render import printable, read_as_text
from . import view

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from ..generation import GeneratedStream
    from ..schema import Answer

DISCARDED = "[the generated text above is discarded]"


def printable_lines(text: str) -> str:
    """``render.printable`` that keeps line breaks: model text is as untrusted as seed text."""
    return "\n".join(printable(line) for line in text.split("\n"))


def print_stream(console: Console, stream: GeneratedStream, plain: bool) -> Answer:
    """Print ``stream`` as it is written (a spinner until its first words on a terminal), then
    its sources, or the extractive answer when it is discarded; returns the answer shown."""
    if stream.extractive.read_as:
        console.print(read_as_text(stream.extractive), style=None if plain else "dim",
                      markup=False, highlight=False)
    status: Status | None = None if plain else console.status("writing…", spinner="dots")
    if status is not None:
        status.start()
    wrote = False
    try:
        for chunk in stream:
            if status is not None:
                status.stop()
                status = None
            console.file.write(printable_lines(chunk))
            console.file.flush()
            wrote = True
    finally:
        if status is not None:
            status.stop()
    answer = stream.answer
    if wrote:
        console.file.write("\n")
    if answer.mode == "llm":
        view.print_generated_sources(console, answer, plain)
        return answer
    if wrote:
        console.print(DISCARDED, style=None if plain else "bold yellow", markup=False,
                      highlight=False)
    view.print_answer(console, answer, plain)
    return answer
