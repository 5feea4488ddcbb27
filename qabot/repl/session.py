"""One REPL session over a ``QabotService``: the ``:commands``, questions with follow-up memory
(``conversation.Conversation``, as in the Telegram bot), and the state they change.

The embedding model loads in a background thread while the prompt is already shown; the first
question waits for that thread, so an early answer is never a worse one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..conversation import Conversation
from ..errors import NoArticlesMatchError, QabotError
from ..render import (
    changed_filter,
    clean_input,
    filter_status,
    format_report,
    format_stats,
    no_match_text,
    printable,
    sources_citations,
)
from ..schema import ArticleFilter
from . import view
from .streaming import print_stream
from .warmup import Warmup

if TYPE_CHECKING:
    from rich.console import Console

    from ..index import BuildReport
    from ..progress import ProgressFn
    from ..schema import Answer, Citation
    from ..service import QabotService

MAX_K = 20
COMMANDS: dict[str, str] = {
    ":help": "show this list",
    ":sources": "the last answer's passages in full, with scores, and further ones",
    ":k N": f"show N citations per answer (1-{MAX_K})",
    ":since DATE": "answer only from articles published since DATE (2022-01-07, Jan 7, "
                   "yesterday); :since off clears it",
    ":source NAME": "answer only from one source's articles (e.g. reuters); :source off clears it",
    ":mode llm|extractive": "answers written by the language model from the cited passages, "
                            "or quoted from them (llm needs a model configured: README)",
    ":reindex": "index new or changed files in the seeds folder, then keep going",
    ":stats": "articles, passages, model and index generation",
    ":quit": "leave (Ctrl-D works too)",
}


@dataclass
class _State:
    """What the commands change: citations per answer (None = the setting), the articles
    answered from, and the last answer."""

    k: int | None
    last: Answer | None = None
    article_filter: ArticleFilter = ArticleFilter()
    mode: str = "extractive"  # :mode: "llm" streams the model's answer


class Repl:
    """One REPL session over a service: commands and questions, shown through ``view``."""

    def __init__(self, service: QabotService, console: Console, k: int | None = None,
                 plain: bool = False) -> None:
        self.service = service
        self.console = console
        self.plain = plain
        self.state = _State(k=k, mode=service.default_mode())
        self.conversation = Conversation(ttl_seconds=service.settings.followup_ttl_s)
        self._warmup: Warmup | None = None
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
        stats = self.service.stats()
        self._generation_name = stats.generation
        view.print_banner(self.console, stats, self.service.generator.label()
                          if self.state.mode == "llm" else "")

    def warming(self) -> bool:
        """True while the background model load is still running."""
        return self._warmup is not None and self._warmup.running()

    def start_warmup(self) -> None:
        """Load the model while the person types the first question."""
        self._warmup = Warmup(self.service)

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
        elif name in (":since", ":source"):
            self.set_filter(name[1:], arg)
        elif name == ":mode":
            self.set_mode(arg)
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
                stream = self.service.ask_streaming(question, k=self.state.k,
                                                    conversation=self.conversation,
                                                    article_filter=self.state.article_filter,
                                                    mode=self.state.mode)
        except NoArticlesMatchError:
            self.note(no_match_text(self.state.article_filter, ":since off and :source off"))
            return
        except QabotError as exc:
            self.error(exc)
            return
        self._note_new_generation()
        if stream.generating:
            self.state.last = print_stream(self.console, stream, self.plain)
        else:
            self.state.last = stream.answer
            self.show_answer(stream.answer)

    # -- commands ---------------------------------------------------------------------------

    def help(self) -> None:
        """List the commands and keys."""
        view.print_help(self.console, COMMANDS, self.plain)

    def sources(self) -> None:
        """The last answer's passages in full, then the next best passages on its question."""
        answer = self.state.last
        if answer is None:
            self.note("No answer yet: ask a question first.")
            return
        citations = sources_citations(answer)
        if not citations:
            self.note("The last answer has no passages.")
            return
        more = self._further_passages(answer, citations)
        view.print_sources(self.console, answer, more, self.plain)

    def _further_passages(self, answer: Answer, shown: tuple[Citation, ...],
                          extra: int = 2) -> list[Citation]:
        """Up to ``extra`` passages on ``answer``'s question beyond those already ``shown``."""
        from ..answer import citation_from_hit

        last = self.conversation.last
        query = (last.search_text if last is not None and last.answer is answer
                 else answer.read_as or answer.question)
        try:
            hits = self.service.search(query, k=len(shown) + extra,
                                       article_filter=self.state.article_filter)
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

    def set_filter(self, which: str, arg: str) -> None:
        """``:since DATE`` / ``:source NAME`` narrow the articles answered from ("off" clears);
        alone, they say what the filter is."""
        if arg:
            try:
                self.state.article_filter = changed_filter(self.state.article_filter, which, arg)
            except ValueError as exc:
                self.note(f"Usage: :since DATE — {exc}.")
                return
        self.note(filter_status(self.state.article_filter))

    def set_mode(self, arg: str) -> None:
        """``:mode llm`` / ``:mode extractive`` for this session; alone, say which is on."""
        arg = arg.lower()
        if not self.service.llm_configured:
            self.note("Only extractive answers: no language model is configured (set llm or "
                      "llm_base_url; README 'Generated answers').")
            return
        if arg and arg not in ("llm", "extractive"):
            self.note(f"Usage: :mode llm or :mode extractive (now {self.state.mode}).")
            return
        self.state.mode = arg or self.state.mode
        self.note("Answers are written by the language model from the cited passages "
                  f"({printable(self.service.generator.label())})."
                  if self.state.mode == "llm" else "Answers are extractive (quoted from the "
                  "articles).")

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
            stats, articles = self.service.stats(), self.service.article_rows()
        except QabotError as exc:
            self.error(exc)
            return
        settings = self.service.settings
        self.console.print(format_stats(stats, settings.seeds_dir, settings.index_dir, articles),
                           highlight=False, markup=False)

    # -- output -----------------------------------------------------------------------------

    def show_answer(self, answer: Answer) -> None:
        """The answer with its span highlighted, then numbered citations."""
        view.print_answer(self.console, answer, self.plain)

    def note(self, message: str) -> None:
        """A one-line message (plain and unstyled in piped mode, where it goes to stderr)."""
        view.print_note(self.console, message, self.plain)

    def error(self, exc: QabotError) -> None:
        """A domain error as one clear message; the REPL keeps going."""
        # QabotError's str: the message, then the hint in brackets
        view.print_note(self.console, f"error: {exc}", self.plain, style="bold red")

    def _note_new_generation(self) -> None:
        name = self.service.live_generation_name()
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
            from ..render import tqdm_progress

            bar: AbstractContextManager[ProgressFn] = nullcontext(tqdm_progress())
        else:
            bar = view.rich_progress(self.console)
        with bar as progress:
            return self.service.index(progress=progress, lock_wait_seconds=None if wait else 0)
