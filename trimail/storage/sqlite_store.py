"""The default mail store: one SQLite index and one file per message, per account.

Layout under the root the caller gives (the server passes ``<data_dir>/accounts``)::

    <root>/<account_id>/index.sqlite3      the index (WAL mode)
    <root>/<account_id>/messages/<hex>     one immutable file per message

File names are random (``uuid4().hex``), never built from user or mailbox names, and
``account_id`` must match ``^[a-z0-9][a-z0-9_-]{0,63}$``, so nothing a user chooses can
reach the file system.

Modules: this one holds the store class, accounts and delivery (group commit);
:mod:`~trimail.storage.sqlite_schema` the index schema, its migrations and row codecs;
:mod:`~trimail.storage.sqlite_account` an open account (connection, writer lock,
files, sweeps); :mod:`~trimail.storage.sqlite_imap` the IMAP methods (mailbox
management, flags, COPY/MOVE, sync reads, expunge and its grace period).

Durability (ARCHITECTURE.md, "Storage model"): ``deliver`` returns only after

1. the message file is written and fsynced (by the delivering thread, in parallel),
2. the ``messages/`` directory is fsynced (one fsync per commit group),
3. the index row is committed with ``synchronous=FULL`` (one WAL fsync per group).

Why ``synchronous=FULL``: in WAL mode, ``NORMAL`` does not fsync the WAL at commit,
only at checkpoints, so the last transactions survive a process crash but not a power
loss or kernel crash; a 250 reply would then be a lie. ``FULL`` fsyncs the WAL at every
commit, and group commit (below) shares that fsync between all deliveries waiting at
that moment, so the cost per message shrinks as concurrency grows. On macOS,
``fullfsync`` is on and files are flushed with ``F_FULLFSYNC``, since plain ``fsync``
there does not reach stable storage.

Group commit: each delivering thread writes and fsyncs its own file, then joins its
account's commit queue. The first thread to find no commit running becomes the leader:
it takes the whole queue, does one directory fsync and one SQLite transaction
(``BEGIN IMMEDIATE``; UIDs and MODSEQs are assigned inside it), then wakes the others
with their results or the error. Threads that arrive during a commit form the next
group. A failed commit removes the files of the whole group.

Expunged messages (IMAP EXPUNGE, POP3 DELE, DELETE, MOVE's source) keep their file and
cached data for ``expunged_grace_seconds`` (RFC 2180 §4.1); the account then forgets
them and unlinks files no row names any more (on account open and after each expunge).

Orphans: a file written by a process that died before its commit is not in the index;
when an account is first opened, such files older than :data:`ORPHAN_AGE_SECONDS` are
removed.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from trimail.mail.imap_syntax import render_bodystructure, render_envelope
from trimail.mail.search import searchable_fields
from trimail.mail.summary import MessageSummary, summarize
from trimail.storage import sqlite_imap as imap
from trimail.storage.api import (
    EXPUNGED_GRACE_SECONDS,
    CachedFetch,
    CopyResult,
    Delivered,
    InvalidMailboxName,
    MailboxChanges,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    NoSuchAccount,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
    StoreResult,
)
from trimail.storage.sqlite_account import (
    COPY_CHUNK_BYTES,
    FILE_NAME_RE,
    INDEX_NAME,
    LOCK_NAME,
    MAILDROP_LOCK_NAME,
    MESSAGES_DIR,
    ORPHAN_AGE_SECONDS,
    Account,
    fsync_dir,
    unlink_quietly,
    write_message,
)
from trimail.storage.sqlite_schema import (
    MAX_MODSEQ,
    MAX_UID,
    MESSAGE_COLUMNS,
    SCHEMA_VERSION,
    mailbox_row,
    message_infos,
    split_flags,
)

__all__ = [
    "ACCOUNT_ID_RE",
    "COPY_CHUNK_BYTES",
    "INDEX_NAME",
    "LOCK_NAME",
    "MESSAGES_DIR",
    "ORPHAN_AGE_SECONDS",
    "SCHEMA_VERSION",
    "SqliteMailStore",
    "normalize_mailbox_name",
    "validate_account_id",
]

ACCOUNT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_MAILBOX_NAME_OCTETS = 1000  # UTF-8 octets; well under IMAP line limits
_FILE_NAME_RE = FILE_NAME_RE  # tests and tools know it by this name
_fsync_dir = fsync_dir  # looked up at call time: tests replace it to fail a commit


def validate_account_id(account_id: str) -> str:
    """Check an account id against ``^[a-z0-9][a-z0-9_-]{0,63}$`` and return it.

    Raises:
        ValueError: anything else (it could otherwise escape the store's root).
    """
    if not isinstance(account_id, str) or not ACCOUNT_ID_RE.fullmatch(account_id):
        raise ValueError(f"invalid account id {account_id!r}")
    return account_id


def normalize_mailbox_name(name: str) -> str:
    """Return the canonical form of an IMAP mailbox name (UTF-8, delimiter ``/``).

    ``INBOX`` is case-insensitive, also as the first level of a child name
    (RFC 3501 §5.1): ``inbox/Sub`` becomes ``INBOX/Sub``. Names are Net-Unicode, so
    they are put in Unicode normalization form C (RFC 5198, RFC 9051 §5.1): ``e`` +
    U+0301 and ``é`` name the same mailbox.

    Raises:
        InvalidMailboxName: empty, over 1000 UTF-8 octets, contains CR, LF or NUL or
            unpaired surrogates, or has an empty level (leading, trailing or ``//``).
    """
    try:
        octets = name.encode("utf-8")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise InvalidMailboxName(f"mailbox name is not valid text: {name!r}") from exc
    if not name or len(octets) > MAX_MAILBOX_NAME_OCTETS or any(c in name for c in "\r\n\0"):
        raise InvalidMailboxName(f"invalid mailbox name {name!r}")
    if "" in name.split("/"):
        raise InvalidMailboxName(f"empty hierarchy level in {name!r}")
    if not name.isascii():
        name = unicodedata.normalize("NFC", name)
    head, sep, rest = name.partition("/")
    return "INBOX" + sep + rest if head.upper() == "INBOX" else name


@attrs.define(kw_only=True, eq=False)
class _Pending:
    """One delivery waiting in its account's commit group."""

    mailbox_name: str
    file_name: str
    summary: MessageSummary
    system_flags: int
    keywords: list[str]
    internal_date: _dt.datetime
    imap_envelope: bytes | None = None  # IMAP syntax, rendered outside the commit
    imap_bodystructure: bytes | None = None
    search_text: str | None = None  # JSON, trimail.mail.search.searchable_fields
    done: bool = False
    result: Delivered | None = None
    error: BaseException | None = None
    shared_error: bool = False  # the whole group failed (vs. this item alone)
    wake: threading.Event = attrs.field(factory=threading.Event)

    def outcome(self) -> Delivered:
        if self.error is not None:
            if self.shared_error:
                raise StorageError(f"delivery not committed: {self.error!r}") from self.error
            raise self.error
        assert self.result is not None
        return self.result


class _MaildropLock:
    """An ``flock`` held on an open file; closing the file releases it."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteMailStore:
    """The default :class:`~trimail.storage.api.MailStore` (see module docs).

    Args:
        root: directory holding one sub-directory per account; created if missing.
        clock: seconds since the epoch; seeds a new account's UIDVALIDITY counter, so
            an account deleted and created again does not reuse UIDVALIDITY values,
            and times the grace period of expunged messages and the orphan sweep.
        expunged_grace_seconds: how long expunged messages stay readable
            (``messages(include_expunged=True)``, ``read_expunged``) and keep their
            files; tests shorten it.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        expunged_grace_seconds: float = EXPUNGED_GRACE_SECONDS,
    ) -> None:
        if expunged_grace_seconds < 0:
            raise ValueError("expunged_grace_seconds must not be negative")
        self.root = Path(root)
        self._clock = clock
        self._grace = float(expunged_grace_seconds)
        self._lock = threading.Lock()  # guards _accounts and _closed
        self._accounts: dict[str, Account] = {}
        self._closed = False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for leftover in self.root.glob(".deleted-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError as exc:
            raise StorageError(f"cannot use store root {self.root}: {exc}") from exc

    # --- accounts ---------------------------------------------------------------------

    def create_account(self, account_id: str) -> None:
        """See :meth:`MailStore.create_account`."""
        validate_account_id(account_id)
        with self._lock:
            self._check_open()
            if account_id in self._accounts:
                return
            path = self.root / account_id
            try:
                (path / MESSAGES_DIR).mkdir(parents=True, exist_ok=True)
                acct = self._open(account_id, path)
                _fsync_dir(path)
                _fsync_dir(self.root)
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"cannot create account {account_id!r}: {exc}") from exc
            self._accounts[account_id] = acct

    def delete_account(self, account_id: str) -> None:
        """See :meth:`MailStore.delete_account`."""
        validate_account_id(account_id)
        with self._lock:
            self._check_open()
            acct = self._accounts.pop(account_id, None)
            if acct is not None:
                acct.close()
            path = self.root / account_id
            if not path.exists():
                return
            trash = self.root / f".deleted-{uuid.uuid4().hex}"
            try:
                os.rename(path, trash)
                _fsync_dir(self.root)
            except OSError as exc:
                raise StorageError(f"cannot delete account {account_id!r}: {exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)

    def account_exists(self, account_id: str) -> bool:
        """See :meth:`MailStore.account_exists`."""
        validate_account_id(account_id)
        return (self.root / account_id / INDEX_NAME).is_file()

    def close(self) -> None:
        """See :meth:`MailStore.close`."""
        with self._lock:
            self._closed = True
            accounts, self._accounts = list(self._accounts.values()), {}
        for acct in accounts:
            acct.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("store is closed")

    def _account(self, account_id: str) -> Account:
        """Return the open account, opening it on first use.

        Raises:
            ValueError: malformed id. NoSuchAccount: no such account.
            StorageError: store closed, or the index cannot be opened.
        """
        validate_account_id(account_id)
        acct = self._accounts.get(account_id)
        if acct is not None:
            return acct
        with self._lock:
            self._check_open()
            acct = self._accounts.get(account_id)
            if acct is None:
                path = self.root / account_id
                if not (path / INDEX_NAME).is_file():
                    raise NoSuchAccount(f"no account {account_id!r}")
                try:
                    acct = self._open(account_id, path)
                except (OSError, sqlite3.Error) as exc:
                    raise StorageError(f"cannot open account {account_id!r}: {exc}") from exc
                try:
                    acct.sweep_orphans(self._clock() - ORPHAN_AGE_SECONDS)
                except BaseException as exc:
                    acct.close()
                    if isinstance(exc, OSError):
                        raise StorageError(f"cannot open account {account_id!r}: {exc}") from exc
                    raise
                self._accounts[account_id] = acct
            return acct

    def _open(self, account_id: str, path: Path) -> Account:
        """Open the account's index (creating or migrating its schema), then forget
        expunged messages whose grace period is over."""
        seed = max(0, min(int(self._clock()), MAX_UID - (1 << 24)))
        acct = Account.open(account_id, path, uidvalidity_seed=seed)
        try:
            acct.sweep_expunged(self._expunged_cutoff())
        except BaseException:
            acct.close()
            raise
        return acct

    def _expunged_cutoff(self) -> float:
        """Messages expunged before this (store clock) are past their grace period."""
        return self._clock() - self._grace

    # --- mailboxes --------------------------------------------------------------------

    def create_mailbox(
        self, account_id: str, mailbox_name: str, *, special_use: str | None = None
    ) -> MailboxInfo:
        """See :meth:`MailStore.create_mailbox`; a ``noselect`` name becomes selectable
        again with a new UIDVALIDITY."""
        acct = self._account(account_id)
        return imap.create_mailbox(acct, normalize_mailbox_name(mailbox_name), special_use)

    def list_mailboxes(self, account_id: str) -> list[MailboxInfo]:
        """See :meth:`MailStore.list_mailboxes`."""
        acct = self._account(account_id)
        with acct.db() as conn:
            rows = conn.execute(
                "SELECT m.name, m.uidvalidity, m.special_use, s.name IS NOT NULL, m.noselect"
                " FROM mailbox m LEFT JOIN subscription s ON s.name = m.name"
                " ORDER BY m.name"
            ).fetchall()
        return [
            MailboxInfo(
                name=r[0],
                uidvalidity=r[1],
                special_use=r[2],
                subscribed=bool(r[3]),
                noselect=bool(r[4]),
            )
            for r in rows
        ]

    def mailbox_status(self, account_id: str, mailbox_name: str) -> MailboxStatus:
        """See :meth:`MailStore.mailbox_status`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        with acct.snapshot() as conn:  # one consistent state for all counts
            row = conn.execute(
                "SELECT id, uidvalidity, uidnext, highestmodseq, recent_uid, message_count,"
                " total_size, unseen_count FROM mailbox WHERE name = ? AND noselect = 0",
                (name,),
            ).fetchone()
            if row is None:
                raise NoSuchMailbox(f"no mailbox {name!r}")
            box_id, uidvalidity, uidnext, highestmodseq, mark, exists, size, unseen = row
            # \Recent: messages above the mark. Count whichever side of it spans fewer
            # UIDs (an index range count): above once claimed, below if never (rev2).
            if mark >= uidnext - 1:
                recent = 0
            elif uidnext - 1 - mark <= mark:
                (recent,) = conn.execute(
                    "SELECT count(*) FROM message WHERE mailbox_id = ? AND uid > ?",
                    (box_id, mark),
                ).fetchone()
            else:
                (below,) = conn.execute(
                    "SELECT count(*) FROM message WHERE mailbox_id = ? AND uid <= ?",
                    (box_id, mark),
                ).fetchone()
                recent = exists - below
        return MailboxStatus(
            name=name,
            uidvalidity=uidvalidity,
            uidnext=uidnext,
            highestmodseq=highestmodseq,
            exists=exists,
            unseen=unseen,
            recent=recent,
            size=size,
        )

    # --- messages ---------------------------------------------------------------------

    def list_messages(
        self, account_id: str, mailbox_name: str, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageInfo]:
        """See :meth:`MailStore.list_messages`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        upper = MAX_UID if uid_to is None else uid_to
        with acct.snapshot() as conn:
            box_id = mailbox_row(conn, name)[0]
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message"
                " WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
                (box_id, uid_from, upper),
            ).fetchall()
        return message_infos(rows)

    def expunge(self, account_id: str, mailbox_name: str, uids: Iterable[int]) -> list[int]:
        """See :meth:`MailStore.expunge`. Files stay for the grace period (module docs)."""
        acct = self._account(account_id)
        removed = imap.expunge(acct, normalize_mailbox_name(mailbox_name), uids, self._clock())
        acct.sweep_expunged(self._expunged_cutoff())
        return removed

    def add_flags(
        self, account_id: str, mailbox_name: str, uids: Iterable[int], flags: Iterable[str]
    ) -> None:
        """See :meth:`MailStore.add_flags` (system flags only): `store_flags` ``add``."""
        flags = list(flags)
        if split_flags(flags)[1]:
            raise ValueError(f"add_flags takes system flags only, not {flags!r}")
        self.store_flags(account_id, mailbox_name, uids, "add", flags)

    def lock_maildrop(self, account_id: str) -> _MaildropLock | None:
        """See :meth:`MailStore.lock_maildrop`: ``flock`` on the account's lock file."""
        acct = self._account(account_id)
        fd = os.open(acct.path / MAILDROP_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot lock the maildrop of {account_id!r}: {exc}") from exc
        return _MaildropLock(fd)

    def read_message(self, account_id: str, mailbox_name: str, uid: int) -> bytes:
        """See :meth:`MailStore.read_message`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        with acct.snapshot() as conn:
            box_id = mailbox_row(conn, name)[0]
            row = conn.execute(
                "SELECT file FROM message WHERE mailbox_id = ? AND uid = ?", (box_id, uid)
            ).fetchone()
        if row is None:
            raise NoSuchMessage(f"no UID {uid} in {name!r}")
        try:
            return (acct.messages_dir / str(row[0])).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read UID {uid} of {name!r}: {exc}") from exc

    # --- IMAP (RFC 3501/9051, 4315, 6851, 7162): see sqlite_imap -----------------------

    def delete_mailbox(self, account_id: str, mailbox_name: str) -> None:
        """See :meth:`MailStore.delete_mailbox`."""
        acct = self._account(account_id)
        imap.delete_mailbox(acct, normalize_mailbox_name(mailbox_name), self._clock())
        acct.sweep_expunged(self._expunged_cutoff())

    def rename_mailbox(self, account_id: str, old_name: str, new_name: str) -> None:
        """See :meth:`MailStore.rename_mailbox`."""
        acct = self._account(account_id)
        old, new = normalize_mailbox_name(old_name), normalize_mailbox_name(new_name)
        imap.rename_mailbox(acct, old, new, self._clock())

    def set_subscribed(self, account_id: str, mailbox_name: str, subscribed: bool) -> None:
        """See :meth:`MailStore.set_subscribed`."""
        acct = self._account(account_id)
        imap.set_subscribed(acct, normalize_mailbox_name(mailbox_name), subscribed)

    def list_subscriptions(self, account_id: str) -> list[str]:
        """See :meth:`MailStore.list_subscriptions`."""
        return imap.list_subscriptions(self._account(account_id))

    def message_uids(self, account_id: str, mailbox_name: str) -> tuple[int, list[int]]:
        """See :meth:`MailStore.message_uids`."""
        acct = self._account(account_id)
        return imap.message_uids(acct, normalize_mailbox_name(mailbox_name))

    def changes_since(self, account_id: str, mailbox_name: str, since: int) -> MailboxChanges:
        """See :meth:`MailStore.changes_since`."""
        acct = self._account(account_id)
        return imap.changes_since(acct, normalize_mailbox_name(mailbox_name), since)

    def messages(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        *,
        include_expunged: bool = False,
    ) -> list[MessageInfo]:
        """See :meth:`MailStore.messages`."""
        acct = self._account(account_id)
        return imap.messages(
            acct,
            normalize_mailbox_name(mailbox_name),
            uids,
            include_expunged=include_expunged,
            cutoff=self._expunged_cutoff(),
        )

    def fetch_cached(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        *,
        include_expunged: bool = False,
    ) -> list[CachedFetch]:
        """See :meth:`MailStore.fetch_cached`."""
        acct = self._account(account_id)
        return imap.fetch_cached(
            acct,
            normalize_mailbox_name(mailbox_name),
            uids,
            include_expunged=include_expunged,
            cutoff=self._expunged_cutoff(),
        )

    def first_unseen(self, account_id: str, mailbox_name: str) -> int | None:
        """See :meth:`MailStore.first_unseen`."""
        acct = self._account(account_id)
        return imap.first_unseen(acct, normalize_mailbox_name(mailbox_name))

    def header_candidates(
        self, account_id: str, mailbox_name: str, field: str, text: str
    ) -> list[int] | None:
        """See :meth:`MailStore.header_candidates`."""
        acct = self._account(account_id)
        return imap.header_candidates(acct, normalize_mailbox_name(mailbox_name), field, text)

    def read_expunged(self, account_id: str, mailbox_name: str, uid: int) -> bytes:
        """See :meth:`MailStore.read_expunged`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        return imap.read_expunged(acct, name, uid, self._expunged_cutoff())

    def store_flags(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        mode: str,
        flags: Iterable[str],
        *,
        unchanged_since: int | None = None,
    ) -> StoreResult:
        """See :meth:`MailStore.store_flags`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        return imap.store_flags(acct, name, uids, mode, flags, unchanged_since)

    def keywords(self, account_id: str, mailbox_name: str) -> list[str]:
        """See :meth:`MailStore.keywords`."""
        acct = self._account(account_id)
        return imap.keywords(acct, normalize_mailbox_name(mailbox_name))

    def copy_messages(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        target_name: str,
        *,
        move: bool = False,
    ) -> CopyResult:
        """See :meth:`MailStore.copy_messages`."""
        acct = self._account(account_id)
        source, target = normalize_mailbox_name(mailbox_name), normalize_mailbox_name(target_name)
        result = imap.copy_messages(acct, source, uids, target, move=move, now=self._clock())
        if move:
            acct.sweep_expunged(self._expunged_cutoff())
        return result

    def claim_recent(self, account_id: str, mailbox_name: str) -> int:
        """See :meth:`MailStore.claim_recent`."""
        acct = self._account(account_id)
        return imap.claim_recent(acct, normalize_mailbox_name(mailbox_name))

    def last_modseq(self, account_id: str) -> int:
        """See :meth:`MailStore.last_modseq`."""
        return imap.last_modseq(self._account(account_id))

    def deliver(
        self,
        account_id: str,
        mailbox_name: str,
        message: bytes | os.PathLike[str],
        *,
        prefix: bytes = b"",
        flags: Iterable[str] = (),
        internal_date: _dt.datetime,
    ) -> Delivered:
        """See :meth:`MailStore.deliver`; group commit is described in the module docs."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        bits, keywords = split_flags(flags)
        if internal_date.tzinfo is None or internal_date.utcoffset() is None:
            raise ValueError("internal_date must be timezone-aware")
        if name not in acct.mailbox_names:
            acct.refresh_mailbox_names()
            if name not in acct.mailbox_names:
                raise NoSuchMailbox(f"no mailbox {name!r}")
        file_name = uuid.uuid4().hex
        path = acct.messages_dir / file_name
        committed = False
        try:
            data = write_message(path, prefix, message)
            summary = summarize(data)
            pending = _Pending(
                mailbox_name=name,
                file_name=file_name,
                summary=summary,
                system_flags=bits,
                keywords=keywords,
                internal_date=internal_date,
                imap_envelope=render_envelope(summary.envelope, utf8=False),
                imap_bodystructure=render_bodystructure(
                    summary.bodystructure, extensible=True, utf8=False
                ),
                search_text=json.dumps(searchable_fields(summary.headers), ensure_ascii=False),
            )
            result = self._group_commit(acct, pending)
            committed = True
            return result
        except OSError as exc:
            raise StorageError(f"cannot store message: {exc}") from exc
        finally:
            if not committed:
                unlink_quietly(path)

    def _group_commit(self, acct: Account, pending: _Pending) -> Delivered:
        """Join the account's commit group; lead it if no commit is running.

        Followers sleep on their own event (no thundering herd). A finishing leader
        wakes the members of its group, and hands leadership to the oldest waiting
        thread, if any, which then commits everything queued meanwhile.
        """
        with acct.commit_lock:
            acct.queue.append(pending)
            lead = not acct.committing
            acct.committing = True
        if not lead:
            pending.wake.wait()
            if pending.done:
                return pending.outcome()
            # else: leadership was handed to us; ``committing`` stayed True
        with acct.commit_lock:
            batch, acct.queue = acct.queue, []
        try:
            self._commit_batch(acct, batch)
        except BaseException as exc:
            for item in batch:
                if item.result is None and item.error is None:
                    item.error, item.shared_error = exc, True
            if not isinstance(exc, Exception):
                raise
        finally:
            with acct.commit_lock:
                for item in batch:
                    item.done = True
                successor = acct.queue[0] if acct.queue else None
                acct.committing = successor is not None
            for item in batch:
                item.wake.set()
            if successor is not None:
                successor.wake.set()
        return pending.outcome()

    def _commit_batch(self, acct: Account, batch: list[_Pending]) -> None:
        """One directory fsync and one transaction for a whole group.

        Sets ``result`` on each committed item and ``error`` on items that failed alone
        (mailbox gone, UIDs exhausted). Raises if the whole group failed, in which case
        no item has a result.
        """
        _fsync_dir(acct.messages_dir)
        results: list[tuple[_Pending, Delivered]] = []
        with acct.transaction() as conn:
            (modseq,) = conn.execute("SELECT last_modseq FROM account").fetchone()
            boxes: dict[str, list[int]] = {}  # name -> [id, uidvalidity, uidnext, hms]
            for item in batch:
                box = boxes.get(item.mailbox_name)
                if box is None:
                    row = conn.execute(
                        "SELECT id, uidvalidity, uidnext, highestmodseq FROM mailbox"
                        " WHERE name = ? AND noselect = 0",
                        (item.mailbox_name,),
                    ).fetchone()
                    if row is None:
                        item.error = NoSuchMailbox(f"no mailbox {item.mailbox_name!r}")
                        continue
                    box = boxes[item.mailbox_name] = list(row)
                if box[2] > MAX_UID or modseq >= MAX_MODSEQ:
                    item.error = StorageError(f"UIDs exhausted in {item.mailbox_name!r}")
                    continue
                modseq += 1
                uid = box[2]
                _insert_message(conn, box[0], uid, modseq, item)
                box[2], box[3] = uid + 1, modseq
                results.append(
                    (
                        item,
                        Delivered(
                            uidvalidity=box[1], uid=uid, modseq=modseq, size=item.summary.size
                        ),
                    )
                )
            for box_id, _, uidnext, highestmodseq in boxes.values():
                conn.execute(
                    "UPDATE mailbox SET uidnext = ?, highestmodseq = ? WHERE id = ?",
                    (uidnext, highestmodseq, box_id),
                )
            conn.execute("UPDATE account SET last_modseq = ?", (modseq,))
        for item, delivered in results:
            item.result = delivered


def _insert_message(
    conn: sqlite3.Connection, box_id: int, uid: int, modseq: int, item: _Pending
) -> None:
    summary = item.summary
    conn.execute(
        "INSERT INTO message (mailbox_id, uid, modseq, system_flags, keywords, internal_date,"
        " size, envelope, bodystructure, headers, sent_date, file, imap_envelope,"
        " imap_bodystructure, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            box_id,
            uid,
            modseq,
            item.system_flags,
            json.dumps(item.keywords),
            item.internal_date.isoformat(),
            summary.size,
            json.dumps(summary.envelope),
            json.dumps(summary.bodystructure),
            json.dumps(dict(summary.headers)),
            None if summary.date is None else summary.date.isoformat(),
            item.file_name,
            item.imap_envelope,
            item.imap_bodystructure,
            item.search_text,
        ),
    )
    if item.keywords:
        conn.executemany(
            "INSERT OR IGNORE INTO keyword VALUES (?, ?)", [(box_id, k) for k in item.keywords]
        )
