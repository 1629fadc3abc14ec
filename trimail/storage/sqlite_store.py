"""The default mail store: one SQLite index and one file per message, per account.

Layout under the root the caller gives (the server passes ``<data_dir>/accounts``)::

    <root>/<account_id>/index.sqlite3      the index (WAL mode)
    <root>/<account_id>/messages/<hex>     one immutable file per message

File names are random (``uuid4().hex``), never built from user or mailbox names, and
``account_id`` must match ``^[a-z0-9][a-z0-9_-]{0,63}$``, so nothing a user chooses can
reach the file system.

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
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import attrs

from trimail.mail.summary import MessageSummary, summarize
from trimail.storage.api import (
    SYSTEM_FLAGS,
    Delivered,
    InvalidMailboxName,
    MailboxExists,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    NoSuchAccount,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
)

__all__ = ["ACCOUNT_ID_RE", "SqliteMailStore", "normalize_mailbox_name", "validate_account_id"]

ACCOUNT_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
INDEX_NAME = "index.sqlite3"
MESSAGES_DIR = "messages"
MAILDROP_LOCK_NAME = "maildrop.lock"  # POP3's exclusive access (RFC 1939 §8)
_SQL_BATCH = 500  # host parameters per IN (...) list, well under SQLite's limit
LOCK_NAME = "index.lock"  # flock(2) serializing writers across processes
_F_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)  # macOS only
SCHEMA_VERSION = 1
COPY_CHUNK_BYTES = 1 << 20  # spool file copy chunk
ORPHAN_AGE_SECONDS = 3600.0  # unreferenced message files older than this go
MAX_MAILBOX_NAME_OCTETS = 1000  # UTF-8 octets; well under IMAP line limits
MAX_UID = 0xFFFFFFFF  # nz-number, RFC 3501 §9
MAX_MODSEQ = (1 << 63) - 1  # RFC 7162 §3.1
_FILE_NAME_RE = re.compile(r"[0-9a-f]{32}")
_SEEN_BIT = 1 << SYSTEM_FLAGS.index("\\Seen")
_FLAG_BITS = {flag.lower(): 1 << i for i, flag in enumerate(SYSTEM_FLAGS)}
_ATOM_SPECIALS = frozenset('(){ %*"\\]')

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    last_uidvalidity INTEGER NOT NULL,  -- account-wide counter (RFC 3501 §2.3.1.1)
    last_modseq INTEGER NOT NULL        -- 63-bit, bumped per change (RFC 7162 §3.1)
);
CREATE TABLE IF NOT EXISTS mailbox (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,          -- UTF-8 IMAP name, never a path
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL,
    recent_uid INTEGER NOT NULL DEFAULT 0,   -- rev1 \\Recent: UIDs above are recent
    special_use TEXT                    -- RFC 6154, e.g. '\\Sent'
);
CREATE TABLE IF NOT EXISTS subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keyword (   -- keywords ever used per mailbox (* FLAGS)
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, keyword)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS message (
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    system_flags INTEGER NOT NULL DEFAULT 0,   -- bit i = SYSTEM_FLAGS[i]
    keywords TEXT NOT NULL DEFAULT '[]',       -- JSON list of keywords
    internal_date TEXT NOT NULL,               -- ISO 8601 with its own UTC offset
    size INTEGER NOT NULL,                     -- octets = file size
    envelope TEXT NOT NULL,                    -- JSON, trimail.mail.summary shapes
    bodystructure TEXT NOT NULL,               -- JSON
    headers TEXT NOT NULL,                     -- JSON object: lower-name -> [values]
    sent_date TEXT,                            -- Date: parsed, ISO 8601, or NULL
    file TEXT NOT NULL UNIQUE,                 -- name in messages/
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX IF NOT EXISTS message_modseq ON message (mailbox_id, modseq);
CREATE INDEX IF NOT EXISTS message_unseen ON message (mailbox_id, uid)
    WHERE system_flags & {_SEEN_BIT} = 0;
CREATE TABLE IF NOT EXISTS tombstone (  -- expunged UIDs, for QRESYNC (RFC 7162 §3.2)
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstone_modseq ON tombstone (mailbox_id, modseq);
"""


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
    (RFC 3501 §5.1): ``inbox/Sub`` becomes ``INBOX/Sub``.

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
    head, sep, rest = name.partition("/")
    return "INBOX" + sep + rest if head.upper() == "INBOX" else name


