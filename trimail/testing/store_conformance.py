"""A conformance suite for MailStore plugins, after trio's ``check_two_way_stream``.

Usage in a plugin's tests::

    from trimail.testing.store_conformance import check_mail_store

    def test_my_store_conforms():
        check_mail_store(lambda root: MyStore(root))

The factory is called with a fresh, empty directory (and again with the same
directory to check durability across close/reopen, and while the first store is still
open, standing for a second process: ``trimail serve --workers``). Each check raises
``AssertionError`` naming the rule (RFC section) that the store broke.

To check the grace period of expunged messages (`EXPUNGED_GRACE_SECONDS`) without
waiting an hour, also pass ``clocked_factory(root, clock)``: a store that reads the
time from ``clock()`` (seconds since the epoch)::

    check_mail_store(MyStore, clocked_factory=lambda root, clock: MyStore(root, clock=clock))
"""

from __future__ import annotations

import datetime as _dt
import json
import random
import tempfile
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from trimail.mail.imap_syntax import render_bodystructure, render_envelope
from trimail.mail.summary import summarize
from trimail.storage.api import (
    DEFAULT_MAILBOXES,
    EXPUNGED_GRACE_SECONDS,
    Delivered,
    InvalidMailboxName,
    MailboxExists,
    MailStore,
    NoSuchAccount,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
)

__all__ = ["ClockedStoreFactory", "StoreFactory", "check_mail_store"]

StoreFactory = Callable[[Path], MailStore]
"""``factory(root)``: a new store keeping its data under ``root``."""

ClockedStoreFactory = Callable[[Path, Callable[[], float]], MailStore]
"""``factory(root, clock)``: like `StoreFactory`, reading the time from ``clock()``."""

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


def check_mail_store(
    factory: StoreFactory, *, clocked_factory: ClockedStoreFactory | None = None
) -> None:
    """Run every conformance check against stores made by ``factory``.

    Args:
        factory: ``factory(root)`` returns a new store keeping its data under ``root``
            (an existing, empty directory at first; the same one again after close).
        clocked_factory: ``clocked_factory(root, clock)`` returns a store reading the
            time from ``clock()``; without it, the end of the expunged messages' grace
            period is not checked.

    Raises:
        AssertionError: the store broke a rule; the message names it.
    """
    for check in _CHECKS:
        with tempfile.TemporaryDirectory(prefix="trimail-store-") as tmp:
            check(factory, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="trimail-store-") as tmp:
        check_expunged_grace(factory, Path(tmp), clocked_factory)


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
        names = sorted(m.name for m in store.list_mailboxes("alice"))
        defaults = sorted(name for name, _ in DEFAULT_MAILBOXES)
        _expect(names == defaults, f"a new account has the default mailboxes, got {names}")
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
        store.create_mailbox("alice", "Work")
        last_uid = {"INBOX": 0, "Work": 0}
        last_modseq = 0
        for n in range(12):
            box = "INBOX" if n % 3 else "Work"
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
        sent = store.create_mailbox("alice", "Outbox", special_use="\\Sent")
        child = store.create_mailbox("alice", "inbox/Sub")
        other = store.create_mailbox("alice", "Grüße")
        _expect(child.name == "INBOX/Sub", "INBOX is case-insensitive as a prefix (§5.1)")
        inbox = store.mailbox_status("alice", "Inbox")
        validities = {sent.uidvalidity, child.uidvalidity, other.uidvalidity, inbox.uidvalidity}
        _expect(len(validities) == 4, "each mailbox gets its own UIDVALIDITY")
        _raises(MailboxExists, lambda: store.create_mailbox("alice", "INBOX"), "CREATE INBOX")
        _raises(MailboxExists, lambda: store.create_mailbox("alice", "Outbox"), "CREATE twice")
        for bad in ("", "a\r\nb", "a//b", "/a"):
            _raises(
                ValueError, partial(store.create_mailbox, "alice", bad), f"mailbox name {bad!r}"
            )
        listed = {m.name: m for m in store.list_mailboxes("alice")}
        expected = {name for name, _ in DEFAULT_MAILBOXES} | {"Outbox", "INBOX/Sub", "Grüße"}
        _expect(set(listed) == expected, f"LIST: {sorted(listed)}")
        _expect(listed["Outbox"].special_use == "\\Sent", "special-use kept (RFC 6154)")
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
        store.create_mailbox("alice", "Work")
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
        expected = {name for name, _ in DEFAULT_MAILBOXES} | {"Work"}
        _expect(names == expected, "mailboxes survive reopen")
        again = store.deliver("alice", "INBOX", _SAMPLE, internal_date=_WHEN)
        _expect(again.uid >= before.uidnext, "UIDNEXT does not go back after reopen")
        _expect(again.modseq > before.highestmodseq, "MODSEQ does not go back after reopen")
        _expect(again.uidvalidity == before.uidvalidity, "UIDVALIDITY survives reopen")
    finally:
        store.close()


def _deliver(store: MailStore, box: str, n: int, flags: tuple[str, ...] = ()) -> Delivered:
    when = _WHEN + _dt.timedelta(minutes=n)
    return store.deliver("alice", box, _message(n), flags=flags, internal_date=when)


