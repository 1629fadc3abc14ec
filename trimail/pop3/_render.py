"""Rendering of POP3 responses (RFC 1939 §3) and message content (byte-stuffing)."""

from __future__ import annotations

from collections.abc import Iterable

CRLF = b"\r\n"
TERMINATOR = b".\r\n"  # ends a multi-line response, RFC 1939 §3


def _clean(text: str) -> bytes:
    """Encode response text; CR, LF and NUL would break the line and are replaced."""
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ").encode("utf-8")


def ok(text: str = "") -> bytes:
    """``+OK text`` (RFC 1939 §3)."""
    return b"+OK " + _clean(text) + CRLF if text else b"+OK" + CRLF


def err(text: str, code: str | None = None) -> bytes:
    """``-ERR [code] text``; *code* is an RFC 2449 §8 / RFC 3206 response code."""
    prefix = f"[{code}] " if code else ""
    return b"-ERR " + _clean(prefix + text) + CRLF


def multiline(first: str, lines: Iterable[str]) -> bytes:
    """A ``+OK`` line, *lines* byte-stuffed (RFC 1939 §3), then ``.``."""
    body = b"".join(_clean(line) + CRLF for line in lines)
    return ok(first) + stuff(body) + TERMINATOR


def normalize(data: bytes) -> bytes:
    """Make every LF a CRLF (bare CR kept) and end non-empty *data* with CRLF.

    A line ends at LF whatever precedes it, so no client can be fooled into taking
    ``\\n.\\n`` inside a message for the end of the response.
    """
    if b"\n" in data:
        data = data.replace(CRLF, b"\n").replace(b"\n", CRLF)
    if data and not data.endswith(CRLF):
        data += CRLF
    return data


def stuff(data: bytes) -> bytes:
    """Byte-stuff CRLF-normalized *data*: a line starting with ``.`` gets another."""
    data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data.startswith(b".") else data


def unstuff(data: bytes) -> bytes:
    """Undo `stuff`, for clients and tests (the terminator must already be removed)."""
    data = data.replace(b"\r\n..", b"\r\n.")
    return data[1:] if data.startswith(b"..") else data


def top(data: bytes, lines: int) -> bytes:
    """The header, the blank line and the first *lines* body lines of normalized *data*.

    RFC 1939 §7 (TOP). A message without a blank line is all header.
    """
    if data.startswith(CRLF):
        position = 2
    else:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return data
        position = end + 4
    for _ in range(lines):
        newline = data.find(b"\n", position)
        if newline < 0:
            return data
        position = newline + 1
    return data[:position]
