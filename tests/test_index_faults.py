"""Faults around the index (issue 12): seeds changing mid-build, damaged generations and
``CURRENT``, unwritable or full index folders, and parse progress. User-facing behaviour goes
through the real CLI as a process (with the fake embedder: ``QABOT_ENCODER=fake``); simulated write
faults run in-process through the CLI's click runner or the service."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import select
import shutil
import sqlite3
import struct
import subprocess
import termios
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qabot import corpus
from qabot.errors import IndexWriteError
from qabot.service import QabotService

from .conftest import QABOT, ROOT, run_qabot

FLOODS = """Floods hit the river town of Umbria Vale.
Heavy rain on Tuesday flooded 240 homes in Umbria Vale, officials said.
The mayor, Carla Benedetti, asked residents to stay indoors.
"""
FAKE_ENV = {"QABOT_ENCODER": "fake", "QABOT_READER": "off"}
ARRESTED = "how many were arrested?"


def _cli(seeds: Path, index: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``qabot`` CLI as a process, on the fake embedder."""
    return run_qabot(*args, "--seeds", str(seeds), "--index", str(index), env=FAKE_ENV,
                     timeout=120)


def _asks_fine(seeds: Path, index: Path) -> None:
    """``qabot ask`` answers from the index: exit 0, the arrests passage in the output."""
    asked = _cli(seeds, index, "ask", ARRESTED)
    assert asked.returncode == 0, asked.stderr
    assert "3,800" in asked.stdout and "Traceback" not in asked.stderr


def _live(index: Path) -> Path:
    return index / (index / "CURRENT").read_text().strip()


@pytest.fixture
def built(seeds_dir: Path, index_dir: Path) -> Iterator[tuple[Path, Path]]:
    """The seed article indexed once through the CLI."""
    result = _cli(seeds_dir, index_dir, "index")
    assert result.returncode == 0, result.stderr
    yield seeds_dir, index_dir


# --------------------------------------------------------------------------- 1: nothing stale


def _edit_after_discovery(monkeypatch: pytest.MonkeyPatch, edit: Callable[[], None]) -> None:
    """Run ``edit`` right after the build has listed and hashed the seeds, before it parses."""
    discover = corpus.discover

    def discover_then_edit(seeds_dir: Path, **options: object) -> list[corpus.SeedFile]:
        found = discover(seeds_dir, **options)  # type: ignore[arg-type]
        edit()
        return found

    monkeypatch.setattr(corpus, "discover", discover_then_edit)


