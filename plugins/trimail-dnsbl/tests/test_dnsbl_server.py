"""A real ``trimail serve`` asking a real DNS server (NSD on loopback) about its clients.

Clients connect from 127.0.0.2 (listed: the test point of RFC 5782 §5) and 127.0.0.3
(not listed); ``check_loopback = true`` makes the plugin look up loopback clients,
which it never does otherwise.
"""

from __future__ import annotations

import imaplib
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from trimail.testing.dns_server import LoopbackDns
from trimail.testing.process import ServerProcess, run_cli, running_server

PASSWORD = "dnsbl test password"
USER = "user@example.org"
LISTED, CLEAN = "127.0.0.2", "127.0.0.3"
REASON = "Test point, see https://bl.test/q?127.0.0.2"
ZONES = {"bl.test": f'2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT "{REASON}"\n'}


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    with LoopbackDns(ZONES) as server:
        yield server.nameserver


@contextmanager
def serve(workdir: Path, nameserver: str, table: str) -> Iterator[ServerProcess]:
    """A server whose ``[plugin.dnsbl]`` asks bl.test, plus *table* (TOML lines)."""
    top = (
        "workers = 1\n"
        f'[dns]\nnameservers = ["{nameserver}"]\ntimeout_seconds = 2.0\n'
        "[mailauth]\ncheck_incoming = false\n"
        f"[plugin.dnsbl]\ncheck_loopback = true\n{table}"
        '[[plugin.dnsbl.lists]]\nzone = "bl.test"\n'
    )
    with running_server(
        workdir,
        domains=["example.org"],
        users={USER: PASSWORD},
        aliases=[("postmaster@example.org", USER)],
        top_extra=top,
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def rejecting(tmp_path_factory: pytest.TempPathFactory, nameserver: str) -> Iterator[ServerProcess]:
    """The default settings: reject at RCPT TO. Shared: tests tell their mail by Subject."""
    with serve(tmp_path_factory.mktemp("rejecting"), nameserver, "") as srv:
        yield srv


def message(subject: str, sender: str = "a@remote.example") -> bytes:
    return f"From: {sender}\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\nHi.\r\n".encode()


def smtp_from(srv: ServerProcess, source: str) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30, source_address=(source, 0))
    client.ehlo("client.remote.example")
    return client


def headers(srv: ServerProcess, mailbox_name: str, subject: str = "") -> list[str]:
    """The header sections of the messages in *mailbox_name* (with *subject*), in UID
    order."""
    imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
    try:
        imap.login(USER, PASSWORD)
        status, _ = imap.select(f'"{mailbox_name}"', readonly=True)
        if status != "OK":
            return []
        _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER])")
        found = [part[1].decode() for part in data if isinstance(part, tuple)]
        return [h for h in found if f"\r\nSubject: {subject}\r\n" in "\r\n" + h or not subject]
    finally:
        imap.logout()


def test_a_listed_client_is_refused_at_rcpt_but_reaches_postmaster(
    rejecting: ServerProcess,
) -> None:
    with smtp_from(rejecting, LISTED) as client:
        client.mail("sender@remote.example")
        code, text = client.rcpt(USER)
        assert code == 554
        assert text.decode() == (
            f"5.7.1 Service unavailable; client host [{LISTED}] blocked using bl.test; {REASON}"
        )
        code, _ = client.rcpt("postmaster@example.org")
        assert code == 250
        code, _ = client.data(message("to postmaster"))
        assert code == 250
    with smtp_from(rejecting, CLEAN) as client:
        assert client.sendmail("sender@remote.example", [USER], message("clean")) == {}
    (first,) = headers(rejecting, "INBOX", "to postmaster")
    assert f'X-DNSBL: listed in bl.test (weight 1.0) 127.0.0.2 "{REASON}";\r\n' in first
    (second,) = headers(rejecting, "INBOX", "clean")
    assert "X-DNSBL" not in second
    assert headers(rejecting, "Junk") == []
    log = rejecting.log_text()
    assert re.search(r"dnsbl: \[127\.0\.0\.2\] refused MAIL FROM:<sender@remote.example>", log)


def test_submission_is_never_checked(rejecting: ServerProcess) -> None:
    client = smtplib.SMTP(
        "127.0.0.1", rejecting.submission_port, timeout=30, source_address=(LISTED, 0)
    )
    with client:
        client.starttls()
        client.login(USER, PASSWORD)
        assert client.sendmail(USER, [USER], message("submitted", USER)) == {}
    (stored,) = headers(rejecting, "INBOX", "submitted")
    assert "X-DNSBL" not in stored


def test_reject_at_connect_is_the_greeting(tmp_path: Path, nameserver: str) -> None:
    with serve(tmp_path, nameserver, 'reject_at = "connect"\n') as srv:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30, source_address=(LISTED, 0))
        assert refused.value.smtp_code == 554
        greeting = refused.value.smtp_error
        assert isinstance(greeting, bytes)
        assert greeting.decode() == (
            f"5.7.1 Service unavailable; client host [{LISTED}] blocked using bl.test; {REASON}"
        )
        with smtp_from(srv, CLEAN) as client:
            assert client.sendmail("sender@remote.example", [USER], message("hello")) == {}


def test_tag_files_into_junk_with_the_header(tmp_path: Path, nameserver: str) -> None:
    with serve(tmp_path, nameserver, 'action = "tag"\n') as srv:
        with smtp_from(srv, LISTED) as client:
            assert client.sendmail("sender@remote.example", [USER], message("hello")) == {}
        with smtp_from(srv, CLEAN) as client:
            assert client.sendmail("sender@remote.example", [USER], message("hello")) == {}
        (junk,) = headers(srv, "Junk")
        assert "X-DNSBL: listed in bl.test (weight 1.0) 127.0.0.2" in junk
        assert "client=127.0.0.2 score=1.0 threshold=1.0" in junk
        (inbox,) = headers(srv, "INBOX")
        assert "X-DNSBL" not in inbox


def test_a_bad_table_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "trimail.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        '[plugin.dnsbl]\n[[plugin.dnsbl.lists]]\nzone = "bl.test"\ncodes = ["10.0.0.2"]\n',
        encoding="utf-8",
    )
    for args in (("check-config",), ("serve",)):
        done = run_cli(config, *args)
        assert done.returncode == 1, done
        assert "plugin.dnsbl.lists[0].codes: '10.0.0.2' is outside 127.0.0.0/8" in done.stderr
        assert "Traceback" not in done.stderr