def _uids(store: MailStore, box: str) -> list[int]:
    return store.message_uids("alice", box)[1]


def check_default_mailboxes(factory: StoreFactory, root: Path) -> None:
    """A new account has DEFAULT_MAILBOXES with their special-use (RFC 6154), subscribed."""
    store = _with_store(factory, root)
    try:
        listed = {m.name: m for m in store.list_mailboxes("alice")}
        for name, special_use in DEFAULT_MAILBOXES:
            _expect(name in listed, f"default mailbox {name} exists")
            info = listed[name]
            _expect(info.special_use == special_use, f"{name} has special-use {special_use}")
            _expect(info.subscribed and not info.noselect, f"{name} is subscribed, selectable")
        _expect(
            len({m.uidvalidity for m in listed.values()}) == len(listed),
            "each default mailbox has its own UIDVALIDITY",
        )
        subscribed = store.list_subscriptions("alice")
        _expect(
            subscribed == sorted(name for name, _ in DEFAULT_MAILBOXES),
            f"the defaults are the subscriptions, sorted: {subscribed}",
        )
        for name, _ in DEFAULT_MAILBOXES:
            _raises(MailboxExists, partial(store.create_mailbox, "alice", name), f"CREATE {name}")
        store.create_account("alice")
        again = {m.name: m.uidvalidity for m in store.list_mailboxes("alice")}
        _expect(
            again == {n: m.uidvalidity for n, m in listed.items()},
            "create_account of an existing account changes nothing",
        )
    finally:
        store.close()


def check_message_uids_and_messages(factory: StoreFactory, root: Path) -> None:
    """message_uids is the whole view in one snapshot; messages() reads by UID."""
    store = _with_store(factory, root)
    try:
        _expect(store.message_uids("alice", "INBOX")[1] == [], "an empty mailbox has no UIDs")
        delivered = [_deliver(store, "INBOX", n) for n in range(6)]
        store.expunge("alice", "INBOX", [delivered[2].uid])
        highest, uids = store.message_uids("alice", "INBOX")
        expected = [d.uid for i, d in enumerate(delivered) if i != 2]
        _expect(uids == expected, f"message_uids lists the UIDs ascending: {uids}")
        status = store.mailbox_status("alice", "INBOX")
        _expect(highest == status.highestmodseq, "message_uids returns HIGHESTMODSEQ")
        wanted = [uids[3], uids[0], 99_999, delivered[2].uid, uids[3]]
        got = store.messages("alice", "INBOX", wanted)
        _expect(
            [m.uid for m in got] == [uids[0], uids[3]],
            "messages() ascends by UID and leaves out missing or expunged UIDs",
        )
        listed = {m.uid: m for m in store.list_messages("alice", "INBOX")}
        _expect(all(m == listed[m.uid] for m in got), "messages() agrees with list_messages")
        everything = store.messages("alice", "INBOX", range(1, 100))
        _expect([m.uid for m in everything] == uids, "messages() of a range finds them all")
        _expect(store.messages("alice", "INBOX", []) == [], "no UIDs, no messages")
        cached = store.fetch_cached("alice", "INBOX", wanted)
        _expect([c.uid for c in cached] == [uids[0], uids[3]], "fetch_cached reads by UID")
        for item, info in zip(cached, got, strict=True):
            _expect(
                (item.modseq, item.flags, item.internal_date, item.size)
                == (info.modseq, info.flags, info.internal_date, info.size)
                and item.envelope == render_envelope(info.envelope, utf8=False)
                and item.bodystructure
                == render_bodystructure(info.bodystructure, extensible=True, utf8=False),
                "fetch_cached agrees with messages(), ENVELOPE/BODYSTRUCTURE in IMAP syntax",
            )
        _raises(NoSuchMailbox, lambda: store.fetch_cached("alice", "Nope", [1]), "fetch_cached")
        _raises(NoSuchMailbox, lambda: store.message_uids("alice", "Nope"), "message_uids")
        _raises(NoSuchMailbox, lambda: store.messages("alice", "Nope", [1]), "messages")
        before = store.last_modseq("alice")
        _expect(before >= highest, "last_modseq is at least every HIGHESTMODSEQ")
        _deliver(store, "Drafts", 9)
        _expect(store.last_modseq("alice") > before, "last_modseq moves on any change")
    finally:
        store.close()


