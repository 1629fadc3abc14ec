"""IMAP commands on mailboxes: LIST, LSUB, STATUS, CREATE, DELETE, RENAME, SUBSCRIBE,
UNSUBSCRIBE and APPEND (RFC 3501 §6.3, RFC 5258, RFC 5819, RFC 6154, RFC 4315).

Handlers take the session, the tag and the parsed command, and return the tagged
completion bytes (untagged data goes through ``session.emit``); a failure raises
`CommandFailed`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trimail.imap import LiteralRequest
from trimail.imap import _commands as C
from trimail.imap._seqset import SequenceSet
from trimail.server.imap_errors import CommandFailed
from trimail.storage.api import (
    InvalidMailboxName,
    MailboxExists,
    MailboxInfo,
    MailboxStatus,
    NoSuchMailbox,
)
from trimail.storage.sqlite_store import normalize_mailbox_name

if TYPE_CHECKING:
    from trimail.server.imap_session import ImapSession

DELIMITER = "/"
STATUS_ITEMS = (
    "MESSAGES",
    "RECENT",
    "UIDNEXT",
    "UIDVALIDITY",
    "UNSEEN",
    "SIZE",
    "DELETED",
    "HIGHESTMODSEQ",
    "APPENDLIMIT",
)
SPECIAL_USES = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")


def mailbox_arg(raw: str) -> str:
    """Normalize a client's mailbox name (INBOX case-insensitive, RFC 3501 §5.1).

    Raises:
        CommandFailed: NO for an invalid name.
    """
    try:
        return normalize_mailbox_name(raw)
    except InvalidMailboxName:
        raise CommandFailed("NO", "Invalid mailbox name", "CANNOT") from None


# --- LIST / LSUB (RFC 3501 §6.3.8-9, RFC 5258) -----------------------------------------


def _compile(full: str) -> re.Pattern[str]:
    parts = []
    for ch in full:
        if ch == "*":
            parts.append(".*")
        elif ch == "%":
            parts.append("[^/]*")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)


def pattern_matcher(reference: str, pattern: str) -> Callable[[str], bool]:
    """A test for names matching a LIST reference + pattern: ``*`` any, ``%`` any but
    ``/`` (RFC 3501 §6.3.8).

    INBOX is case-insensitive (RFC 3501 §5.1): a name under INBOX also matches when the
    pattern's first level matches ``inbox`` case-insensitively (``Inbox*``, ``InB%``).
    """
    full = pattern if not reference else reference + pattern
    exact = _compile(full)
    head, sep, rest = full.partition(DELIMITER)
    folded = _compile(head.lower() + sep + rest)

    def matches(name: str) -> bool:
        if exact.fullmatch(name):
            return True
        first, slash, tail = name.partition(DELIMITER)
        return first == "INBOX" and folded.fullmatch("inbox" + slash + tail) is not None

    return matches


async def list_(session: ImapSession, tag: str, command: C.List) -> bytes:
    """LIST with LIST-EXTENDED selection/return options, SPECIAL-USE and LIST-STATUS."""
    if command.patterns == ("",) and not command.extended:
        root = command.reference.split(DELIMITER, 1)[0] if command.reference else ""
        session.emit(b'* LIST (\\Noselect) "/" ' + session.mailbox_name(root) + b"\r\n")
        return session.ok(tag, "LIST completed")
    store, account = session.store, session.account

    def read() -> tuple[list[MailboxInfo], list[str]]:
        return store.list_mailboxes(account), store.list_subscriptions(account)

    boxes, subscriptions = await session.thread(read)
    matchers = [pattern_matcher(command.reference, p) for p in command.patterns if p != ""]
    by_name = {b.name: b for b in boxes}
    subscribed = set(subscriptions)
    names = set(by_name)
    for name in list(names):  # implied parents of existing names (RFC 3501 §6.3.8)
        parts = name.split(DELIMITER)
        names.update(DELIMITER.join(parts[:i]) for i in range(1, len(parts)))
    selection = set(command.selection)
    returns = set(command.return_options)
    if "SUBSCRIBED" in selection:
        names |= subscribed
    has_children = {n.rsplit(DELIMITER, 1)[0] for n in names if DELIMITER in n}
    for name in sorted(names, key=lambda n: (n != "INBOX", n)):
        matched = any(m(name) for m in matchers)
        box = by_name.get(name)
        childinfo = False
        if "SUBSCRIBED" in selection:
            if not matched:
                continue
            if name not in subscribed:
                prefix = name + DELIMITER
                if "RECURSIVEMATCH" not in selection or not any(
                    s.startswith(prefix) for s in subscribed
                ):
                    continue
                childinfo = True
        elif not matched:
            continue
        if "SPECIAL-USE" in selection and (box is None or not box.special_use):
            continue
        attrs: list[str] = []
        if box is None:
            attrs.append("\\NonExistent" if command.extended else "\\Noselect")
        elif box.noselect:
            attrs.append("\\Noselect")
        attrs.append("\\HasChildren" if name in has_children else "\\HasNoChildren")
        if name in subscribed and ("SUBSCRIBED" in selection or "SUBSCRIBED" in returns):
            attrs.append("\\Subscribed")
        if box is not None and box.special_use:
            attrs.append(box.special_use)
        line = b'* LIST (%s) "/" %s' % (" ".join(attrs).encode(), session.mailbox_name(name))
        if childinfo:
            line += b' ("CHILDINFO" ("SUBSCRIBED"))'
        session.emit(line + b"\r\n")
        if "STATUS" in returns and box is not None and not box.noselect:
            await _emit_status(session, name, command.status_items)
    return session.ok(tag, "LIST completed")


async def _emit_status(session: ImapSession, name: str, items: tuple[str, ...]) -> None:
    """``* STATUS`` after a LIST line (LIST-STATUS, RFC 5819)."""
    try:
        status = await session.thread(session.store.mailbox_status, session.account, name)
    except NoSuchMailbox:
        return
    session.emit(_status_line(session, name, status, items))


async def lsub(session: ImapSession, tag: str, command: C.Lsub) -> bytes:
    """LSUB (RFC 3501 §6.3.9): subscribed names; ``%`` shows parents as \\Noselect."""
    if command.pattern == "":
        session.emit(b'* LSUB (\\Noselect) "/" ""\r\n')
        return session.ok(tag, "LSUB completed")
    store, account = session.store, session.account

    def read() -> tuple[list[MailboxInfo], list[str]]:
        return store.list_mailboxes(account), store.list_subscriptions(account)

    boxes, subscriptions = await session.thread(read)
    matcher = pattern_matcher(command.reference, command.pattern)
    existing = {b.name: b for b in boxes}
    shown: dict[str, bool] = {}  # name -> noselect
    for name in subscriptions:
        if matcher(name):
            box = existing.get(name)
            shown[name] = box is None or box.noselect
            continue
        parts = name.split(DELIMITER)
        for i in range(len(parts) - 1, 0, -1):
            parent = DELIMITER.join(parts[:i])
            if matcher(parent):
                shown.setdefault(parent, True)
                break
    for name in sorted(shown, key=lambda n: (n != "INBOX", n)):
        flags = b"\\Noselect" if shown[name] else b""
        session.emit(b'* LSUB (%s) "/" %s\r\n' % (flags, session.mailbox_name(name)))
    return session.ok(tag, "LSUB completed")


# --- STATUS (RFC 3501 §6.3.10, RFC 9051 §6.3.11, RFC 7162 §3.1.6) ----------------------


def _status_line(
    session: ImapSession, name: str, status: MailboxStatus, items: tuple[str, ...]
) -> bytes:
    values = {
        "MESSAGES": status.exists,
        "RECENT": status.recent,
        "UIDNEXT": status.uidnext,
        "UIDVALIDITY": status.uidvalidity,
        "UNSEEN": status.unseen,
        "SIZE": status.size,
        "DELETED": getattr(status, "deleted", 0),
        "HIGHESTMODSEQ": status.highestmodseq,
        "APPENDLIMIT": session.ctx.config.max_message_bytes,
    }
    parts = [f"{item} {values[item]}" for item in items if item in values]
    return b"* STATUS %s (%s)\r\n" % (session.mailbox_name(name), " ".join(parts).encode())


async def status(session: ImapSession, tag: str, command: C.Status) -> bytes:
    """STATUS: counters from the index only (no message file is opened)."""
    unknown = [i for i in command.items if i not in STATUS_ITEMS]
    if unknown:
        raise CommandFailed("BAD", f"Unknown STATUS item {unknown[0]}")
    name = mailbox_arg(command.mailbox)
    try:
        result = await session.thread(session.store.mailbox_status, session.account, name)
    except NoSuchMailbox:
        raise CommandFailed("NO", "No such mailbox", "NONEXISTENT") from None
    if "HIGHESTMODSEQ" in command.items:
        session.conn.enable(["CONDSTORE"])
    if session.view is not None:
        await session.sync(expunge_ok=True)
    session.emit(_status_line(session, result.name, result, command.items))
    return session.ok(tag, "STATUS completed")


# --- CREATE / DELETE / RENAME / SUBSCRIBE (RFC 3501 §6.3.3-7) --------------------------


async def create(session: ImapSession, tag: str, command: C.Create) -> bytes:
    """CREATE, with missing parents and ``USE (\\Special)`` (RFC 6154 §3)."""
    raw = command.mailbox.rstrip(DELIMITER)  # "foo/" means "foo" (RFC 3501 §6.3.3)
    name = mailbox_arg(raw)
    if name == "INBOX":
        raise CommandFailed("NO", "INBOX always exists", "ALREADYEXISTS")
    uses = [u for u in command.special_use]
    for use in uses:
        if use.capitalize() not in [s.capitalize() for s in SPECIAL_USES]:
            raise CommandFailed("NO", f"Unsupported special use {use}", "USEATTR")
    if len(uses) > 1:
        raise CommandFailed("NO", "One special use per mailbox", "USEATTR")
    special = next((s for s in SPECIAL_USES if uses and s.lower() == uses[0].lower()), None)
    store, account = session.store, session.account

    def make() -> None:
        parts = name.split(DELIMITER)
        boxes = store.list_mailboxes(account)
        existing = {b.name for b in boxes}
        if name in {b.name for b in boxes if not b.noselect}:  # \\Noselect: make it real
            raise MailboxExists(name)
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent not in existing:
                with contextlib.suppress(MailboxExists):  # made meanwhile: fine
                    store.create_mailbox(account, parent)
        store.create_mailbox(account, name, special_use=special)

    try:
        await session.thread(make)
    except MailboxExists:
        raise CommandFailed("NO", "Mailbox exists", "ALREADYEXISTS") from None
    except InvalidMailboxName:
        raise CommandFailed("NO", "Invalid mailbox name", "CANNOT") from None
    session.ctx.notifier.changed(account)
    return session.ok(tag, "CREATE completed")


async def delete(session: ImapSession, tag: str, command: C.Delete) -> bytes:
    """DELETE: INBOX refused; a parent keeps its name as \\Noselect (RFC 3501 §6.3.4)."""
    name = mailbox_arg(command.mailbox)
    if name == "INBOX":
        raise CommandFailed("NO", "INBOX cannot be deleted", "CANNOT")
    if session.view is not None and session.view.name == name:
        raise CommandFailed("NO", "Mailbox is selected; select another first", "INUSE")
    try:
        await session.thread(session.store.delete_mailbox, session.account, name)
    except NoSuchMailbox:
        raise CommandFailed("NO", "No such mailbox", "NONEXISTENT") from None
    except ValueError:
        raise CommandFailed("NO", "Mailbox cannot be deleted", "CANNOT") from None
    session.ctx.notifier.changed(session.account)
    return session.ok(tag, "DELETE completed")


async def rename(session: ImapSession, tag: str, command: C.Rename) -> bytes:
    """RENAME: keeps UIDVALIDITY; children move; INBOX's mail moves (RFC 3501 §6.3.5)."""
    old, new = mailbox_arg(command.mailbox), mailbox_arg(command.new_name.rstrip(DELIMITER))
    if new == "INBOX" or new.startswith(old + DELIMITER):  # RFC 3501 §6.3.5
        raise CommandFailed("NO", "Cannot rename a mailbox into itself or to INBOX", "CANNOT")
    try:
        await session.thread(session.store.rename_mailbox, session.account, old, new)
    except NoSuchMailbox:
        raise CommandFailed("NO", "No such mailbox", "NONEXISTENT") from None
    except MailboxExists:
        raise CommandFailed("NO", "Target mailbox exists", "ALREADYEXISTS") from None
    except InvalidMailboxName:
        raise CommandFailed("NO", "Invalid mailbox name", "CANNOT") from None
    view = session.view
    if view is not None and old != "INBOX" and (view.name + DELIMITER).startswith(old + DELIMITER):
        view.name = new + view.name[len(old) :]  # the selected mailbox or a child moved
    session.ctx.notifier.changed(session.account)
    return session.ok(tag, "RENAME completed")


