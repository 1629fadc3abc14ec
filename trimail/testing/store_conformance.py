"""A conformance suite for MailStore plugins, after trio's ``check_two_way_stream``.

Usage in a plugin's tests::

    from trimail.testing.store_conformance import check_mail_store

    def test_my_store_conforms():
        check_mail_store(lambda root: MyStore(root))

The factory is called with a fresh, empty directory (and again with the same
directory to check durability across close/reopen). Each check raises
``AssertionError`` naming the rule (RFC section) that the store broke.
"""

from __future__ import annotations

import datetime as _dt
import json
import tempfile
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from trimail.mail.summary import summarize
from trimail.storage.api import (
    Delivered,
    MailboxExists,
    MailStore,
    NoSuchAccount,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
)

__all__ = ["check_mail_store"]

StoreFactory = Callable[[Path], MailStore]

_WHEN = _dt.datetime(2024, 2, 7, 21, 52, 25, tzinfo=_dt.timezone(_dt.timedelta(hours=-8)))
_SAMPLE = (
    b"From: Mary Smith <mary@example.net>\r\n"
    b"To: John Doe <jdoe@machine.example>\r\n"
    b"Subject: Saying Hello\r\n"
    b"Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n"
    b"Message-ID: <1234@local.machine.example>\r\n"
    b"\r\n"
    b"This is a message just to say hello.\r\n"
)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _raises(exc_type: type[BaseException], call: Callable[[], object], what: str) -> None:
    try:
        call()
    except exc_type:
        return
    except Exception as exc:
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {exc!r}") from exc
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing raised")


def _message(n: int) -> bytes:
    return _SAMPLE.replace(b"Saying Hello", b"Hello number %d" % n)


def check_mail_store(factory: StoreFactory) -> None:
    """Run every conformance check against stores made by ``factory``.

    Args:
        factory: ``factory(root)`` returns a new store keeping its data under ``root``
            (an existing, empty directory at first; the same one again after close).

    Raises:
        AssertionError: the store broke a rule; the message names it.
    """
    for check in _CHECKS:
        with tempfile.TemporaryDirectory(prefix="trimail-store-") as tmp:
            check(factory, Path(tmp))


def _with_store(factory: StoreFactory, root: Path) -> MailStore:
    store = factory(root)
    store.create_account("alice")
    return store


def check_accounts(factory: StoreFactory, root: Path) -> None:
    """Accounts: create is idempotent and makes INBOX; ids are validated; delete works."""
    store = factory(root)
    try:
        _expect(not store.account_exists("alice"), "fresh store has no accounts")
        _raises(NoSuchAccount, lambda: store.list_mailboxes("alice"), "unknown account")
        store.create_account("alice")
        store.create_account("alice")
        _expect(store.account_exists("alice"), "account exists after create_account")
        names = [m.name for m in store.list_mailboxes("alice")]
        _expect(names == ["INBOX"], f"a new account has exactly INBOX, got {names}")
        for bad in ("", "../x", "A", "a/b", "a.b", ".x", "-x", "x" * 65, "a\0"):
            _raises(ValueError, partial(store.create_account, bad), f"account {bad!r}")
            _raises(ValueError, partial(store.account_exists, bad), f"account {bad!r}")
        store.deliver("alice", "INBOX", _SAMPLE, internal_date=_WHEN)
        store.delete_account("alice")
        store.delete_account("alice")
        _expect(not store.account_exists("alice"), "account gone after delete_account")
        _raises(
            NoSuchAccount,
            lambda: store.deliver("alice", "INBOX", _SAMPLE, internal_date=_WHEN),
            "deleted account",
        )
        store.create_account("alice")
        _expect(
            store.mailbox_status("alice", "INBOX").exists == 0, "a re-created account starts empty"
        )
    finally:
        store.close()


