"""SCRAM-SHA-256 (RFC 5802, RFC 7677) end to end against ``trimail serve``: SMTP AUTH on
submission (RFC 4954), POP3 AUTH (RFC 5034), IMAP AUTHENTICATE with and without SASL-IR
(RFC 4959). The client side is `tests.sasl.scram_client`, written from the RFC.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD, stored_messages
from tests.sasl.scram_client import ScramClient
from trimail.testing.process import ServerProcess, running_server

MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: scram\r\n\r\nhi\r\n"


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    return context


def mechanism(client: ScramClient) -> Callable[[bytes | None], bytes]:
    """A SASL callback (imaplib style: bytes in, bytes out) that runs *client*."""
    steps = iter([lambda _: client.first(), client.final, lambda last: verified(client, last)])
    return lambda challenge: next(steps)(challenge or b"")


def verified(client: ScramClient, server_final: bytes) -> bytes:
    assert client.verify(server_final), server_final  # the server knew the keys
    return b""


# --- SMTP submission -----------------------------------------------------------------


def smtp_auth(smtp: smtplib.SMTP, client: ScramClient) -> tuple[int, bytes]:
    step = mechanism(client)
    # smtplib calls the object with no argument for the initial response
    return smtp.auth(
        "SCRAM-SHA-256",
        lambda challenge=None: step(challenge).decode(),
        initial_response_ok=True,
    )


def test_submission_starttls_scram_then_send(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=unverified())
        smtp.ehlo("laptop.example")
        assert "SCRAM-SHA-256" in smtp.esmtp_features["auth"].split()
        assert smtp_auth(smtp, ScramClient("alice@example.org", PASSWORD))[0] == 235
        assert smtp.sendmail("alice@example.org", ["bob@example.org"], MESSAGE) == {}
    (stored,) = stored_messages(server, "bob@example.org")
    assert b" with ESMTPSA id " in stored


def test_submission_scram_without_initial_response_and_wrong_password(
    server: ServerProcess,
) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=unverified(), timeout=10
    ) as smtp:
        smtp.ehlo("laptop.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp_auth(smtp, ScramClient("alice@example.org", "wrong password"))
        assert failed.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPAuthenticationError) as unknown:
            smtp_auth(smtp, ScramClient("nobody@example.org", PASSWORD))
        assert unknown.value.smtp_code == 535
        code, _ = smtp.mail("alice@example.org")
        assert code == 530  # still not authenticated
        smtp.rset()
        step = mechanism(ScramClient("alice@example.org", PASSWORD))
        code, _ = smtp.auth(
            "SCRAM-SHA-256",
            lambda challenge=None: step(challenge).decode(),
            initial_response_ok=False,  # AUTH SCRAM-SHA-256, then an empty 334
        )
        assert code == 235
    assert "Traceback" not in server.log_text()
    assert PASSWORD not in server.log_text()


# --- POP3 ----------------------------------------------------------------------------


def pop3_scram(pop: poplib.POP3, client: ScramClient, *, initial: bool = True) -> bytes:
    """AUTH SCRAM-SHA-256 over poplib's line primitives; returns the final response."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    def challenge(response: bytes) -> bytes:
        assert response.startswith(b"+ "), response
        return base64.b64decode(response[2:])

    if initial:
        response = pop._shortcmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
    else:
        assert pop._shortcmd("AUTH SCRAM-SHA-256") == b"+ "
        response = pop._shortcmd(b64(client.first()))
    server_final = challenge(pop._shortcmd(b64(client.final(challenge(response)))))
    assert client.verify(server_final)
    return pop._shortcmd("")


def test_pop3_scram(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("b@example.net", ["alice@example.org"], MESSAGE)
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    assert "SCRAM-SHA-256" in pop.capa()["SASL"]
    pop.stls(context=unverified())
    assert pop3_scram(pop, ScramClient("alice@example.org", PASSWORD)).startswith(b"+OK")
    assert pop.stat()[0] == 1
    pop.quit()
    # loopback counts as safe, so the cleartext listener takes it too; no initial response
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    pop3_scram(pop, ScramClient("alice@example.org", PASSWORD), initial=False)
    pop.quit()


def test_pop3_scram_wrong_password(server: ServerProcess) -> None:
    pop = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=unverified(), timeout=10)
    assert "SCRAM-SHA-256" in pop.capa()["SASL"]
    client = ScramClient("alice@example.org", "wrong password")
    response = pop._shortcmd(f"AUTH SCRAM-SHA-256 {base64.b64encode(client.first()).decode()}")
    final = base64.b64encode(client.final(base64.b64decode(response[2:]))).decode()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop._shortcmd(final)
    with pytest.raises(poplib.error_proto):
        pop.stat()  # not logged in
    pop.quit()


# --- IMAP ----------------------------------------------------------------------------


def test_imap_authenticate_scram(server: ServerProcess) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    imap.starttls(ssl_context=unverified())
    assert "AUTH=SCRAM-SHA-256" in imap.capabilities
    client = ScramClient("alice@example.org", PASSWORD)
    status, _ = imap.authenticate("SCRAM-SHA-256", mechanism(client))
    assert status == "OK" and imap.state == "AUTH"
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()


def test_imap_authenticate_scram_wrong_password(server: ServerProcess) -> None:
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=unverified())
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap.authenticate("SCRAM-SHA-256", mechanism(ScramClient("alice@example.org", "nope")))
    assert imap.state == "NONAUTH"
    imap.logout()


def test_imap_scram_with_sasl_ir(server: ServerProcess) -> None:
    """RFC 4959: the client-first-message on the AUTHENTICATE line (raw socket)."""
    client = ScramClient("bob@example.org", PASSWORD)
    with socket.create_connection(("127.0.0.1", server.imap_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"* OK")
        first = base64.b64encode(client.first())
        raw.sendall(b"a AUTHENTICATE SCRAM-SHA-256 " + first + b"\r\n")
        line = reader.readline()
        assert line.startswith(b"+ "), line
        raw.sendall(base64.b64encode(client.final(base64.b64decode(line[2:]))) + b"\r\n")
        line = reader.readline()
        assert line.startswith(b"+ "), line
        assert client.verify(base64.b64decode(line[2:]))
        raw.sendall(b"\r\n")
        line = reader.readline()
        assert line.startswith(b"a OK [CAPABILITY "), line
        raw.sendall(b"b LOGOUT\r\n")
        assert reader.readline().startswith(b"* BYE")


# --- a backend without SCRAM keys ----------------------------------------------------


def test_plugin_backend_without_scram_is_password_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": "the database password"},
        top_extra='plugins = ["tests.plugins.auth_plugin"]\n',
    ) as srv:
        with smtplib.SMTP("127.0.0.1", srv.submission_port, timeout=10) as smtp:
            smtp.ehlo("laptop.example")
            assert smtp.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        pop = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
        assert pop.capa()["SASL"] == ["PLAIN"]
        pop.quit()
        imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=10)
        auth = [c for c in imap.capabilities if c.startswith("AUTH=")]
        assert auth == ["AUTH=PLAIN"]
        imap.logout()
