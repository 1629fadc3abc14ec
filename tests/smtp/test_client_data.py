"""Dot-stuffing of DATA content (RFC 5321 §4.5.2), whole and streamed, and BDAT framing."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.address import Mailbox
from trimail.smtp import ClientConfig, ClientConnection, ClientState
from trimail.smtp._client_render import DotStuffer, stuff_message

TOKENS = [b".", b"..", b"\r\n", b"\n", b"\r", b"\r\n.\r\n", b"\n.\n", b"x", b"abc", b" "]
CONTENT = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join),
)
"""Message content, weighted towards dots at line starts and bare CR/LF."""


@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"", b".\r\n"),  # empty content: the server reads an empty message
        (b"\r\n", b"\r\n.\r\n"),
        (b"hi\r\n", b"hi\r\n.\r\n"),
        (b"hi", b"hi\r\n.\r\n"),  # CRLF added before the end of data
        (b".", b"..\r\n.\r\n"),
        (b".hi\r\n", b"..hi\r\n.\r\n"),
        (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),  # no early end of data
        (b"a\r\n..b\r\n", b"a\r\n...b\r\n.\r\n"),
        (b"a\r\n.", b"a\r\n..\r\n.\r\n"),
        (b"a.b\r\n", b"a.b\r\n.\r\n"),
        (b"a\r", b"a\r\r\n.\r\n"),
        (b"a\n.\r\n", b"a\n..\r\n.\r\n"),  # stuffed after a bare LF too (smuggling)
        (b"a\r.b\r\n", b"a\r.b\r\n.\r\n"),
    ],
)
def test_stuff_message(content: bytes, wire: bytes) -> None:
    assert stuff_message(content) == wire


def unstuff(wire: bytes) -> bytes:
    """What an RFC 5321 server reads: end at CRLF.CRLF (or a leading .CRLF), undo stuffing."""
    if wire == b".\r\n":
        return b""
    assert wire.endswith(b"\r\n.\r\n")
    body = wire[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


@given(content=st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=10))
def test_stuffing_round_trips_for_crlf_lines(content: list[bytes]) -> None:
    data = b"".join(line.replace(b"\r", b"") + b"\r\n" for line in content)
    wire = stuff_message(data)
    assert unstuff(wire) == data
    assert b"\r\n.\r\n" not in wire[:-3]  # the only end of data is the last one


@given(content=CONTENT)
def test_no_early_end_of_data_for_any_content(content: bytes) -> None:
    wire = stuff_message(content)
    # Neither a strict server (CRLF.CRLF) nor a lenient one (a line "." after any LF)
    # can find an end of data before the real one.
    body = wire[:-3]
    assert b"\n.\r\n" not in body and b"\n.\n" not in body and not body.startswith(b".\r\n")


def stream(pieces: list[bytes]) -> bytes:
    stuffer = DotStuffer()
    return b"".join(stuffer.feed(p) for p in pieces) + stuffer.end()


@settings(max_examples=200)
@given(content=CONTENT)
def test_streaming_equals_whole_at_every_split_point(content: bytes) -> None:
    whole = stuff_message(content)
    for cut in range(len(content) + 1):
        assert stream([content[:cut], content[cut:]]) == whole


@given(content=CONTENT, cuts=st.lists(st.integers(0, 200), max_size=8))
def test_streaming_equals_whole_for_many_pieces(content: bytes, cuts: list[int]) -> None:
    bounds = [0, *sorted(c for c in cuts if c <= len(content)), len(content)]
    pieces = [content[a:b] for a, b in itertools.pairwise(bounds)]
    assert stream(pieces) == stuff_message(content)


def test_byte_by_byte() -> None:
    content = b".a\r\n.\r\n\r\n..\r\nz\r"
    assert stream([content[i : i + 1] for i in range(len(content))]) == stuff_message(content)


def test_bdat_is_not_stuffed() -> None:
    conn = ClientConnection(ClientConfig(local_hostname="c.example"))
    conn.receive_data(b"220 mx\r\n")
    conn.next_event()
    conn.send_ehlo()
    conn.receive_data(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n")
    conn.next_event()
    conn.send_mail(Mailbox(local_part="a", domain="b.example"))
    conn.send_rcpt(Mailbox(local_part="c", domain="d.example"))
    chunk = b".\r\n\r\n.\r\n\x00\xff"
    assert conn.send_bdat(chunk) == b"BDAT 10\r\n" + chunk
    assert conn.state is ClientState.CHUNKING
    assert conn.send_bdat(b"end", last=True) == b"BDAT 3 LAST\r\nend"