def check_rename(factory: StoreFactory, root: Path) -> None:
    """RENAME keeps UIDVALIDITY and UIDs, moves children, makes parents (RFC 3501 §6.3.5)."""
    store = _with_store(factory, root)
    try:
        store.create_mailbox("alice", "Work")
        store.create_mailbox("alice", "Work/Sub")
        store.set_subscribed("alice", "Work/Sub", True)
        _deliver(store, "Work", 1, ("\\Flagged",))
        _deliver(store, "Work/Sub", 2)
        before = {b: store.mailbox_status("alice", b) for b in ("Work", "Work/Sub")}
        msgs = {b: store.list_messages("alice", b) for b in ("Work", "Work/Sub")}
        store.rename_mailbox("alice", "Work", "Projects/Work")
        names = {m.name: m for m in store.list_mailboxes("alice")}
        _expect("Work" not in names and "Work/Sub" not in names, "old names are gone")
        _expect(
            {"Projects", "Projects/Work", "Projects/Work/Sub"} <= set(names),
            "children move along and missing parents are created",
        )
        _expect(not names["Projects"].noselect, "a created parent is a plain mailbox")
        for old, new in (("Work", "Projects/Work"), ("Work/Sub", "Projects/Work/Sub")):
            after = store.mailbox_status("alice", new)
            _expect(
                (after.uidvalidity, after.uidnext, after.exists)
                == (before[old].uidvalidity, before[old].uidnext, before[old].exists),
                f"RENAME keeps UIDVALIDITY, UIDNEXT and messages of {old}",
            )
            _expect(
                store.list_messages("alice", new) == msgs[old],
                f"RENAME keeps UIDs, MODSEQs and flags of {old}",
            )
        _expect(
            "Projects/Work/Sub" in store.list_subscriptions("alice"),
            "subscriptions move with RENAME",
        )
        _raises(NoSuchMailbox, lambda: store.mailbox_status("alice", "Work"), "old name")
        _raises(NoSuchMailbox, lambda: store.rename_mailbox("alice", "Work", "X"), "RENAME missing")
        _raises(
            MailboxExists,
            lambda: store.rename_mailbox("alice", "Projects/Work", "Drafts"),
            "RENAME onto an existing name",
        )
        _raises(
            MailboxExists,
            lambda: store.rename_mailbox("alice", "Projects", "Projects/Work/Deeper"),
            "RENAME into its own child",
        )
        _raises(
            InvalidMailboxName,
            lambda: store.rename_mailbox("alice", "Projects", "a//b"),
            "RENAME to an invalid name",
        )
        # RENAME INBOX: its messages move to a new mailbox; INBOX stays (RFC 3501 §6.3.5).
        store.create_mailbox("alice", "INBOX/Child")
        inbox_msgs = [
            _deliver(store, "INBOX", 3, ("\\Seen", "$Work")),
            _deliver(store, "INBOX", 4),
        ]
        inbox_before = store.mailbox_status("alice", "INBOX")
        old_infos = store.list_messages("alice", "INBOX")
        store.rename_mailbox("alice", "inbox", "Old Mail")
        inbox = store.mailbox_status("alice", "INBOX")
        moved = store.mailbox_status("alice", "Old Mail")
        _expect(inbox.exists == 0, "RENAME INBOX leaves INBOX empty")
        _expect(inbox.uidvalidity == inbox_before.uidvalidity, "INBOX keeps its UIDVALIDITY")
        _expect(inbox.uidnext >= inbox_before.uidnext, "INBOX's UIDNEXT does not go back")
        _expect(moved.uidvalidity != inbox.uidvalidity, "the new mailbox has a new UIDVALIDITY")
        _expect(moved.exists == 2, "RENAME INBOX moves every message")
        new_infos = store.list_messages("alice", "Old Mail")
        _expect(
            [(m.flags, m.internal_date) for m in new_infos]
            == [(m.flags, m.internal_date) for m in old_infos],
            "RENAME INBOX keeps flags and INTERNALDATE",
        )
        _expect(
            store.read_message("alice", "Old Mail", new_infos[0].uid) == _message(3),
            "moved messages keep their octets",
        )
        gone = store.changes_since("alice", "INBOX", inbox_before.highestmodseq)
        _expect(
            gone.expunged == [m.uid for m in inbox_msgs],
            "RENAME INBOX reports INBOX's messages as expunged (tombstones)",
        )
        _expect(
            "INBOX/Child" in {m.name for m in store.list_mailboxes("alice")},
            "INBOX's children stay",
        )
    finally:
        store.close()


