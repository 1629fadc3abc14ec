"""The parsed IMAP commands (RFC 3501 §6, RFC 9051 §6 and the extensions we serve).

`trimail.imap.ImapConnection` turns each complete command (line plus literals) into one
of these frozen attrs classes and reports it as a `CommandReceived` event; the driver
(``trimail.server.imap_session``) executes it. Everything is decoded: mailbox names and
LIST patterns are UTF-8 ``str`` (from modified UTF-7 unless UTF8=ACCEPT is enabled,
RFC 3501 §5.1.3, RFC 6855 §3), SEARCH strings are ``str`` decoded from the charset,
literals are ``bytes``.

The ``uid`` field of FETCH/STORE/COPY/MOVE/SEARCH/EXPUNGE is True for the ``UID``
forms (RFC 3501 §6.4.8), in which the sequence set holds UIDs instead of sequence
numbers.
"""

from __future__ import annotations

import datetime as _dt
from typing import Literal

import attrs

from trimail.imap._seqset import SequenceSet

__all__ = [
    "Append",
    "AppendMessage",
    "Authenticate",
    "Capability",
    "Check",
    "Close",
    "Command",
    "Copy",
    "Create",
    "Delete",
    "Enable",
    "Examine",
    "Expunge",
    "Fetch",
    "FetchAttribute",
    "Id",
    "Idle",
    "List",
    "Login",
    "Logout",
    "Lsub",
    "Move",
    "Namespace",
    "Noop",
    "QresyncParams",
    "Rename",
    "Search",
    "SearchKey",
    "Section",
    "Select",
    "StartTls",
    "Status",
    "Store",
    "Subscribe",
    "Unselect",
    "Unsubscribe",
]


@attrs.frozen(kw_only=True)
class Command:
    """Base class of all parsed commands."""


# --- any state (RFC 3501 §6.1) ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class Capability(Command):
    """CAPABILITY (§6.1.1). The engine answers it itself; drivers never see it."""


@attrs.frozen(kw_only=True)
class Noop(Command):
    """NOOP (§6.1.2): a sync point where pending updates are reported."""


@attrs.frozen(kw_only=True)
class Logout(Command):
    """LOGOUT (§6.1.3)."""


@attrs.frozen(kw_only=True)
class Id(Command):
    """ID (RFC 2971): the client's field/value pairs, or None for ``ID NIL``."""

    params: tuple[tuple[str, str | None], ...] | None = None


# --- not authenticated (§6.2) ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class StartTls(Command):
    """STARTTLS (RFC 3501 §6.2.1, RFC 2595)."""


@attrs.frozen(kw_only=True)
class Login(Command):
    """LOGIN user password (§6.2.3); both astrings, decoded as UTF-8."""

    username: str
    password: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Authenticate(Command):
    """AUTHENTICATE mechanism [initial-response] (§6.2.2, SASL-IR RFC 4959).

    Attributes:
        mechanism: upper-case SASL mechanism name, e.g. ``"PLAIN"``.
        initial_response: the decoded initial response (``b""`` for ``=``), or None
            if the client sent none.
    """

    mechanism: str
    initial_response: bytes | None = attrs.field(default=None, repr=False)


# --- authenticated (§6.3) --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Enable(Command):
    """ENABLE cap... (RFC 5161); capability names upper-cased."""

    capabilities: tuple[str, ...]


@attrs.frozen(kw_only=True)
class QresyncParams:
    """The QRESYNC select parameter (RFC 7162 §3.2.5).

    Attributes:
        uidvalidity: the client's last known UIDVALIDITY.
        modseq: the client's last known HIGHESTMODSEQ.
        known_uids: the UIDs the client knows, or None.
        seq_match: ``(known sequence numbers, their UIDs)``, or None.
    """

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@attrs.frozen(kw_only=True)
class Select(Command):
    """SELECT mailbox [(CONDSTORE | QRESYNC (...))] (§6.3.1, RFC 7162 §3.1.8, §3.2.5)."""

    mailbox: str
    condstore: bool = False
    qresync: QresyncParams | None = None


@attrs.frozen(kw_only=True)
class Examine(Select):
    """EXAMINE: SELECT, read-only (§6.3.2)."""


