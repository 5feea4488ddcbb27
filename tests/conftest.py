"""Shared fixtures: a copy of the seed corpus, settings pointing into tmp dirs, the fake embedder,
and the real model (session-scoped: it loads once for the whole suite)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from qabot.config import Settings, load_settings  # noqa: E402
from qabot.embedding import Embedder, FakeEmbedder, load_embedder  # noqa: E402
from qabot.service import QabotService  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_a673f91f4b4f9cfb.txt"
QABOT = [sys.executable, "-m", "qabot.cli"]


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A seeds folder holding a copy of the project's seed article."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """An empty index folder."""
    return tmp_path / "indexes"


@pytest.fixture
def make_settings(seeds_dir: Path, index_dir: Path) -> Callable[..., Settings]:
    """Settings for the tmp seeds and index folders, ignoring the developer's environment."""
    def make(**overrides: object) -> Settings:
        values = {"seeds_dir": seeds_dir, "index_dir": index_dir, **overrides}
        return load_settings(ROOT / "config" / "qabot.toml", **values)
    return make


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    """A fresh deterministic fake embedder (counts what it embeds)."""
    return FakeEmbedder()


@pytest.fixture
def fake_service(make_settings: Callable[..., Settings], fake_embedder: FakeEmbedder) -> QabotService:
    """A service over the seed copy using the fake embedder; not yet indexed."""
    return QabotService(make_settings(), embedder=fake_embedder)


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session."""
    return load_embedder()


@pytest.fixture(scope="session")
def real_seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder: Embedder) -> Path:
    """The seed article indexed once with the real model; returns the index folder."""
    base = tmp_path_factory.mktemp("real")
    (base / "seeds").mkdir()
    shutil.copy(SEED, base / "seeds" / SEED.name)
    settings = load_settings(ROOT / "config" / "qabot.toml", seeds_dir=base / "seeds",
                             index_dir=base / "indexes")
    QabotService(settings, embedder=real_embedder).index()
    return base / "indexes"


@pytest.fixture(scope="session")
def real_service(real_seed_index: Path, real_embedder: Embedder) -> QabotService:
    """A service answering from the real seed index with the real model."""
    settings = load_settings(ROOT / "config" / "qabot.toml",
                             seeds_dir=real_seed_index.parent / "seeds", index_dir=real_seed_index)
    return QabotService(settings, embedder=real_embedder)


def run_qabot(*args: str, env: dict[str, str] | None = None, input: str | None = None,
              timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the real ``qabot`` CLI in a subprocess."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([*QABOT, *args], capture_output=True, text=True, env=full_env,
                          input=input, timeout=timeout, cwd=ROOT)


REPL_PROMPT = "qabot>"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def strip_ansi(text: str) -> str:
    """What a terminal screen says: ``text`` without escape sequences and carriage returns."""
    return ANSI.sub("", text).replace("\r", "")


def repl_exchange(child: Any, line: str, marker: str) -> str:
    """Send ``line`` to a REPL under pexpect, wait for ``marker`` and then the next prompt; the
    screen text between, escapes removed."""
    child.sendline(line)
    child.expect_exact(marker)
    seen = child.before + child.after
    child.expect_exact(REPL_PROMPT)
    return strip_ansi(seen + child.before)
