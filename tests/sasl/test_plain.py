"""SASL PLAIN (RFC 4616): parsing, building, and refusal of malformed messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.sasl import MAX_FIELD_BYTES, PlainCredentials, SaslError, encode_plain, parse_plain

_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60
).filter(lambda t: len(t.encode("utf-8")) <= MAX_FIELD_BYTES)
credentials = st.builds(
    PlainCredentials,
    authzid=_TEXT,
    authcid=_TEXT.filter(bool),
    password=_TEXT.filter(bool),
)


def test_parse_rfc_4616_example() -> None:
    # RFC 4616 §4: "\0tim\0tanstaaftanstaaf"
    assert parse_plain(b"\x00tim\x00tanstaaftanstaaf") == PlainCredentials(
        authzid="", authcid="tim", password="tanstaaftanstaaf"
    )
    assert parse_plain(b"Ursel\x00Kurt\x00xipj3plmq").authzid == "Ursel"


def test_utf8_fields() -> None:
    creds = parse_plain("\x00jörg\x00pässwörd".encode())
    assert (creds.authcid, creds.password) == ("jörg", "pässwörd")


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"alice",
        b"alice\x00secret",
        b"\x00alice\x00secret\x00",
        b"\x00\x00secret",
        b"\x00alice\x00",
        b"\x00al\xffice\x00secret",
        b"\xff\x00alice\x00secret",
        b"\x00alice\x00" + b"x" * 256,
        b"x" * 256 + b"\x00alice\x00secret",
        b"\x00" + b"a" * 256 + b"\x00secret",
    ],
)
def test_malformed_messages_refused(message: bytes) -> None:
    with pytest.raises(SaslError):
        parse_plain(message)


def test_255_octet_fields_accepted() -> None:
    field = b"a" * MAX_FIELD_BYTES
    assert parse_plain(field + b"\x00" + field + b"\x00" + field).password == "a" * 255


def test_password_not_in_repr() -> None:
    assert "hunter2" not in repr(PlainCredentials(authzid="", authcid="a", password="hunter2"))


def test_encode_refuses_nul_and_empty() -> None:
    with pytest.raises(SaslError):
        encode_plain(PlainCredentials(authzid="", authcid="a\x00b", password="p"))
    with pytest.raises(SaslError):
        encode_plain(PlainCredentials(authzid="", authcid="a", password=""))


@given(credentials)
def test_round_trip(creds: PlainCredentials) -> None:
    assert parse_plain(encode_plain(creds)) == creds


@given(st.binary(max_size=800))
def test_never_crashes(message: bytes) -> None:
    try:
        creds = parse_plain(message)
    except SaslError:
        return
    assert creds.authcid and creds.password
    assert encode_plain(creds) == message
