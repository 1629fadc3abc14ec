"""The IMAP methods of the default store, as functions on an open account.

`SqliteMailStore` validates ids, normalizes mailbox names and reads its clock, then
calls these (RFC 3501/9051, 4315 UIDPLUS, 6851 MOVE, 7162 CONDSTORE/QRESYNC). Rules
they keep (IMAP-NOTES §2):

- MODSEQ: one account-wide counter (:class:`ModseqCounter`), bumped inside the writing
  transaction; every flag change, arrival, expunge, copy and move gets a new value; a
  no-op gets none; a mailbox's ``highestmodseq`` is the largest MODSEQ of any change in
  it and never decreases.
- UIDNEXT only grows, also across DELETE of a mailbox with children and re-CREATE.
- Expunge (also by DELETE and by MOVE's source side) writes, in one transaction, a
  tombstone ``(mailbox, uid, modseq)`` (kept for good, for QRESYNC) and an ``expunged``
  row with the message's last state and file name, so sessions not yet told of the
  expunge can still FETCH it (RFC 2180 §4.1) until the grace period is over; then
  `Account.sweep_expunged` forgets the row and unlinks the file if nothing else names it.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from trimail.mail.imap_syntax import render_bodystructure, render_envelope
from trimail.mail.search import fold_case
from trimail.mail.summary import SUMMARY_HEADER_FIELDS
from trimail.storage.api import (
    CachedFetch,
    CopyResult,
    MailboxChanges,
    MailboxExists,
    MailboxInfo,
    MessageFlags,
    MessageInfo,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
    StoreResult,
)
from trimail.storage.sqlite_account import Account, fsync_dir, link_or_copy
from trimail.storage.sqlite_schema import (
    MAX_UID,
    MESSAGE_COLUMNS,
    SEEN_BIT,
    SQL_BATCH,
    ModseqCounter,
    flag_set,
    gc_paused,
    insert_mailbox,
    mailbox_row,
    message_flags,
    message_infos,
    next_uidvalidity,
    select_by_uids,
    split_flags,
)

__all__ = [
    "STORE_MODES",
    "changes_since",
    "claim_recent",
    "copy_messages",
    "create_mailbox",
    "delete_mailbox",
    "expunge",
    "keywords",
    "last_modseq",
    "list_subscriptions",
    "message_uids",
    "messages",
    "read_expunged",
    "rename_mailbox",
    "set_subscribed",
    "store_flags",
]

STORE_MODES = ("replace", "add", "remove")
"""``store_flags`` modes: ``FLAGS``, ``+FLAGS``, ``-FLAGS`` (RFC 3501 §6.4.6)."""

_MOVED_COLUMNS = (
    "system_flags, keywords, internal_date, size, envelope, bodystructure, headers, sent_date,"
    " imap_envelope, imap_bodystructure, search_text"
)


def clean_uids(uids: Iterable[int]) -> list[int]:
    """The distinct valid UIDs (1 .. 2**32-1) of ``uids``, ascending."""
    return sorted({uid for uid in uids if 0 < uid <= MAX_UID})


def _chunks(uids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(uids), SQL_BATCH):
        yield uids[start : start + SQL_BATCH]


def _marks(chunk: Sequence[int]) -> str:
    return ",".join("?" * len(chunk))


def _existing_uids(conn: Any, box_id: int, wanted: Sequence[int]) -> list[int]:
    """The UIDs of ``wanted`` that name messages of the mailbox, ascending."""
    found = select_by_uids(
        conn, "SELECT uid FROM message WHERE mailbox_id = ? AND {uids}", box_id, wanted
    )
    return sorted(row[0] for row in found)


def _retire(
    conn: Any,
    counter: ModseqCounter | None,
    box_id: int,
    uids: Sequence[int],
    now: float,
) -> None:
    """Record existing messages as expunged: an ``expunged`` row each (last state and
    file, stamped ``now``) and, if ``counter`` is given, a tombstone with a new MODSEQ
    each, in UID order. The ``message`` rows are left for the caller to delete or move.
    """
    for chunk in _chunks(uids):
        conn.execute(
            f"INSERT INTO expunged (mailbox_id, {MESSAGE_COLUMNS}, file, expunged_at)"
            f" SELECT mailbox_id, {MESSAGE_COLUMNS}, file, ? FROM message"
            f" WHERE mailbox_id = ? AND uid IN ({_marks(chunk)})",
            (now, box_id, *chunk),
        )
    if counter is not None and uids:
        conn.executemany(
            "INSERT OR REPLACE INTO tombstone VALUES (?, ?, ?)",
            [(box_id, uid, counter.next()) for uid in uids],
        )


def _delete_rows(conn: Any, box_id: int, uids: Sequence[int]) -> None:
    for chunk in _chunks(uids):
        conn.execute(
            f"DELETE FROM message WHERE mailbox_id = ? AND uid IN ({_marks(chunk)})",
            (box_id, *chunk),
        )


def _touch_mailbox(conn: Any, box_id: int, modseq: int) -> None:
    """Raise the mailbox's HIGHESTMODSEQ to ``modseq`` (never lowers it)."""
    conn.execute(
        "UPDATE mailbox SET highestmodseq = max(highestmodseq, ?) WHERE id = ?", (modseq, box_id)
    )


