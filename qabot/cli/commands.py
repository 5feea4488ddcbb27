"""``qabot index``, ``ask``, ``stats`` and ``prepare``: the commands over one index.

Domain errors become one message on stderr and a non-zero exit (``shared.QabotGroup``), never a
traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import ConfigError, NoArticlesMatchError, QabotError
from .shared import (
    DateParam,
    clean_question,
    load,
    run_index,
    service_for,
    settings_options,
    tolerant_stdin,
)

if TYPE_CHECKING:
    from datetime import date

    from ..service import QabotService


@click.command("index")
@settings_options
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of reusing vectors.")
@click.option("--no-wait", is_flag=True,
              help="Exit with status 75 instead of waiting when another build is running.")
@click.option("--watch", is_flag=True,
              help="Keep running and re-index whenever files in the seeds folder change.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None,
              help="Where new passages are embedded: here (local) or on a Ray cluster (ray). "
                   "Default: the build_engine setting (local).")
@click.option("--ray-address", metavar="HOST:PORT", default=None,
              help="The Ray cluster's head (as `ray start --head` prints it); implies --engine "
                   "ray. Default: the ray_address setting; none starts Ray on this machine.")
def index_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                  rebuild: bool, no_wait: bool, watch: bool, engine: str | None,
                  ray_address: str | None) -> None:
    """Build or update the index from the seeds folder.

    Only new or changed passages are embedded; a run with no changes returns at once. Bad files
    are named and skipped; the rest is indexed. Readers (REPL, bot, `ask` on stdin) switch to the
    new index between questions.
    """
    if ray_address and engine is None:
        engine = "ray"
    settings = load(config_file, seeds_dir, index_dir, build_engine=engine,
                    ray_address=ray_address)
    service = service_for(settings)
    click.echo(run_index(service, rebuild=rebuild, wait=not no_wait))
    if watch:
        _watch(service)


def _watch(service: QabotService) -> None:
    import threading

    from ..watch import watch_seeds

    def reindex() -> None:
        try:
            click.echo(run_index(service))
        except QabotError as exc:  # keep watching: the next change may fix it
            click.echo(f"error: {exc}", err=True)

    def ready() -> None:
        click.echo(f"Watching {service.settings.seeds_dir} for changes (Ctrl-C to stop)...")

    stop = threading.Event()
    try:
        watch_seeds(service.settings.seeds_dir, reindex, stop, on_ready=ready)
    except KeyboardInterrupt:
        stop.set()
        click.echo("stopped watching")


@click.command("ask")
@settings_options
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option("-k", "--top-k", type=click.IntRange(1, 20), default=None,
              help="Number of citations (default: top_k setting).")
@click.option("--since", type=DateParam(), default=None,
              help='Answer only from articles published on or after DATE ("2022-01-07", '
                   '"Jan 7", "yesterday").')
@click.option("--source", "publisher", metavar="NAME", default=None,
              help="Answer only from articles of this source (e.g. reuters; any case).")
@click.option("--mode", type=click.Choice(["llm", "extractive"]), default=None,
              help="llm: the configured language model writes the answer from the cited "
                   "passages; extractive: quoted from them. Default: llm when a model is set.")
def ask_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                question: tuple[str, ...], as_json: bool, top_k: int | None,
                since: date | None, publisher: str | None, mode: str | None) -> None:
    """Answer QUESTION with cited passages, each with its article's publication date.

    With no QUESTION, reads questions from standard input, one per line, and answers each as it
    arrives (a newer index is picked up between questions). --since and --source narrow the
    articles answered from; when they leave none, that is an error, not a refusal. When the
    model's reply cannot be used, the extractive answer is printed with a note.
    """
    from ..schema import ArticleFilter

    settings = load(config_file, seeds_dir, index_dir)
    service = service_for(settings)
    if mode == "llm" and not service.llm_configured:
        raise ConfigError("--mode llm needs a language model, and none is configured",
                          hint="set llm or llm_base_url (README 'Generated answers')")
    mode = mode or service.default_mode()
    color = sys.stdout.isatty() and not as_json
    article_filter = ArticleFilter(since=since, publisher=publisher)

    def answer_one(raw: str) -> None:
        from ..render import answer_json, format_answer, json_line, no_match_text, printable

        text = clean_question(raw)
        if not text:
            return
        try:
            answer = service.ask(text, k=top_k, article_filter=article_filter, mode=mode)
        except NoArticlesMatchError as exc:
            raise NoArticlesMatchError(no_match_text(
                article_filter, "a question asked without --since and --source")) from exc
        if as_json:
            click.echo(json_line(answer_json(answer)))
        else:
            if answer.note:
                click.echo(f"({printable(answer.note)})")
            click.echo(format_answer(answer, bold=("\033[1m", "\033[0m") if color else ("", "")))
            if not question:
                click.echo("")
        sys.stdout.flush()

    if question:
        answer_one(" ".join(question))
        return
    service.check_index()  # fail fast, before waiting on input, when there is no index
    tolerant_stdin()
    for line in sys.stdin:
        answer_one(line)


@click.command("stats")
@settings_options
def stats_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None) -> None:
    """Show what the live index holds, and each article with its publication date, newest
    first."""
    settings = load(config_file, seeds_dir, index_dir)
    from ..render import format_stats

    service = service_for(settings)
    click.echo(format_stats(service.stats(), settings.seeds_dir, settings.index_dir,
                            articles=service.article_rows()))


@click.command("prepare")
@settings_options
def prepare_command(config_file: Path | None, seeds_dir: Path | None,
                    index_dir: Path | None) -> None:
    """Export the embedding model to ONNX once (cached), so the first question is fast.

    `make install` runs this. With encoder = "torch" (or a model ONNX cannot run) it does nothing.
    """
    settings = load(config_file, seeds_dir, index_dir)
    prepared = service_for(settings).prepare()
    if prepared is not None:
        click.echo(f"ONNX encoder ready: {prepared}")
    else:
        click.echo(f"encoder {settings.encoder!r} for {settings.model!r}: nothing to prepare")
