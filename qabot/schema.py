"""Frozen value types that cross module boundaries: articles, passages, hits, citations, answers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One body paragraph of an article; ``number`` is 1-based in reading order."""

    number: int
    text: str
    section: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed article. ``key`` is unique in the corpus (file name, plus line for JSONL feeds)."""

    key: str
    source: str
    title: str
    paragraphs: tuple[Paragraph, ...]
    date: str | None = None  # publication date, ISO 8601 ("2022-01-08"), when known
    url: str | None = None
    publisher: str | None = None  # e.g. "reuters": front matter, JSON source/url host, or folder
    dated_by: str | None = None  # where ``date`` came from: "file", "text" or "indexed"


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit that is embedded and cited: a paragraph, or one window of a long paragraph."""

    article_key: str
    source: str
    title: str
    paragraph: int
    window: int
    text: str
    section: str | None = None

    @property
    def content_hash(self) -> str:
        """Hash of the embedded text: equal hashes mean the stored vector can be reused."""
        return hashlib.blake2b(self.text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredPassage:
    """A passage as read back from an index: its row id plus what is needed to cite it."""

    row: int
    source: str
    title: str
    paragraph: int
    window: int
    text: str
    section: str | None = None
    date: str | None = None  # the article's publication date (ISO 8601), when known
    publisher: str | None = None


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """Which articles a question may be answered from: published on or after ``since``, and
    from ``publisher`` (case-insensitive). An empty filter lets every article through."""

    since: date | None = None
    publisher: str | None = None

    def __bool__(self) -> bool:
        return self.since is not None or self.publisher is not None

    def describe(self) -> str:
        """How the filter reads in a message: "since 2022-01-07, source reuters"."""
        parts = ([f"since {self.since.isoformat()}"] if self.since else []) + \
                ([f"source {self.publisher}"] if self.publisher else [])
        return ", ".join(parts) or "no filter"


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved passage with its fused score and the per-retriever evidence behind it."""

    passage: StoredPassage
    score: float
    dense_score: float | None = None
    lexical_rank: int | None = None


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage that an answer rests on, as shown to people and emitted as JSON."""

    source: str
    paragraph: int
    text: str
    score: float
    title: str = ""
    section: str | None = None
    published: str | None = None  # the article's publication date (ISO 8601), when known

    def to_json(self) -> dict[str, Any]:
        """The citation in the documented ``--json`` shape."""
        return {"source": self.source, "paragraph": self.paragraph, "text": self.text,
                "score": round(float(self.score), 4), "published": self.published}


@dataclass(frozen=True, slots=True)
class EarlierReport:
    """An older article's different answer to the same question ("earlier reports: more than
    3,800 (Jan 8)"), shown after the newest article's answer."""

    span: str
    published: str | None
    source: str
    paragraph: int

    def to_json(self) -> dict[str, Any]:
        """The earlier report in the ``--json`` shape."""
        return {"span": self.span, "published": self.published, "source": self.source,
                "paragraph": self.paragraph}


@dataclass(frozen=True, slots=True)
class Answer:
    """qabot's reply to one question; ``text`` is None exactly when ``abstained``."""

    question: str
    text: str | None
    span: str | None
    abstained: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Citation, ...] = ()
    confidence: float = 0.0
    read_as: str | None = None  # the question after spelling correction, when it changed
    notice: str | None = None  # why it was refused, when not "the articles do not say"
    earlier: tuple[EarlierReport, ...] = ()  # older articles' different answers, newest first
    mode: str = "extractive"  # "llm" when ``text`` was written by the language model
    note: str | None = None  # one line on a generated answer that was not used, and why
    debug: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The answer in the documented ``--json`` shape (one object per question)."""
        shown: dict[str, Any] = {"question": self.question, "answer": self.text,
                                 "span": self.span, "abstained": self.abstained,
                                 "citations": [c.to_json() for c in self.citations],
                                 "mode": self.mode}
        if self.read_as is not None:
            shown["read_as"] = self.read_as
        if self.notice is not None:
            shown["notice"] = self.notice
        if self.earlier:
            shown["earlier"] = [e.to_json() for e in self.earlier]
        if self.note is not None:
            shown["note"] = self.note
        return shown
