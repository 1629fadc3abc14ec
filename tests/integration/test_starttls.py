"""STARTTLS on the MX listener (RFC 3207) with a self-signed certificate made at start."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import stored_messages
from trimail.testing.process import ServerProcess, run_cli, write_config

MESSAGE = b"Subject: over TLS\r\n\r\nsecret\r\n"


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    return context


def test_smtplib_starttls_delivers_with_esmtps(server: ServerProcess) -> None:
    cert = server.data_dir / "tls" / "self-signed.crt"
    assert (
        cert.exists() and (server.data_dir / "tls" / "self-signed.key").stat().st_mode & 0o077 == 0
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("c.example")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=client_context())
        assert code == 220
        client.ehlo("c.example")
        assert not client.has_extn("starttls")  # not offered twice
        assert client.sendmail("b@example.net", ["alice@example.org"], MESSAGE) == {}
    (stored,) = stored_messages(server, "alice@example.org")
    assert b" with ESMTPS id " in stored
    assert stored.endswith(MESSAGE)


def test_plaintext_after_starttls_is_discarded(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        raw.sendall(b"EHLO c.example\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        # the injected command rides in the same packet as STARTTLS (CVE-2011-0411)
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n")
        assert reader.readline().startswith(b"220 2.0.0")
        tls = client_context().wrap_socket(raw, server_hostname="mx.test.example")
        tls.sendall(b"MAIL FROM:<b@example.net>\r\n")
        reply = tls.recv(1024)
        # had the injected MAIL run, this would be 503 (nested MAIL) or a second 250;
        # after TLS the session starts over and MAIL needs EHLO first: 503
        assert reply.startswith(b"503"), reply
        tls.sendall(b"EHLO c.example\r\n")
        ehlo = b""
        while not ehlo.endswith(b"\r\n") or b"250 " not in ehlo:
            ehlo += tls.recv(4096)
        tls.sendall(b"QUIT\r\n")


def test_configured_certificate_errors_stop_start_up(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "t.toml",
        tmp_path / "data",
        top_extra=f'[tls]\ncert_file = "{tmp_path}/none.crt"\nkey_file = "{tmp_path}/none.key"\n',
    )
    done = run_cli(config, "serve")
    assert done.returncode == 1
    assert f"tls: {tmp_path}/none.crt: no such file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(
    subprocess.run(["which", "swaks"], capture_output=True).returncode != 0,
    reason="swaks not installed",
)
def test_swaks_tls(server: ServerProcess) -> None:
    done = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{server.smtp_port}",
            "-tls",
            "--from",
            "b@example.net",
            "--to",
            "alice@example.org",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (stored,) = stored_messages(server, "alice@example.org")
    assert b" with ESMTPS id " in stored


def test_pop3_stls_with_poplib_and_curl(server: ServerProcess) -> None:
    import poplib

    from tests.integration.conftest import PASSWORD

    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.sendmail("b@example.net", ["alice@example.org"], MESSAGE)
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    assert "STLS" in pop.capa()
    pop.stls(context=client_context())
    assert "STLS" not in pop.capa()
    pop.user("alice@example.org")
    pop.pass_(PASSWORD)
    assert pop.stat()[0] == 1
    pop.quit()
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "-k",
            f"pop3://127.0.0.1:{server.pop3_port}/1",
            "--user",
            f"alice@example.org:{PASSWORD}",
        ],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(MESSAGE)


def test_pop3s_implicit_tls(server: ServerProcess) -> None:
    import poplib

    from tests.integration.conftest import PASSWORD

    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.sendmail("b@example.net", ["alice@example.org"], MESSAGE)
    pop = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=client_context(), timeout=10)
    assert "STLS" not in pop.capa()  # TLS is on from the start
    pop.user("alice@example.org")
    pop.pass_(PASSWORD)
    assert pop.stat()[0] == 1
    _, lines, _ = pop.retr(1)
    assert b"\r\n".join(lines).endswith(MESSAGE.rstrip(b"\r\n"))
    pop.quit()
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "-k",
            f"pop3s://127.0.0.1:{server.pop3s_port}/",
            "--user",
            f"alice@example.org:{PASSWORD}",
        ],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"1 ")
    with socket.create_connection(("127.0.0.1", server.pop3s_port), timeout=10) as raw:
        raw.sendall(b"USER alice@example.org\r\n")  # cleartext on the TLS port
        raw.settimeout(5)
        try:
            data = raw.recv(1024)
        except (TimeoutError, ConnectionResetError):
            data = b""
        assert b"+OK" not in data
    assert "Traceback" not in server.log_text()


def test_sighup_reloads_the_certificate_without_dropping_sessions(server: ServerProcess) -> None:
    import datetime
    import poplib
    import time

    from tests.integration.conftest import PASSWORD
    from trimail.server.tls import write_self_signed

    address = ("127.0.0.1", server.pop3s_port)
    before = ssl.get_server_certificate(address)
    open_session = poplib.POP3_SSL(*address, context=client_context(), timeout=10)
    open_session.user("alice@example.org")
    open_session.pass_(PASSWORD)
    tls_dir = server.data_dir / "tls"
    write_self_signed(
        "renewed.example",
        tls_dir / "self-signed.crt",
        tls_dir / "self-signed.key",
        datetime.datetime.now(datetime.UTC),
    )
    server.process.send_signal(1)  # SIGHUP
    deadline = time.monotonic() + 10
    while ssl.get_server_certificate(address) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ssl.get_server_certificate(address) != before
    assert open_session.stat()[0] == 0  # the session from before goes on
    open_session.quit()
    assert server.log_text().count("TLS certificate reloaded") >= 1
