"""IMAP against a real ``trimail serve``: imaplib and imapclient as mail clients use it."""

from __future__ import annotations

import contextlib
import imaplib
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PASSWORD
from trimail.testing.process import ServerProcess

MESSAGE = (
    b"From: Bob <bob@example.org>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: Lunch on Friday\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n"
    b"Message-ID: <lunch-1@example.org>\r\n"
    b"\r\n"
    b"Shall we meet at noon? Bring the quarterly figures.\r\n"
)


def send(srv: ServerProcess, message: bytes = MESSAGE, to: str = "alice@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as smtp:
        smtp.sendmail("bob@example.org", [to], message)


@pytest.fixture
def imap(server: ServerProcess) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    client.login("alice@example.org", PASSWORD)
    yield client
    with contextlib.suppress(imaplib.IMAP4.abort, OSError):
        client.logout()


def test_capabilities_and_login(server: ServerProcess) -> None:
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    caps = set(client.capabilities)
    assert {"IMAP4REV1", "IMAP4REV2", "STARTTLS", "AUTH=PLAIN", "SASL-IR"} <= caps
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login("alice@example.org", "wrong password")
    typ, data = client.login("alice@example.org", PASSWORD)
    assert typ == "OK"
    typ, data = client.capability()
    assert b"UIDPLUS" in data[0] and b"MOVE" in data[0] and b"CONDSTORE" in data[0]
    client.logout()


def test_default_mailboxes_with_special_use(imap: imaplib.IMAP4) -> None:
    typ, lines = imap.list()
    assert typ == "OK"
    listed = {line.decode().rsplit(" ", 1)[-1].strip('"'): line.decode() for line in lines}
    assert set(listed) >= {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"}
    assert "\\Sent" in listed["Sent"] and "\\Trash" in listed["Trash"]
    assert "\\Junk" in listed["Junk"] and "\\Drafts" in listed["Drafts"]


def test_receive_then_read_and_seen(server: ServerProcess, imap: imaplib.IMAP4) -> None:
    send(server)
    typ, data = imap.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = imap.fetch("1", "(FLAGS RFC822.SIZE ENVELOPE)")
    text = data[0] if isinstance(data[0], bytes) else data[0][0]
    assert b'"Lunch on Friday"' in text
    assert b'(("Bob" NIL "bob" "example.org"))' in text
    assert b"FLAGS (\\Recent)" in text  # rev1: this session is the first to see it
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    body = data[0][1]
    assert body.endswith(MESSAGE)  # trace headers are prepended, the rest is byte-exact
    assert body.startswith(b"Return-Path: <bob@example.org>\r\n")
    size = int(re.search(rb"RFC822.SIZE (\d+)", text).group(1))
    assert size == len(body)
    typ, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    typ, data = imap.fetch("1", "(BODY[TEXT])")
    assert data[0][1] == b"Shall we meet at noon? Bring the quarterly figures.\r\n"
    assert b"\\Seen" in b"".join(p if isinstance(p, bytes) else p[0] for p in data)
    typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
    assert data[0][1] == b"From: Bob <bob@example.org>\r\nSubject: Lunch on Friday\r\n\r\n"
    typ, data = imap.fetch("1", "(BODY.PEEK[]<0.10>)")
    assert data[0][0].endswith(b"BODY[]<0> {10}") and data[0][1] == body[:10]


def test_new_mail_while_selected_reaches_noop(server: ServerProcess, imap: imaplib.IMAP4) -> None:
    imap.select("INBOX")
    send(server)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        imap.noop()
        if imap.untagged_responses.get("EXISTS", [])[-1:] == [b"1"]:
            break
        time.sleep(0.1)
    assert imap.untagged_responses["EXISTS"][-1] == b"1"


def test_append_copy_move_expunge(imap: imaplib.IMAP4) -> None:
    typ, data = imap.append(
        "Drafts", "(\\Draft $Important)", '"27-Nov-2026 10:00:00 +0100"', MESSAGE
    )
    assert typ == "OK"
    match = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
    assert match, data
    typ, _ = imap.select("Drafts")
    typ, data = imap.uid("FETCH", match.group(2).decode(), "(FLAGS INTERNALDATE)")
    assert b"\\Draft" in data[0] and b"$Important" in data[0]
    assert b'INTERNALDATE "27-Nov-2026 10:00:00 +0100"' in data[0]
    typ, data = imap.copy("1", "Archive")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = imap.uid("MOVE", match.group(2).decode(), "Trash")
    assert typ == "OK"
    assert imap.untagged_responses.get("EXPUNGE") == [b"1"]
    imap.select("Trash")
    typ, data = imap.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"\\Draft" in data[0][0] and b"Lunch on Friday" in data[0][1]
    imap.store("1", "+FLAGS", "\\Deleted")
    typ, data = imap.expunge()
    assert typ == "OK" and data == [b"1"]
    typ, data = imap.status("Archive", "(MESSAGES UIDNEXT UNSEEN)")
    assert b"MESSAGES 1" in data[0]


def test_append_to_missing_mailbox_is_trycreate(imap: imaplib.IMAP4) -> None:
    typ, data = imap.append("No/Such/Box", None, None, MESSAGE)
    assert typ == "NO" and b"TRYCREATE" in data[0]
    assert imap.create("No/Such/Box")[0] == "OK"
    assert imap.append("No/Such/Box", None, None, MESSAGE)[0] == "OK"
    typ, lines = imap.list('""', "No*")
    names = [line.decode() for line in lines]
    assert any(n.endswith(" No") and "\\HasChildren" in n for n in names), names


def test_search(server: ServerProcess, imap: imaplib.IMAP4) -> None:
    send(server)
    send(server, MESSAGE.replace(b"Lunch on Friday", b"Dinner plans").replace(b"figures", b"menu"))
    imap.select("INBOX")
    assert imap.search(None, "SUBJECT", '"lunch"')[1] == [b"1"]
    assert imap.search(None, "FROM", "bob")[1] == [b"1 2"]
    assert imap.search(None, "BODY", "menu")[1] == [b"2"]
    assert imap.search(None, "NOT", "BODY", "menu")[1] == [b"1"]
    assert imap.search(None, "OR", "SUBJECT", "dinner", "SUBJECT", "lunch")[1] == [b"1 2"]
    imap.store("2", "+FLAGS", "\\Flagged")
    assert imap.search(None, "FLAGGED")[1] == [b"2"]
    assert imap.search(None, "UNSEEN", "UNFLAGGED")[1] == [b"1"]
    typ, data = imap.uid("SEARCH", "SUBJECT", "dinner")
    uid_two = data[0]
    typ, data = imap.fetch("2", "(UID)")
    assert b"UID " + uid_two in data[0]
    typ, data = imap._simple_command("SEARCH", "RETURN", "(MIN COUNT)", "ALL")
    assert typ == "OK"
    assert imap.untagged_responses.get("ESEARCH"), imap.untagged_responses


def test_two_sessions_see_each_others_changes(server: ServerProcess, imap: imaplib.IMAP4) -> None:
    send(server)
    send(server)
    other = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    other.login("alice@example.org", PASSWORD)
    try:
        imap.select("INBOX")
        other.select("INBOX")
        imap.store("1", "+FLAGS", "(\\Deleted \\Flagged)")
        imap.expunge()
        # FETCH by sequence number must not report the expunge (RFC 3501 §7.4.1) ...
        typ, _data = other.fetch("1:2", "(FLAGS)")
        assert typ == "OK"
        assert "EXPUNGE" not in other.untagged_responses
        # ... NOOP does, and the numbering then follows
        other.noop()
        assert other.untagged_responses.get("EXPUNGE") == [b"1"]
        typ, _data = other.fetch("1", "(UID)")
        assert typ == "OK"
    finally:
        other.logout()


def test_idle_sees_delivery_within_a_second(server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()

    def command(line: bytes) -> list[bytes]:
        sock.sendall(line + b"\r\n")
        tag = line.split(b" ", 1)[0]
        out = []
        while True:
            got = reader.readline()
            out.append(got)
            if got.startswith(tag + b" "):
                return out

    command(b'a LOGIN "alice@example.org" "' + PASSWORD.encode() + b'"')
    command(b"b SELECT INBOX")
    sock.sendall(b"c IDLE\r\n")
    assert reader.readline().startswith(b"+ ")
    started = time.monotonic()
    threading.Thread(target=send, args=(server,)).start()
    line = reader.readline()
    while not line.endswith(b"EXISTS\r\n"):
        line = reader.readline()
    elapsed = time.monotonic() - started
    assert line == b"* 1 EXISTS\r\n"
    assert elapsed < 3.0  # SMTP delivery included; the push itself is sub-second
    sock.sendall(b"DONE\r\n")
    line = reader.readline()
    while line.startswith(b"* "):  # e.g. "* 1 RECENT" for this rev1 session
        line = reader.readline()
    assert line.startswith(b"c OK"), line
    command(b"z LOGOUT")
    sock.close()


def test_imaps_and_starttls(server: ServerProcess) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=context) as client:
        assert client.login("alice@example.org", PASSWORD)[0] == "OK"
        assert client.select("INBOX")[0] == "OK"
    client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    client.starttls(ssl_context=context)
    assert "STARTTLS" not in client.capabilities
    assert client.login("alice@example.org", PASSWORD)[0] == "OK"
    client.logout()


def test_starttls_injection_is_discarded(server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
    sock.recv(4096)
    sock.sendall(b"a STARTTLS\r\nb LOGIN alice@example.org x\r\n")
    reply = b""
    while b"a OK" not in reply:
        reply += sock.recv(4096)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    tls = context.wrap_socket(sock)
    tls.sendall(b"c NOOP\r\n")
    got = tls.recv(4096)
    assert got.startswith(b"c OK"), got  # "b LOGIN" never ran
    tls.close()


def test_bad_input_gets_bad_not_a_crash(server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.imap_port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    for line in [
        b"a1 FROBNICATE",
        b"a2 FETCH 1 (FLAGS)",  # not selected
        b"a3 LOGIN",
        b'a4 SELECT "unterminated',
        b"a5 APPEND INBOX {99999999999}",
    ]:
        sock.sendall(line + b"\r\n")
        got = reader.readline()
        tag = line.split(b" ")[0]
        assert got.startswith(tag + b" BAD") or got.startswith(tag + b" NO"), (line, got)
    sock.sendall(b"\x00\xff garbage \x01\r\n")
    got = reader.readline()
    assert b"BAD" in got or got.startswith(b"* BYE")
    sock.close()
    time.sleep(0.2)
    assert "Traceback" not in server.log_text()


def test_imapclient(server: ServerProcess) -> None:
    imapclient = pytest.importorskip("imapclient")
    send(server)
    with imapclient.IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as client:
        client.login("alice@example.org", PASSWORD)
        folders = {f[2] for f in client.list_folders()}
        assert {"INBOX", "Sent", "Trash"} <= folders
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 1
        uids = client.search(["SUBJECT", "Lunch"])
        assert len(uids) == 1
        fetched = client.fetch(uids, ["ENVELOPE", "BODY.PEEK[]", "FLAGS"])
        envelope = fetched[uids[0]][b"ENVELOPE"]
        assert envelope.subject == b"Lunch on Friday"
        assert fetched[uids[0]][b"BODY[]"].endswith(MESSAGE)
        client.add_flags(uids, [b"\\Answered"])
        assert b"\\Answered" in client.get_flags(uids)[uids[0]]
        client.create_folder("Projects/2026")
        client.move(uids, "Projects/2026")
        assert client.select_folder("Projects/2026")[b"EXISTS"] == 1
        client.rename_folder("Projects", "Old projects")
        assert "Old projects/2026" in {f[2] for f in client.list_folders()}


def test_selected_mailbox_renamed_by_another_session(
    server: ServerProcess, imap: imaplib.IMAP4
) -> None:
    """RENAME keeps UIDVALIDITY (RFC 3501 §6.3.5): a session that has the mailbox
    selected follows it to its new name instead of being disconnected."""
    imap.create("Projects")
    imap.append("Projects", None, None, MESSAGE)
    other = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=30)
    other.login("alice@example.org", PASSWORD)
    try:
        assert other.select("Projects")[1] == [b"1"]
        assert imap.rename("Projects", "Done")[0] == "OK"
        assert other.noop()[0] == "OK"
        typ, data = other.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK" and b"Lunch on Friday" in data[0][1]
        assert other.store("1", "+FLAGS", "\\Flagged")[0] == "OK"
        imap.select("Done", readonly=True)
        assert imap.search(None, "FLAGGED")[1] == [b"1"]
    finally:
        other.logout()


def test_binary_and_multiappend_are_advertised(imap: imaplib.IMAP4) -> None:
    caps = imap.capability()[1][0].split()
    assert b"BINARY" in caps and b"MULTIAPPEND" in caps
    imap.select("INBOX")
    encoded = (
        b"Subject: b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nR3LDvMOfZQ==\r\n"
    )
    imap.append("INBOX", None, None, encoded)
    typ, data = imap.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
    assert typ == "OK"
    assert data[0][1] == "Grüße".encode()
