"""What the bot says, as Telegram HTML: answers with citations, sources, help, and short replies.

Every piece of user or corpus text is escaped (``esc``), and long replies are split so that no
message passes Telegram's 4096-character limit. Pure functions: tested without a bot.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from telegram.constants import MessageLimit

from ..render import (
    RELATED_HEAD,
    earlier_text,
    format_report,
    plural,
    printable,
    published_text,
    quote,
    read_as_text,
)

if TYPE_CHECKING:
    from ..index import BuildReport
    from ..schema import Answer, Citation

MAX_QUESTION_CHARS = 1000
_TAG = re.compile(r"<[^>]*>")

NOT_ALLOWED = "Sorry, this bot is private and you are not on its list of allowed users."
EMPTY_QUESTION = "Ask me a question, e.g. <i>/ask how many were arrested?</i>"
LONG_QUESTION = (f"That is a long question; please keep it under {MAX_QUESTION_CHARS} "
                 "characters.")
NO_RECENT_ANSWER = "There is no recent answer here yet; ask me something first."
SOURCES_EXPIRED = "Those sources have expired; please ask again."
ADMINS_ONLY = "Sorry, only the bot's admins can update the index."
INDEX_BUSY = "Another index build is running; try again in a minute."
UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do."
NO_LLM = ("Answers here are quoted from the articles: no language model is configured for "
          "generated ones.")
MODE_USAGE = "Usage: /mode llm or /mode extractive."
SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side. Please try again in a moment."


def esc(text: str) -> str:
    """``text`` made safe for Telegram's HTML parse mode, control and bidi characters shown as
    escapes as on the terminal (``render.printable``)."""
    return html.escape(printable(text), quote=True)


def esc_lines(text: str) -> str:
    """``esc`` keeping line breaks (a generated answer's paragraphs)."""
    return "\n".join(esc(line) for line in text.strip().split("\n"))


def streaming_html(text: str, limit: int = 3900) -> str:
    """A generated answer while it is written: its first ``limit`` characters and a "…"."""
    return f"{esc_lines(text[:limit])} …"


def mode_html(mode: str, model: str) -> str:
    """What /mode says: which answers this chat gets, and how to switch."""
    if mode == "llm":
        return (f"Answers here are written by the language model ({esc(model)}) from the "
                "passages they cite. /mode extractive: answers quoted from the articles.")
    return ("Answers here are quoted from the articles. /mode llm: answers written by the "
            "language model from the passages they cite.")


def visible_length(html_text: str) -> int:
    """Length Telegram counts (UTF-16 code units of the text after parsing tags and entities)."""
    plain = html.unescape(_TAG.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def split_plain(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters, at whitespace where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def pack_messages(blocks: Iterable[str], limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Join self-contained HTML blocks with blank lines into as few messages as fit ``limit``."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if current and visible_length(candidate) > limit:
            messages.append(current)
            current = block
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def citation_title(citation: Citation, limit: int = 90) -> str:
    """The article title (or the file name when it has none), shortened."""
    return quote(citation.title or citation.source, limit)


def dated(citation: Citation) -> str:
    """`` · Jan 8, 2022`` when the citation's article has a publication date, else nothing."""
    shown = published_text(citation.published)
    return f" · {esc(shown)}" if shown else ""


def answer_html(answer: Answer) -> list[str]:
    """The reply to an answered question: the sentence with the span in bold, then citations."""
    span = answer.span or ""
    text = answer.text or ""
    if len(text) > 3000:  # a run-on "sentence" must not push the reply past Telegram's limit
        text = quote(text, 3000)
    at = text.find(span) if span else -1
    if answer.mode == "llm":
        head = esc_lines(text)
    elif at >= 0:
        head = f"{esc(text[:at])}<b>{esc(span)}</b>{esc(text[at + len(span):])}"
    else:
        head = esc(text) + (f"\n<b>{esc(span)}</b>" if span else "")
    cited = [f"[{n}] <i>{esc(citation_title(citation))}</i>, ¶{citation.paragraph}"
             f"{dated(citation)}\n"
             f"“{esc(quote(citation.text, 160))}”"
             for n, citation in enumerate(answer.citations, start=1)]
    earlier = earlier_text(answer)
    head += f"\n<i>{esc(earlier)}</i>" if earlier else ""
    blocks = [f"<i>{esc(read_as_text(answer))}</i>\n{head}" if answer.read_as else head]
    if answer.note:
        blocks.insert(0, f"<i>{esc(answer.note)}</i>")
    if cited:
        blocks += [f"<b>Sources</b>\n{cited[0]}", *cited[1:]]
    return pack_messages(blocks)


def refusal_html(question: str, answer: Answer | None = None) -> str:
    """A friendly refusal that repeats the question so people see what was not found (or says
    why it could not be read, e.g. not in English)."""
    if answer is not None and answer.notice:
        return esc(answer.notice)
    return (f"Sorry, the articles I have don't cover that: “{esc(quote(question, 200))}”.\n"
            "Try rephrasing, or ask about something the articles report (see /help).")


def sources_html(answer: Answer) -> list[str]:
    """The full cited passages of ``answer``, split across messages only when needed."""
    citations = answer.citations or answer.related
    if not citations:
        return ["My last answer cited no passages."]
    blocks: list[str] = [] if answer.citations else [esc(RELATED_HEAD)]
    for n, citation in enumerate(citations, start=1):
        head = (f"<b>[{n}] {esc(citation_title(citation, 200))}</b>\n"
                f"{esc(citation.source)}, paragraph {citation.paragraph}{dated(citation)}")
        pieces = split_plain(" ".join(citation.text.split()), 3000)
        blocks.append(f"{head}\n{esc(pieces[0])}")
        blocks.extend(esc(piece) for piece in pieces[1:])
    return pack_messages(blocks)


def welcome_html(articles: int, newest: str | None, bot_username: str | None,
                 newest_published: str | None = None) -> str:
    """What /start and /help say: what the bot knows (the newest article, dated) and how to
    ask it."""
    mention = f"@{bot_username}" if bot_username else "me"
    knows = f"I answer questions about <b>{plural(articles, 'news article')}</b>"
    day = published_text(newest_published)
    newest_line = (f"\nNewest: <i>{esc(quote(newest, 120))}</i>" + (f" ({esc(day)})" if day else "")
                   if newest else "")
    return (f"{knows}, and I cite the passages I used.{newest_line}\n\n"
            "<b>How to ask</b>\n"
            "• In a private chat, just type your question.\n"
            f"• In a group, use /ask &lt;question&gt;, mention {esc(mention)}, or reply to one of "
            "my messages.\n"
            "• Follow-ups work: after “How many were wounded?” you can ask “and how many died?”.\n"
            "• Every source shows when its article was published.\n\n"
            "<b>Commands</b>\n"
            "/ask &lt;question&gt; – ask a question\n"
            "/sources – the full passages behind my last answer\n"
            "/since &lt;date&gt; – answer only from articles since then (2022-01-07, Jan 7, "
            "yesterday; /since off clears it)\n"
            "/source &lt;name&gt; – answer only from one source, e.g. reuters (/source off)\n"
            "/mode llm|extractive – answers written by a language model, when one is set up, "
            "or quoted\n"
            "/help – this message\n"
            "/reindex – update the index from the seeds folder (admins only)")


def slow_down_html(limit: int, wait_seconds: float) -> str:
    """The reply to a user over the per-minute question limit."""
    return (f"You're asking faster than I can keep up with (at most {limit} questions a "
            f"minute). Please try again in {max(1, round(wait_seconds))} seconds.")


def index_updated_html(report: BuildReport) -> str:
    """The reply to a /reindex that worked: the build summary."""
    return f"Index updated.\n{esc(format_report(report))}"


def index_failed_html(reason: str) -> str:
    """The reply to a /reindex that failed with a domain error (admins may see those)."""
    return f"The index was not updated: {esc(reason)}"
