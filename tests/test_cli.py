"""The `qabot` command line end to end, with the real model, as a person would run it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import SEED, run_qabot

BAD_JSONL = ('{"title": "Harbour reopens", "text": "The harbour of Port Elin reopened on Monday '
             'after repairs that cost 12 million euros."}\n'
             '{"title": "broken", "text": \n')
CP1252 = ("Café owners protest in Lisbon.\n"
          "About 450 café owners marched through Lisbon on Saturday against the new “tourism "
          "tax”, the organisers said.\n")


def _where(base: Path) -> list[str]:
    return ["--seeds", str(base / "seeds"), "--index", str(base / "indexes")]


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A seeds folder with the seed and four bad inputs, indexed once; returns (base, output)."""
    base = tmp_path_factory.mktemp("messy")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (seeds / "legacy.txt").write_bytes(CP1252.encode("cp1252"))
    (seeds / "feed.jsonl").write_text(BAD_JSONL, encoding="utf-8")
    result = run_qabot("index", *_where(base))
    assert result.returncode == 0, result.stderr
    return base, result.stdout + result.stderr


def test_bad_files_are_named_and_skipped_and_the_rest_indexed(messy: tuple[Path, str]) -> None:
    _, output = messy
    for name in ("empty.txt", "image.txt", "feed.jsonl:2"):
        assert name in output
    assert "Indexed 3 articles" in output  # the seed, the cp1252 article, the good JSONL line
    assert "skipped 3" in output
    assert "Traceback" not in output


def test_cp1252_article_is_answerable(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("ask", "--json", "How many café owners marched through Lisbon?",
                       *_where(base))
    answer = json.loads(result.stdout)
    assert "450" in answer["answer"] and answer["citations"][0]["source"] == "legacy.txt"
    assert "“tourism tax”" in answer["citations"][0]["text"]


def test_mission_question_in_json(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("ask", "--json", "how many were arrested?", *_where(base))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"question", "answer", "span", "abstained", "citations", "mode"}
    assert answer["abstained"] is False and "3,800" in answer["answer"]
    assert answer["mode"] == "extractive"  # no language model is configured
    first = answer["citations"][0]
    assert set(first) == {"source", "paragraph", "text", "score", "published"}
    assert first["source"] == SEED.name
    assert "more than 3,800 people have been arrested" in first["text"]
    scores = [c["score"] for c in answer["citations"]]
    assert scores == sorted(scores, reverse=True) or len(scores) == 1


def test_human_output_names_file_and_paragraph(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("ask", "how many were arrested?", *_where(base))
    assert "3,800" in result.stdout.splitlines()[0]
    assert f"[1] {SEED.name} ¶" in result.stdout


def test_out_of_corpus_question_is_refused(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("ask", "--json", "Who painted the ceiling of the Sistine Chapel?",
                       *_where(base))
    answer = json.loads(result.stdout)
    assert answer["abstained"] is True and answer["answer"] is None and answer["span"] is None
    human = run_qabot("ask", "Who painted the ceiling of the Sistine Chapel?", *_where(base))
    assert "do not say" in human.stdout


def test_questions_from_stdin_are_answered_line_by_line(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("ask", "--json", *_where(base),
                       input="how many were arrested?\n\nWhen did Port Elin's harbour reopen?\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in lines] == ["how many were arrested?",
                                              "When did Port Elin's harbour reopen?"]
    assert lines[1]["citations"][0]["source"] == "feed.jsonl"


def test_missing_seeds_folder_is_one_clear_error(tmp_path: Path) -> None:
    result = run_qabot("index", "--seeds", str(tmp_path / "nope"), "--index", str(tmp_path / "i"))
    assert result.returncode != 0
    assert "seeds folder not found" in result.stderr and "Traceback" not in result.stderr


def test_empty_corpus_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "empty.txt").write_text("")
    result = run_qabot("index", *_where(tmp_path))
    assert result.returncode != 0
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_asking_before_indexing_says_to_run_index(tmp_path: Path) -> None:
    result = run_qabot("ask", "how many were arrested?", *_where(tmp_path))
    assert result.returncode != 0
    assert "qabot index" in result.stderr and "Traceback" not in result.stderr


def test_index_built_with_another_model_is_refused(messy: tuple[Path, str],
                                                   tmp_path: Path) -> None:
    base, _ = messy
    shutil.copytree(base / "indexes", tmp_path / "indexes")
    result = run_qabot("ask", "how many were arrested?", "--seeds", str(base / "seeds"),
                       "--index", str(tmp_path / "indexes"), env={"QABOT_ENCODER": "fake"})
    assert result.returncode != 0
    assert "built with model" in result.stderr and "--rebuild" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_variables_choose_the_folders(messy: tuple[Path, str]) -> None:
    base, _ = messy
    result = run_qabot("stats", env={"QABOT_SEEDS_DIR": str(base / "seeds"),
                                     "QABOT_INDEX_DIR": str(base / "indexes")})
    assert result.returncode == 0, result.stderr
    assert re.search(r"^articles:\s+3$", result.stdout, re.M)


def test_invalid_config_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('top_k = "many"\n')
    result = run_qabot("stats", "--config", str(bad))
    assert result.returncode == 2
    assert "top_k" in result.stderr and "Traceback" not in result.stderr


def test_help_explains_every_command() -> None:
    result = run_qabot("--help")
    for command in ("index", "ask", "stats", "eval", "repl", "telegram"):
        assert command in result.stdout