async def subscribe(session: ImapSession, tag: str, command: C.Subscribe) -> bytes:
    """SUBSCRIBE (RFC 3501 §6.3.6)."""
    name = mailbox_arg(command.mailbox)
    await session.thread(session.store.set_subscribed, session.account, name, True)
    return session.ok(tag, "SUBSCRIBE completed")


async def unsubscribe(session: ImapSession, tag: str, command: C.Unsubscribe) -> bytes:
    """UNSUBSCRIBE (RFC 3501 §6.3.7)."""
    name = mailbox_arg(command.mailbox)
    await session.thread(session.store.set_subscribed, session.account, name, False)
    return session.ok(tag, "UNSUBSCRIBE completed")


# --- APPEND (RFC 3501 §6.3.11, RFC 4315 APPENDUID, RFC 3502 MULTIAPPEND) ---------------

_BARE_LF = re.compile(rb"(?<!\r)\n")


def crlf(data: bytes) -> bytes:
    """``data`` with bare LF line ends made CRLF (IMAP-NOTES §4: store CRLF lines, so
    RFC822.SIZE and every BODY[] section count the octets clients will see)."""
    return _BARE_LF.sub(b"\r\n", data) if b"\n" in data else data


async def literal_request(session: ImapSession, event: LiteralRequest) -> bytes:
    """Before ``+`` for an APPEND literal: refuse at once if it cannot succeed."""
    if event.size > session.ctx.config.max_message_bytes:
        return session.conn.reject_literal("NO", "Message too large", "TOOBIG")
    if event.mailbox is not None and session.user is not None:
        try:
            name = normalize_mailbox_name(event.mailbox)
            await session.thread(session.store.mailbox_status, session.account, name)
        except (NoSuchMailbox, InvalidMailboxName):
            return session.conn.reject_literal("NO", "No such mailbox", "TRYCREATE")
    return session.conn.accept_literal()


