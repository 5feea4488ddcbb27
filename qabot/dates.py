"""Dates as qabot reads and shows them: parsing with dateparser (absolute or relative to a
known day), ISO 8601 text for storing and comparing, and a short form for citations."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

_SETTINGS = {"PREFER_DATES_FROM": "past", "PREFER_DAY_OF_MONTH": "first",
             "RETURN_AS_TIMEZONE_AWARE": False}


@lru_cache(maxsize=1)
def _parser() -> Any:
    """dateparser, imported on first use (it takes a moment and most commands never need it)."""
    import dateparser

    return dateparser


def parse_date(text: str, relative_to: date | None = None) -> date | None:
    """The day ``text`` names ("2022-01-07", "Jan 8, 2022", "last Sunday", "yesterday"), read
    relative to ``relative_to`` (default: today) when it is relative; None when it names none."""
    settings: dict[str, Any] = dict(_SETTINGS)
    if relative_to is not None:
        settings["RELATIVE_BASE"] = datetime.combine(relative_to, datetime.min.time())
    found = _parser().parse(text.strip(), languages=["en"], settings=settings)
    return found.date() if found is not None else None


def from_iso(text: str | None) -> date | None:
    """The day an ISO 8601 date or timestamp ("2022-01-08", "2022-01-08T10:00:00Z") names."""
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def short(day: date, today: date | None = None) -> str:
    """"Jan 8" within the current year, "Jan 8, 2022" otherwise."""
    today = today or date.today()
    shown = f"{day:%b} {day.day}"
    return shown if day.year == today.year else f"{shown}, {day.year}"
