"""Tests for trimail.imap._values: strings, ENVELOPE, BODYSTRUCTURE, flags, dates, names."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.imap._values import (
    NIL,
    astring,
    binary_literal,
    encode_mailbox_name,
    literal,
    nstring,
    number,
    quoted_or_literal,
    render_bodystructure,
    render_envelope,
    render_flags,
    render_internaldate,
    render_list,
)
from trimail.mail.summary import summarize

# --- a tiny test-only parser for IMAP values (RFC 3501 §4) -------------------------


class Atom(str):
    """An atom (flags, NIL-less keywords) as opposed to a string."""


def parse(data: bytes) -> Any:
    """Parse one complete IMAP value; strings come back as ``bytes``."""
    value, pos = _parse(data, 0)
    assert pos == len(data), f"trailing data at {pos}: {data[pos:]!r}"
    return value


def _parse(data: bytes, pos: int) -> tuple[Any, int]:
    c = data[pos : pos + 1]
    if c == b"(":
        items: list[Any] = []
        pos += 1
        while data[pos : pos + 1] != b")":
            if items and data[pos : pos + 1] == b" ":
                pos += 1
            item, pos = _parse(data, pos)
            items.append(item)
        return items, pos + 1
    if c == b'"':
        out = bytearray()
        pos += 1
        while data[pos : pos + 1] != b'"':
            if data[pos : pos + 1] == b"\\":
                pos += 1
                assert data[pos : pos + 1] in (b'"', b"\\"), "bad escape"
            assert data[pos] not in b"\r\n\x00", "CR/LF/NUL in a quoted string"
            out.append(data[pos])
            pos += 1
        return bytes(out), pos + 1
    if c == b"{" or data[pos : pos + 2] == b"~{":
        if c == b"~":
            pos += 1
        close = data.index(b"}\r\n", pos)
        n = int(data[pos + 1 : close])
        start = close + 3
        assert len(data) >= start + n
        return data[start : start + n], start + n
    end = pos
    while end < len(data) and data[end : end + 1] not in b" ()":
        end += 1
    token = data[pos:end]
    assert token, f"empty token at {pos}"
    if token == NIL:
        return None, end
    if token.isdigit():
        return int(token), end
    return Atom(token.decode("ascii")), end


def as_text(value: Any) -> Any:
    """Parsed value with strings decoded as UTF-8, to compare with summary shapes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, list):
        return [as_text(v) for v in value]
    return value


# --- strings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utf8", "expected"),
    [
        ("abc", False, b'"abc"'),
        ("", False, b'""'),
        ('say "hi"', False, b'"say \\"hi\\""'),
        ("back\\slash", False, b'"back\\\\slash"'),
        ("tab\there", False, b'"tab\there"'),
        ("NIL", False, b'"NIL"'),
        ("line\r\nbreak", False, b"{11}\r\nline\r\nbreak"),
        ("lf\nonly", False, b"{7}\r\nlf\nonly"),
        ("caf\u00e9", False, b"{5}\r\ncaf\xc3\xa9"),  # 8-bit: literal (RFC 3501)
        ("caf\u00e9", True, b'"caf\xc3\xa9"'),  # UTF8=ACCEPT / rev2: quoted
        (b"\xff\xfe", True, b"{2}\r\n\xff\xfe"),  # not UTF-8: literal even then
        (b"nul\x00", False, b"{4}\r\nnul\x00"),
        ("x\udcff", False, b"{2}\r\nx\xff"),  # surrogate escape: the original octet
    ],
)
def test_quoted_or_literal(text: str | bytes, utf8: bool, expected: bytes) -> None:
    assert quoted_or_literal(text, utf8=utf8) == expected


@given(st.binary(), st.booleans())
def test_quoted_or_literal_round_trips_bytes(data: bytes, utf8: bool) -> None:
    rendered = quoted_or_literal(data, utf8=utf8)
    assert parse(rendered) == data
    if rendered.startswith(b'"') and not utf8:
        assert rendered.isascii()


