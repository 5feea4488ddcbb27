"""``qabot reader train`` and ``qabot reader eval``: the extractive reader's own tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import QabotError
from .shared import QabotGroup


@click.group("reader", cls=QabotGroup)
def reader_group() -> None:
    """Train, check and measure qabot's extractive reader (the model that reads a question
    together with a passage and marks the answer span, or says there is none)."""


def _default_reader_work_dir() -> Path:
    from ..config import load_settings

    return load_settings().cache_dir / "reader-train"


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

    from ..embedding import resolve_model_dir
    from ..embedding.runtime import usable_cores
    from ..reader.pipeline import train_reader
    from ..reader.train import TrainConfig
    from ..render import configure_logging

    configure_logging("info")
    config = TrainConfig(seed=seed, epochs=epochs, learning_rate=learning_rate,
                         batch_size=batch_size, threads=threads or usable_cores(),
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
    from ..embedding import resolve_model_dir
    from ..embedding.runtime import usable_cores
    from ..reader.data import load_squad_examples
    from ..reader.evaluate import report
    from ..reader.model import SHIPPED_READER_DIR, OnnxReader

    reader = OnnxReader(reader_dir or SHIPPED_READER_DIR,
                        resolve_model_dir("all-MiniLM-L6-v2") / "tokenizer.json",
                        threads=usable_cores())
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
    click.echo(format_reader_eval(file.name, articles, figures))


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

