"""expunge, add_flags and the maildrop lock of the default store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trimail.storage import EXPUNGED_GRACE_SECONDS, SqliteMailStore

WHEN = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> list[float]:
    return [1_800_000_000.0]


@pytest.fixture
def store(tmp_path: Path, clock: list[float]) -> SqliteMailStore:
    store = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    store.create_account("acct")
    for i in range(4):
        store.deliver("acct", "INBOX", b"Subject: %d\r\n\r\nbody\r\n" % i, internal_date=WHEN)
    return store


def _files(tmp_path: Path) -> int:
    return len(list((tmp_path / "acct" / "messages").iterdir()))


def test_expunge_removes_rows_leaves_tombstones_and_files_for_the_grace_period(
    store: SqliteMailStore, tmp_path: Path, clock: list[float]
) -> None:
    before = store.mailbox_status("acct", "INBOX")
    assert store.expunge("acct", "INBOX", [3, 1, 99, 3]) == [1, 3]
    after = store.mailbox_status("acct", "INBOX")
    assert [m.uid for m in store.list_messages("acct", "INBOX")] == [2, 4]
    assert after.exists == 2
    assert after.uidnext == before.uidnext  # never moves back
    assert after.highestmodseq == before.highestmodseq + 2
    assert _files(tmp_path) == 4  # sessions may still FETCH them (RFC 2180 §4.1)
    assert store.expunge("acct", "INBOX", [1, 3]) == []
    assert store.mailbox_status("acct", "INBOX").highestmodseq == after.highestmodseq
    clock[0] += EXPUNGED_GRACE_SECONDS + 1
    store.expunge("acct", "INBOX", [])  # any expunge sweeps
    assert _files(tmp_path) == 2
    assert store.read_message("acct", "INBOX", 2) == b"Subject: 1\r\n\r\nbody\r\n"


def test_expunged_files_swept_when_the_account_is_opened(
    store: SqliteMailStore, tmp_path: Path, clock: list[float]
) -> None:
    store.expunge("acct", "INBOX", [1])
    store.close()
    clock[0] += EXPUNGED_GRACE_SECONDS + 1
    reopened = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    assert reopened.mailbox_status("acct", "INBOX").exists == 3
    assert _files(tmp_path) == 3
    reopened.close()


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
