"""A CA-issued certificate (trustme) from ``[tls] cert_file/key_file``, verified by real
clients with hostname checking: smtplib, poplib and imaplib over STARTTLS/STLS (RFC 3207,
RFC 2595) and implicit TLS (RFC 8314), and ``openssl s_client``.

The clients connect to 127.0.0.1 but verify the certificate as ``mail.example.test``
(the name the certificate is issued for), as a client that resolved that name would.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.integration.conftest import PASSWORD
from trimail.testing.process import ServerProcess, running_server

HOSTNAME = "mail.example.test"


class MailNameContext(ssl.SSLContext):
    """Verifies the server as `HOSTNAME` whatever address the client library dialled."""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["server_hostname"] = HOSTNAME
        return super().wrap_socket(sock, *args, **kwargs)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("server")
    cert = ca.issue_cert(HOSTNAME)
    cert_file, key_file = workdir / "mail.crt", workdir / "mail.key"
    for blob in cert.cert_chain_pems:  # leaf first, then the chain
        blob.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    with running_server(
        workdir,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=f'[tls]\ncert_file = "{cert_file}"\nkey_file = "{key_file}"\n',
    ) as srv:
        yield srv


def verifying(ca: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts only the trustme CA and checks `HOSTNAME`."""
    context = MailNameContext(ssl.PROTOCOL_TLS_CLIENT)
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    ca.configure_trust(context)
    return context


def assert_mail_name(sock: Any) -> None:
    cert = sock.getpeercert()
    assert ("DNS", HOSTNAME) in cert["subjectAltName"]
    assert sock.version() in ("TLSv1.2", "TLSv1.3")  # RFC 8314 §4.1


# --- Python's clients ------------------------------------------------------------------


def test_smtplib_submission_starttls(tls_server: ServerProcess, ca: trustme.CA) -> None:
    with smtplib.SMTP("127.0.0.1", tls_server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=verifying(ca))
        assert_mail_name(smtp.sock)
        smtp.login("alice@example.org", PASSWORD)


def test_smtplib_mx_starttls(tls_server: ServerProcess, ca: trustme.CA) -> None:
    with smtplib.SMTP("127.0.0.1", tls_server.smtp_port, timeout=10) as smtp:
        smtp.starttls(context=verifying(ca))
        assert_mail_name(smtp.sock)


def test_smtplib_submissions_implicit_tls(tls_server: ServerProcess, ca: trustme.CA) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", tls_server.submissions_port, context=verifying(ca), timeout=10
    ) as smtp:
        assert_mail_name(smtp.sock)
        smtp.login("alice@example.org", PASSWORD)


def test_poplib_stls_and_pop3s(tls_server: ServerProcess, ca: trustme.CA) -> None:
    pop = poplib.POP3("127.0.0.1", tls_server.pop3_port, timeout=10)
    pop.stls(context=verifying(ca))
    assert_mail_name(pop.sock)
    pop.user("alice@example.org")
    pop.pass_(PASSWORD)
    pop.quit()
    pop = poplib.POP3_SSL("127.0.0.1", tls_server.pop3s_port, context=verifying(ca), timeout=10)
    assert_mail_name(pop.sock)
    pop.user("alice@example.org")
    pop.pass_(PASSWORD)
    pop.quit()


def test_imaplib_starttls_and_imaps(tls_server: ServerProcess, ca: trustme.CA) -> None:
    imap = imaplib.IMAP4("127.0.0.1", tls_server.imap_port, timeout=10)
    imap.starttls(ssl_context=verifying(ca))
    assert_mail_name(imap.sock)
    imap.login("alice@example.org", PASSWORD)
    imap.logout()
    imap = imaplib.IMAP4_SSL("127.0.0.1", tls_server.imaps_port, ssl_context=verifying(ca))
    assert_mail_name(imap.sock)
    imap.login("alice@example.org", PASSWORD)
    imap.logout()


def test_verification_really_happens(tls_server: ServerProcess, ca: trustme.CA) -> None:
    # the right CA but the wrong name (the address dialled): refused
    by_address = ssl.create_default_context()
    ca.configure_trust(by_address)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"IP address mismatch|match"):
        imaplib.IMAP4_SSL("127.0.0.1", tls_server.imaps_port, ssl_context=by_address)
    # the right name but without the trustme CA: refused
    untrusted = MailNameContext(ssl.PROTOCOL_TLS_CLIENT)
    untrusted.load_default_certs()
    with pytest.raises(ssl.SSLCertVerificationError):
        poplib.POP3_SSL("127.0.0.1", tls_server.pop3s_port, context=untrusted, timeout=10)


# --- openssl s_client ------------------------------------------------------------------


def s_client(port: int, ca_file: Path, stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``openssl s_client`` verifying the chain and the name; -crlf: the protocols want
    CRLF; -ign_eof: read until the server closes after QUIT/LOGOUT."""
    return subprocess.run(
        [
            "openssl",
            "s_client",
            *extra,
            "-connect",
            f"127.0.0.1:{port}",
            "-CAfile",
            str(ca_file),
            "-verify_return_error",
            "-servername",
            HOSTNAME,
            "-verify_hostname",
            HOSTNAME,
            "-crlf",
            "-ign_eof",
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("listener", "starttls", "stdin", "answer"),
    [
        ("submission", "smtp", "QUIT\n", "221 2.0.0"),
        ("smtp", "smtp", "QUIT\n", "221 2.0.0"),
        ("pop3", "pop3", "QUIT\n", "+OK"),
        ("imap", "imap", "a LOGOUT\n", "* BYE"),
        ("submissions", None, "QUIT\n", "221 2.0.0"),
        ("pop3s", None, "QUIT\n", "+OK"),
        ("imaps", None, "a LOGOUT\n", "* BYE"),
    ],
)
def test_openssl_s_client(
    tls_server: ServerProcess,
    ca_file: Path,
    listener: str,
    starttls: str | None,
    stdin: str,
    answer: str,
) -> None:
    extra = ("-starttls", starttls) if starttls else ()
    done = s_client(tls_server.ports[listener], ca_file, stdin, *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verify return code: 0 (ok)" in done.stdout
    assert f"Verification: OK\nVerified peername: {HOSTNAME}" in done.stdout
    assert answer in done.stdout


@pytest.mark.parametrize("listener", ["imaps", "pop3s", "submissions"])
def test_tls_sessions_end_with_close_notify(
    tls_server: ServerProcess, ca_file: Path, listener: str
) -> None:
    stdin = "a LOGOUT\n" if listener == "imaps" else "QUIT\n"
    done = s_client(tls_server.ports[listener], ca_file, stdin)
    assert done.returncode == 0, done.stderr


def test_openssl_s_client_refuses_a_wrong_name(tls_server: ServerProcess, ca_file: Path) -> None:
    done = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{tls_server.imaps_port}",
            "-CAfile",
            str(ca_file),
            "-verify_return_error",
            "-verify_hostname",
            "other.example.test",
        ],
        input="a LOGOUT\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "hostname mismatch" in done.stdout + done.stderr
