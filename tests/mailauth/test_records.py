"""DNS record text for a mail domain (trimail.mailauth.records), parsed back with dnspython."""

from __future__ import annotations

import base64
import ipaddress
import re
from pathlib import Path

import dns.rdatatype
import dns.reversename
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from tests.mailauth.roundtrip import parse_zone, sign_and_verify, tampered_fails, txt_strings
from trimail.mailauth import (
    RecordError,
    check_selector,
    dkim_record_lines,
    dkim_txt,
    dns_records,
    load_private_key_pem,
    private_key_pem,
    split_txt,
)
from trimail.mailauth.records import mta_sts_id, mta_sts_policy, ptr_name

MAILAUTH = Path(__file__).resolve().parents[2] / "trimail" / "mailauth"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=2000))
def test_split_txt_joins_back_in_255_octet_strings(text: str) -> None:
    strings = split_txt(text)
    assert "".join(strings) == text
    assert strings and all(len(s.encode()) <= 255 for s in strings)
    assert all(s for s in strings) or text == ""


def test_split_txt_refuses_non_ascii() -> None:
    with pytest.raises(RecordError):
        split_txt("v=spf1 é")
    with pytest.raises(RecordError):
        split_txt("a\nb")


@pytest.mark.parametrize("good", ["mail", "s1", "2024-rsa", "a" * 63, "MAIL"])
def test_good_selectors(good: str) -> None:
    assert check_selector(good) == good.lower()


@pytest.mark.parametrize("bad", ["", "-x", "a" * 64, "a.b", "../x", "a/b", "a_b", "é", " mail"])
def test_bad_selectors(bad: str) -> None:
    with pytest.raises(RecordError, match="bad selector"):
        check_selector(bad)


def test_rsa_record_is_spki(rsa_key: rsa.RSAPrivateKey) -> None:
    text = dkim_txt(rsa_key.public_key())
    head, _, p = text.partition("p=")
    assert head == "v=DKIM1; k=rsa; "
    public = serialization.load_der_public_key(base64.b64decode(p))
    assert public.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]


def test_ed25519_record_is_raw_32_octets(ed_key: ed25519.Ed25519PrivateKey) -> None:
    text = dkim_txt(ed_key.public_key())
    head, _, p = text.partition("p=")
    assert head == "v=DKIM1; k=ed25519; "  # RFC 8463 §4.2
    raw = base64.b64decode(p)
    assert len(raw) == 32
    signature = ed_key.sign(b"x")
    ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(signature, b"x")


