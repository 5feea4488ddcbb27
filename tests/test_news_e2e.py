"""Issue 14's acceptance, end to end through the real `qabot` command and the real model: a story
told by three articles whose figure changes. The newest figure is the answer, dated, with the
earlier one mentioned; the same when undated `.txt` files arrive one at a time (dated by arrival)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import run_qabot

QUESTION = "How many people have been arrested in Veloria?"
DAY_ONE = ("Police in Veloria said more than 3,800 people have been arrested since the fuel "
           "protests began.")
DAY_TWO = "Officials in Veloria said about 6,200 people have been arrested so far."
DAY_THREE = ("Nearly 10,000 people have been arrested in Veloria, the interior ministry said on "
             "Thursday.")
OTHER = "The protests began over the price of fuel in the port city of Marsk."


def _where(base: Path) -> list[str]:
    return ["--seeds", str(base / "seeds"), "--index", str(base / "indexes")]


def _ask(base: Path, *extra: str) -> dict[str, object]:
    result = run_qabot("ask", "--json", QUESTION, *extra, *_where(base))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _index(base: Path) -> None:
    result = run_qabot("index", *_where(base))
    assert result.returncode == 0, result.stderr


@pytest.mark.model
def test_newest_figure_wins_across_the_four_formats(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "day1.jsonl").write_text(json.dumps({
        "title": "Veloria arrests climb", "date": "2022-01-08", "source": "wire",
        "text": f"{DAY_ONE}\n\n{OTHER}"}) + "\n", encoding="utf-8")
    (seeds / "day2.md").write_text(f"---\ntitle: Veloria crackdown\ndate: 2022-01-10\n---\n\n"
                                   f"# Veloria crackdown\n\n{DAY_TWO}\n\n{OTHER}\n",
                                   encoding="utf-8")
    (seeds / "day3.html").write_text(
        '<html><head><title>Veloria arrests near 10,000</title>'
        '<meta property="article:published_time" content="2022-01-13T09:00:00Z"></head>'
        f"<body><h1>Veloria arrests near 10,000</h1><p>{DAY_THREE}</p><p>{OTHER}</p>"
        "</body></html>", encoding="utf-8")
    (seeds / "day0.txt").write_text(f"Fuel protests spread in Veloria\nVELORIA, Jan 6 (Wire) - "
                                    f"{OTHER}\n", encoding="utf-8")
    _index(tmp_path)
    answer = _ask(tmp_path)
    assert "10,000" in str(answer["answer"])
    citations = answer["citations"]
    assert isinstance(citations, list) and citations[0]["published"] == "2022-01-13"
    earlier = answer.get("earlier")
    assert isinstance(earlier, list) and earlier
    assert any("6,200" in e["span"] and e["published"] == "2022-01-10" for e in earlier)
    plain = run_qabot("ask", QUESTION, *_where(tmp_path))
    assert "Jan 13" in plain.stdout and "earlier" in plain.stdout.lower()


@pytest.mark.model
def test_undated_files_are_ordered_by_arrival(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    # Names run against arrival order, so neither name nor mtime can stand in for arrival.
    for name, text in (("zeta.txt", DAY_ONE), ("mu.txt", DAY_TWO), ("alpha.txt", DAY_THREE)):
        (seeds / name).write_text(f"Veloria update\n{text}\n{OTHER}\n", encoding="utf-8")
        _index(tmp_path)
        time.sleep(1.1)
    answer = _ask(tmp_path)
    assert "10,000" in str(answer["answer"])
    citations = answer["citations"]
    assert isinstance(citations, list) and citations[0]["source"] == "alpha.txt"
    earlier = answer.get("earlier")
    assert isinstance(earlier, list) and [e["source"] for e in earlier][:1] == ["mu.txt"]
    # A re-index of unchanged files keeps the arrival dates.
    _index(tmp_path)
    assert _ask(tmp_path)["citations"][0]["source"] == "alpha.txt"  # type: ignore[index]


@pytest.mark.model
def test_since_filter_answers_from_older_articles_only_when_asked(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "day1.md").write_text(f"---\ntitle: Day one\ndate: 2022-01-08\n---\n\n{DAY_ONE}\n",
                                   encoding="utf-8")
    (seeds / "day3.md").write_text(f"---\ntitle: Day three\ndate: 2022-01-13\n---\n\n"
                                   f"{DAY_THREE}\n", encoding="utf-8")
    _index(tmp_path)
    assert "10,000" in str(_ask(tmp_path, "--since", "2022-01-12")["answer"])
    nothing = run_qabot("ask", QUESTION, "--since", "2023-01-01", *_where(tmp_path))
    assert nothing.returncode != 0
    assert "no article matches" in (nothing.stdout + nothing.stderr).lower()
