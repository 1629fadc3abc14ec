"""Hypothesis properties of the IMAP engine: never crash, bounded memory, state moves."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.imap import (
    MOVES,
    NEED_DATA,
    CommandReceived,
    ConnectionClosed,
    ImapConfig,
    ImapConnection,
    LocalProtocolError,
    Login,
    RemoteProtocolError,
    Reply,
    State,
)
from trimail.testing.imap_transcript import ImapTranscript, run_imap_transcript
from trimail.testing.transcript import split_at

COMMANDS = [
    b"a LOGIN alice secret\r\n",
    b"b SELECT INBOX\r\n",
    b"c FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n",
    b"d UID SEARCH RETURN (MIN) OR 1:3 SUBJECT {3+}\r\nabc\r\n",
    b"e APPEND INBOX (\\Seen) {5}\r\nhello\r\n",
    b"f APPEND missing {5}\r\n",
    b"g IDLE\r\n",
    b"DONE\r\n",
    b"h AUTHENTICATE PLAIN\r\n",
    b"AGFsaWNlAHNlY3JldA==\r\n",
    b"*\r\n",
    b"i STARTTLS\r\n",
    b"j LOGOUT\r\n",
    b"k ENABLE UTF8=ACCEPT\r\n",
    b"l LOGIN {5}\r\n",
    b"{3+}\r\n",
    b"~{2}\r\n",
    b"{999999}\r\n",
    b"\r\n",
]
client_bytes = st.lists(
    st.one_of(st.sampled_from(COMMANDS), st.binary(max_size=40)), max_size=30
).map(b"".join)
CONFIG = ImapConfig(
    max_line_bytes=256,
    max_literal_bytes=512,
    max_append_bytes=2048,
    max_command_bytes=4096,
    max_discard_bytes=8192,
    max_bad_commands=10,
    starttls_available=True,
)


def _check_response(data: bytes) -> None:
    assert data.endswith(b"\r\n")
    for line in data[:-2].split(b"\r\n"):
        assert (
            line.startswith((b"* ", b"+ "))
            or b" OK " in line
            or b" NO " in line
            or (b" BAD " in line)
        ), data


@settings(max_examples=300, deadline=None)
@given(data=client_bytes, cuts=st.lists(st.integers(1, 500), max_size=6), loopback=st.booleans())
def test_arbitrary_bytes_never_crash(data: bytes, cuts: list[int], loopback: bool) -> None:
    transcript = ImapTranscript(
        name="h", segments=(data,), expected=b"", events=(), config=CONFIG, loopback=loopback
    )
    result = run_imap_transcript(transcript, pieces=split_at(cuts))
    for response in result.responses:
        _check_response(response)
    assert result.closed
    assert result.max_buffered < CONFIG.max_command_bytes + 2 * CONFIG.max_line_bytes


@given(content=st.binary(max_size=300).filter(lambda b: b"\x00" not in b))
def test_literal_octets_are_never_commands(content: bytes) -> None:
    """Whatever a literal holds (CRLF, tags, literal markers), it is one string."""
    conn = ImapConnection(ImapConfig(), loopback=True)
    conn.greeting()
    conn.receive_data(b"a LOGIN {%d+}\r\n" % len(content) + content + b" pw\r\nz NOOP\r\n")
    event = conn.next_event()
    try:
        expected = content.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(event, Reply) and event.data.startswith(b"a BAD ")
        return
    assert event == CommandReceived(tag="a", command=Login(username=expected, password="pw"))


STATES = [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED]
SAMPLES = [
    b"LOGIN alice secret",
    b"AUTHENTICATE PLAIN =",
    b"SELECT INBOX",
    b"EXAMINE INBOX",
    b"CLOSE",
    b"UNSELECT",
    b"LOGOUT",
    b"NOOP",
    b"FETCH 1 FLAGS",
    b"CREATE x",
]


def _conn_in(state: State) -> ImapConnection:
    conn = ImapConnection(ImapConfig(), loopback=True)
    conn.greeting()
    if state is not State.NOT_AUTHENTICATED:
        conn.receive_data(b"0 LOGIN alice secret\r\n")
        conn.next_event()
        conn.complete("0", "OK", "in")
    if state is State.SELECTED:
        conn.receive_data(b"1 SELECT INBOX\r\n")
        conn.next_event()
        conn.complete("1", "OK", "selected")
    assert conn.state is state
    return conn


@given(
    state=st.sampled_from(STATES),
    sample=st.sampled_from(SAMPLES),
    status=st.sampled_from(["OK", "NO", "BAD"]),
)
def test_completion_follows_the_table(state: State, sample: bytes, status: str) -> None:
    """Every (state, command, status): the MOVES table or unchanged; misuse changes nothing."""
    conn = _conn_in(state)
    conn.receive_data(b"t " + sample + b"\r\n")
    event = conn.next_event()
    if not isinstance(event, CommandReceived):
        assert isinstance(event, Reply) and conn.state is state
        return
    try:
        conn.complete("other", status, "x")  # type: ignore[arg-type]
    except LocalProtocolError:
        assert conn.state is state
    conn.complete("t", status, "x")  # type: ignore[arg-type]
    expected = MOVES.get((state, type(event.command), status), state)
    assert conn.state is expected
    if expected is State.LOGOUT:
        assert isinstance(conn.next_event(), ConnectionClosed)
    else:
        assert conn.next_event() is NEED_DATA


@settings(max_examples=50, deadline=None)
@given(size=st.integers(0, 5000), limit=st.integers(0, 2000))
def test_non_sync_literal_limit(size: int, limit: int) -> None:
    conn = ImapConnection(
        ImapConfig(max_literal_bytes=limit, max_discard_bytes=3000), loopback=True
    )
    conn.greeting()
    conn.receive_data(b"a LOGIN {%d+}\r\n" % size + b"x" * size + b" pw\r\nb NOOP\r\n")
    try:
        first = conn.next_event()
    except RemoteProtocolError as exc:
        assert size > 3000 and exc.data.endswith(b"* BYE Literal too large\r\n")
        return
    if size <= limit:
        assert isinstance(first, CommandReceived)
        conn.complete("a", "OK", "in")
    else:
        assert first == Reply(data=b"a BAD [TOOBIG] Literal too large\r\n")
    second = conn.next_event()
    assert isinstance(second, CommandReceived) and second.tag == "b"
