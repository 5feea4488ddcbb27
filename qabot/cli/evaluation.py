"""``qabot eval``: retrieval, answer and refusal figures on qabot's eval JSONL or SQuAD JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import QabotError
from .shared import load, service_for, settings_options

if TYPE_CHECKING:
    from ..evaluation import EvalReport


@click.command("eval")
@settings_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON object.")
@click.option("--limit", type=click.IntRange(0), default=1000, show_default=True,
              help="Questions asked, evenly spread over the file (0 = all).")
@click.option("--seed", type=int, default=None,
              help="Sample the questions at random with this seed instead of evenly.")
@click.option("--out-of-corpus/--no-out-of-corpus", default=True, show_default=True,
              help="SQuAD: also index every other article and check that questions about the "
                   "articles left out are refused.")
@click.option("--threshold", type=float, default=None,
              help="Use this abstain_threshold for the run (default: the setting).")
@click.option("--fusion", type=click.Choice(["weighted", "rrf"]), default=None,
              help="Use this fusion for the run (default: the setting).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="SQuAD: keep the temporary indexes here and reuse them.")
@click.option("--reader", "reader_mode", type=click.Choice(["on", "off"]), default=None,
              help="Answer with the reader or with patterns only (default: the setting). With "
                   "the reader on, SQuAD figures with it off are measured in the same run.")
@click.option("--articles", type=click.Choice(["unseen", "all"]), default="unseen",
              show_default=True,
              help="SQuAD: ask only about articles the shipped reader was neither trained nor "
                   "tuned on (retrieval still searches every article), or about all of them.")
def eval_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                 file: Path, as_json: bool, limit: int, seed: int | None, out_of_corpus: bool,
                 threshold: float | None, fusion: str | None, cache_dir: Path | None,
                 reader_mode: str | None, articles: str) -> None:
    """Measure retrieval, answers and refusals on FILE.

    FILE is qabot's eval JSONL (asked against the configured index) or SQuAD v1.1/v2.0 JSON (its
    paragraphs are indexed into a temporary folder first). Prints a table, or --json.
    --threshold sets the refusal threshold of the path in use (reader_threshold with the
    reader on, abstain_threshold with it off).
    """
    from ..evaluation import is_squad_file
    from ..render import tqdm_progress

    first = load(config_file, seeds_dir, index_dir, reader=reader_mode, fusion=fusion)
    key = "reader_threshold" if first.reader == "on" else "abstain_threshold"
    settings = load(config_file, seeds_dir, index_dir, reader=reader_mode, fusion=fusion,
                    **{key: threshold})
    service = service_for(settings)
    progress = tqdm_progress()
    if is_squad_file(file):
        unseen = _articles_unseen_by_reader(file) if articles == "unseen" else None
        report = service.evaluate_squad(file, articles=unseen, limit=limit or None, seed=seed,
                                        out_of_corpus=out_of_corpus, cache_dir=cache_dir,
                                        progress=progress)
    else:
        report = service.evaluate_questions(file, limit=limit or None, seed=seed,
                                            progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    click.echo(format_eval_report(report))


def _articles_unseen_by_reader(file: Path) -> set[str]:
    """Titles of ``file``'s SQuAD articles the shipped reader was neither trained nor tuned on."""
    from ..evaluation import load_squad
    from ..reader.model import SHIPPED_READER_DIR, ReaderMetadata

    seen = set(ReaderMetadata.load(SHIPPED_READER_DIR).seen_articles)
    unseen = {title for title, _ in load_squad(file).articles} - seen
    if not unseen:
        raise QabotError(f"every article of {file} was used to train or tune the reader",
                         hint="pass --articles all to measure them anyway (figures will flatter)")
    return unseen


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
