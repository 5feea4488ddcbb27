"""Text cleaning every seed format shares: what a reader sees, in one normal form."""

from __future__ import annotations

import re
import unicodedata

# Lone UTF-16 surrogates: a JSON "\ud800", an HTML "&#xd800;", a file name's undecodable
# bytes. Python strings can hold them, UTF-8 (SQLite, JSON output) cannot.
SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_SPACE_RE = re.compile(r"\s+")


def clean(text: str) -> str:
    """NFC, lone surrogates replaced by U+FFFD, zero-width characters and stray controls removed,
    whitespace collapsed, stripped."""
    text = SURROGATE_RE.sub("\ufffd", text)
    text = unicodedata.normalize("NFC", text)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _CONTROL_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()
