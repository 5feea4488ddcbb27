"""Issue 12's front-end faults, checked as a person meets them: the real ``qabot`` CLI and REPL
run as processes (pexpect for the terminal REPL), with the real model, over the seed article."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from qabot.config import load_settings
from qabot.errors import ConfigError
from qabot.telegram import esc

from .conftest import QABOT, ROOT, SEED, repl_exchange, run_qabot, strip_ansi

pytestmark = pytest.mark.model

ARRESTED = "how many were arrested?"
OFF_TOPIC = "Who painted the ceiling of the Sistine Chapel?"
# A question whose answer is not in the passage retrieval scores highest (checked on the seed).
ANSWER_NOT_TOP = "How many demonstrators were detained so far?"
EVIL_NAME = "evil\n\x1b[31mnews.txt"
EVIL_TEXT = ("Harbour reopens in Port Elin\n"
             "The harbour of Port Elin reopened on Monday after repairs that cost "
             "\u202e12 million euros\u202c, the \x1b[31mmayor\x1b[0m said.\n"
             "Fishermen \x9b2J welcomed the news \x9d0;owned\x07 and sold their catch.\n")
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TIMEOUT = 120
RELATED_HEAD = "Closest passages (they do not answer it):"  # render.RELATED_HEAD, one wording


def _where(seeds: Path, index: Path) -> list[str]:
    return ["--seeds", str(seeds), "--index", str(index)]


@pytest.fixture(scope="module")
def seed(real_seed_index: Path) -> list[str]:
    """--seeds/--index of the real seed index."""
    return _where(real_seed_index.parent / "seeds", real_seed_index)


def _run_bytes(args: list[bytes], stdin: bytes | None = None,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The CLI with a bytes argv and bytes stdin, as a shell passes ``$'\\xff'``."""
    command = [os.fsencode(a) for a in QABOT] + args
    return subprocess.run(command, input=stdin, capture_output=True, timeout=TIMEOUT, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


# -- 1. undecodable bytes ---------------------------------------------------------------------

def test_question_argument_with_an_undecodable_byte_is_answered(seed: list[str]) -> None:
    result = _run_bytes([b"ask", b"how many were \xff arrested?", *map(os.fsencode, seed)])
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "3,800" in result.stdout.decode("utf-8")
    assert "not UTF-8" in stderr  # told how the question was read


def test_ask_on_stdin_answers_the_lines_after_an_undecodable_one(seed: list[str]) -> None:
    result = _run_bytes([b"ask", b"--json", *map(os.fsencode, seed)],
                        stdin=b"how many were \xff arrested?\n" + ARRESTED.encode() + b"\n")
    assert "Traceback" not in result.stderr.decode("utf-8", "replace")
    answers = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [a["question"] for a in answers] == ["how many were \ufffd arrested?", ARRESTED]
    assert all("3,800" in (a["answer"] or "") for a in answers)


def test_piped_repl_answers_the_lines_after_an_undecodable_one(seed: list[str],
                                                               tmp_path: Path) -> None:
    result = _run_bytes([b"repl", *map(os.fsencode, seed)],
                        stdin=b"how many were \xff arrested?\n" + ARRESTED.encode() + b"\n",
                        env={"QABOT_HISTORY_FILE": str(tmp_path / "history")})
    stdout = result.stdout.decode("utf-8")
    assert result.returncode == 0 and "Traceback" not in result.stderr.decode("utf-8", "replace")
    assert stdout.count("Short answer") == 2 and stdout.count("3,800") >= 2


# -- 2. log level -----------------------------------------------------------------------------

def test_bad_log_level_is_one_clear_settings_error(seed: list[str]) -> None:
    result = run_qabot("stats", *seed, env={"QABOT_LOG_LEVEL": "bogus"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: invalid settings: log_level")


def test_log_level_is_case_insensitive_and_validated() -> None:
    assert load_settings(None, log_level="debug").log_level == "DEBUG"
    with pytest.raises(ConfigError, match="log_level"):
        load_settings(None, log_level="loud")


# -- 3. control characters in file names and seed text ----------------------------------------

EVIL_INDEX_OUTPUT: list[str] = []


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The seed plus an article whose file name holds a newline and an ESC sequence and whose
    text holds U+202E, CSI/OSC sequences (7-bit and C1) and a bell, and an empty file with an
    ESC sequence in its name (skipped, named in a warning); indexed once."""
    base = tmp_path_factory.mktemp("evil")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    (seeds / EVIL_NAME).write_text(EVIL_TEXT, encoding="utf-8")
    (seeds / "empty\x1b[2Jfile.txt").write_bytes(b"")
    where = _where(seeds, base / "indexes")
    result = run_qabot("index", *where)
    assert result.returncode == 0, result.stderr
    EVIL_INDEX_OUTPUT.append(result.stdout + result.stderr)
    return where


def _assert_terminal_safe(output: str) -> None:
    assert not RAW_CONTROLS.search(output), repr(RAW_CONTROLS.search(output))


def test_ask_prints_file_names_and_passages_without_terminal_controls(evil: list[str]) -> None:
    result = run_qabot("ask", "When did the harbour of Port Elin reopen?", *evil)
    assert result.returncode == 0, result.stderr
    _assert_terminal_safe(result.stdout)
    # the name stays on its citation line, its controls visible as escapes
    # Every article is dated (this one by when it was first indexed), so the label ends in a date.
    assert re.search(r"\[1\] evil\\n\\x1b\[31mnews\.txt ¶1"
                     r"(?: · [A-Z][a-z]{2} \d{1,2}(?:, \d{4})?)?:", result.stdout)
    assert "\\u202e12 million euros" in result.stdout


def test_ask_json_keeps_the_text_but_escapes_the_controls(evil: list[str]) -> None:
    result = run_qabot("ask", "--json", "When did the harbour of Port Elin reopen?", *evil)
    assert "\u202e" not in result.stdout and "\x9b" not in result.stdout
    first = json.loads(result.stdout)["citations"][0]
    assert first["source"] == EVIL_NAME and "\u202e12 million" in first["text"]


def test_stats_and_piped_repl_print_no_terminal_controls(evil: list[str], tmp_path: Path) -> None:
    stats = run_qabot("stats", *evil)
    assert stats.returncode == 0, stats.stderr
    _assert_terminal_safe(stats.stdout)
    repl = run_qabot("repl", *evil, input="Who welcomed the news?\n:sources\n",
                     env={"QABOT_HISTORY_FILE": str(tmp_path / "history")})
    assert repl.returncode == 0, repl.stderr
    _assert_terminal_safe(repl.stdout)
    assert "evil\\n\\x1b[31mnews.txt ¶" in repl.stdout


def test_index_names_a_skipped_file_without_terminal_controls(evil: list[str]) -> None:
    [output] = EVIL_INDEX_OUTPUT
    assert "empty\\x1b[2Jfile.txt" in output
    _assert_terminal_safe(output.replace("\n", " "))


def test_telegram_html_shows_controls_as_escapes() -> None:
    assert esc("a\x1b[31m<b>\u202e") == "a\\x1b[31m&lt;b&gt;\\u202e"


# -- 4. REPL: titles once, :sources adds something, one refusal wording -----------------------

@pytest.fixture(scope="module")
def terminal(seed: list[str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[pexpect.spawn]:
    """The interactive REPL on a pseudo-terminal over the seed index."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color",
           "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "160",
           "QABOT_HISTORY_FILE": str(tmp_path_factory.mktemp("hist") / "history")}
    child = pexpect.spawn(sys.executable, ["-m", "qabot.cli", "repl", *seed], env=env, cwd=ROOT,
                          encoding="utf-8", timeout=TIMEOUT, dimensions=(60, 160))
    child.expect_exact("qabot>")
    yield child
    if child.isalive():
        child.terminate(force=True)


TITLE = "The government faces major protests against the president and prices."


def test_repl_shows_the_article_title_once_per_answer(terminal: pexpect.spawn) -> None:
    screen = repl_exchange(terminal, ARRESTED, "[3]")
    assert "[1]" in screen and "[2]" in screen and "[3]" in screen
    assert screen.count(TITLE) == 1, screen


def test_repl_sources_adds_scores_and_further_passages(terminal: pexpect.spawn) -> None:
    screen = repl_exchange(terminal, ":sources", "Further passages")
    assert re.search(r"\[1\] 000_a673f91f4b4f9cfb\.txt ¶16(?: · [A-Z][a-z]{2} \d{1,2}(?:, \d{4})?)? +score 0\.\d\d", screen), screen
    assert "holds the answer" in screen


def test_refusal_wording_is_the_same_in_repl_and_ask(terminal: pexpect.spawn,
                                                     seed: list[str]) -> None:
    screen = repl_exchange(terminal, OFF_TOPIC, RELATED_HEAD)
    assert RELATED_HEAD in screen
    assert RELATED_HEAD in run_qabot("ask", OFF_TOPIC, *seed).stdout


# -- 5. --json: related passages on a refusal, scores that read best first --------------------

def test_json_refusal_keeps_the_related_passages(seed: list[str]) -> None:
    answer = json.loads(run_qabot("ask", "--json", OFF_TOPIC, *seed).stdout)
    assert answer["abstained"] is True and answer["citations"] == []
    assert len(answer["related"]) == 3
    assert all(r["related"] is True and {"source", "paragraph", "text", "score"} <= set(r)
               for r in answer["related"])


def test_json_citation_scores_read_best_first_with_the_answer_first(seed: list[str]) -> None:
    answer = json.loads(run_qabot("ask", "--json", ANSWER_NOT_TOP, *seed).stdout)
    assert "3,800" in answer["answer"]
    assert "3,800" in answer["citations"][0]["text"]
    scores = [c["score"] for c in answer["citations"]]
    assert scores == sorted(scores, reverse=True), scores


# -- 6. stats: which articles, which folders --------------------------------------------------

def test_stats_lists_the_articles_and_the_folders(real_seed_index: Path) -> None:
    seeds = real_seed_index.parent / "seeds"
    # relative paths on the command line: stats shows where they resolve to
    result = subprocess.run([*QABOT, "stats", "--seeds", "seeds", "--index", "indexes"],
                            capture_output=True, text=True, timeout=TIMEOUT,
                            cwd=real_seed_index.parent, env={**os.environ,
                                                             "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^seeds: +{re.escape(str(seeds.resolve()))}$", result.stdout, re.M)
    assert re.search(rf"^index: +{re.escape(str(real_seed_index.resolve()))}$", result.stdout,
                     re.M)
    assert re.search(rf"^{re.escape(SEED.name)} +[A-Z][a-z]{{2}} \d{{1,2}} +25 +{re.escape(TITLE)}$", result.stdout,
                     re.M)


# -- 7. an eval file that ships with the repository -------------------------------------------

EXAMPLE_EVAL = ROOT / "examples" / "seed_questions.jsonl"


def test_readme_eval_example_runs_on_a_fresh_clone(seed: list[str]) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "qabot eval examples/seed_questions.jsonl" in readme
    result = run_qabot("eval", "--json", str(EXAMPLE_EVAL.relative_to(ROOT)), *seed)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["counts"]["questions"] >= 10


# -- 8. first setup: progress and what it costs -----------------------------------------------

def test_make_install_says_what_it_is_doing() -> None:
    result = subprocess.run(["make", "-n", "-B", "install"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    steps = [line for line in result.stdout.splitlines() if line.startswith("echo")]
    assert len(steps) >= 3, result.stdout
    assert not re.search(r"pip install .* -q\b", result.stdout)


def test_readme_quick_start_states_time_and_disk() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("## Commands")]
    assert "make run     # create .venv, install everything, index seeds/, open the REPL" in quick
    assert "make test    # create .venv, install everything, run the whole test suite" in quick
    assert re.search(r"\b\d+(\.\d+)? ?minutes\b", quick)
    assert re.search(r"\b\d+(\.\d+)? ?GB\b", quick)


@pytest.mark.model
def test_library_callers_may_pass_undecodable_questions(real_service) -> None:
    # what os.fsdecode / surrogateescape make of a stray \xff byte
    answer = real_service.ask("how many were \udcff arrested?")
    assert not answer.abstained and "3,800" in (answer.text or "")
