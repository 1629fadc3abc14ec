"""Fuzz target for the SMTP client engine: the fuzzer plays the server.

Invariant: whatever a server sends, ``next_event`` yields events or raises
`RemoteProtocolError`, nothing else; each `CommandReply` answers the oldest pending
command; a command the engine refuses (`LocalProtocolError`) leaves its state, pending
commands and buffer unchanged; the engine never holds a reply line over its limit.

A driver plays the queue runner: after every event it writes the next commands of a
plan (DATA, BDAT, AUTH, STARTTLS, HELO) as far as the engine allows, skipping those the
engine refuses. Run with atheris if installed (``python fuzz/fuzz_smtp_client.py
[corpus_dir]``); without it, a bounded random loop mutates the seeds: the server side of
tests/smtp/transcripts and one well-behaved server per plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.smtp import (
    NEED_DATA,
    ClientConfig,
    ClientConnection,
    ClientEvent,
    CommandReply,
    ConnectionClosed,
    LocalProtocolError,
    RemoteProtocolError,
)
from trimail.testing import fuzzing, load_transcript, split_at

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ClientConfig(local_hostname="client.example", max_reply_line_bytes=128, max_reply_lines=16)
ALICE = Mailbox(local_part="alice", domain="client.example")
RECIPIENTS = [Mailbox(local_part=n, domain="example.org") for n in ("bob", "unknown", "carol")]

Move = Callable[[ClientConnection], object]


def _transaction(body: str) -> list[Move]:
    moves: list[Move] = [lambda c: c.send_mail(ALICE, [("SIZE", "20")])]
    moves += [lambda c, r=r: c.send_rcpt(r, [("NOTIFY", "FAILURE")]) for r in RECIPIENTS]
    if body == "bdat":
        moves += [lambda c: c.send_bdat(b".a\r\n"), lambda c: c.send_bdat(b"b\r\n", last=True)]
    elif body == "chunks":
        moves += [
            lambda c: c.send_data(),
            lambda c: c.send_message_chunk(b".a\r"),
            lambda c: c.send_message_chunk(b"\n.\r\n"),
            lambda c: c.end_message(),
        ]
    else:
        moves += [lambda c: c.send_data(), lambda c: c.send_message(b"Subject: x\r\n\r\n.\r\n")]
    return moves


PLANS: dict[str, list[Move]] = {
    "data": [lambda c: c.send_ehlo(), *_transaction("data"), lambda c: c.send_quit()],
    "bdat": [
        lambda c: c.send_ehlo(),
        *_transaction("bdat"),
        lambda c: c.send_rset(),
        lambda c: c.send_mail(NULL_PATH),
        lambda c: c.send_quit(),
    ],
    "auth": [
        lambda c: c.send_ehlo(),
        lambda c: c.send_auth("PLAIN"),
        lambda c: c.send_auth_response(b"\0alice\0secret"),
        lambda c: c.send_auth_cancel(),
        *_transaction("chunks"),
        lambda c: c.send_noop(),
        lambda c: c.send_quit(),
    ],
    "starttls": [
        lambda c: c.send_ehlo(),
        lambda c: c.send_starttls(),
        lambda c: c.start_tls_done(),
        lambda c: c.send_ehlo(),
        *_transaction("data"),
        lambda c: c.send_quit(),
    ],
    "helo": [
        lambda c: c.send_ehlo(),
        lambda c: c.send_helo(),
        *_transaction("data"),
        lambda c: c.send_quit(),
    ],
}
PLAN_NAMES = sorted(PLANS)


class Driver:
    """Plays the queue runner: writes the plan's moves whenever the engine allows.

    Attributes:
        conn: the engine under test.
        events: every event reported.
        written: every byte written.
    """

    def __init__(self, plan: str) -> None:
        self.conn = ClientConnection(CONFIG)
        self.events: list[object] = []
        self.written = bytearray()
        self._moves = list(reversed(PLANS[plan]))

    def act(self) -> None:
        """Write moves until one must wait for replies; skip those refused as misuse."""
        conn = self.conn
        while self._moves and not conn.must_wait and conn.state.name != "GREETING":
            move = self._moves.pop()
            before = (conn.state, conn.pending, conn.buffered_bytes, conn.extensions)
            try:
                data = move(conn)
            except LocalProtocolError:
                assert (conn.state, conn.pending, conn.buffered_bytes, conn.extensions) == before
                continue
            if isinstance(data, bytes):
                self.written += data

    def drain(self) -> None:
        """Take events until NEED_DATA or the connection closed, acting after each."""
        conn = self.conn
        while True:
            self.act()
            head = conn.pending[0].command if conn.pending else None
            event = conn.next_event()  # raises only RemoteProtocolError
            if event is NEED_DATA:
                assert conn.buffered_bytes < CONFIG.max_reply_line_bytes, conn.buffered_bytes
                return
            assert isinstance(event, ClientEvent | ConnectionClosed), event
            if isinstance(event, CommandReply):
                assert event.command == head, (event, head)
            self.events.append(event)
            if isinstance(event, ConnectionClosed):
                return


def run_client(plan: str, pieces: Iterable[bytes]) -> Driver:
    """Feed the server's bytes in *pieces*, then EOF, to a driver following *plan*.

    Returns:
        The driver, after the connection closed or `RemoteProtocolError` was raised.

    Raises:
        AssertionError: an invariant broke; anything but `RemoteProtocolError` from the
            engine propagates too.
    """
    driver = Driver(plan)
    try:
        for piece in [*pieces, b""]:
            driver.conn.receive_data(piece)
            driver.drain()
    except RemoteProtocolError as exc:
        assert exc.reply.code == 451, exc.reply
        assert driver.conn.state.name == "CLOSED"
    return driver


def fuzz_one_input(data: bytes) -> None:
    """Run one input: the first byte picks the plan and the cut points, the rest is fed."""
    if not data:
        return
    plan = PLAN_NAMES[data[0] % len(PLAN_NAMES)]
    cuts = [b * 7 + i for i, b in enumerate(data[1:9])]
    run_client(plan, split_at(cuts)(data[1:]))


_EHLO = (
    b"250-mx.example.org\r\n250-SIZE 1000\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-STARTTLS\r\n"
    b"250-DSN\r\n250 AUTH PLAIN LOGIN\r\n"
)
_TRANSACTION = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n250 2.1.5 ok\r\n"
_HAPPY = {
    "data": _EHLO + _TRANSACTION + b"354 go\r\n250 2.0.0 queued\r\n221 2.0.0 bye\r\n",
    "bdat": _EHLO + _TRANSACTION + b"250 2.0.0 4\r\n250 2.0.0 queued\r\n250 ok\r\n250 ok\r\n",
    "auth": _EHLO + b"334 \r\n235 2.7.0 ok\r\n" + _TRANSACTION + b"354 go\r\n250 ok\r\n",
    "starttls": _EHLO + b"220 2.0.0 go\r\n" + _EHLO + _TRANSACTION + b"354 go\r\n250 ok\r\n",
    "helo": b"502 5.5.1 no\r\n250 mx.example.org\r\n" + _TRANSACTION + b"354 go\r\n250 ok\r\n",
}


def seeds() -> list[bytes]:
    """Server bytes of every golden transcript and of a good server, for every plan."""
    servers = [b"220 mx.example.org ESMTP\r\n" + happy for happy in _HAPPY.values()]
    for path in sorted((ROOT / "tests" / "smtp" / "transcripts").glob("*.txt")):
        servers.append(load_transcript(path).expected)
    return [bytes([selector]) + server for server in servers for selector in range(len(PLANS))]


TOKENS = [b"\r\n", b"\n", b"\r", b"250 ok\r\n", b"250-", b"421 bye\r\n", b"334 \r\n", b"\xff"]


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_smtp_client", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_smtp_client", fuzz_one_input, seeds, TOKENS)
