"""`ImapConnection`: the sans-IO IMAP4rev1/rev2 server engine (RFC 3501, RFC 9051).

The engine frames commands (lines and literals, RFC 3501 §2.2, §4.3; LITERAL+ RFC 7888;
literal8 RFC 3516), parses them, checks them against the state table, and answers
what is pure protocol itself (`Reply` events). Everything that needs data or policy
is a `CommandReceived` the driver completes with one tagged response. No I/O, clock,
randomness or logging.

Framing choices:

- A line ends at LF; a CR before it is removed (a bare LF is accepted, IMAP has no
  dot-terminated data to smuggle through). Empty lines between commands are ignored.
- ``{n}`` is answered ``+`` only once the text before it parsed correctly and ``n`` is
  within the limit; otherwise the tagged response replaces the ``+`` and the command
  ends there (RFC 3501 §2.2.1). APPEND message literals go to the driver first as a
  `LiteralRequest` (``NO [TRYCREATE]`` before ``+``, IMAP-NOTES §3).
- ``{n+}`` octets follow at once: over a limit they are counted down without being
  buffered (up to ``max_discard_bytes``; beyond, ``* BYE``), then the rest of the
  command is dropped. Literal octets are never parsed as commands.
- A line over ``max_line_bytes`` gets a tagged ``BAD [TOOBIG]`` and is dropped with the
  rest of its command; if not even the tag is readable, ``* BYE`` and disconnect.
"""

from __future__ import annotations

import binascii
import enum
import re
from collections.abc import Iterable
from typing import Literal

import attrs

from trimail.imap import _render as W
from trimail.imap._commands import Authenticate, Capability, Command, Idle, StartTls
from trimail.imap._config import ENABLEABLE, ImapConfig, capabilities
from trimail.imap._events import (
    NEED_DATA,
    PAUSED,
    AuthCancelled,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    LiteralRequest,
    Reply,
    Sentinel,
)
from trimail.imap._parse import (
    KNOWN_COMMANDS,
    Head,
    LiteralData,
    ParseContext,
    ParseError,
    Part,
    check_prefix,
    parse_command,
    parse_head,
    tag_of,
)
from trimail.imap._state import State, command_allowed, next_state
from trimail.imap.errors import LocalProtocolError, RemoteProtocolError

NextEvent = Event | Literal[Sentinel.NEED_DATA, Sentinel.PAUSED]
Status = Literal["OK", "NO", "BAD"]

MAX_LITERALS_PER_COMMAND = 1000  # bounds parts and re-parsing; MULTIAPPEND needs few
_HUGE = 2**64  # a literal size with more digits than any real one
_MARKER = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\Z")  # literal / literal8 at line end
_TAG_PEEK = 1024  # octets of an over-long line searched for its tag
_MARKER_TAIL = 32  # octets of a dropped line kept to find its literal marker
_CUT_MARKER = re.compile(rb"[0-9]{%d,}\+\}" % (_MARKER_TAIL - 4))  # its "{" fell off
_CANONICAL = {"IMAP4REV2": "IMAP4rev2"}  # ENABLE names as we spell them
TOO_MANY_BAD = W.bye("Too many invalid commands")


class _Mode(enum.Enum):
    COMMAND = "COMMAND"  # reading command lines
    LITERAL = "LITERAL"  # reading the octets of an accepted literal
    DISCARD = "DISCARD"  # counting down the octets of a refused literal
    DROP = "DROP"  # dropping the rest of a refused command
    AUTH = "AUTH"  # one SASL response line expected (RFC 3501 §6.2.2)
    IDLE = "IDLE"  # DONE expected (RFC 2177 §3)


@attrs.define
class _Owed:
    tag: str
    command: Command
    cancelled: bool = False  # AuthCancelled reported: only complete() may follow


