"""Publishing furniture and author biographies: paragraphs about the publication, not the news.

Bylines, credits, copyright notices, "Read more:" links and calls to action are dropped anywhere;
an author biography only at the end of an article (see :func:`drop_boilerplate`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

log = logging.getLogger(__name__)

# Furniture is never longer than this many words; an author biography than _BIO_MAX_WORDS.
_FURNITURE_MAX_WORDS = 40
_BIO_MAX_WORDS = 80
_FURNITURE_RES = (
    # a byline: "By Jane Doe", "BY JANE DOE AND JOHN ROE, Reuters"
    re.compile(r"^(?i:by)\s+[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3}"
               r"(?:\s*(?:,|and|&)\s*[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3})*\s*[.|]?$"),
    # credits: "Reporting by …; Editing by …"
    re.compile(r"^\(?(?:additional\s+)?(?:reporting|writing|editing|edited|compiled)\s+by\b",
               re.IGNORECASE),
    # copyright and rights notices
    re.compile(r"©|\(c\)\s*(?:19|20)\d\d|\bcopyright\s+(?:©\s*)?(?:19|20)\d\d"
               r"|\ball rights reserved\b", re.IGNORECASE),
    # republication notes
    re.compile(r"\bthis (?:article|story|post|piece) (?:was |has been |is )?(?:originally |first )?"
               r"(?:published|posted|appeared)\b|\brepublished (?:from|with permission)\b",
               re.IGNORECASE),
    # link lines: "Read more: …", "Related: …"
    re.compile(r"^(?:read more|read also|also read|related|see also|more on this)\s*[:|»>–—-]",
               re.IGNORECASE),
    # calls to action
    re.compile(r"^(?:subscribe|sign up|click here|follow us|like us|join our|download (?:our|the)"
               r" app)\b|\bfollow (?:him|her|them|us|me) on (?:twitter|x|facebook|instagram"
               r"|linkedin|threads|bluesky|mastodon)\b", re.IGNORECASE),
)
_WRITER_NOUNS = ("author|journalist|writer|reporter|correspondent|editor|columnist|contributor"
                 "|freelancer|blogger|novelist|photographer|photojournalist")
# How a biography opens: "Sam is a talented author…", "Jane Doe is an award-winning reporter…"
_BIO_OPENING_RE = re.compile(
    r"^(?:(?i:about the author)\b|(?:[A-Z][\w'’.-]*\s+){1,4}(?:is|has been)\s+(?:an?|the)\s+"
    rf"(?:[\w'’,-]+\s+){{0,6}}?(?:{_WRITER_NOUNS})s?\b)")
# What only a biography says (a news paragraph naming a reporter does not).
_BIO_WORDING_RE = re.compile(
    r"\b(?:passion(?:ate)?|enthusiast|currently (?:works|writes|lives|serves)|works as an?"
    r"|in (?:his|her|their) (?:spare|free) time|follow (?:him|her|them) on|can be reached"
    r"|(?:his|her|their) (?:work|writing) has appeared|contributor (?:to|for|at)"
    r"|years of experience|loves|enjoys)\b", re.IGNORECASE)
# A paragraph that carries a biography on: "He currently works as a writer at …"
_BIO_MORE_RE = re.compile(r"^(?:He|She|They|His|Her|Their)\b")


def is_boilerplate(text: str) -> bool:
    """A short paragraph of publishing furniture (byline, credits, ©, "Read more:", …)."""
    if len(text.split()) > _FURNITURE_MAX_WORDS:
        return False
    return any(pattern.search(text) for pattern in _FURNITURE_RES)


def _is_author_bio(text: str) -> bool:
    """A paragraph that introduces a writer *and* reads like a biography."""
    return (len(text.split()) <= _BIO_MAX_WORDS and _BIO_OPENING_RE.search(text) is not None
            and (text[:5].lower() == "about" or _BIO_WORDING_RE.search(text) is not None))


def drop_boilerplate(name: str, items: Sequence[tuple[str, str | None]]
                      ) -> list[tuple[str, str | None]]:
    """The items without the paragraphs that are about the publication or the author.

    Two rules, so that a news paragraph is never dropped for merely naming a journalist:

    1. Anywhere, a short paragraph (at most 40 words) of publishing furniture: a byline
       ("By Jane Doe"), credits ("Reporting by …"), a copyright or rights notice, a
       republication note ("This article was originally published …"), a link line
       ("Read more: …", "Related: …") or a call to action ("Subscribe …", "Follow us on …").
    2. At the end of the article only, an author biography: a paragraph of at most 80 words
       that introduces someone as a writer ("<Name> is a … journalist/author/reporter…", or
       "About the author") *and* has wording only biographies have ("a passion for",
       "currently works", "follow him on", "years of experience", …), together with the
       paragraphs after it that continue it ("He currently works as …") or are furniture.

    If nothing would be left, nothing is dropped. Each drop is counted in one INFO line.
    """
    keep = [not is_boilerplate(text) for text, _ in items]
    end = len(items)
    while True:  # peel author biographies off the end, last first
        start = end - 1
        while start >= 0 and (not keep[start] or (_BIO_MORE_RE.match(items[start][0])
                                                  and _BIO_WORDING_RE.search(items[start][0]))):
            start -= 1
        if start < 0 or not _is_author_bio(items[start][0]):
            break
        keep[start:end] = [False] * (end - start)
        end = start
    dropped = keep.count(False)
    if not dropped or dropped == len(items):
        return list(items)
    log.info("%s: dropped %d boilerplate paragraph(s) (byline, author biography, copyright, "
             "links)", name, dropped)
    return [item for item, kept in zip(items, keep) if kept]
