"""Discover seed files and parse them into articles, paragraphs and passages.

Supported formats: plain text (``.txt``), Markdown (``.md``, ``.markdown``), HTML (``.html``,
``.htm``) and JSON Lines feeds (``.jsonl``, one article per line). Bad input (an empty, binary,
unreadable or oversized file, a malformed JSONL line, a file without paragraphs) never raises:
it becomes a :class:`SkippedFile` plus one logged warning, and the rest of the corpus is kept.

Paragraph numbers are 1-based in reading order over body paragraphs; titles and section headings
are not paragraphs. :func:`split_passages` turns paragraphs into the passages that get embedded
and cited, cutting paragraphs that exceed the model's token budget into overlapping windows of
whole sentences (found with ``pysbd``, see :func:`sentences`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorpusError
from ..schema import Article, Paragraph, Passage

if TYPE_CHECKING:
    import pysbd
    from bs4 import BeautifulSoup, Tag

log = logging.getLogger(__name__)

SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".jsonl"})
#: Bumped whenever the same seed bytes are read into different paragraphs (2: boilerplate
#: dropped, UTF-8 with a few bad bytes kept as UTF-8), so that an index can tell it is stale.
READER_VERSION: int = 2
DEFAULT_MAX_BYTES: int = 20 * 2**20
_BINARY_PROBE = 8192
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\f\b")
# Words of overlap between the word-cut pieces of one over-long sentence, per overlap sentence.
_WORD_OVERLAP = 12
# A line this short, without closing punctuation, is a section heading (plain text and JSONL).
_HEADING_MAX_WORDS = 12
_HEADING_MAX_CHARS = 80
#: A title is stored with every passage of its article, so one that is longer is cut.
MAX_TITLE_CHARS = 200

# Lone UTF-16 surrogates: a JSON "\ud800", an HTML "&#xd800;", a file name's undecodable
# bytes. Python strings can hold them, UTF-8 (SQLite, JSON output) cannot.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SPACE_RE = re.compile(r"\s+")
_TRAILING_CLOSERS = "’”\"')]}»›"
_CLOSING_PUNCT = frozenset(".!?…:;,")
_WORD_RE = re.compile(r"\S+")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A seed file (or one JSONL line, ``"feed.jsonl:7"``) that was not indexed, and why."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SeedFile:
    """A candidate seed file found by :func:`discover`; ``name`` is relative to the seeds dir.

    ``name`` is always valid UTF-8 (see :func:`display_name`). ``problem`` is set for an entry
    that discovery already knows cannot be indexed (a link out of the seeds folder, a folder
    that cannot be listed): :func:`read_file` reports it as skipped without opening it.
    """

    name: str
    path: Path
    content_hash: str
    size: int
    problem: str | None = None


# --------------------------------------------------------------------------------------------
# Discovery and reading
# --------------------------------------------------------------------------------------------


def display_name(name: str) -> str:
    """``name`` as valid UTF-8: bytes a file name holds that are not UTF-8 become ``\\xNN``.

    On POSIX, Python hands such bytes over as lone surrogates ("surrogateescape"), which cannot
    be stored in SQLite or JSON; ``bad\\udcffname.txt`` becomes ``bad\\xffname.txt``.
    """
    if not _SURROGATE_RE.search(name):
        return name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def discover(seeds_dir: Path, *, follow_external_links: bool = False) -> list[SeedFile]:
    """Every seed file under ``seeds_dir`` (recursive, hidden entries ignored), sorted by name.

    Raises :class:`CorpusError` when ``seeds_dir`` is missing, not a directory or cannot be
    listed. A file that cannot be read (or is not a regular file) is still listed, with
    ``content_hash=""``, so that :func:`read_file` reports it. So are, with a ``problem``:

    * a symbolic link (to a file or a folder) whose target lies outside ``seeds_dir``, unless
      ``follow_external_links`` is true: a link such as ``passwd.txt -> /etc/passwd`` must not
      put a file the seeds folder's owner never meant to publish into answers;
    * a sub-folder that cannot be listed (permission denied), named ``"sub/"``.

    A link to a folder inside ``seeds_dir`` is not descended into (its files are found at
    their real place); links to files inside ``seeds_dir`` are read like any file.
    """
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise CorpusError(f"seeds folder not found: {seeds_dir}",
                          hint="create it and add .txt/.md/.html/.jsonl articles, "
                               "or pass --seeds DIR")
    root = seeds_dir.resolve()
    found: list[SeedFile] = []
    seen_dirs: set[Path] = {root}
    stack: list[Path] = [seeds_dir]
    while stack:  # an explicit stack: no recursion limit on deep folder trees
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            if folder == seeds_dir:
                raise CorpusError(f"cannot read the seeds folder {seeds_dir}: "
                                  f"{exc.strerror or exc}") from None
            found.append(_problem(seeds_dir, folder, f"cannot read folder: {exc.strerror or exc}",
                                  is_dir=True))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            is_dir = _is_dir(entry)
            if not is_dir and Path(entry.name).suffix.lower() not in SUFFIXES:
                continue
            if entry.is_symlink():
                target = path.resolve()
                if not _inside(target, root):
                    if not follow_external_links:
                        found.append(_problem(
                            seeds_dir, path, "symbolic link to outside the seeds folder "
                            f"({display_name(str(target))}); set follow_external_links "
                            "to index it", is_dir=is_dir))
                        continue
                elif is_dir:
                    log.debug("not following %s: its target is inside the seeds folder", path)
                    continue
                if is_dir:
                    if target not in seen_dirs:  # a link cycle is walked once
                        seen_dirs.add(target)
                        stack.append(path)
                    continue
            elif is_dir:
                stack.append(path)
                continue
            found.append(_seed(seeds_dir, path))
    # names are keys (SQLite primary keys): an escaped name equal to a real one is dropped
    found.sort(key=lambda seed: (seed.name, _SURROGATE_RE.search(str(seed.path)) is not None))
    unique = [seed for i, seed in enumerate(found) if i == 0 or found[i - 1].name != seed.name]
    if len(unique) < len(found):
        log.warning("%d file(s) not indexed: their escaped names equal another file's name",
                    len(found) - len(unique))
    log.debug("discovered %d seed files in %s", len(unique), seeds_dir)
    return unique


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links
    except OSError:
        return False


def _relative_name(seeds_dir: Path, path: Path) -> str:
    raw = path.relative_to(seeds_dir).as_posix()
    name = display_name(raw)
    if name != raw:
        log.warning("%s: the file name is not valid UTF-8 (shown with \\x escapes, and cited "
                    "so); rename the file to fix it", name)
    return name


def _seed(seeds_dir: Path, path: Path) -> SeedFile:
    content_hash, size = _hash_file(path)
    return SeedFile(name=_relative_name(seeds_dir, path), path=path, content_hash=content_hash,
                    size=size)


def _problem(seeds_dir: Path, path: Path, problem: str, *, is_dir: bool) -> SeedFile:
    name = _relative_name(seeds_dir, path) + ("/" if is_dir else "")
    return SeedFile(name=name, path=path, content_hash="", size=0, problem=problem)


def _hash_file(path: Path) -> tuple[str, int]:
    """(blake2b-128 hex of the bytes, size); ``("", size)`` when it is unreadable or irregular."""
    try:
        st = os.stat(path)
    except OSError:
        return "", 0
    if not stat.S_ISREG(st.st_mode):  # never open a FIFO or device: it could block forever
        return "", 0
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, lambda: hashlib.blake2b(digest_size=16))
    except OSError:
        return "", st.st_size
    return digest.hexdigest(), st.st_size


def read_corpus(seeds_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES, *,
                follow_external_links: bool = False
                ) -> tuple[list[Article], list[SkippedFile], list[SeedFile]]:
    """Discover and parse every seed file: (articles, skipped files, discovered seed files)."""
    seeds = discover(seeds_dir, follow_external_links=follow_external_links)
    articles: list[Article] = []
    skipped: list[SkippedFile] = []
    for seed in seeds:
        got, bad = read_file(seed, max_bytes=max_bytes)
        articles.extend(got)
        skipped.extend(bad)
    log.info("read %d articles from %d files in %s (%d skipped)",
             len(articles), len(seeds), seeds_dir, len(skipped))
    return articles, skipped, seeds


def read_file(seed: SeedFile, max_bytes: int = DEFAULT_MAX_BYTES
              ) -> tuple[list[Article], list[SkippedFile]]:
    """Parse one seed file into articles; every problem becomes a :class:`SkippedFile`.

    Never raises for bad content; each skip is logged once as a warning naming the file.
    """
    if seed.problem is not None:
        return [], [_skip(seed.name, seed.problem)]
    data_or_reason = _read_bytes(seed.path, max_bytes)
    if isinstance(data_or_reason, str):
        return [], [_skip(seed.name, data_or_reason)]
    return parse_bytes(seed.name, data_or_reason)


def parse_bytes(name: str, data: bytes) -> tuple[list[Article], list[SkippedFile]]:
    """Parse the bytes of the seed file ``name`` (its suffix picks the format) into articles;
    like :func:`read_file`, every problem becomes a logged :class:`SkippedFile`."""
    if not data.strip():
        return [], [_skip(name, "empty file")]
    text = _decode(data, name)
    if text is None:
        return [], [_skip(name, "binary file")]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not _clean(text):
        return [], [_skip(name, "empty file")]

    suffix = Path(name).suffix.lower()
    try:
        if suffix == ".jsonl":
            return _read_jsonl(name, text)
        if suffix in (".md", ".markdown"):
            article = _parse_markdown(name, text)
        elif suffix in (".html", ".htm"):
            article = _parse_html(name, text)
        else:
            article = _parse_text(name, text)
    except Exception as exc:  # a parser bug on odd input must not abort the whole build
        log.debug("parser failed on %s", name, exc_info=True)
        return [], [_skip(name, f"cannot parse: {type(exc).__name__}: {exc}")]
    if not article.paragraphs:
        return [], [_skip(name, "no paragraphs found")]
    return [article], []


def _skip(name: str, reason: str) -> SkippedFile:
    log.warning("skipping %s: %s", name, reason)
    return SkippedFile(path=name, reason=reason)


def _read_bytes(path: Path, max_bytes: int) -> bytes | str:
    """The file's bytes, or the reason it cannot be used (unreadable, empty, too large)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return "cannot read: is a directory"
        if not stat.S_ISREG(st.st_mode):
            return "cannot read: not a regular file"
        if st.st_size == 0:
            return "empty file"
        if st.st_size > max_bytes:
            return _too_large(st.st_size, max_bytes)
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if len(data) > max_bytes:  # it grew since stat()
        return _too_large(len(data), max_bytes)
    return data