def check_delete(factory: StoreFactory, root: Path) -> None:
    """DELETE: INBOX refused, children leave a \\Noselect parent, subscriptions stay
    (RFC 3501 §6.3.4, §6.3.6)."""
    store = _with_store(factory, root)
    try:
        _raises(ValueError, lambda: store.delete_mailbox("alice", "inbox"), "DELETE INBOX")
        _raises(NoSuchMailbox, lambda: store.delete_mailbox("alice", "Nope"), "DELETE missing")
        leaf = store.create_mailbox("alice", "Leaf")
        store.set_subscribed("alice", "Leaf", True)
        _deliver(store, "Leaf", 1)
        store.delete_mailbox("alice", "Leaf")
        _expect(
            "Leaf" not in {m.name for m in store.list_mailboxes("alice")},
            "a deleted mailbox without children is gone",
        )
        _expect("Leaf" in store.list_subscriptions("alice"), "subscriptions outlive DELETE")
        _raises(NoSuchMailbox, lambda: store.mailbox_status("alice", "Leaf"), "deleted box")
        again = store.create_mailbox("alice", "Leaf")
        _expect(again.uidvalidity != leaf.uidvalidity, "DELETE + CREATE: new UIDVALIDITY")
        _expect(store.mailbox_status("alice", "Leaf").exists == 0, "re-created box is empty")

        parent = store.create_mailbox("alice", "Parent")
        store.create_mailbox("alice", "Parent/Child")
        first = _deliver(store, "Parent", 2)
        before = store.mailbox_status("alice", "Parent")
        store.delete_mailbox("alice", "Parent")
        listed = {m.name: m for m in store.list_mailboxes("alice")}
        _expect(
            {"Parent", "Parent/Child"} <= set(listed)
            and listed["Parent"].noselect
            and not listed["Parent/Child"].noselect,
            "DELETE of a mailbox with children leaves it \\Noselect",
        )
        for what, call in (
            ("status", lambda: store.mailbox_status("alice", "Parent")),
            ("message_uids", lambda: store.message_uids("alice", "Parent")),
            ("changes_since", lambda: store.changes_since("alice", "Parent", 0)),
            ("deliver", lambda: _deliver(store, "Parent", 3)),
            ("copy", lambda: store.copy_messages("alice", "Parent/Child", [1], "Parent")),
            ("DELETE again", lambda: store.delete_mailbox("alice", "Parent")),
        ):
            _raises(NoSuchMailbox, call, f"{what} of a \\Noselect mailbox")
        recreated = store.create_mailbox("alice", "Parent")
        _expect(
            recreated.uidvalidity not in (parent.uidvalidity, 0),
            "CREATE over a \\Noselect name: selectable again, new UIDVALIDITY",
        )
        status = store.mailbox_status("alice", "Parent")
        _expect(status.exists == 0, "its old messages are gone")
        _expect(status.uidnext >= before.uidnext, "its UIDs continue above the old ones")
        later = _deliver(store, "Parent", 4)
        _expect(later.uid > first.uid, "no UID is reused")
        store.delete_mailbox("alice", "Parent")
        store.delete_mailbox("alice", "Parent/Child")
        _expect(
            [m.name for m in store.list_mailboxes("alice") if m.name.startswith("Parent")]
            == ["Parent"],
            "the \\Noselect parent stays after its last child goes (RFC 3501 §6.3.4)",
        )
        store.delete_mailbox("alice", "Parent")
        _expect(
            not any(m.name.startswith("Parent") for m in store.list_mailboxes("alice")),
            "DELETE of a \\Noselect name without children removes it",
        )
    finally:
        store.close()


def check_subscriptions(factory: StoreFactory, root: Path) -> None:
    """SUBSCRIBE/UNSUBSCRIBE work on any valid name, existing or not (RFC 3501 §6.3.6)."""
    store = _with_store(factory, root)
    try:
        store.set_subscribed("alice", "Ghost/Town", True)
        store.set_subscribed("alice", "Ghost/Town", True)
        store.set_subscribed("alice", "inbox/x", True)
        subs = store.list_subscriptions("alice")
        _expect("Ghost/Town" in subs, "a name that does not exist can be subscribed")
        _expect("INBOX/x" in subs, "INBOX is case-insensitive in subscriptions")
        _expect(subs == sorted(subs) and len(set(subs)) == len(subs), "sorted, no duplicates")
        _expect(
            "Ghost/Town" not in {m.name for m in store.list_mailboxes("alice")},
            "subscribing does not create a mailbox",
        )
        store.set_subscribed("alice", "Ghost/Town", False)
        store.set_subscribed("alice", "Never", False)
        _expect("Ghost/Town" not in store.list_subscriptions("alice"), "UNSUBSCRIBE works")
        store.set_subscribed("alice", "Junk", False)
        listed = {m.name: m for m in store.list_mailboxes("alice")}
        _expect(not listed["Junk"].subscribed, "LIST shows the subscription state")
        store.create_mailbox("alice", "Ghost")
        store.set_subscribed("alice", "Ghost", True)
        _expect(
            {m.name: m for m in store.list_mailboxes("alice")}["Ghost"].subscribed,
            "LIST marks subscribed mailboxes",
        )
        _raises(
            InvalidMailboxName, lambda: store.set_subscribed("alice", "a\r\nb", True), "bad name"
        )
    finally:
        store.close()


