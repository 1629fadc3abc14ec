"""Rendering replies to bytes (RFC 5321 §4.2, RFC 2034 §4)."""

from __future__ import annotations

import re

from trimail.mail.reply import Reply
from trimail.smtp.errors import LocalProtocolError

_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\Z")  # RFC 3463 §2


def render_reply(reply: Reply, *, enhanced_status_codes: bool = True) -> bytes:
    """Render *reply* as ``code-text CRLF`` lines, the last one ``code SP text CRLF``.

    The enhanced status, when set and *enhanced_status_codes* is True, starts every
    line (RFC 2034 §4). Text is UTF-8 (ASCII unless the client used SMTPUTF8,
    RFC 6531 §3.7.4).

    Args:
        reply: the reply; each text line without CR or LF.
        enhanced_status_codes: False leaves the enhanced status out.

    Returns:
        The bytes to write.

    Raises:
        LocalProtocolError: a text line holds CR or LF, or the enhanced status is
            malformed or its class differs from the code's first digit.
    """
    status = reply.enhanced_status
    if status is not None:
        if not _ENHANCED.match(status):
            raise LocalProtocolError(f"malformed enhanced status {status!r} (RFC 3463 §2)")
        if reply.code // 100 != 3 and status[0] != str(reply.code)[0]:
            raise LocalProtocolError(f"enhanced status {status} does not match {reply.code}")
    if not enhanced_status_codes:
        status = None
    texts = reply.text or ("",)
    out = []
    for index, text in enumerate(texts):
        if "\r" in text or "\n" in text:
            raise LocalProtocolError(f"reply text contains CR or LF: {text!r}")
        separator = " " if index == len(texts) - 1 else "-"
        body = text if status is None else f"{status} {text}" if text else status
        out.append(f"{reply.code}{separator}{body}\r\n")
    return "".join(out).encode("utf-8")
