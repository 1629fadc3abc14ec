"""Tests for trimail.mail.sections: BODY[section], <partial>, BINARY[] (RFC 3501 §6.4.5)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.sections import (
    MimeTree,
    UnknownTransferEncoding,
    _field_spans,
    decode_part,
    fetch_section,
    partial,
)
from trimail.mail.summary import _parse_header, summarize


def crlf(text: str) -> bytes:
    """imaptest scripts and mboxes use LF; the server stores CRLF."""
    return text.replace("\n", "\r\n").encode("utf-8")


SIMPLE = crlf(
    "From: User1 <user1@domain.org>\n"
    "Received: one\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "X-Long: first\n"
    "  continued\n"
    "Subject: s1\n"
    "received: two\n"
    "\n"
    "body1\n"
    "\n"
)


@pytest.mark.parametrize(
    ("part", "text", "fields", "expected"),
    [
        ((), None, (), SIMPLE),
        ((), "HEADER", (), SIMPLE[: SIMPLE.index(b"\r\n\r\n") + 4]),
        ((), "TEXT", (), b"body1\r\n\r\n"),
        (
            (),
            "HEADER.FIELDS",
            ("from", "SUBJECT", "X-foo"),
            crlf("From: User1 <user1@domain.org>\nSubject: s1\n\n"),
        ),
        ((), "HEADER.FIELDS", ("RECEIVED",), crlf("Received: one\nreceived: two\n\n")),
        ((), "HEADER.FIELDS", ("x-long",), crlf("X-Long: first\n  continued\n\n")),
        ((), "HEADER.FIELDS", ("xyz",), b"\r\n"),
        (
            (),
            "HEADER.FIELDS.NOT",
            ("date", "Received", "x-long"),
            crlf("From: User1 <user1@domain.org>\nSubject: s1\n\n"),
        ),
        ((1,), None, (), b"body1\r\n\r\n"),  # single part: BODY[1] is the body
        ((1,), "MIME", (), SIMPLE[: SIMPLE.index(b"\r\n\r\n") + 4]),
        ((2,), None, (), None),
        ((1, 1), None, (), None),
        ((1,), "HEADER", (), None),  # HEADER of a part that is not MESSAGE/RFC822
        ((1,), "TEXT", (), None),
    ],
)
def test_simple_message_sections(
    part: tuple[int, ...], text: str | None, fields: tuple[str, ...], expected: bytes | None
) -> None:
    assert fetch_section(SIMPLE, part, text, fields) == expected


def test_header_without_body() -> None:
    raw = b"Subject: x\r\nFrom: y"
    assert fetch_section(raw, (), "HEADER") == raw
    assert fetch_section(raw, (), "TEXT") == b""
    assert fetch_section(raw, (), "HEADER.FIELDS", ("from",)) == b"From: y\r\n\r\n"


def test_mbox_from_line_is_not_a_field() -> None:
    raw = b"From someone Sat Jan  1 00:00:00 2000\r\nSubject: x\r\n\r\nbody"
    assert fetch_section(raw, (), "HEADER.FIELDS.NOT", ("date",)) == b"Subject: x\r\n\r\n"


def test_invalid_section_arguments() -> None:
    with pytest.raises(ValueError):
        fetch_section(SIMPLE, (), "MIME")
    with pytest.raises(ValueError):
        fetch_section(SIMPLE, (1,), "BOGUS")


# --- imaptest fetch-body-mime (dovecot/imaptest src/tests, release-2.3) ---------------

MIME_SUB = (
    "From: sub@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    'Content-Type: multipart/alternative; boundary="sub1"\n'
    "\n"
)
MIME_SUB_TEXT = (
    "Sub MIME prologue\n"
    "--sub1\n"
    "Content-Type: text/html\n"
    "\n"
    "<p>Hello world</p>\n"
    "\n"
    "--sub1\n"
    "Content-Type: text/plain\n"
    "\n"
    "Hello another world\n"
    "\n"
    "--sub1--\n"
    "Sub MIME epilogue\n"
)
MIME_TEXT = (
    "Root MIME prologue\n"
    "\n"
    "--foo bar\n"
    "Content-Type: text/x-myown; charset=us-ascii\n"
    "\n"
    "hello\n"
    "\n"
    "--foo bar\n"
    "Content-Type: message/rfc822\n"
    "\n" + MIME_SUB + MIME_SUB_TEXT + "\n"
    "--foo bar--\n"
    "Root MIME epilogue\n"
)
MIME_MESSAGE = crlf(
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="foo\n'
    ' bar"\n'
    "\n" + MIME_TEXT
)

MIME_CASES: list[tuple[tuple[int, ...], str | None, tuple[str, ...], str, int]] = [
    # (part, text, fields, expected with LF, BINARY.SIZE from the imaptest script)
    ((), "TEXT", (), MIME_TEXT, 466),
    ((1,), None, (), "hello\n", 7),
    ((1,), "MIME", (), "Content-Type: text/x-myown; charset=us-ascii\n\n", 48),
    ((2,), None, (), MIME_SUB + MIME_SUB_TEXT, 298),
    ((2,), "MIME", (), "Content-Type: message/rfc822\n\n", 32),
    ((2,), "HEADER", (), MIME_SUB, 134),
    (
        (2,),
        "HEADER.FIELDS",
        ("from", "subject", "X-foo"),
        "From: sub@domain.org\nSubject: submsg\n\n",
        41,
    ),
    (
        (2,),
        "HEADER.FIELDS.NOT",
        ("from", "subject", "X-foo"),
        "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
        'Content-Type: multipart/alternative; boundary="sub1"\n\n',
        95,
    ),
    ((2,), "TEXT", (), MIME_SUB_TEXT, 164),
    ((2, 1), "MIME", (), "Content-Type: text/html\n\n", 27),
    ((2, 1), None, (), "<p>Hello world</p>\n", 20),
    ((2, 2), "MIME", (), "Content-Type: text/plain\n\n", 28),
    ((2, 2), None, (), "Hello another world\n", 21),
]


def test_imaptest_mime_message_size() -> None:
    assert len(MIME_MESSAGE) == 602  # binary.size[] in fetch-binary-mime
    assert fetch_section(MIME_MESSAGE, (), None) == MIME_MESSAGE
    assert summarize(MIME_MESSAGE).size == len(MIME_MESSAGE)  # RFC822.SIZE


@pytest.mark.parametrize(("part", "text", "fields", "expected", "size"), MIME_CASES)
def test_imaptest_fetch_body_mime(
    part: tuple[int, ...], text: str | None, fields: tuple[str, ...], expected: str, size: int
) -> None:
    data = fetch_section(MIME_MESSAGE, part, text, fields)
    assert data == crlf(expected)
    assert len(data) == size
    if text is None and part:
        assert decode_part(MIME_MESSAGE, part) == data  # nothing to decode here


SUBMSG = "From: sub@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n\n"
RFC822_TOP = (
    "From: user@domain.org\n"
    "Date: Sat, 24 Mar 2007 23:00:00 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: message/rfc822\n"
    "\n"
)
INNER1 = (
    "From: user2@domain.org\n"
    "Date: Fri, 23 Mar 2007 11:22:33 +0200\n"
    "Mime-Version: 1.0\n"
    "Content-Type: message/rfc822\n"
    "\n"
)


@pytest.mark.parametrize(
    ("message", "part", "text", "fields", "expected"),
    [
        # fetch-body-message-rfc822: a top-level MESSAGE/RFC822
        (RFC822_TOP + SUBMSG + "Hello world\n", (), "TEXT", (), SUBMSG + "Hello world\n"),
        (RFC822_TOP + SUBMSG + "Hello world\n", (1,), None, (), SUBMSG + "Hello world\n"),
        (RFC822_TOP + SUBMSG + "Hello world\n", (1,), "HEADER", (), SUBMSG),
        (
            RFC822_TOP + SUBMSG + "Hello world\n",
            (1,),
            "HEADER.FIELDS.NOT",
            ("from", "subject", "X-foo"),
            "Date: Sun, 12 Aug 2012 12:34:56 +0300\n\n",
        ),
        (RFC822_TOP + SUBMSG + "Hello world\n", (1,), "TEXT", (), "Hello world\n"),
        (RFC822_TOP + SUBMSG + "Hello world\n", (1, 1), None, (), "Hello world\n"),
        (RFC822_TOP + SUBMSG + "Hello world\n", (1, 1), "MIME", (), SUBMSG),
        # fetch-body-message-rfc822-x2: MESSAGE/RFC822 inside MESSAGE/RFC822
        (RFC822_TOP + INNER1 + SUBMSG + "Hello world\n", (1,), "HEADER", (), INNER1),
        (
            RFC822_TOP + INNER1 + SUBMSG + "Hello world\n",
            (1, 1),
            None,
            (),
            SUBMSG + "Hello world\n",
        ),
        (RFC822_TOP + INNER1 + SUBMSG + "Hello world\n", (1, 1, 1), None, (), "Hello world\n"),
        (RFC822_TOP + INNER1 + SUBMSG + "Hello world\n", (1, 1), "HEADER", (), SUBMSG),
        (RFC822_TOP + INNER1 + SUBMSG + "Hello world\n", (1, 1), "TEXT", (), "Hello world\n"),
        (RFC822_TOP + INNER1 + SUBMSG + "Hello world\n", (1, 1, 2), None, (), None),
    ],
)
def test_imaptest_message_rfc822(
    message: str,
    part: tuple[int, ...],
    text: str | None,
    fields: tuple[str, ...],
    expected: str | None,
) -> None:
    want = None if expected is None else crlf(expected)
    assert fetch_section(crlf(message), part, text, fields) == want


DIGEST = crlf(
    RFC822_TOP + "From: sub@domain.org\n"
    "Date: Sun, 12 Aug 2012 12:34:56 +0300\n"
    "Subject: submsg\n"
    'Content-Type: multipart/digest; boundary="foo"\n'
    "\n"
    "prologue\n"
    "\n"
    "--foo \n"
    "\n"
    "From: m1@example.com\n"
    "Subject: m1\n"
    "\n"
    "m1 body\n"
    "\n"
    "--foo \n"
    "X-Mime: m2 header\n"
    "\n"
    "From: m2@example.com\n"
    "Subject: m2\n"
    "\n"
    "m2 body\n"
    "\n"
    "--foo--\n"
    "\n"
    "epilogue\n"
)


@pytest.mark.parametrize(
    ("part", "text", "expected"),
    [
        ((1, 1), None, "From: m1@example.com\nSubject: m1\n\nm1 body\n"),
        ((1, 1), "MIME", "\n"),  # an empty MIME header is just the blank line
        ((1, 1), "HEADER", "From: m1@example.com\nSubject: m1\n\n"),
        ((1, 1), "TEXT", "m1 body\n"),
        ((1, 2), None, "From: m2@example.com\nSubject: m2\n\nm2 body\n"),
        ((1, 2), "MIME", "X-Mime: m2 header\n\n"),
        ((1, 2), "HEADER", "From: m2@example.com\nSubject: m2\n\n"),
        ((1, 2), "TEXT", "m2 body\n"),
        ((1, 1, 1), None, "m1 body\n"),
        ((1, 3), None, None),
    ],
)
def test_imaptest_digest_in_message_rfc822(
    part: tuple[int, ...], text: str | None, expected: str | None
) -> None:
    want = None if expected is None else crlf(expected)
    assert fetch_section(DIGEST, part, text) == want


def test_nested_multipart_part_body_keeps_delimiters() -> None:
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="a"\n\n'
        "--a\n"
        'Content-Type: multipart/alternative; boundary="b"\n\n'
        "pre\n--b\n\nx\n--b\n\ny\n--b--\npost\n"
        "--a--\n"
    )
    assert fetch_section(raw, (1,), None) == crlf("pre\n--b\n\nx\n--b\n\ny\n--b--\npost")
    assert fetch_section(raw, (1, 2), None) == b"y"
    assert fetch_section(raw, (1, 2), "MIME") == b"\r\n"
    assert fetch_section(raw, (0,), None) is None
    assert fetch_section(raw, (2,), None) is None


def test_empty_multipart_has_one_empty_part() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="z"\r\n\r\nno delimiters here\r\n'
    assert fetch_section(raw, (1,), None) == b""
    assert fetch_section(raw, (1,), "MIME") == b""
    assert fetch_section(raw, (2,), None) is None


# --- partial -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "count", "expected"),
    [
        (0, 3, b"bod"),
        (3, 3, b"y22"),
        (5, 100, b"2\r\n"),
        (7, 1, b"\n"),
        (8, 5, b""),  # origin past the end: empty string
        (1000, 1, b""),
        (0, 0, b""),
    ],
)
def test_partial(origin: int, count: int, expected: bytes) -> None:
    assert partial(b"body22\r\n", origin, count) == expected


def test_partial_rejects_negative() -> None:
    with pytest.raises(ValueError):
        partial(b"x", -1, 1)


# --- BINARY --------------------------------------------------------------------------


def _single(cte: str, body: bytes, ctype: str = "text/plain") -> bytes:
    return f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode() + body


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_single("base64", b"aGVsbG8gd29ybGQ=\r\n"), b"hello world"),
        (_single("BASE64 (comment)", b"aGVs\r\nbG8g\r\nd29y bGQ\r\n"), b"hello world"),
        (_single("base64", b"aGVsbG8*!gd29ybGQ"), b"hello world"),  # junk ignored
        (_single("base64", b"YQ"), b"a"),  # missing padding
        (_single("base64", b"YWJj\r\nZA==\r\nZm9v"), b"abcd"),  # stops at padding
        (_single("base64", b"Y"), b""),
        (
            _single("quoted-printable", b"caf=C3=A9 =\r\nau lait=3d=3D\r\n"),
            b"caf\xc3\xa9 au lait==\r\n",
        ),
        (_single("quoted-printable", b"trailing   \r\nx\t\r\n"), b"trailing\r\nx\r\n"),
        (_single("quoted-printable", b"bad =ZZ and =\r\n"), b"bad =ZZ and "),
        (_single("quoted-printable", b"foo\t \tb\r\nfoo_bar"), b"foo\t \tb\r\nfoo_bar"),
        (_single("7bit", b"as is=41\r\n"), b"as is=41\r\n"),
        (_single("8bit", b"\xc3\xa9"), b"\xc3\xa9"),
        (_single("binary", b"\x00\xff"), b"\x00\xff"),
        (b"Subject: no cte\r\n\r\nplain=41", b"plain=41"),
        (_single("base64", b"not decoded", ctype="message/rfc822"), b"not decoded"),
    ],
)
def test_decode_part(raw: bytes, expected: bytes) -> None:
    assert decode_part(raw, (1,)) == expected


def test_decode_part_whole_message_and_missing_parts() -> None:
    raw = _single("base64", b"YQ==")
    assert decode_part(raw, ()) == raw
    assert decode_part(raw, (2,)) is None
    assert decode_part(raw, (1, 1)) is None


@pytest.mark.parametrize("cte", ["x-uuencode", "uuencode", "7-bit", "gzip"])
def test_decode_part_unknown_encoding(cte: str) -> None:
    with pytest.raises(UnknownTransferEncoding) as info:
        decode_part(_single(cte, b"data"), (1,))
    assert info.value.encoding == cte


def test_decode_part_in_multipart() -> None:
    raw = crlf(
        'Content-Type: multipart/mixed; boundary="x"\n\n'
        "--x\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n"
        "--x\nContent-Transfer-Encoding: quoted-printable\n\nfoo=\nbar\n"
        "--x--\n"
    )
    assert decode_part(raw, (1,)) == b"hello world"
    assert decode_part(raw, (2,)) == b"foobar"
    assert fetch_section(raw, (2,), None) == b"foo=\r\nbar"


# --- properties ----------------------------------------------------------------------

TEXTS = [None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]
PARTS = st.lists(st.integers(0, 4), max_size=4).map(tuple)


@st.composite
def _nested_message(draw: st.DrawFn) -> bytes:
    """Messages with multiparts, digests and MESSAGE/RFC822 parts, some malformed."""
    depth = draw(st.integers(0, 3))
    return _entity(draw, depth, "m0")


def _entity(draw: st.DrawFn, depth: int, name: str) -> bytes:
    kind = draw(st.sampled_from(["text", "multipart", "message", "junk"] if depth else ["text"]))
    header = draw(st.sampled_from([b"", b"Subject: s\r\n", b"X: a\r\n b\r\n"]))
    if kind == "text":
        body = draw(st.binary(max_size=30))
        return header + b"Content-Type: text/plain\r\n\r\n" + body
    if kind == "message":
        return (
            header + b"Content-Type: message/rfc822\r\n\r\n" + _entity(draw, depth - 1, name + "m")
        )
    if kind == "junk":
        return draw(st.binary(max_size=60))
    boundary = name.encode()
    subtype = draw(st.sampled_from([b"mixed", b"digest"]))
    out = [
        header + b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\n'
    ]
    out.append(draw(st.sampled_from([b"", b"preamble\r\n"])))
    for i in range(draw(st.integers(0, 3))):
        out.append(b"--" + boundary + b"\r\n" + _entity(draw, depth - 1, f"{name}.{i}") + b"\r\n")
    if draw(st.booleans()):
        out.append(b"--" + boundary + b"--\r\n")
    return b"".join(out)


ANY_MESSAGE = st.one_of(st.binary(max_size=400), _nested_message())


@settings(max_examples=300)
@given(ANY_MESSAGE, PARTS, st.sampled_from(TEXTS), st.lists(st.sampled_from(["x", "Subject"])))
def test_never_raises(
    raw: bytes, part: tuple[int, ...], text: str | None, fields: list[str]
) -> None:
    if text == "MIME" and not part:
        return
    result = fetch_section(raw, part, text, tuple(fields))
    assert result is None or isinstance(result, bytes)
    try:
        decoded = decode_part(raw, part)
    except UnknownTransferEncoding:
        return
    assert decoded is None or isinstance(decoded, bytes)


@given(ANY_MESSAGE)
def test_header_plus_text_is_the_message(raw: bytes) -> None:
    assert fetch_section(raw, (), "HEADER") + fetch_section(raw, (), "TEXT") == raw  # type: ignore[operator]
    assert fetch_section(raw, (), None) == raw
    assert len(raw) == summarize(raw).size


@given(ANY_MESSAGE)
def test_field_spans_end_where_summary_header_ends(raw: bytes) -> None:
    _, body_start = _parse_header(raw, 0, len(raw))
    spans = _field_spans(raw, 0, len(raw))
    assert all(end <= body_start for _, _, end in spans)
    header = fetch_section(raw, (), "HEADER")
    assert header == raw[:body_start]
    fields = fetch_section(raw, (), "HEADER.FIELDS.NOT", ("no-such-field",))
    assert fields is not None and fields.endswith(b"\r\n")


_PART_BODY = st.binary(max_size=50).map(lambda b: b.replace(b"-", b"_"))


@given(st.lists(_PART_BODY, min_size=1, max_size=5), st.booleans())
def test_multipart_part_octets_are_the_part_bodies(bodies: list[bytes], closed: bool) -> None:
    mime = b"Content-Type: application/octet-stream\r\n\r\n"
    raw = b'Content-Type: multipart/mixed; boundary="--b--"\r\n\r\npreamble\r\n'
    raw += b"".join(b"----b--\r\n" + mime + body + b"\r\n" for body in bodies)
    raw += b"----b----\r\nepilogue" if closed else b""
    for n, body in enumerate(bodies, start=1):
        expected = body if closed or n < len(bodies) else body + b"\r\n"
        assert fetch_section(raw, (n,), None) == expected
        assert fetch_section(raw, (n,), "MIME") == mime
        assert decode_part(raw, (n,)) == expected
    assert fetch_section(raw, (len(bodies) + 1,), None) is None


def _sizes(bs: list[Any], prefix: tuple[int, ...], message_part: bool) -> list[tuple[Any, ...]]:
    """(part path, size) for every part in a BODYSTRUCTURE shape (RFC 3501 §6.4.5)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(bs[0], list):
        count = 0
        while isinstance(bs[count], list):
            count += 1
        for i, child in enumerate(bs[:count], start=1):
            out.extend(_sizes(child, (*prefix, i), False))
        return out
    path = (*prefix, 1) if message_part else prefix
    out.append((path, bs[6]))
    if bs[0] == "MESSAGE" and bs[1] == "RFC822" and len(bs) >= 10 and isinstance(bs[8], list):
        out.extend(_sizes(bs[8], path, True))
    return out


@settings(max_examples=300)
@given(ANY_MESSAGE)
def test_part_sizes_agree_with_bodystructure(raw: bytes) -> None:
    tree = MimeTree(raw)
    for path, size in _sizes(summarize(raw).bodystructure, (), True):
        data = tree.section(path, None)
        assert data is not None, path
        assert len(data) == size, path
