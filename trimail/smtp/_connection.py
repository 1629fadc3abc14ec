"""`ServerConnection`: the sans-IO ESMTP server engine (RFC 5321 and extensions).

The driver feeds received bytes in, asks for events, and sends one reply per event
that owes one; the engine returns the bytes to write. No I/O, clock or randomness.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Literal

from trimail.mail.address import Mailbox, NullPath
from trimail.mail.dsn import DsnParameterError, parse_envid, parse_notify, parse_orcpt, parse_ret
from trimail.mail.reply import Reply
from trimail.smtp import _replies as R
from trimail.smtp._config import SmtpConfig
from trimail.smtp._data import ChunkReader, ContentCheck, DotReader
from trimail.smtp._events import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    AuthResponse,
    BadCommand,
    ChunkComplete,
    ConnectionClosed,
    DataCommand,
    Event,
    Hello,
    Help,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    Noop,
    Parameters,
    Quit,
    RcptTo,
    Reset,
    Sentinel,
    StartTls,
    Verify,
)
from trimail.smtp._parse import (
    CommandError,
    _parse_path,
    bdat_arguments_ok,
    decode,
    parse_chunk_size,
    parse_parameters,
    split_command,
    split_path_argument,
)
from trimail.smtp._render import render_reply
from trimail.smtp._state import State, allowed, next_state
from trimail.smtp.errors import LocalProtocolError, PathError, RemoteProtocolError

NextEvent = Event | Literal[Sentinel.NEED_DATA, Sentinel.PAUSED]

# Syntax and sequence errors count towards max_bad_commands; policy-like refusals the
# engine gives (552 SIZE, 553 non-ASCII, 452 too many recipients) do not.
_COUNTED_CODES = frozenset({500, 501, 502, 503, 504, 555})
# Known commands this engine does not offer (RFC 5321 §4.2.4: 502, not 500). AUTH (RFC
# 4954) comes with the submission service; until the session offers it, 502 too.
_NOT_IMPLEMENTED = frozenset(
    {b"EXPN", b"TURN", b"ETRN", b"ATRN", b"SEND", b"SOML", b"SAML", b"BURL"}
)
# DSN parameters (RFC 3461 §4), syntax-checked when DSN is advertised.
_DSN_CHECKS: dict[str, Callable[[str | None], object]] = {
    "RET": parse_ret,  # MAIL, §4.3
    "ENVID": parse_envid,  # MAIL, §4.4
    "NOTIFY": parse_notify,  # RCPT, §4.1
    "ORCPT": parse_orcpt,  # RCPT, §4.2
}
_DSN_MAIL = frozenset({"RET", "ENVID"})
_DSN_RCPT = frozenset({"NOTIFY", "ORCPT"})
_NO_REPLY = (MessageData, ConnectionClosed)
_TRANSACTION_END = (MessageComplete, MessageAborted, ChunkComplete)

_Handler = Callable[["ServerConnection", bytes], "Event | Literal[Sentinel.NEED_DATA]"]


class ServerConnection:
    """One server side of an SMTP connection, sans I/O (h11 style).

    Typical driver loop::

        conn = ServerConnection(SmtpConfig(hostname="mx.example.org"))
        write(conn.send(Reply(code=220, text="mx.example.org ESMTP trimail")))
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                conn.receive_data(read())      # b"" at EOF
            elif isinstance(event, MessageData):
                keep(event.data)
            elif isinstance(event, ConnectionClosed):
                break
            else:
                write(conn.send(reply_for(event)))

    ``next_event`` raises `RemoteProtocolError` when the peer must be disconnected
    (send its ``.reply``, then close). Misuse such as sending a reply nobody asked
    for raises `LocalProtocolError` and leaves the state unchanged.

    Attributes:
        config: the limits and extensions.
    """

    def __init__(self, config: SmtpConfig | None = None) -> None:
        self.config = config if config is not None else SmtpConfig()
        self._state = State.GREETING
        self._buf = bytearray()
        self._eof = False
        self._owed: Event | None = None  # the event waiting for its reply
        self._queued: Event | None = None  # reported after the MessageData before it
        self._fatal: RemoteProtocolError | None = None
        self._bad_commands = 0
        self._extensions: frozenset[str] = frozenset()
        self._greeting_refused = False
        self._tls_active = False
        self._auth_mechanisms: tuple[str, ...] = ()  # offered by the session (RFC 4954)
        self._authenticated = False
        self._discarding_line = False  # inside a command line over the limit
        self._smtputf8 = False  # the transaction's MAIL had SMTPUTF8
        self._recipients = 0  # accepted RCPTs in this transaction
        self._reader: DotReader | ChunkReader | None = None
        self._check: ContentCheck | None = None
        self._chunk_refusal: Reply | None = None  # BadCommand owed once a BDAT is read

    # --- public state ----------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current `State`."""
        return self._state

    @property
    def in_data(self) -> bool:
        """True while message content (DATA or a BDAT chunk) is being read."""
        return self._reader is not None

    @property
    def buffered_bytes(self) -> int:
        """Octets received but not yet turned into events (bounded by the line limits)."""
        return len(self._buf)

    @property
    def tls_active(self) -> bool:
        """True after ``start_tls_done()``."""
        return self._tls_active

    @property
    def extensions(self) -> frozenset[str]:
        """Keywords of the accepted EHLO reply, upper-cased (empty after HELO)."""
        return self._extensions

    # --- bytes in, events out ------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the peer; ``b""`` means it closed (EOF).

        Bytes arriving while STARTTLS is pending or after the connection closed are
        dropped (RFC 3207 §4.2).

        Raises:
            LocalProtocolError: bytes after EOF was fed.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if self._state not in (State.CLOSED, State.STARTTLS):
            self._buf += data

    def next_event(self) -> NextEvent:
        """Return the next event, `NEED_DATA`, or `PAUSED` while a reply is owed.

        Returns:
            An `Event`; `NEED_DATA` if more bytes are needed; `PAUSED` while the
            greeting or a reply is owed. After the connection closed, always
            `ConnectionClosed`.

        Raises:
            RemoteProtocolError: more than ``max_bad_commands`` errors, or a BDAT
                whose size cannot be read; send ``.reply`` (421) and close. Raised
                again on every later call until the reply is sent.
        """
        if self._state is State.CLOSED:
            return ConnectionClosed()
        if self._fatal is not None:
            raise self._fatal
        if self._owed is not None or self._state in (State.GREETING, State.STARTTLS):
            return PAUSED
        if self._queued is not None:
            queued, self._queued = self._queued, None
            return self._emit(queued)
        if self._reader is not None:
            event = self._read_content()
        elif self._state is State.AUTH:
            event = self._read_sasl_response()
        else:
            event = self._read_command()
        if event is NEED_DATA and self._eof:
            self._close()
            return ConnectionClosed()
        return event

    # --- replies out ---------------------------------------------------------------

    def send(self, reply: Reply) -> bytes:
        """Render *reply* and advance the state machine.

        A 421 may be sent at any time and closes the connection (RFC 5321 §3.8).
        Otherwise the first reply must be the 220 (or 554, RFC 5321 §3.1) greeting,
        and each later one answers the event that owes it: 354 or 4xx/5xx to
        `DataCommand`, 220 or 4xx/5xx to `StartTls`, 4xx/5xx to `BadCommand` and
        `MessageAborted`, 2xx/4xx/5xx to the rest.

        Returns:
            The bytes to write.

        Raises:
            LocalProtocolError: no reply is owed, the code does not fit the event, or
                the reply is malformed; the state is unchanged.
        """
        if self._state is State.CLOSED:
            raise LocalProtocolError("the connection is closed")
        data = render_reply(reply, enhanced_status_codes=self.config.enhanced_status_codes)
        if reply.code == 421:
            self._close()
        elif self._state is State.GREETING:
            if reply.code not in (220, 554):
                raise LocalProtocolError(f"the greeting must be 220 or 554, not {reply.code}")
            self._greeting_refused = reply.code == 554
            self._state = State.INITIAL
        else:
            event = self._owed
            if event is None:
                raise LocalProtocolError("no reply is owed")
            _check_reply_code(event, reply.code)
            self._owed = None
            self._after_reply(event, reply)
        return data

    def send_failed(self) -> None:
        """Tell the engine the transport failed (write error, cancellation): it closes."""
        self._close()

    def start_tls_done(self) -> None:
        """The TLS handshake after STARTTLS succeeded: start over in `State.INITIAL`.

        Buffered plaintext is discarded and everything learnt before (EHLO, the
        extensions) is forgotten, so the client must EHLO again (RFC 3207 §4.2).

        Raises:
            LocalProtocolError: not in `State.STARTTLS`.
        """
        if self._state is not State.STARTTLS:
            raise LocalProtocolError(f"start_tls_done() in state {self._state.name}")
        self._buf.clear()
        self._tls_active = True
        self._authenticated = False
        self._extensions = frozenset()
        self._reset_transaction()
        self._state = State.INITIAL

    def offer_auth(self, mechanisms: Sequence[str]) -> None:
        """Offer AUTH with these SASL mechanisms from the next EHLO on (RFC 4954 §3).

        The session decides when (e.g. only after TLS, RFC 8314); ``()`` withdraws it.
        Once authenticated, AUTH is neither advertised nor accepted again.
        """
        self._auth_mechanisms = tuple(m.upper() for m in mechanisms)

    @property
    def authenticated(self) -> bool:
        """True once a 235 answered `Authenticate`/`AuthResponse`; reset by STARTTLS."""
        return self._authenticated

    def ehlo_reply(self, text: str, extra_keywords: Sequence[str] = ()) -> Reply:
        """Build the 250 reply to EHLO with the configured extensions (RFC 5321 §4.1.1.1).

        Args:
            text: the first line, e.g. ``"mx.example.org greets client.example"``.
            extra_keywords: more lines, e.g. ``("AUTH PLAIN",)``.

        Returns:
            A multi-line 250 without enhanced status: SIZE (RFC 1870), 8BITMIME
            (RFC 6152), PIPELINING (RFC 2920), SMTPUTF8 (RFC 6531),
            ENHANCEDSTATUSCODES (RFC 2034), CHUNKING (RFC 3030), DSN (RFC 3461),
            STARTTLS (RFC 3207) as configured, then *extra_keywords*.
        """
        cfg = self.config
        wanted = [
            (True, f"SIZE {cfg.max_message_bytes}"),
            (cfg.eightbitmime, "8BITMIME"),
            (cfg.pipelining, "PIPELINING"),
            (cfg.smtputf8, "SMTPUTF8"),
            (cfg.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
            (cfg.chunking, "CHUNKING"),
            (cfg.dsn, "DSN"),
            (cfg.starttls and not self._tls_active, "STARTTLS"),
            (
                bool(self._auth_mechanisms) and not self._authenticated,
                "AUTH " + " ".join(self._auth_mechanisms),
            ),
        ]
        lines = [text, *(line for on, line in wanted if on), *extra_keywords]
        return Reply(code=250, text=tuple(lines))

    def timeout_reply(self) -> Reply:
        """421 4.4.2 for an idle peer (RFC 5321 §4.5.3.2); send it, then close."""
        return R.r421(self.config.hostname, "4.4.2", "Error: timeout exceeded")

    def shutdown_reply(self) -> Reply:
        """421 4.3.2 for a server shutting down (RFC 5321 §3.8); send it, then close."""
        return R.r421(self.config.hostname, "4.3.2", "Service shutting down, closing connection")

    # --- internals: events -----------------------------------------------------------

    def _emit(self, event: Event) -> Event:
        if isinstance(event, BadCommand) and event.reply.code in _COUNTED_CODES:
            self._bad_commands += 1
            if self._bad_commands > self.config.max_bad_commands:
                reply = R.r421(self.config.hostname, "4.7.0", "Too many errors, closing connection")
                self._fatal = RemoteProtocolError("too many bad commands", reply=reply)
                raise self._fatal
        if not isinstance(event, _NO_REPLY):
            self._owed = event
        return event

    def _bad(self, reply: Reply) -> Event:
        return self._emit(BadCommand(reply=reply))

    def _read_command(self) -> Event | Literal[Sentinel.NEED_DATA]:
        line = self._read_command_line()
        return self._command(line) if isinstance(line, bytes) else line

    def _read_command_line(self) -> bytes | Event | Literal[Sentinel.NEED_DATA]:
        """The next line without its CRLF, or the event for a bad line, or NEED_DATA."""
        buf = self._buf
        limit = self.config.max_command_line_bytes  # RFC 5321 §4.5.3.1.4
        if self._discarding_line:
            end = buf.find(b"\n")
            if end < 0:
                buf.clear()
                return NEED_DATA
            del buf[: end + 1]
            self._discarding_line = False
            return self._bad(R.R500_LINE_TOO_LONG)
        end = buf.find(b"\n", 0, limit)
        if end < 0:
            if len(buf) < limit:
                return NEED_DATA
            end = buf.find(b"\n", limit)
            if end < 0:  # drop what we have and the rest of the line as it comes
                buf.clear()
                self._discarding_line = True
                return NEED_DATA
            del buf[: end + 1]
            return self._bad(R.R500_LINE_TOO_LONG)
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        if line[-2:-1] != b"\r" or b"\r" in line[:-2]:  # RFC 5321 §2.3.8
            return self._bad(R.R500_BARE_NEWLINE)
        return line[:-2]

    def _read_sasl_response(self) -> Event | Literal[Sentinel.NEED_DATA]:
        """The line after a 334 is a SASL response, not a command (RFC 4954 §4)."""
        line = self._read_command_line()
        if not isinstance(line, bytes):
            if line is not NEED_DATA:
                self._state = State.READY  # a bad line ends the exchange
            return line
        if line == b"*":
            self._state = State.READY
            return self._bad(R.R501_AUTH_CANCELLED)
        try:
            data = base64.b64decode(line, validate=True)
        except ValueError:
            self._state = State.READY
            return self._bad(R.R501_CANNOT_DECODE)
        return self._emit(AuthResponse(data=data))

    def _command(self, line: bytes) -> Event | Literal[Sentinel.NEED_DATA]:
        verb, argument = split_command(line)
        handler = _HANDLERS.get(verb)
        if handler is None:
            unknown = R.R502_NOT_IMPLEMENTED if verb in _NOT_IMPLEMENTED else R.R500_UNRECOGNIZED
            return self._bad(unknown)
        if self._greeting_refused and verb != b"QUIT":
            return self._bad(R.R503_NO_SERVICE)
        try:
            return handler(self, argument)
        except (CommandError, PathError) as exc:
            return self._bad(exc.reply)

    def _sequence_error(self, event_type: type[Event]) -> Reply | None:
        if allowed(self._state, event_type):
            return None
        if self._state is State.INITIAL:
            return R.R503_HELLO_FIRST
        if event_type is MailFrom:
            return R.R503_NESTED_MAIL
        if self._state is State.READY:
            return R.R503_MAIL_FIRST
        if self._state is State.MAIL:
            return R.R554_NO_VALID_RECIPIENTS if event_type is DataCommand else R.R503_RCPT_FIRST
        if event_type is DataCommand and self._state is State.CHUNKING:
            return R.R503_MIXED_DATA
        return R.R503_BAD_SEQUENCE

    # --- internals: commands (RFC 5321 §4.1.1) ---------------------------------------

    def _hello(self, argument: bytes, command: Literal["EHLO", "HELO"]) -> Event:
        identity = decode(argument).strip(" ")
        if not identity:
            return self._bad(R.R501_EHLO if command == "EHLO" else R.R501_HELO)
        return self._emit(Hello(command=command, helo_identity=identity))

    def _ehlo(self, argument: bytes) -> Event:
        return self._hello(argument, "EHLO")

    def _helo(self, argument: bytes) -> Event:
        return self._hello(argument, "HELO")

    def _mail(self, argument: bytes) -> Event:
        refusal = self._sequence_error(MailFrom)
        if refusal is not None:
            return self._bad(refusal)
        raw_path, raw_parameters = split_path_argument(argument, b"FROM:", R.R501_MAIL)
        parameters = parse_parameters(raw_parameters)
        size, body, smtputf8 = self._mail_parameters(parameters)
        path = _parse_path(raw_path, smtputf8=smtputf8, sender=True)
        if isinstance(path, Mailbox) and not path.domain:
            return self._bad(Reply(code=501, enhanced_status="5.1.7", text="Bad address syntax"))
        event = MailFrom(
            reverse_path=path, parameters=parameters, size=size, body=body, smtputf8=smtputf8
        )
        return self._emit(event)

    def _mail_parameters(self, parameters: Parameters) -> tuple[int | None, str | None, bool]:
        """Check MAIL parameters against the advertised extensions (RFC 5321 §4.1.1.11)."""
        size: int | None = None
        body: str | None = None
        smtputf8 = False
        for keyword, value in parameters:
            if keyword == "SIZE" and "SIZE" in self._extensions:  # RFC 1870 §6
                if value is None or not (value.isascii() and value.isdigit()) or len(value) > 20:
                    raise CommandError(R.R501_SIZE)
                size = int(value)
                if size > self.config.max_message_bytes:
                    raise CommandError(R.R552_SIZE)
            elif keyword == "BODY" and "8BITMIME" in self._extensions:  # RFC 6152 §2
                body = (value or "").upper()
                if body not in ("7BIT", "8BITMIME"):
                    raise CommandError(R.R555_PARAMETER)
            elif keyword == "SMTPUTF8" and "SMTPUTF8" in self._extensions:  # RFC 6531 §3.4
                if value is not None:
                    raise CommandError(R.R501_PARAMETER)
                smtputf8 = True
            elif keyword in _DSN_MAIL and self._dsn_offered:  # RFC 3461 §4.3, §4.4
                _check_dsn(keyword, value)
            elif keyword not in self.config.extra_mail_parameters:
                raise CommandError(R.R555_PARAMETER)
        return size, body, smtputf8

    def _rcpt(self, argument: bytes) -> Event:
        refusal = self._sequence_error(RcptTo)
        if refusal is not None:
            return self._bad(refusal)
        raw_path, raw_parameters = split_path_argument(argument, b"TO:", R.R501_RCPT)
        parameters = parse_parameters(raw_parameters)
        self._rcpt_parameters(parameters)
        path = _parse_path(raw_path, smtputf8=self._smtputf8, sender=False)
        if isinstance(path, NullPath):
            return self._bad(R.R501_NULL_RCPT)
        if self._recipients >= self.config.max_recipients:  # RFC 5321 §4.5.3.1.10
            return self._bad(R.R452_TOO_MANY_RECIPIENTS)
        return self._emit(RcptTo(forward_path=path, parameters=parameters))

    def _rcpt_parameters(self, parameters: Parameters) -> None:
        """Check RCPT parameters: NOTIFY and ORCPT if DSN was advertised (RFC 3461 §4.1,
        §4.2), the driver's ``extra_rcpt_parameters``; others get 555 (RFC 5321 §4.1.1.11).
        """
        for keyword, value in parameters:
            if keyword in _DSN_RCPT and self._dsn_offered:
                _check_dsn(keyword, value)
            elif keyword not in self.config.extra_rcpt_parameters:
                raise CommandError(R.R555_PARAMETER)

    @property
    def _dsn_offered(self) -> bool:
        """DSN is on and the accepted EHLO reply advertised it (RFC 3461 §4)."""
        return self.config.dsn and "DSN" in self._extensions

    def _data(self, argument: bytes) -> Event:
        refusal = self._sequence_error(DataCommand)
        if refusal is not None:
            return self._bad(refusal)
        if argument:
            return self._bad(R.R501_NO_ARGUMENTS)
        return self._emit(DataCommand())

    def _bdat(self, argument: bytes) -> Event | Literal[Sentinel.NEED_DATA]:
        if not self.config.chunking:
            return self._bad(R.R500_UNRECOGNIZED)
        parsed = parse_chunk_size(argument)
        if parsed is None:  # nobody can tell where the chunk ends: RFC 3030 §2
            reply = R.r421(self.config.hostname, "4.5.4", "Bad BDAT chunk size, closing connection")
            self._fatal = RemoteProtocolError("unreadable BDAT chunk size", reply=reply)
            raise self._fatal
        size, last = parsed
        refusal = None if bdat_arguments_ok(argument) else R.R501_BDAT
        refusal = refusal or self._sequence_error(ChunkComplete)
        self._reader = ChunkReader(size, last=last)
        self._chunk_refusal = refusal
        if refusal is None:
            check = self._content_check()
            if check.size + size > self.config.max_message_bytes:  # RFC 1870 §6.1
                check.refuse(R.R552_MESSAGE_TOO_BIG)
        return self._read_content()

    def _simple(self, argument: bytes, event: Event) -> Event:
        if argument:
            return self._bad(R.R501_NO_ARGUMENTS)
        return self._emit(event)

    def _rset(self, argument: bytes) -> Event:
        return self._simple(argument, Reset())

    def _quit(self, argument: bytes) -> Event:
        return self._simple(argument, Quit())

    def _noop(self, argument: bytes) -> Event:
        return self._emit(Noop())  # RFC 5321 §4.1.1.9: the argument is ignored

    def _vrfy(self, argument: bytes) -> Event:
        text = decode(argument).strip(" ")
        if not text:
            return self._bad(R.R501_VRFY)
        return self._emit(Verify(argument=text))

    def _help(self, argument: bytes) -> Event:
        return self._emit(Help(argument=decode(argument).strip(" ")))

    def _auth(self, argument: bytes) -> Event:
        if not self._auth_mechanisms:
            return self._bad(R.R502_NOT_IMPLEMENTED)
        if self._authenticated:
            return self._bad(R.R503_ALREADY_AUTHENTICATED)
        if self._state is not State.READY:
            in_transaction = self._state in (State.MAIL, State.RCPT, State.CHUNKING)
            return self._bad(R.R503_AUTH_IN_TRANSACTION if in_transaction else R.R503_HELLO_FIRST)
        words = argument.split(b" ")
        if not words[0] or len(words) > 2:
            return self._bad(R.R501_AUTH_SYNTAX)
        mechanism = decode(words[0]).upper()
        if mechanism not in self._auth_mechanisms:
            return self._bad(R.R504_UNKNOWN_MECHANISM)
        initial: bytes | None = None
        if len(words) == 2:
            if words[1] == b"=":  # an empty initial response (RFC 4954 §4)
                initial = b""
            else:
                try:
                    initial = base64.b64decode(words[1], validate=True)
                except ValueError:
                    return self._bad(R.R501_CANNOT_DECODE)
        return self._emit(Authenticate(mechanism=mechanism, initial_response=initial))

    def _starttls(self, argument: bytes) -> Event:
        if not self.config.starttls:
            return self._bad(R.R502_NOT_IMPLEMENTED)
        if self._tls_active:
            return self._bad(R.R503_TLS_ACTIVE)
        refusal = self._sequence_error(StartTls)
        if refusal is not None:
            return self._bad(R.R503_BAD_SEQUENCE)
        return self._simple(argument, StartTls())

    # --- internals: content ----------------------------------------------------------

    def _content_check(self) -> ContentCheck:
        if self._check is None:
            self._check = ContentCheck(
                max_text_line_bytes=self.config.max_text_line_bytes,
                max_message_bytes=self.config.max_message_bytes,
            )
        return self._check

    def _read_content(self) -> Event | Literal[Sentinel.NEED_DATA]:
        reader = self._reader
        assert reader is not None
        check = self._content_check()
        while True:
            keep = self._chunk_refusal is None and check.failure is None
            result = reader.read(self._buf, keep=keep)
            if result is None:
                return NEED_DATA
            piece, done = result
            if keep:
                check.feed(piece)
            data = MessageData(data=piece) if piece and check.failure is None else None
            if done:
                end = self._content_end(reader, check)
                if data is None:
                    return self._emit(end)
                self._queued = end
            if data is not None:
                return data

    def _content_end(self, reader: DotReader | ChunkReader, check: ContentCheck) -> Event:
        self._reader = None
        if isinstance(reader, ChunkReader):
            refusal, self._chunk_refusal = self._chunk_refusal, None
            if refusal is not None:
                return BadCommand(reply=refusal)
            if not reader.last:
                if check.failure is not None:
                    return MessageAborted(reply=check.failure)
                return ChunkComplete(size=reader.size)
        failure = check.finish()
        return MessageComplete() if failure is None else MessageAborted(reply=failure)

    # --- internals: state ------------------------------------------------------------

    def _after_reply(self, event: Event, reply: Reply) -> None:
        positive = reply.code < 400
        new = next_state(self._state, type(event), positive=positive)
        if isinstance(event, Hello) and positive:
            self._reset_transaction()
            self._extensions = _ehlo_keywords(reply) if event.command == "EHLO" else frozenset()
        elif isinstance(event, MailFrom) and positive:
            self._reset_transaction()
            self._smtputf8 = event.smtputf8
        elif isinstance(event, RcptTo) and positive:
            self._recipients += 1
        elif isinstance(event, DataCommand) and positive:
            self._reader = DotReader(max_text_line_bytes=self.config.max_text_line_bytes)
            self._check = None
        elif isinstance(event, StartTls) and positive:
            self._buf.clear()  # RFC 3207 §4.2: no command injection before TLS
        elif isinstance(event, Authenticate | AuthResponse) and positive:
            if reply.code == 334:
                new = State.AUTH
            else:  # 235 (RFC 4954 §6)
                self._authenticated = True
        if isinstance(event, Reset) or (isinstance(event, _TRANSACTION_END) and new is State.READY):
            self._reset_transaction()
        self._state = new
        if new is State.CLOSED:
            self._close()

    def _reset_transaction(self) -> None:
        self._smtputf8 = False
        self._recipients = 0
        self._check = None

    def _close(self) -> None:
        self._state = State.CLOSED
        self._buf.clear()
        self._reader = None
        self._owed = None
        self._queued = None
        self._fatal = None


def _check_reply_code(event: Event, code: int) -> None:
    """Raise `LocalProtocolError` if *code* cannot answer *event*."""
    if code >= 400:
        ok = True
    elif isinstance(event, DataCommand):
        ok = code == 354
    elif isinstance(event, StartTls):
        ok = code == 220
    elif isinstance(event, Authenticate | AuthResponse):
        ok = code in (235, 334)
    elif isinstance(event, BadCommand | MessageAborted):
        ok = False
    else:
        ok = 200 <= code < 300
    if not ok:
        raise LocalProtocolError(f"{code} cannot answer {type(event).__name__}")


def _check_dsn(keyword: str, value: str | None) -> None:
    """Syntax-check one DSN parameter (RFC 3461 §4).

    Raises:
        CommandError: 501 5.5.4 naming the parameter and what is wrong with it.
    """
    try:
        _DSN_CHECKS[keyword](value)
    except DsnParameterError as exc:
        text = f"Syntax error in {exc.keyword} parameter: {exc.reason}"
        raise CommandError(Reply(code=501, enhanced_status="5.5.4", text=text)) from None


def _ehlo_keywords(reply: Reply) -> frozenset[str]:
    """The extension keywords of an EHLO reply: each line after the first (RFC 5321 §4.1.1.1)."""
    return frozenset(line.split(" ", 1)[0].upper() for line in reply.text[1:] if line)


_HANDLERS: dict[bytes, _Handler] = {
    b"EHLO": ServerConnection._ehlo,
    b"HELO": ServerConnection._helo,
    b"MAIL": ServerConnection._mail,
    b"RCPT": ServerConnection._rcpt,
    b"DATA": ServerConnection._data,
    b"BDAT": ServerConnection._bdat,
    b"RSET": ServerConnection._rset,
    b"NOOP": ServerConnection._noop,
    b"VRFY": ServerConnection._vrfy,
    b"HELP": ServerConnection._help,
    b"QUIT": ServerConnection._quit,
    b"STARTTLS": ServerConnection._starttls,
    b"AUTH": ServerConnection._auth,
}