@attrs.frozen(kw_only=True)
class Create(Command):
    """CREATE mailbox [(USE (\\Special ...))] (§6.3.3, RFC 6154 §3)."""

    mailbox: str
    special_use: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Delete(Command):
    """DELETE mailbox (§6.3.4)."""

    mailbox: str


@attrs.frozen(kw_only=True)
class Rename(Command):
    """RENAME existing new (§6.3.5)."""

    mailbox: str
    new_name: str


@attrs.frozen(kw_only=True)
class Subscribe(Command):
    """SUBSCRIBE mailbox (§6.3.6)."""

    mailbox: str


@attrs.frozen(kw_only=True)
class Unsubscribe(Command):
    """UNSUBSCRIBE mailbox (§6.3.7)."""

    mailbox: str


@attrs.frozen(kw_only=True)
class List(Command):
    """LIST (§6.3.8) with LIST-EXTENDED (RFC 5258) options.

    Attributes:
        reference: the reference name (decoded).
        patterns: one or more mailbox patterns with ``*`` and ``%`` (decoded).
        selection: upper-cased selection options: ``SUBSCRIBED``, ``REMOTE``,
            ``RECURSIVEMATCH``, ``SPECIAL-USE``.
        return_options: upper-cased return options: ``SUBSCRIBED``, ``CHILDREN``,
            ``SPECIAL-USE``, ``STATUS`` (see ``status_items``).
        status_items: for ``RETURN (STATUS (...))`` (RFC 5819), upper-cased.
        extended: True if the client used the extended syntax (selection or return
            options, or a pattern list), which changes some replies (RFC 5258 §3).
    """

    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    status_items: tuple[str, ...] = ()
    extended: bool = False


@attrs.frozen(kw_only=True)
class Lsub(Command):
    """LSUB reference pattern (RFC 3501 §6.3.9)."""

    reference: str
    pattern: str


@attrs.frozen(kw_only=True)
class Namespace(Command):
    """NAMESPACE (RFC 2342)."""


@attrs.frozen(kw_only=True)
class Status(Command):
    """STATUS mailbox (items) (§6.3.10); items upper-cased: MESSAGES, RECENT, UIDNEXT,
    UIDVALIDITY, UNSEEN, SIZE, DELETED, HIGHESTMODSEQ, APPENDLIMIT."""

    mailbox: str
    items: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AppendMessage:
    """One message of APPEND (or MULTIAPPEND, RFC 3502).

    Attributes:
        flags: flags as sent (``\\Seen``, keywords), exact spelling.
        internal_date: the date-time argument, timezone-aware, or None.
        data: the literal's octets.
    """

    flags: tuple[str, ...] = ()
    internal_date: _dt.datetime | None = None
    data: bytes = attrs.field(default=b"", repr=lambda d: f"<{len(d)} octets>")


@attrs.frozen(kw_only=True)
class Append(Command):
    """APPEND mailbox [flags] [date-time] literal (§6.3.11)."""

    mailbox: str
    messages: tuple[AppendMessage, ...]


@attrs.frozen(kw_only=True)
class Idle(Command):
    """IDLE (RFC 2177). Answer with ``conn.idle_started()``; DONE gives `IdleDone`."""


# --- selected (§6.4) -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Check(Command):
    """CHECK (§6.4.1)."""


@attrs.frozen(kw_only=True)
class Close(Command):
    """CLOSE (§6.4.2)."""


@attrs.frozen(kw_only=True)
class Unselect(Command):
    """UNSELECT (RFC 3691)."""


@attrs.frozen(kw_only=True)
class Expunge(Command):
    """EXPUNGE (§6.4.3), or UID EXPUNGE set (RFC 4315 §2.1) when ``uids`` is given."""

    uids: SequenceSet | None = None


@attrs.frozen(kw_only=True)
class SearchKey:
    """One node of a search program (RFC 3501 §6.4.4, RFC 9051 §6.4.4).

    ``op`` is the upper-cased key name; ``args`` depend on it:

    * no args: ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED
      UNDELETED UNDRAFT UNFLAGGED UNSEEN
    * ``(str,)``: BCC BODY CC FROM SUBJECT TEXT TO, KEYWORD UNKEYWORD (the flag)
    * ``(str, str)``: HEADER (field-name, value)
    * ``(datetime.date,)``: BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE
    * ``(int,)``: LARGER SMALLER (octets), MODSEQ (RFC 7162 §3.1.5; the optional
      entry-name and entry-type are dropped)
    * ``(SequenceSet,)``: ``SEQSET`` (a bare sequence set) and ``UID``
    * ``(SearchKey,)``: NOT
    * ``(SearchKey, SearchKey)``: OR
    * ``(SearchKey, ...)``: AND (a parenthesized list, or the top-level program)
    """

    op: str
    args: tuple[object, ...] = ()


