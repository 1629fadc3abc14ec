"""Golden SMTP transcripts: ``C:``/``S:`` dialogues replayed against `ServerConnection`.

Format, one directive per line; lines starting with ``#`` and blank lines are comments
(there are no trailing comments)::

    ! config max_recipients=2 smtputf8=false
    C: EHLO client.example
    C~ Subject: x\\r\\n\\nbody\\r\\n.\\r\\n
    S: 250-mx.example.org
    ! tls

- ``! config k=v ...``: `SmtpConfig` overrides (ints, true/false, strings);
- ``C: text``: a client line, CRLF appended;
- ``C~ text``: raw client bytes with the escapes ``\\r \\n \\t \\\\ \\xHH``, nothing
  appended;
- ``S: text``: an expected server line, CRLF appended;
- ``! tls``: the STARTTLS handshake; later ``C:`` lines are sent after
  ``start_tls_done()``.

All client bytes of a segment are sent before any reply is read (the engine queues
pipelined commands, RFC 2920), whole or cut into pieces by the caller; the server's
output must equal the ``S:`` lines exactly. The replies come from a fixed policy
(`TranscriptPolicy`): accept every sender, refuse recipients whose local part is
``unknown`` (550 5.1.1), 354 for DATA, 250 for every complete message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    PAUSED,
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
    Quit,
    RcptTo,
    RemoteProtocolError,
    Reset,
    ServerConnection,
    SmtpConfig,
    StartTls,
    State,
    Verify,
)

HOSTNAME = "mx.example.org"
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[rnt\\])")
_SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\"}

Pieces = Callable[[bytes], Iterable[bytes]]
"""Cuts a segment's client bytes into the pieces fed to ``receive_data``."""


def _unescape(text: str) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        return _SIMPLE_ESCAPES[code]

    return _ESCAPE.sub(one, text.encode("utf-8"))


def _config_value(text: str) -> int | bool | str:
    if text.isdigit():
        return int(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


@attrs.frozen(kw_only=True)
class Transcript:
    """A parsed transcript.

    Attributes:
        name: where it came from (file name), for messages.
        segments: client bytes before STARTTLS and after each TLS handshake.
        expected: the exact bytes the server must write.
        config: the engine configuration (``hostname`` is ``mx.example.org``).
    """

    name: str
    segments: tuple[bytes, ...]
    expected: bytes
    config: SmtpConfig

    @property
    def client_bytes(self) -> bytes:
        """All client bytes, segments joined."""
        return b"".join(self.segments)


def parse_transcript(text: str, *, name: str = "<transcript>") -> Transcript:
    """Parse the transcript format described in this module's docstring.

    Raises:
        ValueError: a line is neither a comment nor a known directive.
    """
    segments: list[bytearray] = [bytearray()]
    expected = bytearray()
    overrides: dict[str, int | bool | str] = {"hostname": HOSTNAME}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("C: "):
            segments[-1] += line[3:].encode("utf-8") + b"\r\n"
        elif line.startswith("C~ "):
            segments[-1] += _unescape(line[3:])
        elif line.startswith("S: "):
            expected += line[3:].encode("utf-8") + b"\r\n"
        elif line.strip() == "! tls":
            segments.append(bytearray())
        elif line.startswith("! config "):
            for item in line[len("! config ") :].split():
                key, _, value = item.partition("=")
                overrides[key] = _config_value(value)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"{name}:{number}: cannot read {line!r}")
    return Transcript(
        name=name,
        segments=tuple(bytes(s) for s in segments),
        expected=bytes(expected),
        config=SmtpConfig(**overrides),  # type: ignore[arg-type]
    )


def load_transcript(path: str | Path) -> Transcript:
    """Read and parse a transcript file (UTF-8)."""
    path = Path(path)
    return parse_transcript(path.read_text(encoding="utf-8"), name=path.name)


