"""ClientConnection against ServerConnection, in memory: bytes go back and forth in a loop.

The server side is a tiny driver that answers with the transcript policy (accept every
sender, refuse recipients named ``unknown`` with 550 5.1.1, 354 for DATA, 250 for each
message) and accepts AUTH PLAIN for alice/secret.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    PAUSED,
    AuthChallenge,
    Authenticate,
    AuthResponse,
    ClientConfig,
    ClientConnection,
    ClientState,
    CommandReply,
    ConnectionClosed,
    EhloResult,
    Event,
    Greeting,
    Hello,
    MessageAborted,
    MessageComplete,
    MessageData,
    ServerConnection,
    SmtpConfig,
    StartTls,
)
from trimail.testing import TranscriptPolicy

HOSTNAME = "mx.example.org"
CLIENT = ClientConfig(local_hostname="client.example")
ALICE = Mailbox(local_part="alice", domain="client.example")
PLAIN = b"\0alice\0secret"
TOKENS = [b".", b"..", b"\r\n", b"\n", b"\r", b"\r\n.\r\n", b"\n.\r\n", b"x", b"abc"]
CONTENT = st.one_of(
    st.binary(max_size=120),
    st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join),
)


class Server:
    """Drives a ServerConnection: replies to every event at once, keeps the messages."""

    def __init__(self, config: SmtpConfig) -> None:
        self.conn = ServerConnection(config)
        self.policy = TranscriptPolicy()
        self.out = bytearray(self.conn.send(Reply(code=220, text=f"{HOSTNAME} ESMTP")))
        self.messages: list[bytes] = []
        self._content = bytearray()
        self.refuse_ehlo = False  # answer EHLO with 502, as a pre-ESMTP server would

    def receive(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
                return
            if isinstance(event, MessageData):
                self._content += event.data
                continue
            if isinstance(event, MessageComplete):
                self.messages.append(bytes(self._content))
            if isinstance(event, MessageComplete | MessageAborted):
                self._content.clear()
            self.out += self.conn.send(self._reply(event))
            if isinstance(event, StartTls):
                self.conn.start_tls_done()  # the handshake, in memory

    def _reply(self, event: Event) -> Reply:
        if isinstance(event, Hello) and event.command == "EHLO" and self.refuse_ehlo:
            return Reply(code=502, enhanced_status="5.5.1", text="Command not implemented")
        if isinstance(event, Authenticate) and event.initial_response is None:
            return Reply(code=334, text="")
        if isinstance(event, Authenticate | AuthResponse):
            data = event.initial_response if isinstance(event, Authenticate) else event.data
            if data == PLAIN:
                return Reply(code=235, enhanced_status="2.7.0", text="Authenticated")
            return Reply(code=535, enhanced_status="5.7.8", text="Bad credentials")
        return self.policy.reply(self.conn, event)

    def take(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out


def exchange(server: Server, client: ClientConnection, data: bytes = b"") -> list[object]:
    """Write *data* to the server, feed its answer to the client, return the client's events."""
    if data:
        server.receive(data)
    answer = server.take()
    if answer:
        client.receive_data(answer)
    events: list[object] = []
    while (event := client.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return events


Step = Callable[[], bytes]


def run_steps(server: Server, client: ClientConnection, steps: Sequence[Step]) -> list[object]:
    """Write all steps in one batch if the server pipelines, else one round trip each.

    Without pipelining, a refused MAIL or BDAT ends the steps (RFC 3030 §2: no chunk
    after a refused one).
    """
    if client.pipelining:
        return exchange(server, client, b"".join(step() for step in steps))
    events: list[object] = []
    for step in steps:
        events += exchange(server, client, step())
        last = events[-1]
        assert isinstance(last, CommandReply)
        if last.command in ("MAIL", "BDAT") and not last.reply.is_positive:
            break
    return events


def connect(config: SmtpConfig) -> tuple[Server, ClientConnection, EhloResult]:
    server, client = Server(config), ClientConnection(CLIENT)
    [greeting] = exchange(server, client)
    assert isinstance(greeting, Greeting) and greeting.reply.code == 220
    [ehlo] = exchange(server, client, client.send_ehlo())
    assert isinstance(ehlo, EhloResult) and ehlo.reply.code == 250
    return server, client, ehlo


def sent_content(content: bytes) -> bytes:
    """What DATA transfers: the content, with CRLF added unless empty or already there."""
    return content if not content or content.endswith(b"\r\n") else content + b"\r\n"


def clean(content: bytes) -> bool:
    """No bare CR or LF: the server engine refuses anything else (SMTP smuggling)."""
    return content.count(b"\r") == content.count(b"\n") == content.count(b"\r\n")


def pieces_of(content: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(content), *(c for c in cuts if c < len(content))})
    return [content[a:b] for a, b in itertools.pairwise(bounds)] or [b""]


