"""What the client and the recipient see: the 554 reply and the X-DNSBL header field."""

from __future__ import annotations

from trimail.mail.reply import Reply
from trimail_dnsbl.check import DnsblResult, Listing

HEADER_NAME = "X-DNSBL"
MAX_REPLY_TEXT = 512 - len("554-5.7.1 \r\n")  # a reply line, RFC 5321 §4.5.3.1.5


def _number(value: float) -> str:
    """``1.0``, ``0.25``: a weight or score as the operator wrote it."""
    return repr(round(value, 6))


def reject_reply(result: DnsblResult) -> Reply:
    """The 554 5.7.1 reply for a blocked client, one line per list that lists it.

    Used as the greeting (RFC 5321 §3.1: 554 instead of 220) or as the reply to RCPT
    TO; 5.7.1 is "delivery not authorized" (RFC 3463 §3.8). Each line fits in the
    512 octets of RFC 5321 §4.5.3.1.5 (the reason is cut if it must be).

    Args:
        result: a result with at least one listing.

    Returns:
        e.g. ``554 5.7.1 Service unavailable; client host [192.0.2.1] blocked using
        zen.example; Listed, see https://zen.example/q?192.0.2.1``.
    """
    lines = tuple(_reject_line(result.address, listing) for listing in result.listings)
    return Reply(code=554, enhanced_status="5.7.1", text=lines or _reject_line(result.address))


def _reject_line(address: str, listing: Listing | None = None) -> str:
    line = f"Service unavailable; client host [{address}] blocked"
    if listing is None:
        return line
    line += f" using {listing.zone}"
    if listing.reason:
        line = f"{line}; {listing.reason}"
    return line if len(line) <= MAX_REPLY_TEXT else line[: MAX_REPLY_TEXT - 3] + "..."


def header_field(result: DnsblResult) -> str:
    """The ``X-DNSBL`` header field for a message from a listed client.

    One field, folded with CRLF and a space between the lists (RFC 5322 §2.2.3);
    every line is far below 998 octets, and the reasons are printable ASCII
    (`trimail_dnsbl.reason.sanitize_reason`) with ``"`` turned into ``'``.

    Args:
        result: a result with at least one listing.

    Returns:
        e.g. ``X-DNSBL: listed in zen.example (weight 1.0) 127.0.0.2 "Listed";``
        CRLF `` client=192.0.2.1 score=1.0 threshold=1.0`` (no final CRLF).
    """
    parts = []
    for listing in result.listings:
        part = f"listed in {listing.zone} (weight {_number(listing.weight)})"
        part += " " + ",".join(listing.codes)
        if listing.reason:
            part += ' "' + listing.reason.replace('"', "'") + '"'
        parts.append(part)
    summary = (
        f"client={result.address} score={_number(result.score)} "
        f"threshold={_number(result.threshold)}"
    )
    if result.failed:
        summary += ";\r\n unanswered: " + ",\r\n ".join(result.failed)
    return f"{HEADER_NAME}: " + ",\r\n ".join(parts) + ";\r\n " + summary
