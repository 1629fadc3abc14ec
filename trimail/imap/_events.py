"""Events the IMAP engine reports to its driver, and the NEED_DATA / PAUSED sentinels.

Outgoing bytes come from ``Reply.data`` of a `Reply` event (the engine answered by
itself) and from the methods the driver calls (``complete``, ``accept_literal``,
``auth_challenge``, ``idle_started``, ``enable``, ``bye``...). Write them in the order
obtained; untagged data the driver renders itself goes before its ``complete``.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from trimail.imap._commands import Command


class Sentinel(enum.Enum):
    """Non-event results of `ImapConnection.next_event`."""

    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
"""Feed more bytes with ``receive_data`` before asking again."""
PAUSED: Final = Sentinel.PAUSED
"""An answer is owed (or the greeting, or the TLS handshake); pipelined commands wait."""


@attrs.frozen(kw_only=True)
class Event:
    """Base class of everything ``next_event`` returns besides the sentinels."""


@attrs.frozen(kw_only=True)
class Reply(Event):
    """The engine answered by itself; write ``data``. Owes nothing.

    Used for syntax errors, commands not valid in this state and unknown commands
    (tagged ``BAD``), the ``+`` continuation of a synchronizing literal, CAPABILITY
    (``* CAPABILITY ...`` and the tagged ``OK``), ``NO [BADCHARSET (UTF-8 US-ASCII)]``,
    ``NO [PRIVACYREQUIRED]`` for LOGIN/AUTHENTICATE without TLS, ``NO``/``BAD [TOOBIG]``
    for literals over the limits, and ``BAD`` ending an IDLE without ``DONE``.

    Attributes:
        data: one or more complete response lines, CRLF-terminated.
    """

    data: bytes


@attrs.frozen(kw_only=True)
class CommandReceived(Event):
    """A complete, syntactically valid command, valid in the current state.

    Owes exactly one tagged completion: ``conn.complete(tag, status, text, code)``
    (untagged data first, written by the driver). AUTHENTICATE may first go through
    ``conn.auth_challenge``; IDLE through ``conn.idle_started``.

    Attributes:
        tag: the client's tag.
        command: the parsed command (``trimail.imap._commands``).
    """

    tag: str
    command: Command


@attrs.frozen(kw_only=True)
class LiteralRequest(Event):
    """A synchronizing literal of APPEND message data was announced (RFC 3501 §2.2.1).

    The line so far is valid and the size is within ``max_append_bytes``. Answer
    ``conn.accept_literal()`` (``+ Ready``, the octets follow) or
    ``conn.reject_literal(status, text, code)``, e.g. ``NO [TRYCREATE]`` for a missing
    mailbox (IMAP-NOTES §3); the command then ends without its literal.

    Attributes:
        tag: the command's tag.
        command_name: ``"APPEND"``.
        mailbox: the decoded target mailbox.
        size: the announced literal size in octets.
    """

    tag: str
    command_name: str
    mailbox: str | None
    size: int


@attrs.frozen(kw_only=True)
class AuthResponse(Event):
    """The client's answer to ``conn.auth_challenge`` (RFC 3501 §6.2.2), decoded.

    Answer with another ``auth_challenge`` or ``complete``.

    Attributes:
        tag: the AUTHENTICATE tag.
        data: the decoded response (``b""`` for an empty line).
    """

    tag: str
    data: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class AuthCancelled(Event):
    """The client cancelled the exchange with ``*`` or sent invalid base64.

    The engine has not replied: answer ``conn.complete(tag, "BAD", ...)``
    (RFC 3501 §6.2.2).

    Attributes:
        tag: the AUTHENTICATE command's tag.
        reason: ``"cancelled"`` (the client sent ``*``) or ``"invalid base64"``.
    """

    tag: str
    reason: str = "cancelled"


@attrs.frozen(kw_only=True)
class IdleDone(Event):
    """The client ended IDLE with ``DONE`` (RFC 2177 §3); answer ``conn.complete``."""

    tag: str


@attrs.frozen(kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection (EOF), or the session ended (LOGOUT, BYE)."""
