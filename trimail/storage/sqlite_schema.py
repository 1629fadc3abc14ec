"""The SQLite index of the default store: its schema, its migrations, and the helpers
that know its columns (flag encoding, row decoding, the MODSEQ counter).

One index per account (``<root>/<account_id>/index.sqlite3``). ``account.schema_version``
says which schema a file has; :func:`init_index` creates a new index at
:data:`SCHEMA_VERSION` or migrates an older one in place, inside the caller's write
transaction, so two processes opening the same old index migrate it once.

Versions:

1. account, mailbox, subscription, keyword, message, tombstone.
2. ``mailbox.noselect`` (a name kept only as a parent after DELETE, RFC 3501 §6.3.4);
   ``mailbox.message_count``, ``total_size`` and ``unseen_count``, so STATUS does not
   scan the mailbox; the ``expunged`` table (the last state and file
   of each message expunged within the grace period, RFC 2180 §4.1); the default
   mailboxes (``DEFAULT_MAILBOXES``).
3. ``imap_envelope`` and ``imap_bodystructure`` on ``message`` and ``expunged``: the
   ENVELOPE and BODYSTRUCTURE already in IMAP syntax (:mod:`trimail.mail.imap_syntax`),
   so FETCH of cached items copies bytes; ``search_text``, a JSON object of folded,
   decoded header text per field (:func:`trimail.mail.search.searchable_fields`), so
   SEARCH FROM/SUBJECT/... is narrowed in SQL. NULL for rows stored before version 3:
   rendered from the JSON columns when read, and always SEARCH candidates.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from trimail.storage.api import (
    DEFAULT_MAILBOXES,
    SYSTEM_FLAGS,
    MessageFlags,
    MessageInfo,
    NoSuchMailbox,
    StorageError,
)

__all__ = [
    "FLAG_BITS",
    "MAX_MODSEQ",
    "MAX_UID",
    "MESSAGE_COLUMNS",
    "SCHEMA_VERSION",
    "SEEN_BIT",
    "SQL_BATCH",
    "ModseqCounter",
    "flag_set",
    "gc_paused",
    "init_index",
    "insert_mailbox",
    "mailbox_row",
    "message_flags",
    "message_info",
    "message_infos",
    "next_uidvalidity",
    "select_by_uids",
    "split_flags",
]

SCHEMA_VERSION = 3
MAX_UID = 0xFFFFFFFF  # nz-number, RFC 3501 §9
MAX_MODSEQ = (1 << 63) - 1  # RFC 7162 §3.1
SQL_BATCH = 500  # host parameters per IN (...) list, well under SQLite's limit
SEEN_BIT = 1 << SYSTEM_FLAGS.index("\\Seen")
FLAG_BITS = {flag.lower(): 1 << i for i, flag in enumerate(SYSTEM_FLAGS)}
_ATOM_SPECIALS = frozenset('(){ %*"\\]')

# The cached columns of a message, shared by ``message`` and ``expunged`` (same order
# as :func:`message_info` decodes them).
MESSAGE_COLUMNS = (
    "uid, modseq, system_flags, keywords, internal_date, size, envelope,"
    " bodystructure, headers, sent_date, imap_envelope, imap_bodystructure, search_text"
)

# The current schema, for a new index. Statements run one by one inside the caller's
# transaction (``executescript`` would commit it).
_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    last_uidvalidity INTEGER NOT NULL,  -- account-wide counter (RFC 3501 §2.3.1.1)
    last_modseq INTEGER NOT NULL        -- 63-bit, bumped per change (RFC 7162 §3.1)
)""",
    """CREATE TABLE mailbox (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,          -- UTF-8 IMAP name, never a path
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL,
    recent_uid INTEGER NOT NULL DEFAULT 0,   -- rev1 \\Recent: UIDs above are recent
    special_use TEXT,                   -- RFC 6154, e.g. '\\Sent'
    noselect INTEGER NOT NULL DEFAULT 0,      -- 1: only a parent (RFC 3501 §6.3.4)
    message_count INTEGER NOT NULL DEFAULT 0, -- see _COUNTER_SCHEMA
    total_size INTEGER NOT NULL DEFAULT 0,
    unseen_count INTEGER NOT NULL DEFAULT 0
)""",
    "CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE keyword (   -- keywords ever used per mailbox (* FLAGS)
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, keyword)
) WITHOUT ROWID""",
    """CREATE TABLE message (
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
    imap_envelope BLOB,                        -- IMAP syntax (version 3), or NULL
    imap_bodystructure BLOB,                   -- IMAP syntax (version 3), or NULL
    search_text TEXT,                          -- JSON: field -> folded text, or NULL
    UNIQUE (mailbox_id, uid)
)""",
    "CREATE INDEX message_modseq ON message (mailbox_id, modseq)",
    f"CREATE INDEX message_unseen ON message (mailbox_id, uid) WHERE system_flags & {SEEN_BIT} = 0",
    """CREATE TABLE tombstone (  -- expunged UIDs, for QRESYNC (RFC 7162 §3.2); kept
    mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID""",
    "CREATE INDEX tombstone_modseq ON tombstone (mailbox_id, modseq)",
)

# Version 2 additions, for a new index and for the migration from version 1.
_EXPUNGED_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE expunged (  -- messages expunged within the grace period (RFC 2180 §4.1)
    mailbox_id INTEGER,             -- NULL once the mailbox itself is deleted
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,        -- the message's MODSEQ before it was expunged
    system_flags INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    internal_date TEXT NOT NULL,
    size INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    bodystructure TEXT NOT NULL,
    headers TEXT NOT NULL,
    sent_date TEXT,
    file TEXT NOT NULL,             -- may also be named by a live row (MOVE)
    expunged_at REAL NOT NULL,      -- seconds since the epoch, the store's clock
    imap_envelope BLOB,
    imap_bodystructure BLOB,
    search_text TEXT
)""",
    "CREATE INDEX expunged_uid ON expunged (mailbox_id, uid)",
    "CREATE INDEX expunged_at ON expunged (expunged_at)",
    "CREATE INDEX expunged_file ON expunged (file)",
)