def check_deliver_round_trip(factory: StoreFactory, root: Path) -> None:
    """Stored octets are prefix + message exactly; the index holds the summary."""
    store = _with_store(factory, root)
    try:
        prefix = b"Received: from a by b; Fri, 21 Nov 1997 09:55:07 -0600\r\n"
        first = store.deliver(
            "alice",
            "inbox",
            _SAMPLE,
            prefix=prefix,
            flags=["\\Seen", "$Label1"],
            internal_date=_WHEN,
        )
        spool = root / "spool.eml"
        spool.write_bytes(_message(2) * 300)
        second = store.deliver("alice", "INBOX", spool, internal_date=_WHEN)
        _expect(first.size == len(prefix + _SAMPLE), "Delivered.size counts the prefix")
        for delivered, data, flags in (
            (first, prefix + _SAMPLE, {"\\Seen", "$Label1"}),
            (second, _message(2) * 300, set()),
        ):
            got = store.read_message("alice", "INBOX", delivered.uid)
            _expect(got == data, "read_message returns the stored octets exactly")
            (info,) = store.list_messages("alice", "INBOX", delivered.uid, delivered.uid)
            summary = summarize(data)
            _expect(info.size == len(data) == delivered.size, "RFC822.SIZE = octets stored")
            _expect(
                info.uid == delivered.uid and info.modseq == delivered.modseq,
                "list_messages agrees with Delivered",
            )
            _expect(set(info.flags) == flags, f"flags kept, got {sorted(info.flags)}")
            _expect(
                info.internal_date == _WHEN and info.internal_date.utcoffset() == _WHEN.utcoffset(),
                "INTERNALDATE kept with its zone",
            )
            _expect(
                json.dumps(info.envelope) == json.dumps(summary.envelope),
                "ENVELOPE cached as summarize() computes it",
            )
            _expect(
                json.dumps(info.bodystructure) == json.dumps(summary.bodystructure),
                "BODYSTRUCTURE cached as summarize() computes it",
            )
            _expect(dict(info.headers) == dict(summary.headers), "header fields cached")
            _expect(info.sent_date == summary.date, "Date: cached")
        status = store.mailbox_status("alice", "INBOX")
        _expect((status.exists, status.unseen) == (2, 1), f"exists/unseen, got {status}")
        _expect(status.size == first.size + second.size, "STATUS SIZE sums sizes")
        _expect(status.uidnext > second.uid, "UIDNEXT above every UID (RFC 3501 §2.3.1.1)")
        _expect(status.highestmodseq >= second.modseq, "HIGHESTMODSEQ covers every MODSEQ")
        _expect(spool.read_bytes() == _message(2) * 300, "the spool file is left alone")
    finally:
        store.close()


def check_uid_modseq_order(factory: StoreFactory, root: Path) -> None:
    """UIDs ascend per mailbox, MODSEQ ascends per account, UIDNEXT only grows."""
    store = _with_store(factory, root)
    try:
        store.create_mailbox("alice", "Archive")
        last_uid = {"INBOX": 0, "Archive": 0}
        last_modseq = 0
        for n in range(12):
            box = "INBOX" if n % 3 else "Archive"
            before = store.mailbox_status("alice", box)
            got = store.deliver("alice", box, _message(n), internal_date=_WHEN)
            after = store.mailbox_status("alice", box)
            _expect(got.uid > last_uid[box], "UIDs strictly ascend (RFC 3501 §2.3.1.1)")
            _expect(got.uid >= before.uidnext, "a new UID is at least the old UIDNEXT")
            _expect(after.uidnext > got.uid, "UIDNEXT moves past the new UID")
            _expect(got.modseq > last_modseq, "MODSEQ strictly ascends (RFC 7162 §3.1)")
            _expect(
                after.highestmodseq >= got.modseq > before.highestmodseq,
                "HIGHESTMODSEQ grows with each arrival",
            )
            _expect(got.uidvalidity == before.uidvalidity, "UIDVALIDITY stays put")
            last_uid[box], last_modseq = got.uid, got.modseq
        uids = [m.uid for m in store.list_messages("alice", "INBOX")]
        _expect(uids == sorted(set(uids)) and len(uids) == 8, "list_messages ascends by UID")
        middle = store.list_messages("alice", "INBOX", uids[2], uids[4])
        _expect([m.uid for m in middle] == uids[2:5], "uid_from..uid_to is inclusive")
        _expect(
            store.list_messages("alice", "INBOX", uids[-1] + 1) == [],
            "a range above the last UID is empty",
        )
    finally:
        store.close()


