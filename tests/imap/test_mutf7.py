"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.imap import mutf7


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("a&b&", "a&-b&-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
        ("Entwürfe", "Entw&APw-rfe"),
        ("😀", "&2D3eAA-"),  # a surrogate pair
        ("\x7f\x00", "&AH8AAA-"),
        ("", ""),
    ],
)
def test_known_names(name: str, wire: str) -> None:
    assert mutf7.encode(name) == wire
    assert mutf7.decode(wire) == name


@pytest.mark.parametrize(
    "wire",
    [
        "&Jjo",  # unterminated
        "&AGE-",  # printable ASCII "a" encoded
        "&ACY-",  # "&" encoded instead of "&-"
        "&AOk-&AOk-",  # null shift "-&" (RFC 3501 §5.1.3)
        "&Jjo!-",  # not base64
        "&Jj/-",  # "/" instead of ","
        "&2D3-",  # odd number of octets
        "&2D0-",  # lone high surrogate (padding bits)
        "&2D3YPQ-",  # two high surrogates
        "&3gA-",  # lone low surrogate
        "&AOl-",  # non-zero padding bits
        "&AOkA-",  # non-canonical length
        "é",  # 8-bit
        "a\tb",  # control character
        "&AOk=-",  # padding
    ],
)
def test_malformed_rejected(wire: str) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(wire)


def test_lone_surrogate_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        mutf7.encode("\ud800")


@given(st.text())
def test_round_trip(name: str) -> None:
    wire = mutf7.encode(name)
    assert wire.isascii() and all(" " <= c <= "~" for c in wire)
    assert mutf7.decode(wire) == name


@given(st.text(alphabet=st.sampled_from("&-AOkZSDU3eA,+/ab!"), max_size=20))
def test_decode_is_canonical(wire: str) -> None:
    """Whatever decodes has exactly one spelling: encode(decode(w)) == w."""
    try:
        name = mutf7.decode(wire)
    except ValueError:
        return
    assert mutf7.encode(name) == wire
