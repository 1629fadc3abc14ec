"""Events the engine reports to its driver, and the NEED_DATA / PAUSED sentinels.

Every event but `MessageData` and `ConnectionClosed` owes exactly one reply, sent with
`ServerConnection.send` (RFC 5321 §4.2: one reply per command).
"""

from __future__ import annotations

import enum
from typing import Final, Literal

import attrs

from trimail.mail.address import Mailbox, ReversePath
from trimail.mail.reply import Reply
from trimail.smtp._replies import R214_HELP, R250_OK, R252_CANNOT_VRFY

Parameters = tuple[tuple[str, str | None], ...]
"""ESMTP parameters as (keyword upper-cased, value or None), in the order sent."""


class Sentinel(enum.Enum):
    """Non-event results of `ServerConnection.next_event`."""

    NEED_DATA = "NEED_DATA"
    PAUSED = "PAUSED"

    def __repr__(self) -> str:
        return self.value


NEED_DATA: Final = Sentinel.NEED_DATA
"""Feed more bytes with ``receive_data`` before asking again."""
PAUSED: Final = Sentinel.PAUSED
"""A reply is owed: ``send`` it first; pipelined commands wait in the buffer."""


@attrs.frozen(kw_only=True)
class Event:
    """Base class of everything ``next_event`` returns besides the sentinels."""


@attrs.frozen(kw_only=True)
class Hello(Event):
    """HELO or EHLO received (RFC 5321 §4.1.1.1).

    Reply with ``conn.ehlo_reply(...)`` to EHLO, a 250 to HELO, or a refusal. A 2xx
    ends any mail transaction; the EHLO reply's keywords become the extensions that
    MAIL FROM parameters may use.

    Attributes:
        command: ``"EHLO"`` or ``"HELO"``.
        helo_identity: the argument as sent, e.g. ``"client.example"`` or
            ``"[192.0.2.1]"`` (RFC 7208 §2.3); not validated beyond being non-empty.
    """

    command: Literal["EHLO", "HELO"]
    helo_identity: str


@attrs.frozen(kw_only=True)
class MailFrom(Event):
    """MAIL received with valid syntax and parameters (RFC 5321 §4.1.1.2).

    Reply 250 2.1.0 to open the transaction, or refuse. The engine has checked the
    parameters: only SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8
    (RFC 6531), RET and ENVID (RFC 3461 §4.3, §4.4; read them with
    ``trimail.mail.dsn.DsnMailParams.from_parameters``) and
    ``SmtpConfig.extra_mail_parameters``, each only if advertised.

    Attributes:
        reverse_path: ``NULL_PATH`` for ``<>``; a source route is dropped.
        parameters: all parameters, keyword upper-cased.
        size: the SIZE value in octets, or None.
        body: ``"7BIT"`` or ``"8BITMIME"``, or None.
        smtputf8: True if the SMTPUTF8 parameter was given.
    """

    reverse_path: ReversePath
    parameters: Parameters = ()
    size: int | None = None
    body: str | None = None
    smtputf8: bool = False


@attrs.frozen(kw_only=True)
class RcptTo(Event):
    """RCPT received after an accepted MAIL (RFC 5321 §4.1.1.3).

    Reply 250 2.1.5 to accept the recipient, or refuse (550 5.1.1 ...).

    Attributes:
        forward_path: the recipient; ``<postmaster>`` is
            ``Mailbox(local_part="postmaster", domain="")``.
        parameters: NOTIFY and ORCPT if DSN was advertised (RFC 3461 §4.1, §4.2,
            syntax-checked; read them with
            ``trimail.mail.dsn.DsnRcptParams.from_parameters``), and parameters from
            ``SmtpConfig.extra_rcpt_parameters``.
    """

    forward_path: Mailbox
    parameters: Parameters = ()


@attrs.frozen(kw_only=True)
class DataCommand(Event):
    """DATA received with at least one accepted recipient (RFC 5321 §4.1.1.4).

    Reply 354 to read the message (then `MessageData` ... `MessageComplete`), or
    4xx/5xx to refuse it.
    """


@attrs.frozen(kw_only=True)
class MessageData(Event):
    """A piece of message content; owes no reply.

    DATA content is dot-unstuffed with CRLF kept, and the last piece ends with the
    CRLF before the terminating ``.``. BDAT content is passed as sent. Pieces are as
    large as the received bytes allow, not one per line.

    Attributes:
        data: the octets.
    """

    data: bytes


