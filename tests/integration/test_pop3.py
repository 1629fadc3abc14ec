"""POP3 against a real ``trimail serve``: poplib, curl and fetchmail."""

from __future__ import annotations

import poplib
import shutil
import smtplib
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD, stored_messages
from trimail.testing.process import ServerProcess


def deliver(server: ServerProcess, *subjects: str) -> list[bytes]:
    sent = []
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        for subject in subjects:
            message = f"Subject: {subject}\r\n\r\nHello\r\n.dot line\r\n".encode()
            client.sendmail("b@example.net", ["alice@example.org"], message)
            sent.append(message)
    return sent


def seen_flags(server: ServerProcess) -> list[bool]:
    from trimail.storage.plugin import open_default_store
    from trimail.users.db import UserDatabase

    users = UserDatabase(server.data_dir / "users.sqlite3")
    account = {u.address: u.account_id for u in users.users()}["alice@example.org"]
    users.close()
    store = open_default_store(server.data_dir / "accounts")
    try:
        return ["\\Seen" in m.flags for m in store.list_messages(account, "INBOX")]
    finally:
        store.close()


def pop(server: ServerProcess) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    client.user("alice@example.org")
    client.pass_(PASSWORD)
    return client


def test_poplib_list_retr_uidl_top_dele(server: ServerProcess) -> None:
    sent = deliver(server, "one", "two", "three")
    stored = stored_messages(server, "alice@example.org")
    client = pop(server)
    count, octets = client.stat()
    assert (count, octets) == (3, sum(map(len, stored)))
    _, listing, _ = client.list()
    assert [int(line.split()[1]) for line in listing] == [len(m) for m in stored]
    _, lines, _ = client.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == stored[1]  # poplib unstuffs ".." lines
    assert stored[1].endswith(sent[1])
    assert seen_flags(server) == [False, True, False]  # RETR sets \Seen; TOP will not
    _, top, _ = client.top(1, 0)
    assert top[-1] == b"" and b"Subject: one" in top
    assert seen_flags(server) == [False, True, False]
    _, uidls, _ = client.uidl()
    uids = [line.split()[1] for line in uidls]
    assert len(set(uids)) == 3
    client.dele(1)
    with pytest.raises(poplib.error_proto):
        client.retr(1)
    assert client.stat()[0] == 2
    client.quit()
    remaining = [m for m in stored_messages(server, "alice@example.org")]
    assert remaining == stored[1:]
    again = pop(server)  # UIDLs are stable across sessions
    assert [line.split()[1] for line in again.uidl()[1]] == uids[1:]
    again.quit()


def test_dropped_connection_deletes_nothing_and_lock_is_exclusive(server: ServerProcess) -> None:
    deliver(server, "keep")
    first = pop(server)
    with pytest.raises(poplib.error_proto, match=r"IN-USE"):
        pop(server)
    first.dele(1)
    first.close()  # gone without QUIT: no UPDATE state (RFC 1939 §6)
    assert len(stored_messages(server, "alice@example.org")) == 1
    second = None
    for _ in range(50):  # the server notices the drop and frees the maildrop
        try:
            second = pop(server)
            break
        except poplib.error_proto:
            time.sleep(0.1)
    assert second is not None
    assert second.stat()[0] == 1
    second.quit()


def test_bad_logins_and_garbage(server: ServerProcess) -> None:
    client = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    client.user("alice@example.org")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong password")
    client.user("nobody@example.org")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_(PASSWORD)
    client.quit()
    with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(b"\x00\xff" * 3000 + b"\r\nSTAT\r\nRETR 1\r\nCAPA\r\n")
        sock.settimeout(1)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    assert data.startswith(b"-ERR")
    assert server.process.poll() is None
    assert "Traceback" not in server.log_text()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_pop3(server: ServerProcess) -> None:
    deliver(server, "via curl")
    (stored,) = stored_messages(server, "alice@example.org")
    done = subprocess.run(
        [
            "curl",
            "-sS",
            f"pop3://127.0.0.1:{server.pop3_port}/1",
            "--user",
            f"alice@example.org:{PASSWORD}",
        ],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == stored


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")
def test_fetchmail_downloads_and_deletes(server: ServerProcess, tmp_path: Path) -> None:
    deliver(server, "fm one", "fm two")
    mbox = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll 127.0.0.1 service {server.pop3_port} protocol pop3 auth password\n"
        f'  user "alice@example.org" password "{PASSWORD}"\n'
        f'  mda "cat >> {mbox}" sslproto "" no keep\n'
    )
    rc.chmod(0o600)
    done = subprocess.run(
        ["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog", "-v"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = mbox.read_bytes()
    assert b"Subject: fm one" in text and b"Subject: fm two" in text
    assert stored_messages(server, "alice@example.org") == []


def test_sigterm_ends_idle_pop3_sessions_without_deleting(server: ServerProcess) -> None:
    deliver(server, "survives")
    client = pop(server)
    client.dele(1)
    server.process.send_signal(15)
    time.sleep(1.0)  # the idle session is told and closed
    with pytest.raises((poplib.error_proto, EOFError, OSError)):
        client.stat()  # -ERR [SYS/TEMP] ... and the connection closes
    assert server.process.wait(15) == 0
    assert len(stored_messages(server, "alice@example.org")) == 1


def test_messages_arriving_during_a_session_wait_for_the_next(server: ServerProcess) -> None:
    deliver(server, "first")
    client = pop(server)
    deliver(server, "second")
    assert client.stat()[0] == 1  # the maildrop is fixed at login (RFC 1939 §4)
    client.quit()
    again = pop(server)
    assert again.stat()[0] == 2
    again.quit()


def test_a_client_that_stops_reading_frees_the_maildrop(tmp_path: Path) -> None:
    from trimail.testing.process import running_server

    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        pop3_extra="command_timeout_seconds = 1.5\n",
    ) as srv:
        big = b"Subject: big\r\n\r\n" + (b"x" * 78 + b"\r\n") * 60_000  # ~4.8 MB
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as client:
            client.sendmail("b@example.net", ["alice@example.org"], big)
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", srv.pop3_port))
        stuck.sendall(f"USER alice@example.org\r\nPASS {PASSWORD}\r\nRETR 1\r\n".encode())
        time.sleep(0.5)
        with pytest.raises(poplib.error_proto, match="IN-USE"):
            pop(srv)
        time.sleep(3.0)  # no byte taken for longer than the timeout: the session ends
        client = pop(srv)
        assert client.stat()[0] == 1
        client.quit()
        stuck.close()


def test_configured_maildrop_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    from trimail.testing.process import running_server

    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        pop3_extra='mailbox_name = "Downloads"\n',
    ) as srv:
        client = pop(srv)
        assert client.stat() == (0, 0)
        client.quit()
        assert "Traceback" not in srv.log_text()


def test_repeated_failures_block_even_the_right_password(tmp_path: Path) -> None:
    from trimail.testing.process import running_server

    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra="workers = 1\n[auth]\nfailure_delay_seconds = 0.05\nblock_after_failures = 3\n",
    ) as srv:
        client = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
        for _ in range(3):
            client.user("alice@example.org")
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
                client.pass_("guess")
        client.user("alice@example.org")
        with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\] Too many failed logins"):
            client.pass_(PASSWORD)
        deadline = time.monotonic() + 10  # the log reader thread may be a moment behind
        while "refused: too many failures" not in srv.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "refused: too many failures" in srv.log_text()
        assert "guess" not in srv.log_text() and PASSWORD not in srv.log_text()
