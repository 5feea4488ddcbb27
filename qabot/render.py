"""Plain-text formatting of answers (citations dated), build reports and stats, shared by the
CLI and the piped REPL; the article filters the REPL and the bot set (``changed_filter``); and
the front ends' one logging set-up (``configure_logging``).

File names and seed text are untrusted: ``printable`` escapes the characters that would move the
cursor, recolour or reorder a terminal's text, and every printer here (and the REPL's and the
bot's, and the log lines) passes names and passages through it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from .dates import from_iso, parse_date, short
from .schema import Answer, ArticleFilter, Citation

if TYPE_CHECKING:
    from .index import BuildReport
    from .progress import ProgressFn
    from .service import ArticleRow, IndexStats

NOT_IN_CORPUS = "The articles do not say."
# One wording for passages offered with a refusal, in the CLI, the REPL and the Telegram bot.
RELATED_HEAD = "Closest passages (they do not answer it):"

# C0 and C1 controls, DEL, bidirectional embeddings/overrides/isolates and marks, and the Unicode
# line and paragraph separators: each can split a line, start an escape sequence or reorder text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069]")
# Inside JSON text: what json.dumps(ensure_ascii=False) leaves raw (it already escapes C0).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                             "\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control and bidi characters shown as escapes
    (``\\n``, ``\\x1b``, ``\\u202e``), so a file name stays on one line and seed text cannot
    recolour the screen or reverse what follows it."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` with runs of whitespace as one space, then made ``printable``."""
    return printable(" ".join(text.split()))


