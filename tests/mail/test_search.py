"""Tests for trimail.mail.search: decoded, case-folded SEARCH matching (RFC 3501 §6.4.4)."""

from __future__ import annotations

import base64
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.search import (
    body_text,
    decode_header_value,
    fold_case,
    header_matches,
    header_text,
    message_text,
    text_matches,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        ("=?utf-8?q?caf=C3=A9?= au lait", "caf\u00e9 au lait"),
        ("=?UTF-8?Q?hello_world?=", "hello world"),
        ("=?utf-8?b?Y2Fmw6k=?=", "caf\u00e9"),
        ("=?utf-8?B?Y2Fmw6k?=", "caf\u00e9"),  # missing padding
        ("=?iso-8859-1?q?caf=E9?=", "caf\u00e9"),
        ("=?ISO-8859-1*fr?Q?caf=E9?=", "caf\u00e9"),  # RFC 2231 §5 language
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # white space between words dropped
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        ("x =?utf-8?q?a?=", "x a"),
        ("=?utf-8?b?4oI=?= =?utf-8?b?rA==?=", "\u20ac"),  # one character split in two words
        ("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "\u20ac"),
        ("=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=", "\u00e9\u00e9"),
        ("=?x-unknown-charset?q?caf=C3=A9?=", "caf\u00e9"),  # unknown charset: UTF-8
        ("=?rot13?q?abc?=", "abc"),  # a codec, but not a text encoding
        ("=?hex?q?abc?=", "abc"),
        ("=?utf-8?q?bad=ZZ?=", "bad=ZZ"),
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),  # unknown encoding: kept raw
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?utf-8?q?=FF?=", "\ufffd"),
        ("Gr\u00fc\u00dfe raw UTF-8", "Gr\u00fc\u00dfe raw UTF-8"),
    ],
)
def test_decode_header_value(raw: str, expected: str) -> None:
    assert decode_header_value(raw) == expected


@given(st.text())
def test_decode_header_value_never_raises(raw: str) -> None:
    decoded = decode_header_value(raw)
    if "=?" not in raw:
        assert decoded == raw


@given(st.text(max_size=30), st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]))
def test_encoded_words_round_trip(text: str, charset: str) -> None:
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        return
    word = f"=?{charset}?b?{base64.b64encode(data).decode()}?="
    assert decode_header_value(word) == text


def test_fold_case() -> None:
    assert fold_case("Stra\u00dfe") == "strasse"
    assert fold_case("\uff21\uff22\uff23") == "abc"  # full-width letters
    assert fold_case("e\u0301") == fold_case("\u00c9")  # decomposed vs composed
    assert text_matches("STRASSE 1", "stra\u00dfe")
    assert not text_matches("cafe", "caf\u00e9")  # accents are not stripped


@pytest.mark.parametrize(
    ("values", "needle", "address", "expected"),
    [
        (["Saying Hello"], "hello", False, True),
        (["Saying Hello"], "HELLO", False, True),
        (["Saying Hello"], "goodbye", False, False),
        ([], "", False, False),  # absent field never matches
        ([""], "", False, True),  # HEADER f "": the field is present
        (["x"], "", False, True),
        (["=?utf-8?q?Gr=C3=BC=C3=9Fe?="], "GR\u00dcSSE", False, True),
        (["first", "second"], "SECOND", False, True),  # any occurrence
        (['"Doe, John" <jdoe@example.org>'], "doe, john", True, True),
        (['"Doe, John" <jdoe@example.org>'], "jdoe@EXAMPLE", True, True),
        (['"Doe, John" <jdoe@example.org>'], "John <jdoe@", True, True),
        (["=?utf-8?q?J=C3=B6rg?= <j@x.example>"], "j\u00f6rg <j@x", True, True),
        (["=?utf-8?q?J=C3=B6rg?= <j@x.example>"], "j\u00f6rg <j@x", False, True),
        (['"J \\"JD\\" Doe" <j@x.example>'], 'j "jd" doe', True, True),
        (["jdoe@example.org (John Doe)"], "john doe", True, True),
        (["team: a@x.example, b@y.example;"], "b@y.example", True, True),
        (["team: a@x.example;"], "team", True, True),
        (["undisclosed-recipients:;"], "undisclosed", True, True),
        (["mary@example.net"], "john", True, False),
    ],
)
def test_header_matches(values: list[str], needle: str, address: bool, expected: bool) -> None:
    assert header_matches(values, needle, address=address) is expected


