"""IMAP extensions over raw sockets: LIST-EXTENDED, LSUB, STATUS, ESEARCH/SEARCHRES,
CONDSTORE and QRESYNC (exact response lines, as clients parse them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.conftest import PASSWORD
from tests.integration.test_imap_hostile import Raw, append, tagged
from trimail.testing.process import ServerProcess

MESSAGE = b"From: Bob <bob@example.org>\r\nSubject: hello\r\n\r\nbody text\r\n"


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Raw]:
    client = Raw(server.imap_port)
    assert b"L OK" in client.cmd("L", b'LOGIN alice@example.org "' + PASSWORD.encode() + b'"')
    yield client
    client.close()


def test_list_extended_lsub_subscriptions_and_delete(raw: Raw) -> None:
    for tag, line in [
        ("c1", b"CREATE Work/Reports"),
        ("c2", b"CREATE Play"),
        ("s1", b"SUBSCRIBE Work/Reports"),
        ("u1", b"UNSUBSCRIBE Play"),
    ]:
        assert tagged(raw.cmd(tag, line), tag).startswith(tag.encode() + b" OK")
    out = raw.cmd("l1", b'LIST "" "%"')
    assert b'* LIST (\\HasChildren) "/" Work\r\n' in out
    assert b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n' in out
    assert b"Work/Reports" not in out  # % does not cross the delimiter
    out = raw.cmd("l2", b'LIST (SUBSCRIBED) "" "*"')
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" Work/Reports\r\n' in out
    assert b'"/" Play\r\n' not in out
    out = raw.cmd("l3", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert b'"/" Work ("CHILDINFO" ("SUBSCRIBED"))\r\n' in out
    out = raw.cmd("l4", b'LIST (SPECIAL-USE) "" "*"')
    names = re.findall(rb'"/" (\S+)\r\n', out)
    assert sorted(names) == [b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"]
    out = raw.cmd("l5", b'LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT))')
    assert b"* STATUS Play (MESSAGES 0 UIDNEXT 1)\r\n" in out
    assert b"l6 BAD" in raw.cmd("l6", b'LIST (BOGUS) "" "*"')
    out = raw.cmd("l7", b'LSUB "" "%"')
    assert b'* LSUB (\\Noselect) "/" Work\r\n' in out  # parent of a subscribed child
    # DELETE of a parent keeps the name as \Noselect; the subscription outlives DELETE
    assert b"d1 OK" in raw.cmd("d1", b"DELETE Work")
    assert b"\\Noselect" in raw.cmd("l8", b'LIST "" "Work"')
    assert b"d2 OK" in raw.cmd("d2", b"DELETE Work/Reports")
    out = raw.cmd("l9", b'LIST (SUBSCRIBED) "" "*"')
    assert b'(\\NonExistent \\HasNoChildren \\Subscribed) "/" Work/Reports' in out
    assert b"d3 NO" in raw.cmd("d3", b"DELETE INBOX")
    assert b"d4 NO [NONEXISTENT]" in raw.cmd("d4", b"DELETE Nope")


def test_status_items(raw: Raw) -> None:
    append(raw, "a1", b"INBOX", MESSAGE, b"(\\Seen) ")
    append(raw, "a2", b"INBOX", MESSAGE, b"(\\Deleted) ")
    out = raw.cmd(
        "s", b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY SIZE HIGHESTMODSEQ RECENT)"
    )
    status = re.search(rb"\* STATUS INBOX \(([^)]*)\)", out).group(1).split()  # type: ignore[union-attr]
    values = dict(zip(status[::2], status[1::2], strict=True))
    assert values[b"MESSAGES"] == b"2" and values[b"UNSEEN"] == b"1"
    assert values[b"UIDNEXT"] == b"3" and values[b"SIZE"] == b"%d" % (2 * len(MESSAGE))
    assert int(values[b"HIGHESTMODSEQ"]) > 0 and values[b"RECENT"] == b"2"
    assert b"s2 BAD" in raw.cmd("s2", b"STATUS INBOX (BOGUS)")
    assert b"s3 NO" in raw.cmd("s3", b"STATUS Nope (MESSAGES)")


def test_esearch_and_saved_results(raw: Raw) -> None:
    for i in range(5):
        flags = b"(\\Flagged) " if i % 2 == 0 else b""
        append(raw, f"a{i}", b"INBOX", MESSAGE.replace(b"hello", b"hello %d" % i), flags)
    raw.cmd("s", b"SELECT INBOX")
    out = raw.cmd("e1", b"SEARCH RETURN (MIN MAX COUNT) FLAGGED")
    assert b'* ESEARCH (TAG "e1") MIN 1 MAX 5 COUNT 3\r\n' in out
    out = raw.cmd("e2", b"UID SEARCH RETURN (ALL) SUBJECT hello")
    assert b'* ESEARCH (TAG "e2") UID ALL 1:5\r\n' in out
    out = raw.cmd("e3", b"SEARCH RETURN (SAVE) FLAGGED")
    assert b"ESEARCH" not in out  # SAVE alone returns nothing (RFC 5182)
    out = raw.cmd("e4", b"FETCH $ (UID)")
    assert re.findall(rb"\* (\d+) FETCH", out) == [b"1", b"3", b"5"]
    out = raw.cmd("e5", b"SEARCH RETURN (COUNT) SUBJECT nothing-matches")
    assert b'* ESEARCH (TAG "e5") COUNT 0\r\n' in out
    assert b"e6 NO [BADCHARSET" in raw.cmd("e6", b"SEARCH CHARSET KOI8-R ALL")
    out = raw.cmd("e7", b'SEARCH CHARSET UTF-8 OR SUBJECT "hello 1" SUBJECT "hello 4"')
    assert b"* SEARCH 2 5\r\n" in out


def test_condstore_and_qresync(raw: Raw) -> None:
    for i in range(3):
        append(raw, f"a{i}", b"INBOX", MESSAGE)
    out = raw.cmd("s1", b"SELECT INBOX (CONDSTORE)")
    highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", out).group(1))  # type: ignore[union-attr]
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", out).group(1))  # type: ignore[union-attr]
    out = raw.cmd("f1", b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % highest)
    assert not re.search(rb"\* \d+ FETCH", out)  # nothing changed since
    out = raw.cmd("st", b"STORE 2 +FLAGS.SILENT (\\Flagged)")
    m = re.search(rb"\* 2 FETCH \(UID 2 MODSEQ \((\d+)\)\)", out)
    assert m, out  # .SILENT under CONDSTORE still reports the new MODSEQ
    modseq = int(m.group(1))
    assert modseq > highest
    out = raw.cmd("f2", b"FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % highest)
    assert re.findall(rb"\* (\d+) FETCH", out) == [b"2"]
    out = raw.cmd("u1", b"STORE 1,2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % highest)
    assert b"[MODIFIED 2]" in tagged(out, "u1")  # 2 changed after `highest`
    raw.cmd("d", b"UID STORE 3 +FLAGS.SILENT (\\Deleted)")
    raw.cmd("x", b"EXPUNGE")
    raw.cmd("c", b"CLOSE")
    # A QRESYNC client reconnecting with what it knew: VANISHED (EARLIER) and changes
    assert b"ENABLED QRESYNC" in raw.cmd("en", b"ENABLE QRESYNC")
    out = raw.cmd("s2", b"SELECT INBOX (QRESYNC (%d %d 1:3))" % (uidvalidity, highest))
    assert b"* VANISHED (EARLIER) 3\r\n" in out
    assert re.search(rb"\* \d+ FETCH \(UID 2 FLAGS \([^)]*\) MODSEQ", out), out
    out = raw.cmd("f3", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % highest)
    assert b"* VANISHED (EARLIER) 3\r\n" in out
    append(raw, "a9", b"INBOX", MESSAGE)
    raw.cmd("st2", b"UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    out = raw.cmd("x2", b"EXPUNGE")
    assert b"* VANISHED 1\r\n" in out  # VANISHED replaces EXPUNGE under QRESYNC
    assert b"[HIGHESTMODSEQ " in tagged(out, "x2")
