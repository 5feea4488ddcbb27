"""What an HTML page says about itself: its <title>, publication date, URL and publisher.

The date comes from the head's meta tags (``article:published_time`` and kin), else JSON-LD
``datePublished``, else the first ``<time datetime>``; the publisher from ``og:site_name``
(or JSON-LD ``publisher.name``), else the host of the canonical or ``og:url`` URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .cleaning import clean
from .dating import url_host

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

_DATE_META_NAMES = frozenset({"date", "pubdate", "publishdate", "publish-date", "dc.date",
                              "article:published_time", "datepublished"})
_SITE_META_NAMES = frozenset({"og:site_name", "application-name"})


@dataclass(frozen=True, slots=True)
class PageMeta:
    """A page's own description of itself; any part may be missing."""

    title: str | None = None
    date: str | None = None
    url: str | None = None
    publisher: str | None = None


def page_meta(soup: BeautifulSoup) -> PageMeta:
    """The <title>, date, canonical URL and publisher of a parsed page (before it is cleaned)."""
    title_tag = soup.find("title")
    meta = _meta_tags(soup)
    linked = _json_ld(soup)
    date = meta.get("date") or _text(linked.get("datePublished")) or _time_datetime(soup)
    url = meta.get("url")
    canonical = soup.find("link", rel="canonical")
    if canonical is not None and canonical.get("href"):
        url = clean(str(canonical.get("href"))) or url
    publisher = (meta.get("publisher") or _text(_name_of(linked.get("publisher")))
                 or url_host(url))
    return PageMeta(title=(clean(title_tag.get_text()) if title_tag else None) or None,
                    date=date, url=url, publisher=publisher)


def _meta_tags(soup: BeautifulSoup) -> dict[str, str]:
    """The first date, og:url and site name among the page's ``<meta>`` tags."""
    found: dict[str, str] = {}
    for meta in soup.find_all("meta"):
        key = str(meta.get("name") or meta.get("property") or meta.get("itemprop") or "").lower()
        content = clean(str(meta.get("content") or ""))
        if not content:
            continue
        if key in _DATE_META_NAMES:
            found.setdefault("date", content)
        elif key == "og:url":
            found.setdefault("url", content)
        elif key in _SITE_META_NAMES:
            found.setdefault("publisher", content)
    return found


def _json_ld(soup: BeautifulSoup) -> dict[str, Any]:
    """The first JSON-LD object of the page that has a ``datePublished`` (``@graph`` and lists
    searched), else the first object; {} when there is none or it is not valid JSON."""
    objects: list[dict[str, Any]] = []
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or "")
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                objects.append(item)
                stack.extend(v for v in [item.get("@graph")] if isinstance(v, list))
    dated = [o for o in objects if o.get("datePublished")]
    return (dated or objects or [{}])[0]


def _time_datetime(soup: BeautifulSoup) -> str | None:
    """The ``datetime`` of the page's first ``<time>`` element that has one."""
    tag = soup.find("time", attrs={"datetime": True})
    return clean(str(tag.get("datetime"))) or None if tag is not None else None


def _name_of(value: Any) -> Any:
    """A JSON-LD organisation's name, or the value itself when it is a plain string."""
    return value.get("name") if isinstance(value, dict) else value


def _text(value: Any) -> str | None:
    return clean(value) or None if isinstance(value, str) else None