def check_store_flags(factory: StoreFactory, root: Path) -> None:
    """STORE modes, canonical system flags, exact keywords, UNCHANGEDSINCE (RFC 7162
    §3.1.3); a no-op takes no MODSEQ."""
    store = _with_store(factory, root)
    try:
        uids = [_deliver(store, "INBOX", n).uid for n in range(4)]
        hms = store.mailbox_status("alice", "INBOX").highestmodseq
        got = store.store_flags(
            "alice", "INBOX", [uids[1], uids[0], 9_999], "add", ["\\SEEN", "$Label", "\\recent"]
        )
        _expect([m.uid for m in got.changed] == uids[:2], "changed lists the messages by UID")
        _expect(got.unchanged == [] and got.failed == [], "nothing unchanged or failed")
        _expect(
            all(m.flags == {"\\Seen", "$Label"} for m in got.changed),
            "system flags stored canonically; \\Recent ignored",
        )
        modseqs = [m.modseq for m in got.changed]
        _expect(
            len(set(modseqs)) == 2 and min(modseqs) > hms,
            "each change gets its own new MODSEQ (RFC 7162 §3.1)",
        )
        _expect(got.new_keywords == ["$Label"], "a new keyword is reported")
        _expect(store.keywords("alice", "INBOX") == ["$Label"], "keywords() lists it")
        hms = store.mailbox_status("alice", "INBOX").highestmodseq
        _expect(hms == max(modseqs), "HIGHESTMODSEQ follows the changes")
        last = store.last_modseq("alice")
        noop = store.store_flags("alice", "INBOX", uids[:2], "add", ["\\Seen"])
        _expect(noop.changed == [] and len(noop.unchanged) == 2, "a no-op STORE is unchanged")
        _expect([m.modseq for m in noop.unchanged] == modseqs, "unchanged reports current MODSEQs")
        _expect(
            store.mailbox_status("alice", "INBOX").highestmodseq == hms
            and store.last_modseq("alice") == last,
            "a no-op STORE takes no MODSEQ",
        )
        again = store.store_flags("alice", "INBOX", uids[:1], "add", ["$label"])
        _expect(again.new_keywords == ["$label"], "keywords are exact: $label is not $Label")
        _expect(again.changed[0].flags == {"\\Seen", "$Label", "$label"}, "add keeps the rest")
        removed = store.store_flags("alice", "INBOX", uids[:2], "remove", ["$Label", "\\Seen"])
        _expect(
            [m.flags for m in removed.changed] == [{"$label"}, set()], "remove takes flags away"
        )
        replaced = store.store_flags("alice", "INBOX", uids[:3], "replace", ["\\Flagged"])
        _expect(
            all(m.flags == {"\\Flagged"} for m in replaced.changed) and len(replaced.changed) == 3,
            "replace sets exactly the flags given",
        )
        _expect(replaced.new_keywords == [], "no new keywords")
        cleared = store.store_flags("alice", "INBOX", uids[:1], "replace", [])
        _expect(cleared.changed[0].flags == frozenset(), "replace with nothing clears")
        _expect(
            set(store.keywords("alice", "INBOX")) == {"$Label", "$label"},
            "keywords() keeps every keyword ever used",
        )
        # UNCHANGEDSINCE: uids[0] changed last; uids[3] never changed since delivery.
        infos = {m.uid: m for m in store.list_messages("alice", "INBOX")}
        limit = infos[uids[3]].modseq
        cond = store.store_flags(
            "alice", "INBOX", [uids[0], uids[3]], "add", ["\\Answered"], unchanged_since=limit
        )
        _expect(cond.failed == [uids[0]], "a message changed since is refused (MODIFIED)")
        _expect([m.uid for m in cond.changed] == [uids[3]], "the others are changed")
        _expect(
            "\\Answered" not in store.messages("alice", "INBOX", [uids[0]])[0].flags,
            "a refused message is not changed",
        )
        same = store.store_flags(
            "alice",
            "INBOX",
            [uids[3]],
            "add",
            ["\\Answered"],
            unchanged_since=cond.changed[0].modseq,
        )
        _expect(
            same.failed == [] and [m.uid for m in same.unchanged] == [uids[3]],
            "UNCHANGEDSINCE met but nothing to do: unchanged, not failed",
        )
        zero = store.store_flags("alice", "INBOX", uids, "add", ["\\Draft"], unchanged_since=0)
        _expect(zero.failed == uids and zero.changed == [], "UNCHANGEDSINCE 0 refuses all")
        for bad_flags, what in ((["\\Bogus"], "unknown system flag"), (["a b"], "bad keyword")):
            _raises(
                ValueError,
                partial(store.store_flags, "alice", "INBOX", uids, "add", bad_flags),
                what,
            )
        _raises(
            ValueError,
            partial(store.store_flags, "alice", "INBOX", uids, "toggle", ["\\Seen"]),
            "unknown mode",
        )
        _raises(
            NoSuchMailbox,
            partial(store.store_flags, "alice", "Nope", uids, "add", ["\\Seen"]),
            "STORE in a missing mailbox",
        )
    finally:
        store.close()