@given(st.text(), st.booleans())
def test_quoted_or_literal_round_trips_text(text: str, utf8: bool) -> None:
    data = text.encode("utf-8", "surrogateescape") if _encodable(text) else None
    rendered = quoted_or_literal(text, utf8=utf8)
    if data is not None:
        assert parse(rendered) == data
    if utf8 and "\r" not in text and "\n" not in text and "\x00" not in text and data:
        assert rendered.startswith(b'"')  # valid UTF-8 text is always quoted then


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def test_nstring_nil_versus_empty() -> None:
    assert nstring(None, utf8=False) == b"NIL"
    assert nstring("", utf8=False) == b'""'
    assert nstring("NIL", utf8=False) == b'"NIL"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("INBOX", b"INBOX"),
        ("a]b", b"a]b"),  # resp-specials are ASTRING-CHARs
        ("[x", b"[x"),
        ("nil", b'"nil"'),
        ("", b'""'),
        ("a b", b'"a b"'),
        ("a{b", b'"a{b"'),
        ("a%b", b'"a%b"'),
        ("a*b", b'"a*b"'),
        ("a(b", b'"a(b"'),
        ('a"b', b'"a\\"b"'),
        ("a\x7fb", b'"a\x7fb"'),
        ("\u00e9", b"{2}\r\n\xc3\xa9"),
    ],
)
def test_astring(value: str, expected: bytes) -> None:
    assert astring(value, utf8=False) == expected
    assert astring(value) == expected  # utf8 defaults to False, the safe choice


def test_number_and_list() -> None:
    assert number(0) == b"0"
    assert number(2**63 - 1) == b"9223372036854775807"
    for bad in (-1, 2**63, True, 1.0):
        with pytest.raises(ValueError):
            number(bad)  # type: ignore[arg-type]
    assert render_list([]) == b"()"
    assert render_list([b"1", NIL, b'"x"']) == b'(1 NIL "x")'


def test_literals() -> None:
    assert literal(b"") == b"{0}\r\n"
    assert binary_literal(b"ab") == b"{2}\r\nab"
    assert binary_literal(b"a\x00") == b"~{2}\r\na\x00"  # RFC 3516 literal8


# --- ENVELOPE -----------------------------------------------------------------------

RFC5322_A11 = (
    b"From: John Doe <jdoe@machine.example>\r\n"
    b"Sender: Michael Jones <mjones@machine.example>\r\n"
    b"To: Mary Smith <mary@example.net>\r\n"
    b"Subject: Saying Hello\r\n"
    b"Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
    b"Message-ID: <1234@local.machine.example>\r\n"
    b"\r\n"
    b"This is a message just to say hello.\r\n"
)


def test_envelope_of_rfc5322_example() -> None:
    assert render_envelope(summarize(RFC5322_A11).envelope, utf8=False) == (
        b'("Fri, 21 Nov 1997 09:55:06 -0600" "Saying Hello" '
        b'(("John Doe" NIL "jdoe" "machine.example")) '
        b'(("Michael Jones" NIL "mjones" "machine.example")) '
        b'(("John Doe" NIL "jdoe" "machine.example")) '
        b'(("Mary Smith" NIL "mary" "example.net")) '
        b'NIL NIL NIL "<1234@local.machine.example>")'
    )


ENVELOPE_CASES = [
    pytest.param(
        [None] * 10,
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        id="all-absent",
    ),
    pytest.param(
        ["", "", None, None, None, None, None, None, "", ""],
        b'("" "" NIL NIL NIL NIL NIL NIL "" "")',
        id="empty-is-not-nil",
    ),
    pytest.param(
        [None, None, [], None, None, None, None, None, None, None],
        b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        id="empty-address-list-nil",
    ),
    pytest.param(
        [
            None,
            'say "hi" \\o/',
            [['Doe, "J"', None, "j", "x.example"], [None, "@relay", "k", "y.example"]],
            None,
            None,
            [
                [None, None, "team", None],
                [None, None, "a", "x.example"],
                [None, None, None, None],
                [None, None, "undisclosed", None],
                [None, None, None, None],
            ],
            None,
            None,
            None,
            None,
        ],
        b'(NIL "say \\"hi\\" \\\\o/" '
        b'(("Doe, \\"J\\"" NIL "j" "x.example")(NIL "@relay" "k" "y.example")) NIL NIL '
        b'((NIL NIL "team" NIL)(NIL NIL "a" "x.example")(NIL NIL NIL NIL)'
        b'(NIL NIL "undisclosed" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)',
        id="escapes-routes-groups",
    ),
    pytest.param(
        [None, "Gr\u00fc\u00dfe\r\n", None, None, None, None, None, None, None, None],
        b"(NIL {9}\r\nGr\xc3\xbc\xc3\x9fe\r\n NIL NIL NIL NIL NIL NIL NIL NIL)",
        id="8bit-crlf-literal",
    ),
]


