"""The MailStore API: what the server, IMAP and POP3 ask of a storage backend.

Backends (the default SQLite + files one in :mod:`trimail.storage.sqlite_store`, a
PostgreSQL one later) implement :class:`MailStore`. Nothing here names SQLite: results
are frozen attrs classes with plain values, and backend errors are translated to
:class:`StorageError` subclasses.

Every method blocks; the Trio server calls them from worker threads
(``trio.to_thread.run_sync``), many at once, so implementations must be thread-safe.

Vocabulary follows RFC 3501/9051 §2.3.1: ``uid``, ``uidvalidity``, ``uidnext``,
``modseq`` (RFC 7162 §3.1), ``mailbox_name`` is an IMAP mailbox name in UTF-8 (never
a file-system path). ``INBOX`` is case-insensitive, also as a prefix of its children
(RFC 3501 §5.1); stores always report it as ``INBOX``.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = [
    "DEFAULT_MAILBOXES",
    "EXPUNGED_GRACE_SECONDS",
    "SYSTEM_FLAGS",
    "CachedFetch",
    "CopyResult",
    "Delivered",
    "InvalidMailboxName",
    "MailStore",
    "MailboxChanges",
    "MailboxExists",
    "MailboxInfo",
    "MailboxStatus",
    "MaildropLock",
    "MessageFlags",
    "MessageInfo",
    "NoSuchAccount",
    "NoSuchMailbox",
    "NoSuchMessage",
    "StorageError",
    "StoreResult",
]

SYSTEM_FLAGS: tuple[str, ...] = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
"""Storable system flags (RFC 3501 §2.3.2); ``\\Recent`` is session state, never stored."""


DEFAULT_MAILBOXES: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)
"""Mailboxes every account has from ``create_account`` on, subscribed, with their
special-use attribute (RFC 6154 §2)."""

EXPUNGED_GRACE_SECONDS = 3600.0
"""How long an expunged message's file and cached data stay readable, so IMAP sessions
that have not yet been told of the expunge can still FETCH it (RFC 2180 §4.1)."""


class StorageError(Exception):
    """A store operation failed (I/O error, corrupt index, store closed...).

    Callers answer a temporary failure (SMTP 451 4.3.0, IMAP ``NO [SERVERBUG]``
    or ``NO [UNAVAILABLE]``); the operation had no effect.
    """


class NoSuchAccount(StorageError):
    """The account id names no account (``create_account`` was never called)."""


class NoSuchMailbox(StorageError):
    """No mailbox of that name in the account (IMAP ``NO [TRYCREATE]`` for APPEND/COPY)."""


class MailboxExists(StorageError):
    """CREATE of a name that exists (IMAP ``NO [ALREADYEXISTS]``, RFC 5530)."""


class InvalidMailboxName(StorageError, ValueError):
    """The name is empty, has CR, LF or NUL, an empty hierarchy level, or is too long."""


class NoSuchMessage(StorageError):
    """No message with that UID in the mailbox (expunged, or never existed)."""


@attrs.frozen(kw_only=True)
class Delivered:
    """Where a delivered message landed (IMAP ``APPENDUID``, RFC 4315 §3).

    Attributes:
        uidvalidity: the target mailbox's UIDVALIDITY (32-bit, non-zero).
        uid: the message's UID (32-bit, non-zero).
        modseq: the message's MODSEQ (63-bit, RFC 7162 §3.1).
        size: stored octets, prefix included (RFC822.SIZE).
    """

    uidvalidity: int
    uid: int
    modseq: int
    size: int


@attrs.frozen(kw_only=True)
class MailboxInfo:
    """One mailbox, as LIST needs it (RFC 3501 §6.3.8, RFC 6154).

    Attributes:
        name: UTF-8 IMAP name, hierarchy delimiter ``/``; ``INBOX`` spelled so.
        uidvalidity: UIDVALIDITY (from an account-wide counter, RFC 3501 §2.3.1.1).
        special_use: e.g. ``"\\\\Sent"`` (RFC 6154 §2), or None.
        subscribed: True if the name is in the account's subscriptions.
        noselect: True for a name kept only as the parent of others after DELETE
            (``\\Noselect``, RFC 3501 §6.3.4); it holds no messages.
    """

    name: str
    uidvalidity: int
    special_use: str | None = None
    subscribed: bool = False
    noselect: bool = False


@attrs.frozen(kw_only=True)
class MailboxStatus:
    """STATUS/SELECT counters of one mailbox (RFC 3501 §6.3.10, RFC 7162 §3.1.2).

    Attributes:
        name: the mailbox name (UTF-8).
        uidvalidity: UIDVALIDITY.
        uidnext: the UID the next message will get at least; never decreases.
        highestmodseq: highest MODSEQ of any change in the mailbox; never decreases.
        exists: number of messages.
        unseen: number of messages without ``\\Seen``.
        recent: number of messages with UID above the mailbox's ``recent_uid`` (rev1).
        size: total octets of all messages (STATUS SIZE, RFC 9051 §6.3.11).
    """

    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    exists: int
    unseen: int
    recent: int
    size: int


@attrs.frozen(kw_only=True)
class MessageInfo:
    """Everything cached about one message, read without opening its file.

    Attributes:
        uid: the UID (ascending within a mailbox).
        modseq: MODSEQ of the message's last change (RFC 7162 §3.1).
        flags: system flags (``\\Seen`` ...) and keywords, exact spelling.
        internal_date: INTERNALDATE, timezone-aware, zone as given at delivery.
        size: RFC822.SIZE in octets (= the stored file's size).
        envelope: the cached ENVELOPE (see :mod:`trimail.mail.summary` for the shape).
        bodystructure: the cached BODYSTRUCTURE (same module).
        headers: lower-cased field name -> raw unfolded values, for SEARCH.
        sent_date: the Date: header parsed, timezone-aware, or None.
    """

    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: _dt.datetime
    size: int
    envelope: list[Any]
    bodystructure: list[Any]
    headers: Mapping[str, tuple[str, ...]]
    sent_date: _dt.datetime | None


@attrs.frozen(kw_only=True)
class CachedFetch:
    """The cached FETCH items of one message, ENVELOPE and BODYSTRUCTURE already in IMAP
    syntax (RFC 3501 §7.4.2), so FETCH of many messages copies bytes.

    Attributes:
        uid: the UID.
        modseq: the message's MODSEQ (RFC 7162 §3.1).
        flags: system flags and keywords, exact spelling.
        internal_date: INTERNALDATE, timezone-aware.
        size: RFC822.SIZE in octets.
        envelope: the ENVELOPE as IMAP bytes, valid for every client (8-bit text in
            literals), e.g. ``b'("Fri, 27 Nov 2026 ..." "Lunch" ...)'``.
        bodystructure: the BODYSTRUCTURE (with extension data) as IMAP bytes.
    """

    uid: int
    modseq: int
    flags: frozenset[str]
    internal_date: _dt.datetime
    size: int
    envelope: bytes
    bodystructure: bytes


@attrs.frozen(kw_only=True)
class MessageFlags:
    """The flag state of one message after a change (IMAP ``FETCH (UID FLAGS MODSEQ)``).

    Attributes:
        uid: the UID.
        modseq: the message's MODSEQ after the change (RFC 7162 §3.1).
        flags: system flags and keywords, exact spelling.
    """

    uid: int
    modseq: int
    flags: frozenset[str]


@attrs.frozen(kw_only=True)
class MailboxChanges:
    """What changed in a mailbox since a MODSEQ (an IMAP sync point, RFC 7162 §3.2).

    Attributes:
        uidvalidity: the mailbox's UIDVALIDITY now (a change means it was deleted and
            created again: the session must end its selection).
        uidnext: UIDNEXT now.
        highestmodseq: HIGHESTMODSEQ now; pass it as ``since`` next time.
        changed: messages added or whose flags changed with MODSEQ > since, by UID.
        expunged: UIDs expunged with MODSEQ > since, ascending.
    """

    uidvalidity: int
    uidnext: int
    highestmodseq: int
    changed: list[MessageFlags]
    expunged: list[int]


@attrs.frozen(kw_only=True)
class StoreResult:
    """The outcome of `MailStore.store_flags`.

    Attributes:
        changed: the messages whose flags changed (each with a new MODSEQ), by UID.
        unchanged: messages named that exist but needed no change (current state).
        failed: UIDs refused by UNCHANGEDSINCE (RFC 7162 §3.1.3 ``MODIFIED``).
        new_keywords: keywords not used in the mailbox before (announce with FLAGS).
    """

    changed: list[MessageFlags]
    unchanged: list[MessageFlags]
    failed: list[int]
    new_keywords: list[str]


@attrs.frozen(kw_only=True)
class CopyResult:
    """Where COPY/MOVE put messages (COPYUID, RFC 4315 §3).

    Attributes:
        uidvalidity: the target mailbox's UIDVALIDITY.
        pairs: ``(source uid, target uid)`` in ascending source UID order; source UIDs
            that did not exist are left out.
    """

    uidvalidity: int
    pairs: list[tuple[int, int]]


@runtime_checkable
class MailStore(Protocol):
    """A mail store: accounts, their mailboxes and their messages.

    All methods are blocking and thread-safe. ``account_id`` is an opaque id chosen by
    the caller (the user database), matching ``^[a-z0-9][a-z0-9_-]{0,63}$``; anything
    else raises ``ValueError``. Mailbox names are UTF-8 IMAP names.
    """

    def create_account(self, account_id: str) -> None:
        """Create the account with the `DEFAULT_MAILBOXES`, all subscribed; does nothing
        if it exists. (Opening an account made by an older version adds the missing
        defaults, leaving existing mailboxes alone.)

        Raises:
            ValueError: malformed ``account_id``.
            StorageError: the account could not be created.
        """
        ...

    def delete_account(self, account_id: str) -> None:
        """Delete the account and all its mail; does nothing if it does not exist.

        Raises:
            ValueError: malformed ``account_id``.
            StorageError: the account could not be removed.
        """
        ...

    def account_exists(self, account_id: str) -> bool:
        """Return True if ``create_account`` made this account and it was not deleted.

        Raises:
            ValueError: malformed ``account_id``.
        """
        ...

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
        """Store ``prefix + message`` durably as a new message of the mailbox.

        Returns only once the message's octets, its name and its index entry are
        durable (on disk, fsynced): the caller may then say SMTP 250 or IMAP OK.

        Args:
            account_id: the account.
            mailbox_name: target mailbox (UTF-8; ``inbox`` means ``INBOX``).
            message: the message octets, or the path of a spool file holding them.
            prefix: octets stored before the message (trace fields such as Received:
                and Authentication-Results:, each ending CRLF).
            flags: initial flags and keywords (IMAP APPEND, RFC 3501 §6.3.11);
                ``\\Recent`` is ignored.
            internal_date: INTERNALDATE; must be timezone-aware.

        Returns:
            :class:`Delivered` with the UIDVALIDITY, UID, MODSEQ and stored size.

        Raises:
            ValueError: malformed account id, naive ``internal_date`` or bad flag.
            NoSuchAccount: the account does not exist.
            NoSuchMailbox: the mailbox does not exist (IMAP ``NO [TRYCREATE]``).
            StorageError: the message was not stored (nothing is left behind).
        """
        ...

    def create_mailbox(
        self, account_id: str, mailbox_name: str, *, special_use: str | None = None
    ) -> MailboxInfo:
        """Create a mailbox with a fresh UIDVALIDITY (RFC 3501 §6.3.3).

        Superior names are not created (the IMAP layer shows gaps as ``\\Noselect``).
        A ``noselect`` name (left by DELETE as a parent, RFC 3501 §6.3.4) becomes a
        selectable, empty mailbox with a fresh UIDVALIDITY; its UIDs continue above
        the old ones.

        Raises:
            NoSuchAccount, MailboxExists (a selectable mailbox of that name exists),
            InvalidMailboxName, StorageError.
        """
        ...

    def list_mailboxes(self, account_id: str) -> list[MailboxInfo]:
        """Return all mailboxes of the account, sorted by name.

        Raises:
            NoSuchAccount, StorageError.
        """
        ...

    def mailbox_status(self, account_id: str, mailbox_name: str) -> MailboxStatus:
        """Return the mailbox's counters, from the index only.

        Raises:
            NoSuchAccount, NoSuchMailbox (also for a ``noselect`` name: it cannot be
            selected), StorageError.
        """
        ...

    def list_messages(
        self, account_id: str, mailbox_name: str, uid_from: int = 1, uid_to: int | None = None
    ) -> list[MessageInfo]:
        """Return the messages with ``uid_from <= uid <= uid_to``, ascending by UID.

        Args:
            uid_from: lowest UID wanted (inclusive).
            uid_to: highest UID wanted (inclusive); None for no limit.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def read_message(self, account_id: str, mailbox_name: str, uid: int) -> bytes:
        """Return the stored octets of one message (prefix included), exactly.

        Raises:
            NoSuchAccount, NoSuchMailbox, NoSuchMessage, StorageError.
        """
        ...

    def expunge(self, account_id: str, mailbox_name: str, uids: Iterable[int]) -> list[int]:
        """Remove messages for good (IMAP EXPUNGE, POP3 DELE at QUIT).

        Each removed UID leaves a tombstone with a new MODSEQ (RFC 7162 §3.2), so IMAP
        sessions learn of it as an expunge; UIDNEXT does not move back.

        Args:
            uids: the UIDs to remove; UIDs that do not exist are ignored.

        Returns:
            The UIDs removed, ascending.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError (then nothing was removed).
        """
        ...

    def add_flags(
        self, account_id: str, mailbox_name: str, uids: Iterable[int], flags: Iterable[str]
    ) -> None:
        """Add system flags (e.g. ``\\Seen``) to messages; each change gets a new MODSEQ.

        Raises:
            ValueError: a flag that is not a settable system flag.
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    # --- IMAP (RFC 3501/9051, 4315, 6851, 7162) -------------------------------------

    def delete_mailbox(self, account_id: str, mailbox_name: str) -> None:
        """DELETE (RFC 3501 §6.3.4): remove the mailbox and its messages.

        A mailbox with children loses its messages and becomes ``noselect`` instead;
        deleting a ``noselect`` mailbox without children removes the name. Its
        subscription stays (RFC 3501 §6.3.6). Messages leave tombstones/expunged rows
        like `expunge`, so selected sessions see them go.

        Raises:
            ValueError: ``INBOX`` (it cannot be deleted).
            NoSuchAccount, NoSuchMailbox (also for a ``noselect`` name with children:
            nothing to delete), InvalidMailboxName, StorageError.
        """
        ...

    def rename_mailbox(self, account_id: str, old_name: str, new_name: str) -> None:
        """RENAME (RFC 3501 §6.3.5): keeps UIDVALIDITY, UIDs and MODSEQs.

        Children move along (``a/b`` becomes ``new/b``), and so do the subscriptions
        of the renamed names; missing parents of the new name are created (plain,
        selectable, not subscribed). Renaming ``INBOX`` moves all its messages into a
        new mailbox of that name (new UIDVALIDITY, new UIDs and MODSEQs, flags and
        INTERNALDATE kept; INBOX keeps tombstones, like MOVE) and leaves INBOX empty,
        its children and subscriptions untouched.

        Raises:
            NoSuchAccount, NoSuchMailbox (old), MailboxExists (new, or new is old's
            descendant), InvalidMailboxName, StorageError.
        """
        ...

    def set_subscribed(self, account_id: str, mailbox_name: str, subscribed: bool) -> None:
        """SUBSCRIBE / UNSUBSCRIBE (RFC 3501 §6.3.6-7); the name need not exist.

        Raises:
            NoSuchAccount, InvalidMailboxName, StorageError.
        """
        ...

    def list_subscriptions(self, account_id: str) -> list[str]:
        """All subscribed names, existing or not, sorted (LSUB, LIST (SUBSCRIBED)).

        Raises:
            NoSuchAccount, StorageError.
        """
        ...

    def message_uids(self, account_id: str, mailbox_name: str) -> tuple[int, list[int]]:
        """Return ``(highestmodseq, uids)``: every UID, ascending, read in one snapshot.

        The session's view starts from this (IMAP-NOTES §1); changes after
        ``highestmodseq`` come from `changes_since`.

        Raises:
            NoSuchAccount, NoSuchMailbox (also for a ``noselect`` name), StorageError.
        """
        ...

    def changes_since(self, account_id: str, mailbox_name: str, since: int) -> MailboxChanges:
        """Messages added or changed and UIDs expunged with MODSEQ above ``since``.

        One consistent snapshot. Expunges are reported while their tombstones last
        (at least `EXPUNGED_GRACE_SECONDS`; tombstones themselves are kept).

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def messages(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        *,
        include_expunged: bool = False,
    ) -> list[MessageInfo]:
        """Return the cached data of the named messages, ascending by UID.

        Args:
            uids: the UIDs wanted, in any order; missing ones are left out. A whole
                view (``1:*``, 100,000 UIDs) is fine: stores read dense runs by range.
            include_expunged: also return messages expunged within the grace period
                (their last state: flags and MODSEQ as they were before the expunge),
                for sessions not yet told of the expunge.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def fetch_cached(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        *,
        include_expunged: bool = False,
    ) -> list[CachedFetch]:
        """The FETCH-ready cached items of the named messages, ascending by UID.

        What FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) needs, without decoding the
        cached JSON: the backend keeps ENVELOPE and BODYSTRUCTURE in IMAP syntax
        (:mod:`trimail.mail.imap_syntax`, rendered with ``utf8=False``).

        Args:
            uids: the UIDs wanted; missing ones are left out.
            include_expunged: as for `messages`.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def first_unseen(self, account_id: str, mailbox_name: str) -> int | None:
        """The lowest UID without ``\\Seen`` (SELECT's ``OK [UNSEEN n]``), or None.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def header_candidates(
        self, account_id: str, mailbox_name: str, field: str, text: str
    ) -> list[int] | None:
        """UIDs whose cached header field may contain ``text`` (SEARCH prefilter).

        A superset of the messages whose decoded field (RFC 2047) contains ``text``
        case-insensitively (RFC 3501 §6.4.4): the caller checks each candidate exactly.
        Lets SEARCH SUBJECT/FROM/... skip most messages without decoding them.

        Args:
            field: a lower-cased field name of `SUMMARY_HEADER_FIELDS`.
            text: the search string, non-empty.

        Returns:
            Candidate UIDs, ascending; None if the backend cannot narrow the search
            (then every message is a candidate).

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def read_expunged(self, account_id: str, mailbox_name: str, uid: int) -> bytes:
        """Like `read_message`, but also for a message expunged within the grace period.

        Raises:
            NoSuchAccount, NoSuchMailbox, NoSuchMessage (gone for good), StorageError.
        """
        ...

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
        """STORE (RFC 3501 §6.4.6) in one read-modify-write transaction.

        Args:
            uids: the messages; UIDs that do not exist are ignored.
            mode: ``"replace"``, ``"add"`` or ``"remove"``.
            flags: system flags (case-insensitive, stored in canonical spelling) and
                keywords (atoms, exact spelling); ``\\Recent`` is ignored.
            unchanged_since: RFC 7162 §3.1.3: messages whose MODSEQ is above it are
                not changed and are listed in ``failed``; a message at or below it
                that needs no change is ``unchanged``, not failed.

        Each changed message gets its own new MODSEQ; a store that changes nothing
        takes none (HIGHESTMODSEQ stays).

        Raises:
            ValueError: an unknown mode or system flag, or a keyword that is not an
                atom (nothing is changed).
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def keywords(self, account_id: str, mailbox_name: str) -> list[str]:
        """Every keyword ever used in the mailbox, sorted (for ``* FLAGS``).

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def copy_messages(
        self,
        account_id: str,
        mailbox_name: str,
        uids: Iterable[int],
        target_name: str,
        *,
        move: bool = False,
    ) -> CopyResult:
        """COPY (RFC 3501 §6.4.7) or MOVE (RFC 6851) messages to another mailbox.

        Flags, keywords and INTERNALDATE are kept; each copy gets a new UID and MODSEQ
        in the target. MOVE removes the sources in the same transaction, leaving
        tombstones as `expunge` does. Target equal to source gives new UIDs. Durable
        on return, like `deliver`.

        Raises:
            NoSuchAccount, NoSuchMailbox (source or target: IMAP ``NO [TRYCREATE]``),
            StorageError (nothing was copied).
        """
        ...

    def claim_recent(self, account_id: str, mailbox_name: str) -> int:
        """Claim \\Recent for the caller (RFC 3501 §2.3.2, rev1 only).

        Atomically sets the mailbox's recent mark to UIDNEXT - 1 and returns the old
        mark: the caller's session sees the messages with UID above the returned value
        (and up to the new mark) as ``\\Recent``; no other session will.

        Raises:
            NoSuchAccount, NoSuchMailbox, StorageError.
        """
        ...

    def last_modseq(self, account_id: str) -> int:
        """The account-wide MODSEQ counter: it changes whenever anything in the account
        changes (a cheap poll for IDLE across processes).

        Raises:
            NoSuchAccount, StorageError.
        """
        ...

    def lock_maildrop(self, account_id: str) -> MaildropLock | None:
        """Take the account's exclusive POP3 maildrop lock (RFC 1939 §8), without waiting.

        Returns:
            The lock (release it with ``release()``), or None if another session, in
            any process, holds it.

        Raises:
            NoSuchAccount, StorageError.
        """
        ...

    def close(self) -> None:
        """Release connections and files. Later calls raise ``StorageError``."""
        ...


class MaildropLock(Protocol):
    """A held maildrop lock (`MailStore.lock_maildrop`)."""

    def release(self) -> None:
        """Give the lock up; calling it again does nothing."""
        ...
