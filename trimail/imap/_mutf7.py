"""Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3, RFC 9051 §5.1.3).

Printable US-ASCII (0x20-0x7E) stands for itself, except ``&``, written ``&-``. Any
other run of characters is ``&``, the modified base64 (``,`` for ``/``, no padding) of
its UTF-16BE form, and ``-``. `decode` is strict: only the one canonical spelling of a
name is accepted, so every wire name maps to exactly one stored name and back
(stalwartlabs/stalwart#90, IMAP-NOTES §3).
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["decode", "encode"]

_B64_RUN = re.compile(r"[A-Za-z0-9+,]+")


def _direct(char: str) -> bool:
    return " " <= char <= "~"


def _shift(run: list[str]) -> str:
    raw = "".join(run).encode("utf-16-be")  # raises on a lone surrogate
    text = base64.b64encode(raw).rstrip(b"=").replace(b"/", b",").decode("ascii")
    return f"&{text}-"


def encode(name: str) -> str:
    """Encode *name* (any Unicode text) in modified UTF-7.

    Raises:
        ValueError: *name* holds a lone surrogate (not encodable in UTF-16).
    """
    out: list[str] = []
    run: list[str] = []
    for char in name:
        if _direct(char):
            if run:
                out.append(_shift(run))
                run = []
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    if run:
        out.append(_shift(run))
    return "".join(out)


def _unshift(run: str) -> str:
    if not _B64_RUN.fullmatch(run):
        raise ValueError(f"invalid modified base64 {run!r}")
    padded = run.replace(",", "/") + "=" * (-len(run) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        return raw.decode("utf-16-be")  # strict: odd length or lone surrogate fails
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid modified UTF-7 run {run!r}: {exc}") from None


def decode(text: str) -> str:
    """Decode a modified UTF-7 mailbox name.

    Raises:
        ValueError: a character outside printable ASCII, an unterminated ``&``, bad
            base64, an odd number of UTF-16 octets, a lone surrogate, or a
            non-canonical spelling (printable ASCII inside ``&...-``, non-zero pad
            bits, two adjacent shifted runs ``-&`` (§5.1.3 forbids null shifts).
    """
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "&":
            end = text.find("-", position + 1)
            if end < 0:
                raise ValueError("unterminated '&' in modified UTF-7")
            run = text[position + 1 : end]
            out.append(_unshift(run) if run else "&")
            position = end + 1
        elif _direct(char):
            out.append(char)
            position += 1
        else:
            raise ValueError(f"character {char!r} not allowed in modified UTF-7")
    result = "".join(out)
    if encode(result) != text:
        raise ValueError(f"non-canonical modified UTF-7 {text[:64]!r}")
    return result
