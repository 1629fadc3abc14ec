"""Backend-specific tests of the default store's IMAP side: schema migration, files of
copies and expunged messages, UID range reads, cross-process flag merges."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.storage import (
    DEFAULT_MAILBOXES,
    EXPUNGED_GRACE_SECONDS,
    NoSuchMessage,
    SqliteMailStore,
    StorageError,
    sqlite_account,
    sqlite_schema,
)
from trimail.storage import sqlite_store as mod
from trimail.storage.sqlite_schema import SCHEMA_VERSION

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def msg(n: int) -> bytes:
    return b"Subject: %d\r\nFrom: a@b.example\r\n\r\nhello %d\r\n" % (n, n)


@pytest.fixture
def clock() -> list[float]:
    return [1_800_000_000.0]


@pytest.fixture
def store(tmp_path: Path, clock: list[float]):  # type: ignore[no-untyped-def]
    s = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    s.create_account("alice")
    yield s
    s.close()


def _files(tmp_path: Path) -> set[str]:
    return set(os.listdir(tmp_path / "alice" / "messages"))


# --- schema version 1 -> 2 -------------------------------------------------------------

# The version 1 schema, frozen as trimail 0.1 wrote it.
_V1_SCHEMA = """
CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), schema_version INTEGER NOT NULL,
    last_uidvalidity INTEGER NOT NULL, last_modseq INTEGER NOT NULL);
CREATE TABLE mailbox (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL, recent_uid INTEGER NOT NULL DEFAULT 0, special_use TEXT);
CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE keyword (mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL, PRIMARY KEY (mailbox_id, keyword)) WITHOUT ROWID;
CREATE TABLE message (mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL, modseq INTEGER NOT NULL, system_flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT NOT NULL DEFAULT '[]', internal_date TEXT NOT NULL, size INTEGER NOT NULL,
    envelope TEXT NOT NULL, bodystructure TEXT NOT NULL, headers TEXT NOT NULL,
    sent_date TEXT, file TEXT NOT NULL UNIQUE, UNIQUE (mailbox_id, uid));
