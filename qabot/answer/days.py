"""Days an article names relative to its own date: "last Sunday", "on Thursday", "yesterday".

A dated article's relative days are resolved against its publication day with
``qabot.dates.parse_date`` and shown after the phrase: "on Wednesday (Jan 12)". A bare weekday
("on Friday", "this Friday") is the most recent such day, the publication day included ("said
on Thursday" in Thursday's paper), as news reports use them; "next Monday" is left alone.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from ..dates import parse_date, short

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH = (r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?")
# "last Sunday", "on Thursday", "this Friday", "yesterday", "today"; not "next Monday".
RELATIVE_DAY = re.compile(rf"(?<!next )\b(?:(?:last|this|on)\s+)?(?:{'|'.join(_WEEKDAYS)})\b"
                          r"|\byesterday\b|\btoday\b", re.I)
# The same, or a month and day ("Jan 12", "12 January"): a day a question may name.
NAMED_DAY = re.compile(rf"{RELATIVE_DAY.pattern}|\b{_MONTH}\s+\d{{1,2}}\b|"
                       rf"\b\d{{1,2}}\s+{_MONTH}", re.I)
# A phrase already followed by its day: "(Jan 12)", "Monday, Jan 10", "Monday 10 January".
_NOTED = re.compile(rf"\s*\(|,?\s+{_MONTH}\s+\d|,?\s+\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}",
                    re.I)


def resolve_day(phrase: str, anchor: date) -> date | None:
    """The day ``phrase`` ("on Wednesday", "last Sunday", "yesterday", "Jan 12") names in an
    article published on ``anchor``; None when it names none."""
    words = phrase.lower().split()
    if words and words[0] in ("on", "this"):  # "this Friday" in a report: the one just gone
        words = words[1:]
    if len(words) == 1 and words[0] in _WEEKDAYS:
        back = (anchor.weekday() - _WEEKDAYS.index(words[0])) % 7
        return anchor - timedelta(days=back)
    if words == ["yesterday"]:
        return anchor - timedelta(days=1)
    if words == ["today"]:
        return anchor
    return parse_date(" ".join(words), relative_to=anchor) if words else None


def note_relative_days(text: str, anchor: date | None) -> str:
    """``text`` with each relative day followed by the day it names ("on Thursday (Jan 6)"),
    when the article's day ``anchor`` is known."""
    if anchor is None or not text:
        return text
    parts: list[str] = []
    end = 0
    for match in RELATIVE_DAY.finditer(text):
        day = resolve_day(match.group(0), anchor)
        if day is None or _NOTED.match(text, match.end()):
            continue
        parts.append(f"{text[end:match.end()]} ({short(day, today=anchor)})")
        end = match.end()
    return "".join(parts) + text[end:]


def days_in(text: str, anchor: date) -> set[date]:
    """The days ``text`` names, read in an article published on ``anchor``."""
    found = (resolve_day(m.group(0), anchor) for m in NAMED_DAY.finditer(text))
    return {day for day in found if day is not None}
