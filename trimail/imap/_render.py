"""Response framing (RFC 3501 §7, RFC 9051 §7): tagged, untagged and continuation lines.

Rendering of data values (strings, ENVELOPE, BODYSTRUCTURE) lives in ``_values``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

CRLF = b"\r\n"
STATUSES = ("OK", "NO", "BAD")


def clean_text(text: str) -> bytes:
    """Encode resp-text (RFC 3501 §9 ``text``); CR, LF and NUL would break the line."""
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ").encode("utf-8")


def valid_code(code: str) -> bool:
    """True if *code* can stand inside ``[...]`` (no ``]``, CR, LF, NUL, not empty)."""
    return bool(code) and not any(c in code for c in "]\r\n\x00") and code.isprintable()


def _resp_text(text: str, code: str | None) -> bytes:
    prefix = f"[{code}] " if code else ""
    return clean_text(prefix + (text or "completed"))


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """``tag SP status SP ["[" code "]" SP] text CRLF`` (RFC 3501 §7.1)."""
    return (
        tag.encode("ascii") + b" " + status.encode("ascii") + b" " + _resp_text(text, code) + CRLF
    )


def untagged(status: str, text: str, code: str | None = None) -> bytes:
    """``* status ["[" code "]"] text`` for OK/NO/BAD/BYE/PREAUTH (RFC 3501 §7.1)."""
    return b"* " + status.encode("ascii") + b" " + _resp_text(text, code) + CRLF


def bye(text: str) -> bytes:
    """``* BYE text`` (RFC 3501 §7.1.5)."""
    return untagged("BYE", text)


def continuation(text: str = "Ready") -> bytes:
    """``+ text`` (RFC 3501 §7.5)."""
    return b"+ " + clean_text(text) + CRLF


def challenge(data: bytes) -> bytes:
    """``+ base64`` for an AUTHENTICATE round (RFC 3501 §6.2.2); empty data: ``+ ``."""
    return b"+ " + base64.b64encode(data) + CRLF


def capability_code(caps: Iterable[str]) -> str:
    """``CAPABILITY a b c`` for a response code (RFC 3501 §7.1)."""
    return "CAPABILITY " + " ".join(caps)


def capability_response(caps: Iterable[str]) -> bytes:
    """``* CAPABILITY a b c`` (RFC 3501 §7.2.1)."""
    return b"* " + capability_code(caps).encode("ascii") + CRLF


def greeting(caps: Iterable[str], text: str) -> bytes:
    """``* OK [CAPABILITY ...] text`` (RFC 3501 §7.1.1, §7.2.1)."""
    return untagged("OK", text, capability_code(caps))


def enabled(caps: Iterable[str]) -> bytes:
    """``* ENABLED a b`` (RFC 5161 §3.2); ``* ENABLED`` when nothing changed."""
    names = " ".join(caps)
    return b"* ENABLED" + (b" " + names.encode("ascii") if names else b"") + CRLF