CREATE INDEX message_modseq ON message (mailbox_id, modseq);
CREATE INDEX message_unseen ON message (mailbox_id, uid) WHERE system_flags & 1 = 0;
CREATE TABLE tombstone (mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL, modseq INTEGER NOT NULL, PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;
CREATE INDEX tombstone_modseq ON tombstone (mailbox_id, modseq);
INSERT INTO account VALUES (1, 1, 500, 7);
INSERT INTO mailbox VALUES (1, 'INBOX', 500, 3, 7, 0, NULL);
INSERT INTO mailbox VALUES (2, 'sent', 499, 1, 2, 0, NULL);
INSERT INTO mailbox VALUES (3, 'Deleted Items', 498, 1, 3, 0, '\\Trash');
INSERT INTO subscription VALUES ('INBOX');
INSERT INTO tombstone VALUES (1, 1, 6);
"""


def _make_v1(root: Path) -> None:
    path = root / "alice"
    (path / "messages").mkdir(parents=True)
    (path / "messages" / ("ab" * 16)).write_bytes(msg(2))
    conn = sqlite3.connect(path / "index.sqlite3")
    conn.executescript(_V1_SCHEMA)
    conn.execute(
        "INSERT INTO message VALUES (1, 2, 7, 1, '[\"$Old\"]', ?, ?, '[]', '[]', '{}', NULL, ?)",
        (WHEN.isoformat(), len(msg(2)), "ab" * 16),
    )
    conn.commit()
    conn.close()


def test_schema_1_is_migrated_in_place(tmp_path: Path) -> None:
    _make_v1(tmp_path)
    store = SqliteMailStore(tmp_path)
    boxes = {m.name: m for m in store.list_mailboxes("alice")}
    # Missing defaults are added; "sent" (any case) and a \Trash box stand for theirs.
    assert set(boxes) == {"INBOX", "sent", "Deleted Items", "Drafts", "Junk", "Archive"}
    assert boxes["INBOX"].uidvalidity == 500 and boxes["sent"].special_use is None
    assert boxes["Drafts"].uidvalidity == 501 and boxes["Drafts"].subscribed
    assert not any(m.noselect for m in boxes.values())
    status = store.mailbox_status("alice", "INBOX")
    assert (status.uidnext, status.exists, status.unseen, status.size) == (3, 1, 0, len(msg(2)))
    assert store.read_message("alice", "INBOX", 2) == msg(2)
    assert store.messages("alice", "INBOX", [2])[0].flags == {"\\Seen", "$Old"}
    # rows from before schema 3 carry no IMAP syntax: fetch_cached renders it from JSON
    (cached,) = store.fetch_cached("alice", "INBOX", [2])
    assert cached.uid == 2 and cached.flags == {"\\Seen", "$Old"}
    assert cached.envelope.startswith(b"(") and cached.bodystructure.startswith(b"(")
    assert store.changes_since("alice", "INBOX", 5).expunged == [1]
    assert store.last_modseq("alice") > 7
    store.expunge("alice", "INBOX", [2])
    assert store.read_expunged("alice", "INBOX", 2) == msg(2)
    store.close()
    conn = sqlite3.connect(tmp_path / "alice" / "index.sqlite3")
    assert conn.execute("SELECT schema_version FROM account").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    again = SqliteMailStore(tmp_path)  # a second open changes nothing
    assert {m.name for m in again.list_mailboxes("alice")} == set(boxes)
    again.close()


def _schema_of(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    shape: dict[str, object] = {
        t: sorted(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables
    }
    shape["objects"] = sorted(
        r[:2] for r in conn.execute("SELECT type, name FROM sqlite_master WHERE type != 'table'")
    )
    conn.close()
    return shape


def test_migrated_schema_equals_a_new_one(tmp_path: Path) -> None:
    _make_v1(tmp_path / "old")
    migrated = SqliteMailStore(tmp_path / "old")
    migrated.mailbox_status("alice", "INBOX")  # opens, so migrates, the account
    migrated.close()
    fresh = SqliteMailStore(tmp_path / "new")
    fresh.create_account("alice")
    fresh.close()
    assert _schema_of(tmp_path / "old" / "alice" / "index.sqlite3") == _schema_of(
        tmp_path / "new" / "alice" / "index.sqlite3"
    )


def test_empty_version_1_tables_are_completed(tmp_path: Path) -> None:
    """Version 1 made its tables before the transaction that filled them."""
    path = tmp_path / "alice"
    (path / "messages").mkdir(parents=True)
    conn = sqlite3.connect(path / "index.sqlite3")
    conn.executescript(_V1_SCHEMA.split("INSERT", 1)[0])
    conn.close()
    store = SqliteMailStore(tmp_path)
    assert [m.name for m in store.list_mailboxes("alice")] == sorted(
        n for n, _ in DEFAULT_MAILBOXES
    )
    assert store.deliver("alice", "INBOX", msg(1), internal_date=WHEN).uid == 1
    store.close()


def test_concurrent_opens_migrate_once(tmp_path: Path) -> None:
    _make_v1(tmp_path)
    stores = [SqliteMailStore(tmp_path) for _ in range(4)]
    errors: list[BaseException] = []

    def open_it(s: SqliteMailStore) -> None:
        try:
            s.mailbox_status("alice", "INBOX")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    names = [m.name for m in stores[0].list_mailboxes("alice")]
    assert len(names) == len(set(names)) == 6
    for s in stores:
        s.close()


def test_newer_schema_is_refused(store: SqliteMailStore, tmp_path: Path) -> None:
    store.close()
    conn = sqlite3.connect(tmp_path / "alice" / "index.sqlite3")
    conn.execute("UPDATE account SET schema_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        SqliteMailStore(tmp_path).mailbox_status("alice", "INBOX")


def test_new_account_is_current(store: SqliteMailStore, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "alice" / "index.sqlite3")
    assert conn.execute("SELECT schema_version FROM account").fetchone() == (
        sqlite_schema.SCHEMA_VERSION,
    )
    conn.close()
    assert [m.name for m in store.list_mailboxes("alice")] == sorted(
        n for n, _ in DEFAULT_MAILBOXES
    )


# --- files: COPY, MOVE, expunge, sweeps --------------------------------------------------


def test_copy_hard_links_a_new_name(store: SqliteMailStore, tmp_path: Path) -> None:
    got = store.deliver("alice", "INBOX", msg(1), internal_date=WHEN)
    (pair,) = store.copy_messages("alice", "INBOX", [got.uid], "Archive").pairs
    files = sorted(_files(tmp_path))
    assert len(files) == 2
    stats = [os.stat(tmp_path / "alice" / "messages" / f) for f in files]
    assert stats[0].st_ino == stats[1].st_ino  # no data copied
    store.expunge("alice", "INBOX", [got.uid])
    assert store.read_message("alice", "Archive", pair[1]) == msg(1)


def test_copy_falls_back_to_a_byte_copy(
    store: SqliteMailStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = store.deliver("alice", "INBOX", msg(1), internal_date=WHEN)

    def no_links(src: object, dst: object) -> None:
        raise OSError(31, "Too many links")

    monkeypatch.setattr(sqlite_account.os, "link", no_links)
    (pair,) = store.copy_messages("alice", "INBOX", [got.uid], "Archive").pairs
    stats = [os.stat(tmp_path / "alice" / "messages" / f) for f in _files(tmp_path)]
    assert len({s.st_ino for s in stats}) == 2
    assert store.read_message("alice", "Archive", pair[1]) == msg(1)


def test_failed_copy_leaves_no_files(
    store: SqliteMailStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = [store.deliver("alice", "INBOX", msg(n), internal_date=WHEN).uid for n in range(3)]
    before = _files(tmp_path)

    def broken(path: Path) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr("trimail.storage.sqlite_imap.fsync_dir", broken)
    with pytest.raises(StorageError):
        store.copy_messages("alice", "INBOX", uids, "Archive")
    assert _files(tmp_path) == before
    assert store.mailbox_status("alice", "Archive").exists == 0


def test_move_does_no_file_io_and_file_outlives_source_grace(
    store: SqliteMailStore, tmp_path: Path, clock: list[float]
) -> None:
    got = store.deliver("alice", "INBOX", msg(1), internal_date=WHEN)
    files = _files(tmp_path)
    (pair,) = store.copy_messages("alice", "INBOX", [got.uid], "Trash", move=True).pairs
    assert _files(tmp_path) == files
    clock[0] += EXPUNGED_GRACE_SECONDS + 1
    store.expunge("alice", "INBOX", [])  # sweeps the source's expunged row
    assert _files(tmp_path) == files
    assert store.read_message("alice", "Trash", pair[1]) == msg(1)
    store.expunge("alice", "Trash", [pair[1]])
    assert _files(tmp_path) == files  # the Trash row's grace period starts now
    clock[0] += EXPUNGED_GRACE_SECONDS + 1
    store.expunge("alice", "Trash", [])
    assert _files(tmp_path) == set()


def test_orphan_sweep_keeps_files_of_expunged_messages(
    store: SqliteMailStore, tmp_path: Path, clock: list[float]
) -> None:
    got = store.deliver("alice", "INBOX", msg(1), internal_date=WHEN)
    store.expunge("alice", "INBOX", [got.uid])
    (name,) = _files(tmp_path)
    old = clock[0] - 2 * mod.ORPHAN_AGE_SECONDS
    os.utime(tmp_path / "alice" / "messages" / name, (old, old))
    store.close()
    reopened = SqliteMailStore(tmp_path, clock=lambda: clock[0])
    assert reopened.read_expunged("alice", "INBOX", got.uid) == msg(1)
    reopened.close()


def test_deleted_mailbox_leaves_no_ghosts_in_a_new_one(
    store: SqliteMailStore, tmp_path: Path, clock: list[float]
) -> None:
    store.create_mailbox("alice", "Gone")
    got = store.deliver("alice", "Gone", msg(1), internal_date=WHEN)
    store.delete_mailbox("alice", "Gone")
    store.create_mailbox("alice", "New")  # may reuse the row id
    store.create_mailbox("alice", "Gone")
    for box in ("New", "Gone"):
        assert store.messages("alice", box, [got.uid], include_expunged=True) == []
        with pytest.raises(NoSuchMessage):
            store.read_expunged("alice", box, got.uid)
    assert len(_files(tmp_path)) == 1  # until the grace period is over
    clock[0] += EXPUNGED_GRACE_SECONDS + 1
    store.delete_mailbox("alice", "New")
    assert _files(tmp_path) == set()


def test_expunged_message_sharing_a_file_with_a_copy_in_grace(
    store: SqliteMailStore, tmp_path: Path
) -> None:
    got = store.deliver("alice", "INBOX", msg(1), internal_date=WHEN)
    store.copy_messages("alice", "INBOX", [got.uid], "INBOX", move=True)
    store.copy_messages("alice", "INBOX", [got.uid + 1], "INBOX", move=True)
    infos = store.messages("alice", "INBOX", [1, 2, 3], include_expunged=True)
    assert [m.uid for m in infos] == [1, 2, 3]
    assert all(store.read_expunged("alice", "INBOX", u) == msg(1) for u in (1, 2, 3))
    assert store.message_uids("alice", "INBOX")[1] == [3]


# --- reads by UID ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    present=st.sets(st.integers(1, 400), max_size=200),
    wanted=st.one_of(
        st.sets(st.integers(1, 400), max_size=300),
        st.tuples(st.integers(1, 400), st.integers(0, 400)).map(
            lambda t: set(range(t[0], t[0] + t[1]))
        ),
    ),
)
def test_select_by_uids_matches_a_plain_filter(present: set[int], wanted: set[int]) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE m (mailbox_id INTEGER, uid INTEGER, PRIMARY KEY (mailbox_id, uid))")
    conn.executemany("INSERT INTO m VALUES (?, ?)", [(1, u) for u in present])
    conn.executemany("INSERT INTO m VALUES (?, ?)", [(2, u) for u in range(1, 401)])
    rows = sqlite_schema.select_by_uids(
        conn, "SELECT uid FROM m WHERE mailbox_id = ? AND {uids}", 1, sorted(wanted)
    )
    assert sorted(r[0] for r in rows) == sorted(present & wanted)
    conn.close()


def test_messages_of_a_large_dense_view(store: SqliteMailStore) -> None:
    uids = [store.deliver("alice", "INBOX", msg(n), internal_date=WHEN).uid for n in range(120)]
    store.expunge("alice", "INBOX", uids[10:15] + uids[70:71])
    _, view = store.message_uids("alice", "INBOX")
    got = store.messages("alice", "INBOX", reversed(range(1, 2000)))
    assert [m.uid for m in got] == view
    assert [m.uid for m in store.messages("alice", "INBOX", uids[5:60:3])] == [
        u for u in uids[5:60:3] if u in view
    ]


# --- concurrency -----------------------------------------------------------------------


def test_concurrent_stores_from_two_processes_merge(tmp_path: Path) -> None:
    """+FLAGS/-FLAGS from two stores on one root (two processes) never lose an update."""
    first = SqliteMailStore(tmp_path)
    first.create_account("alice")
    uids = [first.deliver("alice", "INBOX", msg(n), internal_date=WHEN).uid for n in range(5)]
    second = SqliteMailStore(tmp_path)
    errors: list[BaseException] = []

    def toggle(store: SqliteMailStore, flag: str) -> None:
        try:
            for _ in range(25):
                store.store_flags("alice", "INBOX", uids, "add", [flag, "$Tmp"])
                store.store_flags("alice", "INBOX", uids, "remove", ["$Tmp"])
                store.store_flags("alice", "INBOX", uids, "add", [flag])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=toggle, args=(first, "\\Seen")),
        threading.Thread(target=toggle, args=(second, "$Mine")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for info in second.messages("alice", "INBOX", uids):
        assert info.flags == {"\\Seen", "$Mine"}
    modseqs = [m.modseq for m in first.messages("alice", "INBOX", uids)]
    assert len(set(modseqs)) == len(modseqs)
    first.close()
    second.close()


# --- names -----------------------------------------------------------------------------


def test_rename_onto_its_own_child_names(store: SqliteMailStore) -> None:
    """a/b -> a while a/b/b exists: the targets a and a/b swap names in one go."""
    store.create_mailbox("alice", "a/b")
    store.create_mailbox("alice", "a/b/b")
    inner = store.deliver("alice", "a/b/b", msg(1), internal_date=WHEN)
    store.rename_mailbox("alice", "a/b", "a")
    names = {m.name for m in store.list_mailboxes("alice")}
    assert {"a", "a/b"} <= names and "a/b/b" not in names
    assert store.read_message("alice", "a/b", inner.uid) == msg(1)


def test_keywords_column_stays_sorted_json(store: SqliteMailStore, tmp_path: Path) -> None:
    got = store.deliver("alice", "INBOX", msg(1), flags=["$z"], internal_date=WHEN)
    store.store_flags("alice", "INBOX", [got.uid], "add", ["$a", "$m"])
    conn = sqlite3.connect(tmp_path / "alice" / "index.sqlite3")
    (raw,) = conn.execute("SELECT keywords FROM message").fetchone()
    conn.close()
    assert json.loads(raw) == ["$a", "$m", "$z"]