def _note_keywords(conn: Any, box_id: int, keywords: Iterable[str]) -> list[str]:
    """Record keywords as used in the mailbox; return those not recorded before, sorted."""
    wanted = set(keywords)
    if not wanted:
        return []
    known = {
        row[0]
        for row in conn.execute("SELECT keyword FROM keyword WHERE mailbox_id = ?", (box_id,))
    }
    new = sorted(wanted - known)
    conn.executemany("INSERT INTO keyword VALUES (?, ?)", [(box_id, k) for k in new])
    return new


def _keywords_of(conn: Any, box_id: int, uid_from: int) -> set[str]:
    """Keywords set on messages of the mailbox with UID >= ``uid_from``."""
    found: set[str] = set()
    for (keywords_json,) in conn.execute(
        "SELECT keywords FROM message WHERE mailbox_id = ? AND uid >= ? AND keywords != '[]'",
        (box_id, uid_from),
    ):
        found.update(json.loads(keywords_json))
    return found


def _children_exist(conn: Any, name: str) -> bool:
    # '0' follows '/' in code point (and UTF-8 byte) order: [name/, name0) is the subtree.
    return (
        conn.execute(
            "SELECT 1 FROM mailbox WHERE name >= ? AND name < ? LIMIT 1", (name + "/", name + "0")
        ).fetchone()
        is not None
    )


def _move_rows(
    conn: Any,
    counter: ModseqCounter,
    src_id: int,
    dst: tuple[Any, ...],
    uids: Sequence[int],
    now: float,
) -> list[tuple[int, int]]:
    """Move existing messages (ascending UIDs) to the mailbox ``dst`` (a
    :func:`mailbox_row`): tombstones and expunged rows in the source, the rows
    themselves renumbered in place in the target, each change a new MODSEQ.

    Returns:
        ``(source uid, target uid)`` pairs in source UID order.

    Raises:
        StorageError: the target's UIDs would exceed 2**32-1.
    """
    dst_id, _, uidnext = dst[0], dst[1], dst[2]
    if not uids:
        return []
    if uidnext + len(uids) - 1 > MAX_UID:
        raise StorageError("UIDs exhausted in the target mailbox")
    _retire(conn, counter, src_id, uids, now)
    _touch_mailbox(conn, src_id, counter.value)
    pairs = [(old, uidnext + i) for i, old in enumerate(uids)]
    conn.executemany(
        "UPDATE message SET mailbox_id = ?, uid = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
        [(dst_id, new, counter.next(), src_id, old) for old, new in pairs],
    )
    _note_keywords(conn, dst_id, _keywords_of(conn, dst_id, uidnext))
    conn.execute(
        "UPDATE mailbox SET uidnext = ?, highestmodseq = max(highestmodseq, ?) WHERE id = ?",
        (uidnext + len(uids), counter.value, dst_id),
    )
    return pairs


