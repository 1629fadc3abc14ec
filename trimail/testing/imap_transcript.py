"""Golden IMAP transcripts: ``C:``/``S:``/``E:`` dialogues replayed against `ImapConnection`.

Same format as the SMTP and POP3 runners, plus events and connection options::

    ! config max_bad_commands=2 starttls_available=true
    ! connection loopback=false
    C: a LOGIN alice secret
    C~ b APPEND x {3+}\\r\\nabc\\r\\n
    S: a NO [PRIVACYREQUIRED] Use STARTTLS before logging in
    E: CommandReceived(tag='b', command=...)
    ! tls

- ``! config k=v ...``: `ImapConfig` overrides (ints, true/false, strings);
- ``! connection k=v ...``: `ImapConnection` arguments ``tls_active`` and ``loopback``
  (the runner's default is ``loopback=true``, so passwords are allowed);
- ``C: text``: a client line, CRLF appended; ``C~ text``: raw client bytes with the
  escapes ``\\r \\n \\t \\\\ \\xHH``, nothing appended;
- ``S: text``: an expected server line, CRLF appended;
- ``E: repr``: the ``repr`` of an expected event. If a transcript has any ``E:`` line,
  the events other than `Reply` and `ConnectionClosed` must be exactly these, in order;
- ``! tls``: the STARTTLS handshake; later client bytes are sent after
  ``start_tls_done()``.

All client bytes of a segment are sent before any response is read, whole or cut into
pieces by the caller; the output must equal the ``S:`` lines exactly. The runner sends
the greeting ``* OK [CAPABILITY ...] trimail IMAP4rev2 ready`` first and feeds EOF last.
Its answers (`ImapTranscriptPolicy`): ``alice``/``secret`` logs in (LOGIN or AUTHENTICATE
PLAIN); the mailbox ``missing`` does not exist (SELECT/EXAMINE ``NO [NONEXISTENT]``,
APPEND literal ``NO [TRYCREATE]``); every other command is ``OK <NAME> completed``.
"""

from __future__ import annotations

import binascii
from pathlib import Path

import attrs

from trimail.imap import (
    NEED_DATA,
    PAUSED,
    Append,
    AuthCancelled,
    Authenticate,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    Enable,
    Event,
    Examine,
    Idle,
    IdleDone,
    ImapConfig,
    ImapConnection,
    LiteralRequest,
    Login,
    Logout,
    RemoteProtocolError,
    Reply,
    Select,
    StartTls,
)
from trimail.sasl import SaslError, parse_plain
from trimail.testing.transcript import Pieces, _config_value, _unescape

GREETING = "trimail IMAP4rev2 ready"
USERNAME, PASSWORD = "alice", "secret"
MISSING = "missing"  # the one mailbox that does not exist


@attrs.frozen(kw_only=True)
class ImapTranscript:
    """A parsed IMAP transcript.

    Attributes:
        name: where it came from (file name), for messages.
        segments: client bytes before STARTTLS and after each TLS handshake.
        expected: the exact bytes the server must write, greeting included.
        events: the expected event reprs (``E:`` lines); empty means "not checked".
        config: the engine configuration.
        tls_active: the connection starts encrypted.
        loopback: the peer is on loopback (passwords allowed without TLS).
    """

    name: str
    segments: tuple[bytes, ...]
    expected: bytes
    events: tuple[str, ...]
    config: ImapConfig
    tls_active: bool = False
    loopback: bool = True

    @property
    def client_bytes(self) -> bytes:
        """All client bytes, segments joined."""
        return b"".join(self.segments)


