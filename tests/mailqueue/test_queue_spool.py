"""The queue directory: durable enqueue, atomic updates, orphans, corrupt entries."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.address import Mailbox
from trimail.queue.spool import (
    QueuedRecipient,
    QueueEntry,
    RecipientState,
    Spool,
    SpoolError,
    entry_from_json,
    entry_to_json,
    valid_queue_id,
)

ALICE = Mailbox(local_part="alice", domain="example.org")
BOB = Mailbox(local_part="bob", domain="remote.example")


def make_entry(queue_id: str = "0123456789AB", **changes: object) -> QueueEntry:
    fields: dict[str, object] = {
        "queue_id": queue_id,
        "reverse_path": ALICE,
        "recipients": [QueuedRecipient(forward_path=BOB, notify=("FAILURE",))],
        "arrival": 1_000_000.0,
        "next_attempt": 1_000_000.0,
    }
    fields.update(changes)
    return QueueEntry(**fields)  # type: ignore[arg-type]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "queue")
    spool.open()
    return spool


def test_enqueue_writes_prefix_and_content_and_metadata(spool: Spool) -> None:
    entry = make_entry()
    spool.enqueue(entry, b"Subject: hi\r\n\r\nbody\r\n", prefix=b"Received: x\r\n")
    assert spool.read_message(entry.queue_id) == b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"
    loaded = spool.load(entry.queue_id)
    assert loaded == entry
    assert loaded is not None and loaded.size == len(b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n")
    assert spool.ids() == [entry.queue_id]


def test_enqueue_copies_a_spool_file(spool: Spool, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 3_000_000)
    spool.enqueue(make_entry(), big, prefix=b"P: 1\r\n")
    assert spool.read_message("0123456789AB") == b"P: 1\r\n" + b"x" * 3_000_000


def test_an_existing_queue_id_is_refused_and_left_alone(spool: Spool) -> None:
    spool.enqueue(make_entry(), b"first")
    with pytest.raises(SpoolError, match="exists"):
        spool.enqueue(make_entry(), b"second")
    assert spool.read_message("0123456789AB") == b"first"


def test_update_changes_or_removes_under_the_lock(spool: Spool) -> None:
    spool.enqueue(make_entry(), b"m")

    def bump(entry: QueueEntry) -> QueueEntry:
        entry.attempts += 1
        return entry

    assert spool.update("0123456789AB", bump) is not None
    loaded = spool.load("0123456789AB")
    assert loaded is not None and loaded.attempts == 1
    assert spool.update("0123456789AB", lambda e: None) is None
    assert spool.load("0123456789AB") is None
    assert not spool.message_path("0123456789AB").exists()
    assert spool.update("0123456789AB", bump) is None  # gone: change not called


def test_version_changes_when_entries_change(spool: Spool) -> None:
    before = spool.version()
    os.utime(spool.entries_dir, ns=(0, 0))
    before = spool.version()
    spool.enqueue(make_entry(), b"m")
    assert spool.version() != before


def test_orphan_message_files_are_swept_only_when_old(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "q")
    spool.open()
    orphan = spool.messages_dir / "AAAAAAAAAAAA"
    orphan.write_bytes(b"no metadata: the client never got 250")
    spool.enqueue(make_entry(), b"kept")
    os.utime(spool.message_path("0123456789AB"), (1, 1))  # old, but has metadata
    spool.open()
    assert orphan.exists()  # young: maybe another worker's enqueue in progress
    os.utime(orphan, (1, 1))
    spool.open()
    assert not orphan.exists()
    assert spool.read_message("0123456789AB") == b"kept"


def test_corrupt_metadata_is_quarantined_not_fatal(spool: Spool) -> None:
    spool.enqueue(make_entry(), b"m")
    (spool.entries_dir / "0123456789AB.json").write_text("{not json")
    assert spool.load("0123456789AB") is None
    assert list(spool.entries()) == []
    assert (spool.corrupt_dir / "0123456789AB.json").exists()
    assert (spool.corrupt_dir / "0123456789AB").exists()


@pytest.mark.parametrize("bad", ["../etc/passwd", "abc", "0123456789ab/..", "", "G" * 12])
def test_queue_ids_never_become_arbitrary_paths(spool: Spool, bad: str) -> None:
    assert not valid_queue_id(bad)
    with pytest.raises(SpoolError, match="invalid queue id"):
        spool.message_path(bad)


def test_unknown_keys_in_metadata_are_ignored_for_upgrades() -> None:
    data = entry_to_json(make_entry()).replace(b'"queue_id"', b'"future": 1, "queue_id"', 1)
    assert entry_from_json(data) == make_entry()


addresses = st.builds(
    Mailbox,
    local_part=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
    domain=st.text(min_size=1, max_size=20),
)


@given(
    reverse_path=st.one_of(st.none(), addresses),
    recipients=st.lists(
        st.builds(
            QueuedRecipient,
            forward_path=addresses,
            state=st.sampled_from(RecipientState),
            notify=st.one_of(st.none(), st.tuples(st.sampled_from(["SUCCESS", "DELAY"]))),
            orcpt=st.one_of(st.none(), st.tuples(st.just("rfc822"), st.text(max_size=30))),
            last_reply=st.one_of(st.none(), st.text(max_size=50)),
        ),
        min_size=1,
        max_size=4,
    ),
    envid=st.one_of(st.none(), st.text(max_size=20)),
)
def test_metadata_round_trips(
    reverse_path: Mailbox | None, recipients: list[QueuedRecipient], envid: str | None
) -> None:
    entry = make_entry(reverse_path=reverse_path, recipients=recipients, envid=envid)
    assert entry_from_json(entry_to_json(entry)) == entry


@given(st.binary(max_size=300))
def test_arbitrary_metadata_bytes_never_crash(data: bytes) -> None:
    with contextlib.suppress(SpoolError):
        entry_from_json(data)
