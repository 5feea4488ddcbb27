"""Questions to evaluate on: our JSON Lines format and SQuAD v1.1 / v2.0 JSON, and sampling.

Our format holds one object per line (``question``, ``answers``, ``support``, ``answerable``),
asked against an already built index. A SQuAD file brings its own articles, which become a
temporary corpus (``squad_index.py``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import EvalDataError


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One question to ask; ``article``/``paragraph`` locate SQuAD's gold paragraph."""

    id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool
    support: str = ""
    article: int | None = None
    paragraph: int | None = None


@dataclass(frozen=True, slots=True)
class SquadSet:
    """A SQuAD file: article titles with their paragraphs, and the questions."""

    version: str
    articles: tuple[tuple[str, tuple[str, ...]], ...]
    questions: tuple[EvalQuestion, ...]


def load_questions_jsonl(path: Path) -> list[EvalQuestion]:
    """Questions of a qabot eval JSONL file (one object per line)."""
    questions: list[EvalQuestion] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = str(record["question"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalDataError(f"{path}:{number}: not a qabot eval line ({exc})") from exc
        answers = tuple(str(a) for a in record.get("answers") or ())
        questions.append(EvalQuestion(
            id=str(record.get("id", number)), question=question, answers=answers,
            answerable=bool(record.get("answerable", bool(answers))),
            support=str(record.get("support") or "")))
    if not questions:
        raise EvalDataError(f"{path} holds no questions")
    return questions


def load_squad(path: Path) -> SquadSet:
    """Articles and questions of a SQuAD v1.1 or v2.0 JSON file."""
    try:
        data = json.loads(path.read_text("utf-8"))
        records = data["data"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise EvalDataError(f"{path} is not SQuAD JSON: {exc}") from exc
    articles: list[tuple[str, tuple[str, ...]]] = []
    questions: list[EvalQuestion] = []
    for a, record in enumerate(records):
        paragraphs = []
        for p, paragraph in enumerate(record["paragraphs"]):
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(x["text"] for x in qa.get("answers", [])))
                questions.append(EvalQuestion(
                    id=str(qa["id"]), question=qa["question"], answers=answers,
                    answerable=not impossible and bool(answers), article=a, paragraph=p))
        articles.append((str(record.get("title", f"article {a}")).replace("_", " "),
                         tuple(paragraphs)))
    return SquadSet(version=str(data.get("version", "")), articles=tuple(articles),
                    questions=tuple(questions))


def is_squad_file(path: Path) -> bool:
    """True when ``path`` looks like SQuAD JSON (a JSON object with ``data``), not JSONL."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"cannot read {path}: {exc}") from exc
    return head.lstrip().startswith("{") and '"data"' in head and path.suffix != ".jsonl"


def sample(items: Sequence[EvalQuestion], limit: int | None,
           seed: int | None = None) -> list[EvalQuestion]:
    """``limit`` questions spread evenly over ``items`` (or a random sample when ``seed``)."""
    if limit is None or limit <= 0 or limit >= len(items):
        return list(items)
    if seed is not None:
        picked = sorted(random.Random(seed).sample(range(len(items)), limit))
    else:
        picked = [i * len(items) // limit for i in range(limit)]
    return [items[i] for i in picked]
