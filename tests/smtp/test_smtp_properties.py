"""Hypothesis properties of the SMTP engine."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.address import Mailbox
from trimail.mail.reply import Reply
from trimail.smtp import (
    POSITIVE_MOVES,
    BadCommand,
    ChunkComplete,
    DataCommand,
    Hello,
    Help,
    MailFrom,
    MessageComplete,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Reset,
    ServerConnection,
    SmtpConfig,
    State,
    Verify,
    format_path,
    parse_path,
    render_reply,
)
from trimail.smtp._state import NEGATIVE_MOVES
from trimail.testing import Transcript, run_transcript, split_at

_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_DOT_ATOM = st.lists(st.text(_ATEXT, min_size=1, max_size=8), min_size=1, max_size=3).map(".".join)
_QUOTED = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
_UTF8 = st.text(
    st.characters(min_codepoint=0x80, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
    min_size=1,
    max_size=6,
)

domains = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(lambda a: f"[{a}]"),
    st.ip_addresses(v=6).map(lambda a: f"[IPv6:{a}]"),
)
ascii_mailboxes = st.builds(
    lambda local, domain: Mailbox(local_part=local, domain=domain),
    st.one_of(_DOT_ATOM, _QUOTED),
    domains,
)
utf8_mailboxes = st.builds(
    lambda local, label: Mailbox(local_part=local, domain=f"{label}.example"),
    st.one_of(_DOT_ATOM, _UTF8),
    _UTF8,
)

CRLF_TEXT = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=30
).map(lambda lines: b"".join(line + b"\r\n" for line in lines))
"""Message content made of CRLF-terminated lines without bare CR or LF."""


def dot_stuff(content: bytes) -> bytes:
    """Stuff *content* for DATA (RFC 5321 §4.5.2) and add the terminator."""
    stuffed = content.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


LINE = re.compile(rb"\d{3}[ -][^\r\n]*\Z")
PREFIXES = [
    b"",
    b"EHLO c.example\r\n",
    b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@example.org>\r\n",
    b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
]
SMALL = SmtpConfig(
    hostname="mx.example.org",
    max_command_line_bytes=64,
    max_text_line_bytes=40,
    max_message_bytes=300,
    max_bad_commands=5,
)


def assert_well_formed(reply: bytes) -> None:
    lines = reply.split(b"\r\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert lines
    for line in lines:
        assert LINE.match(line), line
    assert all(line[3:4] == b"-" for line in lines[:-1])
    assert lines[-1][3:4] == b" "


def run(data: bytes, cuts: list[int], config: SmtpConfig = SMALL):  # type: ignore[no-untyped-def]
    transcript = Transcript(name="hyp", segments=(data,), expected=b"", config=config)
    return run_transcript(transcript, pieces=split_at(cuts))


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    junk=st.binary(max_size=600)
    | st.lists(
        st.sampled_from(
            [
                b"\r\n",
                b"\n",
                b"\r",
                b".",
                b"\r\n.\r\n",
                b"BDAT 5\r\n",
                b"BDAT 3 LAST\r\n",
                b"DATA\r\n",
                b"MAIL FROM:<a@b>\r\n",
                b"RCPT TO:<c@d>\r\n",
                b"x" * 70,
                b"<>",
                b"\xff",
            ]
        ),
        max_size=40,
    ).map(b"".join),
    cuts=st.lists(st.integers(1, 800), max_size=8),
)
def test_arbitrary_bytes_never_crash(prefix: bytes, junk: bytes, cuts: list[int]) -> None:
    result = run(prefix + junk, cuts)  # raises on anything but events/RemoteProtocolError
    for reply in result.replies:
        assert_well_formed(reply)
    assert result.max_buffered < max(SMALL.max_command_line_bytes, SMALL.max_text_line_bytes)


@settings(max_examples=200, deadline=None)
@given(content=CRLF_TEXT, cuts=st.lists(st.integers(1, 1500), max_size=8))
def test_dot_stuffing_round_trip(content: bytes, cuts: list[int]) -> None:
    data = PREFIXES[3] + dot_stuff(content)
    result = run(data, cuts, SmtpConfig())
    pieces = b"".join(e.data for e in result.events if isinstance(e, MessageData))
    assert pieces == content
    assert result.messages == [content]


@settings(max_examples=100, deadline=None)
@given(
    content=CRLF_TEXT,
    sizes=st.lists(st.integers(0, 50), max_size=6),
    cuts=st.lists(st.integers(1, 1500), max_size=8),
)
def test_bdat_round_trip(content: bytes, sizes: list[int], cuts: list[int]) -> None:
    chunks, rest = [], content
    for size in sizes:
        chunks.append(b"BDAT %d\r\n" % len(rest[:size]) + rest[:size])
        rest = rest[size:]
    chunks.append(b"BDAT %d LAST\r\n" % len(rest) + rest)
    result = run(PREFIXES[2] + b"".join(chunks), cuts, SmtpConfig())
    assert result.messages == [content]
    assert sum(isinstance(e, ChunkComplete) for e in result.events) == len(sizes)


@given(mailbox=ascii_mailboxes)
def test_path_round_trip_ascii(mailbox) -> None:  # type: ignore[no-untyped-def]
    raw = format_path(mailbox).encode()
    if len(mailbox.local_part) > 60 or len(raw) > 256:
        return
    assert parse_path(raw, smtputf8=False) == mailbox


@given(mailbox=utf8_mailboxes)
def test_path_round_trip_utf8(mailbox) -> None:  # type: ignore[no-untyped-def]
    raw = format_path(mailbox).encode()
    if len(mailbox.local_part.encode()) > 60:
        return
    assert parse_path(raw, smtputf8=True) == mailbox


@given(
    code=st.integers(200, 599),
    status=st.none() | st.tuples(st.integers(0, 999), st.integers(0, 999)),
    text=st.lists(
        st.text(st.characters(min_codepoint=32, max_codepoint=126)), min_size=1, max_size=4
    ),
)
def test_render_well_formed(code: int, status: tuple[int, int] | None, text: list[str]) -> None:
    enhanced = (
        None if status is None or code // 100 == 3 else f"{code // 100}.{status[0]}.{status[1]}"
    )
    assert_well_formed(render_reply(Reply(code=code, enhanced_status=enhanced, text=tuple(text))))


# --- (state, command) table ------------------------------------------------------------

REACH = {
    State.INITIAL: b"",
    State.READY: b"EHLO c\r\n",
    State.MAIL: b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n",
    State.RCPT: b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
    State.CHUNKING: b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 1\r\nx",
}
COMMANDS = {
    Hello: b"EHLO c\r\n",
    MailFrom: b"MAIL FROM:<a@b.example>\r\n",
    RcptTo: b"RCPT TO:<c@d.example>\r\n",
    DataCommand: b"DATA\r\n",
    Reset: b"RSET\r\n",
    Noop: b"NOOP\r\n",
    Verify: b"VRFY x\r\n",
    Help: b"HELP\r\n",
    Quit: b"QUIT\r\n",
}


def _reach(state: State) -> ServerConnection:
    conn = ServerConnection(SmtpConfig())
    conn.send(Reply(code=220, text="hi"))
    if REACH[state]:
        conn.receive_data(REACH[state])
    while (event := conn.next_event()) is not None:
        if isinstance(event, MessageData):
            continue
        if not isinstance(event, Hello | MailFrom | RcptTo | ChunkComplete):
            break
        reply = conn.ehlo_reply("hi") if isinstance(event, Hello) else Reply(code=250, text="ok")
        conn.send(reply)
    assert conn.state is state
    return conn


@pytest.mark.parametrize("state", list(REACH), ids=lambda s: s.name)
@pytest.mark.parametrize("command", list(COMMANDS), ids=lambda c: c.__name__)
@pytest.mark.parametrize("positive", [True, False])
def test_state_table(state: State, command: type, positive: bool) -> None:
    conn = _reach(state)
    conn.receive_data(COMMANDS[command])
    event = conn.next_event()
    if (state, command) not in POSITIVE_MOVES:
        assert isinstance(event, BadCommand)
        assert event.reply.code in (503, 554)
        conn.send(event.reply)
        assert conn.state is state
        return
    assert isinstance(event, command)
    if isinstance(event, Hello):
        reply = conn.ehlo_reply("hi") if positive else Reply(code=550, text="no")
    elif isinstance(event, DataCommand):
        reply = Reply(code=354 if positive else 451, text="x")
    else:
        reply = Reply(code=250 if positive else 550, text="x")
    conn.send(reply)
    table = POSITIVE_MOVES if positive else NEGATIVE_MOVES
    assert conn.state is table.get((state, command), state)


def test_message_complete_resets_to_ready() -> None:
    conn = _reach(State.RCPT)
    conn.receive_data(b"DATA\r\n")
    assert isinstance(conn.next_event(), DataCommand)
    conn.send(Reply(code=354, text="go"))
    assert conn.state is State.DATA
    conn.receive_data(b"x\r\n.\r\n")
    assert isinstance(conn.next_event(), MessageData)
    assert isinstance(conn.next_event(), MessageComplete)
    conn.send(Reply(code=451, enhanced_status="4.3.0", text="later"))
    assert conn.state is State.READY
