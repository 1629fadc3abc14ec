"""expunge, add_flags and the maildrop lock of the default store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trimail.storage import SqliteMailStore

WHEN = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> SqliteMailStore:
    store = SqliteMailStore(tmp_path)
    store.create_account("acct")
    for i in range(4):
        store.deliver("acct", "INBOX", b"Subject: %d\r\n\r\nbody\r\n" % i, internal_date=WHEN)
    return store


def test_expunge_removes_rows_and_files_and_leaves_tombstones(
    store: SqliteMailStore, tmp_path: Path
) -> None:
    before = store.mailbox_status("acct", "INBOX")
    assert store.expunge("acct", "INBOX", [3, 1, 99, 3]) == [1, 3]
    after = store.mailbox_status("acct", "INBOX")
    assert [m.uid for m in store.list_messages("acct", "INBOX")] == [2, 4]
    assert after.exists == 2
    assert after.uidnext == before.uidnext  # never moves back
    assert after.highestmodseq == before.highestmodseq + 2
    assert len(list((tmp_path / "acct" / "messages").iterdir())) == 2
    assert store.expunge("acct", "INBOX", [1, 3]) == []
    assert store.mailbox_status("acct", "INBOX").highestmodseq == after.highestmodseq


def test_add_flags_bumps_modseq_only_on_change(store: SqliteMailStore) -> None:
    before = store.mailbox_status("acct", "INBOX")
    store.add_flags("acct", "INBOX", [2], ["\\Seen"])
    (info,) = store.list_messages("acct", "INBOX", 2, 2)
    assert "\\Seen" in info.flags
    assert info.modseq == before.highestmodseq + 1
    store.add_flags("acct", "INBOX", [2], ["\\Seen"])  # no change: no new MODSEQ
    assert store.mailbox_status("acct", "INBOX").highestmodseq == before.highestmodseq + 1
    assert store.mailbox_status("acct", "INBOX").unseen == 3
    with pytest.raises(ValueError):
        store.add_flags("acct", "INBOX", [2], ["$Junk"])


def test_maildrop_lock_is_exclusive_across_store_instances(
    store: SqliteMailStore, tmp_path: Path
) -> None:
    other = SqliteMailStore(tmp_path)  # stands for another process
    lock = store.lock_maildrop("acct")
    assert lock is not None
    assert other.lock_maildrop("acct") is None
    lock.release()
    lock.release()
    again = other.lock_maildrop("acct")
    assert again is not None
    again.release()
    other.close()