@attrs.frozen(kw_only=True)
class MessageComplete(Event):
    """The message content ended (``CRLF.CRLF``, or BDAT ... LAST).

    Reply 250 2.0.0 once the message is safe, or 4xx/5xx. The transaction ends
    with the reply.
    """


@attrs.frozen(kw_only=True)
class MessageAborted(Event):
    """The engine refused the message content; discard the `MessageData` received.

    Reported once, at the end of the data (DATA) or of the chunk (BDAT), for a bare
    CR or LF, a text line over ``max_text_line_bytes`` or a message over
    ``max_message_bytes``. Send ``reply``; the transaction ends with it.

    Attributes:
        reply: 554 5.6.0 (bare CR/LF), 500 5.5.2 (line too long) or 552 5.3.4 (size).
    """

    reply: Reply


@attrs.frozen(kw_only=True)
class ChunkComplete(Event):
    """A BDAT chunk without LAST was read (RFC 3030 §2).

    Reply 250 2.0.0 (``"<size> octets received"``) to go on; a 4xx/5xx reply ends
    the transaction.

    Attributes:
        size: the chunk's size in octets, as in the BDAT command.
    """

    size: int


@attrs.frozen(kw_only=True)
class Reset(Event):
    """RSET (RFC 5321 §4.1.1.5): the transaction is dropped when the reply is sent.

    Attributes:
        reply: the default reply, 250 2.0.0.
    """

    reply: Reply = R250_OK


@attrs.frozen(kw_only=True)
class Noop(Event):
    """NOOP (RFC 5321 §4.1.1.9).

    Attributes:
        reply: the default reply, 250 2.0.0.
    """

    reply: Reply = R250_OK


@attrs.frozen(kw_only=True)
class Verify(Event):
    """VRFY (RFC 5321 §4.1.1.6, §3.5.3).

    Attributes:
        argument: the string to verify, as sent.
        reply: the default reply, 252 2.5.0 (cannot verify, will attempt delivery).
    """

    argument: str
    reply: Reply = R252_CANNOT_VRFY


@attrs.frozen(kw_only=True)
class Help(Event):
    """HELP (RFC 5321 §4.1.1.8).

    Attributes:
        argument: the topic, or ``""``.
        reply: the default reply, 214 2.0.0 listing the commands.
    """

    argument: str = ""
    reply: Reply = R214_HELP


@attrs.frozen(kw_only=True)
class Quit(Event):
    """QUIT (RFC 5321 §4.1.1.10): reply 221 2.0.0, then close the connection."""


@attrs.frozen(kw_only=True)
class Authenticate(Event):
    """AUTH (RFC 4954 §4) with a mechanism the session offered (``conn.offer_auth``).

    Reply ``334 <base64 challenge>`` to ask for more (the client's next line comes as
    `AuthResponse`), ``235 2.7.0`` when the client is authenticated, or a refusal
    (``535 5.7.8`` bad credentials, ``454 4.7.0`` temporary failure). The SASL
    exchange itself is the session's (`trimail.sasl`).

    Attributes:
        mechanism: the SASL mechanism name, upper-case, e.g. ``"PLAIN"``.
        initial_response: the base64-decoded initial response; ``b""`` for ``=``;
            None when the client sent none.
    """

    mechanism: str
    initial_response: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class AuthResponse(Event):
    """The client's SASL response line after a 334 (RFC 4954 §4), base64-decoded.

    Answer like `Authenticate`: 334 for another round, 235 or a refusal.
    """

    data: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class StartTls(Event):
    """STARTTLS (RFC 3207), only with ``SmtpConfig(starttls=True)``.

    Reply 220 2.0.0 and then run the TLS handshake and call
    ``conn.start_tls_done()``; or refuse with 454 4.7.0. Bytes buffered after the
    STARTTLS line are discarded when the 220 is sent (RFC 3207 §4.2).
    """


@attrs.frozen(kw_only=True)
class BadCommand(Event):
    """A recoverable peer error the engine judged by itself; send ``reply``.

    Attributes:
        reply: e.g. 500 5.5.1 (unknown command), 501 5.5.4 / 5.1.3 / 5.1.7 (syntax),
            503 5.5.1 (bad sequence), 500 5.5.6 (line too long), 555 5.5.4
            (parameter), 552 5.3.4 (SIZE), 553 5.6.7 (non-ASCII), 452 4.5.3 (too
            many recipients).
    """

    reply: Reply


@attrs.frozen(kw_only=True)
class ConnectionClosed(Event):
    """The peer closed the connection (EOF); a transaction in progress is dropped."""