class TranscriptPolicy:
    """The fixed replies the transcript runner gives; subclass to change them."""

    def reply(self, conn: ServerConnection, event: Event) -> Reply:
        """Return the reply to *event* (one that owes a reply)."""
        match event:
            case Hello(command="EHLO"):
                return conn.ehlo_reply(HOSTNAME)
            case Hello():
                return Reply(code=250, text=HOSTNAME)
            case MailFrom():
                return Reply(code=250, enhanced_status="2.1.0", text="Sender OK")
            case RcptTo(forward_path=path) if path.local_part.lower() == "unknown":
                return Reply(code=550, enhanced_status="5.1.1", text="Mailbox unavailable")
            case RcptTo():
                return Reply(code=250, enhanced_status="2.1.5", text="Recipient OK")
            case DataCommand():
                return Reply(code=354, text="End data with <CR><LF>.<CR><LF>")
            case MessageComplete():
                return Reply(code=250, enhanced_status="2.0.0", text="OK: queued")
            case ChunkComplete(size=size):
                return Reply(code=250, enhanced_status="2.0.0", text=f"{size} octets received")
            case Quit():
                return Reply(code=221, enhanced_status="2.0.0", text="Bye")
            case StartTls():
                return Reply(code=220, enhanced_status="2.0.0", text="Ready to start TLS")
            case MessageAborted(reply=reply) | BadCommand(reply=reply) | Reset(reply=reply):
                return reply
            case Noop(reply=reply) | Verify(reply=reply) | Help(reply=reply):
                return reply
        raise AssertionError(f"no reply for {event!r}")


@attrs.define
class TranscriptResult:
    """What happened when a transcript ran.

    Attributes:
        output: every byte the server wrote.
        events: every event, in order (MessageData included).
        messages: the content of each message answered with 250.
        replies: the bytes of each reply, in order.
        closed: True if the connection ended (QUIT, 421 or EOF).
        max_buffered: the most octets the engine held when it asked for more data.
    """

    output: bytearray = attrs.field(factory=bytearray)
    replies: list[bytes] = attrs.field(factory=list)
    events: list[Event] = attrs.field(factory=list)
    messages: list[bytes] = attrs.field(factory=list)
    closed: bool = False
    max_buffered: int = 0


class _Run:
    def __init__(self, config: SmtpConfig, policy: TranscriptPolicy) -> None:
        self.conn = ServerConnection(config)
        self.policy = policy
        self.result = TranscriptResult()
        self.content = bytearray()

    def send(self, reply: Reply) -> None:
        data = self.conn.send(reply)
        self.result.output += data
        self.result.replies.append(data)

    def drain(self) -> bool:
        """Handle events until NEED_DATA; return True once TLS was started."""
        while not self.result.closed:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                self.send(exc.reply)
                self.result.closed = True
                return False
            if event is NEED_DATA:
                self.result.max_buffered = max(self.result.max_buffered, self.conn.buffered_bytes)
                return False
            if event is PAUSED:
                raise AssertionError("engine paused although every event was answered")
            self.result.events.append(event)
            if isinstance(event, MessageData):
                self.content += event.data
                continue
            if isinstance(event, ConnectionClosed):
                self.result.closed = True
                return False
            reply = self.policy.reply(self.conn, event)
            self.send(reply)
            if isinstance(event, MessageComplete) and reply.code == 250:
                self.result.messages.append(bytes(self.content))
            if isinstance(event, MessageComplete | MessageAborted) or (
                isinstance(event, ChunkComplete) and reply.code >= 400
            ):
                self.content.clear()
            if self.conn.state is State.CLOSED:
                self.result.closed = True
            elif self.conn.state is State.STARTTLS:
                self.conn.start_tls_done()
                return True
        return False


def run_transcript(
    transcript: Transcript,
    *,
    pieces: Pieces | None = None,
    policy: TranscriptPolicy | None = None,
) -> TranscriptResult:
    """Replay *transcript*'s client bytes against a fresh `ServerConnection`.

    Sends the 220 greeting, feeds each segment (cut by *pieces*, whole by default),
    answers every event with *policy*, runs the TLS "handshake" between segments
    (client bytes of a segment not yet fed when STARTTLS is accepted are dropped, as
    a TLS layer would consume them), and finally feeds EOF.

    Returns:
        The result; compare ``result.output`` with ``transcript.expected``.
    """
    run = _Run(transcript.config, policy or TranscriptPolicy())
    run.send(Reply(code=220, text=f"{HOSTNAME} ESMTP trimail"))
    cut = pieces or (lambda data: (data,))
    for segment in transcript.segments:
        for piece in cut(segment):
            if run.result.closed:
                break
            if piece:
                run.conn.receive_data(piece)
            if run.drain():
                break
    if not run.result.closed:
        run.conn.receive_data(b"")
        run.drain()
    return run.result


def byte_by_byte(data: bytes) -> Iterable[bytes]:
    """`Pieces` that feeds one byte at a time."""
    return (data[i : i + 1] for i in range(len(data)))


def split_at(cuts: Iterable[int]) -> Pieces:
    """`Pieces` that cuts a segment at the given offsets (out-of-range ones ignored)."""
    points = sorted(set(cuts))

    def pieces(data: bytes) -> Iterable[bytes]:
        bounds = [0, *(p for p in points if 0 < p < len(data)), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)]

    return pieces