@settings(max_examples=150, deadline=None)
@given(
    content=CONTENT,
    cuts=st.lists(st.integers(0, 150), max_size=6),
    mode=st.sampled_from(["whole", "stream", "bdat"]),
    names=st.lists(st.sampled_from(["bob", "carol", "dave", "unknown"]), min_size=1, unique=True),
    pipelining=st.booleans(),
)
def test_message_arrives_byte_for_byte(
    content: bytes, cuts: list[int], mode: str, names: list[str], pipelining: bool
) -> None:
    config = SmtpConfig(
        hostname=HOSTNAME,
        max_text_line_bytes=100_000,
        max_message_bytes=1_000_000,
        pipelining=pipelining,
    )
    server, client, ehlo = connect(config)
    assert ehlo.extensions.pipelining is pipelining and client.pipelining is pipelining
    recipients = [Mailbox(local_part=n, domain="example.org") for n in names]
    steps: list[Step] = [lambda: client.send_mail(ALICE, [("SIZE", str(len(content)))])]
    steps += [lambda r=r: client.send_rcpt(r) for r in recipients]  # type: ignore[misc]
    if mode != "bdat":
        steps.append(client.send_data)
    events = run_steps(server, client, steps)
    assert all(isinstance(e, CommandReply) for e in events) and len(events) == len(steps)
    rcpt_codes = {
        e.forward_path: e.reply.code
        for e in events
        if isinstance(e, CommandReply) and e.command == "RCPT"
    }
    accepted = [r for r in recipients if r.local_part != "unknown"]
    assert rcpt_codes == {r: 250 if r in accepted else 550 for r in recipients}

    if mode == "bdat":
        chunks = pieces_of(content, cuts)
        steps = [
            lambda i=i, c=c: client.send_bdat(c, last=i == len(chunks) - 1)  # type: ignore[misc]
            for i, c in enumerate(chunks)
        ]
        replies = run_steps(server, client, steps)
        final = replies[-1]
        assert isinstance(final, CommandReply) and final.command in ("BDAT", "BDAT-LAST")
        expected = content
    else:
        data_reply = events[-1]
        assert isinstance(data_reply, CommandReply) and data_reply.command == "DATA"
        if not accepted:
            assert data_reply.reply.code == 554 and client.state is ClientState.RCPT
            return
        assert data_reply.reply.code == 354
        if mode == "whole":
            wire = client.send_message(content)
        else:
            wire = b"".join(client.send_message_chunk(p) for p in pieces_of(content, cuts))
            wire += client.end_message()
        [final] = exchange(server, client, wire)
        assert isinstance(final, CommandReply) and final.command == "DATA-END"
        expected = sent_content(content)
    if accepted and clean(expected):
        assert final.reply.code == 250 and server.messages == [expected]
    else:
        assert final.reply.code >= 500 and server.messages == []
    if client.state is ClientState.READY and not client.must_wait:
        quit_events = exchange(server, client, client.send_quit())
        assert [type(e) for e in quit_events] == [CommandReply, ConnectionClosed]


def test_two_transactions_pipelined_after_the_content() -> None:
    server, client, _ = connect(SmtpConfig(hostname=HOSTNAME))
    bob = Mailbox(local_part="bob", domain="example.org")
    batch = client.send_mail(ALICE) + client.send_rcpt(bob) + client.send_data()
    assert [e.reply.code for e in exchange(server, client, batch)] == [250, 250, 354]  # type: ignore[attr-defined]
    batch = client.send_message(b".first\r\n") + client.send_mail(NULL_PATH)
    batch += client.send_rcpt(bob) + client.send_bdat(b"second\r\n", last=True) + client.send_quit()
    events = exchange(server, client, batch)
    assert [(e.command, e.reply.code) for e in events[:-1]] == [  # type: ignore[attr-defined]
        ("DATA-END", 250),
        ("MAIL", 250),
        ("RCPT", 250),
        ("BDAT-LAST", 250),
        ("QUIT", 221),
    ]
    assert events[-1] == ConnectionClosed()
    assert server.messages == [b".first\r\n", b"second\r\n"]


def test_starttls_and_auth_with_the_server_engine() -> None:
    server, client, ehlo = connect(SmtpConfig(hostname=HOSTNAME, starttls=True))
    assert ehlo.extensions.starttls
    [ready] = exchange(server, client, client.send_starttls())
    assert isinstance(ready, CommandReply) and ready.reply.code == 220
    client.start_tls_done()
    server.conn.offer_auth(["PLAIN"])
    [ehlo] = exchange(server, client, client.send_ehlo())
    assert isinstance(ehlo, EhloResult)
    assert not ehlo.extensions.starttls and ehlo.extensions.auth == {"PLAIN"}
    [refused] = exchange(server, client, client.send_auth("PLAIN", b"\0alice\0wrong"))
    assert isinstance(refused, CommandReply) and refused.reply.code == 535
    [challenge] = exchange(server, client, client.send_auth("PLAIN"))
    assert challenge == AuthChallenge(data=b"")
    [done] = exchange(server, client, client.send_auth_response(PLAIN))
    assert isinstance(done, CommandReply) and done.reply.code == 235
    assert client.authenticated and server.conn.authenticated


def test_helo_fallback_with_the_server_engine() -> None:
    server, client = Server(SmtpConfig(hostname=HOSTNAME)), ClientConnection(CLIENT)
    server.refuse_ehlo = True
    exchange(server, client)
    [refused] = exchange(server, client, client.send_ehlo())
    assert isinstance(refused, EhloResult) and refused.reply.code == 502
    [helo] = exchange(server, client, client.send_helo())
    assert isinstance(helo, EhloResult) and helo.command == "HELO" and helo.reply.code == 250
    assert not client.pipelining and server.conn.extensions == frozenset()
    bob = Mailbox(local_part="bob", domain="example.org")
    for step in (lambda: client.send_mail(ALICE), lambda: client.send_rcpt(bob), client.send_data):
        [event] = exchange(server, client, step())
        assert isinstance(event, CommandReply) and event.reply.is_positive
    [end] = exchange(server, client, client.send_message(b"hi"))
    assert isinstance(end, CommandReply) and end.reply.code == 250
    assert server.messages == [b"hi\r\n"]
