"""Parsing of POP3 command lines (RFC 1939 §3) and their arguments."""

from __future__ import annotations

import binascii

MAX_ARGUMENT_CHARS = 40  # RFC 1939 §3: "arguments may be up to 40 characters long"
MAX_MSG_NUMBER_DIGITS = 10  # more than any maildrop holds; keeps int() cheap


class ArgumentError(ValueError):
    """A command's arguments are malformed; the message is the ``-ERR`` text."""


def split_command(line: bytes) -> tuple[str, bytes]:
    """Split a line (CRLF removed) into an upper-case keyword and the rest.

    The keyword is 3-4 printable ASCII characters (RFC 1939 §3, case-insensitive);
    anything else yields ``""``. The rest is what follows the first space.
    """
    keyword, _, rest = line.partition(b" ")
    if not (3 <= len(keyword) <= 4 and keyword.isascii() and keyword.isalpha()):
        return "", rest
    return keyword.decode("ascii").upper(), rest


def arguments(rest: bytes) -> list[bytes]:
    """The space-separated arguments (RFC 1939 §3); empty ones from runs of spaces dropped."""
    return [a for a in rest.split(b" ") if a]


MAX_LINE_COUNT = 2**31 - 1  # more lines than any message can have


def msg_number(raw: bytes) -> int:
    """Parse a message-number (RFC 1939 §3: decimal, 1-based).

    Raises:
        ArgumentError: not 1-10 ASCII digits.
    """
    if not (raw.isdigit() and raw.isascii() and len(raw) <= MAX_MSG_NUMBER_DIGITS):
        raise ArgumentError("invalid message number")
    return int(raw)


def line_count(raw: bytes) -> int:
    """Parse TOP's line count (RFC 1939 §7: a non-negative number).

    Any count is accepted (RFC 1939 §7 sets no limit); counts beyond the longest
    message are the same as "all of it", so the value is capped, not refused.

    Raises:
        ArgumentError: not ASCII digits, or more than 40 characters (§3 argument limit).
    """
    if not (raw.isdigit() and raw.isascii() and len(raw) <= 40):
        raise ArgumentError("invalid line count")
    return min(int(raw), MAX_LINE_COUNT)


def text_argument(raw: bytes, what: str) -> str:
    """Decode a USER/PASS argument as UTF-8.

    Raises:
        ArgumentError: empty or not valid UTF-8.
    """
    if not raw:
        raise ArgumentError(f"missing {what}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArgumentError(f"{what} is not valid UTF-8") from None


def base64_response(raw: bytes) -> bytes:
    """Decode a SASL response line (RFC 5034 §4; ``=`` is an empty initial response).

    Raises:
        ArgumentError: not valid base64 (RFC 5034 §4: the server MUST reject it).
    """
    if raw == b"=":
        return b""
    try:
        return binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ArgumentError("invalid base64 data") from None
