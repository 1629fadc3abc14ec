"""`Pop3Connection`: the sans-IO POP3 server engine (RFC 1939, 2449, 3206, 5034).

The engine owns the maildrop view once the driver accepted a login: it answers STAT,
LIST, UIDL, DELE, RSET, NOOP, CAPA and every protocol error itself, as `Reply` events
carrying the bytes to write. It surfaces only what needs data or policy:
`Authenticate`, `SaslAuthenticate`/`SaslResponse` (multi-step SASL mechanisms such as
SCRAM-SHA-256), `Retrieve` and `Quit`, each answered by one method call that returns
the bytes to write. No I/O, clock or randomness.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Literal

from trimail.pop3 import _render as W
from trimail.pop3._config import Pop3Config
from trimail.pop3._events import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    ConnectionClosed,
    Event,
    Quit,
    Reply,
    Retrieve,
    SaslAuthenticate,
    SaslResponse,
    Sentinel,
    StartTls,
)
from trimail.pop3._maildrop import Maildrop, MaildropEntry, check_entries
from trimail.pop3._parse import (
    MAX_ARGUMENT_CHARS,
    ArgumentError,
    arguments,
    base64_response,
    line_count,
    msg_number,
    split_command,
    text_argument,
)
from trimail.pop3._state import KNOWN_COMMANDS, ON_EMIT, State, command_allowed, next_state
from trimail.pop3.errors import LocalProtocolError, RemoteProtocolError
from trimail.sasl import SaslError, parse_plain

NextEvent = Event | Literal[Sentinel.NEED_DATA, Sentinel.PAUSED]

# Response codes a driver may give to reject_login / send_error: RFC 2449 §8.1
# (IN-USE, LOGIN-DELAY) and RFC 3206 (SYS/TEMP, SYS/PERM, AUTH).
RESP_CODES = frozenset({"AUTH", "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"})
# Without TLS (and not loopback) logins are refused. [SYS/PERM], not [AUTH]: the
# credentials are not at fault, and RFC 3206 §4 has clients re-prompt for a password
# on [AUTH] while [SYS/PERM] tells the user to change something and not retry.
AUTH_REQUIRES_TLS = ("Authentication requires TLS", "SYS/PERM")
TOO_MANY_ERRORS = W.err("too many errors", "SYS/PERM")

_Handler = Callable[["Pop3Connection", bytes], Event]


class _NoSuchMessage(Exception):
    """A message-number that is missing or deleted: ``-ERR``, not counted as an error."""


class Pop3Connection:
    """One server side of a POP3 connection, sans I/O (h11 style).

    Typical driver loop::

        conn = Pop3Connection(Pop3Config(auth_allowed=tls_or_loopback))
        write(conn.greeting("trimail POP3 ready"))
        while True:
            event = conn.next_event()          # may raise RemoteProtocolError
            if event is NEED_DATA:
                conn.receive_data(read())      # b"" at EOF
            elif isinstance(event, Reply):
                write(event.data)
            elif isinstance(event, Authenticate):
                write(conn.accept_login(maildrop) if ok else conn.reject_login("no"))
            elif isinstance(event, SaslAuthenticate | SaslResponse):
                step = mechanism_step(event)   # e.g. SCRAM-SHA-256, driver side
                if step is a challenge:
                    write(conn.sasl_challenge(step))   # next line: SaslResponse
                else:                                  # done: as for Authenticate
                    write(conn.accept_login(maildrop) if ok else conn.reject_login("no"))
            elif isinstance(event, Retrieve):
                write(conn.send_message(load(event.index)))
            elif isinstance(event, Quit):
                write(conn.quit_done(expunge(event.deleted)))
                break
            elif isinstance(event, ConnectionClosed):
                break                          # do NOT apply deletions

    ``next_event`` raises `RemoteProtocolError` when the peer must be disconnected
    (write its ``.data``, then close). Misuse raises `LocalProtocolError` and leaves
    the state unchanged.

    Attributes:
        config: the limits and capabilities.
    """

    def __init__(self, config: Pop3Config | None = None) -> None:
        self.config = config if config is not None else Pop3Config()
        self._state = State.AUTHORIZATION
        self._greeted = False
        self._buf = bytearray()
        self._eof = False
        self._owed: Event | None = None
        self._bad_commands = 0
        self._discarding_line = False  # inside a line over max_line_bytes
        self._user: str | None = None  # accepted USER name, PASS must follow (RFC 1939 §7)
        self._sasl_mechanism: str | None = None  # "+ " sent: a SASL response line expected
        self._maildrop: Maildrop | None = None
        self._auth_allowed = self.config.auth_allowed  # becomes True after STLS
        self._tls_active = False
        self._tls_pending = False  # +OK to STLS sent, handshake not done yet

    # --- public state ----------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current `State`."""
        return self._state

    @property
    def buffered_bytes(self) -> int:
        """Octets received but not yet turned into events."""
        return len(self._buf)

    @property
    def deleted(self) -> tuple[int, ...]:
        """0-based indexes currently marked deleted, ascending."""
        return tuple(sorted(self._maildrop.deleted)) if self._maildrop else ()

    # --- bytes in, events out ------------------------------------------------------

    def greeting(self, text: str = "trimail POP3 ready") -> bytes:
        """Return the ``+OK text`` greeting (RFC 1939 §4); call it once, first.

        Raises:
            LocalProtocolError: called twice.
        """
        if self._greeted:
            raise LocalProtocolError("the greeting was already sent")
        self._greeted = True
        return W.ok(text)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the peer; ``b""`` means it closed (EOF).

        Raises:
            LocalProtocolError: bytes after EOF was fed.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if self._state is not State.CLOSED:
            self._buf += data

    def next_event(self) -> NextEvent:
        """Return the next event, `NEED_DATA`, or `PAUSED`.

        Returns:
            An `Event`; `NEED_DATA` if more bytes are needed; `PAUSED` before the
            greeting and while an `Authenticate`, `Retrieve` or `Quit` is unanswered
            (pipelined commands wait, RFC 2449 §6.6). After the connection closed,
            always `ConnectionClosed`.

        Raises:
            RemoteProtocolError: more than ``max_bad_commands`` errors; write
                ``.data`` and close. The engine is then `State.CLOSED`.
        """
        if self._state is State.CLOSED:
            return ConnectionClosed()
        if not self._greeted or self._owed is not None or self._tls_pending:
            return PAUSED
        if self._bad_commands > self.config.max_bad_commands:  # after a failed login
            raise self._too_many_errors()
        event = self._read_line()
        if event is NEED_DATA and self._eof:
            self._close()
            return ConnectionClosed()
        return event

    # --- answers to owed events --------------------------------------------------------

    def accept_login(self, maildrop: Sequence[MaildropEntry]) -> bytes:
        """Accept the `Authenticate` (or the SASL exchange of a `SaslAuthenticate` /
        `SaslResponse`): open *maildrop* and enter TRANSACTION.

        Args:
            maildrop: the messages in message-number order (RFC 1939 §5); the engine
                keeps sizes, unique-ids and deletion marks from now on.

        Returns:
            ``+OK maildrop has N messages (M octets)``.

        Raises:
            LocalProtocolError: no `Authenticate`, `SaslAuthenticate` or `SaslResponse`
                owed, or an invalid entry (negative size, bad or duplicate unique_id).
        """
        self._owed_check(*_LOGIN_EVENTS, ok=True)
        problem = check_entries(maildrop)
        if problem is not None:
            raise LocalProtocolError(problem)
        self._maildrop = Maildrop(maildrop)
        self._answered(ok=True)
        return W.ok(self._maildrop_summary())

    def reject_login(self, reason: str, code: str = "AUTH") -> bytes:
        """Refuse the `Authenticate` (or fail the SASL exchange); stay in AUTHORIZATION.

        Args:
            reason: the text after the code, e.g. ``"invalid credentials"``.
            code: ``"AUTH"`` (bad credentials, RFC 3206 §4; counted toward
                ``max_bad_commands``), ``"IN-USE"`` (maildrop locked, RFC 2449 §8.1.1),
                ``"SYS/TEMP"`` / ``"SYS/PERM"`` (RFC 3206 §4), ``"LOGIN-DELAY"``.

        Returns:
            ``-ERR [code] reason``.

        Raises:
            LocalProtocolError: no `Authenticate`, `SaslAuthenticate` or `SaslResponse`
                owed, or an unknown *code*.
        """
        _check_code(code)
        self._owed_check(*_LOGIN_EVENTS, ok=False)
        self._answered(ok=False)
        if code == "AUTH":
            self._bad_commands += 1
        return W.err(reason, code)

    def sasl_challenge(self, data: bytes = b"") -> bytes:
        """Answer the `SaslAuthenticate` / `SaslResponse` with a challenge (RFC 5034 §4).

        The next line from the client is its response: a `SaslResponse`, or ``-ERR``
        from the engine for ``*`` (cancelled) and invalid base64. The state stays
        AUTHORIZATION. A mechanism's "additional data with success" (SCRAM's
        server-final-message) is sent this way too, and the empty response that
        follows is answered with `accept_login`.

        Args:
            data: the challenge before base64 (``b""``: the empty challenge ``+ ``).

        Returns:
            ``+ <base64 data>``.

        Raises:
            LocalProtocolError: no `SaslAuthenticate` or `SaslResponse` owed.
        """
        event = self._owed
        if self._state is not State.AUTHORIZATION or not isinstance(
            event, SaslAuthenticate | SaslResponse
        ):
            owed = type(event).__name__ if event is not None else "nothing"
            raise LocalProtocolError(f"no SASL exchange is owed ({owed} is)")
        self._owed = None
        self._sasl_mechanism = event.mechanism
        return b"+ " + base64.b64encode(data) + W.CRLF

    def send_message(self, data: bytes) -> bytes:
        """Answer the `Retrieve` with the whole message *data* (RFC 1939 §7).

        Line ends are made CRLF, the content is made to end with CRLF and
        byte-stuffed, and the ``.`` terminator appended. For TOP only the header, the
        blank line and the first ``top_lines`` body lines are sent.

        Returns:
            ``+OK <size> octets`` (the maildrop size) or ``+OK top of message
            follows``, the content, ``.\\r\\n``.

        Raises:
            LocalProtocolError: no `Retrieve` owed.
        """
        event = self._owed_check(Retrieve, ok=True)
        assert isinstance(event, Retrieve) and self._maildrop is not None
        content = W.normalize(data)
        if event.top_lines is None:
            first = W.ok(f"{self._maildrop.entries[event.index].size} octets")
        else:
            content = W.top(content, event.top_lines)
            first = W.ok("top of message follows")
        self._answered(ok=True)
        return first + W.stuff(content) + W.TERMINATOR

    def send_error(self, text: str, code: str = "SYS/TEMP") -> bytes:
        """Answer the `Retrieve` with ``-ERR [code] text`` (the message cannot be read).

        Raises:
            LocalProtocolError: no `Retrieve` owed, or an unknown *code*.
        """
        _check_code(code)
        self._owed_check(Retrieve, ok=False)
        self._answered(ok=False)
        return W.err(text, code)

    def start_tls(self) -> bytes:
        """Accept the `StartTls`: ``+OK``; plaintext buffered after STLS is dropped.

        Bytes the client sent after the STLS line are discarded (RFC 2595 §4, the
        command injection defence). Run the handshake next, then `start_tls_done`.

        Raises:
            LocalProtocolError: no `StartTls` owed.
        """
        self._owed_check(StartTls, ok=True)
        self._answered(ok=True)
        self._buf.clear()
        self._tls_pending = True
        return W.ok("Begin TLS negotiation")

    def refuse_tls(self, text: str = "TLS not available") -> bytes:
        """Refuse the `StartTls` with ``-ERR text``; the session goes on in cleartext.

        Raises:
            LocalProtocolError: no `StartTls` owed.
        """
        self._owed_check(StartTls, ok=False)
        self._answered(ok=False)
        return W.err(text)

    def start_tls_done(self, *, auth_allowed: bool = True) -> None:
        """The handshake succeeded: logins may now be offered (*auth_allowed*).

        Everything before TLS is forgotten (a pending USER) and the buffer is empty.

        Raises:
            LocalProtocolError: `start_tls` was not answered first.
        """
        if not self._tls_pending:
            raise LocalProtocolError("start_tls_done() without start_tls()")
        self._tls_pending = False
        self._tls_active = True
        self._auth_allowed = auth_allowed
        self._user = None
        self._sasl_mechanism = None
        self._buf.clear()

    def quit_done(self, ok: bool) -> bytes:
        """Answer the `Quit` once deletions were applied (or failed); the engine closes.

        Args:
            ok: True if every deleted message was removed (always True from
                AUTHORIZATION, where nothing is deleted).

        Returns:
            ``+OK <implementation> POP3 server signing off (N messages left)``, or
            ``-ERR [SYS/TEMP] some deleted messages not removed`` (RFC 1939 §6).

        Raises:
            LocalProtocolError: no `Quit` owed, or ``ok=False`` from AUTHORIZATION.
        """
        self._owed_check(Quit, ok=ok)
        updating = self._state is State.UPDATE
        self._answered(ok=ok)
        self._close()
        if not ok:
            return W.err("some deleted messages not removed", "SYS/TEMP")
        text = f"{self.config.implementation} POP3 server signing off"
        if updating and self._maildrop is not None:
            text += f" ({self._maildrop.stat()[0]} messages left)"
        return W.ok(text)

    def shutdown_data(self) -> bytes:
        """``-ERR [SYS/TEMP]`` for a server shutting down; write it, then close.

        Deletions are not applied (the session did not reach UPDATE).
        """
        self._close()
        return W.err("server shutting down", "SYS/TEMP")

    def timeout_data(self) -> bytes:
        """``-ERR`` for an idle client (RFC 1939 §3 autologout timer); write it, close.

        Deletions are not applied (RFC 1939 §3: not UPDATE).
        """
        self._close()
        return W.err("autologout: idle too long", "SYS/TEMP")

    def send_failed(self) -> None:
        """Tell the engine the transport failed (write error, cancellation): it closes."""
        self._close()

    # --- internals: answers -----------------------------------------------------------

    def _owed_check(self, *event_types: type[Event], ok: bool) -> Event:
        event = self._owed
        if self._state is State.CLOSED or not isinstance(event, event_types):
            owed = type(event).__name__ if event is not None else "nothing"
            wanted = " or ".join(t.__name__ for t in event_types)
            raise LocalProtocolError(f"no {wanted} is owed ({owed} is)")
        if next_state(self._state, type(event), ok=ok) is None:
            raise LocalProtocolError(f"cannot answer {type(event).__name__} ok={ok} here")
        return event

    def _answered(self, *, ok: bool) -> None:
        assert self._owed is not None
        new = next_state(self._state, type(self._owed), ok=ok)
        assert new is not None
        self._owed = None
        self._state = new

    def _maildrop_summary(self) -> str:
        assert self._maildrop is not None
        count, octets = self._maildrop.stat()
        return f"maildrop has {count} messages ({octets} octets)"

    # --- internals: lines -------------------------------------------------------------

    def _emit(self, event: Event) -> Event:
        if isinstance(event, _OWING):
            self._owed = event
        self._state = ON_EMIT.get((self._state, type(event)), self._state)
        return event

    def _reply(self, data: bytes, command: str) -> Event:
        return Reply(data=data, command=command, ok=True)

    def _error(
        self, text: str, command: str, *, code: str | None = None, counted: bool = True
    ) -> Event:
        if counted:
            self._bad_commands += 1
            if self._bad_commands > self.config.max_bad_commands:
                raise self._too_many_errors()
        return Reply(data=W.err(text, code), command=command, ok=False)

    def _too_many_errors(self) -> RemoteProtocolError:
        self._close()
        return RemoteProtocolError("too many bad commands", data=TOO_MANY_ERRORS)

    def _read_line(self) -> Event | Literal[Sentinel.NEED_DATA]:
        buf = self._buf
        limit = self.config.max_line_bytes
        if self._discarding_line:
            end = buf.find(b"\n")
            if end < 0:
                buf.clear()
                return NEED_DATA
            del buf[: end + 1]
            self._discarding_line = False
            return self._line_too_long()
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
            return self._line_too_long()
        line = bytes(buf[:end])
        del buf[: end + 1]
        line = line.removesuffix(b"\r")  # a bare LF ends a line too (lenient)
        if self._sasl_mechanism is not None:
            return self._sasl_response(line)
        return self._command(line)

    def _line_too_long(self) -> Event:
        self._user = None
        self._sasl_mechanism = None
        return self._error("line too long", "")

    def _command(self, line: bytes) -> Event:
        keyword, rest = split_command(line)
        if keyword != "PASS":
            self._user = None
        if b"\r" in line or b"\x00" in line:
            return self._error("invalid characters in command", keyword)
        if keyword not in KNOWN_COMMANDS:
            return self._error("unknown command", keyword)
        if not command_allowed(self._state, keyword):
            return self._error(f"{keyword} not valid in the {self._state.name} state", keyword)
        try:
            return _HANDLERS[keyword](self, rest)
        except ArgumentError as exc:
            return self._error(str(exc), keyword)
        except _NoSuchMessage as exc:
            return self._error(str(exc), keyword, counted=False)

    # --- internals: commands, AUTHORIZATION (RFC 1939 §7, RFC 5034) -------------------

    def _capa(self, rest: bytes) -> Event:
        _count(rest, 0)
        capabilities = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if self.config.stls and not self._tls_active:
            capabilities.append("STLS")
        if self._auth_allowed:
            capabilities.append("USER")
            if self.config.sasl_mechanisms:  # RFC 2449 §6.3
                capabilities.append("SASL " + " ".join(self.config.sasl_mechanisms))
        capabilities.append(f"IMPLEMENTATION {self.config.implementation}")
        return self._reply(W.multiline("Capability list follows", capabilities), "CAPA")

    def _quit(self, rest: bytes) -> Event:
        _count(rest, 0)
        deleted = self.deleted if self._state is State.TRANSACTION else ()
        return self._emit(Quit(deleted=deleted))

    def _auth_refused(self, command: str) -> Event | None:
        if self._auth_allowed:
            return None
        text, code = AUTH_REQUIRES_TLS
        return self._error(text, command, code=code)

    def _user_command(self, rest: bytes) -> Event:
        refused = self._auth_refused("USER")
        if refused is not None:
            return refused
        self._user = text_argument(rest.strip(b" "), "user name")
        return self._reply(W.ok("send PASS"), "USER")

    def _pass(self, rest: bytes) -> Event:
        refused = self._auth_refused("PASS")
        if refused is not None:
            return refused
        user, self._user = self._user, None
        if user is None:
            return self._error("USER first", "PASS")
        # RFC 1939 §7: spaces may be part of the password; the rest of the line is it.
        password = text_argument(rest, "password")
        return self._emit(Authenticate(username=user, password=password, mechanism="USER"))

    def _auth(self, rest: bytes) -> Event:
        refused = self._auth_refused("AUTH")
        if refused is not None:
            return refused
        args = arguments(rest)
        mechanisms = self.config.sasl_mechanisms
        if not args:  # de facto (Outlook): list the mechanisms
            return self._reply(W.multiline("SASL mechanisms follow", mechanisms), "AUTH")
        if len(args) > 2:
            raise ArgumentError("syntax: AUTH mechanism [initial-response]")
        mechanism = args[0].decode("ascii", "replace").upper()
        if mechanism not in mechanisms:
            return self._error("unsupported SASL mechanism", "AUTH")
        if mechanism != "PLAIN":  # the driver runs the exchange
            initial = base64_response(args[1]) if len(args) == 2 else None
            return self._emit(SaslAuthenticate(mechanism=mechanism, initial_response=initial))
        if len(args) == 2:  # initial response, RFC 5034 §4
            return self._plain(args[1])
        self._sasl_mechanism = mechanism
        return self._reply(b"+ \r\n", "AUTH")  # empty challenge, RFC 5034 §4

    def _sasl_response(self, line: bytes) -> Event:
        mechanism, self._sasl_mechanism = self._sasl_mechanism, None
        assert mechanism is not None
        if line == b"*":  # RFC 5034 §4: the client cancels; MUST reject
            return self._error("authentication cancelled", "AUTH", counted=False)
        try:
            if mechanism == "PLAIN":
                return self._plain(line)
            return self._emit(SaslResponse(mechanism=mechanism, data=base64_response(line)))
        except ArgumentError as exc:
            return self._error(str(exc), "AUTH")

    def _plain(self, raw: bytes) -> Event:
        message = base64_response(raw)
        try:
            credentials = parse_plain(message)
        except SaslError as exc:
            return self._error(f"malformed PLAIN response: {exc}", "AUTH", code="AUTH")
        # RFC 4616 §2; addresses compare case-insensitively, as logins do
        if credentials.authzid.lower() not in ("", credentials.authcid.lower()):
            return self._error("not authorized to act as another user", "AUTH", code="AUTH")
        event = Authenticate(
            username=credentials.authcid, password=credentials.password, mechanism="PLAIN"
        )
        return self._emit(event)

    def _apop(self, rest: bytes) -> Event:
        return self._error("APOP not supported", "APOP", counted=False)

    def _stls(self, rest: bytes) -> Event:
        if not self.config.stls:
            return self._error("STLS not supported", "STLS", counted=False)
        if self._tls_active:  # RFC 2595 §4: not again once TLS is on
            return self._error("TLS is already active", "STLS")
        _count(rest, 0)
        self._user = None
        return self._emit(StartTls())

    # --- internals: commands, TRANSACTION (RFC 1939 §5, §7) ---------------------------

    def _drop(self) -> Maildrop:
        assert self._maildrop is not None
        return self._maildrop

    def _message(self, raw: bytes) -> tuple[int, int]:
        number = msg_number(raw)
        index = self._drop().index(number)
        if index is None:
            raise _NoSuchMessage(f"no such message: {number}")
        return number, index

    def _stat(self, rest: bytes) -> Event:
        _count(rest, 0)
        count, octets = self._drop().stat()
        return self._reply(W.ok(f"{count} {octets}"), "STAT")

    def _list(self, rest: bytes) -> Event:
        args = _count(rest, 0, 1)
        drop = self._drop()
        if args:
            number, index = self._message(args[0])
            return self._reply(W.ok(f"{number} {drop.entries[index].size}"), "LIST")
        lines = [f"{n} {entry.size}" for n, entry in drop.live()]
        return self._reply(W.multiline(self._maildrop_summary(), lines), "LIST")

    def _uidl(self, rest: bytes) -> Event:
        args = _count(rest, 0, 1)
        drop = self._drop()
        if args:
            number, index = self._message(args[0])
            return self._reply(W.ok(f"{number} {drop.entries[index].unique_id}"), "UIDL")
        lines = [f"{n} {entry.unique_id}" for n, entry in drop.live()]
        return self._reply(W.multiline("unique-id listing follows", lines), "UIDL")

    def _retr(self, rest: bytes) -> Event:
        (raw,) = _count(rest, 1)
        number, index = self._message(raw)
        return self._emit(Retrieve(msg_number=number, index=index, top_lines=None))

    def _top(self, rest: bytes) -> Event:
        raw, raw_lines = _count(rest, 2)
        number, index = self._message(raw)
        lines = line_count(raw_lines)
        return self._emit(Retrieve(msg_number=number, index=index, top_lines=lines))

    def _dele(self, rest: bytes) -> Event:
        (raw,) = _count(rest, 1)
        number, index = self._message(raw)
        self._drop().deleted.add(index)
        return self._reply(W.ok(f"message {number} deleted"), "DELE")

    def _noop(self, rest: bytes) -> Event:
        _count(rest, 0)
        return self._reply(W.ok(), "NOOP")

    def _rset(self, rest: bytes) -> Event:
        _count(rest, 0)
        self._drop().deleted.clear()
        return self._reply(W.ok(self._maildrop_summary()), "RSET")

    # --- internals: state -------------------------------------------------------------

    def _close(self) -> None:
        self._state = State.CLOSED
        self._buf.clear()
        self._owed = None
        self._user = None
        self._sasl_mechanism = None