def parse_imap_transcript(text: str, *, name: str = "<transcript>") -> ImapTranscript:
    """Parse the transcript format described in this module's docstring.

    Raises:
        ValueError: a line is neither a comment nor a known directive.
    """
    segments: list[bytearray] = [bytearray()]
    expected = bytearray()
    events: list[str] = []
    overrides: dict[str, int | bool | str] = {}
    options: dict[str, bool] = {"tls_active": False, "loopback": True}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("C: "):
            segments[-1] += line[3:].encode("utf-8") + b"\r\n"
        elif line.startswith("C~ "):
            segments[-1] += _unescape(line[3:])
        elif line.startswith("S: "):
            expected += line[3:].encode("utf-8") + b"\r\n"
        elif line.startswith("E: "):
            events.append(line[3:])
        elif line.strip() == "! tls":
            segments.append(bytearray())
        elif line.startswith("! config "):
            for item in line[len("! config ") :].split():
                key, _, value = item.partition("=")
                overrides[key] = _config_value(value)
        elif line.startswith("! connection "):
            for item in line[len("! connection ") :].split():
                key, _, value = item.partition("=")
                if key not in options:
                    raise ValueError(f"{name}:{number}: unknown connection option {key}")
                options[key] = value.lower() == "true"
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{name}:{number}: cannot read {line!r}")
    return ImapTranscript(
        name=name,
        segments=tuple(bytes(s) for s in segments),
        expected=bytes(expected),
        events=tuple(events),
        config=ImapConfig(**overrides),  # type: ignore[arg-type]
        **options,
    )


def load_imap_transcript(path: str | Path) -> ImapTranscript:
    """Read and parse an IMAP transcript file (UTF-8)."""
    path = Path(path)
    return parse_imap_transcript(path.read_text(encoding="utf-8"), name=path.name)


def command_name(event: CommandReceived) -> str:
    """``UID FETCH``, ``SELECT``...: the command's name as the client would write it."""
    command = event.command
    name = type(command).__name__.upper()
    if getattr(command, "uid", False) or (name == "EXPUNGE" and getattr(command, "uids", None)):
        return "UID " + name
    return name


class ImapTranscriptPolicy:
    """The fixed answers the runner gives; subclass to change them."""

    def answer(self, conn: ImapConnection, event: Event) -> bytes:
        """Return the bytes answering *event* (everything but `Reply`)."""
        match event:
            case LiteralRequest(mailbox=mailbox) if mailbox == MISSING:
                return conn.reject_literal("NO", "Mailbox does not exist", "TRYCREATE")
            case LiteralRequest():
                return conn.accept_literal()
            case AuthResponse(tag=tag, data=data):
                return self._plain(conn, tag, data)
            case AuthCancelled(tag=tag, reason=reason):
                return conn.complete(tag, "BAD", f"AUTHENTICATE {reason}")
            case IdleDone(tag=tag):
                return conn.complete(tag, "OK", "IDLE terminated")
            case CommandReceived():
                return self.command(conn, event)
        raise AssertionError(f"no answer for {event!r}")

    def command(self, conn: ImapConnection, event: CommandReceived) -> bytes:
        """Answer one `CommandReceived`."""
        tag, command = event.tag, event.command
        match command:
            case Login(username=user, password=password):
                return self._login(conn, tag, user == USERNAME and password == PASSWORD)
            case Authenticate(initial_response=None):
                return conn.auth_challenge(b"")
            case Authenticate(initial_response=bytes(data)):
                return self._plain(conn, tag, data)
            case Select(mailbox=mailbox) if mailbox == MISSING:
                return conn.complete(tag, "NO", "Mailbox does not exist", "NONEXISTENT")
            case Select():
                access = "READ-ONLY" if isinstance(command, Examine) else "READ-WRITE"
                untagged = b"* 2 EXISTS\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n"
                return untagged + conn.complete(
                    tag, "OK", f"{command_name(event)} completed", access
                )
            case Idle():
                return conn.idle_started()
            case Enable(capabilities=names):
                return conn.enable(names) + conn.complete(tag, "OK", "ENABLE completed")
            case Logout():
                bye = b"* BYE trimail logging out\r\n"
                return bye + conn.complete(tag, "OK", "LOGOUT completed")
            case StartTls():
                return conn.complete(tag, "OK", "Begin TLS negotiation now")
            case Append(messages=messages):
                return conn.complete(tag, "OK", f"APPEND completed ({len(messages)})")
        return conn.complete(tag, "OK", f"{command_name(event)} completed")

    def _login(self, conn: ImapConnection, tag: str, ok: bool) -> bytes:
        if not ok:
            return conn.complete(tag, "NO", "Invalid credentials", "AUTHENTICATIONFAILED")
        caps = "CAPABILITY " + " ".join(conn.capabilities(authenticated=True))
        return conn.complete(tag, "OK", "Logged in", caps)

    def _plain(self, conn: ImapConnection, tag: str, data: bytes) -> bytes:
        try:
            credentials = parse_plain(data)
        except (SaslError, binascii.Error):
            return conn.complete(tag, "BAD", "Malformed PLAIN response")
        ok = credentials.authcid == USERNAME and credentials.password == PASSWORD
        return self._login(conn, tag, ok)


