"""The list's reason (its TXT record, RFC 5782 §2.1) made safe for a reply or a header."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_REASON_CHARS = 200  # keeps a reply line under 512 octets (RFC 5321 §4.5.3.1.5)
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]+")  # anything but visible ASCII


def sanitize_reason(records: Iterable[str], max_chars: int = MAX_REASON_CHARS) -> str:
    """Join a list's TXT records into one short line of printable ASCII.

    The TXT data comes from whoever runs (or hijacked) the list's DNS, and goes into
    an SMTP reply and a header field: a CR or LF there would inject reply lines or
    header fields. Every run of characters that are not visible ASCII (controls,
    whitespace, non-ASCII) becomes one space; records are joined with ``" / "``
    (repeats dropped); the result is cut to *max_chars* with ``"..."`` at the end.

    Args:
        records: the TXT records at the query name, each one's strings joined.
        max_chars: the longest result (characters), at least 3.

    Returns:
        Visible ASCII and single spaces, without leading or trailing space; ``""``
        when nothing printable is left.
    """
    parts: list[str] = []
    for record in records:
        text = _NOT_PRINTABLE.sub(" ", record).strip()
        if text and text not in parts:
            parts.append(text)
        if sum(len(p) for p in parts) > max_chars:
            break
    joined = " / ".join(parts)
    if len(joined) <= max_chars:
        return joined
    return joined[: max_chars - 3].rstrip() + "..."