_LOGIN_EVENTS = (Authenticate, SaslAuthenticate, SaslResponse)  # answered by *_login()
_OWING = (*_LOGIN_EVENTS, Retrieve, Quit, StartTls)  # events that owe an answer


def _count(rest: bytes, low: int, high: int | None = None) -> list[bytes]:
    """The arguments in *rest*, checking there are *low* to *high* of them (RFC 1939 §3)."""
    args = arguments(rest)
    high = low if high is None else high
    if not low <= len(args) <= high:
        raise ArgumentError("wrong number of arguments")
    if any(len(a) > MAX_ARGUMENT_CHARS for a in args):  # RFC 1939 §3
        raise ArgumentError("argument too long")
    return args


def _check_code(code: str) -> None:
    if code not in RESP_CODES:
        raise LocalProtocolError(f"unknown response code {code!r}")


_HANDLERS: dict[str, _Handler] = {
    "CAPA": Pop3Connection._capa,
    "QUIT": Pop3Connection._quit,
    "USER": Pop3Connection._user_command,
    "PASS": Pop3Connection._pass,
    "AUTH": Pop3Connection._auth,
    "APOP": Pop3Connection._apop,
    "STLS": Pop3Connection._stls,
    "STAT": Pop3Connection._stat,
    "LIST": Pop3Connection._list,
    "UIDL": Pop3Connection._uidl,
    "RETR": Pop3Connection._retr,
    "TOP": Pop3Connection._top,
    "DELE": Pop3Connection._dele,
    "NOOP": Pop3Connection._noop,
    "RSET": Pop3Connection._rset,
}