def _too_large(size: int, max_bytes: int) -> str:
    return f"file too large ({_human_size(size)} > limit {_human_size(max_bytes)})"


def _human_size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:.1f} KB"
    return f"{n} B"


def _is_binary(data: bytes) -> bool:
    """A NUL byte, or more than 10% control bytes, in the first 8 KiB."""
    probe = data[:_BINARY_PROBE]
    if b"\x00" in probe:
        return True
    controls = sum(1 for b in probe if (b < 32 or b == 127) and b not in _ALLOWED_CONTROLS)
    return controls > len(probe) * 0.10


def _decode(data: bytes, name: str) -> str | None:
    """Decode bytes as UTF-8, else as a legacy encoding (cp1252, latin-1); ``None`` if binary.

    Bytes that are not valid UTF-8 mean one of two things. Either the file is UTF-8 with a few
    corrupt bytes (it holds more valid multi-byte UTF-8 sequences, such as curly quotes, than
    invalid ones): it is decoded as UTF-8, each bad sequence replaced by U+FFFD, with a warning
    naming the file. Or it is a legacy single-byte file (few or no valid multi-byte sequences):
    it is decoded as cp1252 (latin-1 when cp1252 leaves a byte undefined), noted at INFO level.
    Decoding a UTF-8 file as cp1252 would turn all of its quotes into mojibake (``â€œ``).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM is text, NULs and all
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
        log.info("%s: decoded as UTF-16", name)
        return text
    if _is_binary(data):
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8-sig", errors="replace")
    replacements = text.count("\ufffd")
    bad = replacements - data.count("\ufffd".encode())  # a U+FFFD already in the file is fine
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - replacements
    if multibyte >= bad:
        log.warning("%s: %d invalid UTF-8 byte sequence(s) replaced with U+FFFD", name, bad)
        return text
    for encoding in ("cp1252", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        log.info("%s: not valid UTF-8, decoded as %s", name, encoding)
        return text
    return None  # unreachable: latin-1 decodes any bytes


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """NFC, lone surrogates replaced by U+FFFD, zero-width characters and stray controls removed,
    whitespace collapsed, stripped."""
    text = _SURROGATE_RE.sub("\ufffd", text)
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _CONTROL_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def _is_short(line: str) -> bool:
    return len(line) <= _HEADING_MAX_CHARS and len(line.split()) <= _HEADING_MAX_WORDS


def _ends_with_punctuation(line: str) -> bool:
    stripped = line.rstrip(_TRAILING_CLOSERS + " ")
    return bool(stripped) and stripped[-1] in _CLOSING_PUNCT


def _is_heading(line: str) -> bool:
    """A short line without closing punctuation, e.g. ``‘Order restored’``."""
    return _is_short(line) and not _ends_with_punctuation(line)


def _has_words(line: str) -> bool:
    return any(ch.isalnum() for ch in line)


def _lines_to_paragraphs(name: str, lines: Iterable[str]) -> tuple[Paragraph, ...]:
    """Plain-text body lines → paragraphs; short unpunctuated lines become section headings.

    Lines without any letter or digit (``***``, ``—``) are separators and dropped. If the
    heading rule would leave no paragraph at all, the "headings" are kept as paragraphs.
    A byline or other boilerplate line is neither (see :func:`_drop_boilerplate`).
    """
    items: list[tuple[bool, str]] = []
    for raw in lines:
        line = _clean(raw)
        if line and _has_words(line):
            items.append((_is_heading(line), line))
    if not any(not heading for heading, _ in items):
        items = [(False, line) for _, line in items]
    paragraphs: list[tuple[str, str | None]] = []
    section: str | None = None
    for heading, line in items:
        if not heading:
            paragraphs.append((line, section))
        elif not _is_boilerplate(line):  # "By Jane Doe" is no section heading
            section = line
    return _number(name, paragraphs)


def _number(name: str, items: Sequence[tuple[str, str | None]]) -> tuple[Paragraph, ...]:
    """(text, section) items → numbered paragraphs, boilerplate dropped first."""
    return tuple(Paragraph(number=i, text=text, section=section)
                 for i, (text, section) in enumerate(_drop_boilerplate(name, items), start=1))


# --------------------------------------------------------------------------------------------
# Boilerplate
# --------------------------------------------------------------------------------------------

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


def _is_boilerplate(text: str) -> bool:
    """A short paragraph of publishing furniture (byline, credits, ©, "Read more:", …)."""
    if len(text.split()) > _FURNITURE_MAX_WORDS:
        return False
    return any(pattern.search(text) for pattern in _FURNITURE_RES)


def _is_author_bio(text: str) -> bool:
    """A paragraph that introduces a writer *and* reads like a biography."""
    return (len(text.split()) <= _BIO_MAX_WORDS and _BIO_OPENING_RE.search(text) is not None
            and (text[:5].lower() == "about" or _BIO_WORDING_RE.search(text) is not None))


def _drop_boilerplate(name: str, items: Sequence[tuple[str, str | None]]
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
    keep = [not _is_boilerplate(text) for text, _ in items]
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


# --------------------------------------------------------------------------------------------
# Plain text
# --------------------------------------------------------------------------------------------


def _parse_text(name: str, text: str) -> Article:
    """First non-empty line is the headline; each later non-empty line is a paragraph."""
    lines = [line for line in (_clean(raw) for raw in text.splitlines()) if line]
    if lines and len(lines[0]) > MAX_TITLE_CHARS:  # too long for a headline: it is body text
        title, body = Path(name).stem, lines
    else:
        title = lines[0] if lines else Path(name).stem
        body = lines[1:]
    if not body and lines:  # a one-line file: its only line is both headline and paragraph
        body = lines
    return Article(key=name, source=name, title=title, paragraphs=_lines_to_paragraphs(name, body))


def _headline(name: str, title: str) -> str:
    """``title`` cut at a word to ``MAX_TITLE_CHARS`` (with a warning naming the file)."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    log.warning("%s: title longer than %d characters cut", name, MAX_TITLE_CHARS)
    cut = title[:MAX_TITLE_CHARS]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Simple ``key: value`` front matter between leading ``---`` lines, and the rest."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t")):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            meta[key.strip().lower()] = value
    return meta, text[match.end():]


