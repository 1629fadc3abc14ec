"""Sign with dkimpy using a trimail key, verify with dkimpy against a printed record."""

from __future__ import annotations

import base64

import dkim
import dns.rdatatype
import dns.zone
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from trimail.mailauth import DkimPrivateKey, private_key_pem

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: DKIM round trip\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"\r\n"
    b"Hello.\r\n"
)
ZONE_HEAD = (
    "$TTL 3600\n"
    "@ IN SOA ns.invalid. hostmaster.invalid. 1 7200 900 1209600 300\n"
    "@ IN NS ns.invalid.\n"
)


def parse_zone(text: str, origin: str) -> dns.zone.Zone:
    """Load printed records as a zone of *origin* (an SOA and NS are added)."""
    return dns.zone.from_text(ZONE_HEAD + text, origin=origin, relativize=False)


def txt_strings(zone: dns.zone.Zone, owner: str) -> list[bytes]:
    """The <character-string>s of the single TXT record at *owner*."""
    rdataset = zone.find_rdataset(owner, dns.rdatatype.TXT)
    (rdata,) = list(rdataset)
    return list(rdata.strings)


def dkimpy_key(key: DkimPrivateKey) -> bytes:
    """*key* as dkimpy's ``privkey``: PKCS#1 PEM, or base64 of the Ed25519 seed."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)
    return private_key_pem(key)


def sign_and_verify(key: DkimPrivateKey, selector: str, domain: str, record: bytes) -> bool:
    """Sign MESSAGE as d=*domain* s=*selector*; verify it with *record* as the TXT answer."""
    algorithm = b"ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
    signature = dkim.sign(
        MESSAGE,
        selector.encode(),
        domain.encode(),
        dkimpy_key(key),
        signature_algorithm=algorithm,
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    asked: list[bytes] = []

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return record

    ok = dkim.verify(signature + MESSAGE, dnsfunc=dnsfunc)
    assert asked == [f"{selector}._domainkey.{domain}.".encode()]
    return bool(ok)


def tampered_fails(key: DkimPrivateKey, selector: str, domain: str, record: bytes) -> bool:
    """True if a changed body no longer verifies (the check is not vacuous)."""
    algorithm = b"ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"
    signature = dkim.sign(
        MESSAGE, selector.encode(), domain.encode(), dkimpy_key(key), signature_algorithm=algorithm
    )
    forged = signature + MESSAGE.replace(b"Hello.", b"Pay me.")
    return not dkim.verify(forged, dnsfunc=lambda name, timeout=5: record)
