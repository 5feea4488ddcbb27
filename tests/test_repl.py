"""``qabot repl`` driven as a person would: through a real pseudo-terminal (pexpect), through a
pipe, and on a first run with no index yet. In-process tests cover the commands' edge cases.

One interactive session is shared by the pexpect tests (they run in file order and end with
Ctrl-D), so the model loads in a child process only twice for the whole file.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from rich.console import Console
from rich.text import Text

from qabot.repl import COMMANDS, SPAN_STYLE, Repl
from qabot.schema import Answer, Citation
from qabot.service import QabotService

from .conftest import REPL_PROMPT, ROOT, SEED, repl_exchange, strip_ansi

PROMPT = REPL_PROMPT
TIMEOUT = 90  # model load on a busy 2-core machine can take 10-20 s

pytestmark = pytest.mark.model


def _env(history: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color",
            "PROMPT_TOOLKIT_NO_CPR": "1", "QABOT_HISTORY_FILE": str(history), "COLUMNS": "120",
            **extra}


def _spawn(args: list[str], env: dict[str, str]) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "qabot.cli", "repl", *args], env=env, cwd=ROOT,
                         encoding="utf-8", timeout=TIMEOUT, dimensions=(50, 120))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("repl") / "history"


@pytest.fixture(scope="module")
def session(real_seed_index: Path, history: Path) -> Iterator[pexpect.spawn]:
    """A running interactive REPL over the real seed index; ``startup`` holds its first screen."""
    started = time.perf_counter()
    child = _spawn(["--seeds", str(real_seed_index.parent / "seeds"), "--index",
                    str(real_seed_index)], _env(history))
    child.expect_exact(PROMPT)
    child.startup = strip_ansi(child.before)  # type: ignore[attr-defined]
    child.seconds_to_prompt = time.perf_counter() - started  # type: ignore[attr-defined]
    yield child
    if child.isalive():
        child.terminate(force=True)


def test_banner_says_what_is_loaded_and_the_prompt_appears(session: pexpect.spawn) -> None:
    assert "1 article, 25 passages loaded" in session.startup
    assert ":help" in session.startup


def test_mission_question_is_answered_with_a_citation(session: pexpect.spawn) -> None:
    screen = repl_exchange(session, "how many were arrested?", "Short answer")
    assert "3,800" in screen
    assert "[1]" in screen and "000_a673f91f4b4f9cfb.txt ¶16" in screen
    assert "more than 3,800 people have been arrested" in screen


def test_follow_up_reuses_the_previous_topic(session: pexpect.spawn) -> None:
    screen = repl_exchange(session, "how many security forces were wounded?", "[3]")
    assert "Short answer: 748" in screen
    screen = repl_exchange(session, "how many of them died?", "[3]")
    assert "Short answer: 18" in screen
    assert "18 dead and 748 wounded" in screen


def test_help_lists_every_command(session: pexpect.spawn) -> None:
    screen = repl_exchange(session, ":help", "Ctrl-D")
    for command in COMMANDS:
        assert command in screen
    assert "Ctrl-C" in screen


def test_unknown_command_gets_a_hint(session: pexpect.spawn) -> None:
    screen = repl_exchange(session, ":frobnicate", "Unknown command")
    session.sendline(":stats")  # still alive and answering commands
    session.expect_exact("generation:")
    session.expect_exact(PROMPT)
    assert ":frobnicate" in screen


def test_k_changes_the_number_of_citations_and_sources_shows_them(session: pexpect.spawn) -> None:
    repl_exchange(session, ":k 1", "from now on")
    screen = repl_exchange(session, "how many were arrested?", "Short answer")
    screen += repl_exchange(session, ":sources", "¶16")
    assert "[1]" in screen and "[2]" not in screen
    assert "To date, more than 3,800 people have been arrested." in screen


def test_ctrl_c_abandons_the_line_and_keeps_the_repl_alive(session: pexpect.spawn,
                                                            history: Path) -> None:
    session.send("who was the president of")
    session.sendintr()
    session.expect_exact(PROMPT)
    screen = repl_exchange(session, "how many were arrested?", "Short answer")
    assert session.isalive()
    assert "3,800" in screen
    # abandoned, not asked: neither sent on with the next line nor saved as a question
    assert "who was the president of" not in history.read_text("utf-8")


def test_ctrl_d_exits_with_status_zero_and_keeps_history(session: pexpect.spawn,
                                                          history: Path) -> None:
    session.sendeof()
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0
    assert "how many were arrested?" in history.read_text("utf-8")
    print(f"launch to prompt: {session.seconds_to_prompt:.2f} s")


def test_history_is_kept_across_sessions(real_seed_index: Path, history: Path) -> None:
    child = _spawn(["--seeds", str(real_seed_index.parent / "seeds"), "--index",
                    str(real_seed_index)], _env(history))
    child.expect_exact(PROMPT)
    child.send("\x1b[A")  # Up: the last question of the earlier session
    child.expect_exact("how many were arrested?")
    child.sendintr()
    child.expect_exact(PROMPT)
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_quit_right_away_while_the_model_loads_exits_cleanly(real_seed_index: Path,
                                                            tmp_path: Path) -> None:
    started = time.perf_counter()
    child = _spawn(["--seeds", str(real_seed_index.parent / "seeds"), "--index",
                    str(real_seed_index)], _env(tmp_path / "history"))
    child.expect_exact(PROMPT)
    to_prompt = time.perf_counter() - started
    child.sendline(":quit")
    child.expect(pexpect.EOF)
    child.close()
    assert (child.exitstatus, child.signalstatus) == (0, None), strip_ansi(child.before)
    assert "terminate called" not in child.before
    print(f"launch to prompt: {to_prompt:.2f} s")


def test_piped_input_prints_plain_answers(real_seed_index: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qabot.cli", "repl", "--seeds", str(real_seed_index.parent / "seeds"),
         "--index", str(real_seed_index)],
        input="how many were arrested?\n\n:quit\nwho is Tokayev?\n", capture_output=True,
        text=True, env=_env(tmp_path / "history"), cwd=ROOT, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert result.stdout.startswith("To date, more than 3,800 people have been arrested.")
    assert "Sources:\n  [1] 000_a673f91f4b4f9cfb.txt ¶16" in result.stdout
    assert PROMPT not in result.stdout and "loaded" not in result.stdout
    assert "Tokayev" not in result.stdout  # :quit ended it
    assert not (tmp_path / "history").exists()  # no line editor, no history


def test_missing_index_is_built_at_start_up(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    index = tmp_path / "indexes"
    # The fake embedder keeps this about the start-up path, not the model.
    child = _spawn(["--seeds", str(seeds), "--index", str(index)],
                   _env(tmp_path / "history", QABOT_ENCODER="fake"))
    child.expect_exact("No index yet")
    child.expect_exact(PROMPT)
    screen = strip_ansi(child.before)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert "Indexed 1 article, 25 passages into gen-000001" in screen
    assert "1 article, 25 passages loaded" in screen
    assert child.exitstatus == 0
    assert (index / "CURRENT").read_text().strip() == "gen-000001"


# -- in-process: the commands' edge cases, on the fake embedder -------------------------------

@pytest.fixture
def repl(fake_service: QabotService) -> tuple[Repl, Console]:
    console = Console(record=True, width=100, force_terminal=False, file=io.StringIO())
    fake_service.index()
    return Repl(fake_service, console), console


def test_k_rejects_out_of_range_values(repl: tuple[Repl, Console]) -> None:
    shell, console = repl
    for bad in ("0", "21", "many"):
        shell.handle(f":k {bad}")
    assert shell.state.k is None
    assert console.export_text().count("Usage: :k N, with N from 1 to 20") == 3


def test_sources_before_any_question_says_so(repl: tuple[Repl, Console]) -> None:
    shell, console = repl
    shell.handle(":sources")
    assert "No answer yet" in console.export_text()


def test_quit_ends_and_blank_lines_do_not(repl: tuple[Repl, Console]) -> None:
    shell, _ = repl
    assert shell.handle("   ") is True
    assert shell.handle(":quit") is False


def test_stats_shows_articles_passages_model_and_generation(repl: tuple[Repl, Console]) -> None:
    shell, console = repl
    shell.handle(":stats")
    text = console.export_text()
    assert re.search(r"articles: +1\n", text) and re.search(r"passages: +25\n", text)
    assert "model:" in text and "fake" in text and "generation: gen-000001" in text


def _colour_console() -> Console:
    return Console(file=io.StringIO(), width=200, force_terminal=True, color_system="standard")


def test_answer_and_passage_highlight_the_span(repl: tuple[Repl, Console]) -> None:
    shell, _ = repl
    shell.console = _colour_console()
    span = "more than 3,800 people"
    passage = "The forces reported 18 dead. To date, more than 3,800 people have been arrested."
    shell.show_answer(Answer(
        question="how many were arrested?", text="To date, more than 3,800 people have been "
        "arrested.", span=span, abstained=False,
        citations=(Citation(source="a.txt", paragraph=16, text=passage, score=0.9,
                            title="Protests"),)))
    output = shell.console.file.getvalue()  # type: ignore[attr-defined]
    reference = _colour_console()
    reference.print(Text(span, style=SPAN_STYLE), end="")
    marked = reference.file.getvalue()  # type: ignore[attr-defined]
    assert marked != span  # the style is visible on this console
    # in the answer sentence, after "Short answer:", and in the cited passage
    assert output.count(marked) == 3, output
    assert "[1] Protests — a.txt ¶16" in strip_ansi(output)


def test_reindex_reports_no_change_then_the_new_file(repl: tuple[Repl, Console],
                                                     seeds_dir: Path) -> None:
    shell, console = repl
    shell.handle(":reindex")
    (seeds_dir / "extra.txt").write_text("Extra news\nThe mayor opened 12 new schools.\n", "utf-8")
    shell.handle(":reindex")
    text = console.export_text()
    assert "No changes: 1 article, 25 passages" in text
    assert "Indexed 2 articles" in text and "1 added" in text


def test_service_facade_gives_front_ends_what_they_read(fake_service: QabotService,
                                                       seeds_dir: Path) -> None:
    from qabot.errors import IndexMissingError

    assert fake_service.live_generation_name() is None
    with pytest.raises(IndexMissingError):
        fake_service.check_index()
    fake_service.index()
    fake_service.check_index()
    assert fake_service.live_generation_name() == "gen-000001"
    assert [(source, count) for source, _, count in fake_service.article_passage_counts()] == [
        (SEED.name, 25)]
    assert fake_service.prepare() is None  # the fake encoder has nothing to export
