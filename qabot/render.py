"""Plain-text formatting of answers and build reports, shared by the CLI and the piped REPL.

File names and seed text are untrusted: ``printable`` escapes the characters that would move the
cursor, recolour or reorder a terminal's text, and every printer here (and the REPL's and the
bot's) passes names and passages through it.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .index import BuildReport
from .schema import Answer, Citation

if TYPE_CHECKING:
    from .evaluate import EvalReport
    from .progress import ProgressFn
    from .service import IndexStats

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
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


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


def citation_label(citation: Citation) -> str:
    """``file ¶N`` — where a citation comes from (the file name made ``printable``)."""
    return f"{printable(citation.source)} ¶{citation.paragraph}"


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
                 articles: Sequence[tuple[str, str, int]] = ()) -> str:
    """What the live index holds, one aligned line per fact (``qabot stats``, ``:stats``); then
    the folders, and ``articles`` as ``(file, title, passages)`` rows when given."""
    lines = [f"articles:   {stats.articles:,}", f"passages:   {stats.passages:,}",
             f"sentences:  {stats.sentences:,}", f"model:      {stats.model_id}",
             f"generation: {stats.generation} (built {stats.created_at})"]
    if seeds_dir is not None:
        lines.append(f"seeds:      {printable(str(seeds_dir))}")
    if index_dir is not None:
        lines.append(f"index:      {printable(str(index_dir))}")
    if articles:
        width = max(len(printable(source)) for source, _, _ in articles)
        lines.append("")
        lines.append(f"{'file':<{width}}  {'passages':>8}  title")
        lines.extend(f"{printable(source):<{width}}  {count:>8,}  {printable(quote(title, 80))}"
                     for source, title, count in articles)
    return "\n".join(lines)


def format_eval_report(report: EvalReport) -> str:
    """``qabot eval``'s table: what was asked, one line per measure, the settings used."""
    width = max((len(name) for name in report.metrics), default=10)
    primary = f"reader {report.settings['reader']}" if "reader" in report.settings else "value"
    columns = [primary, *report.variants]
    lines = [f"{report.file} ({report.kind}): "
             + ", ".join(f"{v} {k}" for k, v in report.counts.items())
             + f"; {report.seconds:.0f} s",
             f"{'measure':<{width}}  " + "  ".join(f"{c:>10}" for c in columns)]
    for name, value in report.metrics.items():
        others = [report.variants[v].get(name) for v in report.variants]
        lines.append(f"{name:<{width}}  {value:>10.3f}  " + "  ".join(
            f"{o:>10.3f}" if o is not None else f"{'':>10}" for o in others))
    lines.append(", ".join(f"{k}={v}" for k, v in report.settings.items()))
    return "\n".join(lines)


def format_reader_eval(name: str, articles: str, figures: dict[str, Any]) -> str:
    """The ``qabot reader eval`` table."""
    rows = [
        ("questions", f"{figures['questions']} ({figures['answerable']} answerable, "
                      f"{figures['unanswerable']} unanswerable)"),
        ("span F1 (answerable)", f"{figures['f1']:.3f}"),
        ("span EM (answerable)", f"{figures['em']:.3f}"),
        ("answerable given a span", f"{figures['answered']:.3f}"),
        ("unanswerable refused", f"{figures['no_answer_refused']:.3f}"
         if figures["unanswerable"] else "n/a (no unanswerable questions)"),
        ("v2.0 F1 (refusal = 1 when right)", f"{figures['v2_f1']:.3f}"),
        ("no-answer threshold", f"{figures['threshold']:.3f}"),
    ]
    if "single_median_ms" in figures:
        rows += [("passages/s, batched", f"{figures['batched_passages_per_s']:.1f}"),
                 ("passages/s, one question at a time", f"{figures['single_passages_per_s']:.1f}"
                                                        f" ({figures['single_median_ms']} ms)")]
    width = max(len(label) for label, _ in rows)
    head = f"reader on {name} ({articles} articles)"
    return "\n".join([head, *(f"  {label:<{width}}  {value}" for label, value in rows)])


def format_reader_training(summary: dict[str, Any]) -> str:
    """What ``qabot reader train`` prints at the end: time, and validation figures of both."""
    training = summary["training"]
    lines = [f"trained {training['steps']} steps in {training['seconds'] / 60:.1f} min "
             f"({training['machine']}); shipped {summary['shipped']}",
             "validation articles: " + ", ".join(summary["split"]["validation"])]
    for name, variant in summary["variants"].items():
        v = variant["validation"]
        lines.append(f"  {name}: F1 {v['f1']:.3f}  EM {v['em']:.3f}  unanswerable refused "
                     f"{v['no_answer_refused']:.3f}  answerable answered {v['answered']:.3f}  "
                     f"threshold {variant['threshold']:.3f}  {variant['size_mb']} MB")
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
    import sys

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