def _split_flags(flags: Iterable[str]) -> tuple[int, list[str]]:
    """Split flags into a system-flag bit mask and sorted keywords (RFC 3501 §2.3.2).

    System flags are matched case-insensitively; ``\\Recent`` is dropped.

    Raises:
        ValueError: an unknown ``\\`` flag, or a keyword that is not an atom.
    """
    bits, keywords = 0, set()
    for flag in flags:
        if flag.startswith("\\"):
            if flag.lower() == "\\recent":
                continue
            if flag.lower() not in _FLAG_BITS:
                raise ValueError(f"unknown system flag {flag!r}")
            bits |= _FLAG_BITS[flag.lower()]
        elif not flag or any(c in _ATOM_SPECIALS or ord(c) < 0x21 or ord(c) == 0x7F for c in flag):
            raise ValueError(f"invalid keyword {flag!r}")
        else:
            keywords.add(flag)
    return bits, sorted(keywords)


def _flag_set(bits: int, keywords_json: str) -> frozenset[str]:
    system = {flag for i, flag in enumerate(SYSTEM_FLAGS) if bits & (1 << i)}
    return frozenset(system | set(json.loads(keywords_json)))


def _fsync(fd: int) -> None:
    """Flush a file descriptor to stable storage (``F_FULLFSYNC`` where it exists)."""
    if _F_FULLFSYNC is not None:
        with suppress(OSError):
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
    os.fsync(fd)


def _fsync_dir(path: Path) -> None:
    """Make the directory's entries (new, renamed or removed names) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink()


@attrs.define(kw_only=True, eq=False)
class _Pending:
    """One delivery waiting in its account's commit group."""

    mailbox_name: str
    file_name: str
    summary: MessageSummary
    system_flags: int
    keywords: list[str]
    internal_date: _dt.datetime
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