@pytest.mark.parametrize(("env", "expected"), ENVELOPE_CASES)
def test_render_envelope(env: list[Any], expected: bytes) -> None:
    assert render_envelope(env, utf8=False) == expected


def test_envelope_utf8_quotes_non_ascii() -> None:
    env = [None, "Gr\u00fc\u00dfe", *([None] * 8)]
    assert render_envelope(env, utf8=True) == (
        b'(NIL "Gr\xc3\xbc\xc3\x9fe" NIL NIL NIL NIL NIL NIL NIL NIL)'
    )
    assert render_envelope(env, utf8=False).startswith(b"(NIL {7}\r\nGr")


@pytest.mark.parametrize("bad", [[None] * 9, [None, None, [["a", None, "b"]], *([None] * 7)]])
def test_envelope_shape_errors(bad: list[Any]) -> None:
    with pytest.raises(ValueError):
        render_envelope(bad, utf8=False)


# --- BODYSTRUCTURE -----------------------------------------------------------------

TEXT_LEAF = ["TEXT", "PLAIN", ["CHARSET", "US-ASCII"], None, None, "7BIT", 3028, 92,
             None, None, None, None]  # fmt: skip
ATTACHMENT = [
    "APPLICATION",
    "OCTET-STREAM",
    ["NAME", 'a "b" \\c.bin'],
    "<id@x>",
    "",
    "BASE64",
    12,
    "md5sum",
    ["ATTACHMENT", ["FILENAME", 'a "b" \\c.bin']],
    ["en", "de"],
    "http://x/",
]


@pytest.mark.parametrize(
    ("bs", "extensible", "expected"),
    [
        pytest.param(
            TEXT_LEAF,
            False,
            b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)',
            id="rfc3501-example-body",
        ),
        pytest.param(
            TEXT_LEAF,
            True,
            b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)',
            id="text-leaf-extensible",
        ),
        pytest.param(
            ATTACHMENT,
            True,
            b'("APPLICATION" "OCTET-STREAM" ("NAME" "a \\"b\\" \\\\c.bin") "<id@x>" "" '
            b'"BASE64" 12 "md5sum" ("ATTACHMENT" ("FILENAME" "a \\"b\\" \\\\c.bin")) '
            b'("en" "de") "http://x/")',
            id="escaped-params-disposition-language-list",
        ),
        pytest.param(
            ATTACHMENT,
            False,
            b'("APPLICATION" "OCTET-STREAM" ("NAME" "a \\"b\\" \\\\c.bin") "<id@x>" "" '
            b'"BASE64" 12)',
            id="body-drops-extensions",
        ),
        pytest.param(
            ["IMAGE", "PNG", None, None, None, None, 0, None, ["INLINE", None], "en", None],
            True,
            b'("IMAGE" "PNG" NIL NIL NIL "7BIT" 0 NIL ("INLINE" NIL) "en" NIL)',
            id="nil-params-default-encoding-language-string",
        ),
        pytest.param(
            [TEXT_LEAF, ATTACHMENT, "MIXED", ["BOUNDARY", "b"], None, None, None],
            False,
            b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'
            b'("APPLICATION" "OCTET-STREAM" ("NAME" "a \\"b\\" \\\\c.bin") "<id@x>" "" '
            b'"BASE64" 12) "MIXED")',
            id="multipart-body-no-space-between-parts",
        ),
        pytest.param(
            [TEXT_LEAF, "ALTERNATIVE", ["BOUNDARY", "b"], ["INLINE", None], ["en"], "loc"],
            True,
            b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92 NIL NIL NIL NIL)'
            b' "ALTERNATIVE" ("BOUNDARY" "b") ("INLINE" NIL) ("en") "loc")',
            id="multipart-extensible",
        ),
        pytest.param(
            ["TEXT", "PLAIN", ["CHARSET", "UTF-8", "NAME"], None, None, "8BIT", 1, 1],
            True,
            b'("TEXT" "PLAIN" ("CHARSET" "UTF-8" "NAME" "") NIL NIL "8BIT" 1 1)',
            id="odd-params-padded-missing-extensions-omitted",
        ),
    ],
)
def test_render_bodystructure(bs: list[Any], extensible: bool, expected: bytes) -> None:
    assert render_bodystructure(bs, extensible=extensible, utf8=False) == expected


