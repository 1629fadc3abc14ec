"""Backend-specific tests of SqliteMailStore: layout, durability settings, group commit."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from trimail.storage import DEFAULT_MAILBOXES, NoSuchMailbox, SqliteMailStore, StorageError
from trimail.storage import sqlite_store as mod

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
MSG = b"Subject: hi\r\nFrom: a@b.example\r\n\r\nhello\r\n"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SqliteMailStore(tmp_path / "accounts")
    s.create_account("alice")
    yield s
    s.close()


def _files(tmp_path: Path) -> list[str]:
    return sorted(os.listdir(tmp_path / "accounts" / "alice" / "messages"))


def test_layout_and_file_names(store: SqliteMailStore, tmp_path: Path) -> None:
    store.create_mailbox("alice", "../../etc")
    store.deliver("alice", "../../etc", MSG, internal_date=WHEN)
    acct = tmp_path / "accounts" / "alice"
    assert (acct / "index.sqlite3").is_file()
    (name,) = _files(tmp_path)
    assert mod._FILE_NAME_RE.fullmatch(name)  # random, never from a mailbox name
    assert sorted(p.name for p in (tmp_path / "accounts").iterdir()) == ["alice"]


@pytest.mark.parametrize("bad", ["..", "../x", "x/../y", "ALICE", "", "a" * 65, "é"])
def test_account_id_cannot_escape_root(store: SqliteMailStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.create_account(bad)
    with pytest.raises(ValueError):
        store.deliver(bad, "INBOX", MSG, internal_date=WHEN)


def test_pragmas_wal_and_full(store: SqliteMailStore) -> None:
    conn = store._account("alice").conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_schema_indexes(tmp_path: Path, store: SqliteMailStore) -> None:
    conn = sqlite3.connect(tmp_path / "accounts" / "alice" / "index.sqlite3")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert {
        "account",
        "mailbox",
        "message",
        "tombstone",
        "keyword",
        "subscription",
        "message_modseq",
        "tombstone_modseq",
        "message_unseen",
        "expunged",
        "expunged_at",
        "expunged_uid",
        "expunged_file",
    } <= names


def test_spool_path_and_prefix(store: SqliteMailStore, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    big = MSG + b"x" * (3 * mod.COPY_CHUNK_BYTES + 17) + b"\r\n"
    spool.write_bytes(big)
    got = store.deliver("alice", "INBOX", spool, prefix=b"Received: y\r\n", internal_date=WHEN)
    assert got.size == len(big) + 13
    assert store.read_message("alice", "INBOX", got.uid) == b"Received: y\r\n" + big


def test_failed_commit_leaves_no_files(
    store: SqliteMailStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(mod, "_fsync_dir", broken)
    with pytest.raises(StorageError):
        store.deliver("alice", "INBOX", MSG, internal_date=WHEN)
    assert _files(tmp_path) == []
    monkeypatch.undo()
    assert store.mailbox_status("alice", "INBOX").exists == 0
    assert store.deliver("alice", "INBOX", MSG, internal_date=WHEN).uid == 1


def test_mailbox_deleted_under_a_delivery(store: SqliteMailStore, tmp_path: Path) -> None:
    acct = store._account("alice")
    acct.mailbox_names.add("Ghost")  # passes the fast check; the index says no
    with pytest.raises(NoSuchMailbox):
        store.deliver("alice", "Ghost", MSG, internal_date=WHEN)
    assert _files(tmp_path) == []


def test_group_commit_batches(store: SqliteMailStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many concurrent deliveries share commits: fewer transactions than messages."""
    batches: list[int] = []
    real = SqliteMailStore._commit_batch
    gate = threading.Event()

    def counting(self: SqliteMailStore, acct: object, batch: list[object]) -> None:
        batches.append(len(batch))
        gate.wait(0.2)  # hold the first commit so the others queue up
        real(self, acct, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteMailStore, "_commit_batch", counting)
    threads = [
        threading.Thread(
            target=store.deliver, args=("alice", "INBOX", MSG), kwargs={"internal_date": WHEN}
        )
        for _ in range(40)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(batches) == 40
    assert len(batches) < 40 and max(batches) > 1
    assert store.mailbox_status("alice", "INBOX").exists == 40


def test_one_failure_in_a_group_does_not_fail_the_others(
    store: SqliteMailStore, tmp_path: Path
) -> None:
    store._account("alice").mailbox_names.add("Ghost")
    results: list[object] = []

    def go(box: str) -> None:
        try:
            results.append(store.deliver("alice", box, MSG, internal_date=WHEN))
        except NoSuchMailbox as exc:
            results.append(exc)

    threads = [
        threading.Thread(target=go, args=("Ghost" if i % 4 == 0 else "INBOX",)) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, NoSuchMailbox) for r in results) == 5
    assert store.mailbox_status("alice", "INBOX").exists == 15
    assert len(_files(tmp_path)) == 15


def test_orphans_swept_on_open(tmp_path: Path) -> None:
    clock = [1_700_000_000.0]
    s = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    s.create_account("bob")
    kept = s.deliver("bob", "INBOX", MSG, internal_date=WHEN)
    s.close()
    messages = tmp_path / "bob" / "messages"
    orphan = messages / ("ab" * 16)
    orphan.write_bytes(b"half written")
    os.utime(orphan, (clock[0] - 7200, clock[0] - 7200))
    fresh = messages / ("cd" * 16)
    fresh.write_bytes(b"in flight in another process")
    os.utime(fresh, (clock[0], clock[0]))
    s = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    assert s.read_message("bob", "INBOX", kept.uid) == MSG
    assert not orphan.exists() and fresh.exists()
    s.close()


def test_uidvalidity_seeded_from_clock_and_counted(tmp_path: Path) -> None:
    s = SqliteMailStore(tmp_path, clock=lambda: 1_700_000_000.0)
    s.create_account("bob")
    defaults = [s.mailbox_status("bob", name).uidvalidity for name, _ in DEFAULT_MAILBOXES]
    a = s.create_mailbox("bob", "A").uidvalidity
    b = s.create_mailbox("bob", "B").uidvalidity
    n = len(DEFAULT_MAILBOXES)
    assert defaults == list(range(1_700_000_001, 1_700_000_001 + n))
    assert (a, b) == (defaults[-1] + 1, defaults[-1] + 2)
    s.close()


def test_delete_account_removes_directory(store: SqliteMailStore, tmp_path: Path) -> None:
    store.deliver("alice", "INBOX", MSG, internal_date=WHEN)
    store.delete_account("alice")
    assert os.listdir(tmp_path / "accounts") == []


def test_closed_store_raises(store: SqliteMailStore) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.deliver("alice", "INBOX", MSG, internal_date=WHEN)
    with pytest.raises(StorageError):
        store.create_account("carol")


def test_flags_normalized(store: SqliteMailStore) -> None:
    got = store.deliver(
        "alice", "INBOX", MSG, flags=["\\SEEN", "\\Recent", "$Work", "\\draft"], internal_date=WHEN
    )
    (info,) = store.list_messages("alice", "INBOX", got.uid, got.uid)
    assert info.flags == {"\\Seen", "\\Draft", "$Work"}
    for bad in ["\\Bogus", "with space", "(paren", ""]:
        with pytest.raises(ValueError):
            store.deliver("alice", "INBOX", MSG, flags=[bad], internal_date=WHEN)