# --- mailboxes ------------------------------------------------------------------------


def create_mailbox(acct: Account, name: str, special_use: str | None) -> MailboxInfo:
    """CREATE (RFC 3501 §6.3.3); see `MailStore.create_mailbox`.

    A ``noselect`` name (left as a parent by DELETE) becomes selectable again with a
    new UIDVALIDITY; its UIDNEXT stays, so no UID is ever reused in that row.
    """
    with acct.transaction() as conn:
        counter = ModseqCounter(conn)
        row = conn.execute("SELECT id, noselect FROM mailbox WHERE name = ?", (name,)).fetchone()
        if row is not None and not row[1]:
            raise MailboxExists(f"mailbox {name!r} exists")
        if row is None:
            uidvalidity = insert_mailbox(conn, counter, name, special_use)
        else:
            uidvalidity = next_uidvalidity(conn)
            conn.execute(
                "UPDATE mailbox SET noselect = 0, uidvalidity = ?, special_use = ?,"
                " highestmodseq = ?, recent_uid = uidnext - 1 WHERE id = ?",
                (uidvalidity, special_use, counter.next(), row[0]),
            )
            # The old incarnation's UIDs mean nothing under the new UIDVALIDITY.
            conn.execute("DELETE FROM tombstone WHERE mailbox_id = ?", (row[0],))
            conn.execute("UPDATE expunged SET mailbox_id = NULL WHERE mailbox_id = ?", (row[0],))
        counter.save(conn)
        subscribed = (
            conn.execute("SELECT 1 FROM subscription WHERE name = ?", (name,)).fetchone()
            is not None
        )
    acct.mailbox_names.add(name)
    return MailboxInfo(
        name=name, uidvalidity=uidvalidity, special_use=special_use, subscribed=subscribed
    )


def delete_mailbox(acct: Account, name: str, now: float) -> None:
    """DELETE (RFC 3501 §6.3.4); see `MailStore.delete_mailbox`. ``now``: store clock."""
    if name == "INBOX":
        raise ValueError("INBOX cannot be deleted")
    with acct.transaction() as conn:
        row = conn.execute("SELECT id, noselect FROM mailbox WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox {name!r}")
        box_id, noselect = row
        counter = ModseqCounter(conn)
        uids = [
            r[0]
            for r in conn.execute(
                "SELECT uid FROM message WHERE mailbox_id = ? ORDER BY uid", (box_id,)
            )
        ]
        if _children_exist(conn, name):
            if noselect:
                raise NoSuchMailbox(f"{name!r} is only a parent of other mailboxes")
            _retire(conn, counter, box_id, uids, now)
            _delete_rows(conn, box_id, uids)
            conn.execute("DELETE FROM keyword WHERE mailbox_id = ?", (box_id,))
            conn.execute(
                "UPDATE mailbox SET noselect = 1, special_use = NULL,"
                " highestmodseq = max(highestmodseq, ?) WHERE id = ?",
                (counter.next(), box_id),
            )
        else:
            _retire(conn, None, box_id, uids, now)
            # The files wait out the grace period; the rows no longer name a mailbox
            # (its id may be reused).
            conn.execute("UPDATE expunged SET mailbox_id = NULL WHERE mailbox_id = ?", (box_id,))
            conn.execute("DELETE FROM mailbox WHERE id = ?", (box_id,))  # cascades
            counter.next()  # the account changed (IDLE pollers of last_modseq)
        counter.save(conn)
    acct.mailbox_names.discard(name)


