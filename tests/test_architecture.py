"""The house rules of ARCHITECTURE.md, checked: one-way imports (import-linter's contracts in
pyproject.toml), small modules, and the environment read only by ``qabot/config.py``."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qabot"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_MODULE_LINES = 300


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the package under ``root`` with the contracts of ``root``."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"),
                           "--no-cache"], cwd=root, capture_output=True, text=True, timeout=240,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].split("kept")[0]


@pytest.mark.parametrize(("module", "wrong_import", "contract"), [
    ("corpus/__init__.py", "from qabot import service", "one-way layers"),
    ("index/__init__.py", "import click", "front-end libraries"),
    ("render.py", "import faiss", "model runtimes"),
    ("corpus/formats.py", "from qabot.corpus import reading", "no import cycles"),
])
def test_a_wrong_import_breaks_the_check(tmp_path: Path, module: str, wrong_import: str,
                                         contract: str) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(PACKAGE, copy / "qabot", ignore=shutil.ignore_patterns("__pycache__", "*.onnx"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / "qabot" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{wrong_import}  # deliberate\n",
                      encoding="utf-8")
    result = _lint_imports(copy)
    assert result.returncode != 0
    assert contract in result.stdout


def test_no_module_is_over_300_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_only_config_reads_the_environment() -> None:
    readers = []
    for path in _modules():
        if path == PACKAGE / "config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}:
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []
