"""Golden POP3 transcripts: ``C:``/``S:`` dialogues replayed against `Pop3Connection`.

Same format as the SMTP runner (`trimail.testing.transcript`), without ``! tls``::

    ! config max_bad_commands=2 auth_allowed=false
    C: USER alice
    C~ PASS secret\\r\\n
    S: +OK send PASS

- ``! config k=v ...``: `Pop3Config` overrides (ints, true/false, strings);
- ``C: text``: a client line, CRLF appended;
- ``C~ text``: raw client bytes with the escapes ``\\r \\n \\t \\\\ \\xHH``;
- ``S: text``: an expected server line, CRLF appended (message content included).

All client bytes are sent before any response is read (PIPELINING, RFC 2449 §6.6),
whole or cut into pieces by the caller; the output must equal the ``S:`` lines
exactly. The runner sends the greeting ``+OK trimail POP3 ready`` first and feeds EOF
last. Its policy (`Pop3TranscriptPolicy`): user ``alice`` with password ``secret``
logs in to `MAILDROP` (three messages); ``locked`` with any password gets
``[IN-USE]``; everyone else ``-ERR [AUTH] invalid credentials``. Deletions are always
applied.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from trimail.pop3 import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    ConnectionClosed,
    Event,
    MaildropEntry,
    Pop3Config,
    Pop3Connection,
    Quit,
    RemoteProtocolError,
    Reply,
    Retrieve,
)
from trimail.testing.transcript import Pieces, _config_value, _unescape

GREETING = "trimail POP3 ready"
MESSAGES: tuple[bytes, ...] = (
    b"From: bob@example.org\r\nSubject: one\r\n\r\nHello Alice.\r\n",
    b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend",
    b"Subject: three\r\nX-Note: y\r\n\r\nline 1\r\nline 2\r\nline 3\r\n",
)
"""The messages of alice's maildrop (the second has dot lines and no final CRLF)."""
MAILDROP: tuple[MaildropEntry, ...] = tuple(
    MaildropEntry(size=len(m), unique_id=f"uid-{n}") for n, m in enumerate(MESSAGES, 1)
)


@attrs.frozen(kw_only=True)
class Pop3Transcript:
    """A parsed POP3 transcript.

    Attributes:
        name: where it came from (file name), for messages.
        client_bytes: every byte the client sends.
        expected: the exact bytes the server must write, greeting included.
        config: the engine configuration.
    """

    name: str
    client_bytes: bytes
    expected: bytes
    config: Pop3Config


def parse_pop3_transcript(text: str, *, name: str = "<transcript>") -> Pop3Transcript:
    """Parse the transcript format described in this module's docstring.

    Raises:
        ValueError: a line is neither a comment nor a known directive.
    """
    client = bytearray()
    expected = bytearray()
    overrides: dict[str, int | bool | str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("C: "):
            client += line[3:].encode("utf-8") + b"\r\n"
        elif line.startswith("C~ "):
            client += _unescape(line[3:])
        elif line.startswith("S: ") or line == "S:":
            expected += line[3:].encode("utf-8") + b"\r\n"
        elif line.startswith("! config "):
            for item in line[len("! config ") :].split():
                key, _, value = item.partition("=")
                overrides[key] = _config_value(value)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{name}:{number}: cannot read {line!r}")
    return Pop3Transcript(
        name=name,
        client_bytes=bytes(client),
        expected=bytes(expected),
        config=Pop3Config(**overrides),  # type: ignore[arg-type]
    )


def load_pop3_transcript(path: str | Path) -> Pop3Transcript:
    """Read and parse a POP3 transcript file (UTF-8)."""
    path = Path(path)
    return parse_pop3_transcript(path.read_text(encoding="utf-8"), name=path.name)


class Pop3TranscriptPolicy:
    """The fixed answers the runner gives; subclass to change them."""

    def answer(self, conn: Pop3Connection, event: Event) -> bytes:
        """Return the bytes answering *event* (`Authenticate`, `Retrieve` or `Quit`)."""
        match event:
            case Authenticate(username="alice", password="secret"):
                return conn.accept_login(MAILDROP)
            case Authenticate(username="locked"):
                return conn.reject_login("maildrop is locked", code="IN-USE")
            case Authenticate():
                return conn.reject_login("invalid credentials")
            case Retrieve(index=index):
                return conn.send_message(MESSAGES[index])
            case Quit():
                return conn.quit_done(True)
        raise AssertionError(f"no answer for {event!r}")


@attrs.define
class Pop3TranscriptResult:
    """What happened when a transcript ran.

    Attributes:
        output: every byte the server wrote.
        responses: the bytes of each write, in order.
        events: every event, in order.
        deleted: the ``Quit.deleted`` applied, or None if no QUIT was answered.
        closed: True if the connection ended (QUIT, too many errors or EOF).
        max_buffered: the most octets the engine held when it asked for more data.
    """

    output: bytearray = attrs.field(factory=bytearray)
    responses: list[bytes] = attrs.field(factory=list)
    events: list[Event] = attrs.field(factory=list)
    deleted: tuple[int, ...] | None = None
    closed: bool = False
    max_buffered: int = 0


class _Run:
    def __init__(self, config: Pop3Config, policy: Pop3TranscriptPolicy) -> None:
        self.conn = Pop3Connection(config)
        self.policy = policy
        self.result = Pop3TranscriptResult()

    def write(self, data: bytes) -> None:
        self.result.output += data
        self.result.responses.append(data)

    def drain(self) -> None:
        while not self.result.closed:
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
                if isinstance(event, Quit):
                    self.result.deleted = event.deleted
                    self.result.closed = True


def run_pop3_transcript(
    transcript: Pop3Transcript,
    *,
    pieces: Pieces | None = None,
    policy: Pop3TranscriptPolicy | None = None,
) -> Pop3TranscriptResult:
    """Replay *transcript*'s client bytes against a fresh `Pop3Connection`.

    Writes the greeting, feeds the client bytes (cut by *pieces*, whole by default),
    answers every event with *policy*, and finally feeds EOF.

    Returns:
        The result; compare ``result.output`` with ``transcript.expected``.
    """
    run = _Run(transcript.config, policy or Pop3TranscriptPolicy())
    run.write(run.conn.greeting(GREETING))
    cut = pieces or (lambda data: (data,))
    for piece in cut(transcript.client_bytes):
        if run.result.closed:
            break
        if piece:
            run.conn.receive_data(piece)
        run.drain()
    if not run.result.closed:
        run.conn.receive_data(b"")
        run.drain()
    return run.result