@attrs.define
class ImapTranscriptResult:
    """What happened when a transcript ran.

    Attributes:
        output: every byte the server wrote.
        responses: the bytes of each write, in order.
        events: every event, in order.
        closed: True if the connection ended (LOGOUT, BYE or EOF).
        max_buffered: the most octets the engine held when it asked for more data.
    """

    output: bytearray = attrs.field(factory=bytearray)
    responses: list[bytes] = attrs.field(factory=list)
    events: list[Event] = attrs.field(factory=list)
    closed: bool = False
    max_buffered: int = 0

    @property
    def event_reprs(self) -> list[str]:
        """``repr`` of the events an ``E:`` line can name (not Reply/ConnectionClosed)."""
        return [repr(e) for e in self.events if not isinstance(e, Reply | ConnectionClosed)]


class _Run:
    def __init__(self, transcript: ImapTranscript, policy: ImapTranscriptPolicy) -> None:
        self.conn = ImapConnection(
            transcript.config, tls_active=transcript.tls_active, loopback=transcript.loopback
        )
        self.policy = policy
        self.result = ImapTranscriptResult()
        self.tls_pending = False

    def write(self, data: bytes) -> None:
        self.result.output += data
        self.result.responses.append(data)

    def drain(self) -> None:
        while not self.result.closed and not self.tls_pending:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                self.write(exc.data)
                self.result.closed = True
                return
            if event is NEED_DATA:
                self.result.max_buffered = max(self.result.max_buffered, self.conn.buffered_bytes)
                return
            if event is PAUSED:
                raise AssertionError("engine paused although every event was answered")
            self.result.events.append(event)
            if isinstance(event, ConnectionClosed):
                self.result.closed = True
            elif isinstance(event, Reply):
                self.write(event.data)
            else:
                self.write(self.policy.answer(self.conn, event))
                self.tls_pending = self.conn.starting_tls


def run_imap_transcript(
    transcript: ImapTranscript,
    *,
    pieces: Pieces | None = None,
    policy: ImapTranscriptPolicy | None = None,
) -> ImapTranscriptResult:
    """Replay *transcript*'s client bytes against a fresh `ImapConnection`.

    Writes the greeting, feeds each segment (cut by *pieces*, whole by default),
    answers every event with *policy*, runs the TLS "handshake" between segments
    (client bytes of a segment not yet fed when STARTTLS is accepted are dropped, as
    a TLS layer would consume them), and finally feeds EOF.

    Returns:
        The result; compare ``result.output`` with ``transcript.expected``.
    """
    run = _Run(transcript, policy or ImapTranscriptPolicy())
    run.write(run.conn.greeting(GREETING))
    cut = pieces or (lambda data: (data,))
    for number, segment in enumerate(transcript.segments):
        if number and not run.result.closed:
            run.conn.start_tls_done()
            run.tls_pending = False
            run.drain()
        for piece in cut(segment):
            if run.result.closed or run.tls_pending:
                break
            if piece:
                run.conn.receive_data(piece)
            run.drain()
    if not run.result.closed:
        if run.tls_pending:  # STARTTLS in the last segment: the handshake, then EOF
            run.conn.start_tls_done()
            run.tls_pending = False
        run.conn.receive_data(b"")
        run.drain()
    return run.result
