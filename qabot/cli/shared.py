"""What every ``qabot`` command shares: the error-handling group, the settings options, reading
settings at the edge, building the service, and reading questions from argv or stdin.

Heavy libraries are imported inside functions, so ``qabot --help`` and a no-change ``qabot index``
stay fast.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import QabotError

if TYPE_CHECKING:
    from ..config import Settings
    from ..service import QabotService

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("qabot")


class QabotGroup(click.Group):
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


class DateParam(click.ParamType):
    """A day as people write it ("2022-01-07", "Jan 7", "yesterday"), read by ``dates.parse_date``;
    anything else is a usage error."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        """The ``datetime.date`` ``value`` names."""
        from ..dates import parse_date

        if not isinstance(value, str):
            return value
        day = parse_date(value)
        if day is None:
            self.fail(f"{value!r} is not a date (try 2022-01-07, \"Jan 7\" or yesterday)",
                      param, ctx)
        return day


def settings_options(command: F) -> F:
    """Add --seeds, --index and --config to a command; they override config and environment."""
    command = click.option("--config", "config_file", type=click.Path(path_type=Path),
                           help="Settings file (TOML). Default: $QABOT_CONFIG or "
                                "config/qabot.toml.")(command)
    command = click.option("--index", "index_dir", type=click.Path(path_type=Path),
                           help="Index folder. Default: $QABOT_INDEX_DIR or ./indexes.")(command)
    command = click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path),
                           help="Folder of article files. Default: $QABOT_SEEDS_DIR or "
                                "./seeds.")(command)
    return command


def load(config_file: Path | None, seeds_dir: Path | None, index_dir: Path | None,
         **overrides: Any) -> Settings:
    """Read settings once at the edge and configure logging for the front end."""
    from ..config import load_settings
    from ..render import configure_logging

    settings = load_settings(config_file, seeds_dir=seeds_dir, index_dir=index_dir, **overrides)
    configure_logging(settings.log_level)
    return settings


def make_service(settings: Settings) -> QabotService:
    """The service for ``settings`` (separate so tests can substitute the embedder)."""
    from ..service import build_service

    return build_service(settings)


def service_for(settings: Settings) -> QabotService:
    """``make_service`` as the package ``qabot.cli`` holds it now: tests replace it there."""
    from .. import cli

    return cli.make_service(settings)


def run_index(service: QabotService, rebuild: bool = False, wait: bool = True) -> str:
    """Run an incremental (or full) build with a progress bar; returns the summary line."""
    from ..render import format_report, tqdm_progress

    report = service.index(rebuild=rebuild, progress=tqdm_progress(),
                           lock_wait_seconds=None if wait else 0)
    if report.no_change and report.skipped:
        for item in report.skipped:
            log.warning("skipped %s: %s", item.path, item.reason)
    return format_report(report)


def clean_question(raw: str) -> str:
    """One question from argv or stdin, stripped; bytes that were not UTF-8 become U+FFFD and
    are reported on stderr, so the question is still answered (and the next ones too)."""
    from ..render import clean_input, printable

    text, replaced = clean_input(raw.strip())
    if replaced:
        click.echo(f"note: the question held bytes that are not UTF-8; read as: {printable(text)}",
                   err=True)
    return text


def tolerant_stdin() -> None:
    """Decode standard input leniently: one undecodable byte must not end the whole stream."""
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")  # clean_question makes them U+FFFD
