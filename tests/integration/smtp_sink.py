"""A scripted SMTP server on a loopback address: the remote MX of outbound tests.

Built on trimail's own sans-IO engine in plain threads, so a test decides every reply:
per-recipient codes per attempt, a broken or refused STARTTLS, no DSN or PIPELINING.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import attrs

from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    BadCommand,
    ChunkComplete,
    ConnectionClosed,
    DataCommand,
    Hello,
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
)

OK = Reply(code=250, enhanced_status="2.0.0", text="Ok")


def reply_for(code: int) -> Reply:
    """A plausible reply for *code* (250, 451, 550, ...)."""
    texts = {250: "Ok", 451: "Try again later", 452: "Too busy", 550: "No such user here"}
    status = {2: "2.1.5", 4: "4.3.0", 5: "5.1.1"}[code // 100]
    return Reply(code=code, enhanced_status=status, text=texts.get(code, "Scripted"))


@attrs.define
class Received:
    """One message the sink accepted."""

    reverse_path: str
    mail_parameters: tuple[tuple[str, str | None], ...]
    recipients: list[str]
    rcpt_parameters: list[tuple[tuple[str, str | None], ...]]
    content: bytes


@attrs.define
class SmtpSink:
    """Configuration and record of a scripted server.

    Attributes:
        rcpt_codes: recipient local part -> reply codes, one per attempt (the last
            repeats); recipients not named get 250.
        data_codes: reply codes for successive message ends (the last repeats).
        starttls: "none" (not offered), "refuse" (454) or "broken" (220, then garbage).
        dsn, pipelining, chunking, smtputf8: advertise these extensions.
        greeting: the greeting's code.
    """

    rcpt_codes: dict[str, list[int]] = attrs.field(factory=dict)
    data_codes: list[int] = attrs.field(factory=lambda: [250])
    starttls: str = "none"
    dsn: bool = True
    pipelining: bool = True
    chunking: bool = False
    smtputf8: bool = True
    greeting: int = 220
    received: list[Received] = attrs.field(factory=list)
    sessions: int = 0
    starttls_requests: int = 0
    _attempts: dict[str, int] = attrs.field(factory=dict)
    _messages: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def _rcpt_reply(self, local_part: str) -> Reply:
        codes = self.rcpt_codes.get(local_part.lower())
        if not codes:
            return reply_for(250)
        with self._lock:
            n = self._attempts.get(local_part.lower(), 0)
            self._attempts[local_part.lower()] = n + 1
        return reply_for(codes[min(n, len(codes) - 1)])

    def _data_reply(self) -> Reply:
        with self._lock:
            n = self._messages
            self._messages += 1
        code = self.data_codes[min(n, len(self.data_codes) - 1)]
        return OK if code == 250 else reply_for(code)

    def serve(self, sock: socket.socket) -> None:
        """Run one session on a connected socket."""
        with self._lock:
            self.sessions += 1
        conn = ServerConnection(
            SmtpConfig(
                hostname="sink.test",
                starttls=self.starttls != "none",
                dsn=self.dsn,
                chunking=self.chunking,
                pipelining=self.pipelining,
                smtputf8=self.smtputf8,
            )
        )
        if self.greeting != 220:
            sock.sendall(conn.send(Reply(code=self.greeting, text="sink.test go away")))
            return
        sock.sendall(conn.send(Reply(code=220, text="sink.test ESMTP")))
        mail: MailFrom | None = None
        rcpts: list[RcptTo] = []
        content: list[bytes] = []
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as exc:
                sock.sendall(conn.send(exc.reply))
                return
            if event is NEED_DATA:
                data = sock.recv(65536)
                conn.receive_data(data)
                continue
            match event:
                case Hello(command="EHLO"):
                    reply = conn.ehlo_reply("sink.test")
                case Hello():
                    reply = OK
                case StartTls():
                    with self._lock:
                        self.starttls_requests += 1
                    if self.starttls == "broken":
                        sock.sendall(conn.send(Reply(code=220, text="go ahead")))
                        sock.sendall(b"this is not a TLS server hello\r\n" * 4)
                        return
                    reply = Reply(code=454, enhanced_status="4.7.0", text="TLS not available")
                case MailFrom():
                    mail, rcpts, content = event, [], []
                    reply = OK
                case RcptTo():
                    reply = self._rcpt_reply(event.forward_path.local_part)
                    if reply.code == 250:
                        rcpts.append(event)
                case DataCommand():
                    reply = Reply(code=354, text="Go ahead")
                case MessageData(data=data):
                    content.append(data)
                    continue
                case ChunkComplete():
                    reply = OK
                case MessageComplete():
                    reply = self._data_reply()
                    if reply.code == 250 and mail is not None:
                        self.received.append(
                            Received(
                                reverse_path=str(mail.reverse_path),
                                mail_parameters=tuple(mail.parameters),
                                recipients=[str(r.forward_path) for r in rcpts],
                                rcpt_parameters=[tuple(r.parameters) for r in rcpts],
                                content=b"".join(content),
                            )
                        )
                    content = []
                case MessageAborted(reply=reply) | BadCommand(reply=reply):
                    content = []
                case Reset(reply=reply) | Noop(reply=reply):
                    pass
                case Quit():
                    sock.sendall(conn.send(Reply(code=221, text="Bye")))
                    return
                case ConnectionClosed():
                    return
                case _:
                    reply = Reply(code=502, enhanced_status="5.5.1", text="Not implemented")
            sock.sendall(conn.send(reply))


@contextmanager
def running_sink(sink: SmtpSink, host: str, port: int) -> Iterator[SmtpSink]:
    """Serve *sink* on host:port (threads) until the block ends."""
    server = socket.create_server((host, port))
    server.settimeout(0.2)
    stop = threading.Event()

    def handle(client: socket.socket) -> None:
        with client, suppress(OSError):
            client.settimeout(30)
            sink.serve(client)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        stop.set()
        thread.join(5)
        server.close()
