"""Sieve in a real ``trimail serve``: scripts stored with the CLI while it runs, mail sent
with smtplib, read back with imaplib (fileinto with a flag, reject, discard, vacation)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import re
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trimail.cli.main import main
from trimail.testing.process import ServerProcess, running_server

PASSWORD = "correct horse battery"
BOB_SCRIPT = b"""require ["fileinto", "imap4flags", "reject", "vacation", "envelope"];
if header :contains "subject" "[work]" {
    fileinto :flags "\\\\Flagged" "Work";
    stop;
}
if header :contains "subject" "reject me" {
    reject "Bob does not want this.";
    stop;
}
if envelope :localpart :is "from" "spammer" {
    discard;
    stop;
}
if header :contains "subject" "away" {
    vacation :days 1 :subject "Bob is away" "Back on Monday.";
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("sieve")
    with running_server(
        workdir,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD, "bob@example.org": PASSWORD},
        top_extra="[plugin.sieve]\nmax_actions = 10\n",
    ) as srv:
        script = workdir / "bob.sieve"
        script.write_bytes(BOB_SCRIPT)
        assert (
            main(["--config", str(srv.config_path), "sieve", "put", "bob@example.org", str(script)])
            == 0
        )
        yield srv


def msgid(subject: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-") + "@example.org"


def message(subject: str, sender: str = "alice@example.org") -> bytes:
    return (
        f"From: {sender}\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msgid(subject)}>\r\n\r\nHello Bob.\r\n"
    ).encode()


def send(srv: ServerProcess, subject: str, sender: str = "alice@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as smtp:
        smtp.sendmail(sender, ["bob@example.org"], message(subject, sender))


@contextlib.contextmanager
def mailbox(srv: ServerProcess, user: str, name: str) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=30)
    client.login(user, PASSWORD)
    typ, _ = client.select(f'"{name}"')
    assert typ == "OK", f"no mailbox {name}"
    try:
        yield client
    finally:
        with contextlib.suppress(imaplib.IMAP4.abort, OSError):
            client.logout()


def subjects(client: imaplib.IMAP4) -> list[str]:
    _typ, data = client.search(None, "ALL")
    found = []
    for seq in data[0].split():
        _typ, parts = client.fetch(seq, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found.append(parts[0][1].decode().partition(":")[2].strip())
    return found


def test_fileinto_with_a_flag(server: ServerProcess) -> None:
    send(server, "[work] quarterly report")
    with mailbox(server, "bob@example.org", "Work") as client:
        assert subjects(client) == ["[work] quarterly report"]
        _typ, data = client.fetch("1", "(FLAGS)")
        assert b"\\Flagged" in data[0]
    with mailbox(server, "bob@example.org", "INBOX") as client:
        assert "[work] quarterly report" not in subjects(client)


def test_reject_is_a_550_for_the_only_recipient(server: ServerProcess) -> None:
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(server, "please reject me")
    assert caught.value.smtp_code == 550
    assert b"5.7.1 Bob does not want this." in caught.value.smtp_error


def test_discard_accepts_and_stores_nothing(server: ServerProcess) -> None:
    send(server, "cheap pills", sender="spammer@example.org")
    send(server, "a marker after the discarded one")
    with mailbox(server, "bob@example.org", "INBOX") as client:
        seen = subjects(client)
    assert "a marker after the discarded one" in seen
    assert "cheap pills" not in seen


def test_vacation_reaches_the_sender_once(server: ServerProcess) -> None:
    send(server, "are you away?")
    send(server, "still away?")  # within :days 1: no second response
    deadline = time.monotonic() + 20
    replies: list[bytes] = []
    while time.monotonic() < deadline:
        with mailbox(server, "alice@example.org", "INBOX") as client:
            _typ, data = client.search(None, "HEADER", "Auto-Submitted", "auto-replied")
            replies = []
            for seq in data[0].split():
                _typ, parts = client.fetch(seq, "(BODY.PEEK[])")
                replies.append(parts[0][1])
        if replies:
            break
        time.sleep(0.2)
    assert len(replies) == 1, server.log_text()
    reply = email.message_from_bytes(replies[0], policy=email.policy.default)
    assert reply["Subject"] == "Bob is away"
    assert reply["From"] == "bob@example.org"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == f"<{msgid('are you away?')}>"
    assert re.search(r"^Return-Path: <>", replies[0].decode(), re.M)
    assert "Back on Monday." in reply.get_content()
    with mailbox(server, "bob@example.org", "INBOX") as client:
        assert {"are you away?", "still away?"} <= set(subjects(client))  # kept too


def test_a_broken_script_keeps_the_message(server: ServerProcess, tmp_path: Path) -> None:
    script = tmp_path / "alice.sieve"
    script.write_bytes(b'require "imap4flags";\n' + b'addflag "$a";\n' * 20)  # > max_actions
    assert (
        main(
            ["--config", str(server.config_path), "sieve", "put", "alice@example.org", str(script)]
        )
        == 0
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        smtp.sendmail(
            "bob@example.org", ["alice@example.org"], b"Subject: kept anyway\r\n\r\nx\r\n"
        )
    with mailbox(server, "alice@example.org", "INBOX") as client:
        assert "kept anyway" in subjects(client)
    deadline = time.monotonic() + 5
    while "more than 10 actions" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "more than 10 actions" in server.log_text()