class _Refusal(Exception):
    """A command refused before or instead of parsing: the tagged response to send."""

    def __init__(self, status: Status, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.status: Status = status
        self.text = text
        self.code = code


def _literal_size(digits: bytes) -> int:
    return int(digits) if len(digits) <= 19 else _HUGE


class ImapConnection:
    """One server side of an IMAP connection, sans I/O (h11 style).

    Typical driver loop::

        conn = ImapConnection(config, tls_active=implicit_tls, loopback=peer_is_local)
        write(conn.greeting("trimail ready"))
        while True:
            event = conn.next_event()          # may raise RemoteProtocolError
            if event is NEED_DATA:
                conn.receive_data(read())      # b"" at EOF
            elif isinstance(event, Reply):
                write(event.data)
            elif isinstance(event, LiteralRequest):
                write(conn.accept_literal())   # or conn.reject_literal("NO", ...)
            elif isinstance(event, CommandReceived):
                ...                            # untagged data, then:
                write(conn.complete(event.tag, "OK", "done"))
            elif isinstance(event, ConnectionClosed):
                break

    ``next_event`` raises `RemoteProtocolError` when the peer must be disconnected
    (write its ``.data``, then close). Misuse raises `LocalProtocolError` and leaves
    the state unchanged.

    Args:
        config: limits and capabilities.
        tls_active: the connection is already encrypted (implicit TLS, RFC 8314).
        loopback: the peer is on a loopback address; passwords are then allowed
            without TLS (RFC 3501 §6.2.3 leaves it to local policy).
    """

    def __init__(
        self, config: ImapConfig | None = None, *, tls_active: bool = False, loopback: bool = False
    ) -> None:
        self.config = config if config is not None else ImapConfig()
        self._state = State.NOT_AUTHENTICATED
        self._tls_active = tls_active
        self._passwords_allowed = tls_active or loopback
        self._greeted = False
        self._eof = False
        self._buf = bytearray()
        self._scanned = 0  # octets of _buf known to hold no LF
        self._mode = _Mode.COMMAND
        self._parts: list[Part] = []
        self._command_bytes = 0
        self._literal_size = 0
        self._literal_binary = False
        self._literal = bytearray()
        self._discard_left = 0
        self._drop_tail = b""
        self._owed: _Owed | None = None
        self._literal_request: LiteralRequest | None = None
        self._tls_pending = False
        self._bad_commands = 0
        self._enabled: set[str] = set()

    # --- public state ----------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current `State`."""
        return self._state

    @property
    def enabled(self) -> frozenset[str]:
        """Extensions switched on by ENABLE: CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2."""
        return frozenset(self._enabled)

    @property
    def utf8_names(self) -> bool:
        """Mailbox names are UTF-8 on the wire (UTF8=ACCEPT or IMAP4rev2 enabled)."""
        return bool(self._enabled & {"UTF8=ACCEPT", "IMAP4rev2"})

    @property
    def rev2(self) -> bool:
        """IMAP4rev2 was enabled (RFC 9051 App. E rules apply)."""
        return "IMAP4rev2" in self._enabled

    @property
    def tls_active(self) -> bool:
        """The connection is encrypted (implicit TLS or STARTTLS done)."""
        return self._tls_active

    @property
    def starting_tls(self) -> bool:
        """STARTTLS was completed with OK and `start_tls_done` is awaited."""
        return self._tls_pending

    @property
    def passwords_allowed(self) -> bool:
        """LOGIN and AUTHENTICATE are accepted (TLS active or loopback)."""
        return self._passwords_allowed

    def capabilities(self, *, authenticated: bool | None = None) -> tuple[str, ...]:
        """The CAPABILITY list (RFC 3501 §7.2.1).

        Args:
            authenticated: None for the current state; True for the list after login
                (for ``OK [CAPABILITY ...]`` completing LOGIN/AUTHENTICATE, written
                before the state moves); False for the list before login.
        """
        if authenticated is None:
            authenticated = self._state in (State.AUTHENTICATED, State.SELECTED)
        return capabilities(
            self.config,
            authenticated=authenticated,
            tls_active=self._tls_active,
            passwords_allowed=self._passwords_allowed,
        )

    @property
    def buffered_bytes(self) -> int:
        """Octets held: unprocessed input, the command so far and a partial literal."""
        return len(self._buf) + self._command_bytes + len(self._literal)

    # --- bytes in, events out ------------------------------------------------------

    def greeting(self, text: str = "trimail IMAP4rev2 ready") -> bytes:
        """Return ``* OK [CAPABILITY ...] text`` (RFC 3501 §7.1.1); call it once, first.

        Raises:
            LocalProtocolError: called twice.
        """
        if self._greeted:
            raise LocalProtocolError("the greeting was already sent")
        self._greeted = True
        return W.greeting(self.capabilities(), text)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the peer; ``b""`` means it closed (EOF).

        Bytes received between the ``OK`` to STARTTLS and `start_tls_done` are
        discarded (RFC 3501 §6.2.1, command injection defence).

        Raises:
            LocalProtocolError: bytes after EOF were fed.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if self._state is not State.LOGOUT and not self._tls_pending:
            self._buf += data

    def next_event(self) -> NextEvent:
        """Return the next event, `NEED_DATA`, or `PAUSED`.

        Returns:
            An `Event`; `NEED_DATA` if more bytes are needed; `PAUSED` before the
            greeting, while a `CommandReceived` or `LiteralRequest` is unanswered
            (pipelined commands wait; during AUTHENTICATE and IDLE the engine reads
            the client's lines after ``auth_challenge``/``idle_started``), and between
            the ``OK`` to STARTTLS and `start_tls_done`. In `State.LOGOUT`, always
            `ConnectionClosed`.

        Raises:
            RemoteProtocolError: the peer must be disconnected (too many bad
                commands, a huge non-synchronizing literal, an unreadable over-long
                line); write ``.data`` and close. The engine is then `State.LOGOUT`.
        """
        if self._state is State.LOGOUT:
            return ConnectionClosed()
        if self._bad_commands > self.config.max_bad_commands:
            raise self._disconnect("too many bad commands", TOO_MANY_BAD)
        if not self._greeted or self._tls_pending or self._literal_request is not None:
            return PAUSED
        while True:
            if self._owed is not None and self._mode not in (_Mode.AUTH, _Mode.IDLE):
                return PAUSED
            result = self._step()
            if result is NEED_DATA and self._eof:
                self._close()
                return ConnectionClosed()
            if result is not None:
                return result

    # --- answers ---------------------------------------------------------------------

    def complete(self, tag: str, status: Status, text: str, code: str | None = None) -> bytes:
        """Complete the owed command with ``tag status [code] text`` (RFC 3501 §7.1).

        Applies the state move of `trimail.imap._state.MOVES`: OK to LOGIN or
        AUTHENTICATE enters AUTHENTICATED, OK to SELECT/EXAMINE SELECTED (NO to them
        while SELECTED leaves AUTHENTICATED, §6.3.1), OK to CLOSE/UNSELECT
        AUTHENTICATED, OK to LOGOUT LOGOUT (write ``* BYE`` before). OK to STARTTLS
        discards every buffered byte; run the handshake, then call `start_tls_done`.
        A BAD counts toward ``max_bad_commands``.

        Args:
            tag: the tag of the owed command.
            status: ``"OK"``, ``"NO"`` or ``"BAD"``.
            text: human-readable text (CR/LF replaced).
            code: a response code without brackets, e.g. ``"TRYCREATE"``,
                ``"APPENDUID 38505 3955"``.

        Raises:
            LocalProtocolError: nothing owed under *tag*, a `LiteralRequest` is
                pending, or an invalid status or code.
        """
        owed = self._check_owed(tag)
        _check_status(status)
        _check_code(code)
        data = W.tagged(tag, status, text, code)
        self._owed = None
        if self._mode in (_Mode.AUTH, _Mode.IDLE):
            self._mode = _Mode.COMMAND
        if status == "BAD":
            self._bad_commands += 1
        if isinstance(owed.command, StartTls) and status == "OK":
            self._discard_input()
            self._tls_pending = True
        self._state = next_state(self._state, owed.command, status)
        if self._state is State.LOGOUT:
            self._close()
        return data

    def accept_literal(self) -> bytes:
        """Accept the `LiteralRequest`: returns ``+ Ready``; the octets follow.

        Raises:
            LocalProtocolError: no `LiteralRequest` is pending.
        """
        request = self._take_literal_request()
        self._mode = _Mode.LITERAL
        self._literal_size = request.size
        return W.continuation("Ready for literal data")

    def reject_literal(
        self, status: Literal["NO", "BAD"], text: str, code: str | None = None
    ) -> bytes:
        """Refuse the `LiteralRequest` with a tagged response instead of ``+``.

        The client does not send the literal (RFC 3501 §2.2.1); the command ends and
        the next line is a new command. E.g. ``reject_literal("NO", "no such mailbox",
        "TRYCREATE")``.

        Raises:
            LocalProtocolError: no `LiteralRequest` pending, or an invalid status/code.
        """
        if status not in ("NO", "BAD"):
            raise LocalProtocolError(f"reject_literal needs NO or BAD, not {status!r}")
        _check_code(code)
        request = self._take_literal_request()
        self._reset_command()
        if status == "BAD":
            self._bad_commands += 1
        return W.tagged(request.tag, status, text, code)

    def auth_challenge(self, data: bytes = b"") -> bytes:
        """Send a SASL challenge for the owed AUTHENTICATE: ``+ base64(data)``.

        The engine then reads one response line: `AuthResponse`, or `AuthCancelled`
        for ``*`` or invalid base64 (RFC 3501 §6.2.2).

        Raises:
            LocalProtocolError: no AUTHENTICATE owed, a response is already awaited,
                or the exchange was cancelled (complete it with BAD).
        """
        owed = self._owed
        if (
            owed is None
            or not isinstance(owed.command, Authenticate)
            or owed.cancelled
            or self._mode is _Mode.AUTH
            or self._state is State.LOGOUT
        ):
            raise LocalProtocolError("no AUTHENTICATE waiting for a challenge")
        self._mode = _Mode.AUTH
        return W.challenge(data)

    def idle_started(self) -> bytes:
        """Enter IDLE for the owed IDLE command: returns ``+ idling`` (RFC 2177 §3).

        Write pending untagged updates before or after as they come. The engine then
        accepts only ``DONE`` (any case): `IdleDone`; anything else gets a tagged
        ``BAD`` for the IDLE tag (a `Reply`) and ends IDLE.

        Raises:
            LocalProtocolError: no IDLE owed, or already idling.
        """
        owed = self._owed
        if owed is None or not isinstance(owed.command, Idle) or self._mode is _Mode.IDLE:
            raise LocalProtocolError("no IDLE command is owed")
        self._mode = _Mode.IDLE
        return W.continuation("idling")

    def enable(self, capabilities: Iterable[str]) -> bytes:
        """Record extensions enabled by ENABLE (RFC 5161) and return ``* ENABLED ...``.

        Known names: CONDSTORE, QRESYNC (implies CONDSTORE, RFC 7162 §3.2.3),
        UTF8=ACCEPT and IMAP4rev2 (mailbox names are UTF-8 from the next command on,
        RFC 6855 §3, RFC 9051 §5.1). Unknown or already enabled names are left out of
        the response, as RFC 5161 §3.1 requires.

        Raises:
            LocalProtocolError: not AUTHENTICATED or SELECTED.
        """
        if self._state not in (State.AUTHENTICATED, State.SELECTED):
            raise LocalProtocolError("ENABLE needs the authenticated state")
        newly: list[str] = []
        for name in capabilities:
            upper = name.upper()
            canonical = _CANONICAL.get(upper, upper)
            if upper in ENABLEABLE and canonical not in self._enabled:
                self._enabled.add(canonical)
                newly.append(canonical)
        if "QRESYNC" in self._enabled:
            self._enabled.add("CONDSTORE")
        return W.enabled(newly)

    def start_tls_done(self) -> None:
        """The TLS handshake after ``OK`` to STARTTLS succeeded.

        The state stays NOT_AUTHENTICATED (RFC 3501 §6.2.1); passwords are allowed
        from now on and a second STARTTLS gets ``BAD``.

        Raises:
            LocalProtocolError: no STARTTLS was completed with OK.
        """
        if not self._tls_pending:
            raise LocalProtocolError("start_tls_done() without an OK to STARTTLS")
        self._tls_pending = False
        self._tls_active = True
        self._passwords_allowed = True

    def bye(self, text: str) -> bytes:
        """Return ``* BYE text`` and enter LOGOUT (timeout, shutdown; RFC 3501 §7.1.5)."""
        self._close()
        return W.bye(text)

    def send_failed(self) -> None:
        """Tell the engine the transport failed (write error, cancellation): LOGOUT."""
        self._close()

    # --- internals: answers ------------------------------------------------------------

    def _check_owed(self, tag: str) -> _Owed:
        if self._literal_request is not None:
            raise LocalProtocolError("answer the LiteralRequest with accept/reject_literal")
        owed = self._owed
        if owed is None or owed.tag != tag or self._state is State.LOGOUT:
            raise LocalProtocolError(f"no command is owed under tag {tag!r}")
        return owed

    def _take_literal_request(self) -> LiteralRequest:
        request = self._literal_request
        if request is None or self._state is State.LOGOUT:
            raise LocalProtocolError("no LiteralRequest is pending")
        self._literal_request = None
        return request

    def _close(self) -> None:
        self._state = State.LOGOUT
        self._discard_input()
        self._reset_command()
        self._owed = None
        self._literal_request = None
        self._tls_pending = False

    def _disconnect(self, message: str, data: bytes) -> RemoteProtocolError:
        self._close()
        return RemoteProtocolError(message, data=data)

    def _discard_input(self) -> None:
        self._buf.clear()
        self._scanned = 0

    def _reset_command(self) -> None:
        self._parts = []
        self._command_bytes = 0
        self._literal = bytearray()
        self._mode = _Mode.COMMAND

    def _context(self) -> ParseContext:
        return ParseContext(utf8_names=self.utf8_names, enabled=frozenset(self._enabled))

    def _reply(self, data: bytes, *, bad: bool = False) -> Reply:
        """A `Reply`; a BAD counts, and one too many ends the session."""
        if bad:
            self._bad_commands += 1
            if self._bad_commands > self.config.max_bad_commands:
                raise self._disconnect("too many bad commands", data + TOO_MANY_BAD)
        return Reply(data=data)

    def _refuse(self, tag: str | None, refusal: _Refusal | ParseError) -> Reply:
        if tag is None:  # RFC 3501 §7.1.3: untagged BAD when the tag is unknown
            return self._reply(W.untagged("BAD", refusal.text, refusal.code), bad=True)
        data = W.tagged(tag, refusal.status, refusal.text, refusal.code)
        return self._reply(data, bad=refusal.status == "BAD")

    # --- internals: the framing loop -----------------------------------------------------

    def _step(self) -> Event | Literal[Sentinel.NEED_DATA] | None:
        """Advance once: an event, NEED_DATA, or None to go on."""
        mode = self._mode
        if mode is _Mode.LITERAL:
            return self._read_literal()
        if mode is _Mode.DISCARD:
            return self._discard()
        if mode is _Mode.DROP:
            return self._drop()
        line = self._take_line()
        if line is None:
            return NEED_DATA
        if line is False:
            return self._line_too_long()
        if mode is _Mode.AUTH:
            return self._auth_line(line)
        if mode is _Mode.IDLE:
            return self._idle_line(line)
        return self._command_line(line)

    def _take_line(self) -> bytes | Literal[False] | None:
        """The next line without its CR LF; None: need data; False: over the limit."""
        buf = self._buf
        limit = self.config.max_line_bytes
        end = buf.find(b"\n", self._scanned, limit)
        if end < 0:
            if len(buf) >= limit:
                return False
            self._scanned = len(buf)
            return None
        line = bytes(buf[:end])
        del buf[: end + 1]
        self._scanned = 0
        return line[:-1] if line.endswith(b"\r") else line

    def _read_literal(self) -> Event | Literal[Sentinel.NEED_DATA] | None:
        want = self._literal_size - len(self._literal)
        if want and not self._buf:
            return NEED_DATA
        take = min(want, len(self._buf))
        self._literal += self._buf[:take]
        del self._buf[:take]
        if len(self._literal) < self._literal_size:
            return NEED_DATA
        data = bytes(self._literal)
        self._literal = bytearray()
        self._parts.append(LiteralData(data=data, binary=self._literal_binary))
        self._command_bytes += len(data)
        self._mode = _Mode.COMMAND
        return None

    def _discard(self) -> Literal[Sentinel.NEED_DATA] | None:
        take = min(self._discard_left, len(self._buf))
        del self._buf[:take]
        self._discard_left -= take
        if self._discard_left:
            return NEED_DATA
        self._mode = _Mode.DROP
        self._drop_tail = b""
        return None

    def _drop(self) -> Literal[Sentinel.NEED_DATA] | None:
        """Skip the rest of a refused command: lines, and the literals they announce."""
        buf = self._buf
        end = buf.find(b"\n")
        if end < 0:
            self._drop_tail = (self._drop_tail + bytes(buf[-_MARKER_TAIL:]))[-_MARKER_TAIL:]
            self._discard_input()
            return NEED_DATA
        tail = (self._drop_tail + bytes(buf[max(0, end - _MARKER_TAIL) : end]))[-_MARKER_TAIL:]
        del buf[: end + 1]
        self._scanned = 0
        self._drop_tail = b""
        tail = tail.removesuffix(b"\r")
        if _CUT_MARKER.fullmatch(tail):  # "{" cut off: more digits than any real size
            tail = b"{%d+}" % _HUGE
        self._abandon_line(tail)
        return None

    def _abandon_line(self, line: bytes) -> None:
        """A refused line: skip the non-synchronizing literal it announces, if any.

        Raises:
            RemoteProtocolError: that literal is over ``max_discard_bytes``.
        """
        self._reset_command()
        marker = _MARKER.search(line)
        if marker is None or not marker[3]:  # a "{n}" is not sent without our "+"
            return
        size = _literal_size(marker[2])
        if size > self.config.max_discard_bytes:
            raise self._disconnect("literal too large", W.bye("Literal too large"))
        self._discard_left = size
        self._mode = _Mode.DISCARD

    def _line_too_long(self) -> Event:
        """A line over ``max_line_bytes``: tagged BAD, the rest of the command dropped."""
        tag = self._current_tag()
        mode = self._mode
        self._reset_command()
        self._mode = _Mode.DROP
        self._drop_tail = b""
        if mode is _Mode.AUTH:
            return self._auth_cancelled()
        if mode is _Mode.IDLE:
            return self._idle_broken()
        if tag is None:  # IMAP-NOTES §3: no untagged BAD; not even a tag, so hang up
            raise self._disconnect("line too long", W.bye("Line too long"))
        return self._refuse(tag, _Refusal("BAD", "Line too long", "TOOBIG"))

    def _current_tag(self) -> str | None:
        if self._parts:
            return parse_head(self._parts[0]).tag  # type: ignore[arg-type]
        return tag_of(bytes(self._buf[:_TAG_PEEK]), complete=False)

    # --- internals: AUTHENTICATE and IDLE lines ------------------------------------------

    def _auth_line(self, line: bytes) -> Event:
        self._mode = _Mode.COMMAND
        if line == b"*":  # RFC 3501 §6.2.2: the client cancels
            return self._auth_cancelled()
        try:
            data = binascii.a2b_base64(line, strict_mode=True) if line else b""
        except binascii.Error:
            self._abandon_line(line)
            return self._auth_cancelled("invalid base64")
        assert self._owed is not None
        return AuthResponse(tag=self._owed.tag, data=data)

    def _auth_cancelled(self, reason: str = "cancelled") -> Event:
        assert self._owed is not None
        self._owed.cancelled = True
        return AuthCancelled(tag=self._owed.tag, reason=reason)

    def _idle_line(self, line: bytes) -> Event:
        if line.upper() == b"DONE":
            self._mode = _Mode.COMMAND
            assert self._owed is not None
            return IdleDone(tag=self._owed.tag)
        self._abandon_line(line)
        return self._idle_broken()

    def _idle_broken(self) -> Event:
        assert self._owed is not None
        tag = self._owed.tag
        self._owed = None
        return self._refuse(tag, _Refusal("BAD", "Expected DONE to end IDLE"))

    # --- internals: command lines -----------------------------------------------------

    def _command_line(self, line: bytes) -> Event | None:
        if not self._parts and not line:
            return None  # an empty line between commands: ignored
        self._command_bytes += len(line)
        marker = _MARKER.search(line)
        if marker is None:
            self._parts.append(line)
            return self._finish_command()
        self._parts.append(line[: marker.start()])
        return self._announce_literal(
            _literal_size(marker[2]), sync=not marker[3], binary=bool(marker[1])
        )

    def _head_check(self, head: Head) -> None:
        """Refuse what the tag and command name alone decide.

        Raises:
            _Refusal: unknown command, wrong state, STARTTLS not possible, passwords
                not allowed.
        """
        name = head.name
        if name not in KNOWN_COMMANDS:
            raise _Refusal("BAD", "Unknown command" if name else "Missing command")
        if not command_allowed(self._state, name):
            state = self._state.name.replace("_", " ").lower()
            raise _Refusal("BAD", f"{name} is not allowed in the {state} state")
        if name == "STARTTLS" and (self._tls_active or not self.config.starttls_available):
            raise _Refusal("BAD", "TLS is already active" if self._tls_active else "No TLS")
        if name in ("LOGIN", "AUTHENTICATE") and not self._passwords_allowed:
            # RFC 3501 §6.2.3 (LOGINDISABLED), RFC 5530 §3 PRIVACYREQUIRED
            raise _Refusal("NO", "Use STARTTLS before logging in", "PRIVACYREQUIRED")

    def _announce_literal(self, size: int, *, sync: bool, binary: bool) -> Event | None:
        """A literal marker ended the line: check the command so far, then go on."""
        head = parse_head(self._parts[0])  # type: ignore[arg-type]
        try:
            if head.tag is None:
                raise _Refusal("BAD", "Invalid tag")
            self._head_check(head)
            mailbox = check_prefix(self._parts, self._context(), binary=binary).append_mailbox
            self._check_literal_limits(size, mailbox)
        except (_Refusal, ParseError) as refusal:
            reply = self._refuse(head.tag, refusal)
            if sync:  # the client waits for "+": the command ends here
                self._reset_command()
                return reply
            try:  # the octets are on their way: count them down, drop the rest
                self._abandon_line(b"{%d+}" % size)
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(str(exc), data=reply.data + exc.data) from None
            return reply
        self._literal_size = size
        self._literal_binary = binary
        self._literal = bytearray()
        if not sync:
            self._mode = _Mode.LITERAL
            return None
        assert head.tag is not None
        if mailbox is not None:
            request = LiteralRequest(
                tag=head.tag, command_name="APPEND", mailbox=mailbox, size=size
            )
            self._literal_request = request
            return request
        self._mode = _Mode.LITERAL
        return Reply(data=W.continuation("Ready for literal data"))

    def _check_literal_limits(self, size: int, mailbox: str | None) -> None:
        literals = (len(self._parts) + 1) // 2
        if literals > MAX_LITERALS_PER_COMMAND:
            raise _Refusal("BAD", "Too many literals in one command", "LIMIT")
        limit = self.config.max_literal_bytes if mailbox is None else self.config.max_append_bytes
        if size > limit or self._command_bytes + size > self.config.max_command_bytes:
            if mailbox is not None:  # RFC 7889 §4: APPEND over APPENDLIMIT is NO [TOOBIG]
                raise _Refusal("NO", "Message too large", "TOOBIG")
            raise _Refusal("BAD", "Literal too large", "TOOBIG")

    def _finish_command(self) -> Event:
        parts = self._parts
        self._reset_command()
        head = parse_head(parts[0])  # type: ignore[arg-type]
        if head.tag is None:
            return self._refuse(None, _Refusal("BAD", "Invalid tag"))
        try:
            self._head_check(head)
            command = parse_command(parts, self._context())
            return self._dispatch(head.tag, command)
        except (_Refusal, ParseError) as refusal:
            return self._refuse(head.tag, refusal)

    def _dispatch(self, tag: str, command: Command) -> Event:
        if isinstance(command, Capability):  # RFC 3501 §6.1.1: answered here
            data = W.capability_response(self.capabilities())
            return Reply(data=data + W.tagged(tag, "OK", "CAPABILITY completed"))
        if isinstance(command, Authenticate) and command.mechanism not in {
            m.upper() for m in self.config.auth_mechanisms
        }:  # RFC 3501 §6.2.2: unsupported mechanism is NO
            raise _Refusal("NO", "Unsupported authentication mechanism")
        self._owed = _Owed(tag=tag, command=command)
        return CommandReceived(tag=tag, command=command)


def _check_status(status: str) -> None:
    if status not in W.STATUSES:
        raise LocalProtocolError(f"status must be OK, NO or BAD, not {status!r}")


def _check_code(code: str | None) -> None:
    if code is not None and not W.valid_code(code):
        raise LocalProtocolError(f"invalid response code {code!r}")