def _inline_text(token: Any) -> str:
    """Visible text of a markdown-it inline token: markup, URLs, images and raw HTML dropped."""
    parts: list[str] = []
    for child in token.children or ():
        kind = child.type
        if kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append(" ")
    return _clean("".join(parts))


def _parse_markdown(name: str, text: str) -> Article:
    """Headings give title and sections; paragraphs, list items, quotes, code, table rows are text."""
    from markdown_it import MarkdownIt

    meta, body = _front_matter(text)
    fm_title = _clean(meta.get("title", "")) or None
    tokens = MarkdownIt("commonmark").enable("table").parse(body)

    title: str | None = fm_title
    section: str | None = None
    items: list[tuple[str, str | None]] = []
    first_block_single_line: bool | None = None  # whether the first paragraph was one source line
    row: list[str] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        kind = tok.type
        if kind == "heading_open":
            heading = _inline_text(tokens[i + 1]) if i + 1 < len(tokens) else ""
            i += 3
            if not heading:
                continue
            if title is None and not items:
                title = heading
            elif fm_title is not None and heading.casefold() == fm_title.casefold() and not items:
                continue
            else:
                section = heading
            continue
        if kind == "tr_open":
            row = []
        elif kind == "tr_close":
            cells = [c for c in (row or []) if c]
            if cells:
                items.append((" | ".join(cells), section))
            row = None
        elif kind == "inline" and row is not None:
            row.append(_inline_text(tok))
        elif kind == "paragraph_open" and i + 1 < len(tokens):
            para = _inline_text(tokens[i + 1])
            if para:
                if first_block_single_line is None:
                    first_block_single_line = bool(tok.map and tok.map[1] - tok.map[0] == 1)
                items.append((para, section))
            i += 3
            continue
        elif kind in ("fence", "code_block"):
            code = _clean(tok.content)
            if code:
                items.append((code, section))
        elif kind == "html_block":
            fragment = _html_fragment_text(tok.content)
            if fragment:
                items.append((fragment, section))
        i += 1

    if title is None:
        first = items[0][0] if items else ""
        if (first and first_block_single_line and len(items) > 1
                and len(first.split()) <= 20 and len(first) <= 150):
            title = first
            items = items[1:]
        else:
            title = Path(name).stem
    return Article(key=name, source=name, title=_headline(name, title),
                   paragraphs=_number(name, items),
                   date=meta.get("date") or None, url=meta.get("url") or None)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "nav", "footer",
                        "aside", "form", "svg", "iframe", "object", "embed", "canvas", "title",
                        "meta", "link"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details",
    "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "header", "hgroup",
    "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}) | _HEADING_TAGS
