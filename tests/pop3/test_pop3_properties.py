"""Hypothesis properties of the POP3 engine."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from trimail.pop3 import (
    NEED_DATA,
    ConnectionClosed,
    MaildropEntry,
    Pop3Config,
    Pop3Connection,
    RemoteProtocolError,
    Reply,
    Retrieve,
    normalize,
    stuff,
    unstuff,
)
from trimail.testing.pop3_transcript import Pop3Transcript, run_pop3_transcript
from trimail.testing.transcript import split_at

COMMANDS = [
    b"USER alice\r\n",
    b"PASS secret\r\n",
    b"AUTH PLAIN\r\n",
    b"AGFsaWNlAHNlY3JldA==\r\n",
    b"STAT\r\n",
    b"LIST\r\n",
    b"UIDL 2\r\n",
    b"RETR 2\r\n",
    b"TOP 3 1\r\n",
    b"DELE 1\r\n",
    b"RSET\r\n",
    b"CAPA\r\n",
    b"QUIT\r\n",
    b"\r\n",
    b".\r\n",
]
client_bytes = st.lists(
    st.one_of(st.sampled_from(COMMANDS), st.binary(max_size=40)), max_size=30
).map(b"".join)


def _check_response(data: bytes) -> None:
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert lines[0].startswith((b"+OK", b"-ERR", b"+ "))
    if len(lines) > 2:  # multi-line: stuffed content, then "."
        assert lines[0].startswith(b"+OK") and lines[-2] == b"."
        assert all(not x.startswith(b".") or x.startswith(b"..") for x in lines[1:-2])


@settings(max_examples=300, deadline=None)
@given(data=client_bytes, cuts=st.lists(st.integers(1, 500), max_size=6))
def test_arbitrary_bytes_never_crash(data: bytes, cuts: list[int]) -> None:
    config = Pop3Config(max_line_bytes=64, max_bad_commands=5)
    transcript = Pop3Transcript(name="h", client_bytes=data, expected=b"", config=config)
    result = run_pop3_transcript(transcript, pieces=split_at(cuts))
    for response in result.responses:
        _check_response(response)
    assert result.closed
    assert result.max_buffered < config.max_line_bytes


def _unstuff_response(data: bytes) -> bytes:
    first, _, rest = data.partition(b"\r\n")
    assert first.startswith(b"+OK") and rest.endswith(b".\r\n")
    return unstuff(rest[:-3])


MESSAGES = st.binary(max_size=300) | st.lists(
    st.sampled_from([b".", b"\r\n", b"\n", b"a", b"\r"]), max_size=40
).map(b"".join)


@given(message=MESSAGES)
def test_byte_stuffing_round_trip(message: bytes) -> None:
    conn = Pop3Connection()
    conn.greeting()
    conn.receive_data(b"USER a\r\nPASS b\r\nRETR 1\r\n")
    while not isinstance(event := conn.next_event(), Retrieve):
        assert event is not NEED_DATA
        if not isinstance(event, Reply):
            conn.accept_login([MaildropEntry(size=len(message), unique_id="u")])
    response = conn.send_message(message)
    _check_response(response)
    assert _unstuff_response(response) == normalize(message)
    normalized = normalize(message)
    assert b"\n" not in normalized.replace(b"\r\n", b"")  # no bare LF left
    assert not message or normalized.endswith(b"\r\n")
    lf = message.replace(b"\r\n", b"\n")
    assert normalized.replace(b"\r\n", b"\n") in (lf, lf + b"\n")


@given(st.binary(max_size=200))
def test_stuff_unstuff_inverse(data: bytes) -> None:
    data = normalize(data)
    assert unstuff(stuff(data)) == data


SIZES = [10, 20, 30, 40, 50]


class MaildropMachine(RuleBasedStateMachine):
    """DELE / RSET against a model: STAT, LIST and UIDL always agree with it."""

    def __init__(self) -> None:
        super().__init__()
        self.conn = Pop3Connection(Pop3Config(max_bad_commands=1000))
        self.conn.greeting()
        self.conn.receive_data(b"USER alice\r\nPASS secret\r\n")
        self.conn.next_event()
        self.conn.next_event()
        drop = [MaildropEntry(size=s, unique_id=f"u{i}") for i, s in enumerate(SIZES)]
        self.conn.accept_login(drop)
        self.deleted: set[int] = set()

    def command(self, line: bytes) -> bytes:
        self.conn.receive_data(line + b"\r\n")
        event = self.conn.next_event()
        assert isinstance(event, Reply), event
        return event.data

    @rule(number=st.integers(0, len(SIZES) + 1))
    def dele(self, number: int) -> None:
        data = self.command(b"DELE %d" % number)
        ok = 1 <= number <= len(SIZES) and number - 1 not in self.deleted
        assert data.startswith(b"+OK" if ok else b"-ERR")
        if ok:
            self.deleted.add(number - 1)

    @rule()
    def rset(self) -> None:
        assert self.command(b"RSET").startswith(b"+OK")
        self.deleted.clear()

    @rule(number=st.integers(1, len(SIZES)))
    def list_one(self, number: int) -> None:
        data = self.command(b"LIST %d" % number)
        if number - 1 in self.deleted:
            assert data.startswith(b"-ERR")
        else:
            assert data == b"+OK %d %d\r\n" % (number, SIZES[number - 1])

    @invariant()
    def stat_matches(self) -> None:
        live = [i for i in range(len(SIZES)) if i not in self.deleted]
        expected = b"+OK %d %d\r\n" % (len(live), sum(SIZES[i] for i in live))
        assert self.command(b"STAT") == expected
        assert self.conn.deleted == tuple(sorted(self.deleted))
        listing = self.command(b"UIDL").split(b"\r\n")[1:-2]
        assert listing == [b"%d u%d" % (i + 1, i) for i in live]

    @rule()
    def noop(self) -> None:
        assert self.command(b"NOOP") == b"+OK\r\n"

    def teardown(self) -> None:
        self.conn.receive_data(b"")
        assert self.conn.next_event() == ConnectionClosed()


TestMaildrop = MaildropMachine.TestCase


def test_too_many_errors_is_remote_protocol_error() -> None:
    conn = Pop3Connection(Pop3Config(max_bad_commands=0))
    conn.greeting()
    conn.receive_data(b"FOO\r\n")
    try:
        conn.next_event()
    except RemoteProtocolError as exc:
        assert exc.data == b"-ERR [SYS/PERM] too many errors\r\n"
    else:
        raise AssertionError("no RemoteProtocolError")
    assert conn.next_event() == ConnectionClosed()