def test_message_rfc822_nested_body_drops_inner_extensions() -> None:
    inner_env = [None, "hi", *([None] * 8)]
    leaf = ["MESSAGE", "RFC822", None, None, None, "7BIT", 40, inner_env, TEXT_LEAF, 3,
            None, ["ATTACHMENT", None], None, None]  # fmt: skip
    body = render_bodystructure(leaf, extensible=False, utf8=False)
    assert body == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 40 '
        b'(NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92) 3)'
    )
    full = render_bodystructure(leaf, extensible=True, utf8=False)
    assert full.endswith(b'"7BIT" 3028 92 NIL NIL NIL NIL) 3 NIL ("ATTACHMENT" NIL) NIL NIL)')


def test_non_ascii_param_is_literal_unless_utf8() -> None:
    leaf = ["TEXT", "PLAIN", ["NAME", "\u00e9.txt"], None, None, "7BIT", 1, 1]
    assert b"{6}\r\n\xc3\xa9.txt" in render_bodystructure(leaf, extensible=True, utf8=False)
    assert b'"\xc3\xa9.txt"' in render_bodystructure(leaf, extensible=True, utf8=True)


NESTED = (
    b"From: a@example.org\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: text/plain; name="q\\"uote\\\\d"\r\n'
    b"\r\n"
    b"hello\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"To: undisclosed-recipients:;\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--outer--\r\n"
)


def _strip_extensions(bs: list[Any]) -> list[Any]:
    """The BODY shape of a BODYSTRUCTURE shape."""
    if isinstance(bs[0], list):
        count = 0
        while isinstance(bs[count], list):
            count += 1
        parts = [_strip_extensions(p) for p in bs[:count]]
        return [*parts, bs[count]]
    if bs[0] == "MESSAGE" and bs[1] == "RFC822" and len(bs) >= 10:
        return [*bs[:7], bs[7], _strip_extensions(bs[8]), bs[9]]
    if bs[0] == "TEXT":
        return bs[:8]
    return bs[:7]


@pytest.mark.parametrize("raw", [RFC5322_A11, NESTED, b"", b"\r\n", b"no header at all"])
def test_summary_shapes_round_trip(raw: bytes) -> None:
    s = summarize(raw)
    for utf8 in (False, True):
        assert as_text(parse(render_envelope(s.envelope, utf8=utf8))) == s.envelope
        full = render_bodystructure(s.bodystructure, extensible=True, utf8=utf8)
        assert as_text(parse(full)) == s.bodystructure
        body = render_bodystructure(s.bodystructure, extensible=False, utf8=utf8)
        assert as_text(parse(body)) == _strip_extensions(s.bodystructure)


def test_nested_escapes_exact() -> None:
    rendered = render_bodystructure(summarize(NESTED).bodystructure, extensible=False, utf8=False)
    assert rendered == (
        b'(("TEXT" "PLAIN" ("NAME" "q\\"uote\\\\d") NIL NIL "7BIT" 5 1)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 58 '
        b'(NIL "inner" NIL NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) '
        b"NIL NIL NIL NIL) "
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1) 4) "MIXED")'
    )


_header_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=20
).filter(lambda t: not t.startswith((" ", "\t")))


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    subject = draw(_header_text)
    name = draw(_header_text)
    param = draw(_header_text)
    body = draw(st.binary(max_size=40)).replace(b"--b", b"")
    disposition = draw(st.sampled_from(["", "Content-Disposition: attachment\r\n"]))
    return (
        (
            f'Subject: {subject}\r\nFrom: "{name}" <x@y>\r\n'
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            f'--b\r\nContent-Type: text/plain; name="{param}"\r\n{disposition}\r\n'
        ).encode("utf-8", "surrogateescape")
        + body
        + b"\r\n--b--\r\n"
    )