def check_copy_move(factory: StoreFactory, root: Path) -> None:
    """COPY/MOVE keep flags and INTERNALDATE, give COPYUID pairs in order (RFC 4315
    §3, RFC 6851); MOVE leaves tombstones; the same mailbox gives new UIDs."""
    store = _with_store(factory, root)
    try:
        src = [
            _deliver(store, "INBOX", 0, ("\\Seen", "$Work")),
            _deliver(store, "INBOX", 1),
            _deliver(store, "INBOX", 2, ("\\Flagged",)),
        ]
        originals = {m.uid: m for m in store.list_messages("alice", "INBOX")}
        octets = {d.uid: _message(n) for n, d in enumerate(src)}
        archive = store.mailbox_status("alice", "Archive")
        copied = store.copy_messages("alice", "INBOX", [src[2].uid, src[0].uid, 777], "Archive")
        _expect(copied.uidvalidity == archive.uidvalidity, "COPYUID names the target")
        _expect(
            [s for s, _ in copied.pairs] == [src[0].uid, src[2].uid],
            "pairs in source UID order; missing sources left out",
        )
        targets = [t for _, t in copied.pairs]
        _expect(
            targets == sorted(targets) and targets[0] >= archive.uidnext,
            "copies get new ascending UIDs from UIDNEXT",
        )
        for s_uid, t_uid in copied.pairs:
            (copy,) = store.messages("alice", "Archive", [t_uid])
            orig = originals[s_uid]
            _expect(
                (copy.flags, copy.internal_date, copy.size)
                == (orig.flags, orig.internal_date, orig.size),
                "COPY keeps flags, keywords and INTERNALDATE",
            )
            _expect(copy.modseq > archive.highestmodseq, "each copy gets a new MODSEQ")
            _expect(
                store.read_message("alice", "Archive", t_uid)
                == store.read_message("alice", "INBOX", s_uid),
                "a copy has the same octets",
            )
        _expect("$Work" in store.keywords("alice", "Archive"), "copied keywords are known")
        _expect(_uids(store, "INBOX") == [d.uid for d in src], "COPY leaves the source")
        store.store_flags("alice", "Archive", targets[:1], "add", ["\\Deleted"])
        _expect(
            "\\Deleted" not in store.messages("alice", "INBOX", [src[0].uid])[0].flags,
            "a copy is independent of its source",
        )
        store.expunge("alice", "Archive", targets[:1])
        _expect(
            store.read_message("alice", "INBOX", src[0].uid) == _message(0),
            "expunging a copy leaves the source intact",
        )

        before = store.mailbox_status("alice", "INBOX")
        trash = store.mailbox_status("alice", "Trash")
        moved = store.copy_messages("alice", "INBOX", [src[1].uid, src[0].uid], "Trash", move=True)
        _expect(
            [s for s, _ in moved.pairs] == [src[0].uid, src[1].uid]
            and moved.uidvalidity == trash.uidvalidity,
            "MOVE gives COPYUID pairs in source order",
        )
        _expect(_uids(store, "INBOX") == [src[2].uid], "MOVE removes the sources")
        changes = store.changes_since("alice", "INBOX", before.highestmodseq)
        _expect(
            changes.expunged == [src[0].uid, src[1].uid],
            "MOVE leaves tombstones in the source (RFC 6851 §4.3)",
        )
        for s_uid, t_uid in moved.pairs:
            (info,) = store.messages("alice", "Trash", [t_uid])
            orig = originals[s_uid]
            _expect(
                (info.flags, info.internal_date) == (orig.flags, orig.internal_date),
                "MOVE keeps flags and INTERNALDATE",
            )
            _expect(info.modseq > before.highestmodseq, "moved messages get new MODSEQs")
            _expect(
                store.read_message("alice", "Trash", t_uid) == octets[s_uid],
                "moved messages keep their octets",
            )

        same = store.copy_messages("alice", "INBOX", [src[2].uid], "inbox")
        (pair,) = same.pairs
        _expect(pair[1] > src[2].uid, "COPY into the same mailbox gives a new UID")
        _expect(_uids(store, "INBOX") == [src[2].uid, pair[1]], "both are there")
        moved_here = store.copy_messages("alice", "INBOX", [pair[1]], "INBOX", move=True)
        ((old, new),) = moved_here.pairs
        _expect(new > old and _uids(store, "INBOX") == [src[2].uid, new], "MOVE within a box")
        _raises(
            NoSuchMailbox,
            lambda: store.copy_messages("alice", "INBOX", [src[2].uid], "Nope"),
            "COPY to a missing mailbox",
        )
        _raises(
            NoSuchMailbox,
            lambda: store.copy_messages("alice", "INBOX", [src[2].uid], "Nope", move=True),
            "MOVE to a missing mailbox",
        )
        _expect(_uids(store, "INBOX") == [src[2].uid, new], "failed COPY/MOVE change nothing")
        empty = store.copy_messages("alice", "INBOX", [424242], "Archive")
        _expect(empty.pairs == [], "COPY of nothing gives no pairs")
    finally:
        store.close()
    store = factory(root)
    try:
        _expect(
            len(_uids(store, "Trash")) == 2 and len(_uids(store, "Archive")) == 1,
            "copies and moves survive reopen",
        )
    finally:
        store.close()


