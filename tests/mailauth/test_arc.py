"""ARC chain validation (RFC 8617 §5.2) through dkimpy over our Resolver."""

from __future__ import annotations

import dkim as dkimpy
from cryptography.hazmat.primitives.asymmetric import rsa

from trimail.mailauth.dkim import verify_arc
from trimail.mailauth.records import dkim_txt, private_key_pem
from trimail.mailauth.resolver import StaticResolver

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RECORDS = {"arc._domainkey.forwarder.example": [dkim_txt(KEY.public_key())]}
MESSAGE = (
    b"Authentication-Results: forwarder.example; spf=pass smtp.mailfrom=example.org\r\n"
    b"From: alice@example.org\r\nTo: list@forwarder.example\r\nSubject: arc\r\n"
    b"Message-ID: <arc@example.org>\r\n\r\nforwarded body\r\n"
)


def sealed(message: bytes) -> bytes:
    fields = dkimpy.arc_sign(
        message,
        b"arc",
        b"forwarder.example",
        private_key_pem(KEY),
        b"forwarder.example",
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    return b"".join(fields) + message


def test_a_valid_chain_passes_and_a_changed_body_fails() -> None:
    resolver = StaticResolver(RECORDS)
    message = sealed(MESSAGE)
    assert verify_arc(message, resolver)[0] == "pass"
    assert verify_arc(message.replace(b"forwarded body", b"changed body"), resolver)[0] == "fail"


def test_no_chain_is_none_and_dns_trouble_is_temperror() -> None:
    assert verify_arc(MESSAGE, StaticResolver(RECORDS)) == ("none", "")
    failing = StaticResolver({}, failing=["arc._domainkey.forwarder.example"])
    assert verify_arc(sealed(MESSAGE), failing)[0] == "temperror"
