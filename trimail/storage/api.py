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
    "SYSTEM_FLAGS",
    "Delivered",
    "InvalidMailboxName",
    "MailStore",
    "MailboxExists",
    "MailboxInfo",
    "MailboxStatus",
    "MessageInfo",
    "NoSuchAccount",
    "NoSuchMailbox",
    "NoSuchMessage",
    "StorageError",
]

SYSTEM_FLAGS: tuple[str, ...] = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
"""Storable system flags (RFC 3501 §2.3.2); ``\\Recent`` is session state, never stored."""


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
    """

    name: str
    uidvalidity: int
    special_use: str | None = None
    subscribed: bool = False


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


@runtime_checkable
class MailStore(Protocol):
    """A mail store: accounts, their mailboxes and their messages.

    All methods are blocking and thread-safe. ``account_id`` is an opaque id chosen by
    the caller (the user database), matching ``^[a-z0-9][a-z0-9_-]{0,63}$``; anything
    else raises ``ValueError``. Mailbox names are UTF-8 IMAP names.
    """

    def create_account(self, account_id: str) -> None:
        """Create the account with its INBOX; does nothing if it exists.

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

        Raises:
            NoSuchAccount, MailboxExists, InvalidMailboxName, StorageError.
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
            NoSuchAccount, NoSuchMailbox, StorageError.
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
