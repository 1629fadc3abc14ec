"""Submission (RFC 6409) on 587-style STARTTLS and 465-style implicit TLS listeners."""

from __future__ import annotations

import smtplib
import ssl
import subprocess

import pytest

from tests.integration.conftest import PASSWORD, stored_messages
from trimail.testing.process import ServerProcess

MESSAGE = b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_starttls_auth_and_local_delivery(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as client:
        client.ehlo("laptop.example")
        assert client.has_extn("starttls")
        code, _ = client.mail("alice@example.org")
        assert code == 530  # AUTH first (RFC 6409 §4.3)
        client.rset()
        client.starttls(context=unverified())
        client.ehlo("laptop.example")
        assert client.esmtp_features["auth"].split() == ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice@example.org", "wrong password")
        client.login("alice@example.org", PASSWORD)
        assert client.sendmail("alice@example.org", ["bob@example.org"], MESSAGE) == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("bob@example.org", ["bob@example.org"], MESSAGE)
        assert refused.value.smtp_code == 553
        client.rset()
        client.mail("alice@example.org")
        code, _text = client.rcpt("someone@elsewhere.example")
        assert code == 250  # authenticated: relayed through the outbound queue
        client.rset()
    (stored,) = stored_messages(server, "bob@example.org")
    assert b" with ESMTPSA id " in stored
    assert b"\r\nMessage-ID: <" in stored and b"\r\nDate: " in stored  # RFC 6409 §8
    assert stored.endswith(MESSAGE)


def test_implicit_tls_with_auth_login_and_alias_sender(server: ServerProcess) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=unverified(), timeout=10
    ) as client:
        client.ehlo("laptop.example")
        assert not client.has_extn("starttls")
        client.user, client.password = "alice@example.org", PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235
        message = b"Message-ID: <x@y>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\nhi\r\n"
        # team@ is an alias that also reaches bob: not alice's own address
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("team@example.org", ["bob@example.org"], message)
        client.rset()
        # postmaster@ is an alias of alice only: hers to send as
        assert client.sendmail("postmaster@example.org", ["bob@example.org"], message) == {}
    (stored,) = stored_messages(server, "bob@example.org")
    assert stored.count(b"Message-ID:") == 1 and stored.count(b"Date:") == 1


def test_swaks_tls_auth(server: ServerProcess) -> None:
    done = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{server.submission_port}",
            "-tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "alice@example.org",
            "--auth-password",
            PASSWORD,
            "--from",
            "alice@example.org",
            "--to",
            "bob@example.org",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(stored_messages(server, "bob@example.org")) == 1
    assert PASSWORD not in server.log_text()


def test_from_header_must_be_the_users(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as client:
        client.starttls(context=unverified())
        client.login("alice@example.org", PASSWORD)
        forged = b"From: Bob <bob@example.org>\r\nSubject: not me\r\n\r\nx\r\n"
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("alice@example.org", ["bob@example.org"], forged)
        assert refused.value.smtp_code == 553
        mine = b"From: The Postmaster <postmaster@example.org>\r\nSubject: ok\r\n\r\nx\r\n"
        assert client.sendmail("alice@example.org", ["bob@example.org"], mine) == {}
    (stored,) = stored_messages(server, "bob@example.org")
    assert stored.endswith(b"Subject: ok\r\n\r\nx\r\n")


def test_hourly_limit_per_user(tmp_path) -> None:
    from trimail.testing.process import running_server

    with (
        running_server(
            tmp_path,
            domains=["example.org"],
            users={"alice@example.org": PASSWORD, "bob@example.org": PASSWORD},
            top_extra="workers = 1\n",
            submission_extra="max_messages_per_hour = 2\n",
        ) as srv,
        smtplib.SMTP("127.0.0.1", srv.submission_port, timeout=10) as client,
    ):
        client.login("alice@example.org", PASSWORD)  # loopback: allowed without TLS
        for _ in range(2):
            assert client.sendmail("alice@example.org", ["bob@example.org"], MESSAGE) == {}
        code, _ = client.mail("alice@example.org")
        assert code == 450


@pytest.mark.parametrize(
    "recipient",
    [
        '"victim@elsewhere.example"@example.org',
        "victim%elsewhere.example@example.org",
        "@example.org:victim@elsewhere.example",
        "victim@[192.0.2.1]",
        "victim@elsewhere.example",
        "victim!elsewhere.example@example.org",
    ],
)
def test_no_relay_for_any_recipient_form(server: ServerProcess, recipient: str) -> None:
    """The MX (unauthenticated) relays nothing; submission (authenticated) relays only
    to the domain after the last "@" (a source route is ignored, RFC 5321 §4.1.1.3),
    never through local-part tricks, and not to address literals."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("c.example")
        client.mail("b@example.net")
        code, _ = client.rcpt(f"<{recipient}>")
        assert code >= 500, recipient
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as client:
        client.login("alice@example.org", PASSWORD)
        client.mail("alice@example.org")
        code, _ = client.rcpt(f"<{recipient}>")
        if recipient.endswith("@elsewhere.example"):
            assert code == 250, recipient  # queued for elsewhere.example itself
        else:
            assert code >= 500, recipient
    assert stored_messages(server, "alice@example.org") == []