@attrs.frozen(kw_only=True)
class Search(Command):
    """[UID] SEARCH [RETURN (...)] [CHARSET c] keys (§6.4.4, ESEARCH RFC 4731).

    Attributes:
        program: the keys as one ``AND`` node.
        charset: upper-cased charset name given, or None (the engine has already
            refused anything but UTF-8 and US-ASCII with ``NO [BADCHARSET]``).
        return_options: upper-cased ESEARCH return options (MIN MAX ALL COUNT SAVE);
            None if no RETURN was given (then the classic ``* SEARCH`` reply is used
            unless IMAP4rev2 is enabled).
        uid: UID SEARCH.
    """

    program: SearchKey
    charset: str | None = None
    return_options: tuple[str, ...] | None = None
    uid: bool = False


@attrs.frozen(kw_only=True)
class Section:
    """A body section specifier (RFC 3501 §6.4.5 ``section``).

    Attributes:
        part: the part numbers, e.g. ``(1, 2)`` for ``1.2``; ``()`` for the message.
        text: None, or ``HEADER``, ``HEADER.FIELDS``, ``HEADER.FIELDS.NOT``, ``TEXT``,
            ``MIME`` (upper-cased).
        fields: header field names for HEADER.FIELDS(.NOT), as sent (echoed back).
    """

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class FetchAttribute:
    """One fetch item after macro expansion (RFC 3501 §6.4.5, RFC 3516, RFC 7162).

    Attributes:
        name: upper-cased: UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE
            MODSEQ RFC822 RFC822.HEADER RFC822.TEXT; ``BODY`` (without section = the
            non-extensible BODYSTRUCTURE); ``BODY[...]`` is name ``BODY`` with a
            section; ``BINARY`` and ``BINARY.SIZE`` (with a section).
        section: the section for BODY[...]/BINARY[...]/BINARY.SIZE[...], else None.
        peek: BODY.PEEK / BINARY.PEEK (does not set ``\\Seen``).
        partial: ``(origin, count)`` in octets for ``<origin.count>``, else None.
    """

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


@attrs.frozen(kw_only=True)
class Fetch(Command):
    """[UID] FETCH set items [(CHANGEDSINCE m [VANISHED])] (§6.4.5, RFC 7162 §3.1.4).

    Attributes:
        sequence_set: the messages (UIDs if ``uid``).
        attributes: the items, macros (ALL FAST FULL) expanded, in the order given.
        changed_since: the CHANGEDSINCE modifier, or None.
        vanished: the VANISHED modifier (UID FETCH only, RFC 7162 §3.2.6).
        uid: UID FETCH.
    """

    sequence_set: SequenceSet
    attributes: tuple[FetchAttribute, ...]
    changed_since: int | None = None
    vanished: bool = False
    uid: bool = False


@attrs.frozen(kw_only=True)
class Store(Command):
    """[UID] STORE set [(UNCHANGEDSINCE m)] (+|-)FLAGS[.SILENT] flags (§6.4.6).

    Attributes:
        mode: ``"replace"`` for FLAGS, ``"add"`` for +FLAGS, ``"remove"`` for -FLAGS.
        silent: .SILENT given.
        flags: flags as sent; a keyword ``NIL`` is kept as the string ``"NIL"``.
        unchanged_since: the UNCHANGEDSINCE modifier (RFC 7162 §3.1.3), or None.
    """

    sequence_set: SequenceSet
    mode: Literal["replace", "add", "remove"]
    flags: tuple[str, ...]
    silent: bool = False
    unchanged_since: int | None = None
    uid: bool = False


@attrs.frozen(kw_only=True)
class Copy(Command):
    """[UID] COPY set mailbox (§6.4.7, COPYUID RFC 4315)."""

    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False


@attrs.frozen(kw_only=True)
class Move(Command):
    """[UID] MOVE set mailbox (RFC 6851)."""

    sequence_set: SequenceSet
    mailbox: str
    uid: bool = False