@pytest.mark.parametrize("bits", [1024, 2048, 4096])
def test_rsa_sign_verify_round_trip(bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    zone = parse_zone(
        "\n".join(dkim_record_lines("mail", "example.org", key.public_key())), "example.org."
    )
    strings = txt_strings(zone, "mail._domainkey.example.org.")
    assert all(len(s) <= 255 for s in strings)
    assert len(strings) == {1024: 2, 2048: 3, 4096: 4}[bits]  # tags, then p= in 255s
    record = b"".join(strings)
    assert record == dkim_txt(key.public_key()).encode()
    assert sign_and_verify(key, "mail", "example.org", record)
    assert tampered_fails(key, "mail", "example.org", record)


def test_ed25519_sign_verify_round_trip(ed_key: ed25519.Ed25519PrivateKey) -> None:
    pytest.importorskip("nacl", reason="dkimpy signs ed25519 with PyNaCl (dkimpy[ed25519])")
    zone = parse_zone(
        "\n".join(dkim_record_lines("ed", "example.org", ed_key.public_key())), "example.org."
    )
    record = b"".join(txt_strings(zone, "ed._domainkey.example.org."))
    assert sign_and_verify(ed_key, "ed", "example.org", record)
    assert tampered_fails(ed_key, "ed", "example.org", record)


def test_pem_round_trip(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey) -> None:
    assert private_key_pem(rsa_key).startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    assert private_key_pem(ed_key).startswith(b"-----BEGIN PRIVATE KEY-----\n")
    for key in (rsa_key, ed_key):
        again = load_private_key_pem(private_key_pem(key))
        assert dkim_txt(again.public_key()) == dkim_txt(key.public_key())


def test_pem_refuses_garbage_and_other_key_types() -> None:
    with pytest.raises(RecordError, match="PEM"):
        load_private_key_pem(b"not a key")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(RecordError, match="rsa or ed25519"):
        load_private_key_pem(ec_pem)


def test_ptr_names_match_dnspython() -> None:
    for text in ["192.0.2.1", "2001:db8::1"]:
        address = ipaddress.ip_address(text)
        assert ptr_name(address) == dns.reversename.from_address(text).to_text()
    assert ptr_name(ipaddress.ip_address("1.2.3.4")) == "4.3.2.1.in-addr.arpa."


def test_mta_sts_id_is_stable_and_follows_the_policy() -> None:
    policy = mta_sts_policy("mail.example.org")
    assert policy.startswith("version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\n")
    assert mta_sts_id(policy) == mta_sts_id(mta_sts_policy("mail.example.org"))
    assert mta_sts_id(policy) != mta_sts_id(mta_sts_policy("mx2.example.org"))
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", mta_sts_id(policy))  # RFC 8461 §3.1


def _only(zone: object, owner: str, rtype: str) -> list[str]:
    rdataset = zone.find_rdataset(owner, dns.rdatatype.from_text(rtype))  # type: ignore[attr-defined]
    return sorted(rdata.to_text() for rdata in rdataset)


def test_all_records_parse_as_a_zone(rsa_key: rsa.RSAPrivateKey) -> None:
    addresses = [ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("2001:db8::25")]
    text = dns_records("example.org", "mail.example.org", addresses, rsa_key.public_key())
    zone = parse_zone(text, "example.org.")
    host = "mail.example.org."
    assert _only(zone, host, "A") == ["192.0.2.7"]
    assert _only(zone, host, "AAAA") == ["2001:db8::25"]
    assert _only(zone, "example.org.", "MX") == [f"10 {host}"]
    assert _only(zone, "example.org.", "TXT") == ['"v=spf1 mx ~all"']
    dkim_record = b"".join(txt_strings(zone, "mail._domainkey.example.org."))
    assert dkim_record == dkim_txt(rsa_key.public_key()).encode()
    assert _only(zone, "_dmarc.example.org.", "TXT") == [
        '"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"'
    ]
    policy_id = mta_sts_id(mta_sts_policy("mail.example.org"))
    assert _only(zone, "_mta-sts.example.org.", "TXT") == [f'"v=STSv1; id={policy_id}"']
    assert "https://mta-sts.example.org/.well-known/mta-sts.txt" in text
    assert _only(zone, "_smtp._tls.example.org.", "TXT") == [
        '"v=TLSRPTv1; rua=mailto:postmaster@example.org"'
    ]
    for service, port in [
        ("_submission", 587),
        ("_submissions", 465),
        ("_imap", 143),
        ("_imaps", 993),
        ("_pop3s", 995),
    ]:
        (srv,) = _only(zone, f"{service}._tcp.example.org.", "SRV")
        assert srv.split()[2:] == [str(port), host]
    assert "; 7.2.0.192.in-addr.arpa. IN PTR mail.example.org." in text
    v6 = dns.reversename.from_address("2001:db8::25").to_text()
    assert f"; {v6} IN PTR mail.example.org." in text
    names = {name.to_text() for name in zone.nodes}
    assert names == {
        "example.org.",
        host,
        "mail._domainkey.example.org.",
        "_dmarc.example.org.",
        "_mta-sts.example.org.",
        "_smtp._tls.example.org.",
        "_submission._tcp.example.org.",
        "_submissions._tcp.example.org.",
        "_imap._tcp.example.org.",
        "_imaps._tcp.example.org.",
        "_pop3s._tcp.example.org.",
    }


def test_without_addresses_or_key_there_are_placeholders() -> None:
    text = dns_records("example.org", "mail.example.org")
    zone = parse_zone(text, "example.org.")
    assert zone.get_node("mail.example.org.") is None
    assert zone.get_node("mail._domainkey.example.org.") is None
    assert "; mail.example.org. IN A <this server's IPv4 address>" in text
    assert "trimail dkim generate example.org --selector mail" in text
    assert "--ip ADDRESS" in text


def test_mailauth_does_no_io() -> None:
    from tests.test_layering import FORBIDDEN, _imports

    forbidden = FORBIDDEN | {"os", "io", "pathlib", "shutil", "subprocess", "tempfile"}
    for path in MAILAUTH.rglob("*.py"):
        assert not (_imports(path) & forbidden), path
