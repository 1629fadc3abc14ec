"""Errors raised by the SMTP engine (public).

Misuse by the caller raises `LocalProtocolError`; a peer that broke the protocol beyond
repair raises `RemoteProtocolError`, which carries the reply to send before closing.
Recoverable peer mistakes are not exceptions but `BadCommand` events.
"""

from __future__ import annotations

from trimail.mail.reply import Reply


class SmtpProtocolError(Exception):
    """Base class of the engine's errors."""


class LocalProtocolError(SmtpProtocolError):
    """trimail (the caller) asked the engine for something illegal: a bug in the driver.

    The engine's state is unchanged when this is raised.
    """


class RemoteProtocolError(SmtpProtocolError):
    """The peer broke the protocol; the session must end.

    Attributes:
        reply: the reply to send before closing (a 421, RFC 5321 §3.8).
    """

    def __init__(self, message: str, *, reply: Reply) -> None:
        super().__init__(message)
        self.reply = reply


class PathError(RemoteProtocolError):
    """A reverse-path or forward-path is malformed (RFC 5321 §4.1.2).

    Raised by `trimail.smtp.parse_path`. Inside the engine it becomes a `BadCommand`
    event, so the session goes on; it subclasses `RemoteProtocolError` only so callers
    of `parse_path` can treat all peer errors alike.

    Attributes:
        reply: 501 5.1.3 / 5.1.7 (syntax, path over 256 octets), 553 5.1.3 / 5.1.7
            (local part over 64 octets) or 553 5.6.7 (non-ASCII without SMTPUTF8).
    """