async def append(session: ImapSession, tag: str, command: C.Append) -> bytes:
    """APPEND: each message durable before OK; MULTIAPPEND is all or nothing."""
    name = mailbox_arg(command.mailbox)
    store, account = session.store, session.account
    limit = session.ctx.config.max_message_bytes
    for message in command.messages:
        if len(message.data) > limit:
            raise CommandFailed("NO", "Message too large", "TOOBIG")
        if not message.data:
            raise CommandFailed("NO", "Empty message", "CANNOT")
        if message.internal_date is not None and message.internal_date.year < 1000:
            raise CommandFailed("BAD", "Invalid date-time: the year must have four digits")
    now = _dt.datetime.now(_dt.UTC).astimezone()

    def deliver_all() -> tuple[int, list[int]]:
        done: list[int] = []
        uidvalidity = 0
        try:
            for message in command.messages:
                flags = [f for f in message.flags if f.lower() != "\\recent"]
                result = store.deliver(
                    account,
                    name,
                    crlf(message.data),
                    flags=flags,
                    internal_date=message.internal_date or now,
                )
                uidvalidity = result.uidvalidity
                done.append(result.uid)
        except BaseException:
            if done:
                store.expunge(account, name, done)
            raise
        return uidvalidity, done

    try:
        uidvalidity, uids = await session.thread(deliver_all)
    except NoSuchMailbox:
        raise CommandFailed("NO", "No such mailbox", "TRYCREATE") from None
    except ValueError as exc:
        raise CommandFailed("BAD", f"Invalid flag: {exc}") from None
    session.ctx.notifier.changed(account)
    if session.view is not None:
        await session.sync(expunge_ok=True)
    uid_set = str(SequenceSet.from_values(uids))
    return session.ok(tag, "APPEND completed", f"APPENDUID {uidvalidity} {uid_set}")


HANDLERS: dict[type[C.Command], Callable[..., Any]] = {
    C.List: list_,
    C.Lsub: lsub,
    C.Status: status,
    C.Create: create,
    C.Delete: delete,
    C.Rename: rename,
    C.Subscribe: subscribe,
    C.Unsubscribe: unsubscribe,
    C.Append: append,
}