@given(st.one_of(st.binary(max_size=300), _messages()), st.booleans())
def test_any_summary_renders_and_parses_back(raw: bytes, utf8: bool) -> None:
    s = summarize(raw)
    assert as_text(parse(render_envelope(s.envelope, utf8=utf8))) == s.envelope
    full = render_bodystructure(s.bodystructure, extensible=True, utf8=utf8)
    assert as_text(parse(full)) == s.bodystructure
    body = render_bodystructure(s.bodystructure, extensible=False, utf8=utf8)
    assert as_text(parse(body)) == _strip_extensions(s.bodystructure)


# --- flags, dates, mailbox names ----------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], b"()"),
        (["foo", "\\Seen"], b"(\\Seen foo)"),
        (
            ["zeta", "\\draft", "$Forwarded", "\\SEEN", "\\Deleted", "\\Flagged", "\\Answered"],
            b"(\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded zeta)",
        ),
        (["\\Recent", "\\Seen"], b"(\\Seen \\Recent)"),
        (["Junk", "junk", "\\Seen", "\\seen"], b"(\\Seen Junk)"),
        (["b", "A", "\\Important", "\\*", "\\Deleted"], b"(\\Deleted \\Important A b \\*)"),
    ],
)
def test_render_flags(flags: list[str], expected: bytes) -> None:
    assert render_flags(flags) == expected


@pytest.mark.parametrize("bad", ["a b", "", "x(", 'q"', "\u00e9", "\\"])
def test_render_flags_rejects_non_atoms(bad: str) -> None:
    with pytest.raises(ValueError):
        render_flags([bad])


def _zone(hours: int, minutes: int = 0) -> dt.timezone:
    sign = -1 if hours < 0 else 1
    return dt.timezone(sign * dt.timedelta(hours=abs(hours), minutes=minutes))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=_zone(-7)), b'"17-Jul-1996 02:44:25 -0700"'),
        (dt.datetime(1994, 2, 7, 21, 52, 25, tzinfo=_zone(-8)), b'" 7-Feb-1994 21:52:25 -0800"'),
        (dt.datetime(2024, 12, 1, 0, 0, 0, tzinfo=dt.UTC), b'" 1-Dec-2024 00:00:00 +0000"'),
        (dt.datetime(2024, 1, 31, 23, 5, 9, tzinfo=_zone(5, 30)), b'"31-Jan-2024 23:05:09 +0530"'),
        (dt.datetime(2024, 1, 31, 23, 5, 9, tzinfo=_zone(-3, 30)), b'"31-Jan-2024 23:05:09 -0330"'),
    ],
)
def test_render_internaldate(value: dt.datetime, expected: bytes) -> None:
    assert render_internaldate(value) == expected


def test_render_internaldate_needs_zone() -> None:
    with pytest.raises(ValueError):
        render_internaldate(dt.datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("name", "utf8", "expected"),
    [
        ("INBOX", False, b"INBOX"),
        ("Archive/2024", False, b"Archive/2024"),
        ("Sent Items", False, b'"Sent Items"'),
        ("A&B", False, b"A&-B"),
        ("Entw\u00fcrfe", False, b"Entw&APw-rfe"),
        ("Entw\u00fcrfe", True, b'"Entw\xc3\xbcrfe"'),
        ("[Gmail]/All", False, b'"[Gmail]/All"'),
        ('quo"te', True, b'"quo\\"te"'),
        ("NIL", False, b'"NIL"'),
        ("", False, b'""'),
    ],
)
def test_encode_mailbox_name(name: str, utf8: bool, expected: bytes) -> None:
    assert encode_mailbox_name(name, utf8=utf8) == expected


@given(st.text(st.characters(exclude_categories=["Cs"])), st.booleans())
def test_mailbox_names_round_trip(name: str, utf8: bool) -> None:
    from trimail.imap import _mutf7

    rendered = encode_mailbox_name(name, utf8=utf8)
    if rendered[:1] in (b'"', b"{"):
        wire = parse(rendered)
    else:  # an atom
        assert rendered.upper() != b"NIL"
        assert all(c not in b' (){%*"\\]' and 0x20 < c < 0x7F for c in rendered), rendered
        wire = rendered
    decoded = wire.decode("utf-8") if utf8 else _mutf7.decode(wire.decode("ascii"))
    assert decoded == name