def check_mailboxes(factory: StoreFactory, root: Path) -> None:
    """Mailbox names, UIDVALIDITY per mailbox, and the errors for missing things."""
    store = _with_store(factory, root)
    try:
        sent = store.create_mailbox("alice", "Sent", special_use="\\Sent")
        child = store.create_mailbox("alice", "inbox/Sub")
        other = store.create_mailbox("alice", "Grüße")
        _expect(child.name == "INBOX/Sub", "INBOX is case-insensitive as a prefix (§5.1)")
        inbox = store.mailbox_status("alice", "Inbox")
        validities = {sent.uidvalidity, child.uidvalidity, other.uidvalidity, inbox.uidvalidity}
        _expect(len(validities) == 4, "each mailbox gets its own UIDVALIDITY")
        _raises(MailboxExists, lambda: store.create_mailbox("alice", "INBOX"), "CREATE INBOX")
        _raises(MailboxExists, lambda: store.create_mailbox("alice", "Sent"), "CREATE twice")
        for bad in ("", "a\r\nb", "a//b", "/a"):
            _raises(
                ValueError, partial(store.create_mailbox, "alice", bad), f"mailbox name {bad!r}"
            )
        listed = {m.name: m for m in store.list_mailboxes("alice")}
        _expect(set(listed) == {"INBOX", "Sent", "INBOX/Sub", "Grüße"}, f"LIST: {listed}")
        _expect(listed["Sent"].special_use == "\\Sent", "special-use kept (RFC 6154)")
        _raises(
            NoSuchMailbox,
            lambda: store.deliver("alice", "Nope", _SAMPLE, internal_date=_WHEN),
            "deliver",
        )
        _raises(NoSuchMailbox, lambda: store.mailbox_status("alice", "Nope"), "status")
        _raises(NoSuchMailbox, lambda: store.list_messages("alice", "Nope"), "list")
        _raises(NoSuchMailbox, lambda: store.read_message("alice", "Nope", 1), "read")
        _raises(NoSuchMessage, lambda: store.read_message("alice", "INBOX", 99), "no UID")
        _raises(
            ValueError,
            lambda: store.deliver(
                "alice", "INBOX", _SAMPLE, internal_date=_WHEN.replace(tzinfo=None)
            ),
            "naive INTERNALDATE",
        )
        _raises(
            ValueError,
            lambda: store.deliver(
                "alice", "INBOX", _SAMPLE, flags=["\\Bogus"], internal_date=_WHEN
            ),
            "bad flag",
        )
        _expect(
            store.mailbox_status("alice", "INBOX").exists == 0,
            "failed deliveries leave nothing behind",
        )
        got = store.deliver("alice", "Grüße", _SAMPLE, internal_date=_WHEN)
        _expect(got.uidvalidity == other.uidvalidity, "APPENDUID names the target's UIDVALIDITY")
    finally:
        store.close()


def check_concurrent_deliveries(factory: StoreFactory, root: Path) -> None:
    """Deliveries from many threads at once all land, with distinct UIDs."""
    store = _with_store(factory, root)
    results: dict[int, Delivered] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(first: int) -> None:
        try:
            for n in range(first, first + 6):
                got = store.deliver("alice", "INBOX", _message(n), internal_date=_WHEN)
                with lock:
                    results[n] = got
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(t * 100,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _expect(not errors, f"concurrent deliveries failed: {errors[:3]}")
        uids = [d.uid for d in results.values()]
        modseqs = [d.modseq for d in results.values()]
        _expect(len(set(uids)) == len(uids) == 96, "concurrent deliveries get distinct UIDs")
        _expect(len(set(modseqs)) == 96, "concurrent arrivals get distinct MODSEQs")
        listed = [m.uid for m in store.list_messages("alice", "INBOX")]
        _expect(listed == sorted(uids), "every delivered UID is listed, ascending")
        for n, got in results.items():
            _expect(
                store.read_message("alice", "INBOX", got.uid) == _message(n),
                "each UID holds its own message",
            )
    finally:
        store.close()


def check_durability(factory: StoreFactory, root: Path) -> None:
    """What deliver() returned survives close and reopen; counters never go back."""
    store = _with_store(factory, root)
    try:
        store.create_mailbox("alice", "Archive")
        delivered = [
            store.deliver("alice", "INBOX", _message(n), internal_date=_WHEN) for n in range(5)
        ]
        before = store.mailbox_status("alice", "INBOX")
    finally:
        store.close()
    _raises(StorageError, lambda: store.mailbox_status("alice", "INBOX"), "closed store")
    store = factory(root)
    try:
        _expect(store.account_exists("alice"), "accounts survive reopen")
        after = store.mailbox_status("alice", "INBOX")
        _expect(after == before, f"status survives reopen: {before} -> {after}")
        for n, got in enumerate(delivered):
            _expect(
                store.read_message("alice", "INBOX", got.uid) == _message(n),
                "delivered messages survive reopen",
            )
        names = {m.name for m in store.list_mailboxes("alice")}
        _expect(names == {"INBOX", "Archive"}, "mailboxes survive reopen")
        again = store.deliver("alice", "INBOX", _SAMPLE, internal_date=_WHEN)
        _expect(again.uid >= before.uidnext, "UIDNEXT does not go back after reopen")
        _expect(again.modseq > before.highestmodseq, "MODSEQ does not go back after reopen")
        _expect(again.uidvalidity == before.uidvalidity, "UIDVALIDITY survives reopen")
    finally:
        store.close()


_CHECKS: tuple[Callable[[StoreFactory, Path], None], ...] = (
    check_accounts,
    check_deliver_round_trip,
    check_uid_modseq_order,
    check_mailboxes,
    check_concurrent_deliveries,
    check_durability,
)
