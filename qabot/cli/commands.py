"""The ``qabot`` command line: index, ask, and the other front ends' entry points.

Heavy libraries are imported inside commands, so ``qabot --help`` and a no-change ``qabot index``
stay fast. Domain errors become one message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .errors import QabotError

if TYPE_CHECKING:
    from .config import Settings
    from .progress import ProgressFn
    from .service import QabotService

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("qabot")


class _QabotGroup(click.Group):
    """Turns domain errors into one clear message and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QabotError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  → {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def settings_options(command: F) -> F:
    """Add --seeds, --index and --config to a command; they override config and environment."""
    command = click.option("--config", "config_file", type=click.Path(path_type=Path),
                           help="Settings file (TOML). Default: $QABOT_CONFIG or config/qabot.toml.")(command)
    command = click.option("--index", "index_dir", type=click.Path(path_type=Path),
                           help="Index folder. Default: $QABOT_INDEX_DIR or ./indexes.")(command)
    command = click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path),
                           help="Folder of article files. Default: $QABOT_SEEDS_DIR or ./seeds.")(command)
    return command


def load(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
         **overrides: Any) -> Settings:
    """Read settings once at the edge and configure logging for the front end."""
    from .config import load_settings

    settings = load_settings(config_file, seeds_dir=seeds_dir, index_dir=index_dir, **overrides)
    _configure_logging(settings.log_level)
    return settings


class _PrintableFormatter(logging.Formatter):
    """Log lines with control characters escaped: messages name seed files (``skipped …``)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        from .render import printable

        return printable(super().formatMessage(record))


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("qabot")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def make_service(settings: Settings) -> QabotService:
    """The service for ``settings`` (separate so tests can substitute the embedder)."""
    from .service import build_service

    return build_service(settings)


def run_index(service: QabotService, rebuild: bool = False, wait: bool = True) -> str:
    """Run an incremental (or full) build with a progress bar; returns the summary line."""
    from .render import format_report

    from .render import tqdm_progress

    report = service.index(rebuild=rebuild, progress=tqdm_progress(),
                           lock_wait_seconds=None if wait else 0)
    if report.no_change and report.skipped:
        for item in report.skipped:
            log.warning("skipped %s: %s", item.path, item.reason)
    return format_report(report)


@click.group(cls=_QabotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qabot")
def main() -> None:
    """qabot answers questions about the news articles in a seeds folder, offline, citing the
    passages it used.

    \b
    Quick start:
      qabot index                        build or update the index from seeds/
      qabot ask "how many were arrested?"
      qabot repl                         ask interactively
    """


@main.command("index")
@settings_options
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of reusing vectors.")
@click.option("--no-wait", is_flag=True,
              help="Exit with status 75 instead of waiting when another build is running.")
@click.option("--watch", is_flag=True,
              help="Keep running and re-index whenever files in the seeds folder change.")
def index_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                  rebuild: bool, no_wait: bool, watch: bool) -> None:
    """Build or update the index from the seeds folder.

    Only new or changed passages are embedded; a run with no changes returns at once. Bad files
    are named and skipped; the rest is indexed. Readers (REPL, bot, `ask` on stdin) switch to the
    new index between questions.
    """
    settings = load(config_file, seeds_dir, index_dir)
    service = make_service(settings)
    click.echo(run_index(service, rebuild=rebuild, wait=not no_wait))
    if watch:
        _watch(service)


def _watch(service: QabotService) -> None:
    import threading

    from .watch import watch_seeds

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


@main.command("ask")
@settings_options
@click.argument("question", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option("-k", "--top-k", type=click.IntRange(1, 20), default=None,
              help="Number of citations (default: top_k setting).")
def ask_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                question: tuple[str, ...], as_json: bool, top_k: int | None) -> None:
    """Answer QUESTION with cited passages.

    With no QUESTION, reads questions from standard input, one per line, and answers each as it
    arrives (a newer index is picked up between questions).
    """
    settings = load(config_file, seeds_dir, index_dir)
    service = make_service(settings)
    color = sys.stdout.isatty() and not as_json

    def answer_one(raw: str) -> None:
        from .render import answer_json, format_answer, json_line

        text = _question(raw)
        if not text:
            return
        answer = service.ask(text, k=top_k)
        if as_json:
            click.echo(json_line(answer_json(answer)))
        else:
            click.echo(format_answer(answer, bold=("\033[1m", "\033[0m") if color else ("", "")))
            if not question:
                click.echo("")
        sys.stdout.flush()

    if question:
        answer_one(" ".join(question))
        return
    service.generation()  # fail fast, before waiting on input, when there is no index
    tolerant_stdin()
    for line in sys.stdin:
        answer_one(line)


def _question(raw: str) -> str:
    """One question from argv or stdin, stripped; bytes that were not UTF-8 become U+FFFD and
    are reported on stderr, so the question is still answered (and the next ones too)."""
    from .render import clean_input, printable

    text, replaced = clean_input(raw.strip())
    if replaced:
        click.echo(f"note: the question held bytes that are not UTF-8; read as: {printable(text)}",
                   err=True)
    return text


def tolerant_stdin() -> None:
    """Decode standard input leniently: one undecodable byte must not end the whole stream."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")  # _question turns them into U+FFFD


