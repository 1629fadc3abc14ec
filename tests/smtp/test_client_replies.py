"""The client's reply parser (RFC 5321 §4.2, RFC 2034) and EHLO keyword parsing."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from trimail.mail.reply import Reply
from trimail.smtp import Extensions, RemoteProtocolError, parse_reply, render_reply
from trimail.smtp._client_extensions import parse_extensions
from trimail.smtp._reply_parse import ReplyReader


def test_single_and_multi_line() -> None:
    assert parse_reply(b"250 OK\r\n") == Reply(code=250, text="OK")
    assert parse_reply(b"250-a\r\n250-b\r\n250 c\r\n") == Reply(code=250, text=("a", "b", "c"))


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"250\r\n", ("",)),  # RFC 5321 §4.2.1: the text is optional
        (b"250 \r\n", ("",)),
        (b"250-\r\n250\r\n", ("", "")),
        (b"250  two spaces \r\n", (" two spaces ",)),
        (b"250 bare LF\n", ("bare LF",)),  # tolerated from broken servers
        (b"250-mixed\n250 ends\r\n", ("mixed", "ends")),
        ("250 日本語\r\n".encode(), ("日本語",)),  # SMTPUTF8 servers (RFC 6531 §3.7.4)
        (b"250 bad \xff utf8\r\n", ("bad \ufffd utf8",)),
    ],
)
def test_text_forms(data: bytes, text: tuple[str, ...]) -> None:
    assert parse_reply(data).text == text


@pytest.mark.parametrize(
    "data",
    [
        b"250-a\r\n251 b\r\n",  # codes differ
        b"25 x\r\n",
        b"2500 x\r\n",
        b"250x\r\n",
        b"199 x\r\n",
        b"600 x\r\n",
        b"\xff50 x\r\n",
        b"\xd9\xa25 x\r\n",
        b"250 a\rb\r\n",  # bare CR inside the line
        b"250-a\r\n",  # incomplete
        b"250 a\r\n250 b\r\n",  # two replies
        b"",
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_reply(data)
    assert info.value.reply.code == 451 and info.value.reply.enhanced_status == "4.5.0"


def test_long_lines_are_cut_without_buffering_them() -> None:
    reader = ReplyReader(max_line_bytes=32, max_lines=5)
    buf = bytearray(b"250 " + b"x" * 26 + b"\r\n")  # exactly 32 octets: fine
    assert reader.read(buf) == Reply(code=250, text="x" * 26)
    buf = bytearray(b"250 " + b"x" * 40)
    assert reader.read(buf) is None
    assert len(buf) < 32  # the excess is dropped as it comes
    buf += b"y" * 100_000
    assert reader.read(buf) is None and len(buf) == 0
    buf += b"yyy\r\n"
    reply = reader.read(buf)  # the code counts: a long 250 is still a 250
    assert reply is not None and reply.code == 250 and reply.text == ("x" * 26,)


def test_line_count_limit() -> None:
    with pytest.raises(RemoteProtocolError):
        parse_reply(b"250-x\r\n" * 5 + b"250 x\r\n", max_lines=5)
    assert len(parse_reply(b"250-x\r\n" * 4 + b"250 x\r\n", max_lines=5).text) == 5


def test_reader_takes_one_reply_at_a_time() -> None:
    reader = ReplyReader(max_line_bytes=512, max_lines=10)
    buf = bytearray(b"250-a\r\n250 b\r\n354 go\r\n250-par")
    assert reader.read(buf) == Reply(code=250, text=("a", "b"))
    assert reader.read(buf) == Reply(code=354, text="go")
    assert reader.read(buf) is None and buf == b"250-par"
    buf += b"tial\r\n250 end\r\n"
    assert reader.read(buf) == Reply(code=250, text=("partial", "end"))
    assert not reader.in_reply and reader.held_bytes == 0


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        (b"250 2.1.0 Sender OK\r\n", "2.1.0", ("Sender OK",)),
        (b"550-5.1.1 No\r\n550 5.1.1 such user\r\n", "5.1.1", ("No", "such user")),
        (b"550-5.1.1 first\r\n550 second\r\n", "5.1.1", ("first", "second")),
        (b"250 2.0.0\r\n", "2.0.0", ("",)),
        (b"451 4.123.456 x\r\n", "4.123.456", ("x",)),
        (b"250 5.1.1 wrong class\r\n", None, ("5.1.1 wrong class",)),  # RFC 3463 §2
        (b"250 2.0.0x\r\n", None, ("2.0.0x",)),
        (b"250 2.0.1234 x\r\n", None, ("2.0.1234 x",)),
        (b"250 mx.example.org\r\n", None, ("mx.example.org",)),
        (b"354 2.0.0 go\r\n", "2.0.0", ("go",)),  # as render_reply writes 3xx
        (b"334 VXNlcm5hbWU6\r\n", None, ("VXNlcm5hbWU6",)),
    ],
)
def test_enhanced_status(data: bytes, status: str | None, text: tuple[str, ...]) -> None:
    reply = parse_reply(data)
    assert (reply.enhanced_status, reply.text) == (status, text)


_STATUS = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}(?: |\Z)")
_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)


@given(
    code=st.integers(200, 599),
    status=st.none() | st.tuples(st.integers(0, 999), st.integers(0, 999)),
    text=st.lists(_TEXT, min_size=1, max_size=5),
    enhanced_status_codes=st.booleans(),
)
def test_rendered_replies_parse_back(
    code: int, status: tuple[int, int] | None, text: list[str], enhanced_status_codes: bool
) -> None:
    first = code // 100
    enhanced = None if status is None else f"{2 if first == 3 else first}.{status[0]}.{status[1]}"
    if enhanced is None or not enhanced_status_codes:
        # Without a status, a text that starts like one is read as one: not a round trip.
        assume(not _STATUS.match(text[0]))
    reply = Reply(code=code, enhanced_status=enhanced, text=tuple(text))
    data = render_reply(reply, enhanced_status_codes=enhanced_status_codes)
    expected = reply if enhanced_status_codes else Reply(code=code, text=tuple(text))
    assert parse_reply(data) == expected


@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise(data: bytes) -> None:
    try:
        reply = parse_reply(data, max_line_bytes=64, max_lines=4)
    except RemoteProtocolError:
        return
    assert 200 <= reply.code <= 599 and 1 <= len(reply.text) <= 4


# --- EHLO keywords -----------------------------------------------------------------


def test_extensions_from_ehlo() -> None:
    reply = Reply(
        code=250,
        text=(
            "mx.example.org",
            "SIZE 1000000",
            "DSN",
            "AUTH=PLAIN",
            "AUTH LOGIN xoauth2",
            "starttls",
            "ENHANCEDSTATUSCODES",
            "X-UNKNOWN a b",
            "",
            "not a keyword",
        ),
    )
    ext = parse_extensions(reply)
    assert ext.size == 1000000 and ext.dsn and ext.starttls and ext.enhanced_status_codes
    assert not (ext.pipelining or ext.chunking or ext.smtputf8 or ext.eightbitmime)
    assert ext.auth == {"PLAIN", "LOGIN", "XOAUTH2"}
    assert ext.parameters("x-unknown") == "a b"
    assert "NOT" in ext  # the first word of any line is a keyword
    assert ext == parse_extensions(reply) and hash(ext) == hash(parse_extensions(reply))


def test_empty_extensions() -> None:
    ext = Extensions()
    assert ext.size is None and ext.auth == frozenset() and dict(ext.keywords) == {}
    assert parse_extensions(Reply(code=250, text="mx.example.org")) == ext