def json_line(value: Any) -> str:
    """``value`` as one line of JSON, non-ASCII kept readable, terminal controls escaped
    (``\\u009b``): the same data once parsed."""
    text = json.dumps(value, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def answer_json(answer: Answer) -> dict[str, Any]:
    """``qabot ask --json``'s object: the documented keys, plus ``related`` (the closest
    passages, each marked ``"related": true``) when the question was refused."""
    shown = answer.to_json()
    if answer.abstained and answer.related:
        shown["related"] = [{**c.to_json(), "related": True} for c in answer.related]
    return shown


def plural(count: int, word: str) -> str:
    """``1 article``, ``2,000 articles``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def quote(text: str, limit: int = 240) -> str:
    """``text`` shortened to ``limit`` characters at a word boundary."""
    return textwrap.shorten(" ".join(text.split()), width=limit, placeholder=" …")


def published_text(published: str | None) -> str | None:
    """An ISO publication date shown short ("Jan 8, 2022"); None when unknown or unreadable."""
    day = from_iso(published)
    return short(day) if day is not None else None


def citation_label(citation: Citation) -> str:
    """``file ¶N · Jan 8, 2022`` — where a citation comes from (the file name made
    ``printable``) and, when known, when its article was published."""
    label = f"{printable(citation.source)} ¶{citation.paragraph}"
    shown = published_text(citation.published)
    return f"{label} · {shown}" if shown else label


def earlier_text(answer: Answer) -> str | None:
    """"earlier reports: more than 3,800 (Jan 8, file.jsonl ¶2)": older articles' different
    answers, ``printable``; None when there are none."""
    where = [filter(None, [published_text(e.published), f"{printable(e.source)} ¶{e.paragraph}"])
             for e in answer.earlier]
    reports = [f"{one_line(e.span)} ({', '.join(w)})" for e, w in zip(answer.earlier, where)]
    return f"earlier reports: {'; '.join(reports)}" if reports else None


def changed_filter(current: ArticleFilter, which: str, arg: str,
                   today: date | None = None) -> ArticleFilter:
    """``current`` with ``which`` ("since" or "source") set from ``arg``, or cleared by "off";
    ValueError (its message fit to show) when a since ``arg`` names no date."""
    arg = " ".join(arg.split())
    if which == "source":
        return replace(current, publisher=None if arg.lower() == "off" else arg)
    day = None if arg.lower() == "off" else parse_date(arg, today)
    if day is None and arg.lower() != "off":
        raise ValueError(f"{printable(arg)!r} is not a date: try 2022-01-07, Jan 7 or "
                         "yesterday (or off to clear it)")
    return replace(current, since=day)


def filter_status(article_filter: ArticleFilter) -> str:
    """What a REPL or chat is answering from now: "Answering only from articles since …"."""
    return (f"Answering only from articles {printable(article_filter.describe())}."
            if article_filter else "Answering from every article.")


def no_match_text(article_filter: ArticleFilter, clear: str) -> str:
    """The message for a filter that leaves no article, with how to ``clear`` it."""
    return (f"No article matches {printable(article_filter.describe())}; clear the filter "
            f"with {clear}.")


def read_as_text(answer: Answer) -> str:
    """``(read as: …)``: how a question with corrected spelling was read."""
    return f"(read as: {printable(answer.read_as or '')})"


def refusal_text(answer: Answer) -> str:
    """Why ``answer`` was refused: its notice (e.g. not English), else "the articles do not say"."""
    return answer.notice or NOT_IN_CORPUS


def format_answer(answer: Answer, bold: tuple[str, str] = ("", ""), full: bool = False) -> str:
    """The answer, then numbered citations; ``bold`` wraps the span (e.g. ANSI codes)."""
    lines: list[str] = []
    if answer.read_as:
        lines.append(read_as_text(answer))
    if answer.abstained:
        lines.append(printable(refusal_text(answer)))
        if answer.related:
            lines.append("")
            lines.append(RELATED_HEAD)
            lines.extend(_citation_lines(answer.related, full))
        return "\n".join(lines)
    text = one_line(answer.text or "")
    span = one_line(answer.span) if answer.span else None
    if span and span in text:
        text = text.replace(span, f"{bold[0]}{span}{bold[1]}", 1)
    lines.append(text)
    if span:
        lines.append(f"Short answer: {bold[0]}{span}{bold[1]}")
    earlier = earlier_text(answer)
    if earlier:
        lines.append(earlier)
    lines.append("")
    lines.append("Sources:")
    lines.extend(_citation_lines(answer.citations, full))
    return "\n".join(lines)


def _citation_lines(citations: Iterable[Citation], full: bool) -> list[str]:
    return [f"  [{n}] {citation_label(c)}: {one_line(c.text) if full else printable(quote(c.text))}"
            for n, c in enumerate(citations, start=1)]


def sources_citations(answer: Answer) -> tuple[Citation, ...]:
    """The passages an answer shows: its citations, or the related ones of a refusal."""
    return answer.related if answer.abstained else answer.citations


def source_heading(citation: Citation, with_title: bool = True) -> str:
    """``Title / Section`` of a passage (the title only ``with_title``), ``printable``."""
    parts = [citation.title if with_title else "", citation.section or ""]
    return " / ".join(one_line(p) for p in parts if p)


def format_sources(answer: Answer, more: Sequence[Citation] = ()) -> str:
    """``:sources`` in plain text: each passage in full with its title, paragraph and score
    (the one it was ranked by), then ``more`` passages on the question, beyond those shown."""
    citations = sources_citations(answer)
    lines = [RELATED_HEAD] if answer.abstained else []
    titled: set[str] = set()
    for number, citation in enumerate(citations, start=1):
        lines.append(f"[{number}] {citation_label(citation)}, score {citation.score:.2f}"
                     + (" (holds the answer)" if number == 1 and not answer.abstained else ""))
        where = source_heading(citation, with_title=citation.source not in titled)
        titled.add(citation.source)
        if where:
            lines.append(f"    {where}")
        lines.append(f"    {one_line(citation.text)}")
    if more:
        lines.append("")
        lines.append("Further passages on the question (not shown above):")
        lines.extend(f"  · {citation_label(c)}, score {c.score:.2f}: {printable(quote(c.text))}"
                     for c in more)
    return "\n".join(lines)


def format_report(report: BuildReport) -> str:
    """The one-line summary of an index build."""
    if report.no_change:
        head = (f"No changes: {plural(report.articles, 'article')}, "
                f"{plural(report.passages, 'passage')} already indexed ({report.generation})")
    else:
        head = (f"Indexed {plural(report.articles, 'article')}, "
                f"{plural(report.passages, 'passage')} into {report.generation} "
                f"(files: {report.files_added} added, {report.files_changed} changed, "
                f"{report.files_removed} removed, {report.files_unchanged} unchanged; "
                f"passages: {report.passages_embedded} embedded, {report.passages_reused} reused)")
    skipped = len(report.skipped)
    tail = f"skipped {skipped} bad file(s) or line(s), named above" if skipped else "skipped 0"
    return f"{head}; {tail}; {report.seconds:.1f} s"


def format_stats(stats: IndexStats, seeds_dir: Path | None = None, index_dir: Path | None = None,
                 articles: Sequence[ArticleRow] = ()) -> str:
    """What the live index holds, one aligned line per fact (``qabot stats``, ``:stats``); then
    the folders, and ``articles`` (file, publication date, passages, title) when given."""
    lines = [f"articles:   {stats.articles:,}", f"passages:   {stats.passages:,}",
             f"sentences:  {stats.sentences:,}", f"model:      {stats.model_id}",
             f"generation: {stats.generation} (built {stats.created_at})"]
    if seeds_dir is not None:
        lines.append(f"seeds:      {printable(str(seeds_dir))}")
    if index_dir is not None:
        lines.append(f"index:      {printable(str(index_dir))}")
    if articles:
        width = max(len(printable(a.source)) for a in articles)
        days = [published_text(a.published) or "undated" for a in articles]
        day_width = max(len("published"), *map(len, days))
        lines.append("")
        lines.append(f"{'file':<{width}}  {'published':<{day_width}}  {'passages':>8}  title")
        lines.extend(f"{printable(a.source):<{width}}  {day:<{day_width}}  {a.passages:>8,}  "
                     f"{printable(quote(a.title, 80))}" for a, day in zip(articles, days))
    return "\n".join(lines)


_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_ESCAPED_BYTE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def clean_input(text: str) -> tuple[str, bool]:
    """A question as typed or piped, with bytes that were not UTF-8 (lone surrogates left by
    ``surrogateescape`` decoding of argv or stdin) replaced by U+FFFD; the flag says whether any
    were. The tokenizer and the terminal both reject lone surrogates."""
    if not _SURROGATE.search(text):
        return text, False
    text = _NOT_ESCAPED_BYTE.sub("\ufffd", text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True


def tqdm_progress() -> ProgressFn:
    """A progress callback drawing a tqdm bar on stderr (hidden when stderr is not a terminal)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            unit = "file" if stage == "parsing" else "text"
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr,
                                     disable=None, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


class _PrintableFormatter(logging.Formatter):
    """Log lines with control characters escaped: messages name seed files (``skipped …``)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))


def configure_logging(level: str) -> None:
    """Send qabot's log records at ``level`` and above to stderr as ``LEVEL: message``; the one
    place a front end sets up logging (called once, at its start)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("qabot")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
