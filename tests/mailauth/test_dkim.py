"""DKIM verification over a StaticResolver: sign with dkimpy, verify with trimail."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.mailauth.roundtrip import MESSAGE, dkimpy_key
from trimail.mailauth import DkimPrivateKey, dkim_txt
from trimail.mailauth.dkim import verify
from trimail.mailauth.resolver import StaticResolver

KEY_NAME = "sel._domainkey.example.org"


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def key(request: pytest.FixtureRequest) -> DkimPrivateKey:
    if request.param == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def sign(key: DkimPrivateKey, message: bytes = MESSAGE, **kwargs: object) -> bytes:
    algorithm = b"ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
    options: dict[str, object] = {
        "signature_algorithm": algorithm,
        "include_headers": [b"from", b"to", b"subject", b"message-id"],
    }
    options.update(kwargs)
    return dkim.sign(message, b"sel", b"example.org", dkimpy_key(key), **options) + message  # type: ignore[arg-type]


def resolver_for(key: DkimPrivateKey) -> StaticResolver:
    return StaticResolver({KEY_NAME: [dkim_txt(key.public_key())]})


def test_round_trip_passes(key: DkimPrivateKey) -> None:
    resolver = resolver_for(key)
    (result,) = verify(sign(key), resolver)
    assert (result.domain, result.selector, result.result) == ("example.org", "sel", "pass")
    assert result.b and result.reason == ""
    assert resolver.queries == [KEY_NAME]


def test_body_changed_fails(key: DkimPrivateKey) -> None:
    signed = sign(key).replace(b"Hello.", b"Pay me.")
    (result,) = verify(signed, resolver_for(key))
    assert result.result == "fail"
    assert "body hash" in result.reason


def test_signed_header_changed_fails(key: DkimPrivateKey) -> None:
    signed = sign(key).replace(b"Subject: DKIM round trip", b"Subject: DKIM round trap")
    (result,) = verify(signed, resolver_for(key))
    assert result.result == "fail"


def test_length_tag_allows_appended_text(key: DkimPrivateKey) -> None:
    signed = sign(key, length=True) + b"-- \r\nmailing list footer\r\n"
    (result,) = verify(signed, resolver_for(key))
    assert result.result == "pass"


def test_without_length_tag_appended_text_fails(key: DkimPrivateKey) -> None:
    signed = sign(key) + b"footer\r\n"
    assert verify(signed, resolver_for(key))[0].result == "fail"


def test_relaxed_canonicalization_tolerates_whitespace(key: DkimPrivateKey) -> None:
    signed = sign(key, canonicalize=(b"relaxed", b"relaxed"))
    changed = signed.replace(b"Subject: DKIM round trip", b"Subject:   DKIM  round\t trip ")
    changed = changed.replace(b"Hello.\r\n", b"Hello.   \r\n\r\n\r\n")
    assert changed != signed
    assert verify(changed, resolver_for(key))[0].result == "pass"


def test_missing_key_is_permerror(key: DkimPrivateKey) -> None:
    (result,) = verify(sign(key), StaticResolver({}))
    assert result.result == "permerror"
    assert "no key" in result.reason


def test_unusable_key_is_permerror(key: DkimPrivateKey) -> None:
    resolver = StaticResolver({KEY_NAME: ["v=DKIM1; k=rsa; p=AAAA"]})
    assert verify(sign(key), resolver)[0].result == "permerror"


def test_resolver_temperror(key: DkimPrivateKey) -> None:
    (result,) = verify(sign(key), StaticResolver({}, failing=[KEY_NAME]))
    assert result.result == "temperror"


def test_wrong_key_fails(key: DkimPrivateKey) -> None:
    other = (
        ed25519.Ed25519PrivateKey.generate()
        if isinstance(key, ed25519.Ed25519PrivateKey)
        else rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    assert verify(sign(key), resolver_for(other))[0].result == "fail"


def test_two_signatures_each_reported(key: DkimPrivateKey) -> None:
    signed = sign(key)
    algorithm = b"ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
    outer = dkim.sign(
        signed, b"other", b"example.net", dkimpy_key(key), signature_algorithm=algorithm
    )
    results = verify(outer + signed, resolver_for(key))
    assert [(r.domain, r.result) for r in results] == [
        ("example.net", "permerror"),
        ("example.org", "pass"),
    ]


def test_unsigned_message_has_no_results() -> None:
    assert verify(MESSAGE, StaticResolver({})) == []


def test_malformed_signature_is_not_a_crash() -> None:
    message = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; garbage\r\n" + MESSAGE
    (result,) = verify(message, StaticResolver({}))
    assert result.result in {"neutral", "permerror"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_signature_values_never_raise(value: bytes) -> None:
    message = b"DKIM-Signature: " + value.replace(b"\n", b" ") + b"\r\n" + MESSAGE
    for result in verify(message, StaticResolver({})):
        assert result.result in {"neutral", "permerror", "fail", "temperror"}


def test_a_signature_made_by_exim_verifies() -> None:
    """Interoperability: ed25519-sha256 as Exim signs it (tests/mailauth/data/README.md)."""
    raw = (Path(__file__).parent / "data" / "exim-ed25519.msg").read_bytes()
    message = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    resolver = StaticResolver(
        {
            "sed._domainkey.test.ex": [
                "v=DKIM1; k=ed25519; p=sPs07Vu29FpHT/80UXUcYHFOHifD4o2ZlP2+XUh9g6E="
            ]
        }
    )
    (result,) = verify(message, resolver)
    assert result.result == "pass" and result.domain == "test.ex" and result.selector == "sed"
    (tampered,) = verify(message.replace(b"content", b"contents"), resolver)
    assert tampered.result == "fail"