def rename_mailbox(acct: Account, old: str, new: str, now: float) -> None:
    """RENAME (RFC 3501 §6.3.5); see `MailStore.rename_mailbox`. ``now``: store clock."""
    with acct.transaction() as conn:
        row = conn.execute("SELECT id FROM mailbox WHERE name = ?", (old,)).fetchone()
        if row is None:
            raise NoSuchMailbox(f"no mailbox {old!r}")
        counter = ModseqCounter(conn)
        if old == "INBOX":
            if conn.execute("SELECT 1 FROM mailbox WHERE name = ?", (new,)).fetchone():
                raise MailboxExists(f"mailbox {new!r} exists")
            _create_parents(conn, counter, new)
            insert_mailbox(conn, counter, new, None)
            inbox = mailbox_row(conn, "INBOX")
            uids = [
                r[0]
                for r in conn.execute(
                    "SELECT uid FROM message WHERE mailbox_id = ? ORDER BY uid", (inbox[0],)
                )
            ]
            _move_rows(conn, counter, inbox[0], mailbox_row(conn, new), uids, now)
        else:
            if new == old or new.startswith(old + "/"):
                raise MailboxExists(f"cannot rename {old!r} into itself ({new!r})")
            family = conn.execute(
                "SELECT id, name FROM mailbox WHERE id = ? OR (name >= ? AND name < ?)",
                (row[0], old + "/", old + "0"),
            ).fetchall()
            moving = {box_id for box_id, _ in family}
            renames = [(box_id, name, new + name[len(old) :]) for box_id, name in family]
            for _, _, target in renames:
                hit = conn.execute("SELECT id FROM mailbox WHERE name = ?", (target,)).fetchone()
                if hit is not None and hit[0] not in moving:
                    raise MailboxExists(f"mailbox {target!r} exists")
            # Two steps, so a target that is another member's old name never collides;
            # names cannot hold NUL, so the interim ones are free.
            conn.executemany(
                "UPDATE mailbox SET name = ? WHERE id = ?",
                [(f"\0{box_id}", box_id) for box_id, _, _ in renames],
            )
            conn.executemany(
                "UPDATE mailbox SET name = ? WHERE id = ?",
                [(target, box_id) for box_id, _, target in renames],
            )
            subscribed = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM subscription WHERE name = ? OR (name >= ? AND name < ?)",
                    (old, old + "/", old + "0"),
                )
            }
            moved = [(name, target) for _, name, target in renames if name in subscribed]
            conn.executemany("DELETE FROM subscription WHERE name = ?", [(n,) for n, _ in moved])
            conn.executemany(
                "INSERT OR IGNORE INTO subscription VALUES (?)", [(t,) for _, t in moved]
            )
            _create_parents(conn, counter, new)
            counter.next()  # the account changed (IDLE pollers of last_modseq)
        counter.save(conn)
    acct.refresh_mailbox_names()


def _create_parents(conn: Any, counter: ModseqCounter, name: str) -> None:
    """Create the missing superior names of ``name`` as plain mailboxes."""
    levels = name.split("/")
    for depth in range(1, len(levels)):
        parent = "/".join(levels[:depth])
        if conn.execute("SELECT 1 FROM mailbox WHERE name = ?", (parent,)).fetchone() is None:
            insert_mailbox(conn, counter, parent, None)


def set_subscribed(acct: Account, name: str, subscribed: bool) -> None:
    """SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6-7); the name need not exist."""
    with acct.transaction() as conn:
        if subscribed:
            cur = conn.execute("INSERT OR IGNORE INTO subscription VALUES (?)", (name,))
        else:
            cur = conn.execute("DELETE FROM subscription WHERE name = ?", (name,))
        if cur.rowcount:
            counter = ModseqCounter(conn)
            counter.next()  # the account changed (IDLE pollers of last_modseq)
            counter.save(conn)


def list_subscriptions(acct: Account) -> list[str]:
    """Every subscribed name, sorted by code point."""
    with acct.db() as conn:
        return [r[0] for r in conn.execute("SELECT name FROM subscription ORDER BY name")]


# --- reading --------------------------------------------------------------------------


def message_uids(acct: Account, name: str) -> tuple[int, list[int]]:
    """``(highestmodseq, uids)`` from one snapshot; see `MailStore.message_uids`."""
    with acct.snapshot() as conn:
        box = mailbox_row(conn, name)
        # One JSON text instead of 100,000 row tuples: about twice as fast.
        (text,) = conn.execute(
            "SELECT json_group_array(uid) FROM message WHERE mailbox_id = ?", (box[0],)
        ).fetchone()
    uids: list[int] = json.loads(text)
    uids.sort()  # already ascending (the index order); sorting that is linear
    return int(box[3]), uids


