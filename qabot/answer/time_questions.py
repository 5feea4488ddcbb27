"""Questions about time: "What happened on Wednesday?", "What is the latest on the protests?",
"What changed since yesterday?".

``time_question`` recognises them with a small set of rules and says what they ask: the events
of one day (``ON_DAY``), the newest report on a topic (``LATEST``) or what is new since a day
(``SINCE``), with the day phrase and the topic, if any. The answer path reads the day against
the newest article's date (``days.resolve_day``) and answers from the latest articles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .days import NAMED_DAY


class TimeAsk(str, Enum):
    """What a question about time asks for."""

    ON_DAY = "on_day"  # what happened on a given day
    LATEST = "latest"  # the newest report (on a topic)
    SINCE = "since"  # what is new since a given day


@dataclass(frozen=True, slots=True)
class TimeQuestion:
    """A recognised question about time: what it asks, the day it names and its topic."""

    ask: TimeAsk
    day: str | None = None  # "Wednesday", "yesterday", "Jan 12"
    topic: str | None = None  # "the protests"


_ABOUT = r"\s+(?:on|about|in|with|to|at|for|from|regarding)\s+"
_AFTER = rf"(?:{_ABOUT}(?P<after>.+?))?"  # "what happened yesterday in Marsk"
_DAY = rf"(?P<day>(?:on\s+)?(?:{NAMED_DAY.pattern}))"
_TOPIC = rf"(?:{_ABOUT}(?P<topic>.+?))?"
_END = r"\s*[?.!]*\s*$"
_START = r"^\s*(?:(?:and|so|ok(?:ay)?|then|now)\b,?\s*)?"  # "And what is the latest?"
_RULES: list[tuple[TimeAsk, re.Pattern[str]]] = [
    (TimeAsk.SINCE, re.compile(
        rf"{_START}what(?:'s|\s+has|\s+have|\s+is)?\s+(?:changed|happened|new)"
        rf"{_TOPIC}\s+since\s+{_DAY}{_END}", re.I)),
    (TimeAsk.ON_DAY, re.compile(
        rf"{_START}what\s+(?:happened|was\s+new|went\s+on){_TOPIC}\s+{_DAY}{_AFTER}{_END}", re.I)),
    (TimeAsk.LATEST, re.compile(
        rf"{_START}(?:(?:what(?:'s|\s+is|\s+are)|any|give\s+me)\s+)?(?:the\s+)?"
        rf"(?:latest|newest|most\s+recent)(?:\s+(?:news|reports?|updates?))?{_TOPIC}{_END}", re.I)),
    (TimeAsk.LATEST, re.compile(rf"{_START}what(?:'s|\s+is)\s+new{_TOPIC}{_END}", re.I)),
]


def time_question(question: str) -> TimeQuestion | None:
    """What ``question`` asks about time, or None when it is not a question about time."""
    for ask, rule in _RULES:
        match = rule.match(question)
        if match is None:
            continue
        found = match.groupdict()
        topic = found.get("topic") or found.get("after")
        return TimeQuestion(ask, day=found.get("day"), topic=topic.strip() if topic else None)
    return None
