"""SPF, DKIM and DMARC on a running server: incoming mail judged with a real DNS server
(NSD on loopback), Authentication-Results written, DMARC policy applied, forged
results removed; outgoing mail DKIM-signed with the key from `trimail dkim generate`."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.integration.conftest import PASSWORD, stored_messages
from tests.integration.smtp_sink import SmtpSink, running_sink
from tests.integration.test_outbound import free_port, sender_config, submit, wait_for
from trimail.mailauth.dkim import sign, verify
from trimail.mailauth.records import dkim_txt, load_private_key_pem
from trimail.mailauth.resolver import StaticResolver
from trimail.testing.dns_server import LoopbackDns
from trimail.testing.process import ServerProcess, run_cli, running_server

GOOD_KEY = ed25519.Ed25519PrivateKey.generate()
DNS_ZONES = {
    "example": f"""
good                TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.good         TXT "v=DMARC1; p=reject"
mail._domainkey.good TXT "{dkim_txt(GOOD_KEY.public_key())}"
spoof               TXT "v=spf1 -all"
_dmarc.spoof        TXT "v=DMARC1; p=reject"
quar                TXT "v=spf1 -all"
_dmarc.quar         TXT "v=DMARC1; p=quarantine"
plain               A   127.0.0.1
xn--bcher-kva       TXT "v=spf1 -all"
_dmarc.xn--bcher-kva TXT "v=DMARC1; p=reject"
sink                MX 10 mx.sink
mx.sink             A  127.0.0.3
""",
}
AUTHSERV = "mx.test.example"


def message(from_domain: str, extra: bytes = b"") -> bytes:
    return (
        f"From: Someone <someone@{from_domain}>\r\nTo: alice@example.org\r\n"
        f"Subject: from {from_domain}\r\nMessage-ID: <m@{from_domain}>\r\n".encode()
        + extra
        + b"\r\nHello.\r\n"
    )


@pytest.fixture
def server(tmp_path: Path, loopback_dns: LoopbackDns) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=f'workers = 1\n[dns]\nnameservers = ["{loopback_dns.nameserver}"]\n',
    ) as srv:
        yield srv


def send(srv: ServerProcess, sender: str, content: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as client:
        client.ehlo("client.plain.example")
        client.sendmail(sender, ["alice@example.org"], content)


def results_of(raw: bytes) -> list[str]:
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [" ".join(v.split()) for v in parsed.get_all("Authentication-Results") or []]


def test_aligned_spf_and_dkim_pass(server: ServerProcess) -> None:
    content = message("good.example")
    signed = sign(content, domain="good.example", selector="mail", key=GOOD_KEY)
    send(server, "someone@good.example", signed.encode() + b"\r\n" + content)
    (stored,) = stored_messages(server, "alice@example.org")
    (header,) = results_of(stored)
    assert header.startswith(f"{AUTHSERV};")
    assert "spf=pass smtp.mailfrom=good.example" in header
    assert "dkim=pass header.d=good.example" in header
    assert "dmarc=pass header.from=good.example" in header


def test_dmarc_reject_refuses_at_end_of_data(server: ServerProcess) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, "someone@spoof.example", message("spoof.example"))
    assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error
    assert b"DMARC" in refused.value.smtp_error
    assert stored_messages(server, "alice@example.org") == []


def test_dmarc_quarantine_files_into_junk(server: ServerProcess) -> None:
    send(server, "someone@quar.example", message("quar.example"))
    assert stored_messages(server, "alice@example.org") == []
    (junk,) = stored_messages(server, "alice@example.org", "Junk")
    (header,) = results_of(junk)
    assert "spf=fail" in header and "dmarc=fail" in header and "dkim=none" in header


def test_no_records_deliver_and_forged_results_are_removed(server: ServerProcess) -> None:
    forged = (
        f"Authentication-Results: {AUTHSERV}; spf=pass smtp.mailfrom=plain.example;\r\n"
        "\tdkim=pass header.d=plain.example\r\n"
        "Authentication-Results: other.example; spf=none\r\n"
    ).encode()
    send(server, "someone@plain.example", message("plain.example", forged))
    (stored,) = stored_messages(server, "alice@example.org")
    headers = results_of(stored)
    assert len(headers) == 2  # ours (new) and the other host's; the forged one is gone
    ours = [h for h in headers if h.startswith(f"{AUTHSERV};")]
    assert len(ours) == 1 and "spf=none" in ours[0] and "dmarc=none" in ours[0]
    assert "other.example; spf=none" in headers
    assert b"Hello.\r\n" in stored


def test_outgoing_mail_is_dkim_signed(tmp_path: Path, loopback_dns: LoopbackDns) -> None:
    port = free_port()
    sink = SmtpSink()
    with (
        running_sink(sink, "127.0.0.3", port),
        running_server(
            tmp_path / "sender",
            domains=["example.org"],
            users={"alice@example.org": PASSWORD},
            top_extra=sender_config(loopback_dns, port),
        ) as srv,
    ):
        generated = run_cli(srv.config_path, "dkim", "generate", "example.org")
        assert generated.returncode == 0, generated.stderr
        submit(srv, ["bob@sink.example"])
        (received,) = wait_for(lambda: sink.received, what="delivery")
        assert received.content.startswith(b"DKIM-Signature: ")
        key = load_private_key_pem(
            (srv.data_dir / "dkim" / "example.org" / "mail.key").read_bytes()
        )
        resolver = StaticResolver({"mail._domainkey.example.org": [dkim_txt(key.public_key())]})
        (result,) = verify(received.content, resolver)
        assert result.result == "pass" and result.domain == "example.org"


PADDING = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 70) for n in range(1200))  # ~100 KB


@pytest.mark.parametrize(
    ("name", "content", "smtputf8"),
    [
        # a From: after 64 KiB of header fields is still found (hostile tester)
        ("long header", PADDING + message("spoof.example"), False),
        # a second From: domain: the strictest policy applies (RFC 7489 §6.6.1)
        ("two From", b"From: b@plain.example\r\n" + message("spoof.example"), False),
        # a U-label From: domain is looked up as its A-label
        ("IDN From", message("bücher.example"), True),
    ],
)
def test_dmarc_reject_cannot_be_dodged(
    server: ServerProcess, name: str, content: bytes, smtputf8: bool
) -> None:
    with (
        smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as client,
        pytest.raises(smtplib.SMTPDataError) as refused,
    ):
        client.ehlo("client.plain.example")
        options = ["SMTPUTF8"] if smtputf8 else []
        client.sendmail("x@plain.example", ["alice@example.org"], content, options)
    assert refused.value.smtp_code == 550, name
    assert stored_messages(server, "alice@example.org") == []


def test_forged_results_after_a_long_header_are_removed(server: ServerProcess) -> None:
    forged = f"Authentication-Results: {AUTHSERV}; dkim=pass\r\n".encode()
    send(server, "someone@plain.example", PADDING + forged + message("plain.example"))
    (stored,) = stored_messages(server, "alice@example.org")
    assert stored.count(f"Authentication-Results: {AUTHSERV};".encode()) == 1
    assert b"dkim=pass" not in stored