_HIDDEN_STYLE_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_DATE_META_NAMES = frozenset({"date", "pubdate", "publishdate", "publish-date", "dc.date",
                              "article:published_time", "datepublished"})


def _strip_invisible(soup: BeautifulSoup) -> None:
    """Remove what a reader never sees: scripts, styles, chrome, hidden elements.

    One pass over the tree with an explicit stack, never entering a removed element: the cost is
    linear in the page however deeply it nests. (Asking bs4 for ``tag.decomposed`` searched the
    element's whole subtree for a child tag named ``_decomposed``: quadratic, 8,000 nested
    spans took 28 s.)
    """
    from bs4 import Tag

    stack: list[Any] = [soup]
    while stack:
        node = stack.pop()
        for child in list(node.contents):
            if not isinstance(child, Tag):
                continue
            name = (child.name or "").lower()
            attrs = child.attrs or {}
            if (name in _DROP_TAGS or "hidden" in attrs
                    or _HIDDEN_STYLE_RE.search(str(attrs.get("style", "")))):
                child.decompose()
            elif name == "br":
                child.replace_with("\n")
            else:
                stack.append(child)


def _block_holders(root: Any) -> set[int]:
    """``id()`` of every tag under ``root`` that has a block-level tag among its descendants.

    One bottom-up pass (reversed document order visits children before their parents), so the
    walker need not search each element's subtree again, which is quadratic on deep nesting.
    """
    from bs4 import Tag

    holders: set[int] = set()
    for node in reversed(list(root.descendants)):
        if isinstance(node, Tag) and ((node.name or "").lower() in _BLOCK_TAGS
                                      or id(node) in holders):
            if node.parent is not None:
                holders.add(id(node.parent))
    return holders