def changes_since(acct: Account, name: str, since: int) -> MailboxChanges:
    """One snapshot of what changed above ``since``; see `MailStore.changes_since`."""
    with acct.snapshot() as conn:
        box_id, uidvalidity, uidnext, highestmodseq, _recent = mailbox_row(conn, name)
        changed: list[MessageFlags] = []
        expunged: list[int] = []
        # Every change raises HIGHESTMODSEQ, so at most that many rows changed.
        with gc_paused(highestmodseq - since):
            if since < highestmodseq:
                changed = [
                    message_flags(*row)
                    for row in conn.execute(
                        "SELECT uid, modseq, system_flags, keywords FROM message"
                        " WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                        (box_id, since),
                    )
                ]
                expunged = [
                    row[0]
                    for row in conn.execute(
                        "SELECT uid FROM tombstone WHERE mailbox_id = ? AND modseq > ?"
                        " ORDER BY uid",
                        (box_id, since),
                    )
                ]
    return MailboxChanges(
        uidvalidity=uidvalidity,
        uidnext=uidnext,
        highestmodseq=highestmodseq,
        changed=changed,
        expunged=expunged,
    )


def messages(
    acct: Account, name: str, uids: Iterable[int], *, include_expunged: bool, cutoff: float
) -> list[MessageInfo]:
    """Cached data of messages by UID; see `MailStore.messages`.

    Args:
        cutoff: expunged messages stamped before it are out of their grace period.
    """
    wanted = clean_uids(uids)
    with acct.snapshot() as conn, gc_paused(len(wanted)):
        box_id = mailbox_row(conn, name)[0]
        rows = list(
            select_by_uids(
                conn,
                f"SELECT {MESSAGE_COLUMNS} FROM message WHERE mailbox_id = ? AND {{uids}}",
                box_id,
                wanted,
            )
        )
        if include_expunged and len(rows) < len(wanted):
            found = {row[0] for row in rows}
            missing = [uid for uid in wanted if uid not in found]
            gone = {
                row[0]: row
                for row in select_by_uids(
                    conn,
                    f"SELECT {MESSAGE_COLUMNS} FROM expunged WHERE mailbox_id = ? AND {{uids}}"
                    " AND expunged_at >= ? ORDER BY expunged_at",
                    box_id,
                    missing,
                    (cutoff,),
                )
            }
            rows.extend(gone.values())
    rows.sort(key=itemgetter(0))
    return message_infos(rows)


_CACHED_COLUMNS = (
    "uid, modseq, system_flags, keywords, internal_date, size,"
    " coalesce(imap_envelope, envelope), coalesce(imap_bodystructure, bodystructure),"
    " imap_envelope IS NULL, imap_bodystructure IS NULL"
)


_EMPTY_ENVELOPE = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
_EMPTY_BODYSTRUCTURE = b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)'


def _render_cached(env: Any, body: Any, env_json: bool, body_json: bool) -> tuple[bytes, bytes]:
    """IMAP syntax for a row stored before schema 3 (its JSON columns; a malformed cache
    gives empty forms rather than failing the whole FETCH)."""
    try:
        if env_json:
            env = render_envelope(json.loads(env), utf8=False)
        if body_json:
            body = render_bodystructure(json.loads(body), extensible=True, utf8=False)
    except ValueError:
        env = _EMPTY_ENVELOPE if env_json else env
        body = _EMPTY_BODYSTRUCTURE if body_json else body
    return env, body


