"""Trace header fields prepended at delivery: Return-Path and Received (RFC 5321 §4.4).

Pure functions: the caller passes the time and identifiers in.
"""

from __future__ import annotations

import datetime
import email.utils

from trimail.mail.address import Mailbox, ReversePath


def _clean(text: str, limit: int = 255) -> str:
    """Make client-supplied text safe inside a header: printable, no CR/LF, bounded."""
    safe = "".join(ch if ch.isprintable() and ch not in "()\\" else "?" for ch in text)
    return safe[:limit] or "unknown"


def return_path_header(reverse_path: ReversePath) -> bytes:
    """``Return-Path: <reverse-path>`` + CRLF, as the final delivery MTA adds it (§4.4).

    Args:
        reverse_path: MAIL FROM's path; NULL_PATH gives ``Return-Path: <>``.
    """
    return f"Return-Path: <{reverse_path}>\r\n".encode()


def with_protocol(*, esmtp: bool, tls: bool, authenticated: bool, smtputf8: bool) -> str:
    """The ``with`` keyword of a Received field (RFC 3848, RFC 6531 §4.3).

    Returns:
        One of SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, or the UTF8SMTP* forms.
    """
    if not esmtp:
        return "SMTP"
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def received_header(
    *,
    helo_identity: str,
    peer_host: str,
    by_host: str,
    protocol: str,
    queue_id: str,
    forward_paths: tuple[Mailbox, ...],
    now: datetime.datetime,
) -> bytes:
    """A Received header field (RFC 5321 §4.4, RFC 5322 §3.6.7), folded, ending CRLF.

    Args:
        helo_identity: the client's HELO/EHLO argument (sanitized here).
        peer_host: the client's IP address text; IPv6 gets the ``IPv6:`` prefix.
        by_host: this server's host name.
        protocol: from `with_protocol`.
        queue_id: this transaction's id, also given in the 250 reply.
        forward_paths: the recipients; ``for <...>`` is written only when there is
            exactly one, so recipients do not learn of each other.
        now: the time of receipt, timezone-aware.
    """
    literal = f"IPv6:{peer_host}" if ":" in peer_host else peer_host
    lines = [
        f"Received: from {_clean(helo_identity)} ([{_clean(literal, 64)}])",
        f"\tby {_clean(by_host)} (trimail) with {protocol} id {queue_id}",
    ]
    when = email.utils.format_datetime(now)
    if len(forward_paths) == 1:
        lines.append(f"\tfor <{forward_paths[0]}>; {when}")
    else:
        lines[-1] += ";"
        lines.append(f"\t{when}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
