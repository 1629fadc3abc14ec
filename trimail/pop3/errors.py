"""Errors raised by the POP3 engine (public).

Misuse by the caller raises `LocalProtocolError`; a peer that broke the protocol beyond
repair raises `RemoteProtocolError`, which carries the bytes to send before closing.
Recoverable peer mistakes are not exceptions: the engine answers them itself with
``-ERR`` in a `Reply` event.
"""

from __future__ import annotations


class Pop3ProtocolError(Exception):
    """Base class of the engine's errors."""


class LocalProtocolError(Pop3ProtocolError):
    """trimail (the caller) asked the engine for something illegal: a bug in the driver.

    The engine's state is unchanged when this is raised.
    """


class RemoteProtocolError(Pop3ProtocolError):
    """The peer broke the protocol; the session must end.

    The engine is `State.CLOSED` when this is raised; deletions must not be applied
    (RFC 1939 §6: only QUIT from TRANSACTION enters UPDATE).

    Attributes:
        data: the bytes to write before closing, e.g.
            ``b"-ERR [SYS/PERM] too many errors\\r\\n"``.
    """

    def __init__(self, message: str, *, data: bytes) -> None:
        super().__init__(message)
        self.data = data