def fetch_cached(
    acct: Account, name: str, uids: Iterable[int], *, include_expunged: bool, cutoff: float
) -> list[CachedFetch]:
    """FETCH-ready cached items; see `MailStore.fetch_cached`.

    Rows stored before schema version 3 hold no IMAP syntax; theirs is rendered from
    the JSON columns here.
    """
    wanted = clean_uids(uids)
    with acct.snapshot() as conn, gc_paused(len(wanted)):
        box_id = mailbox_row(conn, name)[0]
        rows = list(
            select_by_uids(
                conn,
                f"SELECT {_CACHED_COLUMNS} FROM message WHERE mailbox_id = ? AND {{uids}}",
                box_id,
                wanted,
            )
        )
        if include_expunged and len(rows) < len(wanted):
            found = {row[0] for row in rows}
            missing = [uid for uid in wanted if uid not in found]
            gone = {
                row[0]: row
                for row in select_by_uids(
                    conn,
                    f"SELECT {_CACHED_COLUMNS} FROM expunged WHERE mailbox_id = ? AND {{uids}}"
                    " AND expunged_at >= ? ORDER BY expunged_at",
                    box_id,
                    missing,
                    (cutoff,),
                )
            }
            rows.extend(gone.values())
        rows.sort(key=itemgetter(0))
        fromiso = _dt.datetime.fromisoformat
        out = []
        for uid, modseq, bits, kws, internal, size, env, body, env_json, body_json in rows:
            if env_json or body_json:
                env, body = _render_cached(env, body, env_json, body_json)
            out.append(
                CachedFetch(
                    uid=uid,
                    modseq=modseq,
                    flags=flag_set(bits, kws),
                    internal_date=fromiso(internal),
                    size=size,
                    envelope=env,
                    bodystructure=body,
                )
            )
        return out


