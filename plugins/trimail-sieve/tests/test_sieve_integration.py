"""Sieve in a real ``trimail serve``: scripts stored with the CLI while it runs, mail sent
with smtplib, read back with imaplib (fileinto with a flag, reject, discard, vacation,
redirect through the outbox and the queue into another user's INBOX)."""

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
BOB_SCRIPT = b"""require ["fileinto", "imap4flags", "reject", "vacation", "envelope", "copy"];
if header :contains "subject" "for carol" {
    redirect "carol@example.org";
    stop;
}
if header :contains "subject" "copy to carol" {
    redirect :copy "Carol <carol@example.org>";
    stop;
}
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
        users={
            "alice@example.org": PASSWORD,
            "bob@example.org": PASSWORD,
            "carol@example.org": PASSWORD,
        },
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


def wait_for(srv: ServerProcess, user: str, subject: str, seconds: float = 20) -> list[bytes]:
    """The messages with *subject* in *user*'s INBOX, polling until one arrives (the
    outbox queues; the queue delivers a moment later)."""
    deadline = time.monotonic() + seconds
    while True:
        with mailbox(srv, user, "INBOX") as client:
            _typ, data = client.search(None, "SUBJECT", f'"{subject}"')
            found = []
            for seq in data[0].split():
                _typ, parts = client.fetch(seq, "(BODY.PEEK[])")
                found.append(parts[0][1])
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_redirect_reaches_carol_and_not_bob(server: ServerProcess) -> None:
    send(server, "mail for carol")
    [forwarded] = wait_for(server, "carol@example.org", "mail for carol")
    text = forwarded.decode()
    head = text.split("\r\n\r\n", 1)[0]
    # the queue's delivery puts the new envelope sender (bob) on top; bob's own
    # Return-Path (alice) is gone, his Received and the loop field are kept
    assert head.startswith("Return-Path: <bob@example.org>\r\n"), head
    assert "X-Sieve-Redirected-From: bob@example.org\r\n" in head
    assert head.count("Return-Path:") == 1
    assert head.count("Received:") >= 1
    assert f"Message-ID: <{msgid('mail for carol')}>" in head
    assert text.endswith("\r\n\r\nHello Bob.\r\n")
    with mailbox(server, "bob@example.org", "INBOX") as client:
        assert "mail for carol" not in subjects(client)
    assert "redirected to <carol@example.org> from <bob@example.org>" in server.log_text()


def test_redirect_copy_keeps_bob_s_copy(server: ServerProcess) -> None:
    send(server, "a copy to carol")
    assert len(wait_for(server, "carol@example.org", "a copy to carol")) == 1
    with mailbox(server, "bob@example.org", "INBOX") as client:
        assert "a copy to carol" in subjects(client)


def test_a_redirected_bounce_keeps_the_null_reverse_path(server: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        smtp.sendmail("<>", ["bob@example.org"], message("bounce for carol", "mailer-daemon"))
    [forwarded] = wait_for(server, "carol@example.org", "bounce for carol")
    assert forwarded.startswith(b"Return-Path: <>\r\n")


def test_a_looping_message_is_kept_not_redirected(server: ServerProcess) -> None:
    looped = b"X-Sieve-Redirected-From: bob@example.org\r\n" + message("loop for carol")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        smtp.sendmail("alice@example.org", ["bob@example.org"], looped)
    with mailbox(server, "bob@example.org", "INBOX") as client:
        assert "loop for carol" in subjects(client)
    deadline = time.monotonic() + 5
    while "mail loop" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "mail loop" in server.log_text()
    assert wait_for(server, "carol@example.org", "loop for carol", seconds=1) == []
