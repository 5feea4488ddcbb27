"""Plain-text formatting of answers and build reports, shared by the CLI and the piped REPL."""

from __future__ import annotations

import textwrap

from typing import TYPE_CHECKING, Any

from .index import BuildReport
from .schema import Answer, Citation

if TYPE_CHECKING:
    from .evaluate import EvalReport
    from .service import IndexStats

NOT_IN_CORPUS = "The articles do not say."


def plural(count: int, word: str) -> str:
    """``1 article``, ``2,000 articles``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def quote(text: str, limit: int = 240) -> str:
    """``text`` shortened to ``limit`` characters at a word boundary."""
    return textwrap.shorten(" ".join(text.split()), width=limit, placeholder=" …")


def citation_label(citation: Citation) -> str:
    """``file ¶N`` — where a citation comes from."""
    return f"{citation.source} ¶{citation.paragraph}"


def read_as_text(answer: Answer) -> str:
    """``(read as: …)``: how a question with corrected spelling was read."""
    return f"(read as: {answer.read_as})"


def refusal_text(answer: Answer) -> str:
    """Why ``answer`` was refused: its notice (e.g. not English), else "the articles do not say"."""
    return answer.notice or NOT_IN_CORPUS


def format_answer(answer: Answer, bold: tuple[str, str] = ("", ""), full: bool = False) -> str:
    """The answer, then numbered citations; ``bold`` wraps the span (e.g. ANSI codes)."""
    lines: list[str] = []
    if answer.read_as:
        lines.append(read_as_text(answer))
    if answer.abstained:
        lines.append(refusal_text(answer))
        if answer.related:
            lines.append("")
            lines.append("Closest passages (they do not answer it):")
            lines.extend(_citation_lines(answer.related, full))
        return "\n".join(lines)
    text = answer.text or ""
    if answer.span and answer.span in text:
        text = text.replace(answer.span, f"{bold[0]}{answer.span}{bold[1]}", 1)
    lines.append(text)
    if answer.span:
        lines.append(f"Short answer: {bold[0]}{answer.span}{bold[1]}")
    lines.append("")
    lines.append("Sources:")
    lines.extend(_citation_lines(answer.citations, full))
    return "\n".join(lines)


def _citation_lines(citations: tuple[Citation, ...], full: bool) -> list[str]:
    return [f"  [{n}] {citation_label(c)}: {c.text if full else quote(c.text)}"
            for n, c in enumerate(citations, start=1)]


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


def format_stats(stats: IndexStats) -> str:
    """What the live index holds, one aligned line per fact (``qabot stats``, ``:stats``)."""
    return (f"articles:   {stats.articles:,}\npassages:   {stats.passages:,}\n"
            f"sentences:  {stats.sentences:,}\nmodel:      {stats.model_id}\n"
            f"generation: {stats.generation} (built {stats.created_at})")


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