def _outer_cells(row: Tag) -> list[Tag]:
    """The ``td``/``th`` cells of a table row, not those of tables nested inside its cells."""
    from bs4 import Tag

    cells: list[Tag] = []
    stack: list[Any] = list(reversed(row.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if (node.name or "").lower() in ("td", "th"):
                cells.append(node)
            else:
                stack.extend(reversed(node.contents))
    return cells


def _raw_text(tag: Tag) -> str:
    """All text under ``tag`` (comments and declarations excluded), as is."""
    from bs4 import NavigableString

    return "".join(str(s) for s in tag.descendants
                   if isinstance(s, NavigableString) and type(s) is NavigableString)


def _visible_text(tag: Tag) -> str:
    """All text under ``tag`` (comments and declarations excluded), cleaned."""
    return _clean(_raw_text(tag))


def _html_fragment_text(fragment: str) -> str:
    """Visible text of an HTML fragment embedded in Markdown."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    _strip_invisible(soup)
    return _visible_text(soup)


def _html_meta(soup: BeautifulSoup) -> tuple[str | None, str | None, str | None]:
    """(<title> text, date, canonical url) from the document head."""
    title_tag = soup.find("title")
    doc_title = _clean(title_tag.get_text()) if title_tag else None
    date: str | None = None
    url: str | None = None
    for meta in soup.find_all("meta"):
        key = str(meta.get("name") or meta.get("property") or meta.get("itemprop") or "").lower()
        content = _clean(str(meta.get("content") or ""))
        if not content:
            continue
        if date is None and key in _DATE_META_NAMES:
            date = content
        elif url is None and key == "og:url":
            url = content
    canonical = soup.find("link", rel="canonical")
    if canonical is not None and canonical.get("href"):
        url = _clean(str(canonical.get("href"))) or None
    return doc_title or None, date, url


class _HtmlWalker:
    """Collects the title, section headings and paragraphs of a cleaned HTML tree in order."""

    def __init__(self) -> None:
        self.h1: str | None = None
        self.section: str | None = None
        self.items: list[tuple[str, str | None]] = []
        self._buffer: list[str] = []

    def _emit(self, text: str) -> None:
        text = _clean(text)
        if text:
            self.items.append((text, self.section))

    def _flush(self) -> None:
        if self._buffer:
            self._emit("".join(self._buffer))
            self._buffer = []

    def walk(self, root: Any) -> None:
        """Collect everything under ``root``; iterative, so nesting depth is no limit."""
        from bs4 import NavigableString, Tag

        holders = _block_holders(root)
        stack = [iter(list(root.children))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                if stack:  # the end of an element that held blocks ends a paragraph too
                    self._flush()
                continue
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a Comment, Doctype, CData...
                    self._buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name in _HEADING_TAGS:
                self._flush()
                heading = _visible_text(child)
                if not heading:
                    continue
                if name == "h1" and self.h1 is None:
                    self.h1 = heading
                else:
                    self.section = heading
            elif name == "tr":
                self._flush()
                cells = [_visible_text(c) for c in _outer_cells(child)]
                self._emit(" | ".join(c for c in cells if c))
            elif name == "pre":
                self._flush()
                self._emit(_visible_text(child))
            elif name in _BLOCK_TAGS:
                self._flush()
                if id(child) in holders:
                    stack.append(iter(list(child.children)))
                else:
                    self._emit(_visible_text(child))
            elif id(child) in holders:  # inline element wrapping blocks
                self._flush()
                stack.append(iter(list(child.children)))
            else:
                self._buffer.append(_raw_text(child))

    def finish(self) -> None:
        self._flush()


def _parse_html(name: str, text: str) -> Article:
    """Visible paragraphs of an HTML page; first <h1> (else <title>) is the title."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    doc_title, date, url = _html_meta(soup)
    _strip_invisible(soup)
    walker = _HtmlWalker()
    walker.walk(soup.body if soup.body is not None else soup)
    walker.finish()
    title = walker.h1 or doc_title or Path(name).stem
    return Article(key=name, source=name, title=_headline(name, title),
                   paragraphs=_number(name, walker.items), date=date, url=url)


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "date":
        value = str(value)
    if not isinstance(value, str):
        return None
    return _clean(value) or None


def _read_jsonl(name: str, text: str) -> tuple[list[Article], list[SkippedFile]]:
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
            skipped.append(_skip(where, f"malformed JSON on line {line_no}: {msg}"))
            continue
        if not isinstance(record, dict):
            skipped.append(_skip(where, f"line {line_no} is not a JSON object"))
            continue
        damaged = [key for key in ("title", "text", "date", "url")
                   if isinstance(record.get(key), str) and _SURROGATE_RE.search(record[key])]
        if damaged:  # valid JSON ("\ud800"), but not a character UTF-8 can store
            log.warning("%s: invalid characters (lone surrogates) in %s replaced with U+FFFD",
                        where, ", ".join(repr(key) for key in damaged))
        body = record.get("text")
        if not isinstance(body, str):
            what = "missing" if body is None else f"not a string ({type(body).__name__})"
            skipped.append(_skip(where, f"line {line_no}: 'text' is {what}"))
            continue
        lines = [ln for ln in (_clean(raw) for raw in body.splitlines()) if ln]
        if not lines:
            skipped.append(_skip(where, f"line {line_no}: 'text' is empty"))
            continue
        title = _optional_str(record, "title")
        if title is None:
            first = lines[0]
            if _is_short(first):
                title = first
                if len(lines) > 1 and not _ends_with_punctuation(first):
                    lines = lines[1:]  # a headline, not body text
            else:
                title = f"{stem} #{line_no}"
        paragraphs = _lines_to_paragraphs(where, lines)
        if not paragraphs:
            skipped.append(_skip(where, "no paragraphs found"))
            continue
        articles.append(Article(key=where, source=name, title=_headline(where, title),
                                paragraphs=paragraphs,
                                date=_optional_str(record, "date"),
                                url=_optional_str(record, "url")))
    return articles, skipped


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------

_segmenter_lock = threading.Lock()
_segmenter_instance: pysbd.Segmenter | None = None
_CLOSING_QUOTES = "”’\"'»"
# Texts longer than this many characters go through pysbd in chunks (its cost is superlinear).
_PYSBD_CHUNK = 4000
# pysbd does not split after a sentence that ends inside single curly quotes: "said ‘no.’ Then".
_SINGLE_QUOTE_BREAK_RE = re.compile(r"(?<=[.!?…]’)\s+(?=[A-Z“‘])")
# pysbd only ever ends a sentence at one of these (terminal punctuation, the ")" of a list item
# or aside, a line break); a text without any is one sentence, and pysbd (~30 ms per 4,000
# characters) need not read it: a 5 MB unpunctuated line took minutes.
_MAYBE_BOUNDARY_RE = re.compile("[.!?…。．！？ȸȹ☉☈☇☄)\n\r]")


def _segmenter() -> pysbd.Segmenter:
    """The shared pysbd segmenter, created on first use."""
    global _segmenter_instance
    if _segmenter_instance is None:
        import pysbd

        _segmenter_instance = pysbd.Segmenter(language="en", clean=False)
    return _segmenter_instance


def _pysbd_sentences(text: str) -> list[str]:
    """pysbd's (stripped) sentences; falls back to one sentence if pysbd fails."""
    try:
        with _segmenter_lock:
            seg = _segmenter()
            # processor() returns the segments without the quadratic re-matching that
            # Segmenter.segment() does (and which drops sentences it cannot find again).
            return [str(s) for s in seg.processor(text).process()]
    except Exception:  # pysbd is regex-heavy; odd input must not break indexing
        log.debug("pysbd failed on a %d-char text", len(text), exc_info=True)
        return [text]


def _next_non_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _advance_non_space(text: str, pos: int, count: int) -> int:
    """Position after ``count`` non-whitespace characters starting at ``pos``."""
    while pos < len(text) and count > 0:
        if not text[pos].isspace():
            count -= 1
        pos += 1
    return pos


def _aligned_starts(text: str) -> list[int]:
    """Where each pysbd sentence of ``text`` starts in ``text`` (sorted, unique)."""
    if not _MAYBE_BOUNDARY_RE.search(text):
        return [_next_non_space(text, 0)]
    starts: list[int] = []
    cursor = 0
    for raw in _pysbd_sentences(text):
        sent = raw.strip()
        if not sent:
            continue
        idx = text.find(sent, cursor)
        if idx < 0:  # pysbd altered the text: align by non-whitespace characters instead
            idx = _next_non_space(text, cursor)
            end = _advance_non_space(text, idx, sum(1 for ch in sent if not ch.isspace()))
        else:
            end = idx + len(sent)
        if idx < len(text):
            starts.append(idx)
        cursor = max(cursor, end)
    first = _next_non_space(text, 0)
    return sorted({s for s in starts if s > first} | {first})


def _sentence_starts(text: str) -> list[int]:
    """Sentence starts of ``text``; long texts go through pysbd in overlapping chunks.

    pysbd's cost grows faster than linearly with text length, so a text over
    ``_PYSBD_CHUNK`` characters is segmented chunk by chunk: every sentence but the last of a
    chunk is kept, and the next chunk starts where that last (possibly cut) sentence starts.
    A run longer than a chunk without any sentence boundary is cut at a space.
    """
    if len(text) <= _PYSBD_CHUNK:
        return _aligned_starts(text)
    starts: list[int] = []
    pos = 0
    while pos < len(text):
        end = min(len(text), pos + _PYSBD_CHUNK)
        if end < len(text):
            space = text.rfind(" ", pos + _PYSBD_CHUNK // 2, end)
            if space > pos:
                end = space
        local = _aligned_starts(text[pos:end])
        if end >= len(text) or len(local) < 2:
            starts.extend(pos + s for s in local)
            pos = end
        else:
            starts.extend(pos + s for s in local[:-1])
            pos += local[-1]
    return sorted(set(starts))


@lru_cache(maxsize=8192)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    if not text or text.isspace():
        return ()
    # 1. where each pysbd sentence starts in the original text
    starts = _sentence_starts(text)

    # 2. a sentence that begins with a closing quote belongs to the previous one:
    #    pysbd turns 'He left.” Then' into 'He left.' + '” Then'.
    fixed: list[int] = [starts[0]]
    for start in starts[1:]:
        pos = start
        while pos < len(text) and text[pos] in _CLOSING_QUOTES:
            pos += 1
        if pos > start and (pos == len(text) or text[pos].isspace()):
            prev_end = len(text[:start].rstrip())
            if prev_end and text[prev_end - 1] in ".!?…":
                start = _next_non_space(text, pos)
                if start >= len(text):
                    continue
        if start > fixed[-1]:
            fixed.append(start)

    # 3. spans between consecutive starts, stripped; extra split after .’ / ?’ / !’
    spans: list[tuple[int, int]] = []
    bounds = fixed + [len(text)]
    for a, b in zip(bounds, bounds[1:]):
        pieces = [a]
        pieces.extend(m.end() for m in _SINGLE_QUOTE_BREAK_RE.finditer(text, a, b))
        pieces.append(b)
        for s, e in zip(pieces, pieces[1:]):
            s = _next_non_space(text, s)
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return tuple(spans)


def sentences(text: str) -> list[tuple[int, int]]:
    """Character ``(start, end)`` spans of the sentences of ``text`` (pysbd, English).

    Spans are in order, non-empty, stripped of surrounding whitespace, and together cover every
    non-whitespace character of ``text``; ``text[start:end]`` is the sentence. A closing quote
    after the final punctuation (``.”``, ``?’``) stays with its sentence. Results are cached.
    """
    return list(_sentence_spans(text))


# --------------------------------------------------------------------------------------------
# Passages
# --------------------------------------------------------------------------------------------


def split_passages(article: Article, count_tokens: Callable[[str], int], max_tokens: int = 256,
                   overlap_sentences: int = 1) -> list[Passage]:
    """The passages of ``article``: one per paragraph, or overlapping windows of long ones.

    A paragraph within ``max_tokens`` (as measured by ``count_tokens``) is one passage with
    ``window=0``. A longer one is cut into windows of whole sentences that each fit the budget,
    consecutive windows sharing ``overlap_sentences`` sentences; a sentence that alone exceeds
    the budget is cut by words into overlapping pieces. Every word lands in some window.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if overlap_sentences < 0:
        raise ValueError(f"overlap_sentences must be >= 0, got {overlap_sentences}")
    passages: list[Passage] = []
    for para in article.paragraphs:
        if count_tokens(para.text) <= max_tokens:
            windows = [para.text]
        else:
            windows = [para.text[a:b] for a, b in
                       _window_spans(para.text, count_tokens, max_tokens, overlap_sentences)]
        for window, text in enumerate(windows):
            passages.append(Passage(article_key=article.key, source=article.source,
                                    title=article.title, paragraph=para.number, window=window,
                                    text=text, section=para.section))
    return passages


def _window_spans(text: str, count_tokens: Callable[[str], int], max_tokens: int,
                  overlap: int) -> list[tuple[int, int]]:
    """Character spans of overlapping, budget-sized windows of ``text`` (whole sentences)."""

    def fits(span: tuple[int, int]) -> bool:
        return count_tokens(text[span[0]:span[1]]) <= max_tokens

    # A word this short fits without asking the tokenizer: none makes more than 4 tokens of a
    # character (byte-level BPE on 4-byte UTF-8), plus 2 special tokens. Asking for each of the
    # ~800,000 words of a 5 MB sentence would cost minutes.
    safe_chars = (max_tokens - 2) // 4
    units: list[tuple[int, int]] = []
    for span in sentences(text):
        if fits(span):
            units.append(span)
        else:
            pieces: list[tuple[int, int]] = []
            for match in _WORD_RE.finditer(text, *span):
                if match.end() - match.start() <= safe_chars:
                    pieces.append(match.span())
                else:
                    pieces.extend(_fit_word(text, match.span(), fits))
            units.extend(_pack(pieces, fits, _WORD_OVERLAP * overlap))
    return _pack(units, fits, overlap)


def _fit_word(text: str, span: tuple[int, int], fits: Callable[[tuple[int, int]], bool]
              ) -> list[tuple[int, int]]:
    """A word as one unit, or cut into character chunks if it alone exceeds the budget."""
    if fits(span) or not fits((span[0], span[0] + 1)):  # fits, or nothing could fit at all
        return [span]
    pieces: list[tuple[int, int]] = []
    start, end = span
    while start < end:
        lo, hi = start + 1, end  # largest cut in [start+1, end] that fits (at least one char)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits((start, mid)):
                lo = mid
            else:
                hi = mid - 1
        pieces.append((start, lo))
        start = lo
    return pieces


def _pack(units: Sequence[tuple[int, int]], fits: Callable[[tuple[int, int]], bool],
          overlap: int) -> list[tuple[int, int]]:
    """Greedily group consecutive spans into windows that fit, sharing ``overlap`` units.

    Every window adds at least one new unit, so the loop ends and nothing is left out; a single
    unit that does not fit on its own becomes a window by itself. Each window's end is found
    with a logarithmic number of ``fits`` calls (see :func:`_furthest_fit`), so the cost is
    about linear in the text, not in (text length x window size).
    """
    windows: list[tuple[int, int]] = []
    i, n = 0, len(units)
    hint = 1
    while i < n:
        end = _furthest_fit(units, i, fits, hint)
        windows.append((units[i][0], units[end - 1][1]))
        if end >= n:
            break
        hint = end - i
        nxt = max(i + 1, end - overlap)
        while nxt < end and not fits((units[nxt][0], units[end][1])):
            nxt += 1
        i = nxt
    return windows


def _furthest_fit(units: Sequence[tuple[int, int]], i: int,
                  fits: Callable[[tuple[int, int]], bool], hint: int) -> int:
    """The largest ``end`` (at least ``i + 1``) such that ``units[i:end]`` fits in one window.

    Gallops from ``i + hint`` (the size of the previous window) and then bisects, assuming, as
    holds for tokenizers, that a longer span never has fewer tokens.
    """
    n = len(units)

    def ok(end: int) -> bool:
        return fits((units[i][0], units[end - 1][1]))

    good, bad = i + 1, n + 1  # units[i:good] is taken (alone, even if it does not fit)
    probe = min(n, i + max(hint, 2))
    step = 1
    while probe > good:
        if ok(probe):
            good = probe
            probe = min(n, good + step)
            step *= 2
        else:
            bad = probe
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
