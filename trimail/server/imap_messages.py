"""IMAP commands on messages of the selected mailbox: FETCH, STORE, SEARCH, COPY, MOVE,
EXPUNGE and UID EXPUNGE (RFC 3501 §6.4, RFC 4315, RFC 6851, RFC 7162, RFC 4731).

Sequence-number forms of FETCH, STORE, SEARCH, COPY and MOVE never report expunges by
others (RFC 3501 §7.4.1); their UID forms and EXPUNGE do, before the tagged OK.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from trimail.imap import _commands as C
from trimail.imap._seqset import SequenceSet
from trimail.server import imap_fetch, imap_search
from trimail.server.imap_errors import CommandFailed
from trimail.server.imap_mailboxes import mailbox_arg
from trimail.storage.api import (
    MessageFlags,
    MessageInfo,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
)

if TYPE_CHECKING:
    from trimail.server.imap_session import ImapSession
    from trimail.server.imap_view import MailboxView

CHUNK = 1000  # messages per store read for cached items
CACHED_CHUNK = 5000  # messages per fetch_cached read (bytes only, no JSON)
OCTET_CHUNK = 50  # messages per store read when their files are read too


def _view(session: ImapSession) -> MailboxView:
    view = session.view
    assert view is not None, "the engine only passes these commands in SELECTED state"
    return view


def resolve(session: ImapSession, seqset: SequenceSet, *, uid: bool) -> list[tuple[int, int]]:
    """``(seq, uid)`` pairs named by a sequence set, ascending.

    UID sets ignore missing UIDs (RFC 3501 §6.4.8); ``n:*`` includes the highest UID.
    Sequence numbers above the message count, or ``*`` in an empty mailbox, are an
    error (RFC 3501 §9).

    Raises:
        CommandFailed: BAD for an invalid sequence number.
    """
    view = _view(session)
    uids = view.uids
    if seqset.saved:
        saved = set(session.saved_search)
        return [(i + 1, u) for i, u in enumerate(uids) if u in saved]
    if uid:
        pairs: list[tuple[int, int]] = []
        for low, high in seqset.resolve(uids[-1] if uids else 0):
            start = bisect.bisect_left(uids, low)
            stop = bisect.bisect_right(uids, high)
            pairs.extend((i + 1, uids[i]) for i in range(start, stop))
        return pairs
    if not uids:
        raise CommandFailed("BAD", "No messages in the mailbox")
    try:
        return view.seqs_in(seqset.resolve(len(uids)))
    except ValueError as exc:
        raise CommandFailed("BAD", f"Invalid message sequence number: {exc}") from None


# --- FETCH (RFC 3501 §6.4.5, RFC 7162 §3.1.4, §3.2.6) ----------------------------------


async def fetch(session: ImapSession, tag: str, command: C.Fetch) -> bytes:
    """FETCH / UID FETCH: cached items from the index, sections from the file."""
    view = _view(session)
    pairs = resolve(session, command.sequence_set, uid=command.uid)
    attributes = list(command.attributes)
    if command.changed_since is not None or any(a.name == "MODSEQ" for a in attributes):
        session.conn.enable(["CONDSTORE"])
    if command.vanished and (
        not command.uid or command.changed_since is None or not session.qresync
    ):
        raise CommandFailed("BAD", "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC")
    if command.uid and not any(a.name == "UID" for a in attributes):
        attributes.insert(0, C.FetchAttribute(name="UID"))
    if session.condstore and not any(a.name == "MODSEQ" for a in attributes):
        attributes.append(C.FetchAttribute(name="MODSEQ"))
    mark_seen = imap_fetch.sets_seen(attributes) and not view.read_only
    if mark_seen and not any(a.name == "FLAGS" for a in attributes):
        attributes.append(C.FetchAttribute(name="FLAGS"))
    octets = imap_fetch.needs_octets(attributes)
    if command.vanished:
        await _vanished_earlier(session, command)
    store, account, name = session.store, session.account, view.name
    names = list(dict.fromkeys(a.name for a in attributes))
    if not mark_seen and all(
        a.name in imap_fetch.CACHED_ITEMS and a.section is None for a in attributes
    ):
        issued = await _fetch_cached(session, pairs, names, command.changed_since)
        await session.sync(expunge_ok=command.uid)
        if issued:
            return session.ok(tag, "Some messages were expunged", "EXPUNGEISSUED")
        return session.ok(tag, "FETCH completed")
    issued = False
    chunk_size = OCTET_CHUNK if octets else CHUNK
    for start in range(0, len(pairs), chunk_size):
        chunk = pairs[start : start + chunk_size]

        def load(
            chunk: list[tuple[int, int]] = chunk,
        ) -> tuple[list[MessageInfo], dict[int, bytes]]:
            infos = store.messages(account, name, [u for _s, u in chunk], include_expunged=True)
            if command.changed_since is not None:
                infos = [i for i in infos if i.modseq > command.changed_since]
            if mark_seen:
                unseen = [i.uid for i in infos if "\\Seen" not in i.flags]
                if unseen:
                    result = store.store_flags(account, name, unseen, "add", ["\\Seen"])
                    if result.changed:
                        fresh = {c.uid: c for c in result.changed}
                        infos = [
                            i if i.uid not in fresh else _with_flags(i, fresh[i.uid]) for i in infos
                        ]
            raws: dict[int, bytes] = {}
            if octets:
                for info in infos:
                    try:
                        raws[info.uid] = store.read_expunged(account, name, info.uid)
                    except NoSuchMessage:
                        continue
            return infos, raws

        infos, raws = await session.thread(load)
        by_uid = {i.uid: i for i in infos}
        if mark_seen:
            for loaded in infos:
                view.reported[loaded.uid] = loaded.modseq
            session.ctx.notifier.changed(account)
        for seq, uid in chunk:
            found = by_uid.get(uid)
            if found is None or (octets and uid not in raws):
                if command.changed_since is None or uid in view.pending_expunges:
                    issued = issued or found is None or uid in view.pending_expunges
                continue
            try:
                line = imap_fetch.render_fetch(
                    seq,
                    found,
                    attributes,
                    raw=raws.get(uid),
                    flags=session.render_flags(uid, found.flags),
                    utf8=session.utf8,
                )
            except imap_fetch.FetchFailed:
                raise CommandFailed(
                    "NO", "Unknown Content-Transfer-Encoding", "UNKNOWN-CTE"
                ) from None
            session.emit(line)
        await session.maybe_flush()
    await session.sync(expunge_ok=command.uid)
    if issued:
        return session.ok(tag, "Some messages were expunged", "EXPUNGEISSUED")
    return session.ok(tag, "FETCH completed")


async def _fetch_cached(
    session: ImapSession,
    pairs: list[tuple[int, int]],
    names: list[str],
    changed_since: int | None,
) -> bool:
    """FETCH of cached items only, straight from `MailStore.fetch_cached` bytes.

    Returns:
        True if some messages could not be fetched (expunged for good).
    """
    view = _view(session)
    store, account, name = session.store, session.account, view.name
    issued = False
    for start in range(0, len(pairs), CACHED_CHUNK):
        chunk = pairs[start : start + CACHED_CHUNK]
        items = await session.thread(
            lambda chunk=chunk: store.fetch_cached(
                account, name, [u for _s, u in chunk], include_expunged=True
            )
        )
        by_uid = {i.uid: i for i in items}
        lines = []
        for seq, uid in chunk:
            item = by_uid.get(uid)
            if item is None:
                issued = True
                continue
            if changed_since is not None and item.modseq <= changed_since:
                continue
            flags = session.render_flags(uid, item.flags)
            lines.append(imap_fetch.render_cached(seq, item, names, flags=flags))
        session.emit(b"".join(lines))
        await session.maybe_flush()
    return issued


def _with_flags(info: MessageInfo, change: MessageFlags) -> MessageInfo:
    return attrs.evolve(info, flags=change.flags, modseq=change.modseq)


async def _vanished_earlier(session: ImapSession, command: C.Fetch) -> None:
    """``* VANISHED (EARLIER)`` for UID FETCH (CHANGEDSINCE m VANISHED) (RFC 7162 §3.2.6)."""
    view = _view(session)
    assert command.changed_since is not None
    changes = await session.thread(
        session.store.changes_since, session.account, view.name, command.changed_since
    )
    # "*" reaches up to UIDNEXT-1 here: expunged UIDs above the view's top still count
    ranges = command.sequence_set.resolve(max(changes.uidnext - 1, 1))
    gone = [u for u in changes.expunged if any(a <= u <= b for a, b in ranges)]
    if gone:
        session.emit(b"* VANISHED (EARLIER) %s\r\n" % str(SequenceSet.from_values(gone)).encode())


async def qresync_select(session: ImapSession, params: C.QresyncParams) -> None:
    """The QRESYNC part of SELECT (RFC 7162 §3.2.5): VANISHED (EARLIER) and FETCHes."""
    view = _view(session)
    if params.uidvalidity != view.uidvalidity:
        return
    changes = await session.thread(
        session.store.changes_since, session.account, view.name, params.modseq
    )
    gone = changes.expunged
    if params.known_uids is not None:
        known = params.known_uids.resolve(max(changes.uidnext - 1, 1))
        gone = [u for u in gone if any(a <= u <= b for a, b in known)]
    if gone:
        session.emit(b"* VANISHED (EARLIER) %s\r\n" % str(SequenceSet.from_values(gone)).encode())
    for item in changes.changed:
        seq = view.seq_of(item.uid)
        if seq is not None:
            session.emit(
                b"* %d FETCH (UID %d FLAGS %s MODSEQ (%d))\r\n"
                % (seq, item.uid, session.render_flags(item.uid, item.flags), item.modseq)
            )


# --- STORE (RFC 3501 §6.4.6, RFC 7162 §3.1.3) ------------------------------------------


async def store(session: ImapSession, tag: str, command: C.Store) -> bytes:
    """STORE / UID STORE in one transaction; FETCH responses unless .SILENT."""
    view = _view(session)
    if view.read_only:
        raise CommandFailed("NO", "Mailbox is read-only", "READ-ONLY")
    pairs = resolve(session, command.sequence_set, uid=command.uid)
    if command.unchanged_since is not None:
        session.conn.enable(["CONDSTORE"])
    flags = [f for f in command.flags if f.lower() != "\\recent"]
    store_, account = session.store, session.account
    try:
        result = await session.thread(
            lambda: store_.store_flags(
                account,
                view.name,
                [u for _s, u in pairs],
                command.mode,
                flags,
                unchanged_since=command.unchanged_since,
            )
        )
    except ValueError as exc:
        raise CommandFailed("BAD", f"Invalid flag: {exc}") from None
    if result.changed:
        session.ctx.notifier.changed(account)
    if result.new_keywords:
        view.keywords.update(result.new_keywords)
        session.emit(session.flags_responses())
    shown = sorted(
        [*result.changed, *([] if command.silent else result.unchanged)], key=lambda m: m.uid
    )
    changed_uids = {m.uid for m in result.changed}
    for item in shown:
        seq = view.seq_of(item.uid)
        if seq is None:
            continue
        if item.uid in changed_uids:
            view.reported[item.uid] = item.modseq
        parts = []
        if command.uid or session.condstore:
            parts.append(b"UID %d" % item.uid)
        if not command.silent:
            parts.append(b"FLAGS " + session.render_flags(item.uid, item.flags))
        elif item.uid not in changed_uids or not session.condstore:
            continue
        if session.condstore:
            parts.append(b"MODSEQ (%d)" % item.modseq)
        session.emit(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts)))
    await session.sync(expunge_ok=command.uid)
    if result.failed:
        if command.uid:
            failed = result.failed
        else:
            failed = [s for s in (view.seq_of(u) for u in result.failed) if s is not None]
        code = f"MODIFIED {SequenceSet.from_values(failed)}"
        return session.ok(tag, "Conditional STORE failed for some messages", code)
    return session.ok(tag, "STORE completed")


# --- SEARCH (RFC 3501 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182) --------------------


async def search(session: ImapSession, tag: str, command: C.Search) -> bytes:
    """SEARCH / UID SEARCH; ESEARCH answers for RETURN (...) and IMAP4rev2."""
    view = _view(session)
    program = command.program
    if _uses_modseq(program):
        session.conn.enable(["CONDSTORE"])
    ctx = imap_search.SearchContext(
        exists=view.exists,
        largest_uid=view.uids[-1] if view.uids else 0,
        recent=set(view.recent),
        saved=set(session.saved_search),
    )
    store, account, name = session.store, session.account, view.name
    uids = list(view.uids)

    narrowing = imap_search.prefilters(program)

    def run() -> list[tuple[int, int, int]]:
        found: list[tuple[int, int, int]] = []  # (seq, uid, modseq)
        candidates = uids
        for field, text in narrowing:  # cheap superset first (MailStore.header_candidates)
            narrowed = store.header_candidates(account, name, field, text)
            if narrowed is not None:
                keep = set(narrowed)
                candidates = [uid for uid in candidates if uid in keep]
        for start in range(0, len(candidates), CHUNK):
            chunk = candidates[start : start + CHUNK]
            for info in store.messages(account, name, chunk, include_expunged=True):
                cache: list[bytes] = []

                def load(info: MessageInfo = info, cache: list[bytes] = cache) -> bytes:
                    if not cache:  # one file read per message, and only if needed
                        try:
                            cache.append(store.read_expunged(account, name, info.uid))
                        except (NoSuchMessage, StorageError):
                            cache.append(b"")
                    return cache[0]

                seq = bisect.bisect_left(uids, info.uid) + 1
                if imap_search.matches(program, seq, info, load, ctx):
                    found.append((seq, info.uid, info.modseq))
        return found

    try:
        found = await session.thread(run)
    except ValueError as exc:
        raise CommandFailed("BAD", str(exc)) from None
    if command.return_options is not None and "SAVE" in command.return_options:
        session.saved_search = [u for _s, u, _m in found]
    numbers = [u if command.uid else s for s, u, _m in found]
    highest = max((m for _s, _u, m in found), default=0)
    esearch = command.return_options is not None or session.rev2
    if esearch:
        options = command.return_options or ("ALL",)  # RETURN () means ALL (RFC 4731)
        if options != ("SAVE",):  # SAVE alone returns nothing (RFC 5182 §2.1)
            session.emit(
                _esearch(tag, command.uid, numbers, options, highest, _uses_modseq(program))
            )
    else:
        line = b"* SEARCH" + b"".join(b" %d" % n for n in numbers)
        if _uses_modseq(program) and numbers:
            line += b" (MODSEQ %d)" % highest
        session.emit(line + b"\r\n")
    await session.sync(expunge_ok=command.uid)
    return session.ok(tag, "SEARCH completed")


def _uses_modseq(key: C.SearchKey) -> bool:
    return key.op == "MODSEQ" or any(
        isinstance(a, C.SearchKey) and _uses_modseq(a) for a in key.args
    )


def _esearch(
    tag: str, uid: bool, numbers: list[int], options: tuple[str, ...], highest: int, modseq: bool
) -> bytes:
    """``* ESEARCH (TAG "t") [UID] MIN .. MAX .. COUNT .. ALL ..`` (RFC 4731 §3.1)."""
    quoted_tag = tag.replace("\\", "\\\\").replace('"', '\\"')
    parts = [f'(TAG "{quoted_tag}")']
    if uid:
        parts.append("UID")
    if numbers:
        if "MIN" in options:
            parts.append(f"MIN {min(numbers)}")
        if "MAX" in options:
            parts.append(f"MAX {max(numbers)}")
    if "COUNT" in options:
        parts.append(f"COUNT {len(numbers)}")
    if numbers and "ALL" in options:
        parts.append(f"ALL {SequenceSet.from_values(numbers)}")
    if modseq and numbers:
        parts.append(f"MODSEQ {highest}")
    return ("* ESEARCH " + " ".join(parts) + "\r\n").encode()


# --- COPY / MOVE (RFC 3501 §6.4.7, RFC 4315 COPYUID, RFC 6851) -------------------------


async def copy(session: ImapSession, tag: str, command: C.Copy | C.Move) -> bytes:
    """COPY / MOVE and their UID forms; COPYUID in the response."""
    view = _view(session)
    move = isinstance(command, C.Move)
    if move and view.read_only:
        raise CommandFailed("NO", "Mailbox is read-only", "READ-ONLY")
    pairs = resolve(session, command.sequence_set, uid=command.uid)
    target = mailbox_arg(command.mailbox)
    verb = "MOVE" if move else "COPY"
    if not pairs:
        await session.sync(expunge_ok=command.uid)
        return session.ok(tag, f"{verb} completed (no messages)")
    try:
        result = await session.thread(
            lambda: session.store.copy_messages(
                session.account, view.name, [u for _s, u in pairs], target, move=move
            )
        )
    except NoSuchMailbox:
        raise CommandFailed("NO", "No such target mailbox", "TRYCREATE") from None
    session.ctx.notifier.changed(session.account)
    if not result.pairs:  # every message was expunged meanwhile (RFC 5530)
        await session.sync(expunge_ok=command.uid)
        raise CommandFailed("NO", "The messages were expunged", "EXPUNGEISSUED")
    src = SequenceSet.from_values(s for s, _d in result.pairs)
    dst = SequenceSet.from_values(d for _s, d in result.pairs)
    code = f"COPYUID {result.uidvalidity} {src} {dst}"
    if not move:
        await session.sync(expunge_ok=command.uid)
        return session.ok(tag, "COPY completed", code)
    session.emit(b"* OK [%s] Moved\r\n" % code.encode())
    moved = {s for s, _d in result.pairs}
    _report_own_expunges(session, moved)
    await session.sync(expunge_ok=command.uid)
    return session.ok(tag, "MOVE completed")


def _report_own_expunges(session: ImapSession, uids: set[int]) -> None:
    """Take ``uids`` out of the view now and tell the client (EXPUNGE or VANISHED)."""
    view = _view(session)
    if not uids:
        return
    seqs = sorted((i + 1 for i, u in enumerate(view.uids) if u in uids), reverse=True)
    view.uids = [u for u in view.uids if u not in uids]
    view.recent -= uids
    view.pending_expunges -= uids
    if session.qresync:
        session.emit(b"* VANISHED %s\r\n" % str(SequenceSet.from_values(uids)).encode())
    else:
        session.emit(b"".join(b"* %d EXPUNGE\r\n" % s for s in seqs))


# --- EXPUNGE (RFC 3501 §6.4.3, UID EXPUNGE RFC 4315 §2.1) ------------------------------


async def expunge_deleted(session: ImapSession, only: SequenceSet | None, *, report: bool) -> None:
    """Expunge the view's ``\\Deleted`` messages (within ``only`` UIDs if given)."""
    view = _view(session)
    store, account, name = session.store, session.account, view.name
    in_view = set(view.uids)
    allowed: set[int] | None = None
    if only is not None:
        largest = view.uids[-1] if view.uids else 0
        allowed = {u for _s, u in resolve(session, only, uid=True)} if largest else set()

    def run() -> list[int]:
        flags = store.changes_since(account, name, 0).changed
        doomed = [
            m.uid
            for m in flags
            if "\\Deleted" in m.flags and m.uid in in_view and (allowed is None or m.uid in allowed)
        ]
        return store.expunge(account, name, doomed) if doomed else []

    removed = await session.thread(run)
    if removed:
        session.ctx.notifier.changed(account)
    if report:
        await session.sync(expunge_ok=True)


async def expunge(session: ImapSession, tag: str, command: C.Expunge) -> bytes:
    """EXPUNGE / UID EXPUNGE: each removal reported before the OK."""
    view = _view(session)
    if view.read_only:
        raise CommandFailed("NO", "Mailbox is read-only", "READ-ONLY")
    await expunge_deleted(session, command.uids, report=True)
    if session.qresync:
        return session.ok(tag, "EXPUNGE completed", f"HIGHESTMODSEQ {view.synced_modseq}")
    return session.ok(tag, "EXPUNGE completed")


HANDLERS: dict[type[C.Command], Callable[..., Any]] = {
    C.Fetch: fetch,
    C.Store: store,
    C.Search: search,
    C.Copy: copy,
    C.Move: copy,
    C.Expunge: expunge,
}