@given(st.lists(st.text(max_size=40), max_size=3), st.text(max_size=10), st.booleans())
def test_header_matches_never_raises(values: list[str], needle: str, address: bool) -> None:
    result = header_matches(values, needle, address=address)
    if values and not needle:
        assert result


MULTIPART = (
    b"From: a@example.org\r\n"
    b"Subject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"preamble is not searched\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=E9 =\r\n"
    b"au lait\r\n"
    b"--b\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes("<p>Gr\u00fc\u00dfe</p>".encode()) + b"--b\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(b"secret attachment") + b"--b\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: =?utf-8?q?inner_subject?=\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b--\r\n"
    b"epilogue is not searched\r\n"
)


def test_body_text_decodes_text_parts() -> None:
    text = body_text(MULTIPART)
    assert "caf\u00e9 au lait" in text
    assert "<p>Gr\u00fc\u00dfe</p>" in text
    assert "Subject: inner subject" in text  # the encapsulated header is body text
    assert "inner body" in text
    assert "secret" not in text  # non-text leaves are skipped
    assert "preamble" not in text and "epilogue" not in text
    assert "R\u00e9sum\u00e9" not in text  # the top header is not BODY


def test_message_text_adds_the_header() -> None:
    text = message_text(MULTIPART)
    assert "Subject: R\u00e9sum\u00e9" in text
    assert "caf\u00e9 au lait" in text
    assert text_matches(text, "R\u00c9SUM\u00c9")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Subject: x\r\n\r\nplain body", "plain body"),
        (b"\r\nraw utf-8 \xc3\xa9", "raw utf-8 \u00e9"),  # no charset: UTF-8, a superset
        (b"Content-Type: text/plain; charset=us-ascii\r\n\r\n\xc3\xa9", "\u00e9"),
        (b"Content-Type: text/plain; charset=bogus\r\n\r\n\xc3\xa9", "\u00e9"),
        (b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xff", "\ufffd"),
        (b"Content-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9", "\u041f\u0440\u0438"),
        (b"Content-Transfer-Encoding: x-uuencode\r\n\r\nraw=41", "raw=41"),
        (b"Content-Type: image/png\r\n\r\nnot text", ""),
    ],
)
def test_body_text_cases(raw: bytes, expected: str) -> None:
    assert body_text(raw) == expected


def test_header_text_unfolds_and_decodes() -> None:
    header = b"Subject: =?utf-8?q?a?=\r\n =?utf-8?q?b?=\r\nX: y\r\n\r\n"
    assert header_text(header) == "Subject: ab\nX: y"


@given(st.binary(max_size=500))
def test_text_extraction_never_raises(raw: bytes) -> None:
    assert isinstance(body_text(raw), str)
    assert isinstance(message_text(raw), str)


_LETTERS = st.text(st.characters(max_codepoint=0x4FF, categories=["Lu", "Ll", "Nd", "Zs"]))


@given(_LETTERS, _LETTERS)
def test_text_matches_is_case_insensitive(text: str, needle: str) -> None:
    if needle in text:
        assert text_matches(text.upper(), needle.lower()) or not _stable(text + needle)


def _stable(text: str) -> bool:
    """Text whose upper/lower mappings fold back to the same string (most text)."""
    return all(
        fold_case(c.upper()) == fold_case(c) == fold_case(c.lower())
        for c in unicodedata.normalize("NFKC", text)
    )