def first_unseen(acct: Account, name: str) -> int | None:
    """The lowest UID without \\Seen (the partial index ``message_unseen`` answers)."""
    with acct.snapshot() as conn:
        box_id = mailbox_row(conn, name)[0]
        row = conn.execute(
            f"SELECT min(uid) FROM message WHERE mailbox_id = ? AND system_flags & {SEEN_BIT} = 0",
            (box_id,),
        ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def header_candidates(acct: Account, name: str, field: str, text: str) -> list[int] | None:
    """SEARCH prefilter on ``search_text``; see `MailStore.header_candidates`.

    ``search_text`` holds, per field, every string SEARCH compares against, decoded and
    folded (:func:`trimail.mail.search.searchable_fields`), so ``instr`` of the folded
    text finds a superset of the exact matches. Rows from before schema 3 (NULL) are
    always candidates.
    """
    if not text or field not in SUMMARY_HEADER_FIELDS:
        return None
    with acct.snapshot() as conn:
        box_id = mailbox_row(conn, name)[0]
        rows = conn.execute(
            "SELECT uid FROM message WHERE mailbox_id = ? AND CASE WHEN search_text IS NULL"
            " THEN 1 ELSE instr(json_extract(search_text, ?), ?) > 0 END ORDER BY uid",
            (box_id, "$." + json.dumps(field), fold_case(text)),
        ).fetchall()
    return [row[0] for row in rows]


def read_expunged(acct: Account, name: str, uid: int, cutoff: float) -> bytes:
    """A message's octets, also within its grace period; see `MailStore.read_expunged`."""
    with acct.snapshot() as conn:
        box_id = mailbox_row(conn, name)[0]
        live = conn.execute(
            "SELECT file FROM message WHERE mailbox_id = ? AND uid = ?", (box_id, uid)
        ).fetchone()
        gone = None
        if live is None:
            gone = conn.execute(
                "SELECT file FROM expunged WHERE mailbox_id = ? AND uid = ? AND expunged_at >= ?"
                " ORDER BY expunged_at DESC LIMIT 1",
                (box_id, uid, cutoff),
            ).fetchone()
    row = live or gone
    if row is None:
        raise NoSuchMessage(f"no UID {uid} in {name!r}")
    try:
        return (acct.messages_dir / str(row[0])).read_bytes()
    except FileNotFoundError as exc:
        if live is None:  # swept meanwhile by another process: its time was up
            raise NoSuchMessage(f"UID {uid} of {name!r} is gone") from exc
        raise StorageError(f"cannot read UID {uid} of {name!r}: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"cannot read UID {uid} of {name!r}: {exc}") from exc


def keywords(acct: Account, name: str) -> list[str]:
    """Keywords ever used in the mailbox, sorted; see `MailStore.keywords`."""
    with acct.snapshot() as conn:
        box_id = mailbox_row(conn, name)[0]
        return [
            r[0]
            for r in conn.execute(
                "SELECT keyword FROM keyword WHERE mailbox_id = ? ORDER BY keyword", (box_id,)
            )
        ]


def last_modseq(acct: Account) -> int:
    """The account's MODSEQ counter (one read of a one-row table)."""
    with acct.db() as conn:
        return int(conn.execute("SELECT last_modseq FROM account").fetchone()[0])


# --- writing --------------------------------------------------------------------------


def expunge(acct: Account, name: str, uids: Iterable[int], now: float) -> list[int]:
    """EXPUNGE / POP3 QUIT; see `MailStore.expunge`. ``now``: store clock."""
    wanted = clean_uids(uids)
    with acct.transaction() as conn:
        box_id = mailbox_row(conn, name)[0]
        removed = _existing_uids(conn, box_id, wanted)
        if removed:
            counter = ModseqCounter(conn)
            _retire(conn, counter, box_id, removed, now)
            _delete_rows(conn, box_id, removed)
            _touch_mailbox(conn, box_id, counter.value)
            counter.save(conn)
    return removed


def store_flags(
    acct: Account,
    name: str,
    uids: Iterable[int],
    mode: str,
    flags: Iterable[str],
    unchanged_since: int | None,
) -> StoreResult:
    """STORE in one read-modify-write transaction; see `MailStore.store_flags`."""
    if mode not in STORE_MODES:
        raise ValueError(f"store mode must be one of {STORE_MODES}, not {mode!r}")
    bits, kw_list = split_flags(flags)
    kws = frozenset(kw_list)
    wanted = clean_uids(uids)
    changed: list[MessageFlags] = []
    unchanged: list[MessageFlags] = []
    failed: list[int] = []
    new_keywords: list[str] = []
    with acct.transaction() as conn, gc_paused(len(wanted)):
        box_id = mailbox_row(conn, name)[0]
        rows = sorted(
            select_by_uids(
                conn,
                "SELECT uid, modseq, system_flags, keywords FROM message"
                " WHERE mailbox_id = ? AND {uids}",
                box_id,
                wanted,
            )
        )
        counter = ModseqCounter(conn)
        updates: list[tuple[int, str, int, int, int]] = []
        unseen_delta = 0  # mailbox.unseen_count; insert/delete/move triggers do the rest
        for uid, modseq, old_bits, old_json in rows:
            if unchanged_since is not None and modseq > unchanged_since:
                failed.append(uid)  # RFC 7162 §3.1.3
                continue
            old_kws = frozenset(json.loads(old_json)) if old_json != "[]" else frozenset()
            if mode == "replace":
                new_bits, new_kws = bits, kws
            elif mode == "add":
                new_bits, new_kws = old_bits | bits, old_kws | kws
            else:
                new_bits, new_kws = old_bits & ~bits, old_kws - kws
            if new_bits == old_bits and new_kws == old_kws:
                unchanged.append(message_flags(uid, modseq, old_bits, old_json))
                continue
            new_json = json.dumps(sorted(new_kws)) if new_kws else "[]"
            unseen_delta += (old_bits & SEEN_BIT) - (new_bits & SEEN_BIT)
            new_modseq = counter.next()
            updates.append((new_bits, new_json, new_modseq, box_id, uid))
            changed.append(message_flags(uid, new_modseq, new_bits, new_json))
        if updates:
            conn.executemany(
                "UPDATE message SET system_flags = ?, keywords = ?, modseq = ?"
                " WHERE mailbox_id = ? AND uid = ?",
                updates,
            )
            if mode != "remove":
                new_keywords = _note_keywords(conn, box_id, kws)
            if unseen_delta:
                conn.execute(
                    "UPDATE mailbox SET unseen_count = unseen_count + ? WHERE id = ?",
                    (unseen_delta // SEEN_BIT, box_id),
                )
            _touch_mailbox(conn, box_id, counter.value)
            counter.save(conn)
    return StoreResult(
        changed=changed, unchanged=unchanged, failed=failed, new_keywords=new_keywords
    )


def claim_recent(acct: Account, name: str) -> int:
    """Move the \\Recent mark to UIDNEXT - 1, atomically; return the old mark."""
    with acct.transaction() as conn:
        box_id, _, uidnext, _, old = mailbox_row(conn, name)
        if uidnext - 1 > old:
            conn.execute("UPDATE mailbox SET recent_uid = ? WHERE id = ?", (uidnext - 1, box_id))
    return int(old)


def copy_messages(
    acct: Account, name: str, uids: Iterable[int], target: str, *, move: bool, now: float
) -> CopyResult:
    """COPY / MOVE; see `MailStore.copy_messages`. ``now``: store clock.

    MOVE renumbers the rows in place (no file I/O). COPY gives each copy its own file,
    a hard link made before the transaction (:func:`link_or_copy`), then fsyncs the
    directory, then inserts the rows, reading the sources' flags inside the
    transaction; links of sources expunged meanwhile, or of a failed commit, are
    removed.
    """
    wanted = clean_uids(uids)
    if move:
        with acct.transaction() as conn:
            src_id = mailbox_row(conn, name)[0]
            dst = mailbox_row(conn, target)
            counter = ModseqCounter(conn)
            moved = _move_rows(
                conn, counter, src_id, dst, _existing_uids(conn, src_id, wanted), now
            )
            counter.save(conn)
        return CopyResult(uidvalidity=dst[1], pairs=moved)

    with acct.snapshot() as conn:
        src_id = mailbox_row(conn, name)[0]
        mailbox_row(conn, target)  # fail early: NO [TRYCREATE]
        sources = sorted(
            select_by_uids(
                conn,
                "SELECT uid, file FROM message WHERE mailbox_id = ? AND {uids}",
                src_id,
                wanted,
            )
        )
    links: list[tuple[int, str]] = []
    unused: list[str] = []
    committed = False
    try:
        for uid, file_name in sources:
            new_name = uuid.uuid4().hex
            try:
                link_or_copy(acct.messages_dir / file_name, acct.messages_dir / new_name)
            except FileNotFoundError:
                continue  # expunged and swept meanwhile
            links.append((uid, new_name))
        if links:
            fsync_dir(acct.messages_dir)
        with acct.transaction() as conn:
            src_id = mailbox_row(conn, name)[0]
            dst_id, uidvalidity, uidnext, _, _ = mailbox_row(conn, target)
            if uidnext + len(links) - 1 > MAX_UID:
                raise StorageError(f"UIDs exhausted in {target!r}")
            counter = ModseqCounter(conn)
            pairs: list[tuple[int, int]] = []
            first_uid = uid = uidnext
            for src_uid, new_name in links:
                cur = conn.execute(
                    f"INSERT INTO message (mailbox_id, uid, modseq, {_MOVED_COLUMNS}, file)"
                    f" SELECT ?, ?, ?, {_MOVED_COLUMNS}, ? FROM message"
                    " WHERE mailbox_id = ? AND uid = ?",
                    (dst_id, uid, counter.next(), new_name, src_id, src_uid),
                )
                if cur.rowcount:
                    pairs.append((src_uid, uid))
                    uid += 1
                else:
                    counter.value -= 1  # not used: no gap for a copy that did not happen
                    unused.append(new_name)  # expunged since the snapshot
            if pairs:
                _note_keywords(conn, dst_id, _keywords_of(conn, dst_id, first_uid))
                conn.execute(
                    "UPDATE mailbox SET uidnext = ?, highestmodseq = max(highestmodseq, ?)"
                    " WHERE id = ?",
                    (uid, counter.value, dst_id),
                )
                counter.save(conn)
        committed = True
    except OSError as exc:
        raise StorageError(f"cannot copy messages: {exc}") from exc
    finally:
        acct.unlink_files(unused if committed else [n for _, n in links])
    return CopyResult(uidvalidity=uidvalidity, pairs=pairs)
