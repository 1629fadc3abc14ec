"""DSN parameters (RFC 3461 §4, RFC 6533 §3): xtext, parsing, rendering, NOTIFY defaults."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.dsn import (
    DsnMailParams,
    DsnParameterError,
    DsnRcptParams,
    NotifyKind,
    format_orcpt,
    parse_orcpt,
    utf8_address_decode,
    utf8_address_encode,
    xtext_decode,
    xtext_encode,
)

printable_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=126))
XCHARS = {chr(c) for c in range(33, 127)} - {"+", "="}

# --- xtext ---------------------------------------------------------------------------


@given(text=printable_ascii)
def test_xtext_round_trip_printable_ascii(text: str) -> None:
    encoded = xtext_encode(text)
    assert xtext_decode(encoded) == text
    assert all(c in XCHARS or c == "+" for c in encoded)


@given(text=st.text())
def test_xtext_round_trip_any_text(text: str) -> None:
    encoded = xtext_encode(text)
    assert encoded.isascii() and " " not in encoded and "=" not in encoded
    assert xtext_decode(encoded) == text


@pytest.mark.parametrize(
    ("text", "xtext"),
    [
        ("joe+dev@example.org", "joe+2Bdev@example.org"),
        ("a=b c", "a+3Db+20c"),
        ("tab\there", "tab+09here"),
        ("\x7f", "+7F"),
        ("é", "+C3+A9"),
        ("", ""),
    ],
)
def test_xtext_examples(text: str, xtext: str) -> None:
    assert xtext_encode(text) == xtext
    assert xtext_decode(xtext) == text


def test_xtext_decode_accepts_lower_case_hex() -> None:
    assert xtext_decode("a+2bb") == "a+b"


@pytest.mark.parametrize("bad", ["a=b", "a b", "a+2", "a+", "a+ZZ", "é", "+FF", "+C3"])
def test_xtext_decode_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        xtext_decode(bad)


# --- utf-8 addresses, RFC 6533 ---------------------------------------------------------------


@given(address=st.text())
def test_utf8_address_round_trip(address: str) -> None:
    xtext = utf8_address_encode(address)
    assert xtext.isascii()
    assert xtext_decode(xtext) == xtext  # utf-8-addr-xtext is valid xtext as it is
    assert utf8_address_decode(xtext) == address
    assert utf8_address_decode(utf8_address_encode(address, unitext=True)) == address


@pytest.mark.parametrize(
    ("address", "xtext", "unitext"),
    [
        ("jörg@example.org", "j\\x{F6}rg@example.org", "jörg@example.org"),
        ("a+b=c@x", "a\\x{2B}b\\x{3D}c@x", "a\\x{2B}b\\x{3D}c@x"),
        ('"a b"@x', '"a\\x{20}b"@x', '"a\\x{20}b"@x'),
        ("a\\b@x", "a\\x{5C}b@x", "a\\x{5C}b@x"),
        (
            "用户@例子.广告",
            "\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}",
            "用户@例子.广告",
        ),
        ("\U0001f600@x", "\\x{1F600}@x", "\U0001f600@x"),
        ("a\u2028b@x", "a\\x{2028}b@x", "a\\x{2028}b@x"),
    ],
)
def test_utf8_address_examples(address: str, xtext: str, unitext: str) -> None:
    assert utf8_address_encode(address) == xtext
    assert utf8_address_encode(address, unitext=True) == unitext
    assert utf8_address_decode(xtext) == address


@pytest.mark.parametrize(
    "bad", ["a+b", "a=b", "a\\b", "a b", "a\x01b", "\\x{D800}", "\\x{110000}", "\\x{}", "\\x{12"]
)
def test_utf8_address_decode_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        utf8_address_decode(bad)


# --- MAIL: RET and ENVID -------------------------------------------------------------------

Params = list[tuple[str, str | None]]


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ([], DsnMailParams()),
        ([("SIZE", "100"), ("BODY", "8BITMIME")], DsnMailParams()),
        ([("RET", "FULL")], DsnMailParams(ret="FULL")),
        ([("ret", "hdrs")], DsnMailParams(ret="HDRS")),
        ([("ENVID", "QQ314159")], DsnMailParams(envid="QQ314159")),
        ([("ENVID", "a+20b+2Bc")], DsnMailParams(envid="a b+c")),
        ([("ENVID", "x" * 100)], DsnMailParams(envid="x" * 100)),
        ([("ENVID", "+09tab")], DsnMailParams(envid="\ttab")),
        ([("RET", "HDRS"), ("ENVID", "id")], DsnMailParams(ret="HDRS", envid="id")),
    ],
)
def test_mail_parameters_good(parameters: Params, expected: DsnMailParams) -> None:
    assert DsnMailParams.from_parameters(parameters) == expected


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([("RET", None)], "RET: a value is required"),
        ([("RET", "")], "RET: a value is required"),
        ([("RET", "ALL")], "RET: must be FULL or HDRS"),
        ([("RET", "FULL"), ("ret", "FULL")], "RET: given more than once"),
        ([("ENVID", None)], "ENVID: a value is required"),
        ([("ENVID", "x" * 101)], "ENVID: longer than 100 characters"),
        ([("ENVID", "a+0D+0AInjected:+20x")], "ENVID: must decode to printable US-ASCII"),
        ([("ENVID", "caf+C3+A9")], "ENVID: must decode to printable US-ASCII"),
        ([("ENVID", "café")], "ENVID: malformed xtext"),
        ([("ENVID", "a=b")], "ENVID: malformed xtext"),
        ([("ENVID", "a+4")], "ENVID: malformed xtext"),
        ([("ENVID", "a"), ("ENVID", "b")], "ENVID: given more than once"),
    ],
)
def test_mail_parameters_bad(parameters: Params, message: str) -> None:
    with pytest.raises(DsnParameterError) as info:
        DsnMailParams.from_parameters(parameters)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert info.value.keyword == message.split(":")[0]


@given(
    ret=st.sampled_from([None, "FULL", "HDRS"]),
    envid=st.none() | printable_ascii.filter(lambda s: 0 < len(s) <= 100),
)
def test_mail_parameters_render_and_parse_back(ret: Any, envid: str | None) -> None:
    params = DsnMailParams(ret=ret, envid=envid)
    rendered = params.to_parameters()
    assert all(value and value.isascii() and " " not in value for _, value in rendered)
    assert DsnMailParams.from_parameters(rendered) == params


def test_mail_params_validate_on_construction() -> None:
    with pytest.raises(DsnParameterError):
        DsnMailParams(envid="x" * 101)
    with pytest.raises(DsnParameterError):
        DsnMailParams(envid="a\r\nb")
    with pytest.raises(DsnParameterError):
        DsnMailParams(ret="ALL")  # type: ignore[arg-type]


# --- RCPT: NOTIFY and ORCPT --------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ([], DsnRcptParams()),
        ([("NOTIFY", "NEVER")], DsnRcptParams(notify={"NEVER"})),
        ([("NOTIFY", "never")], DsnRcptParams(notify={"NEVER"})),
        ([("NOTIFY", "SUCCESS")], DsnRcptParams(notify={"SUCCESS"})),
        (
            [("NOTIFY", "Delay,success,FAILURE")],
            DsnRcptParams(notify={"SUCCESS", "FAILURE", "DELAY"}),
        ),
        ([("NOTIFY", "FAILURE,,DELAY")], DsnRcptParams(notify={"FAILURE", "DELAY"})),
        ([("ORCPT", "rfc822;joe@example.org")], DsnRcptParams(orcpt=("rfc822", "joe@example.org"))),
        ([("ORCPT", "RFC822;a+2Bb@x")], DsnRcptParams(orcpt=("rfc822", "a+b@x"))),
        ([("ORCPT", "rfc822;a+20b@x")], DsnRcptParams(orcpt=("rfc822", "a b@x"))),
        ([("ORCPT", "x400;c+3Dus")], DsnRcptParams(orcpt=("x400", "c=us"))),
        ([("ORCPT", "UTF-8;j\\x{F6}rg@x")], DsnRcptParams(orcpt=("utf-8", "jörg@x"))),
        ([("ORCPT", "utf-8;jörg@x")], DsnRcptParams(orcpt=("utf-8", "jörg@x"))),
        ([("ORCPT", "utf-8;a\\x{2b}b@x")], DsnRcptParams(orcpt=("utf-8", "a+b@x"))),
        (
            [("NOTIFY", "SUCCESS"), ("XFOO", None), ("ORCPT", "rfc822;a@b")],
            DsnRcptParams(notify={"SUCCESS"}, orcpt=("rfc822", "a@b")),
        ),
    ],
)
def test_rcpt_parameters_good(parameters: Params, expected: DsnRcptParams) -> None:
    assert DsnRcptParams.from_parameters(parameters) == expected


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([("NOTIFY", None)], "NOTIFY: a value is required"),
        ([("NOTIFY", ",")], "NOTIFY: a value is required"),
        ([("NOTIFY", "NEVER,FAILURE")], "NOTIFY: NEVER cannot be combined with other values"),
        ([("NOTIFY", "SUCCESS,SUCCESS")], "NOTIFY: a value is repeated"),
        ([("NOTIFY", "NEVER,NEVER")], "NOTIFY: a value is repeated"),
        (
            [("NOTIFY", "ALWAYS")],
            "NOTIFY: must be NEVER or a list of SUCCESS, FAILURE, DELAY",
        ),
        ([("NOTIFY", "NEVER"), ("NOTIFY", "NEVER")], "NOTIFY: given more than once"),
        ([("ORCPT", None)], "ORCPT: a value is required"),
        ([("ORCPT", "joe@example.org")], "ORCPT: expected addr-type;address"),
        ([("ORCPT", ";joe@example.org")], "ORCPT: malformed address type"),
        ([("ORCPT", "rfc 822;joe@example.org")], "ORCPT: malformed address type"),
        ([("ORCPT", "rfc822;")], "ORCPT: the address is empty"),
        ([("ORCPT", "rfc822;a=b")], "ORCPT: malformed address encoding"),
        ([("ORCPT", "rfc822;jörg@x")], "ORCPT: malformed address encoding"),
        (
            [("ORCPT", "rfc822;j+C3+B6rg@x")],
            "ORCPT: the address must decode to printable US-ASCII",
        ),
        (
            [("ORCPT", "rfc822;a+0D+0Ab@x")],
            "ORCPT: the address must decode to printable US-ASCII",
        ),
        ([("ORCPT", "utf-8;a+2Bb@x")], "ORCPT: malformed address encoding"),
        ([("ORCPT", "utf-8;a\\x{0A}b@x")], "ORCPT: control characters in the address"),
        ([("ORCPT", "utf-8;a\\x{2028}b@x")], "ORCPT: control characters in the address"),
        ([("ORCPT", "rfc822;" + "a" * 494)], "ORCPT: longer than 500 characters"),
        ([("ORCPT", "rfc822;a@b"), ("ORCPT", "rfc822;a@b")], "ORCPT: given more than once"),
    ],
)
def test_rcpt_parameters_bad(parameters: Params, message: str) -> None:
    with pytest.raises(DsnParameterError) as info:
        DsnRcptParams.from_parameters(parameters)
    assert str(info.value) == message
    assert info.value.reason.isascii()


notify_sets = st.one_of(
    st.none(),
    st.just(frozenset({"NEVER"})),
    st.frozensets(st.sampled_from(["SUCCESS", "FAILURE", "DELAY"]), min_size=1),
)


def _valid(orcpt: tuple[str, str]) -> bool:
    try:
        DsnRcptParams(orcpt=orcpt)
    except DsnParameterError:
        return False
    return True


orcpts = st.one_of(
    st.none(),
    st.tuples(st.just("rfc822"), printable_ascii.filter(bool)),
    st.tuples(st.just("utf-8"), st.text(min_size=1)).filter(_valid),
)


@given(notify=notify_sets, orcpt=orcpts, smtputf8=st.booleans())
def test_rcpt_parameters_render_and_parse_back(
    notify: frozenset[str] | None, orcpt: tuple[str, str] | None, smtputf8: bool
) -> None:
    params = DsnRcptParams(notify=notify, orcpt=orcpt)
    rendered = params.to_parameters(smtputf8=smtputf8)
    for _, value in rendered:
        assert value and " " not in value and "=" not in value
        assert value.isascii() or smtputf8
    assert DsnRcptParams.from_parameters(rendered) == params


def test_rcpt_rendering() -> None:
    params = DsnRcptParams(notify={"DELAY", "SUCCESS"}, orcpt=("utf-8", "jörg@x"))
    assert params.to_parameters() == (
        ("NOTIFY", "SUCCESS,DELAY"),
        ("ORCPT", "utf-8;j\\x{F6}rg@x"),
    )
    assert params.to_parameters(smtputf8=True)[1] == ("ORCPT", "utf-8;jörg@x")
    assert format_orcpt(("rfc822", "a+b@x")) == "rfc822;a+2Bb@x"
    assert parse_orcpt(format_orcpt(("rfc822", "a+b@x"))) == ("rfc822", "a+b@x")


def test_rcpt_params_validate_on_construction() -> None:
    for notify in ({"NEVER", "DELAY"}, {"SOMETIMES"}, set()):
        with pytest.raises(DsnParameterError):
            DsnRcptParams(notify=notify)
    for orcpt in (("RFC822", "a@b"), ("rfc822", ""), ("rfc822", "jörg@x"), ("a;b", "x")):
        with pytest.raises(DsnParameterError):
            DsnRcptParams(orcpt=orcpt)
    assert DsnRcptParams(notify=["FAILURE"]).notify == frozenset({"FAILURE"})


# --- NOTIFY semantics, RFC 3461 §4.1 -------------------------------------------------------


@pytest.mark.parametrize(
    ("notify", "success", "failure", "delay"),
    [
        (None, False, True, True),  # absent: FAILURE, DELAY at the MTA's discretion
        ({"NEVER"}, False, False, False),
        ({"SUCCESS"}, True, False, False),
        ({"FAILURE"}, False, True, False),
        ({"DELAY"}, False, False, True),
        ({"SUCCESS", "FAILURE", "DELAY"}, True, True, True),
    ],
)
def test_wants(notify: set[str] | None, success: bool, failure: bool, delay: bool) -> None:
    params = DsnRcptParams(notify=notify)
    kinds: tuple[NotifyKind, ...] = ("SUCCESS", "FAILURE", "DELAY")
    assert [params.wants(k) for k in kinds] == [success, failure, delay]


def test_wants_without_default_delays() -> None:
    assert not DsnRcptParams().wants("DELAY", delay_by_default=False)
    assert DsnRcptParams(notify={"DELAY"}).wants("DELAY", delay_by_default=False)