def check_changes_since(factory: StoreFactory, root: Path) -> None:
    """changes_since reports arrivals, flag changes and expunges above a MODSEQ, also
    those made by another store on the same data (another process, RFC 7162 §3.2)."""
    store = _with_store(factory, root)
    other = factory(root)
    try:
        start = store.mailbox_status("alice", "INBOX")
        quiet = store.changes_since("alice", "INBOX", start.highestmodseq)
        _expect(
            (quiet.changed, quiet.expunged) == ([], [])
            and quiet.highestmodseq == start.highestmodseq
            and quiet.uidvalidity == start.uidvalidity
            and quiet.uidnext == start.uidnext,
            "nothing changed since HIGHESTMODSEQ",
        )
        a = _deliver(store, "INBOX", 1)
        b = _deliver(other, "INBOX", 2)
        seen = other.changes_since("alice", "INBOX", start.highestmodseq)
        _expect(
            [(m.uid, m.modseq) for m in seen.changed] == [(a.uid, a.modseq), (b.uid, b.modseq)],
            "arrivals from both stores are reported, by UID",
        )
        _expect(seen.uidnext > b.uid, "UIDNEXT is current")
        mark = seen.highestmodseq
        other.store_flags("alice", "INBOX", [a.uid], "add", ["\\Seen"])
        store.expunge("alice", "INBOX", [b.uid])
        later = store.changes_since("alice", "INBOX", mark)
        _expect(
            [(m.uid, m.flags) for m in later.changed] == [(a.uid, frozenset({"\\Seen"}))],
            "a flag change made by the other store is reported",
        )
        _expect(later.expunged == [b.uid], "an expunge is reported")
        _expect(later.highestmodseq > mark, "HIGHESTMODSEQ moved")
        _expect(
            other.changes_since("alice", "INBOX", later.highestmodseq).changed == [],
            "and nothing after it",
        )
        full = other.changes_since("alice", "INBOX", 0)
        _expect(
            [m.uid for m in full.changed] == [a.uid] and full.expunged == [b.uid],
            "since 0 reports every message and every tombstone",
        )
        _expect(
            other.message_uids("alice", "INBOX") == (later.highestmodseq, [a.uid]),
            "the other store's view agrees",
        )
        _expect(
            store.last_modseq("alice") == other.last_modseq("alice") >= later.highestmodseq,
            "both stores see the same last_modseq",
        )
    finally:
        other.close()
        store.close()


def check_expunged_grace(
    factory: StoreFactory, root: Path, clocked_factory: ClockedStoreFactory | None = None
) -> None:
    """Expunged messages stay readable for the grace period (RFC 2180 §4.1), then go."""
    now = [1_900_000_000.0]
    if clocked_factory is None:
        store = _with_store(factory, root)
    else:
        store = clocked_factory(root, lambda: now[0])
        store.create_account("alice")
    try:
        kept = _deliver(store, "INBOX", 1, ("\\Flagged",))
        gone = _deliver(store, "INBOX", 2, ("\\Seen", "$Old"))
        moved = _deliver(store, "INBOX", 3)
        (before,) = store.messages("alice", "INBOX", [gone.uid])
        _expect(store.expunge("alice", "INBOX", [gone.uid]) == [gone.uid], "expunge")
        store.copy_messages("alice", "INBOX", [moved.uid], "Archive", move=True)
        _expect(store.messages("alice", "INBOX", [gone.uid]) == [], "not a live message")
        _raises(
            NoSuchMessage, lambda: store.read_message("alice", "INBOX", gone.uid), "read_message"
        )
        infos = store.messages(
            "alice", "INBOX", [moved.uid, gone.uid, kept.uid], include_expunged=True
        )
        _expect(
            [m.uid for m in infos] == [kept.uid, gone.uid, moved.uid],
            "include_expunged adds expunged and moved-away messages, by UID",
        )
        _expect(infos[1] == before, "an expunged message keeps its last state")
        _expect(
            store.read_expunged("alice", "INBOX", gone.uid) == _message(2)
            and store.read_expunged("alice", "INBOX", moved.uid) == _message(3)
            and store.read_expunged("alice", "INBOX", kept.uid) == _message(1),
            "read_expunged reads expunged, moved and live messages",
        )
        _raises(NoSuchMessage, lambda: store.read_expunged("alice", "INBOX", 999), "never existed")
        if clocked_factory is None:
            return
        now[0] += EXPUNGED_GRACE_SECONDS - 1
        _expect(
            store.read_expunged("alice", "INBOX", gone.uid) == _message(2),
            "still readable within the grace period",
        )
        now[0] += 2
        _expect(
            [
                m.uid
                for m in store.messages(
                    "alice", "INBOX", [gone.uid, moved.uid, kept.uid], include_expunged=True
                )
            ]
            == [kept.uid],
            "expunged messages are gone after the grace period",
        )
        for uid in (gone.uid, moved.uid):
            _raises(
                NoSuchMessage,
                partial(store.read_expunged, "alice", "INBOX", uid),
                "read_expunged after the grace period",
            )
        store.expunge("alice", "INBOX", [])
        (arch,) = store.message_uids("alice", "Archive")[1]
        _expect(
            store.read_message("alice", "Archive", arch) == _message(3),
            "a moved message outlives its source's grace period",
        )
    finally:
        store.close()
    if clocked_factory is not None:
        store = clocked_factory(root, lambda: now[0])
        try:
            _expect(
                store.read_message("alice", "Archive", arch) == _message(3)
                and store.read_message("alice", "INBOX", kept.uid) == _message(1),
                "live messages survive the sweep of expunged ones",
            )
        finally:
            store.close()


