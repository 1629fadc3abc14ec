"""Real SMTP clients against a real ``trimail serve`` process."""

from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from tests.integration.conftest import stored_messages
from trimail.testing.process import ServerProcess

MESSAGE = (
    b"From: Bob <bob@example.net>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <1@example.net>\r\n"
    b"\r\n"
    b"Hi Alice,\r\n"
    b".leading dot line\r\n"
    b"\r\n"
    b"bye\r\n"
)


def split_trace(stored: bytes) -> tuple[list[bytes], bytes]:
    """(trace header lines incl. folded continuations, the rest) of a stored message."""
    lines = stored.split(b"\r\n")
    assert lines[0].startswith(b"Return-Path: <")
    i = 1
    assert lines[i].startswith(b"Received: from ")
    i += 1
    while lines[i].startswith(b"\t"):
        i += 1
    return lines[:i], b"\r\n".join(lines[i:])


def test_smtplib_message_is_stored_byte_for_byte(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        code, _ = client.ehlo("client.example.net")
        assert code == 250
        for keyword in (
            "pipelining",
            "size",
            "8bitmime",
            "smtputf8",
            "chunking",
            "enhancedstatuscodes",
        ):
            assert client.has_extn(keyword), keyword
        refused = client.sendmail("bob@example.net", ["alice@example.org"], MESSAGE)
        assert refused == {}
    (stored,) = stored_messages(server, "alice@example.org")
    trace, rest = split_trace(stored)
    assert rest == MESSAGE
    assert trace[0] == b"Return-Path: <bob@example.net>"
    received = b" ".join(trace[1:])
    assert b"from client.example.net ([127.0.0.1])" in received
    assert b"by mx.test.example (trimail) with ESMTP id" in received
    assert b"for <alice@example.org>" in received


def test_null_reverse_path_postmaster_and_aliases(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("client.example.net")
        assert client.sendmail("<>", ["<postmaster>"], MESSAGE) == {}
        assert client.sendmail("x@example.net", ["team@example.org"], MESSAGE) == {}
        assert client.sendmail("x@example.net", ["Bob+Lists@EXAMPLE.org"], MESSAGE) == {}
        assert client.sendmail("x@example.net", ["anything@catchall.test"], MESSAGE) == {}
    alice = stored_messages(server, "alice@example.org")
    bob = stored_messages(server, "bob@example.org")
    assert len(alice) == 2 and len(bob) == 2
    assert alice[0].startswith(b"Return-Path: <>\r\n")
    assert len(stored_messages(server, "carol@catchall.test")) == 1


def test_unknown_user_and_relay_are_refused(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("client.example.net")
        client.mail("bob@example.net")
        code, text = client.rcpt("nobody@example.org")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = client.rcpt("someone@elsewhere.example")
        assert (code, text[:5]) == (554, b"5.7.1")
        code, _ = client.docmd("DATA")
        assert code == 554  # no valid recipients (RFC 5321 §3.3)
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("bob@example.net", ["victim@gmail.example"], MESSAGE)
    assert stored_messages(server, "alice@example.org") == []


def test_size_limit_is_enforced(tmp_path) -> None:
    from trimail.testing.process import running_server

    with (
        running_server(
            tmp_path,
            domains=["example.org"],
            users={"alice@example.org": "12345678pw"},
            smtp_extra="max_message_bytes = 2000\n",
        ) as srv,
        smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as client,
    ):
        client.ehlo("c.example")
        assert client.esmtp_features["size"] == "2000"
        code, _ = client.mail("b@example.net", ["SIZE=5000"])
        assert code == 552
        client.rset()
        big = MESSAGE + (b"x" * 900 + b"\r\n") * 3
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib sends SIZE=
            client.sendmail("b@example.net", ["alice@example.org"], big)
        assert refused.value.smtp_code == 552
        client.rset()
        client.mail("b@example.net")  # no SIZE=: the real size is checked
        client.rcpt("alice@example.org")
        code, text = client.data(big)
        assert (code, text[:5]) == (552, b"5.3.4")
        assert client.sendmail("b@example.net", ["alice@example.org"], MESSAGE) == {}
        assert len(stored_messages(srv, "alice@example.org")) == 1


def _raw_session(port: int, payload: bytes, wait: float = 1.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(payload)
        sock.settimeout(wait)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_pipelined_transaction_in_one_write(server: ServerProcess) -> None:
    payload = (
        b"EHLO c.example\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        b"RCPT TO:<nobody@example.org>\r\nDATA\r\n"
        + MESSAGE.replace(b"\r\n.", b"\r\n..")  # dot-stuffing, RFC 5321 §4.5.2
        + b".\r\nQUIT\r\n"
    )
    replies = _raw_session(server.smtp_port, payload).split(b"\r\n")
    codes = [line[:3] for line in replies if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"550", b"354", b"250", b"221"]
    (stored,) = stored_messages(server, "alice@example.org")
    assert split_trace(stored)[1] == MESSAGE


def test_smtp_smuggling_is_refused_and_nothing_smuggled(server: ServerProcess) -> None:
    smuggled = (
        b"EHLO c.example\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
        b"Subject: one\r\n\r\nfirst\r\n"
        b"\n.\n"  # bare-LF end-of-data: must not end the data
        b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
        b"Subject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n"
    )
    reply = _raw_session(server.smtp_port, smuggled)
    assert b"\r\n5" in reply  # the message with a bare LF is refused with 5xx
    assert stored_messages(server, "alice@example.org") == []
    assert stored_messages(server, "bob@example.org") == []


def test_server_survives_bad_input_and_loses_nothing(server: ServerProcess) -> None:
    garbage = [
        b"\x00\xff\xfe" * 1000 + b"\r\n",
        b"A" * 100_000,
        b"MAIL FROM:<" + b"x" * 5000 + b">\r\n",
        b"EHLO \xc3\x28\r\nMAIL FROM:<\xff@x>\r\nRCPT TO:<>\r\nBDAT x\r\n",
        b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@example.org>\r\nBDAT 5\r\nab",
        b"\r\n" * 50,
    ]
    for payload in garbage:
        _raw_session(server.smtp_port, payload, wait=0.3)
    assert server.process.poll() is None
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.sendmail("bob@example.net", ["alice@example.org"], MESSAGE) == {}
    stored = stored_messages(server, "alice@example.org")
    assert [split_trace(m)[1] for m in stored] == [MESSAGE]
    assert "Traceback" not in server.log_text()


def test_bdat_chunks(server: ServerProcess) -> None:
    half = len(MESSAGE) // 2
    payload = (
        b"EHLO c.example\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        + f"BDAT {half}\r\n".encode()
        + MESSAGE[:half]
        + f"BDAT {len(MESSAGE) - half} LAST\r\n".encode()
        + MESSAGE[half:]
        + b"QUIT\r\n"
    )
    replies = _raw_session(server.smtp_port, payload)
    codes = [line[:3] for line in replies.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"250", b"250", b"221"]
    (stored,) = stored_messages(server, "alice@example.org")
    assert split_trace(stored)[1] == MESSAGE


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
def test_swaks_with_pipelining(server: ServerProcess) -> None:
    done = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{server.smtp_port}",
            "--pipeline",
            "--from",
            "bob@example.net",
            "--to",
            "alice@example.org,bob@example.org",
            "--header",
            "Subject: swaks test",
            "--body",
            "hello from swaks",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for address in ("alice@example.org", "bob@example.org"):
        (stored,) = stored_messages(server, address)
        assert b"Subject: swaks test" in stored
        assert b"hello from swaks" in stored


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_smtp(server: ServerProcess, tmp_path) -> None:
    mail = tmp_path / "mail.txt"
    mail.write_bytes(MESSAGE)
    done = subprocess.run(
        [
            "curl",
            "-sS",
            f"smtp://127.0.0.1:{server.smtp_port}/client.example",
            "--mail-from",
            "bob@example.net",
            "--mail-rcpt",
            "alice@example.org",
            "--upload-file",
            str(mail),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (stored,) = stored_messages(server, "alice@example.org")
    assert split_trace(stored)[1] == MESSAGE


def test_sigterm_sends_421_to_idle_sessions_and_exits(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        assert sock.recv(1024).startswith(b"220 ")
        sock.sendall(b"EHLO c.example\r\n")
        time.sleep(0.3)
        sock.recv(4096)
        assert server.stop() == 0
        assert sock.recv(1024).startswith(b"421 4.3.2")


def test_connection_limit_per_ip(tmp_path) -> None:
    from trimail.testing.process import running_server

    with running_server(
        tmp_path,
        domains=["example.org"],
        smtp_extra="max_connections_per_ip = 2\n",
        top_extra="workers = 1\n",  # exact counts; across workers see test_process_model
    ) as srv:
        socks = [
            socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10) for _ in range(3)
        ]
        try:
            greetings = [s.recv(1024) for s in socks]
            assert [g[:3] for g in greetings] == [b"220", b"220", b"421"]
        finally:
            for s in socks:
                s.close()


def test_idle_client_times_out_with_421(tmp_path) -> None:
    from trimail.testing.process import running_server

    with (
        running_server(
            tmp_path, domains=["example.org"], smtp_extra="command_timeout_seconds = 0.5\n"
        ) as srv,
        socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10) as sock,
    ):
        assert sock.recv(1024).startswith(b"220 ")
        time.sleep(1.0)
        assert sock.recv(1024).startswith(b"421 4.4.2")
        assert sock.recv(1024) == b""  # closed


def test_shutdown_lets_a_transaction_in_flight_finish(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(
            b"HELO c.example\r\nMAIL FROM:<b@example.net>\r\n"
            b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
        )
        for expected in (b"250", b"250", b"250", b"354"):
            assert reader.readline()[:3] == expected
        stuffed = MESSAGE.replace(b"\r\n.", b"\r\n..")  # RFC 5321 §4.5.2
        sock.sendall(stuffed[:40])
        server.process.send_signal(15)  # SIGTERM while the message is half sent
        time.sleep(0.5)
        sock.sendall(stuffed[40:] + b".\r\n")
        assert reader.readline()[:4] == b"250 "
        sock.sendall(b"MAIL FROM:<b@example.net>\r\n")
        assert reader.readline()[:9] == b"421 4.3.2"
    assert server.process.wait(10) == 0, server.log_text()
    (stored,) = stored_messages(server, "alice@example.org")
    assert split_trace(stored)[1] == MESSAGE


def test_smtputf8_addresses_need_the_extension(server: ServerProcess) -> None:
    raw = _raw_session(server.smtp_port, "EHLO c\r\nMAIL FROM:<jöran@exämple.net>\r\n".encode())
    assert raw.split(b"\r\n")[-2].startswith(b"553 5.6.7")  # UTF-8 without SMTPUTF8
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("client.example")
        refused = client.sendmail(
            "jöran@exämple.net",
            ["alice@example.org"],
            "Subject: grüße\r\n\r\nhéllo\r\n".encode(),
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
        assert refused == {}
    (stored,) = stored_messages(server, "alice@example.org")
    assert stored.startswith("Return-Path: <jöran@exämple.net>\r\n".encode())
    assert b" with UTF8SMTP id " in stored
    assert stored.endswith("Subject: grüße\r\n\r\nhéllo\r\n".encode())
