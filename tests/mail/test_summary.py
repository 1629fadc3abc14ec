"""Tests for trimail.mail.summary: ENVELOPE, BODYSTRUCTURE, header fields (RFC 3501 §7.4.2)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from email.message import EmailMessage, Message

from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.summary import (
    MISSING_HOST,
    MessageSummary,
    _summarize_strict,
    parse_address_list,
    summarize,
)

RFC5322_A11 = (
    b"From: John Doe <jdoe@machine.example>\r\n"
    b"Sender: Michael Jones <mjones@machine.example>\r\n"
    b"To: Mary Smith <mary@example.net>\r\n"
    b"Subject: Saying Hello\r\n"
    b"Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
    b"Message-ID: <1234@local.machine.example>\r\n"
    b"\r\n"
    b"This is a message just to say hello.\r\n"
    b'So, "Hello".\r\n'
)


def test_simple_message_envelope() -> None:
    s = summarize(RFC5322_A11)
    assert s.size == len(RFC5322_A11)
    assert s.envelope == [
        "Fri, 21 Nov 1997 09:55:06 -0600",
        "Saying Hello",
        [["John Doe", None, "jdoe", "machine.example"]],
        [["Michael Jones", None, "mjones", "machine.example"]],
        [["John Doe", None, "jdoe", "machine.example"]],  # Reply-To defaults to From
        [["Mary Smith", None, "mary", "example.net"]],
        None,
        None,
        None,
        "<1234@local.machine.example>",
    ]
    assert s.date == dt.datetime(1997, 11, 21, 9, 55, 6, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


def test_simple_message_bodystructure() -> None:
    body = b'This is a message just to say hello.\r\nSo, "Hello".\r\n'
    assert summarize(RFC5322_A11).bodystructure == [
        "TEXT",
        "PLAIN",
        ["CHARSET", "US-ASCII"],
        None,
        None,
        "7BIT",
        len(body),
        2,
        None,
        None,
        None,
        None,
    ]


def test_headers_cached_raw_unfolded_all_occurrences() -> None:
    raw = (
        b"Subject: =?utf-8?q?caf=C3=A9?=\r\n  and more\r\n"
        b"Received: x\r\nTo: a@b.example\r\nTo: c@d.example\r\n"
        b"X-Other: y\r\nList-ID: <list.example.org>\r\n\r\nbody"
    )
    s = summarize(raw)
    assert s.headers == {
        "subject": ("=?utf-8?q?caf=C3=A9?=  and more",),
        "to": ("a@b.example", "c@d.example"),
        "list-id": ("<list.example.org>",),
    }
    # encoded words stay raw in the ENVELOPE; first To: field is used
    assert s.envelope[1] == "=?utf-8?q?caf=C3=A9?=  and more"
    assert s.envelope[5] == [[None, None, "a", "b.example"]]


def test_absent_vs_empty_fields() -> None:
    s = summarize(b"Subject:\r\nFrom: a@b.example\r\nReply-To:\r\n\r\n")
    date, subject, from_, sender, reply_to, to, cc, bcc, irt, mid = s.envelope
    assert (date, subject) == (None, "")
    assert sender == reply_to == from_ == [[None, None, "a", "b.example"]]
    assert to is cc is bcc is irt is mid is None
    assert s.date is None


def test_no_header_no_body() -> None:
    s = summarize(b"")
    assert s.size == 0
    assert s.envelope == [None] * 10
    assert s.bodystructure[:8] == [
        "TEXT",
        "PLAIN",
        ["CHARSET", "US-ASCII"],
        None,
        None,
        "7BIT",
        0,
        0,
    ]


def test_lf_only_message() -> None:
    raw = b"Subject: hi\nContent-Type: text/plain; charset=utf-8\n\nline1\nline2\n"
    s = summarize(raw)
    assert s.envelope[1] == "hi"
    assert s.bodystructure[:8] == ["TEXT", "PLAIN", ["CHARSET", "utf-8"], None, None, "7BIT", 12, 2]


def test_8bit_headers_do_not_crash_and_are_json_safe() -> None:
    raw = "Subject: Grüße\r\nFrom: Jörg <j@ö.example>\r\n\r\n".encode() + b"X\xff\xfe\r\n"
    raw += b"X-Latin1: caf\xe9\r\n"
    s = summarize(raw + b"Subject: \xe9t\xe9\r\n")
    assert s.envelope[1] == "Grüße"
    assert s.envelope[2] == [["Jörg", None, "j", "ö.example"]]
    json.dumps([s.envelope, s.bodystructure, dict(s.headers)])
    latin = summarize(b"Subject: caf\xe9\r\n\r\n")
    assert latin.envelope[1] == "caf\ufffd"


def test_address_forms() -> None:
    assert parse_address_list("Mary Smith <mary@x.test>, jdoe@example.org") == [
        ["Mary Smith", None, "mary", "x.test"],
        [None, None, "jdoe", "example.org"],
    ]
    assert parse_address_list('"Smith, J" <j@x.org>') == [["Smith, J", None, "j", "x.org"]]
    assert parse_address_list("a@b (Comment Name)") == [["Comment Name", None, "a", "b"]]
    assert parse_address_list("<@r1,@r2:u@h>") == [[None, "@r1,@r2", "u", "h"]]
    assert parse_address_list('"j d"@x') == [[None, None, '"j d"', "x"]]
    assert parse_address_list("John Q. Public <jq@x>") == [["John Q. Public", None, "jq", "x"]]
    assert parse_address_list("=?utf-8?q?J=C3=B6?= <j@x>") == [
        ["=?utf-8?q?J=C3=B6?=", None, "j", "x"]
    ]
    assert parse_address_list("postmaster") == [[None, None, "postmaster", MISSING_HOST]]
    assert parse_address_list("") == []
    assert parse_address_list("a@[192.0.2.1]") == [[None, None, "a", "[192.0.2.1]"]]


def test_groups() -> None:
    # RFC 5322 A.1.3 and RFC 3501 §7.4.2 group syntax
    got = parse_address_list(
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Undisclosed:;"
    )
    assert got == [
        [None, None, "A Group", None],
        ["Ed Jones", None, "c", "a.test"],
        [None, None, "joe", "where.test"],
        ["John", None, "jdoe", "one.test"],
        [None, None, None, None],
        [None, None, "Undisclosed", None],
        [None, None, None, None],
    ]


def test_multipart_mixed_with_attachment_and_message_rfc822() -> None:
    m = EmailMessage()
    m["From"] = "a@b.example"
    m["Subject"] = "outer"
    m.set_content("hi\nthere\n")
    m.add_attachment(b"\x00\x01" * 100, maintype="application", subtype="pdf", filename="a b.pdf")
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("x")
    m.add_attachment(inner)
    raw = m.as_bytes(policy=email.policy.SMTP)
    s = summarize(raw)
    text, pdf, msg, subtype, params, disp, lang, loc = s.bodystructure
    assert subtype == "MIXED" and params[0] == "BOUNDARY"
    assert (disp, lang, loc) == (None, None, None)
    assert text[:8] == [
        "TEXT",
        "PLAIN",
        ["CHARSET", "utf-8"],
        None,
        None,
        "7BIT",
        len(b"hi\r\nthere\r\n"),
        2,
    ]
    assert pdf[:6] == ["APPLICATION", "PDF", None, None, None, "BASE64"]
    assert pdf[8] == ["ATTACHMENT", ["FILENAME", "a b.pdf"]]
    assert msg[:6] == ["MESSAGE", "RFC822", None, None, None, "8BIT"]
    assert msg[7][1] == "inner"  # envelope of the inner message
    assert msg[8][:2] == ["TEXT", "PLAIN"]  # its body structure
    # sizes are those of the octets between the delimiters (RFC 2046 §5.1.1)
    parsed = email.message_from_bytes(raw)
    subparts: list[Message] = parsed.get_payload()  # type: ignore[assignment]
    for part, sub in zip((text, pdf), subparts[:2], strict=True):
        payload = sub.get_payload()
        assert isinstance(payload, str)
        assert part[6] == len(payload.encode("ascii", "surrogateescape"))


def test_multipart_alternative_nested_and_extension_data() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=outer\r\n"
        b"Content-Language: en, de\r\n\r\n"
        b"preamble\r\n--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="in ner"\r\n\r\n'
        b"--in ner\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
        b'--in ner\r\nContent-Type: text/html; charset="utf-8"\r\n'
        b"Content-ID: <id1>\r\nContent-Description: the html\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Location: http://x.example/\r\nContent-MD5: abc\r\n\r\n<b>x</b>\r\n"
        b"--in ner--\r\n"
        b"--outer\r\nContent-Disposition: inline\r\n\r\nno type\r\n"
        b"--outer--\r\nepilogue\r\n"
    )
    s = summarize(raw)
    alt, notype, subtype, params, disp, lang, loc = s.bodystructure
    assert (subtype, params, disp, lang, loc) == (
        "MIXED",
        ["BOUNDARY", "outer"],
        None,
        ["en", "de"],
        None,
    )
    plain, html, alt_sub, alt_params, *alt_ext = alt
    assert (alt_sub, alt_params, alt_ext) == (
        "ALTERNATIVE",
        ["BOUNDARY", "in ner"],
        [None, None, None],
    )
    assert plain == ["TEXT", "PLAIN", None, None, None, "7BIT", 5, 1, None, None, None, None]
    assert html == [
        "TEXT",
        "HTML",
        ["CHARSET", "utf-8"],
        "<id1>",
        "the html",
        "QUOTED-PRINTABLE",
        8,
        1,
        "abc",
        None,
        None,
        "http://x.example/",
    ]
    assert notype == [
        "TEXT",
        "PLAIN",
        ["CHARSET", "US-ASCII"],
        None,
        None,
        "7BIT",
        7,
        1,
        None,
        ["INLINE", None],
        None,
        None,
    ]


def test_digest_default_is_message_rfc822() -> None:
    raw = (
        b"Content-Type: multipart/digest; boundary=b\r\n\r\n"
        b"--b\r\n\r\nSubject: one\r\n\r\nbody\r\n--b--\r\n"
    )
    (part, subtype, *_rest) = summarize(raw).bodystructure
    assert subtype == "DIGEST"
    assert part[:2] == ["MESSAGE", "RFC822"]
    assert part[7][1] == "one"


def test_empty_multipart_gets_one_part() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno delimiters at all\r\n"
    first, subtype, *_rest = summarize(raw).bodystructure
    assert subtype == "MIXED"
    assert first[:2] == ["TEXT", "PLAIN"]


def test_unterminated_multipart_runs_to_end() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nabc"
    first, *_rest = summarize(raw).bodystructure
    assert first[6:8] == [3, 1]


def test_multipart_without_boundary_is_opaque() -> None:
    raw = b"Content-Type: multipart/mixed\r\n\r\n--zz\r\n\r\nabc\r\n"
    assert summarize(raw).bodystructure[:2] == ["APPLICATION", "OCTET-STREAM"]


def test_rfc2231_continuations() -> None:
    raw = (
        b"Content-Type: application/x-stuff;\r\n"
        b" title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
        b' title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2="isn\'t it!"\r\n\r\nx'
    )
    params = summarize(raw).bodystructure[2]
    assert params == [
        "TITLE*",
        "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't it!",
    ]


def test_deep_nesting_is_bounded() -> None:
    raw = b""
    for depth in range(200):
        raw += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (depth, depth)
    raw += b"\r\nleaf\r\n"
    s = _summarize_strict(raw)
    assert s.size == len(raw)
    json.dumps(s.bodystructure)


def test_many_parts_is_bounded() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 5000
    s = _summarize_strict(raw)
    assert len(s.bodystructure) <= 2005


def test_invalid_date() -> None:
    assert summarize(b"Date: yesterday-ish\r\n\r\n").date is None
    assert summarize(b"Date: Fri, 21 Nov 1997 09:55:06 -0000\r\n\r\n").date == dt.datetime(
        1997, 11, 21, 9, 55, 6, tzinfo=dt.UTC
    )


def test_mbox_from_line_skipped() -> None:
    s = summarize(b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\r\nSubject: x\r\n\r\nb")
    assert s.envelope[1] == "x"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    s = _summarize_strict(raw)
    assert isinstance(s, MessageSummary)
    assert s.size == len(raw)
    json.dumps([s.envelope, s.bodystructure, dict(s.headers)])


_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b'Content-Type: multipart/digest; boundary="c"\r\n',
        b"--b\r\n",
        b"--b--\r\n",
        b"--c\r\n",
        b"--c--\r\n",
        b"\r\n",
        b"\n",
        b"From: a <b@c>, g: d@e;\r\n",
        b'To: "\\"q" (c(d)) <@x:y@z>\r\n',
        b" folded\r\n",
        b"Subject: =?x?q?y?=\r\n",
        b"Content-Disposition: attachment; filename*0*=a; filename*1=b\r\n",
        b"\xff\xfe",
        b"text line\r\n",
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n",
        b"(((",
        b'"',
        b"<<<",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_mime_shaped_noise_never_raises(pieces: list[bytes]) -> None:
    raw = b"".join(pieces)
    s = _summarize_strict(raw)
    json.dumps([s.envelope, s.bodystructure, dict(s.headers)])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_address_parser_never_raises(value: str) -> None:
    for address in parse_address_list(value):
        assert len(address) == 4


def _leaves(structure: list[object]) -> list[str]:
    if isinstance(structure[0], list):
        out: list[str] = []
        for part in structure:
            if not isinstance(part, list):
                break
            out.extend(_leaves(part))
        return out
    return [f"{structure[0]}/{structure[1]}".lower()]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["plain", "html"]), st.text(max_size=300)), min_size=1, max_size=5
    ),
    st.lists(st.binary(max_size=500), max_size=3),
)
def test_agrees_with_stdlib_on_generated_messages(
    texts: list[tuple[str, str]], blobs: list[bytes]
) -> None:
    m = EmailMessage()
    m["Subject"] = "generated"
    m.set_content(texts[0][1], subtype=texts[0][0])
    for subtype, text in texts[1:]:
        m.add_attachment(text, subtype=subtype)
    for blob in blobs:
        m.add_attachment(blob, maintype="application", subtype="octet-stream")
    raw = m.as_bytes(policy=email.policy.SMTP)
    s = summarize(raw)
    parsed = email.message_from_bytes(raw)
    expected = [p.get_content_type() for p in parsed.walk() if not p.is_multipart()]
    assert _leaves(s.bodystructure) == expected
