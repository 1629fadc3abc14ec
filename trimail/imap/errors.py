"""Errors raised by the IMAP engine (public).

Misuse by the caller raises `LocalProtocolError`; a peer that broke the protocol beyond
repair raises `RemoteProtocolError`, which carries the bytes to send before closing.
Recoverable peer mistakes are not exceptions: the engine answers them itself with a
tagged ``BAD`` (or ``NO``) in a `Reply` event.
"""

from __future__ import annotations


class ImapProtocolError(Exception):
    """Base class of the engine's errors."""


class LocalProtocolError(ImapProtocolError):
    """trimail (the caller) asked the engine for something illegal: a bug in the driver.

    The engine's state is unchanged when this is raised.
    """


class RemoteProtocolError(ImapProtocolError):
    """The peer broke the protocol; the session must end.

    The engine is `State.LOGOUT` when this is raised.

    Attributes:
        data: the bytes to write before closing, e.g.
            ``b"* BYE Too many invalid commands\\r\\n"`` (RFC 3501 §7.1.5).
    """

    def __init__(self, message: str, *, data: bytes) -> None:
        super().__init__(message)
        self.data = data
