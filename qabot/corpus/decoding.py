"""Seed bytes → text: UTF-8, UTF-16 with a BOM, or a legacy encoding; binary data refused."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_BINARY_PROBE = 8192
_ALLOWED_CONTROLS = frozenset(b"\t\n\r\f\b")


def _is_binary(data: bytes) -> bool:
    """A NUL byte, or more than 10% control bytes, in the first 8 KiB."""
    probe = data[:_BINARY_PROBE]
    if b"\x00" in probe:
        return True
    controls = sum(1 for b in probe if (b < 32 or b == 127) and b not in _ALLOWED_CONTROLS)
    return controls > len(probe) * 0.10


def decode(data: bytes, name: str) -> str | None:
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