def _unseen(row: str) -> str:
    """SQL: 1 if the message ``row`` (``new``, ``old``, ``message``) lacks ``\\Seen``."""
    return f"({row}.system_flags & {SEEN_BIT} = 0)"


# Version 2: per-mailbox counters for STATUS (exists, size, unseen). Triggers keep them
# for rows inserted, deleted and moved (deliver, COPY, MOVE, expunge, DELETE);
# ``unseen_count`` for flag changes is adjusted by `sqlite_imap.store_flags`, the one
# writer of ``system_flags`` (a per-row trigger would double the cost of marking a
# 100,000-message mailbox read).
_COUNTER_SCHEMA: tuple[str, ...] = (
    f"""CREATE TRIGGER message_insert AFTER INSERT ON message BEGIN
    UPDATE mailbox SET message_count = message_count + 1, total_size = total_size + new.size,
        unseen_count = unseen_count + {_unseen("new")} WHERE id = new.mailbox_id;
END""",
    f"""CREATE TRIGGER message_delete AFTER DELETE ON message BEGIN
    UPDATE mailbox SET message_count = message_count - 1, total_size = total_size - old.size,
        unseen_count = unseen_count - {_unseen("old")} WHERE id = old.mailbox_id;
END""",
    f"""CREATE TRIGGER message_move AFTER UPDATE OF mailbox_id ON message
    WHEN old.mailbox_id != new.mailbox_id
BEGIN
    UPDATE mailbox SET message_count = message_count - 1, total_size = total_size - old.size,
        unseen_count = unseen_count - {_unseen("old")} WHERE id = old.mailbox_id;
    UPDATE mailbox SET message_count = message_count + 1, total_size = total_size + new.size,
        unseen_count = unseen_count + {_unseen("new")} WHERE id = new.mailbox_id;
END""",
)