def test_file_edited_mid_build_then_restored_is_indexed_again(
        fake_service: QabotService, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    floods = seeds_dir / "floods.txt"
    floods.write_text(FLOODS, "utf-8")
    _edit_after_discovery(monkeypatch, lambda: floods.write_text(
        FLOODS.replace("240", "310"), "utf-8"))
    fake_service.index()
    monkeypatch.undo()
    floods.write_text(FLOODS, "utf-8")  # restored after the build

    report = fake_service.index()
    assert not report.no_change and report.files_changed == 1
    hit = fake_service.search("Umbria Vale flooded homes", k=1)[0]
    assert "240" in hit.passage.text and "310" not in hit.passage.text


def test_file_vanished_mid_build_is_skipped_and_indexed_when_back(
        fake_service: QabotService, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    floods = seeds_dir / "floods.txt"
    floods.write_text(FLOODS, "utf-8")
    _edit_after_discovery(monkeypatch, floods.unlink)
    report = fake_service.index()
    monkeypatch.undo()
    assert any("floods.txt" in m and "vanished" in m for m in caplog.messages)
    assert [s.path for s in report.skipped] == ["floods.txt"]
    floods.write_text(FLOODS, "utf-8")  # back again

    report = fake_service.index()
    assert not report.no_change and report.files_added == 1
    assert fake_service.search("Umbria Vale flooded homes", k=1)[0].passage.source == "floods.txt"


# --------------------------------------------------------------------------- 2: damaged live gen


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("victim", "damage", "reused"), [
    ("passages.sqlite", _truncate, False),  # no map from texts to vectors: re-embed
    ("vectors.faiss", _flip, True),          # rebuilt from the intact .npy vectors
])
def test_plain_index_repairs_a_damaged_live_generation(
        built: tuple[Path, Path], victim: str, damage: Callable[[Path], None],
        reused: bool) -> None:
    seeds, index = built
    damage(_live(index) / victim)
    assert _cli(seeds, index, "ask", ARRESTED).returncode != 0  # damage is seen on ask

    result = _cli(seeds, index, "index")
    assert result.returncode == 0, result.stderr
    assert "No changes" not in result.stdout
    assert victim in result.stderr and "damaged" in result.stderr
    assert ("0 embedded" in result.stdout) == reused
    _asks_fine(seeds, index)
    assert "No changes" in _cli(seeds, index, "index").stdout


def test_passage_vectors_come_from_an_intact_faiss_file(fake_service: QabotService,
                                                        index_dir: Path) -> None:
    first = fake_service.index()
    _flip(_live(index_dir) / "passage_vectors.npy")
    report = fake_service.index()
    assert not report.no_change and report.passages_embedded == 0
    assert report.passages_reused == first.passages
    assert fake_service.search("more than 3,800 people arrested", k=1)[0].passage.paragraph > 0


# --------------------------------------------------------------------------- 3 and 4: CURRENT


def _junk_current(index: Path) -> None:
    (index / "CURRENT").write_bytes(os.urandom(64) + b"\xff\xfe\x00")


def _directory_current(index: Path) -> None:
    (index / "CURRENT").unlink()
    (index / "CURRENT").mkdir()
    (index / "CURRENT" / "gen-000001").write_text("x")


@pytest.mark.parametrize("damage", [_junk_current, _directory_current],
                         ids=["random-bytes", "directory"])
def test_ask_on_a_damaged_current_says_to_run_index(built: tuple[Path, Path],
                                                    damage: Callable[[Path], None]) -> None:
    seeds, index = built
    damage(index)
    asked = _cli(seeds, index, "ask", ARRESTED)
    assert asked.returncode == 1
    assert "Traceback" not in asked.stderr
    assert asked.stderr.startswith("error: ") and "CURRENT" in asked.stderr
    assert "run `qabot index`" in asked.stderr


@pytest.mark.parametrize("damage", [_junk_current, _directory_current],
                         ids=["random-bytes", "directory"])
@pytest.mark.parametrize("flags", [(), ("--rebuild",)], ids=["index", "rebuild"])
def test_index_repairs_a_damaged_current(built: tuple[Path, Path],
                                         damage: Callable[[Path], None],
                                         flags: tuple[str, ...]) -> None:
    seeds, index = built
    damage(index)
    result = _cli(seeds, index, "index", *flags)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if not flags:
        assert "0 embedded" in result.stdout  # the intact generation's vectors were reused
    assert (index / "CURRENT").is_file()
    _asks_fine(seeds, index)


def test_current_naming_a_missing_generation_is_repaired_by_index(
        built: tuple[Path, Path]) -> None:
    seeds, index = built
    shutil.rmtree(_live(index))
    asked = _cli(seeds, index, "ask", ARRESTED)
    assert asked.returncode == 1 and "run `qabot index` to repair it" in asked.stderr
    result = _cli(seeds, index, "index")
    assert result.returncode == 0 and "missing" in result.stderr, result.stderr
    _asks_fine(seeds, index)


def test_deleted_current_reuses_the_intact_generation(built: tuple[Path, Path]) -> None:
    seeds, index = built
    (index / "CURRENT").unlink()
    result = _cli(seeds, index, "index")
    assert result.returncode == 0, result.stderr
    assert "0 embedded, 25 reused" in result.stdout
    _asks_fine(seeds, index)


def test_newest_intact_generation_is_reused_when_the_newest_is_damaged(
        fake_service: QabotService, seeds_dir: Path, index_dir: Path) -> None:
    fake_service.index()
    (seeds_dir / "floods.txt").write_text(FLOODS, "utf-8")
    second = fake_service.index()
    _truncate(index_dir / str(second.generation) / "passages.sqlite")
    (index_dir / "CURRENT").unlink()
    report = fake_service.index()
    assert report.passages_embedded == 2  # only the floods article, reused from gen 1
    assert fake_service.search("Umbria Vale flooded homes", k=1)[0].passage.source == "floods.txt"


# --------------------------------------------------------------------------- 5: write faults


def _state(index: Path) -> tuple[str, list[str]]:
    return (index / "CURRENT").read_text(), sorted(p.name for p in index.iterdir())


def _still_answers(service: QabotService, index: Path, before: tuple[str, list[str]]) -> None:
    """CURRENT and the folder are as they were, and the previous generation answers."""
    assert _state(index) == before
    assert not list(index.glob(".gen-*")) and not list(index.glob(".CURRENT.*"))
    hit = service.search("more than 3,800 people arrested", k=1)[0]
    assert "3,800" in hit.passage.text


def _invoke_index(seeds: Path, index: Path) -> Any:
    from qabot.cli import main

    return CliRunner().invoke(main, ["index", "--seeds", str(seeds), "--index", str(index)],
                              env=FAKE_ENV)


def _inside(index: Path, path: Any) -> bool:
    return str(path).startswith(str(index))


def test_read_only_index_folder_is_a_clear_error(fake_service: QabotService, seeds_dir: Path,
                                                 index_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_service.index()
    before = _state(index_dir)
    (seeds_dir / "floods.txt").write_text(FLOODS, "utf-8")
    mkdir, replace = os.mkdir, os.replace

    def read_only_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if _inside(index_dir, path):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        mkdir(path, *args, **kwargs)

    def read_only_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if _inside(index_dir, dst):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only_mkdir)
    result = _invoke_index(seeds_dir, index_dir)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "error: the index folder" in result.output and "not writable" in result.output
    assert "writable folder" in result.output and "Traceback" not in result.output

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "replace", read_only_replace)
    with pytest.raises(IndexWriteError, match="not writable"):
        fake_service.index()
    monkeypatch.undo()
    _still_answers(fake_service, index_dir, before)


