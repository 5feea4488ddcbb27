"""Dates as qabot reads and shows them: parsing with dateparser (absolute or relative to a
known day), ISO 8601 text for storing and comparing, and a short form for citations."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

_SETTINGS = {"PREFER_DATES_FROM": "past", "PREFER_DAY_OF_MONTH": "first",
             "RETURN_AS_TIMEZONE_AWARE": False}
#: A dateline must name at least a day and a month, absolutely ("Jan 8", "8 January 2022"):
#: "March", "2020", "Saturday" or "yesterday" at the top of a story are no publication date.
_DATELINE_SETTINGS = {**_SETTINGS, "REQUIRE_PARTS": ["day", "month"],
                      "PARSERS": ["custom-formats", "absolute-time"]}
#: The label a date line may start with ("Published 8 Jan 2022", "Updated: Jan 8, 2022").
_LABEL_RE = re.compile(r"^(?:(?:first|last)\s+)?(?:published|posted|updated|dated?|on)\b\s*:?\s*",
                       re.IGNORECASE)


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


def iso_day(text: str) -> str | None:
    """A date a file's metadata gives ("2022-01-08T10:00:00Z", "Jan 8, 2022", "1641600000") as
    an ISO day ("2022-01-08"); None when it names no day."""
    try:
        day = parse_date(text)
    except (ValueError, OverflowError):  # dateparser on out-of-range numbers
        return None
    return day.isoformat() if day is not None else None


def dateline_day(text: str, relative_to: date | None = None) -> date | None:
    """The day a dateline or date line names ("Jan 8", "Published 8 Jan 2022", "Monday,
    3 January"), with its label dropped; None unless it names a day and month absolutely. A
    missing year is the latest one that puts the day on or before ``relative_to``."""
    settings: dict[str, Any] = dict(_DATELINE_SETTINGS)
    if relative_to is not None:
        settings["RELATIVE_BASE"] = datetime.combine(relative_to, datetime.min.time())
    candidate = _LABEL_RE.sub("", text.strip()).strip(" ,.;:-")
    if not candidate or not any(c.isdigit() for c in candidate):
        return None
    try:
        found = _parser().parse(candidate, languages=["en"], settings=settings)
    except (ValueError, OverflowError):
        return None
    return found.date() if found is not None else None


def timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) in UTC as ISO 8601 text with microseconds
    ("2026-12-03T13:45:12.123456Z"): files indexed a moment apart still sort in arrival order,
    and as text it sorts after its own day ("2026-12-03") and before the next, as dates do."""
    moment = moment or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str | None) -> date | None:
    """The day an ISO 8601 date or timestamp ("2022-01-08", "2022-01-08T10:00:00Z") names."""
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def stated_day(text: str | None) -> date | None:
    """The day an article itself gives (stored as a plain ISO day, "2022-01-08"); None for the
    time qabot first indexed an undated file ("2026-12-03T13:45:12.123456Z"), which orders
    articles but says nothing of the days their text means by "on Friday"."""
    return from_iso(text) if text and len(text) == 10 else None


def short(day: date, today: date | None = None) -> str:
    """"Jan 8" within the current year, "Jan 8, 2022" otherwise."""
    today = today or date.today()
    shown = f"{day:%b} {day.day}"
    return shown if day.year == today.year else f"{shown}, {day.year}"
