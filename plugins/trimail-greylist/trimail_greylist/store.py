"""The greylist database: triplets, client networks and allowed networks in SQLite.

One file, ``DATA_DIR/plugins/greylist/greylist.sqlite3``, in WAL mode, shared by every
worker process (a busy timeout makes writers wait for each other) and, within one
process, by the worker threads (one connection behind a lock). Each decision is one
``BEGIN IMMEDIATE`` transaction, so two processes never both see a triplet as new.
No file name is built from an address.

Times are seconds since the epoch, passed in by the caller (the store never reads a
clock), so tests drive it with a fake one.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from trimail_greylist.settings import IPNetwork, parse_network
from trimail_greylist.triplet import Triplet

log = logging.getLogger(__name__)

DB_NAME = "greylist.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 10.0  # other worker processes hold the write lock for milliseconds
COUNT_INTERVAL_SECONDS = 60.0  # a client's passes count towards auto-whitelisting once a minute

_SCHEMA = """
CREATE TABLE IF NOT EXISTS triplets (
    network TEXT NOT NULL,        -- client network, e.g. 192.0.2.0/24
    reverse_path TEXT NOT NULL,   -- lower-cased, '<>' for the null reverse-path
    forward_path TEXT NOT NULL,   -- lower-cased
    first_seen REAL NOT NULL,     -- when the greylisting period began
    last_seen REAL NOT NULL,      -- the last RCPT with this triplet
    passed_at REAL,               -- when a retry first passed, NULL while greylisted
    expires REAL NOT NULL,        -- forgotten after: end of retry window or pass lifetime
    refused INTEGER NOT NULL DEFAULT 0,   -- RCPTs answered 451
    passes INTEGER NOT NULL DEFAULT 0,    -- RCPTs let through
    PRIMARY KEY (network, reverse_path, forward_path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS triplets_expires ON triplets (expires);
CREATE TABLE IF NOT EXISTS clients (
    network TEXT PRIMARY KEY,     -- client network that passed greylisting
    deliveries INTEGER NOT NULL,  -- passed deliveries, counted at most once a minute
    last_counted REAL NOT NULL,
    expires REAL NOT NULL         -- forgotten after (pass lifetime since last pass)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS clients_expires ON clients (expires);
CREATE TABLE IF NOT EXISTS allowed (
    network TEXT PRIMARY KEY,     -- CIDR added by `trimail greylist allow`
    added REAL NOT NULL
) WITHOUT ROWID;
"""


class GreylistStoreError(Exception):
    """The database cannot be opened or used; ``str(err)`` names the file and why."""


class Outcome(enum.Enum):
    """What the greylist decided for one triplet."""

    NEW = "new"  # first sight (or seen too long ago): 451, recorded
    TOO_EARLY = "too early"  # retried before delay_seconds: 451 again
    PASSED = "passed"  # first retry after the delay: accepted, marked passed
    KNOWN = "known"  # passed before and still within its lifetime: accepted
    CLIENT = "auto-whitelisted client"  # the client network passed often enough


@attrs.frozen(kw_only=True)
class Timing:
    """The greylisting periods (seconds), from `trimail_greylist.GreylistSettings`."""

    delay_seconds: float
    retry_window_seconds: float
    pass_lifetime_seconds: float
    auto_whitelist_after: int = 0


@attrs.frozen(kw_only=True)
class Decision:
    """The outcome for one triplet.

    Attributes:
        outcome: what happened.
        first_seen: when the triplet's greylisting period began (epoch seconds).
        retry_at: for NEW and TOO_EARLY, when a retry can pass (epoch seconds).
    """

    outcome: Outcome
    first_seen: float
    retry_at: float = 0.0

    @property
    def accepted(self) -> bool:
        """True if the RCPT may go on."""
        return self.outcome in (Outcome.PASSED, Outcome.KNOWN, Outcome.CLIENT)


@attrs.frozen(kw_only=True)
class TripletRow:
    """One stored triplet (for ``trimail greylist list``)."""

    network: str
    reverse_path: str
    forward_path: str
    first_seen: float
    last_seen: float
    passed_at: float | None
    expires: float
    refused: int
    passes: int

    def state(self, now: float) -> str:
        """``greylisted``, ``passed`` or ``expired`` at *now*."""
        if self.expires <= now:
            return "expired"
        return "greylisted" if self.passed_at is None else "passed"


@attrs.frozen(kw_only=True)
class ClientRow:
    """One client network's passed deliveries (auto-whitelisting)."""

    network: str
    deliveries: int
    last_counted: float
    expires: float


@attrs.frozen(kw_only=True)
class PurgeCount:
    """How many expired rows `GreylistStore.purge` deleted."""

    triplets: int
    clients: int


class GreylistStore:
    """The greylist database. Thread-safe; several processes may open the same file.

    Args:
        path: the SQLite file (created with its tables if missing).

    Raises:
        GreylistStoreError: the file cannot be opened, is not a greylist database, or
            was written by a newer version of this plugin.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise GreylistStoreError(f"{path}: cannot open: {exc}") from None
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._db.close()
            raise GreylistStoreError(f"{path}: not a usable greylist database: {exc}") from None
        except GreylistStoreError:
            self._db.close()
            raise

    def _setup(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # losing the last few rows is harmless
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise GreylistStoreError(
                    f"{self.path}: schema version {version} is newer than this plugin's "
                    f"({SCHEMA_VERSION}); upgrade trimail-greylist"
                )
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (so no lock upgrade can deadlock)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database (further calls fail)."""
        with self._lock:
            self._db.close()

    # -- the greylisting decision ------------------------------------------------------

    def check(self, triplet: Triplet, now: float, timing: Timing) -> Decision:
        """Decide one triplet and record it (RFC 6647 §2.1 and §4.3), atomically.

        Args:
            triplet: the client network, reverse-path and forward-path.
            now: the current time, epoch seconds.
            timing: the greylisting periods.

        Returns:
            The decision: CLIENT if the client network is auto-whitelisted; NEW for an
            unknown (or expired) triplet, now recorded; TOO_EARLY for a retry before
            the delay (its first-seen time is kept); PASSED for the first retry after
            the delay; KNOWN for a triplet that passed before (its lifetime renewed).
            Passes count towards the client's auto-whitelisting.

        Raises:
            sqlite3.Error: the database failed (e.g. locked for longer than the busy
                timeout); the server then answers 451 4.3.0.
        """
        with self._write() as db:
            if self._client_whitelisted(db, triplet, now, timing):
                return Decision(outcome=Outcome.CLIENT, first_seen=now)
            row = db.execute(
                "SELECT first_seen, passed_at, expires FROM triplets"
                " WHERE network = ? AND reverse_path = ? AND forward_path = ?",
                (triplet.network, triplet.reverse_path, triplet.forward_path),
            ).fetchone()
            if row is None or row[2] <= now:
                return self._record_new(db, triplet, now, timing)
            first_seen, passed_at, _expires = row
            retry_at = first_seen + timing.delay_seconds
            if passed_at is None and now < retry_at:
                db.execute(
                    "UPDATE triplets SET last_seen = ?, refused = refused + 1"
                    " WHERE network = ? AND reverse_path = ? AND forward_path = ?",
                    (now, triplet.network, triplet.reverse_path, triplet.forward_path),
                )
                return Decision(outcome=Outcome.TOO_EARLY, first_seen=first_seen, retry_at=retry_at)
            db.execute(
                "UPDATE triplets SET last_seen = ?, passed_at = coalesce(passed_at, ?),"
                " expires = ?, passes = passes + 1"
                " WHERE network = ? AND reverse_path = ? AND forward_path = ?",
                (
                    now,
                    now,
                    now + timing.pass_lifetime_seconds,
                    triplet.network,
                    triplet.reverse_path,
                    triplet.forward_path,
                ),
            )
            self._count_client(db, triplet.network, now, timing)
            outcome = Outcome.PASSED if passed_at is None else Outcome.KNOWN
            return Decision(outcome=outcome, first_seen=first_seen)

    @staticmethod
    def _record_new(
        db: sqlite3.Connection, triplet: Triplet, now: float, timing: Timing
    ) -> Decision:
        db.execute(
            "INSERT OR REPLACE INTO triplets (network, reverse_path, forward_path,"
            " first_seen, last_seen, passed_at, expires, refused, passes)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?, 1, 0)",
            (
                triplet.network,
                triplet.reverse_path,
                triplet.forward_path,
                now,
                now,
                now + timing.retry_window_seconds,
            ),
        )
        return Decision(outcome=Outcome.NEW, first_seen=now, retry_at=now + timing.delay_seconds)

    @staticmethod
    def _client_whitelisted(
        db: sqlite3.Connection, triplet: Triplet, now: float, timing: Timing
    ) -> bool:
        if timing.auto_whitelist_after <= 0:
            return False
        row = db.execute(
            "SELECT deliveries, expires FROM clients WHERE network = ?", (triplet.network,)
        ).fetchone()
        if row is None or row[1] <= now or row[0] < timing.auto_whitelist_after:
            return False
        db.execute(
            "UPDATE clients SET expires = ? WHERE network = ?",
            (now + timing.pass_lifetime_seconds, triplet.network),
        )
        return True

    @staticmethod
    def _count_client(db: sqlite3.Connection, network: str, now: float, timing: Timing) -> None:
        if timing.auto_whitelist_after <= 0:
            return
        expires = now + timing.pass_lifetime_seconds
        row = db.execute(
            "SELECT last_counted, expires FROM clients WHERE network = ?", (network,)
        ).fetchone()
        if row is None or row[1] <= now:
            db.execute(
                "INSERT OR REPLACE INTO clients (network, deliveries, last_counted, expires)"
                " VALUES (?, 1, ?, ?)",
                (network, now, expires),
            )
        elif now - row[0] >= COUNT_INTERVAL_SECONDS:
            db.execute(
                "UPDATE clients SET deliveries = deliveries + 1, last_counted = ?, expires = ?"
                " WHERE network = ?",
                (now, expires, network),
            )
        else:
            db.execute("UPDATE clients SET expires = ? WHERE network = ?", (expires, network))

    # -- maintenance and listing -------------------------------------------------------

    def purge(self, now: float) -> PurgeCount:
        """Delete expired triplets and client networks (an index range delete: cheap).

        Args:
            now: the current time, epoch seconds.

        Returns:
            How many rows of each kind were deleted.
        """
        with self._write() as db:
            triplets = db.execute("DELETE FROM triplets WHERE expires <= ?", (now,)).rowcount
            clients = db.execute("DELETE FROM clients WHERE expires <= ?", (now,)).rowcount
        return PurgeCount(triplets=triplets, clients=clients)

    def triplets(self) -> list[TripletRow]:
        """Every stored triplet, oldest first (expired ones too, until purged)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT network, reverse_path, forward_path, first_seen, last_seen,"
                " passed_at, expires, refused, passes FROM triplets"
                " ORDER BY first_seen, network, reverse_path, forward_path"
            ).fetchall()
        return [
            TripletRow(
                network=str(r[0]),
                reverse_path=str(r[1]),
                forward_path=str(r[2]),
                first_seen=float(r[3]),
                last_seen=float(r[4]),
                passed_at=None if r[5] is None else float(r[5]),
                expires=float(r[6]),
                refused=int(r[7]),
                passes=int(r[8]),
            )
            for r in rows
        ]

    def clients(self) -> list[ClientRow]:
        """Every client network with passed deliveries, most deliveries first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT network, deliveries, last_counted, expires FROM clients"
                " ORDER BY deliveries DESC, network"
            ).fetchall()
        return [
            ClientRow(
                network=str(r[0]),
                deliveries=int(r[1]),
                last_counted=float(r[2]),
                expires=float(r[3]),
            )
            for r in rows
        ]

    def allowed(self) -> list[IPNetwork]:
        """The networks added with `allow` (rows that no longer parse are skipped)."""
        with self._lock:
            rows = self._db.execute("SELECT network FROM allowed ORDER BY network").fetchall()
        networks = []
        for (text,) in rows:
            try:
                networks.append(parse_network(str(text)))
            except ValueError:
                log.warning("%s: ignoring bad allowed network %r", self.path, text)
        return networks

    def allow(self, network: IPNetwork, now: float) -> bool:
        """Never greylist clients in *network* again (until `disallow`).

        Returns:
            False if it was already allowed.
        """
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO allowed (network, added) VALUES (?, ?)",
                (str(network), now),
            )
            return cursor.rowcount > 0

    def disallow(self, network: IPNetwork) -> bool:
        """Undo `allow`. Returns False if *network* was not allowed."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM allowed WHERE network = ?", (str(network),))
            return cursor.rowcount > 0


def is_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: list[IPNetwork]
) -> bool:
    """True if *address* is in one of *networks* (None, a non-IP peer, never is)."""
    return address is not None and any(address in n for n in networks)
