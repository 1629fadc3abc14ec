"""`SieveStore`: the scripts (one active script per account) and the vacation response
log, in one SQLite file under the plugin's state directory.

Keyed by account id, never by address, and no path is ever built from either. Several
worker processes and the CLI share the file: WAL mode, a busy timeout, and the vacation
slot is claimed by one atomic statement so two processes never both respond.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import attrs

FILE_NAME = "sieve.sqlite3"
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scripts (
    account_id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    source BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vacation_sent (
    account_id TEXT NOT NULL,
    handle TEXT NOT NULL,
    sender TEXT NOT NULL,
    sent REAL NOT NULL,
    PRIMARY KEY (account_id, handle, sender)
);
"""


class StoreError(Exception):
    """The script database cannot be opened or used; the message names the file."""


@attrs.frozen(kw_only=True)
class StoredScript:
    """One user's active script.

    Attributes:
        account_id: the account (hex).
        address: the user's address when the script was stored.
        source: the script text (octets as given).
        updated: when it was stored, seconds since the epoch.
    """

    account_id: str
    address: str
    source: bytes
    updated: float


class SieveStore:
    """The SQLite file of scripts and vacation responses.

    Thread-safe: one connection guarded by a lock (the hooks run in worker threads).

    Args:
        path: the database file (created with its tables if missing).

    Raises:
        StoreError: the file cannot be opened or is not a database.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: {exc}") from None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def put(self, account_id: str, address: str, source: bytes, *, now: float) -> None:
        """Make *source* the account's active script (replacing any other)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO scripts (account_id, address, source, updated) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (account_id) DO UPDATE SET address = excluded.address,"
                " source = excluded.source, updated = excluded.updated",
                (account_id, address, source, now),
            )

    def get(self, account_id: str) -> StoredScript | None:
        """The account's active script, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT account_id, address, source, updated FROM scripts WHERE account_id = ?",
                (account_id,),
            ).fetchone()
        return None if row is None else _script(row)

    def delete(self, account_id: str) -> bool:
        """Remove the account's script and its vacation log; True if it had a script."""
        with self._lock, self._db:
            gone = self._db.execute("DELETE FROM scripts WHERE account_id = ?", (account_id,))
            self._db.execute("DELETE FROM vacation_sent WHERE account_id = ?", (account_id,))
        return gone.rowcount > 0

    def scripts(self) -> list[StoredScript]:
        """Every stored script, by address."""
        with self._lock:
            rows = self._db.execute(
                "SELECT account_id, address, source, updated FROM scripts ORDER BY address"
            ).fetchall()
        return [_script(row) for row in rows]

    def claim_vacation(
        self, account_id: str, handle: str, sender: str, *, now: float, period: float
    ) -> float | None:
        """Claim the right to respond to *sender* now (RFC 5230 §4.2: once per period).

        Atomic across threads and processes.

        Args:
            account_id: the user.
            handle: the vacation handle (``:handle`` or the default digest).
            sender: the address responded to, lower-cased by the caller.
            now: seconds since the epoch.
            period: seconds to stay silent after a response.

        Returns:
            None if a response was sent within *period* (do not respond); otherwise the
            previous time (0.0 if none), to give back to `release_vacation` if the
            response cannot be sent.
        """
        key = (account_id, handle, sender)
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT sent FROM vacation_sent WHERE account_id = ? AND handle = ? AND sender = ?",
                key,
            ).fetchone()
            previous = float(row[0]) if row is not None else 0.0
            if row is not None and now - previous < period:
                return None
            self._db.execute(
                "INSERT INTO vacation_sent (account_id, handle, sender, sent) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (account_id, handle, sender) DO UPDATE SET sent = excluded.sent"
                " WHERE vacation_sent.sent = ?",
                (*key, now, previous),
            )
            if self._db.execute("SELECT changes()").fetchone()[0] != 1:
                return None  # another process claimed it in between
        return previous

    def release_vacation(
        self, account_id: str, handle: str, sender: str, *, previous: float
    ) -> None:
        """Undo a claim whose response could not be sent (the next message may respond)."""
        with self._lock, self._db:
            if previous:
                self._db.execute(
                    "UPDATE vacation_sent SET sent = ? WHERE account_id = ? AND handle = ?"
                    " AND sender = ?",
                    (previous, account_id, handle, sender),
                )
            else:
                self._db.execute(
                    "DELETE FROM vacation_sent WHERE account_id = ? AND handle = ? AND sender = ?",
                    (account_id, handle, sender),
                )


def _script(row: tuple[object, ...]) -> StoredScript:
    return StoredScript(
        account_id=str(row[0]),
        address=str(row[1]),
        source=bytes(row[2]) if isinstance(row[2], bytes | memoryview) else str(row[2]).encode(),
        updated=float(row[3]) if isinstance(row[3], int | float) else 0.0,
    )
