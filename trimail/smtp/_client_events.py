"""Events `ClientConnection.next_event` reports: one per server reply.

Every reply the server sends becomes exactly one event, matched in order to the
command it answers (RFC 2920 §3.1): `Greeting` for the opening reply, `EhloResult`
for EHLO/HELO, `AuthChallenge` for a 334 to AUTH, `CommandReply` for everything else,
and `ServiceClosing` for a 421 nobody asked for. After a 421, the 221 to QUIT, EOF or
`send_failed()`, the engine reports `ConnectionClosed` (the server engine's class).
"""

from __future__ import annotations

from typing import Literal

import attrs

from trimail.mail.address import Mailbox
from trimail.mail.reply import Reply
from trimail.smtp._client_extensions import Extensions
from trimail.smtp._events import Event

Command = Literal[
    "EHLO",
    "HELO",
    "STARTTLS",
    "AUTH",
    "MAIL",
    "RCPT",
    "DATA",
    "DATA-END",
    "BDAT",
    "BDAT-LAST",
    "RSET",
    "NOOP",
    "QUIT",
]
"""What a reply answers. ``DATA`` is the DATA command (its reply is 354 or a refusal);
``DATA-END`` is the content and its final ``.`` (the reply is the message's fate);
``BDAT`` is a chunk without LAST, ``BDAT-LAST`` the last chunk (RFC 3030 §2); ``AUTH``
covers the AUTH command and each SASL response line sent after a 334 (RFC 4954 §4)."""

MESSAGE_END_COMMANDS: frozenset[Command] = frozenset({"DATA-END", "BDAT-LAST"})
"""Commands whose reply says whether the server took responsibility for the message."""


@attrs.frozen(kw_only=True)
class PendingCommand:
    """A command written and not yet answered (see ``ClientConnection.pending``).

    Attributes:
        command: what was written.
        forward_path: the recipient, for RCPT; None otherwise.
    """

    command: Command
    forward_path: Mailbox | None = None


@attrs.frozen(kw_only=True)
class ClientEvent(Event):
    """Base class of the client engine's own events."""


@attrs.frozen(kw_only=True)
class Greeting(ClientEvent):
    """The server's opening reply (RFC 5321 §3.1, §4.3.2).

    220 means go on with EHLO. 554 (or 521, RFC 7504) means no service: send QUIT.
    421 means the server is closing; `ConnectionClosed` follows.

    Attributes:
        reply: the reply as sent; greetings carry no enhanced status (RFC 2034 §4).
    """

    reply: Reply


@attrs.frozen(kw_only=True)
class EhloResult(ClientEvent):
    """The reply to EHLO or HELO (RFC 5321 §4.1.1.1).

    After a refused EHLO (500/502 from an old server), try ``send_helo()``. A positive
    reply ends any mail transaction and replaces the known extensions.

    Attributes:
        command: ``"EHLO"`` or ``"HELO"``.
        reply: the reply; its first line is the server's name and greeting.
        extensions: what a positive EHLO reply advertised; empty for HELO and for a
            refusal.
    """

    command: Literal["EHLO", "HELO"]
    reply: Reply
    extensions: Extensions = attrs.field(factory=Extensions)


@attrs.frozen(kw_only=True)
class CommandReply(ClientEvent):
    """The reply to one command (RFC 5321 §4.2), in the order the commands were sent.

    Attributes:
        command: the command answered; see `Command`.
        reply: the reply, enhanced status split off (RFC 2034).
        forward_path: the recipient this reply is for, for RCPT; else None.
    """

    command: Command
    reply: Reply
    forward_path: Mailbox | None = None

    @property
    def ends_message(self) -> bool:
        """True for the reply to ``DATA-END`` or ``BDAT-LAST``: the message's fate.

        2xx: delivered to the server for the recipients it accepted; 4xx: try again
        later; 5xx: bounce (RFC 5321 §4.2.5, §6.1).
        """
        return self.command in MESSAGE_END_COMMANDS


@attrs.frozen(kw_only=True)
class AuthChallenge(ClientEvent):
    """A 334 to AUTH: the server's SASL challenge (RFC 4954 §4).

    Answer with ``send_auth_response(data)`` or ``send_auth_cancel()``.

    Attributes:
        data: the challenge, base64-decoded (``b""`` for an empty one).
    """

    data: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class ServiceClosing(ClientEvent):
    """A 421 while no command was waiting for a reply (RFC 5321 §3.8).

    The server is closing the connection (idle timeout, shutdown); `ConnectionClosed`
    follows. A 421 answering a command comes as that command's event instead.

    Attributes:
        reply: the 421 reply.
    """

    reply: Reply
