"""Events the engine reports to its driver, and the NEED_DATA / PAUSED sentinels.

Outgoing bytes come from exactly two places: ``Reply.data`` of a `Reply` event (the
engine answered by itself) and the return value of the method that answers an event
owing a reply (`Authenticate`, `SaslAuthenticate`, `SaslResponse`, `Retrieve`, `Quit`,
`StartTls`). Write them in the order obtained.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

import attrs


class Sentinel(enum.Enum):
    """Non-event results of `Pop3Connection.next_event`."""

    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
"""Feed more bytes with ``receive_data`` before asking again."""
PAUSED: Final = Sentinel.PAUSED
"""An answer is owed (or the greeting was not sent); pipelined commands wait."""


@attrs.frozen(kw_only=True)
class Event:
    """Base class of everything ``next_event`` returns besides the sentinels."""


@attrs.frozen(kw_only=True)
class Reply(Event):
    """The engine answered a command itself; write ``data``. Owes nothing.

    Used for CAPA, STAT, LIST, UIDL, DELE, RSET, NOOP, USER, the ``+ `` continuation
    of AUTH PLAIN, and every ``-ERR`` the engine decides (syntax, wrong state, no such
    message, line too long, malformed SASL data, a cancelled SASL exchange).

    Attributes:
        data: one complete response: a ``+OK``/``-ERR`` line, a multi-line response
            ending in ``.\\r\\n`` (RFC 1939 §3), or a ``+ `` line (RFC 5034 §4).
        command: the command keyword answered, upper-case (``"LIST"``), or ``""``
            for an unreadable line; for the driver's logs.
        ok: True for ``+OK`` and ``+ ``.
    """

    data: bytes
    command: str = ""
    ok: bool = True


@attrs.frozen(kw_only=True)
class Authenticate(Event):
    """USER+PASS (RFC 1939 §7) or AUTH PLAIN (RFC 5034, RFC 4616) to verify.

    Answer with ``conn.accept_login(maildrop)`` or ``conn.reject_login(reason)``. For
    AUTH PLAIN the engine has checked that the authzid is empty or equal to the
    authcid.

    Attributes:
        username: the USER argument or the PLAIN authcid.
        password: the password as sent (never logged by the engine).
        mechanism: ``"USER"`` or ``"PLAIN"``.
    """

    username: str
    password: str = attrs.field(repr=False)
    mechanism: Literal["USER", "PLAIN"]


@attrs.frozen(kw_only=True)
class SaslAuthenticate(Event):
    """AUTH with a mechanism other than PLAIN (RFC 5034 §4), e.g. ``SCRAM-SHA-256``.

    Only mechanisms in ``Pop3Config.sasl_mechanisms`` get here. The driver runs the
    exchange (`trimail.sasl`): answer ``conn.sasl_challenge(data)`` to send a challenge
    (the client's next line comes as `SaslResponse`), or end it with
    ``conn.accept_login(maildrop)`` / ``conn.reject_login(reason)`` as for
    `Authenticate`.

    Attributes:
        mechanism: the SASL mechanism name, upper-case.
        initial_response: the base64-decoded initial response (``b""`` for ``=``),
            or None when the client sent none (then send the empty challenge first).
    """

    mechanism: str
    initial_response: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class SaslResponse(Event):
    """The client's response line to ``conn.sasl_challenge`` (RFC 5034 §4), decoded.

    Answer like `SaslAuthenticate`. ``*`` (cancel) and invalid base64 never get here:
    the engine answers them with ``-ERR`` and the exchange is over.

    Attributes:
        mechanism: the mechanism of the exchange, upper-case.
        data: the base64-decoded response; may be empty.
    """

    mechanism: str
    data: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Retrieve(Event):
    """RETR n or TOP n m (RFC 1939 §7) of an existing, undeleted message.

    Load the whole message and answer ``conn.send_message(data)``, or
    ``conn.send_error(text)`` if it cannot be read. For TOP the engine cuts the
    header and the first ``top_lines`` body lines out of ``data`` itself.

    Attributes:
        msg_number: the 1-based message-number the client used.
        index: ``msg_number - 1``, the position in the maildrop given to
            ``accept_login``.
        top_lines: None for RETR; the TOP line count (0 or more).
    """

    msg_number: int
    index: int
    top_lines: int | None = None


@attrs.frozen(kw_only=True)
class Quit(Event):
    """QUIT (RFC 1939 §6).

    From TRANSACTION the engine is now in `State.UPDATE`: remove the messages at
    ``deleted`` and answer ``conn.quit_done(ok)``. From AUTHORIZATION ``deleted`` is
    empty; answer ``conn.quit_done(True)``. Then close the connection.

    Attributes:
        deleted: 0-based maildrop indexes marked deleted, ascending.
    """

    deleted: tuple[int, ...] = ()


@attrs.frozen(kw_only=True)
class StartTls(Event):
    """STLS (RFC 2595 §4), only with ``Pop3Config(stls=True)`` and before TLS is on.

    Answer ``conn.start_tls()`` (``+OK``; buffered plaintext is discarded), run the
    TLS handshake, then call ``conn.start_tls_done()``; or ``conn.refuse_tls(text)``.
    """


@attrs.frozen(kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection (EOF). Marked deletions must NOT be applied."""
