"""The reply side of `ClientConnection`: bytes in, events out, state corrected by replies.

`ClientCore` holds the connection's state and turns the server's replies into events
(RFC 5321 §4.2, RFC 2920 §3.1 ordering); `trimail.smtp._client.ClientConnection` adds
the commands. See `_client_state` for how replies move the state.
"""

from __future__ import annotations

from collections import deque
from typing import Literal, NoReturn

import attrs

from trimail.mail.address import Mailbox
from trimail.mail.reply import Reply
from trimail.smtp._client_config import ClientConfig
from trimail.smtp._client_events import (
    AuthChallenge,
    ClientEvent,
    Command,
    CommandReply,
    EhloResult,
    Greeting,
    PendingCommand,
    ServiceClosing,
)
from trimail.smtp._client_extensions import Extensions, parse_extensions
from trimail.smtp._client_render import DotStuffer
from trimail.smtp._client_state import GROUP_END, ClientState, reply_fits
from trimail.smtp._events import NEED_DATA, ConnectionClosed, Sentinel
from trimail.smtp._reply_parse import ReplyReader, decode_challenge, protocol_error
from trimail.smtp.errors import LocalProtocolError, RemoteProtocolError

ClientNextEvent = ClientEvent | ConnectionClosed | Literal[Sentinel.NEED_DATA]

_S = ClientState


@attrs.frozen
class Sent:
    """A pending command and the transaction (numbered MAIL or RSET) it belongs to."""

    command: Command
    forward_path: Mailbox | None
    transaction: int


