"""DKIM signing (RFC 6376 §5) checked by our own verifier over the published record."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from trimail.mailauth.dkim import SIGNED_HEADERS, sign, verify
from trimail.mailauth.records import DkimPrivateKey, dkim_txt
from trimail.mailauth.resolver import StaticResolver

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: signed\r\n"
    b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <s1@example.org>\r\n"
    b"\r\n"
    b"Hello,   world.\r\n"
)
KEYS: dict[str, DkimPrivateKey] = {
    "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate(),
}


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_signature_verifies_and_breaks_on_change(kind: str) -> None:
    key = KEYS[kind]
    resolver = StaticResolver({"mail._domainkey.example.org": [dkim_txt(key.public_key())]})
    field = sign(MESSAGE, domain="example.org", selector="mail", key=key)
    assert field.startswith("DKIM-Signature: ") and "c=relaxed/relaxed" in field
    assert "d=example.org" in field and "s=mail" in field
    signed = field.encode() + b"\r\n" + MESSAGE
    (result,) = verify(signed, resolver)
    assert result.result == "pass" and result.domain == "example.org"
    # relaxed canonicalization: whitespace changes inside lines still verify
    (relaxed,) = verify(signed.replace(b"Hello,   world.", b"Hello, world."), resolver)
    assert relaxed.result == "pass"
    (changed,) = verify(signed.replace(b"world", b"World"), resolver)
    assert changed.result == "fail"
    # From is oversigned: a second From added in transit breaks the signature
    (added_from,) = verify(
        signed.replace(b"\r\n\r\n", b"\r\nFrom: mallory@evil.example\r\n\r\n", 1), resolver
    )
    assert added_from.result == "fail"


def test_from_is_listed_twice() -> None:
    assert SIGNED_HEADERS.count(b"from") == 2
    field = sign(MESSAGE, domain="example.org", selector="mail", key=KEYS["ed25519"])
    h_tag = field.replace("\r\n", "").replace(" ", "").replace("\t", "").split("h=")[1]
    assert h_tag.lower().startswith("from:from:")
