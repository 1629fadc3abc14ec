"""One open account of the default store: its index connection, its writer lock, its
message files (see :mod:`trimail.storage.sqlite_store` for the layout and durability).

Message files are immutable and may be named by more than one index row at once: by a
live ``message`` row and by ``expunged`` rows (a moved message stays readable in its
old mailbox for the grace period). A file is unlinked only when its last expunged row
has outlived the grace period and no live row names it (:meth:`Account.sweep_expunged`).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from trimail.durable import fsync, fsync_dir, unlink_quietly
from trimail.storage.api import StorageError
from trimail.storage.sqlite_schema import init_index

if TYPE_CHECKING:
    from trimail.storage.sqlite_store import _Pending

__all__ = [
    "COPY_CHUNK_BYTES",
    "FILE_NAME_RE",
    "INDEX_NAME",
    "LOCK_NAME",
    "MAILDROP_LOCK_NAME",
    "MESSAGES_DIR",
    "ORPHAN_AGE_SECONDS",
    "Account",
    "fsync",
    "fsync_dir",
    "link_or_copy",
    "unlink_quietly",
    "write_message",
]

INDEX_NAME = "index.sqlite3"
MESSAGES_DIR = "messages"
MAILDROP_LOCK_NAME = "maildrop.lock"  # POP3's exclusive access (RFC 1939 §8)
LOCK_NAME = "index.lock"  # flock(2) serializing writers across processes
COPY_CHUNK_BYTES = 1 << 20  # spool file copy chunk
ORPHAN_AGE_SECONDS = 3600.0  # unreferenced message files older than this go
FILE_NAME_RE = re.compile(r"[0-9a-f]{32}")


def write_message(path: Path, prefix: bytes, message: bytes | os.PathLike[str]) -> bytes:
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
        fsync(out.fileno())
    return data


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a new name of ``source``'s octets (COPY, RFC 3501 §6.4.7).

    A hard link costs no data I/O; where linking fails (a file system without links,
    the link count limit), the octets are copied and fsynced. Either way the caller
    fsyncs the directory before committing.

    Raises:
        FileNotFoundError: ``source`` is gone.
        OSError: neither a link nor a copy could be made.
    """
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:
        pass
    else:
        # The orphan sweep judges by mtime, and a link shares the source's old one:
        # mark the file as just written until the row naming it is committed.
        os.utime(target)
        return
    with open(source, "rb") as src, open(target, "xb") as out:
        shutil.copyfileobj(src, out, COPY_CHUNK_BYTES)
        out.flush()
        fsync(out.fileno())


class Account:
    """An open account: its SQLite connection (one, behind a lock) and commit queue.

    Attributes:
        account_id: the account's id.
        path: ``<root>/<account_id>``.
        messages_dir: ``path / "messages"``.
        conn: the connection; use it only through :meth:`db`, :meth:`snapshot` or
            :meth:`transaction`.
        mailbox_names: selectable mailbox names, a fast pre-check for ``deliver``;
            the index decides.
        commit_lock, queue, committing: the group commit state of ``deliver``.
    """

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
        self.mailbox_names: set[str] = set()
        # Writers of this index in other processes (trimail serve workers, the CLI) take
        # this lock before BEGIN IMMEDIATE: the kernel wakes the next writer at once,
        # where SQLite's busy handler would sleep for milliseconds.
        self.lock_fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @classmethod
    def open(cls, account_id: str, path: Path, *, uidvalidity_seed: int) -> Account:
        """Connect to the index, set its pragmas, create or migrate its schema.

        Raises:
            OSError, sqlite3.Error, StorageError: the index cannot be opened.
        """
        conn = sqlite3.connect(
            path / INDEX_NAME, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # durable commits, see module docs
            conn.execute("PRAGMA fullfsync=ON")  # macOS: F_FULLFSYNC
            conn.execute("PRAGMA foreign_keys=ON")
            acct = cls(account_id, path, conn)
        except BaseException:
            conn.close()
            raise
        try:
            with acct.transaction() as tx:
                init_index(tx, uidvalidity_seed=uidvalidity_seed)
            acct.refresh_mailbox_names()
        except BaseException:
            acct.close()
            raise
        return acct

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
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction (``BEGIN`` .. ``COMMIT``): every read sees one state."""
        with self.db() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT`` under the writer lock; rolls back on error."""
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
        """Re-read the selectable mailbox names (another process may have made one)."""
        with self.db() as conn:
            self.mailbox_names = {
                r[0] for r in conn.execute("SELECT name FROM mailbox WHERE noselect = 0")
            }

    def sweep_expunged(self, cutoff: float) -> None:
        """Forget messages expunged before ``cutoff`` and unlink their unused files.

        Cheap when nothing is due (one read of the ``expunged_at`` index), so it runs
        on account open and after every expunge. Files are unlinked after the commit;
        a crash in between leaves orphans for :meth:`sweep_orphans`.

        Args:
            cutoff: seconds since the epoch (store clock minus the grace period).
        """
        with self.db() as conn:
            due = conn.execute(
                "SELECT 1 FROM expunged WHERE expunged_at < ? LIMIT 1", (cutoff,)
            ).fetchone()
        if due is None:
            return
        with self.transaction() as conn:
            files = {
                row[0]
                for row in conn.execute(
                    "DELETE FROM expunged WHERE expunged_at < ? RETURNING file", (cutoff,)
                ).fetchall()
            }
            unused = [name for name in sorted(files) if not _file_in_use(conn, name)]
        for name in unused:
            unlink_quietly(self.messages_dir / name)

    def sweep_orphans(self, cutoff: float) -> None:
        """Remove message files no index row names, last modified before ``cutoff``
        (a crash between writing a file and committing its row, or before an unlink).
        """
        with self.snapshot() as conn:
            known = {row[0] for row in conn.execute("SELECT file FROM message")}
            known.update(row[0] for row in conn.execute("SELECT file FROM expunged"))
        for entry in os.scandir(self.messages_dir):
            if (
                FILE_NAME_RE.fullmatch(entry.name)
                and entry.name not in known
                and entry.stat().st_mtime < cutoff
            ):
                unlink_quietly(Path(entry.path))

    def unlink_files(self, names: Iterable[str]) -> None:
        """Unlink message files that no committed row names (a failed COPY's links)."""
        for name in names:
            unlink_quietly(self.messages_dir / name)

    def close(self) -> None:
        """Close the connection and the lock file; later use raises StorageError."""
        with self.db_lock:
            if not self.closed:
                self.closed = True
                self.conn.close()
                os.close(self.lock_fd)


def _file_in_use(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM message WHERE file = ?", (name,)).fetchone() is not None
        or conn.execute("SELECT 1 FROM expunged WHERE file = ?", (name,)).fetchone() is not None
    )