@main.command("stats")
@settings_options
def stats_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None) -> None:
    """Show what the live index holds."""
    settings = load(config_file, seeds_dir, index_dir)
    from .render import format_stats

    service = make_service(settings)
    click.echo(format_stats(service.stats(), settings.seeds_dir, settings.index_dir,
                            articles=service.generation().article_passage_counts()))


@main.command("repl")
@settings_options
@click.option("-k", "--top-k", type=click.IntRange(1, 20), default=None,
              help="Number of citations (default: top_k setting; :k N changes it).")
@click.option("--history", "history_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="QABOT_HISTORY_FILE", show_envvar=True,
              help="History file. Default: 'history' in the user data directory "
                   "(e.g. ~/.local/share/qabot/history).")
def repl_command(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
                 top_k: int | None, history_file: Path | None) -> None:
    """Ask questions interactively (type :help inside).

    Builds the index first when there is none. With piped input, answers one question per line
    in plain text: echo "how many were arrested?" | qabot repl
    """
    from .repl import run_repl

    settings = load(config_file, seeds_dir, index_dir)
    tolerant_stdin()
    sys.exit(run_repl(make_service(settings), k=top_k, history_file=history_file))


@main.command("telegram")
@settings_options
def telegram_command(config_file: Path | None, seeds_dir: Path | None,
                     index_dir: Path | None) -> None:
    """Run the Telegram bot until Ctrl-C or SIGTERM.

    The token comes from TELEGRAM_BOT_TOKEN (environment or .env; create a bot with @BotFather).
    Long polling by default; webhook mode when telegram_webhook_url is set. In private chats
    every message is a question; in groups use /ask, a mention, or a reply to the bot.
    """
    from .telegram_bot import require_token, run_bot

    settings = load(config_file, seeds_dir, index_dir)
    require_token(settings)  # before anything slow
    run_bot(settings, make_service(settings))