class _Account:
    """An open account: its SQLite connection (one, behind a lock) and commit queue."""

    def __init__(self, account_id: str, path: Path, conn: sqlite3.Connection) -> None:
        self.account_id = account_id
        self.path = path
        self.messages_dir = path / MESSAGES_DIR
        self.conn = conn
        self.db_lock = threading.Lock()  # guards conn and closed
        self.commit_lock = threading.Lock()  # guards queue and committing
        self.queue: list[_Pending] = []
        self.committing = False
        self.closed = False
        self.mailbox_names: set[str] = set()  # fast pre-check; the index decides
        # Writers of this index in other processes (trimail serve workers, the CLI) take
        # this lock before BEGIN IMMEDIATE: the kernel wakes the next writer at once,
        # where SQLite's busy handler would sleep for milliseconds.
        self.lock_fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        """Hold the connection; translate sqlite3 errors to StorageError."""
        with self.db_lock:
            if self.closed:
                raise StorageError(f"account {self.account_id!r} is closed")
            try:
                yield self.conn
            except sqlite3.Error as exc:
                raise StorageError(f"index error in {self.account_id!r}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT``; rolls back on any exception."""
        with self.db() as conn:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
            finally:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def refresh_mailbox_names(self) -> None:
        """Re-read the mailbox names (another process may have created one)."""
        with self.db() as conn:
            self.mailbox_names = {r[0] for r in conn.execute("SELECT name FROM mailbox")}

    def close(self) -> None:
        with self.db_lock:
            if not self.closed:
                self.closed = True
                self.conn.close()
                os.close(self.lock_fd)


class SqliteMailStore:
    """The default :class:`~trimail.storage.api.MailStore` (see module docs).

    Args:
        root: directory holding one sub-directory per account; created if missing.
        clock: seconds since the epoch; seeds a new account's UIDVALIDITY counter, so
            an account deleted and created again does not reuse UIDVALIDITY values.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self._clock = clock
        self._lock = threading.Lock()  # guards _accounts and _closed
        self._accounts: dict[str, _Account] = {}
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

    def _account(self, account_id: str) -> _Account:
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
                    self._sweep_orphans(acct)
                except (OSError, sqlite3.Error) as exc:
                    raise StorageError(f"cannot open account {account_id!r}: {exc}") from exc
                self._accounts[account_id] = acct
            return acct

    def _open(self, account_id: str, path: Path) -> _Account:
        """Connect to the index, set pragmas, create schema/INBOX if missing."""
        conn = sqlite3.connect(
            path / INDEX_NAME, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # durable commits, see module docs
            conn.execute("PRAGMA fullfsync=ON")  # macOS: F_FULLFSYNC
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("SELECT 1 FROM account").fetchone() is None:
                seed = max(0, min(int(self._clock()), MAX_UID - (1 << 24)))
                conn.execute("INSERT INTO account VALUES (1, ?, ?, 0)", (SCHEMA_VERSION, seed))
                _insert_mailbox(conn, "INBOX", None)
                conn.execute("INSERT OR IGNORE INTO subscription VALUES ('INBOX')")
            conn.execute("COMMIT")
            acct = _Account(account_id, path, conn)
            acct.mailbox_names = {r[0] for r in conn.execute("SELECT name FROM mailbox")}
        except BaseException:
            conn.close()
            raise
        return acct

    def _sweep_orphans(self, acct: _Account) -> None:
        """Remove message files no index row names (a crash between write and commit)."""
        with acct.db() as conn:
            known = {row[0] for row in conn.execute("SELECT file FROM message")}
        cutoff = self._clock() - ORPHAN_AGE_SECONDS
        for entry in os.scandir(acct.messages_dir):
            if (
                _FILE_NAME_RE.fullmatch(entry.name)
                and entry.name not in known
                and entry.stat().st_mtime < cutoff
            ):
                _unlink_quietly(Path(entry.path))

    # --- mailboxes --------------------------------------------------------------------

    def create_mailbox(
        self, account_id: str, mailbox_name: str, *, special_use: str | None = None
    ) -> MailboxInfo:
        """See :meth:`MailStore.create_mailbox`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        with acct.transaction() as conn:
            if conn.execute("SELECT 1 FROM mailbox WHERE name = ?", (name,)).fetchone():
                raise MailboxExists(f"mailbox {name!r} exists")
            uidvalidity = _insert_mailbox(conn, name, special_use)
            acct.mailbox_names.add(name)
            subscribed = (
                conn.execute("SELECT 1 FROM subscription WHERE name = ?", (name,)).fetchone()
                is not None
            )
        return MailboxInfo(
            name=name, uidvalidity=uidvalidity, special_use=special_use, subscribed=subscribed
        )

    def list_mailboxes(self, account_id: str) -> list[MailboxInfo]:
        """See :meth:`MailStore.list_mailboxes`."""
        acct = self._account(account_id)
        with acct.db() as conn:
            rows = conn.execute(
                "SELECT m.name, m.uidvalidity, m.special_use, s.name IS NOT NULL"
                " FROM mailbox m LEFT JOIN subscription s ON s.name = m.name"
                " ORDER BY m.name"
            ).fetchall()
        return [
            MailboxInfo(name=r[0], uidvalidity=r[1], special_use=r[2], subscribed=bool(r[3]))
            for r in rows
        ]

    def mailbox_status(self, account_id: str, mailbox_name: str) -> MailboxStatus:
        """See :meth:`MailStore.mailbox_status`."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        with acct.db() as conn:
            conn.execute("BEGIN")  # one consistent snapshot for all counts
            try:
                box = _mailbox_row(conn, name)
                exists, size = conn.execute(
                    "SELECT count(*), coalesce(sum(size), 0) FROM message WHERE mailbox_id = ?",
                    (box[0],),
                ).fetchone()
                (unseen,) = conn.execute(
                    f"SELECT count(*) FROM message WHERE mailbox_id = ?"
                    f" AND system_flags & {_SEEN_BIT} = 0",
                    (box[0],),
                ).fetchone()
                (recent,) = conn.execute(
                    "SELECT count(*) FROM message WHERE mailbox_id = ? AND uid > ?",
                    (box[0], box[4]),
                ).fetchone()
            finally:
                conn.execute("COMMIT")
        return MailboxStatus(
            name=name,
            uidvalidity=box[1],
            uidnext=box[2],
            highestmodseq=box[3],
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
        with acct.db() as conn:
            box_id = _mailbox_row(conn, name)[0]
            rows = conn.execute(
                "SELECT uid, modseq, system_flags, keywords, internal_date, size, envelope,"
                " bodystructure, headers, sent_date FROM message"
                " WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
                (box_id, uid_from, upper),
            ).fetchall()
        return [_message_info(row) for row in rows]

    def expunge(self, account_id: str, mailbox_name: str, uids: Iterable[int]) -> list[int]:
        """See :meth:`MailStore.expunge`. Files are unlinked after the commit."""
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        wanted = sorted(set(uids))
        removed: list[tuple[int, str]] = []
        with acct.transaction() as conn:
            box_id = _mailbox_row(conn, name)[0]
            for start in range(0, len(wanted), _SQL_BATCH):
                chunk = wanted[start : start + _SQL_BATCH]
                marks = ",".join("?" * len(chunk))
                removed += conn.execute(
                    f"SELECT uid, file FROM message WHERE mailbox_id = ? AND uid IN ({marks})"
                    " ORDER BY uid",
                    (box_id, *chunk),
                ).fetchall()
            if removed:
                (modseq,) = conn.execute("SELECT last_modseq FROM account").fetchone()
                for uid, _file in removed:
                    modseq += 1
                    conn.execute(
                        "DELETE FROM message WHERE mailbox_id = ? AND uid = ?", (box_id, uid)
                    )
                    conn.execute(
                        "INSERT OR REPLACE INTO tombstone VALUES (?, ?, ?)", (box_id, uid, modseq)
                    )
                conn.execute("UPDATE mailbox SET highestmodseq = ? WHERE id = ?", (modseq, box_id))
                conn.execute("UPDATE account SET last_modseq = ?", (modseq,))
        for _uid, file_name in removed:
            _unlink_quietly(acct.messages_dir / file_name)
        return [uid for uid, _file in removed]

    def add_flags(
        self, account_id: str, mailbox_name: str, uids: Iterable[int], flags: Iterable[str]
    ) -> None:
        """See :meth:`MailStore.add_flags` (system flags only, for now)."""
        bits, keywords = _split_flags(flags)
        if keywords:
            raise ValueError(f"add_flags takes system flags only, not {keywords!r}")
        acct = self._account(account_id)
        name = normalize_mailbox_name(mailbox_name)
        wanted = sorted(set(uids))
        with acct.transaction() as conn:
            box_id = _mailbox_row(conn, name)[0]
            (modseq,) = conn.execute("SELECT last_modseq FROM account").fetchone()
            changed = False
            for uid in wanted:
                cur = conn.execute(
                    "UPDATE message SET system_flags = system_flags | ?, modseq = ?"
                    " WHERE mailbox_id = ? AND uid = ? AND system_flags & ? != ?",
                    (bits, modseq + 1, box_id, uid, bits, bits),
                )
                if cur.rowcount:
                    modseq, changed = modseq + 1, True
            if changed:
                conn.execute("UPDATE mailbox SET highestmodseq = ? WHERE id = ?", (modseq, box_id))
                conn.execute("UPDATE account SET last_modseq = ?", (modseq,))

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
        with acct.db() as conn:
            box_id = _mailbox_row(conn, name)[0]
            row = conn.execute(
                "SELECT file FROM message WHERE mailbox_id = ? AND uid = ?", (box_id, uid)
            ).fetchone()
        if row is None:
            raise NoSuchMessage(f"no UID {uid} in {name!r}")
        try:
            return (acct.messages_dir / str(row[0])).read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read UID {uid} of {name!r}: {exc}") from exc

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
        bits, keywords = _split_flags(flags)
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
            data = _write_message(path, prefix, message)
            pending = _Pending(
                mailbox_name=name,
                file_name=file_name,
                summary=summarize(data),
                system_flags=bits,
                keywords=keywords,
                internal_date=internal_date,
            )
            result = self._group_commit(acct, pending)
            committed = True
            return result
        except OSError as exc:
            raise StorageError(f"cannot store message: {exc}") from exc
        finally:
            if not committed:
                _unlink_quietly(path)

    def _group_commit(self, acct: _Account, pending: _Pending) -> Delivered:
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

    def _commit_batch(self, acct: _Account, batch: list[_Pending]) -> None:
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
                        " WHERE name = ?",
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


def _write_message(path: Path, prefix: bytes, message: bytes | os.PathLike[str]) -> bytes:
    """Create ``path`` with ``prefix + message``, fsync it, and return the octets.

    A spool file is copied in :data:`COPY_CHUNK_BYTES` chunks; the octets are also
    returned (the summary needs them), so memory use is one message either way.
    """
    if isinstance(message, bytes | bytearray | memoryview):
        data = bytes(prefix) + bytes(message)
        chunks = [data]
    else:
        chunks = [bytes(prefix)]
        with open(message, "rb") as src:
            while chunk := src.read(COPY_CHUNK_BYTES):
                chunks.append(chunk)
        data = b"".join(chunks)
    with open(path, "xb") as out:
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        _fsync(out.fileno())
    return data


def _insert_mailbox(conn: sqlite3.Connection, name: str, special_use: str | None) -> int:
    """Insert a mailbox with the next UIDVALIDITY and a new MODSEQ; return UIDVALIDITY."""
    uidvalidity, modseq = conn.execute(
        "UPDATE account SET last_uidvalidity = last_uidvalidity + 1,"
        " last_modseq = last_modseq + 1 RETURNING last_uidvalidity, last_modseq"
    ).fetchone()
    if uidvalidity > MAX_UID:
        raise StorageError("UIDVALIDITY values exhausted")
    conn.execute(
        "INSERT INTO mailbox (name, uidvalidity, uidnext, highestmodseq, special_use)"
        " VALUES (?, ?, 1, ?, ?)",
        (name, uidvalidity, modseq, special_use),
    )
    return int(uidvalidity)


def _mailbox_row(conn: sqlite3.Connection, name: str) -> tuple[Any, ...]:
    """(id, uidvalidity, uidnext, highestmodseq, recent_uid) of a mailbox.

    Raises:
        NoSuchMailbox: no mailbox of that (normalized) name.
    """
    row = conn.execute(
        "SELECT id, uidvalidity, uidnext, highestmodseq, recent_uid FROM mailbox WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox {name!r}")
    return tuple(row)


def _insert_message(
    conn: sqlite3.Connection, box_id: int, uid: int, modseq: int, item: _Pending
) -> None:
    summary = item.summary
    conn.execute(
        "INSERT INTO message (mailbox_id, uid, modseq, system_flags, keywords, internal_date,"
        " size, envelope, bodystructure, headers, sent_date, file)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        ),
    )
    if item.keywords:
        conn.executemany(
            "INSERT OR IGNORE INTO keyword VALUES (?, ?)", [(box_id, k) for k in item.keywords]
        )


def _message_info(row: tuple[Any, ...]) -> MessageInfo:
    uid, modseq, bits, keywords, internal, size, env, body, headers, sent = row
    return MessageInfo(
        uid=uid,
        modseq=modseq,
        flags=_flag_set(bits, keywords),
        internal_date=_dt.datetime.fromisoformat(internal),
        size=size,
        envelope=json.loads(env),
        bodystructure=json.loads(body),
        headers={k: tuple(v) for k, v in json.loads(headers).items()},
        sent_date=None if sent is None else _dt.datetime.fromisoformat(sent),
    )