def init_index(conn: sqlite3.Connection, *, uidvalidity_seed: int) -> None:
    """Create the schema or migrate it to :data:`SCHEMA_VERSION`, in place.

    Must run inside a write transaction (``BEGIN IMMEDIATE``), which the caller
    commits; the version is read inside it, so concurrent openers migrate once.

    Args:
        conn: the account's connection, in a write transaction.
        uidvalidity_seed: the UIDVALIDITY counter's start for a new index (the clock's
            seconds, so a deleted and re-created account does not reuse values).

    Raises:
        StorageError: the index is from a newer trimail (unknown schema version).
        sqlite3.Error: the index could not be read or written.
    """
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account'"
    ).fetchone()
    if not exists:
        for statement in (*_SCHEMA, *_EXPUNGED_SCHEMA, *_COUNTER_SCHEMA):
            conn.execute(statement)
        conn.execute("INSERT INTO account VALUES (1, ?, ?, 0)", (SCHEMA_VERSION, uidvalidity_seed))
        _add_default_mailboxes(conn)
        return
    row = conn.execute("SELECT schema_version FROM account").fetchone()
    if row is None:
        # Version 1 created its (empty) tables before the transaction that filled them,
        # so a crash in between left tables without an account row.
        conn.execute("INSERT INTO account VALUES (1, 1, ?, 0)", (uidvalidity_seed,))
        row = (1,)
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise StorageError(f"index schema {version} is newer than this trimail's")
    if version < 2:
        _migrate_1_to_2(conn)
    if version < 3:
        _migrate_2_to_3(conn)
    conn.execute("UPDATE account SET schema_version = ?", (SCHEMA_VERSION,))


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    for column in ("noselect", "message_count", "total_size", "unseen_count"):
        conn.execute(f"ALTER TABLE mailbox ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE mailbox SET (message_count, total_size, unseen_count) ="
        " (SELECT count(*), coalesce(sum(size), 0), coalesce(sum({}), 0)"
        " FROM message WHERE mailbox_id = mailbox.id)".format(_unseen("message"))
    )
    for statement in (*_EXPUNGED_SCHEMA, *_COUNTER_SCHEMA):
        conn.execute(statement)
    _add_default_mailboxes(conn)


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    for table in ("message", "expunged"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column, kind in (
            ("imap_envelope", "BLOB"),
            ("imap_bodystructure", "BLOB"),
            ("search_text", "TEXT"),
        ):
            if column not in columns:  # a version 1 index got them from _EXPUNGED_SCHEMA
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _add_default_mailboxes(conn: sqlite3.Connection) -> None:
    """Create the missing `DEFAULT_MAILBOXES`, subscribed.

    A default is skipped if a mailbox of that name exists in any letter case (``sent``
    keeps serving as Sent) or one already carries its special-use attribute; existing
    mailboxes are not changed.
    """
    rows = conn.execute("SELECT name, special_use FROM mailbox").fetchall()
    names = {str(name).casefold() for name, _ in rows}
    uses = {use for _, use in rows if use}
    counter = ModseqCounter(conn)
    for name, special_use in DEFAULT_MAILBOXES:
        if name.casefold() in names or (special_use and special_use in uses):
            continue
        insert_mailbox(conn, counter, name, special_use)
        conn.execute("INSERT OR IGNORE INTO subscription VALUES (?)", (name,))
    counter.save(conn)


class ModseqCounter:
    """The account's MODSEQ counter within one write transaction (RFC 7162 §3.1).

    Read once at the start, bumped in memory by :meth:`next`, written back by
    :meth:`save` before the commit. Only valid inside ``BEGIN IMMEDIATE`` (under the
    account's writer lock), which makes the values unique and ascending account-wide.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        (value,) = conn.execute("SELECT last_modseq FROM account").fetchone()
        self.value: int = int(value)
        self._start = self.value

    def next(self) -> int:
        """Return a new MODSEQ, above every one given out before.

        Raises:
            StorageError: the 63-bit space is exhausted.
        """
        if self.value >= MAX_MODSEQ:
            raise StorageError("MODSEQ values exhausted")
        self.value += 1
        return self.value

    def save(self, conn: sqlite3.Connection) -> None:
        """Write the counter back if it moved."""
        if self.value != self._start:
            conn.execute("UPDATE account SET last_modseq = ?", (self.value,))
            self._start = self.value


def insert_mailbox(
    conn: sqlite3.Connection, counter: ModseqCounter, name: str, special_use: str | None
) -> int:
    """Insert a selectable mailbox with the next UIDVALIDITY and a new MODSEQ.

    Returns:
        The new mailbox's UIDVALIDITY.

    Raises:
        StorageError: UIDVALIDITY values exhausted.
    """
    uidvalidity = next_uidvalidity(conn)
    conn.execute(
        "INSERT INTO mailbox (name, uidvalidity, uidnext, highestmodseq, special_use)"
        " VALUES (?, ?, 1, ?, ?)",
        (name, uidvalidity, counter.next(), special_use),
    )
    return uidvalidity


def next_uidvalidity(conn: sqlite3.Connection) -> int:
    """Take the next value of the account-wide UIDVALIDITY counter (RFC 3501 §2.3.1.1).

    Raises:
        StorageError: UIDVALIDITY values exhausted (32 bits).
    """
    (uidvalidity,) = conn.execute(
        "UPDATE account SET last_uidvalidity = last_uidvalidity + 1 RETURNING last_uidvalidity"
    ).fetchone()
    if uidvalidity > MAX_UID:
        raise StorageError("UIDVALIDITY values exhausted")
    return int(uidvalidity)


def mailbox_row(conn: sqlite3.Connection, name: str) -> tuple[Any, ...]:
    """``(id, uidvalidity, uidnext, highestmodseq, recent_uid)`` of a selectable mailbox.

    Raises:
        NoSuchMailbox: no mailbox of that (normalized) name, or only a ``noselect`` one
            (it cannot be selected and holds no messages).
    """
    row = conn.execute(
        "SELECT id, uidvalidity, uidnext, highestmodseq, recent_uid FROM mailbox"
        " WHERE name = ? AND noselect = 0",
        (name,),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox {name!r}")
    return tuple(row)


def split_flags(flags: Iterable[str]) -> tuple[int, list[str]]:
    """Split flags into a system-flag bit mask and sorted keywords (RFC 3501 §2.3.2).

    System flags are matched case-insensitively; ``\\Recent`` is dropped; keywords are
    kept in their exact spelling.

    Raises:
        ValueError: an unknown ``\\`` flag, or a keyword that is not an atom.
    """
    if isinstance(flags, str):
        raise ValueError(f"flags must be an iterable of flags, not the string {flags!r}")
    bits, keywords = 0, set()
    for flag in flags:
        if flag.startswith("\\"):
            if flag.lower() == "\\recent":
                continue
            if flag.lower() not in FLAG_BITS:
                raise ValueError(f"unknown system flag {flag!r}")
            bits |= FLAG_BITS[flag.lower()]
        elif not flag or any(c in _ATOM_SPECIALS or ord(c) < 0x21 or ord(c) == 0x7F for c in flag):
            raise ValueError(f"invalid keyword {flag!r}")
        else:
            keywords.add(flag)
    return bits, sorted(keywords)


_SYSTEM_SETS: dict[int, frozenset[str]] = {
    bits: frozenset(f for i, f in enumerate(SYSTEM_FLAGS) if bits & (1 << i))
    for bits in range(1 << len(SYSTEM_FLAGS))
}


def flag_set(bits: int, keywords_json: str) -> frozenset[str]:
    """Decode the ``system_flags`` and ``keywords`` columns into one flag set."""
    system = _SYSTEM_SETS[bits]
    if keywords_json == "[]":
        return system
    return system | frozenset(json.loads(keywords_json))


def message_info(row: Sequence[Any]) -> MessageInfo:
    """Decode a row of :data:`MESSAGE_COLUMNS`."""
    return message_infos([row])[0]


_DECODE_BATCH = 256  # rows whose JSON columns are parsed by one json.loads call
_GC_PAUSE_ROWS = 2000  # decoding more rows than this pauses the cyclic GC

_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = False


@contextmanager
def gc_paused(rows: int) -> Iterator[None]:
    """Pause the cyclic garbage collector while building ``rows`` result objects.

    Decoding 100,000 messages allocates millions of containers, and CPython's
    generational GC then rescans them over and over: with it on, ``messages`` of
    100,000 UIDs takes about 4x longer. Nothing built here has cycles. Pauses from
    several threads nest; the collector comes back when the last one ends (and only
    if it was on when the first began). Small reads do not pause it.
    """
    global _gc_pausers, _gc_was_enabled
    if rows <= _GC_PAUSE_ROWS:
        yield
        return
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def message_infos(rows: Sequence[Sequence[Any]]) -> list[MessageInfo]:
    """Decode rows of :data:`MESSAGE_COLUMNS`, in order.

    The three JSON columns of :data:`_DECODE_BATCH` rows are parsed by one
    ``json.loads`` of their concatenation: per-call overhead, not parsing, dominates
    for small documents (FETCH 1:* of 100,000 messages).
    """
    with gc_paused(len(rows)):
        return _message_infos(rows)


def _message_infos(rows: Sequence[Sequence[Any]]) -> list[MessageInfo]:
    out: list[MessageInfo] = []
    fromiso = _dt.datetime.fromisoformat
    for start in range(0, len(rows), _DECODE_BATCH):
        chunk = rows[start : start + _DECODE_BATCH]
        docs = json.loads("[" + ",".join(f"{r[6]},{r[7]},{r[8]}" for r in chunk) + "]")
        for i, (uid, modseq, bits, keywords, internal, size, _e, _b, _h, sent, *_) in enumerate(
            chunk
        ):
            headers = docs[3 * i + 2]
            out.append(
                MessageInfo(
                    uid=uid,
                    modseq=modseq,
                    flags=flag_set(bits, keywords),
                    internal_date=fromiso(internal),
                    size=size,
                    envelope=docs[3 * i],
                    bodystructure=docs[3 * i + 1],
                    headers={k: tuple(v) for k, v in headers.items()},
                    sent_date=None if sent is None else fromiso(sent),
                )
            )
    return out


def message_flags(uid: int, modseq: int, bits: int, keywords_json: str) -> MessageFlags:
    """Build a :class:`MessageFlags` from the ``uid, modseq, system_flags, keywords``
    columns."""
    return MessageFlags(uid=uid, modseq=modseq, flags=flag_set(bits, keywords_json))


# UID runs at least this long and at least half dense are read by range (BETWEEN)
# rather than by IN lists: a view's 1:* is mostly contiguous, and 100,000 host
# parameters would cost more than reading the few expunged gaps' neighbours.
_RANGE_MIN_RUN = 32
_RANGE_MAX_GAP = 32


def select_by_uids(
    conn: sqlite3.Connection,
    sql: str,
    box_id: int,
    uids: Sequence[int],
    extra: tuple[Any, ...] = (),
) -> Iterator[tuple[Any, ...]]:
    """Run ``sql`` for the wanted UIDs and yield its rows, in no particular order.

    ``sql`` is a SELECT whose first column is the UID, with the condition
    ``mailbox_id = ? AND {uids}`` (further ``?`` conditions may follow, bound from
    ``extra``); ``{uids}`` becomes ``uid BETWEEN ? AND ?`` for dense runs and
    ``uid IN (...)`` (:data:`SQL_BATCH` at a time) for the rest. Rows whose UID was
    not asked for are dropped.

    Args:
        conn: the connection (the caller holds a snapshot if it needs one).
        sql: the statement with one ``{uids}`` placeholder and ``?`` for ``box_id``.
        box_id: the mailbox id, bound before the UID parameters.
        uids: the wanted UIDs, ascending, without duplicates.
        extra: parameters bound after the UID parameters.
    """
    sparse: list[int] = []
    wanted: set[int] | None = None
    start = 0
    n = len(uids)
    while start < n:
        end = start + 1
        while end < n and uids[end] - uids[end - 1] <= _RANGE_MAX_GAP:
            end += 1
        lo, hi = uids[start], uids[end - 1]
        count = end - start
        if count >= _RANGE_MIN_RUN and count * 2 >= hi - lo + 1:
            exact = count == hi - lo + 1
            if not exact and wanted is None:
                wanted = set(uids)
            range_sql = sql.replace("{uids}", "uid BETWEEN ? AND ?")
            for row in conn.execute(range_sql, (box_id, lo, hi, *extra)):
                if exact or row[0] in wanted:  # type: ignore[operator]
                    yield row
        else:
            sparse.extend(uids[start:end])
        start = end
    for first in range(0, len(sparse), SQL_BATCH):
        chunk = sparse[first : first + SQL_BATCH]
        in_sql = sql.replace("{uids}", f"uid IN ({','.join('?' * len(chunk))})")
        yield from conn.execute(in_sql, (box_id, *chunk, *extra))