@main.command("eval")
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
    from .evaluate import evaluate_jsonl, evaluate_squad, is_squad_file

    first = load(config_file, seeds_dir, index_dir, reader=reader_mode, fusion=fusion)
    key = "reader_threshold" if first.reader == "on" else "abstain_threshold"
    settings = load(config_file, seeds_dir, index_dir, reader=reader_mode, fusion=fusion,
                    **{key: threshold})
    service = make_service(settings)
    from .render import tqdm_progress

    progress = tqdm_progress()
    if is_squad_file(file):
        unseen = None
        if articles == "unseen":
            unseen = _articles_unseen_by_reader(file)
        report = evaluate_squad(file, service.embedder, service.retriever.config,
                                service.answerer.config, reader=service.reader,
                                articles=unseen, limit=limit or None, seed=seed,
                                out_of_corpus=out_of_corpus, cache_dir=cache_dir,
                                progress=progress)
    else:
        report = evaluate_jsonl(file, service.generation(), service.answerer,
                                limit=limit or None, seed=seed, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    from .render import format_eval_report

    click.echo(format_eval_report(report))


def _articles_unseen_by_reader(file: Path) -> set[str]:
    """Titles of ``file``'s SQuAD articles the shipped reader was neither trained nor tuned on."""
    from .evaluate import load_squad
    from .reader.model import SHIPPED_READER_DIR, ReaderMetadata

    seen = set(ReaderMetadata.load(SHIPPED_READER_DIR).seen_articles)
    unseen = {title for title, _ in load_squad(file).articles} - seen
    if not unseen:
        raise QabotError(f"every article of {file} was used to train or tune the reader",
                         hint="pass --articles all to measure them anyway (figures will flatter)")
    return unseen


@main.command("prepare")
@settings_options
def prepare_command(config_file: Path | None, seeds_dir: Path | None,
                    index_dir: Path | None) -> None:
    """Export the embedding model to ONNX once (cached), so the first question is fast.

    `make install` runs this. With encoder = "torch" (or a model ONNX cannot run) it does nothing.
    """
    from .embedding import OnnxEmbedder

    settings = load(config_file, seeds_dir, index_dir)
    embedder = make_service(settings).embedder
    if isinstance(embedder, OnnxEmbedder):
        click.echo(f"ONNX encoder ready: {embedder.prepare()}")
    else:
        click.echo(f"encoder {settings.encoder!r} for {settings.model!r}: nothing to prepare")


@main.group("reader", cls=_QabotGroup)
def reader_group() -> None:
    """Train, check and measure qabot's extractive reader (the model that reads a question
    together with a passage and marks the answer span, or says there is none)."""


def _default_reader_work_dir() -> Path:
    from .embedding import cache_root

    return cache_root() / "reader-train"


@reader_group.command("train")
@click.option("--squad", "squad_files", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              multiple=True, required=True,
              help="SQuAD v1.1/v2.0 JSON to train on (repeat: give both, v2.0 brings the "
                   "unanswerable questions). Split by article into train/tune/validation.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Where the shippable reader goes (reader.onnx, reader.json, "
                                  "MODEL_CARD.md); qabot/reader/model to replace the shipped one.")
@click.option("--work", "work_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Checkpoints and intermediate files; a stopped run resumes "
                                 "from here. Default: the qabot cache's reader-train folder.")
@click.option("--epochs", type=float, default=3.0, show_default=True)
@click.option("--seed", type=int, default=13, show_default=True,
              help="Seeds the article split, the head's initialisation, dropout, batch order.")
@click.option("--learning-rate", type=float, default=1e-4, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--threads", type=int, default=None,
              help="Torch threads (default: every core).")
@click.option("--max-steps", type=int, default=None,
              help="Stop after this many steps (a quick trial run).")
@click.option("--swap-negatives", type=float, default=0.0, show_default=True,
              help="Share of answerable training questions that also yield a made-up "
                   "unanswerable one (a name or number swapped for one the paragraph lacks).")
@click.option("--other-negatives", type=float, default=0.0, show_default=True,
              help="Share of answerable training questions also paired, unanswerable, with "
                   "another paragraph of their article.")
@click.option("--validation-articles", type=int, default=5, show_default=True,
              help="Articles held out for the reported figures (never trained or tuned on).")
@click.option("--tune-articles", type=int, default=2, show_default=True,
              help="Articles held out to fit the no-answer threshold and pick fp32 or int8.")
def reader_train_command(squad_files: tuple[Path, ...], out_dir: Path, work_dir: Path | None,
                         epochs: float, seed: int, learning_rate: float, batch_size: int,
                         threads: int | None, max_steps: int | None, swap_negatives: float,
                         other_negatives: float, validation_articles: int,
                         tune_articles: int) -> None:
    """Fine-tune the local all-MiniLM-L6-v2 weights as the reader, on the CPU (about 45-80
    minutes on 2 cores for the SQuAD dev halves), export it to ONNX fp32 and int8, fit the
    no-answer threshold on the tune articles and report on the validation articles.

    Needs torch (installed by `make install`); answering does not. Writes the model card too.
    """
    from tqdm import tqdm

    from .embedding import resolve_model_dir
    from .reader.pipeline import train_reader
    from .reader.train import TrainConfig

    _configure_logging("info")
    config = TrainConfig(seed=seed, epochs=epochs, learning_rate=learning_rate,
                         batch_size=batch_size, threads=threads or os.cpu_count() or 1,
                         max_steps=max_steps, validation_articles=validation_articles,
                         tune_articles=tune_articles, swap_negatives=swap_negatives,
                         other_paragraph_negatives=other_negatives)
    bar = tqdm(desc="training", unit="step", file=sys.stderr, disable=None)

    def on_step(step: int, total: int, loss: float) -> None:
        bar.total = total
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    try:
        summary = train_reader(list(squad_files), resolve_model_dir("all-MiniLM-L6-v2"), out_dir,
                               work_dir or _default_reader_work_dir(), config, on_step)
    finally:
        bar.close()
    from .render import format_reader_training

    click.echo(format_reader_training(summary))


@reader_group.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reader", "reader_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Reader folder (default: the one shipped with qabot).")
@click.option("--articles", type=click.Choice(["unseen", "all"]), default="unseen",
              show_default=True,
              help="unseen: only articles the reader was neither trained nor tuned on.")
@click.option("--threshold", type=float, default=None,
              help="No-answer threshold for this run (default: the reader's fitted one).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def reader_eval_command(file: Path, reader_dir: Path | None, articles: str,
                        threshold: float | None, as_json: bool) -> None:
    """Measure the reader alone on SQuAD FILE, given each question's gold paragraph: EM/F1
    (official normalisation), no-answer accuracy on v2.0, and passages per second (batched and
    one question at a time)."""
    from .embedding import resolve_model_dir
    from .reader.data import load_squad_examples
    from .reader.evaluate import report
    from .reader.model import SHIPPED_READER_DIR, OnnxReader

    reader = OnnxReader(reader_dir or SHIPPED_READER_DIR,
                        resolve_model_dir("all-MiniLM-L6-v2") / "tokenizer.json",
                        threads=os.cpu_count() or 1)
    examples = load_squad_examples(file)
    if articles == "unseen":
        seen = set(reader.meta.seen_articles)
        examples = [e for e in examples if e.article not in seen]
        if not examples:
            raise QabotError(f"every article of {file} was used to train or tune this reader",
                             hint="pass --articles all to measure it anyway (figures will flatter)")
    figures = report(reader, examples, threshold=threshold)
    if as_json:
        click.echo(json.dumps(figures))
        return
    from .render import format_reader_eval

    click.echo(format_reader_eval(file.name, articles, figures))


if __name__ == "__main__":  # pragma: no cover
    main()