def check_claim_recent(factory: StoreFactory, root: Path) -> None:
    """\\Recent goes to exactly one claimer (RFC 3501 §2.3.2)."""
    store = _with_store(factory, root)
    try:
        _expect(store.claim_recent("alice", "INBOX") == 0, "a new mailbox's mark is 0")
        a = _deliver(store, "INBOX", 1)
        b = _deliver(store, "INBOX", 2)
        _expect(store.mailbox_status("alice", "INBOX").recent == 2, "both are recent")
        first = store.claim_recent("alice", "INBOX")
        _expect(first < a.uid, "the first claimer gets both as \\Recent")
        second = store.claim_recent("alice", "INBOX")
        _expect(second >= b.uid, "the second claim returns the new mark: nothing recent")
        _expect(store.mailbox_status("alice", "INBOX").recent == 0, "STATUS RECENT drops")
        c = _deliver(store, "INBOX", 3)
        _expect(store.mailbox_status("alice", "INBOX").recent == 1, "a new arrival is recent")
        third = store.claim_recent("alice", "INBOX")
        _expect(second == third and third < c.uid, "the next claimer gets only the new one")
        results: list[int] = []
        d = _deliver(store, "INBOX", 4)
        threads = [
            threading.Thread(target=lambda: results.append(store.claim_recent("alice", "INBOX")))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _expect(sum(1 for r in results if r < d.uid) == 1, "concurrent claims: exactly one wins")
        _raises(NoSuchMailbox, lambda: store.claim_recent("alice", "Nope"), "claim_recent")
    finally:
        store.close()


def check_modseq_never_decreases(factory: StoreFactory, root: Path) -> None:
    """Over a random mix of operations, last_modseq and every HIGHESTMODSEQ only grow,
    and every change carries a MODSEQ above all earlier ones (RFC 7162 §3.1)."""
    rng = random.Random(7162)
    store = _with_store(factory, root)
    boxes = ["INBOX", "Archive", "Trash"]
    try:
        last = store.last_modseq("alice")
        highest = {b: store.mailbox_status("alice", b).highestmodseq for b in boxes}
        for step in range(120):
            op = rng.choice(["deliver", "flags", "expunge", "copy", "move", "noop"])
            box = rng.choice(boxes)
            uids = _uids(store, box)
            pick = rng.sample(uids, min(len(uids), rng.randint(1, 3)))
            produced: list[int] = []
            if op == "deliver" or not uids:
                produced.append(_deliver(store, box, step).modseq)
            elif op == "flags":
                flag = rng.choice(["\\Seen", "\\Flagged", "$K"])
                mode = rng.choice(["add", "remove", "replace"])
                res = store.store_flags("alice", box, pick, mode, [flag])
                produced += [m.modseq for m in res.changed]
            elif op == "expunge":
                store.expunge("alice", box, pick)
            elif op in ("copy", "move"):
                store.copy_messages("alice", box, pick, rng.choice(boxes), move=op == "move")
            else:
                store.store_flags("alice", box, pick, "add", [])
            _expect(all(m > last for m in produced), f"step {step}: new MODSEQs above old")
            now_last = store.last_modseq("alice")
            _expect(now_last >= last, f"step {step}: last_modseq never decreases")
            for b in boxes:
                status = store.mailbox_status("alice", b)
                _expect(status.highestmodseq >= highest[b], f"step {step}: HIGHESTMODSEQ of {b}")
                _expect(status.highestmodseq <= now_last, "HIGHESTMODSEQ <= last_modseq")
                highest[b] = status.highestmodseq
            last = now_last
    finally:
        store.close()


def check_header_candidates(factory: StoreFactory, root: Path) -> None:
    """header_candidates never leaves out a message whose decoded field matches."""
    store = _with_store(factory, root)
    subjects = [
        b"Lunch on Friday",
        b"=?UTF-8?B?THVuY2ggb24gRnJpZGF5?=",  # "Lunch on Friday", encoded
        b'"Lunch" plans',
        b"Dinner",
        b"LUNCH \xc3\xa9t\xc3\xa9",
    ]
    try:
        uids = []
        for subject in subjects:
            message = b"From: a@example.org\r\nSubject: " + subject + b"\r\n\r\nbody\r\n"
            uids.append(store.deliver("alice", "INBOX", message, internal_date=_WHEN).uid)
        for text, must in (("lunch", {0, 1, 2, 4}), ("dinner", {3}), ("zzz", set())):
            got = store.header_candidates("alice", "INBOX", "subject", text)
            if got is None:
                continue  # the backend does not prefilter: always allowed
            _expect(
                {uids[i] for i in must} <= set(got) and got == sorted(got),
                f"header_candidates for {text!r} keeps every match, ascending: {got}",
            )
        _raises(
            NoSuchMailbox,
            lambda: store.header_candidates("alice", "Nope", "subject", "x"),
            "header_candidates",
        )
    finally:
        store.close()


_CHECKS: tuple[Callable[[StoreFactory, Path], None], ...] = (
    check_accounts,
    check_deliver_round_trip,
    check_uid_modseq_order,
    check_mailboxes,
    check_concurrent_deliveries,
    check_durability,
    check_default_mailboxes,
    check_message_uids_and_messages,
    check_header_candidates,
    check_rename,
    check_delete,
    check_subscriptions,
    check_store_flags,
    check_copy_move,
    check_changes_since,
    check_claim_recent,
    check_modseq_never_decreases,
)
"""Checks run with ``factory`` alone; `check_expunged_grace` also takes the clocked one."""
