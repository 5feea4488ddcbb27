"""When and by whom an article was published, as far as its file tells.

Every parser records the date and publisher its format carries (front matter, JSON fields, HTML
meta); :func:`date_and_publisher` then normalises the date to an ISO day, else looks for a
dateline or date line at the top of the text, and falls back to the seeds sub-folder the file is
in for the publisher. An article still undated here is dated by the index, by when it first
indexed the file.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..dates import dateline_day, iso_day
from ..schema import Article

log = logging.getLogger(__name__)

#: A paragraph this short may be a date line of its own ("January 8, 2022").
_DATE_LINE_CHARS = 60
#: A dateline ends within this many characters: "ALMATY, Jan 8 (Reuters) - ...".
_DATELINE_CHARS = 80
#: Top paragraphs looked at: a byline or a date line may come before the first real one.
_TOP_PARAGRAPHS = 3
_DATELINE_END_RE = re.compile(r"\s(?:-|--|–|—)\s")
_AGENCY_RE = re.compile(r"\([^)]*\)")


def date_and_publisher(article: Article) -> Article:
    """``article`` with its date as an ISO day ("file" when its metadata gave one, "text" when
    its dateline did) and its publisher, else its seeds sub-folder's name, when known."""
    changes: dict[str, str | None] = {}
    day = iso_day(article.date) if article.date else None
    if day is not None:
        changes.update(date=day, dated_by="file")
    else:
        if article.date:
            log.debug("%s: cannot read the date %r", article.key, article.date)
        day = text_date(article)
        changes.update(date=day, dated_by="text" if day else None)
    if not article.publisher:
        changes["publisher"] = folder_publisher(article.source)
    return dataclasses.replace(article, **changes)


def text_date(article: Article) -> str | None:
    """The ISO day a dateline ("ALMATY, Jan 8 (Reuters) -") or a date line ("Published
    8 Jan 2022") at the top of the article names; dates further down are the story's, not its
    publication's, and are never read. A short line before the first paragraph is read as a
    heading, so the first paragraph's section is looked at too."""
    top = article.paragraphs[:_TOP_PARAGRAPHS]
    lines = [top[0].section] if top and top[0].section else []
    for text in lines + [paragraph.text for paragraph in top]:
        if len(text) <= _DATE_LINE_CHARS:
            day = dateline_day(text)
            if day is not None:
                return day.isoformat()
            continue  # a byline or a kicker: the next paragraph may still hold the date
        end = _DATELINE_END_RE.search(text[:_DATELINE_CHARS])
        if end is not None:
            head = _AGENCY_RE.sub(" ", text[:end.start()])
            for candidate in (head.partition(",")[2], head):
                day = dateline_day(candidate)
                if day is not None:
                    return day.isoformat()
        return None  # the first paragraph of the story proper
    return None


def folder_publisher(name: str) -> str | None:
    """The seeds sub-folder a seed file is in ("reuters/x.txt" → "reuters"), or None."""
    parts = PurePosixPath(name).parts
    return parts[0] if len(parts) > 1 else None


def url_host(url: str | None) -> str | None:
    """The host of ``url`` without "www." ("https://www.reuters.com/x" → "reuters.com")."""
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    return host.removeprefix("www.")