class _FullDisk(sqlite3.Connection):
    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        raise sqlite3.OperationalError("database or disk is full")


def _sqlite_full(monkeypatch: pytest.MonkeyPatch) -> None:
    connect = sqlite3.connect

    def full(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if ".tmp-" in str(database):  # only the generation being written
            kwargs["factory"] = _FullDisk
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", full)


def _faiss_full(monkeypatch: pytest.MonkeyPatch) -> None:
    import faiss

    def full(index: Any, path: str) -> None:
        raise RuntimeError("Error in faiss::FileIOWriter::operator(): write error in "
                           f"{path}: 0 != 4096 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", full)


def _numpy_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    # The .npy files are created full size (sparse) and their rows written as vectors come.
    monkeypatch.setattr(os, "pwrite", full)


@pytest.mark.parametrize("fault", [_sqlite_full, _faiss_full, _numpy_full],
                         ids=["sqlite", "faiss", "numpy"])
def test_full_disk_is_a_clear_error_and_the_old_index_answers(
        fake_service: QabotService, seeds_dir: Path, index_dir: Path,
        monkeypatch: pytest.MonkeyPatch, fault: Callable[[pytest.MonkeyPatch], None]) -> None:
    fake_service.index()
    before = _state(index_dir)
    (seeds_dir / "floods.txt").write_text(FLOODS, "utf-8")
    fault(monkeypatch)
    result = _invoke_index(seeds_dir, index_dir)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "error: the disk holding" in result.output and "is full" in result.output
    assert "free some disk space" in result.output and "Traceback" not in result.output
    with pytest.raises(IndexWriteError, match="is full"):
        fake_service.index(rebuild=True)
    monkeypatch.undo()
    _still_answers(fake_service, index_dir, before)


@pytest.mark.parametrize("command", [("index",), ("index", "--rebuild"), ("ask", ARRESTED)])
def test_index_option_naming_a_file_is_a_clear_error(seeds_dir: Path, tmp_path: Path,
                                                     command: tuple[str, ...]) -> None:
    not_a_folder = tmp_path / "indexes.txt"
    not_a_folder.write_text("my notes\n")
    result = _cli(seeds_dir, not_a_folder, *command)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"error: the index folder {not_a_folder} is a file" in result.stderr
    assert "--index" in result.stderr
    assert not_a_folder.read_text() == "my notes\n"


# --------------------------------------------------------------------------- 6: parse progress


def test_build_reports_parsing_progress_before_embedding(fake_service: QabotService,
                                                         seeds_dir: Path) -> None:
    (seeds_dir / "floods.txt").write_text(FLOODS, "utf-8")
    events: list[tuple[str, int, int]] = []
    fake_service.index(progress=lambda stage, done, total: events.append((stage, done, total)))
    parsing = [e for e in events if e[0] == "parsing"]
    assert parsing == [("parsing", n, 2) for n in range(3)]
    assert events.index(parsing[-1]) < events.index(next(e for e in events
                                                         if e[0] == "embedding"))


def test_cli_index_shows_a_parsing_bar_on_a_terminal(seeds_dir: Path, index_dir: Path) -> None:
    for n in range(5):
        (seeds_dir / f"floods{n}.txt").write_text(FLOODS, "utf-8")
    leader, follower = pty.openpty()
    # A new pty is 0 columns wide, and tqdm draws nothing into that.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        proc = subprocess.Popen(
            [*QABOT, "index", "--seeds", str(seeds_dir), "--index", str(index_dir)],
            stdout=subprocess.PIPE, stderr=follower, cwd=ROOT, text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **FAKE_ENV})
        os.close(follower)
        terminal = b""
        while True:  # drain the terminal until the process closes it
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the other end is closed
                break
            if not chunk:
                break
            terminal += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    assert proc.returncode == 0 and "Indexed 6 articles" in out
    assert b"parsing" in terminal and b"/6" in terminal  # "parsing: ... n/6 [.. file/s]"
