"""JSON Lines feeds (``.jsonl``): one article per line; a bad line is skipped as ``name:line``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..schema import Article
from .cleaning import SURROGATE_RE, clean
from .dating import url_host
from .paragraphs import ends_with_punctuation, headline, is_short, lines_to_paragraphs
from .skipped import SkippedFile, skip

log = logging.getLogger(__name__)

#: The fields a feed may give the publication date in, first found wins.
_DATE_KEYS = ("date", "published", "published_at")


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key in _DATE_KEYS:
        value = str(value)  # a Unix timestamp
    if not isinstance(value, str):
        return None
    return clean(value) or None


def _date_and_publisher(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """The record's raw publication date and its publisher (``source``, else the url's host)."""
    dates = (_optional_str(record, key) for key in _DATE_KEYS)
    return (next((d for d in dates if d), None),
            _optional_str(record, "source") or url_host(_optional_str(record, "url")))


def parse_jsonl(name: str, text: str) -> tuple[list[Article], list[SkippedFile]]:
    """One article per non-blank line; a bad line is skipped as ``name:line``."""
    articles: list[Article] = []
    skipped: list[SkippedFile] = []
    stem = Path(name).stem
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{line_no}"
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            skipped.append(skip(where, f"malformed JSON on line {line_no}: {msg}"))
            continue
        if not isinstance(record, dict):
            skipped.append(skip(where, f"line {line_no} is not a JSON object"))
            continue
        damaged = [key for key in ("title", "text", "date", "url")
                   if isinstance(record.get(key), str) and SURROGATE_RE.search(record[key])]
        if damaged:  # valid JSON ("\ud800"), but not a character UTF-8 can store
            log.warning("%s: invalid characters (lone surrogates) in %s replaced with U+FFFD",
                        where, ", ".join(repr(key) for key in damaged))
        body = record.get("text")
        if not isinstance(body, str):
            what = "missing" if body is None else f"not a string ({type(body).__name__})"
            skipped.append(skip(where, f"line {line_no}: 'text' is {what}"))
            continue
        lines = [ln for ln in (clean(raw) for raw in body.splitlines()) if ln]
        if not lines:
            skipped.append(skip(where, f"line {line_no}: 'text' is empty"))
            continue
        title = _optional_str(record, "title")
        if title is None:
            first = lines[0]
            if is_short(first):
                title = first
                if len(lines) > 1 and not ends_with_punctuation(first):
                    lines = lines[1:]  # a headline, not body text
            else:
                title = f"{stem} #{line_no}"
        paragraphs = lines_to_paragraphs(where, lines)
        if not paragraphs:
            skipped.append(skip(where, "no paragraphs found"))
            continue
        date, publisher = _date_and_publisher(record)
        articles.append(Article(key=where, source=name, title=headline(where, title),
                                paragraphs=paragraphs, date=date,
                                url=_optional_str(record, "url"), publisher=publisher))
    return articles, skipped
