"""Rebuilding after new seeds arrive, with the real model and real processes: edits and deletions
are seen, a running `qabot ask` picks up a new generation, kill -9 and concurrent builds are safe."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qabot.config import load_settings
from qabot.embedding import Embedder
from qabot.index import IndexStore
from qabot.service import QabotService

from .conftest import QABOT, ROOT, SEED, run_qabot

FLOODS = """Floods hit the river town of Umbria Vale.
Heavy rain on Tuesday flooded 240 homes in Umbria Vale, officials said.
The mayor, Carla Benedetti, asked residents to stay indoors until the water receded.
"""
MINES = """Copper mine reopens in Northgate.
The Northgate copper mine reopened on Monday after a two-year closure.
About 1,150 miners returned to work, according to the operator.
"""


def _service(tmp: Path, embedder: Embedder) -> QabotService:
    settings = load_settings(ROOT / "config" / "qabot.toml", seeds_dir=tmp / "seeds",
                             index_dir=tmp / "indexes")
    return QabotService(settings, embedder=embedder)


@pytest.fixture
def live_dirs(tmp_path: Path, real_seed_index: Path) -> Path:
    """A writable copy of the real seed index and its seeds folder."""
    shutil.copytree(real_seed_index.parent / "seeds", tmp_path / "seeds")
    shutil.copytree(real_seed_index, tmp_path / "indexes")
    return tmp_path


def test_added_edited_and_deleted_articles(live_dirs: Path, real_embedder: Embedder) -> None:
    service = _service(live_dirs, real_embedder)
    (live_dirs / "seeds" / "floods.txt").write_text(FLOODS, "utf-8")
    (live_dirs / "seeds" / "mines.txt").write_text(MINES, "utf-8")
    report = service.index()
    assert report.files_added == 2 and report.passages_embedded == 4
    answer = service.ask("How many homes were flooded in Umbria Vale?")
    assert "240" in (answer.span or "") and answer.citations[0].source == "floods.txt"

    (live_dirs / "seeds" / "floods.txt").write_text(FLOODS.replace("240", "310"), "utf-8")
    report = service.index()
    assert report.files_changed == 1 and report.passages_embedded == 1
    answer = service.ask("How many homes were flooded in Umbria Vale?")
    assert "310" in (answer.span or "") and "240" not in (answer.text or "")

    (live_dirs / "seeds" / "mines.txt").unlink()
    assert service.index().files_removed == 1
    for question in ("How many miners returned to work?", "Which mine reopened on Monday?"):
        answer = service.ask(question)
        assert all(c.source != "mines.txt" for c in answer.citations + answer.related)


def test_no_change_run_does_not_load_the_model(live_dirs: Path) -> None:
    probe = ("import sys; from qabot.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
             "if m in sys.modules)\nprint('HEAVY', heavy)")
    result = subprocess.run(
        [sys.executable, "-c", probe, "index", "--seeds", str(live_dirs / "seeds"),
         "--index", str(live_dirs / "indexes")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "No changes" in result.stdout, result.stderr
    assert "HEAVY []" in result.stdout


def test_running_ask_answers_about_an_article_indexed_after_it_started(live_dirs: Path) -> None:
    args = [*QABOT, "ask", "--json", "--seeds", str(live_dirs / "seeds"),
            "--index", str(live_dirs / "indexes")]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        question = "How many homes were flooded in Umbria Vale?\n"
        proc.stdin.write(question)
        proc.stdin.flush()
        before = json.loads(proc.stdout.readline())
        assert all(c["source"] != "floods.txt" for c in before["citations"])

        (live_dirs / "seeds" / "floods.txt").write_text(FLOODS, "utf-8")
        assert run_qabot("index", "--seeds", str(live_dirs / "seeds"),
                         "--index", str(live_dirs / "indexes")).returncode == 0
        proc.stdin.write(question)
        proc.stdin.flush()
        after = json.loads(proc.stdout.readline())
        assert after["citations"][0]["source"] == "floods.txt"
        assert "240" in (after["answer"] or "")
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0


def _big_corpus(seeds: Path, articles: int = 60) -> None:
    """Synthetic articles, enough to keep a build busy for a few seconds."""
    words = ("river council harbour festival railway museum election budget storm bridge school "
             "hospital market forest airport stadium orchestra library vineyard glacier").split()
    rng = random.Random(7)
    for n in range(articles):
        lines = [f"Report number {n} on {rng.choice(words)} affairs."]
        for p in range(8):
            lines.append(" ".join(rng.choice(words) for _ in range(40)).capitalize()
                         + f" ({n}-{p}) ended on a quiet note.")
        (seeds / f"bulk_{n:03d}.txt").write_text("\n".join(lines) + "\n", "utf-8")


def test_kill_9_midway_leaves_the_previous_generation_usable(live_dirs: Path) -> None:
    seeds, index = live_dirs / "seeds", live_dirs / "indexes"
    _big_corpus(seeds)
    before = IndexStore(index).current_name()
    proc = subprocess.Popen(
        [*QABOT, "index", "--rebuild", "--seeds", str(seeds), "--index", str(index)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "QABOT_LOG_LEVEL": "INFO"})
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until it is embedding, then kill it mid-flight
        if "embedding" in line:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert IndexStore(index).current_name() == before

    asked = run_qabot("ask", "--json", "how many were arrested?", "--seeds", str(seeds),
                      "--index", str(index))
    assert asked.returncode == 0, asked.stderr
    assert "3,800" in json.loads(asked.stdout)["answer"]

    rebuilt = run_qabot("index", "--seeds", str(seeds), "--index", str(index))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "61 articles" in rebuilt.stdout
    assert not list(index.glob(".gen-*"))  # the killed build's leftovers are gone


def test_two_concurrent_rebuilds_both_finish_cleanly(live_dirs: Path) -> None:
    seeds, index = live_dirs / "seeds", live_dirs / "indexes"
    (seeds / "floods.txt").write_text(FLOODS, "utf-8")
    args = [*QABOT, "index", "--rebuild", "--seeds", str(seeds), "--index", str(index)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "Indexed 2 articles" in out
    store = IndexStore(index)
    assert len(store.generations()) == 2 and store.current_name() == store.generations()[-1]
    asked = run_qabot("ask", "--json", "How many homes were flooded in Umbria Vale?",
                      "--seeds", str(seeds), "--index", str(index))
    assert json.loads(asked.stdout)["citations"][0]["source"] == "floods.txt"


def test_no_wait_exits_with_a_distinct_code_while_another_build_runs(live_dirs: Path) -> None:
    from filelock import FileLock

    with FileLock(str(live_dirs / "indexes" / ".build.lock")):
        result = run_qabot("index", "--no-wait", "--seeds", str(live_dirs / "seeds"),
                           "--index", str(live_dirs / "indexes"))
    assert result.returncode == 75
    assert "another `qabot index`" in result.stderr and "Traceback" not in result.stderr


def test_watch_reindexes_when_a_seed_file_appears(live_dirs: Path) -> None:
    seeds, index = live_dirs / "seeds", live_dirs / "indexes"
    proc = subprocess.Popen(
        [*QABOT, "index", "--watch", "--seeds", str(seeds), "--index", str(index)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.stdout is not None
    try:
        assert "No changes" in proc.stdout.readline()
        assert "Watching" in proc.stdout.readline()
        (seeds / "floods.txt").write_text(FLOODS, "utf-8")
        line = proc.stdout.readline()
        assert "Indexed 2 articles" in line and "1 added" in line
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
