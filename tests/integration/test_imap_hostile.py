"""Hostile-client IMAP tests: each one reproduces a bug found by poking a real server.

Raw sockets, so the exact bytes on the wire are checked (imaplib hides them).
"""

from __future__ import annotations

import re
import socket
import time
import unicodedata
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PASSWORD
from trimail.testing.process import ServerProcess


class Raw:
    """A line-level IMAP client over a plain socket."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        self.greeting = self._read_until(lambda b: b"\r\n" in b)

    def _read_until(self, done, timeout: float = 15.0) -> bytes:  # type: ignore[no-untyped-def]
        end = time.monotonic() + timeout
        while not done(self.buf):
            if time.monotonic() > end:
                raise AssertionError(f"no complete answer; got {self.buf!r}")
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError(f"server closed the connection; got {self.buf!r}")
            self.buf += data
        out, self.buf = self.buf, b""
        return out

    def cmd(self, tag: str, line: bytes) -> bytes:
        """Send ``tag line`` (CRLF added) and return everything up to the tagged reply."""
        self.sock.sendall(tag.encode() + b" " + line + b"\r\n")
        marker = re.compile(rb"(^|\r\n)" + re.escape(tag.encode()) + rb" (OK|NO|BAD)[^\r\n]*\r\n")
        return self._read_until(lambda b: marker.search(b) is not None)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Raw]:
    client = Raw(server.imap_port)
    out = client.cmd("L", b"LOGIN alice@example.org " + b'"' + PASSWORD.encode() + b'"')
    assert b"L OK" in out
    yield client
    client.close()


def tagged(out: bytes, tag: str) -> bytes:
    found = re.search(rb"(?:^|\r\n)(" + re.escape(tag.encode()) + rb" [^\r\n]*)", out)
    assert found, out
    return found.group(1)


def append(raw: Raw, tag: str, box: bytes, message: bytes, extra: bytes = b"") -> bytes:
    return raw.cmd(tag, b"APPEND %s %s{%d+}\r\n%s" % (box, extra, len(message), message))


# --- 1. INTERNALDATE with a year below 1000 ----------------------------------------------


def test_append_with_year_0001_date_does_not_break_fetch(server: ServerProcess, raw: Raw) -> None:
    """APPEND accepts date-year 0001 (4DIGIT), but render_internaldate raises ValueError
    for years < 1000: every later FETCH INTERNALDATE of that message kills the session
    with a traceback. Either refuse the date at APPEND (BAD) or render it."""
    msg = b"Subject: old\r\n\r\nhi\r\n"
    out = append(raw, "A1", b"INBOX", msg, b'"1-Jan-0001 00:00:00 +0000" ')
    if b"A1 OK" not in out:
        assert tagged(out, "A1").startswith((b"A1 BAD", b"A1 NO"))
        return
    raw.cmd("S", b"SELECT INBOX")
    out = raw.cmd("F", b"FETCH 1:* (UID INTERNALDATE)")  # ConnectionError today
    assert tagged(out, "F").startswith(b"F OK")
    assert b"N OK" in raw.cmd("N", b"NOOP")
    assert "Traceback" not in server.log_text()


# --- 2. NUL octets inside a {n} literal ---------------------------------------------------


def test_body_fetch_never_puts_nul_in_a_plain_literal(raw: Raw) -> None:
    """A message APPENDed as literal8 with a NUL is served as ``BODY[] {n}`` with the NUL
    inside: RFC 3501/9051 literal = *CHAR8 (%x01-ff), so a {n} literal may not hold NUL
    (the server itself refuses NUL in client {n} literals). Only BINARY[] may use ~{n}."""
    msg = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\nbin\x00ary\r\n"
    out = raw.cmd("A1", b"APPEND INBOX ~{%d+}\r\n%s" % (len(msg), msg))
    if b"A1 OK" not in out:
        return  # refusing binary content is allowed (RFC 3516 NO [UNKNOWN-CTE])
    raw.cmd("S", b"SELECT INBOX")
    out = raw.cmd("F", b"FETCH 1 (BODY.PEEK[] BODY.PEEK[TEXT] RFC822)")
    assert tagged(out, "F").startswith(b"F OK")
    assert b"\x00" not in out, out


# --- 3. APPEND with bare LF is stored as-is -----------------------------------------------


def test_append_bare_lf_is_stored_crlf_normalized(raw: Raw) -> None:
    """IMAP-NOTES §4: store CRLF-normalized bytes. APPEND with bare LF line ends is stored
    and served back with bare LFs (BODY[] and RFC822.SIZE count LF-only lines)."""
    msg = b"From: a@example.org\nSubject: bare LF\n\nbody line\n"
    out = append(raw, "A1", b"INBOX", msg)
    assert b"A1 OK" in out
    raw.cmd("S", b"SELECT INBOX")
    out = raw.cmd("F", b"FETCH 1 (RFC822.SIZE BODY.PEEK[])")
    body = out.split(b"}\r\n", 1)[1]
    assert body.startswith(b"From: a@example.org\r\nSubject: bare LF\r\n\r\nbody line\r\n"), out
    size = int(re.search(rb"RFC822.SIZE (\d+)", out).group(1))  # type: ignore[union-attr]
    assert size == len(msg.replace(b"\n", b"\r\n"))


# --- 4. rev1 SELECT without OK [UNSEEN n] -------------------------------------------------


def test_rev1_select_reports_first_unseen(raw: Raw) -> None:
    """RFC 3501 §6.3.1: SELECT MUST send ``* OK [UNSEEN n]`` (REQUIRED OK untagged
    response) when there are unseen messages; trimail never sends it in rev1 mode."""
    for i, flags in enumerate([b"(\\Seen) ", b"", b""]):
        assert b"OK" in append(raw, f"A{i}", b"INBOX", b"Subject: %d\r\n\r\nx\r\n" % i, flags)
    out = raw.cmd("S", b"SELECT INBOX")
    assert b"* OK [UNSEEN 2]" in out, out


# --- 5. rev2 SELECT while selected without OK [CLOSED] ------------------------------------


def test_rev2_reselect_sends_closed(raw: Raw) -> None:
    """RFC 9051 §6.3.2: when SELECT deselects a selected mailbox the server MUST send an
    untagged ``OK [CLOSED]`` first. trimail sends it only with QRESYNC enabled."""
    assert b"E OK" in raw.cmd("E", b"ENABLE IMAP4rev2")
    raw.cmd("S1", b"SELECT INBOX")
    out = raw.cmd("S2", b"SELECT Trash")
    assert out.startswith(b"* OK [CLOSED]"), out


# --- 6. Net-Unicode (NFC) mailbox names under UTF8=ACCEPT ---------------------------------


def test_utf8_mailbox_names_are_nfc(raw: Raw) -> None:
    """RFC 9051 §5.1 / RFC 6855: servers MUST NOT create 8-bit names that are not
    Net-Unicode (NFC), but MAY normalize them. ``e`` + U+0301 and U+00E9 become two
    different, identical-looking mailboxes."""
    assert b"E OK" in raw.cmd("E", b"ENABLE UTF8=ACCEPT")
    nfd = unicodedata.normalize("NFD", "Caf\u00e9").encode()
    nfc = unicodedata.normalize("NFC", "Caf\u00e9").encode()
    first = raw.cmd("C1", b'CREATE "' + nfd + b'"')
    if b"C1 OK" not in first:
        return  # refusing a non-NFC name is allowed
    second = raw.cmd("C2", b'CREATE "' + nfc + b'"')
    assert b"C2 NO" in second, second  # the NFD name was stored as NFC
    listing = raw.cmd("L", b'LIST "" "Caf*"')
    assert nfd not in listing, listing


# --- 7. LIST patterns with a mixed-case INBOX -------------------------------------------


@pytest.mark.parametrize("pattern", [b'"Inbox*"', b'"InBoX%"', b'"Inb*"'])
def test_list_mixed_case_inbox_pattern_matches_inbox(raw: Raw, pattern: bytes) -> None:
    """INBOX is case-insensitive (RFC 3501 §5.1, IMAP-NOTES §3). ``LIST "" "inbox*"`` and
    ``"INBOX*"`` list INBOX, but ``"Inbox*"`` does not: pattern_regex only rewrites a
    first level that is exactly INBOX in some case, not one with wildcards."""
    out = raw.cmd("L", b'LIST "" ' + pattern)
    assert b'"/" INBOX\r\n' in out, out


# --- 8. RENAME into its own child: wrong response code -----------------------------------


def test_rename_into_own_child_is_not_alreadyexists(raw: Raw) -> None:
    """``RENAME Drafts Drafts/sub`` answers ``NO [ALREADYEXISTS] Target mailbox exists``,
    but Drafts/sub does not exist (RFC 5530: ALREADYEXISTS is for a target that exists);
    the right refusal is e.g. NO [CANNOT]."""
    out = raw.cmd("R", b"RENAME Drafts Drafts/sub")
    assert b"R NO" in out
    assert b"ALREADYEXISTS" not in out, out


# --- 9. keyword shown in FETCH before * FLAGS announces it --------------------------------


def test_new_keyword_announced_before_fetch_shows_it(server: ServerProcess, raw: Raw) -> None:
    """IMAP-NOTES §5 (imaptest: keywords in FLAGS first): a keyword set by another session
    must reach ``* FLAGS``/``PERMANENTFLAGS`` before any FETCH shows it. Today session B's
    ``FETCH 1 FLAGS`` answers ``* 1 FETCH (FLAGS (Kw1))`` first and the ``* FLAGS (.. Kw1)``
    announcement only after it."""
    assert b"OK" in append(raw, "A1", b"INBOX", b"Subject: k\r\n\r\nx\r\n")
    other = Raw(server.imap_port)
    try:
        assert b"L OK" in other.cmd("L", b'LOGIN alice@example.org "' + PASSWORD.encode() + b'"')
        raw.cmd("S", b"SELECT INBOX")
        other.cmd("S", b"SELECT INBOX")
        assert b"K OK" in raw.cmd("K", b"STORE 1 +FLAGS.SILENT (Kw1)")
        out = other.cmd("F", b"FETCH 1 FLAGS")
    finally:
        other.close()
    lines = out.split(b"\r\n")
    fetch_at = next(i for i, line in enumerate(lines) if b"FETCH" in line and b"Kw1" in line)
    flags_at = [i for i, line in enumerate(lines) if line.startswith(b"* FLAGS") and b"Kw1" in line]
    assert flags_at and flags_at[0] < fetch_at, out


# --- 10. COPY of a message another session expunged: OK, but nothing copied ---------------


def test_copy_of_message_expunged_elsewhere_is_not_a_silent_noop(
    server: ServerProcess, raw: Raw
) -> None:
    """Session B still numbers a message that session A expunged (no EXPUNGE may be sent
    during COPY). ``COPY 1 Trash`` then answers a bare ``OK COPY completed``: no COPYUID,
    and Trash stays empty, so the client believes the copy happened. Either copy it (the
    file is kept while a view holds the UID; RFC 2180 §4.1) with ``OK [COPYUID ..]``, or
    refuse with ``NO [EXPUNGEISSUED]`` (RFC 2180 §4.4, RFC 5530)."""
    assert b"OK" in append(raw, "A1", b"INBOX", b"Subject: gone\r\n\r\nx\r\n")
    other = Raw(server.imap_port)
    try:
        assert b"L OK" in other.cmd("L", b'LOGIN alice@example.org "' + PASSWORD.encode() + b'"')
        raw.cmd("S", b"SELECT INBOX")
        other.cmd("S", b"SELECT INBOX")
        raw.cmd("D", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert b"E OK" in raw.cmd("E", b"EXPUNGE")
        out = other.cmd("C", b"COPY 1 Trash")
    finally:
        other.close()
    status = raw.cmd("T", b"STATUS Trash (MESSAGES)")
    if tagged(out, "C").startswith(b"C OK"):
        assert b"COPYUID" in out, out
        assert b"MESSAGES 1" in status, status
    else:
        assert b"EXPUNGEISSUED" in out, out
