"""SEARCH evaluation details: the BODY/TEXT fast path never misses a decoded match."""

from __future__ import annotations

import base64
import quopri

from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.search import body_text, fold_case, message_text
from trimail.server.imap_search import text_matches

HEADER = b"From: a@example.org\r\nSubject: =?UTF-8?Q?Caf=C3=A9?= menu\r\n"


def message(body: str, encoding: str) -> bytes:
    data = body.encode("utf-8")
    if encoding == "base64":
        data = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif encoding == "quoted-printable":
        data = quopri.encodestring(data).replace(b"\n", b"\r\n")
    return (
        HEADER
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + b"Content-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + data
    )


def test_table() -> None:
    plain = message("Bring the quarterly figures.", "7bit")
    assert text_matches(plain, "QUARTERLY", body_only=True)
    assert not text_matches(plain, "menu", body_only=True)  # only in the header
    assert text_matches(plain, "menu", body_only=False)
    assert text_matches(plain, "café", body_only=False)  # encoded word, decoded
    assert text_matches(message("Grüße aus Köln", "base64"), "köln", body_only=True)
    assert text_matches(
        message("soft line break " * 20, "quoted-printable"), "break soft", body_only=True
    )
    assert not text_matches(message("nothing here", "base64"), "figures", body_only=True)


@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=200),
    st.sampled_from(["7bit", "8bit", "base64", "quoted-printable"]),
    st.text(alphabet="abcdefgh XYZé", min_size=1, max_size=4),
    st.booleans(),
)
def test_no_false_negatives(body: str, encoding: str, needle: str, body_only: bool) -> None:
    raw = message(body, encoding)
    decoded = body_text(raw) if body_only else message_text(raw)
    if fold_case(needle) in fold_case(decoded):
        assert text_matches(raw, needle, body_only=body_only)