class ClientCore:
    """State and reply handling shared by `ClientConnection` (use that class).

    Attributes:
        config: our name and the limits.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._state = _S.GREETING
        self._buf = bytearray()
        self._reader = ReplyReader(
            max_line_bytes=config.max_reply_line_bytes, max_lines=config.max_reply_lines
        )
        self._eof = False
        self._fatal: RemoteProtocolError | None = None
        self._pending: deque[Sent] = deque()
        self._extensions = Extensions()
        self._tls_active = False
        self._authenticated = False
        self._transaction = 0  # bumped by MAIL, RSET and EHLO: late refusals of old ones
        self._smtputf8 = False  # the transaction's MAIL carried SMTPUTF8 (RFC 6531 §3.4)
        self._body: Literal["DATA", "BDAT"] | None = None  # never both (RFC 3030 §3)
        self._needs_rset = False  # a BDAT chunk was refused (RFC 3030 §2)
        self._stuffer: DotStuffer | None = None

    # --- public state ----------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """The current `ClientState` (what has been written, see `_client_state`)."""
        return self._state

    @property
    def extensions(self) -> Extensions:
        """What the last accepted EHLO advertised; empty before, after HELO and after TLS."""
        return self._extensions

    @property
    def pipelining(self) -> bool:
        """True if the server advertised PIPELINING (RFC 2920): commands may be batched."""
        return self._extensions.pipelining

    @property
    def tls_active(self) -> bool:
        """True after ``start_tls_done()``."""
        return self._tls_active

    @property
    def authenticated(self) -> bool:
        """True once AUTH succeeded (235); reset by STARTTLS."""
        return self._authenticated

    @property
    def pending(self) -> tuple[PendingCommand, ...]:
        """Commands written and not answered yet, oldest first.

        After the connection closed, these are the commands that will never be
        answered (RFC 5321 §3.8: treat them as failed with a 451).
        """
        return tuple(
            PendingCommand(command=s.command, forward_path=s.forward_path) for s in self._pending
        )

    @property
    def must_wait(self) -> bool:
        """True if the last pending command must be answered before the next is made.

        EHLO, HELO, DATA, NOOP, QUIT, STARTTLS and AUTH end a group (RFC 2920 §3.1):
        what may follow depends on their reply. Other commands may be prepared ahead.
        Without PIPELINING (``pipelining`` False) the caller must still *write* each
        command only after the previous reply came; the engine cannot see when bytes
        are written, so it does not enforce that.
        """
        return bool(self._pending) and self._pending[-1].command in GROUP_END

    @property
    def buffered_bytes(self) -> int:
        """Octets received and not yet turned into events."""
        return len(self._buf)

    # --- bytes in, events out ------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the server; ``b""`` means it closed (EOF).

        Call ``next_event`` until `NEED_DATA` after each call. Bytes arriving after
        the connection closed are dropped.

        Raises:
            LocalProtocolError: bytes after EOF was fed.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if self._state is not _S.CLOSED:
            self._buf += data

    def next_event(self) -> ClientNextEvent:
        """Return the event for the next complete reply, or `NEED_DATA`.

        Returns:
            A `ClientEvent`; `NEED_DATA` if more bytes are needed; `ConnectionClosed`
            after a 421, QUIT's reply or EOF, and on every call after that.

        Raises:
            RemoteProtocolError: malformed reply (RFC 5321 §4.2), a reply code that
                cannot answer the command, a reply while no command is pending (other
                than 421), bytes after the 220 to STARTTLS (RFC 3207 §4.2), or more
                than ``max_buffer_bytes`` for one reply. The engine is closed.
        """
        if self._fatal is not None:
            raise self._fatal
        if self._state is _S.CLOSED:
            return ConnectionClosed()
        reply = None
        if self._state is _S.STARTTLS:
            if self._buf:  # STARTTLS response injection (RFC 3207 §4.2, CVE-2011-1575)
                self._fail(protocol_error("bytes after the 220 to STARTTLS", status="4.7.0"))
        else:
            try:
                reply = self._reader.read(self._buf)
            except RemoteProtocolError as exc:
                self._fail(exc)
        if reply is not None:
            return self._dispatch(reply)
        if self._eof:
            self._close()
            return ConnectionClosed()
        if len(self._buf) + self._reader.held_bytes > self.config.max_buffer_bytes:
            self._fail(protocol_error(f"reply over {self.config.max_buffer_bytes} octets"))
        return NEED_DATA

    # --- internals -------------------------------------------------------------------

    def _new_transaction(self) -> None:
        self._transaction += 1
        self._smtputf8 = False
        self._body = None

    def _dispatch(self, reply: Reply) -> ClientEvent:
        event: ClientEvent
        if self._state is _S.GREETING:
            if not reply_fits(None, reply.code):
                self._fail(protocol_error(f"greeting with code {reply.code}"))
            event = Greeting(reply=reply)
            self._state = _S.INITIAL
        elif self._pending:
            event = self._answer(self._pending.popleft(), reply)
        elif reply.code == 421:
            event = ServiceClosing(reply=reply)
        else:
            self._fail(protocol_error(f"reply {reply.code} while no command was pending"))
        if reply.code == 421:  # the server closes the channel (RFC 5321 §3.8)
            self._close()
        return event

    def _answer(self, sent: Sent, reply: Reply) -> ClientEvent:
        """Apply a reply to the command it answers; see `_client_state` for the moves."""
        command, code = sent.command, reply.code
        if not reply_fits(command, code):
            self._fail(protocol_error(f"reply {code} cannot answer {command}"))
        positive = code < 400
        current = sent.transaction == self._transaction
        if command in ("EHLO", "HELO"):
            return self._hello_reply(command, reply)
        if command == "AUTH":
            if code == 334:
                return self._challenge(reply)
            self._authenticated = self._authenticated or positive  # 235, RFC 4954 §6
            self._state = _S.READY
        elif command == "STARTTLS" and positive:
            self._state = _S.STARTTLS
        elif command == "DATA" and positive:
            self._state = _S.DATA  # even if every RCPT failed: the server reads content
            self._stuffer = DotStuffer()
        elif command == "MAIL" and not positive and current:
            if self._state in (_S.MAIL, _S.RCPT, _S.CHUNKING):
                self._state = _S.READY
        elif command in ("BDAT", "BDAT-LAST") and not positive and current:
            if self._state in (_S.RCPT, _S.CHUNKING, _S.READY):
                self._state = _S.READY
                self._needs_rset = True
        elif command == "QUIT":
            self._close()
        return CommandReply(command=command, reply=reply, forward_path=sent.forward_path)

    def _hello_reply(self, command: Literal["EHLO", "HELO"], reply: Reply) -> EhloResult:
        extensions = Extensions()
        if reply.code < 400:  # a new session (RFC 5321 §4.1.4)
            if command == "EHLO":
                extensions = parse_extensions(reply)
            self._extensions = extensions
            self._new_transaction()
            self._needs_rset = False
            self._state = _S.READY
        return EhloResult(command=command, reply=reply, extensions=extensions)

    def _challenge(self, reply: Reply) -> AuthChallenge:
        try:
            data = decode_challenge(reply)
        except RemoteProtocolError as exc:
            self._fail(exc)
        self._state = _S.AUTH
        return AuthChallenge(data=data)

    def _fail(self, error: RemoteProtocolError) -> NoReturn:
        self._close()
        self._fatal = error
        raise error

    def _close(self) -> None:
        self._state = _S.CLOSED
        self._buf.clear()
        self._stuffer = None
