"""Parsing of IMAP command text (RFC 3501 §9, RFC 9051 §9 and the extensions served).

The connection frames a command into *parts*: the text of each line (literal marker
and CRLF removed) alternating with the `LiteralData` that followed it, always starting
and ending with text::

    b'a LOGIN {5}\\r\\nalice "secret"\\r\\n'  ->  [b"a LOGIN ", LiteralData(b"alice"),
                                                b' "secret"']

`parse_command` turns complete parts into one of the classes of ``_commands``. Before
answering ``+`` to a synchronizing literal the connection calls `check_prefix` on the
parts so far: it parses up to the pending literal, so a command that is already wrong
is refused without reading the literal (RFC 3501 §2.2.1, IMAP-NOTES §3), and it tells
whether the literal is an APPEND message (with its mailbox) or another string.

Token rules (IMAP-NOTES §3): atom-specials ``( ) { SP CTL % * " \\ ]``; ``[`` and
``}`` are atom chars; astring adds ``]``; list-mailbox adds ``%`` and ``*``; quoted
strings know only the escapes ``\\"`` and ``\\\\``, no CR/LF/NUL, raw UTF-8 accepted;
``NIL`` is a string only where an nstring fits.
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Literal

import attrs

from trimail.imap import _mutf7
from trimail.imap._commands import (
    Append,
    AppendMessage,
    Authenticate,
    Capability,
    Check,
    Close,
    Command,
    Copy,
    Create,
    Delete,
    Enable,
    Examine,
    Expunge,
    Fetch,
    FetchAttribute,
    Id,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    Namespace,
    Noop,
    QresyncParams,
    Rename,
    Search,
    SearchKey,
    Section,
    Select,
    StartTls,
    Status,
    Store,
    Subscribe,
    Unselect,
    Unsubscribe,
)
from trimail.imap._seqset import MAX_NZ_NUMBER, SequenceSet

__all__ = [
    "FETCH_MACROS",
    "SEARCH_CHARSETS",
    "STATUS_ITEMS",
    "Head",
    "LiteralData",
    "ParseContext",
    "ParseError",
    "Part",
    "PrefixCheck",
    "check_prefix",
    "decode_mailbox",
    "parse_command",
    "parse_head",
]

MAX_NUMBER64 = 2**63 - 1  # number64 / mod-sequence-value (RFC 9051 §9, RFC 7162 §7)
MAX_NESTING = 64  # parenthesized search keys deep; more is abuse, not a client
SEARCH_CHARSETS = ("UTF-8", "US-ASCII")  # what SEARCH CHARSET accepts (RFC 9051 §6.4.4)
STATUS_ITEMS = frozenset(
    {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "DELETED"}
    | {"HIGHESTMODSEQ", "APPENDLIMIT"}  # RFC 7162 §3.1.6, RFC 7889 §3
)


# --- framing types ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiteralData:
    """The octets of one literal of a command.

    Attributes:
        data: the octets.
        binary: sent as literal8 ``~{n}`` (RFC 3516 §4.3): may hold NUL, and is only
            allowed as APPEND message data.
        pending: a placeholder for the literal not read yet (see `check_prefix`).
    """

    data: bytes = attrs.field(default=b"", repr=lambda d: f"<{len(d)} octets>")
    binary: bool = False
    pending: bool = False


Part = bytes | LiteralData
"""Line text (CRLF and literal marker removed) or the literal that followed it."""


class ParseError(Exception):
    """The command is malformed; the connection answers it with a tagged response.

    Attributes:
        text: the human-readable text of the response.
        code: a response code without brackets (``"BADCHARSET (UTF-8 US-ASCII)"``).
        status: ``"BAD"`` for syntax errors; ``"NO"`` when the syntax is right but the
            request is refused (unknown SEARCH charset, RFC 3501 §6.4.4).
    """

    def __init__(
        self, text: str, *, code: str | None = None, status: Literal["BAD", "NO"] = "BAD"
    ) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.status: Literal["BAD", "NO"] = status


class _ReachedPending(Exception):
    def __init__(self, mailbox: str | None) -> None:
        self.mailbox = mailbox


@attrs.frozen(kw_only=True)
class ParseContext:
    """What the parser must know about the session.

    Attributes:
        utf8_names: mailbox names are UTF-8 (UTF8=ACCEPT or IMAP4rev2 enabled, RFC 6855
            §3, RFC 9051 §5.1) instead of modified UTF-7.
        enabled: the capabilities enabled with ENABLE (upper-case), e.g. ``QRESYNC``.
    """

    utf8_names: bool = False
    enabled: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class Head:
    """The tag and command name at the start of a command.

    Attributes:
        tag: the tag, or None if the line does not start with a valid one.
        name: the upper-cased command name (``"UID FETCH"`` for UID commands), or
            ``""`` if unreadable.
    """

    tag: str | None
    name: str = ""


@attrs.frozen(kw_only=True)
class PrefixCheck:
    """The result of `check_prefix`: the pending literal is valid here.

    Attributes:
        append_mailbox: the APPEND target if the literal is message data, else None.
    """

    append_mailbox: str | None = None


# --- character classes (RFC 3501 §9, RFC 9051 §9) --------------------------------------

# ATOM-CHAR: CHAR except atom-specials ( ) { SP CTL % * " \ ]
_ATOM_CLASS = rb"\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e"
_ATOM = re.compile(rb"[" + _ATOM_CLASS + rb"]+")
_ASTRING = re.compile(rb"[" + _ATOM_CLASS + rb"\x5d]+")  # ASTRING-CHAR adds "]"
_LIST_CHARS = re.compile(rb"[" + _ATOM_CLASS + rb"\x5d%*]+")  # list-char adds % * ]
_TAG = re.compile(rb"[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+")  # no "+"
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_QUOTED_ESCAPE = re.compile(rb'\\(["\\])')
_DIGITS = re.compile(rb"[0-9]+")
_SEQSET = re.compile(rb"[0-9:,*$]+")
_NAME = re.compile(rb"[A-Za-z0-9.\-]+")  # command, fetch-att, search-key names
_BASE64 = re.compile(rb"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEAD = re.compile(rb"([\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+) ([A-Za-z0-9]+)")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        1,
    )
}
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATE_TIME = re.compile(  # date-day-fixed is (SP DIGIT) / 2DIGIT; one digit tolerated
    rb'"( ?[0-9]|[0-9]{2})-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)


# --- the reader ----------------------------------------------------------------------


class _Reader:
    """A cursor over the parts of one command."""

    def __init__(self, parts: Sequence[Part], context: ParseContext) -> None:
        if not parts or not isinstance(parts[0], bytes):
            raise ParseError("empty command")
        self.parts = parts
        self.context = context
        self.index = 0
        self.text: bytes = parts[0]
        self.pos = 0
        self.pending_mailbox: str | None = None  # reported if the pending literal is hit

    def at_text_end(self) -> bool:
        return self.pos == len(self.text)

    def at_literal(self) -> bool:
        return self.pos == len(self.text) and self.index + 1 < len(self.parts)

    def at_end(self) -> bool:
        return self.pos == len(self.text) and self.index + 1 >= len(self.parts)

    def peek(self) -> int | None:
        """The next byte of line text, or None at the end of a line part."""
        return self.text[self.pos] if self.pos < len(self.text) else None

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def literal(self, *, binary_ok: bool = False) -> LiteralData:
        item = self.parts[self.index + 1]
        assert isinstance(item, LiteralData)
        if item.binary and not binary_ok:
            raise ParseError("literal8 is only allowed for message data")
        if item.pending:
            raise _ReachedPending(self.pending_mailbox)
        if self.pending_mailbox is None and not item.binary and b"\x00" in item.data:
            raise ParseError("NUL in a literal (RFC 3501 §9 CHAR8); use literal8")
        self.index += 2
        text = self.parts[self.index]
        assert isinstance(text, bytes)
        self.text, self.pos = text, 0
        return item

    def char(self, wanted: bytes) -> bool:
        """Consume *wanted* (one byte) if it comes next."""
        if self.text.startswith(wanted, self.pos):
            self.pos += 1
            return True
        return False

    def expect(self, wanted: bytes, what: str) -> None:
        if not self.char(wanted):
            raise ParseError(f"expected {what}")

    def sp(self) -> None:
        self.expect(b" ", "a space")

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("unexpected characters at the end of the command")

    def keyword(self, word: bytes) -> bool:
        """Consume the case-insensitive *word* if it comes next, whole."""
        stop = self.pos + len(word)
        if self.text[self.pos : stop].upper() != word:
            return False
        after = self.text[stop : stop + 1]
        if after and _ATOM.fullmatch(after) is not None:
            return False
        self.pos = stop
        return True

    def name(self, what: str) -> str:
        found = self.match(_NAME)
        if found is None:
            raise ParseError(f"expected {what}")
        return found[0].decode("ascii").upper()


# --- tokens --------------------------------------------------------------------------


def _atom(r: _Reader, what: str = "an atom") -> bytes:
    found = r.match(_ATOM)
    if found is None:
        raise ParseError(f"expected {what}")
    return found[0]


def _quoted(r: _Reader) -> bytes:
    found = r.match(_QUOTED)
    if found is None:
        raise ParseError("invalid quoted string")
    return _QUOTED_ESCAPE.sub(rb"\1", found[1])


def _string(r: _Reader, what: str = "a string") -> bytes:
    if r.at_literal():
        return r.literal().data
    if r.peek() == ord('"'):
        return _quoted(r)
    raise ParseError(f"expected {what}")


def _astring(r: _Reader, what: str = "a string") -> bytes:
    if r.at_literal() or r.peek() == ord('"'):
        return _string(r, what)
    found = r.match(_ASTRING)
    if found is None:
        raise ParseError(f"expected {what}")
    return found[0]


def _nstring(r: _Reader) -> bytes | None:
    if r.keyword(b"NIL"):
        return None
    return _string(r)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"{what} is not valid UTF-8") from None


def _number(r: _Reader, *, limit: int = MAX_NZ_NUMBER, nonzero: bool = False) -> int:
    found = r.match(_DIGITS)
    if found is None:
        raise ParseError("expected a number")
    digits = found[0]
    if len(digits) > 20 or int(digits) > limit:
        raise ParseError("number out of range")
    value = int(digits)
    if nonzero and (value == 0 or digits.startswith(b"0")):
        raise ParseError("expected a non-zero number")
    return value


def _modseq(r: _Reader) -> int:
    return _number(r, limit=MAX_NUMBER64)


def _sequence_set(r: _Reader) -> SequenceSet:
    found = r.match(_SEQSET)
    if found is None:
        raise ParseError("expected a sequence set")
    try:
        return SequenceSet.parse(found[0].decode("ascii"))
    except ValueError as exc:
        raise ParseError(str(exc)) from None


def _flag(r: _Reader, *, allow_star: bool = False) -> str:
    if r.char(b"\\"):
        if allow_star and r.char(b"*"):
            return "\\*"
        return "\\" + _atom(r, "a flag").decode("ascii")
    return _atom(r, "a flag").decode("ascii")


def _flag_list(r: _Reader) -> tuple[str, ...]:
    r.expect(b"(", "a flag list")
    flags: list[str] = []
    if r.char(b")"):
        return ()
    while True:
        flags.append(_flag(r))
        if r.char(b")"):
            return tuple(flags)
        r.sp()


def _paren_atoms(r: _Reader, what: str, *, allow_empty: bool = True) -> list[str]:
    """``"(" [atom *(SP atom)] ")"`` upper-cased."""
    r.expect(b"(", f"a parenthesized list of {what}")
    items: list[str] = []
    if r.char(b")"):
        if not allow_empty:
            raise ParseError(f"empty list of {what}")
        return items
    while True:
        items.append(_atom(r, what).decode("ascii").upper())
        if r.char(b")"):
            return items
        r.sp()


def decode_mailbox(raw: bytes, *, utf8: bool) -> str:
    """Decode a mailbox name or pattern from the wire (RFC 3501 §5.1, RFC 6855 §3).

    ``INBOX`` in any case becomes ``INBOX``, also as the first level of a hierarchy
    (``inbox/x`` -> ``INBOX/x``; the delimiter is ``/``).

    Raises:
        ParseError: not valid UTF-8 (*utf8*) or not valid modified UTF-7.
    """
    if utf8:
        name = _text(raw, "mailbox name")
    else:
        try:
            name = _mutf7.decode(raw.decode("ascii"))
        except ValueError as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"mailbox name is not valid modified UTF-7: {exc}") from None
    head, slash, tail = name.partition("/")
    if head.upper() == "INBOX":
        return "INBOX" + slash + tail
    return name


def _mailbox(r: _Reader) -> str:
    return decode_mailbox(_astring(r, "a mailbox name"), utf8=r.context.utf8_names)


def _list_mailbox(r: _Reader) -> str:
    if r.at_literal() or r.peek() == ord('"'):
        raw = _string(r)
    else:
        found = r.match(_LIST_CHARS)
        if found is None:
            raise ParseError("expected a mailbox pattern")
        raw = found[0]
    return decode_mailbox(raw, utf8=r.context.utf8_names)


def _date_from(match: re.Match[bytes]) -> dt.date:
    """The date of groups 1-3 (day, month name, year) of *match*."""
    month = _MONTHS.get(match[2].decode("ascii").upper())  # ABNF strings: any case
    if month is None:
        raise ParseError("invalid month")
    try:
        return dt.date(int(match[3]), month, int(match[1].strip()))
    except ValueError:
        raise ParseError("invalid date") from None


def _date(r: _Reader) -> dt.date:
    """``date = date-text / DQUOTE date-text DQUOTE`` (RFC 3501 §9)."""
    quoted = r.char(b'"')
    found = r.match(_DATE)
    if found is None:
        raise ParseError("expected a date like 1-Feb-1994")
    if quoted:
        r.expect(b'"', "a closing quote")
    return _date_from(found)


def _date_time(r: _Reader) -> dt.datetime:
    """``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 §9 date-time), timezone-aware."""
    found = r.match(_DATE_TIME)
    if found is None:
        raise ParseError("invalid date-time")
    date = _date_from(found)
    hours, minutes = int(found[8]), int(found[9])
    if minutes > 59 or hours > 23:
        raise ParseError("invalid zone")
    offset = dt.timedelta(hours=hours, minutes=minutes)
    zone = dt.timezone(-offset if found[7] == b"-" else offset)
    try:
        return dt.datetime(
            date.year, date.month, date.day, int(found[4]), int(found[5]), int(found[6]),
            tzinfo=zone,
        )  # fmt: skip
    except ValueError:
        raise ParseError("invalid time") from None


# --- commands without arguments -------------------------------------------------------


def _no_args(cls: Callable[[], Command]) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.end()
        return cls()

    return parse


# --- not authenticated, any state ----------------------------------------------------


def _login(r: _Reader) -> Command:
    r.sp()
    user = _text(_astring(r, "a user name"), "user name")
    r.sp()
    password = _text(_astring(r, "a password"), "password")
    r.end()
    return Login(username=user, password=password)


def _authenticate(r: _Reader) -> Command:
    r.sp()
    mechanism = _atom(r, "a SASL mechanism").decode("ascii").upper()
    initial: bytes | None = None
    if r.char(b" "):  # SASL-IR, RFC 4959 §7
        if r.char(b"="):
            initial = b""
        else:
            found = r.match(_BASE64)
            if found is None or not found[0]:
                raise ParseError("invalid base64 initial response")
            try:
                initial = binascii.a2b_base64(found[0], strict_mode=True)
            except binascii.Error:
                raise ParseError("invalid base64 initial response") from None
    r.end()
    return Authenticate(mechanism=mechanism, initial_response=initial)


def _id(r: _Reader) -> Command:
    r.sp()
    if r.keyword(b"NIL"):
        r.end()
        return Id(params=None)
    r.expect(b"(", "NIL or a parameter list")
    params: list[tuple[str, str | None]] = []
    if not r.char(b")"):
        while True:
            field = _string(r, "a field name").decode("utf-8", "replace")
            r.sp()
            value = _nstring(r)
            params.append((field, None if value is None else value.decode("utf-8", "replace")))
            if r.char(b")"):
                break
            r.sp()
    r.end()
    return Id(params=tuple(params))


def _enable(r: _Reader) -> Command:
    capabilities: list[str] = []
    while r.char(b" "):
        capabilities.append(_atom(r, "a capability").decode("ascii").upper())
    if not capabilities:
        raise ParseError("ENABLE needs at least one capability")
    r.end()
    return Enable(capabilities=tuple(capabilities))


# --- authenticated --------------------------------------------------------------------


def _select_params(r: _Reader) -> tuple[bool, QresyncParams | None]:
    """``SP "(" select-param *(SP select-param) ")"`` (RFC 4466 §2.1, RFC 7162)."""
    condstore, qresync = False, None
    r.expect(b"(", "select parameters")
    seen: set[str] = set()
    while True:
        name = r.name("a select parameter")
        if name in seen:
            raise ParseError(f"{name} given twice")
        seen.add(name)
        if name == "CONDSTORE":
            condstore = True
        elif name == "QRESYNC":
            if "QRESYNC" not in r.context.enabled:  # RFC 7162 §3.2.5
                raise ParseError("QRESYNC parameter without ENABLE QRESYNC")
            r.sp()
            qresync = _qresync(r)
        else:
            raise ParseError(f"unknown select parameter {name}")
        if r.char(b")"):
            return condstore, qresync
        r.sp()


def _qresync(r: _Reader) -> QresyncParams:
    """``"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"``."""
    r.expect(b"(", "QRESYNC parameters")
    uidvalidity = _number(r, nonzero=True)
    r.sp()
    modseq = _modseq(r)
    known: SequenceSet | None = None
    match: tuple[SequenceSet, SequenceSet] | None = None
    if r.char(b" "):
        if r.peek() != ord("("):
            known = _sequence_set(r)
            if known.uses_star or known.saved:  # RFC 7162 §7: known-uids has no "*"
                raise ParseError("known-uids must not use '*' or '$'")
            if r.char(b" "):
                match = _seq_match(r)
        else:
            match = _seq_match(r)
    r.expect(b")", "')'")
    return QresyncParams(uidvalidity=uidvalidity, modseq=modseq, known_uids=known, seq_match=match)


def _seq_match(r: _Reader) -> tuple[SequenceSet, SequenceSet]:
    r.expect(b"(", "seq-match-data")
    seqs = _sequence_set(r)
    r.sp()
    uids = _sequence_set(r)
    r.expect(b")", "')'")
    return seqs, uids


def _select_like(cls: type[Select]) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.sp()
        mailbox = _mailbox(r)
        condstore, qresync = False, None
        if r.char(b" "):
            condstore, qresync = _select_params(r)
        r.end()
        return cls(mailbox=mailbox, condstore=condstore, qresync=qresync)

    return parse


def _create(r: _Reader) -> Command:
    r.sp()
    mailbox = _mailbox(r)
    uses: tuple[str, ...] = ()
    if r.char(b" "):  # create-param list, RFC 4466 §2.2, RFC 6154 §3
        r.expect(b"(", "create parameters")
        while True:
            name = r.name("a create parameter")
            if name != "USE" or uses:
                raise ParseError(f"unknown create parameter {name}")
            r.sp()
            uses = _flag_list(r)
            if not uses or not all(u.startswith("\\") for u in uses):
                raise ParseError("USE needs special-use flags like \\Drafts")
            if r.char(b")"):
                break
            r.sp()
    r.end()
    return Create(mailbox=mailbox, special_use=uses)


def _one_mailbox(cls: Callable[..., Command]) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.sp()
        mailbox = _mailbox(r)
        r.end()
        return cls(mailbox=mailbox)

    return parse


def _rename(r: _Reader) -> Command:
    r.sp()
    old = _mailbox(r)
    r.sp()
    new = _mailbox(r)
    r.end()
    return Rename(mailbox=old, new_name=new)


_LIST_SELECTION = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
_LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


def _list(r: _Reader) -> Command:
    """LIST (RFC 3501 §6.3.8), LIST-EXTENDED (RFC 5258 §3), LIST-STATUS (RFC 5819)."""
    r.sp()
    extended = False
    selection: list[str] = []
    if r.peek() == ord("("):
        extended = True
        selection = _paren_atoms(r, "selection options")
        unknown = set(selection) - _LIST_SELECTION
        if unknown:  # RFC 5258 §3: MUST reject unknown selection options with BAD
            raise ParseError(f"unknown LIST selection option {sorted(unknown)[0]}")
        if "RECURSIVEMATCH" in selection and set(selection) <= {"RECURSIVEMATCH", "REMOTE"}:
            # RFC 5258 §3: RECURSIVEMATCH needs another (non-REMOTE) selection option
            raise ParseError("RECURSIVEMATCH needs another selection option")
        r.sp()
    reference = _mailbox(r)
    r.sp()
    patterns: list[str] = []
    if r.char(b"("):
        extended = True
        while True:
            patterns.append(_list_mailbox(r))
            if r.char(b")"):
                break
            r.sp()
    else:
        patterns.append(_list_mailbox(r))
    returns: list[str] = []
    status_items: list[str] = []
    if r.char(b" "):
        extended = True
        if not r.keyword(b"RETURN"):
            raise ParseError("expected RETURN")
        r.sp()
        returns, status_items = _list_return(r)
    r.end()
    return List(
        reference=reference,
        patterns=tuple(patterns),
        selection=tuple(dict.fromkeys(selection)),
        return_options=tuple(returns),
        status_items=tuple(status_items),
        extended=extended,
    )


def _list_return(r: _Reader) -> tuple[list[str], list[str]]:
    r.expect(b"(", "return options")
    returns: list[str] = []
    status_items: list[str] = []
    if r.char(b")"):
        return returns, status_items
    while True:
        option = r.name("a return option")
        if option not in _LIST_RETURN or option in returns:
            raise ParseError(f"unknown or repeated LIST return option {option}")
        returns.append(option)
        if option == "STATUS":
            r.sp()
            status_items = _status_items(r)
        if r.char(b")"):
            return returns, status_items
        r.sp()


def _status_items(r: _Reader) -> list[str]:
    items = _paren_atoms(r, "status items", allow_empty=False)
    unknown = set(items) - STATUS_ITEMS
    if unknown:
        raise ParseError(f"unknown status item {sorted(unknown)[0]}")
    return list(dict.fromkeys(items))


def _lsub(r: _Reader) -> Command:
    r.sp()
    reference = _mailbox(r)
    r.sp()
    pattern = _list_mailbox(r)
    r.end()
    return Lsub(reference=reference, pattern=pattern)


def _status(r: _Reader) -> Command:
    r.sp()
    mailbox = _mailbox(r)
    r.sp()
    items = _status_items(r)
    r.end()
    return Status(mailbox=mailbox, items=tuple(items))


def _append(r: _Reader) -> Command:
    """APPEND mailbox 1*(SP [flag-list SP] [date-time SP] message) (RFC 3501 §6.3.11,
    MULTIAPPEND RFC 3502, literal8 RFC 3516 §4.4, UTF8 RFC 6855 §4)."""
    r.sp()
    mailbox = _mailbox(r)
    messages: list[AppendMessage] = []
    while not messages or not r.at_end():
        r.sp()
        flags: tuple[str, ...] = ()
        date: dt.datetime | None = None
        if r.peek() == ord("("):
            flags = _flag_list(r)
            r.sp()
        if r.peek() == ord('"'):
            date = _date_time(r)
            r.sp()
        r.pending_mailbox = mailbox
        if r.keyword(b"UTF8"):  # RFC 6855 §4: UTF8 SP "(" literal8 ")"
            r.sp()
            r.expect(b"(", "'('")
            data = _message_literal(r)
            r.expect(b")", "')'")
        else:
            data = _message_literal(r)
        r.pending_mailbox = None
        messages.append(AppendMessage(flags=flags, internal_date=date, data=data))
    return Append(mailbox=mailbox, messages=tuple(messages))


def _message_literal(r: _Reader) -> bytes:
    if not r.at_literal():
        raise ParseError("expected the message as a literal")
    return r.literal(binary_ok=True).data


# --- selected -----------------------------------------------------------------------


def _expunge(r: _Reader) -> Command:
    r.end()
    return Expunge()


def _uid_expunge(r: _Reader) -> Command:
    r.sp()
    uids = _sequence_set(r)
    r.end()
    return Expunge(uids=uids)


def _copy_like(cls: Callable[..., Command], *, uid: bool) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.sp()
        sequence_set = _sequence_set(r)
        r.sp()
        mailbox = _mailbox(r)
        r.end()
        return cls(sequence_set=sequence_set, mailbox=mailbox, uid=uid)

    return parse


_STORE_ITEM = re.compile(rb"[+-]?[A-Za-z.]+")
_STORE_ITEMS = {
    "FLAGS": "replace",
    "+FLAGS": "add",
    "-FLAGS": "remove",
}


def _store(uid: bool) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        """[UID] STORE set [(UNCHANGEDSINCE n)] item flags (§6.4.6, RFC 7162 §3.1.3)."""
        r.sp()
        sequence_set = _sequence_set(r)
        r.sp()
        unchanged: int | None = None
        if r.char(b"("):
            if not r.keyword(b"UNCHANGEDSINCE"):
                raise ParseError("unknown STORE modifier")
            r.sp()
            unchanged = _modseq(r)
            r.expect(b")", "')'")
            r.sp()
        found = r.match(_STORE_ITEM)
        if found is None:
            raise ParseError("expected FLAGS, +FLAGS or -FLAGS")
        item = found[0].decode("ascii").upper()
        silent = item.endswith(".SILENT")
        mode = _STORE_ITEMS.get(item.removesuffix(".SILENT"))
        if mode is None:
            raise ParseError(f"unknown STORE item {item}")
        r.sp()
        if r.peek() == ord("("):
            flags = _flag_list(r)
        else:  # flag *(SP flag), RFC 3501 §9 store-att-flags
            flags_list = [_flag(r)]
            while r.char(b" "):
                flags_list.append(_flag(r))
            flags = tuple(flags_list)
        r.end()
        return Store(
            sequence_set=sequence_set,
            mode=mode,  # type: ignore[arg-type]
            flags=flags,
            silent=silent,
            unchanged_since=unchanged,
            uid=uid,
        )

    return parse


# --- SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4, ESEARCH RFC 4731, RFC 7162 §3.1.5) ------

_SEARCH_FLAGS = frozenset(
    {"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN"}
    | {"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"}
)
_SEARCH_STRINGS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_SEARCH_KEYWORDS = frozenset({"KEYWORD", "UNKEYWORD"})
_SEARCH_DATES = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
_SEARCH_SIZES = frozenset({"LARGER", "SMALLER"})
_SEARCH_WITH_ARGS = (
    _SEARCH_STRINGS
    | _SEARCH_KEYWORDS
    | _SEARCH_DATES
    | _SEARCH_SIZES
    | {"HEADER", "UID", "NOT", "OR", "MODSEQ"}
)
SEARCH_RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})


def _search(uid: bool) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.sp()
        returns: tuple[str, ...] | None = None
        if r.keyword(b"RETURN"):
            r.sp()
            options = _paren_atoms(r, "return options")
            unknown = set(options) - SEARCH_RETURN_OPTIONS
            if unknown:
                raise ParseError(f"unknown SEARCH return option {sorted(unknown)[0]}")
            returns = tuple(dict.fromkeys(options)) or ("ALL",)  # RFC 4731 §3.1
            r.sp()
        charset: str | None = None
        if r.keyword(b"CHARSET"):
            r.sp()
            charset = _astring(r, "a charset").decode("ascii", "replace").upper()
            if charset not in SEARCH_CHARSETS:
                raise ParseError(
                    "unsupported charset", code="BADCHARSET (UTF-8 US-ASCII)", status="NO"
                )
            r.sp()
        keys = [_search_key(r, 0)]
        while r.char(b" "):
            keys.append(_search_key(r, 0))
        r.end()
        program = SearchKey(op="AND", args=tuple(keys))
        return Search(program=program, charset=charset, return_options=returns, uid=uid)

    return parse


def _search_string(r: _Reader) -> str:
    return _text(_astring(r), "search string")


def _search_key(r: _Reader, depth: int) -> SearchKey:
    if depth > MAX_NESTING:
        raise ParseError("search keys nested too deep")
    first = r.peek()
    if first is not None and (48 <= first <= 57 or first in (ord("*"), ord("$"))):
        return SearchKey(op="SEQSET", args=(_sequence_set(r),))
    if r.char(b"("):
        keys = [_search_key(r, depth + 1)]
        while r.char(b" "):
            keys.append(_search_key(r, depth + 1))
        r.expect(b")", "')'")
        return SearchKey(op="AND", args=tuple(keys))
    op = r.name("a search key")
    if op in _SEARCH_FLAGS:
        return SearchKey(op=op)
    if op not in _SEARCH_WITH_ARGS:
        raise ParseError(f"unknown search key {op}")
    r.sp()
    if op in _SEARCH_STRINGS:
        return SearchKey(op=op, args=(_search_string(r),))
    if op in _SEARCH_KEYWORDS:
        return SearchKey(op=op, args=(_atom(r, "a keyword").decode("ascii"),))
    if op in _SEARCH_DATES:
        return SearchKey(op=op, args=(_date(r),))
    if op in _SEARCH_SIZES:
        return SearchKey(op=op, args=(_number(r),))
    if op == "HEADER":
        field = _search_string(r)
        r.sp()
        return SearchKey(op=op, args=(field, _search_string(r)))
    if op == "UID":
        return SearchKey(op=op, args=(_sequence_set(r),))
    if op == "NOT":
        return SearchKey(op=op, args=(_search_key(r, depth + 1),))
    if op == "OR":
        left = _search_key(r, depth + 1)
        r.sp()
        return SearchKey(op=op, args=(left, _search_key(r, depth + 1)))
    return SearchKey(op=op, args=(_search_modseq(r),))  # MODSEQ


def _search_modseq(r: _Reader) -> int:
    """``MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer`` (RFC 7162)."""
    if r.peek() == ord('"'):
        entry = _quoted(r)
        if not entry.lower().startswith(b"/flags/"):
            raise ParseError("invalid MODSEQ entry name")
        r.sp()
        if _atom(r, "an entry type").lower() not in (b"priv", b"shared", b"all"):
            raise ParseError("invalid MODSEQ entry type")
        r.sp()
    return _modseq(r)


# --- FETCH (RFC 3501 §6.4.5, RFC 9051 §6.4.5, BINARY RFC 3516, RFC 7162 §3.1.4) ------

_FETCH_SIMPLE = frozenset(
    {"ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE"}
    | {"RFC822.TEXT", "BODYSTRUCTURE", "UID", "MODSEQ"}
)
FETCH_MACROS: dict[str, tuple[str, ...]] = {  # RFC 3501 §6.4.5
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SECTION_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})
_SECTION_SPEC = re.compile(rb"[0-9A-Za-z.]+")


def _fetch(uid: bool) -> Callable[[_Reader], Command]:
    def parse(r: _Reader) -> Command:
        r.sp()
        sequence_set = _sequence_set(r)
        r.sp()
        attributes: list[FetchAttribute] = []
        if r.char(b"("):
            while True:
                attributes.append(_fetch_att(r))
                if r.char(b")"):
                    break
                r.sp()
        else:
            start = r.pos
            macro = r.name("a fetch item")
            if macro in FETCH_MACROS and r.peek() != ord("["):
                attributes = [FetchAttribute(name=n) for n in FETCH_MACROS[macro]]
            else:
                r.pos = start
                attributes.append(_fetch_att(r))
        changed_since, vanished = None, False
        if r.char(b" "):
            changed_since, vanished = _fetch_modifiers(r, uid)
        r.end()
        return Fetch(
            sequence_set=sequence_set,
            attributes=tuple(attributes),
            changed_since=changed_since,
            vanished=vanished,
            uid=uid,
        )

    return parse


def _fetch_modifiers(r: _Reader, uid: bool) -> tuple[int | None, bool]:
    r.expect(b"(", "fetch modifiers")
    changed_since: int | None = None
    vanished = False
    while True:
        name = r.name("a fetch modifier")
        if name == "CHANGEDSINCE" and changed_since is None:
            r.sp()
            changed_since = _modseq(r)  # 0 tolerated (iOS Mail), IMAP-NOTES §2
        elif name == "VANISHED" and not vanished:
            vanished = True
        else:
            raise ParseError(f"unknown or repeated fetch modifier {name}")
        if r.char(b")"):
            break
        r.sp()
    if vanished and not (uid and changed_since is not None and "QRESYNC" in r.context.enabled):
        raise ParseError("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
    return changed_since, vanished


def _fetch_att(r: _Reader) -> FetchAttribute:
    name = r.name("a fetch item")
    if name in _FETCH_SIMPLE:
        return FetchAttribute(name=name)
    bracket = r.peek() == ord("[")
    if name == "BODY" and not bracket:
        return FetchAttribute(name="BODY")
    if name in ("BODY", "BODY.PEEK"):
        section = _section(r)
        return FetchAttribute(
            name="BODY", section=section, peek=name == "BODY.PEEK", partial=_partial(r)
        )
    if name in ("BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        section = _binary_section(r)
        partial = _partial(r) if name != "BINARY.SIZE" else None
        base = "BINARY.SIZE" if name == "BINARY.SIZE" else "BINARY"
        return FetchAttribute(
            name=base, section=section, peek=name == "BINARY.PEEK", partial=partial
        )
    raise ParseError(f"unknown fetch item {name}")


def _part_numbers(pieces: list[bytes]) -> tuple[int, ...]:
    numbers = []
    for piece in pieces:
        if not piece.isdigit() or piece.startswith(b"0") or len(piece) > 10:
            raise ParseError("invalid section part number")
        value = int(piece)
        if value > MAX_NZ_NUMBER:
            raise ParseError("section part number out of range")
        numbers.append(value)
    return tuple(numbers)


def _section(r: _Reader) -> Section:
    """``"[" [section-spec] "]"`` (RFC 3501 §9 section)."""
    r.expect(b"[", "'['")
    if r.char(b"]"):
        return Section()
    found = r.match(_SECTION_SPEC)
    if found is None:
        raise ParseError("invalid section")
    pieces = found[0].split(b".")
    count = 0
    while count < len(pieces) and pieces[count][:1].isdigit():
        count += 1
    part = _part_numbers(pieces[:count])
    text = b".".join(pieces[count:]).decode("ascii").upper() or None
    if text is not None and (text not in _SECTION_TEXTS or (text == "MIME" and not part)):
        raise ParseError(f"invalid section text {text}")
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        r.sp()
        r.expect(b"(", "a header field list")
        names = [_text(_astring(r, "a header field name"), "header field name")]
        while r.char(b" "):
            names.append(_text(_astring(r, "a header field name"), "header field name"))
        r.expect(b")", "')'")
        fields = tuple(names)
    r.expect(b"]", "']'")
    return Section(part=part, text=text, fields=fields)


def _binary_section(r: _Reader) -> Section:
    """``"[" [section-part] "]"`` (RFC 3516 §6 section-binary)."""
    r.expect(b"[", "'['")
    if r.char(b"]"):
        return Section()
    found = r.match(_SECTION_SPEC)
    if found is None:
        raise ParseError("invalid binary section")
    part = _part_numbers(found[0].split(b"."))
    r.expect(b"]", "']'")
    return Section(part=part)


def _partial(r: _Reader) -> tuple[int, int] | None:
    """``"<" number "." nz-number ">"`` (RFC 3501 §9)."""
    if not r.char(b"<"):
        return None
    origin = _number(r)
    r.expect(b".", "'.'")
    count = _number(r, nonzero=True)
    r.expect(b">", "'>'")
    return origin, count


# --- dispatch -----------------------------------------------------------------------

_Parser = Callable[[_Reader], Command]

_COMMANDS: dict[str, _Parser] = {
    "CAPABILITY": _no_args(Capability),
    "NOOP": _no_args(Noop),
    "LOGOUT": _no_args(Logout),
    "ID": _id,
    "STARTTLS": _no_args(StartTls),
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "ENABLE": _enable,
    "SELECT": _select_like(Select),
    "EXAMINE": _select_like(Examine),
    "CREATE": _create,
    "DELETE": _one_mailbox(Delete),
    "RENAME": _rename,
    "SUBSCRIBE": _one_mailbox(Subscribe),
    "UNSUBSCRIBE": _one_mailbox(Unsubscribe),
    "LIST": _list,
    "LSUB": _lsub,
    "NAMESPACE": _no_args(Namespace),
    "STATUS": _status,
    "APPEND": _append,
    "IDLE": _no_args(Idle),
    "CHECK": _no_args(Check),
    "CLOSE": _no_args(Close),
    "UNSELECT": _no_args(Unselect),
    "EXPUNGE": _expunge,
    "SEARCH": _search(uid=False),
    "FETCH": _fetch(uid=False),
    "STORE": _store(uid=False),
    "COPY": _copy_like(Copy, uid=False),
    "MOVE": _copy_like(Move, uid=False),
    "UID FETCH": _fetch(uid=True),
    "UID STORE": _store(uid=True),
    "UID COPY": _copy_like(Copy, uid=True),
    "UID MOVE": _copy_like(Move, uid=True),
    "UID SEARCH": _search(uid=True),
    "UID EXPUNGE": _uid_expunge,
}
KNOWN_COMMANDS = frozenset(_COMMANDS)
"""Every command name the parser knows, ``UID x`` forms included."""


def parse_head(first: bytes) -> Head:
    """Read the tag and command name from the first line part of a command.

    Returns:
        ``Head(tag=None)`` if the line does not start with a valid tag and a space (or
        the end of the line); ``name=""`` if no command name follows the tag. ``UID``
        and a subcommand give ``"UID FETCH"`` etc.
    """
    found = _HEAD.match(first)
    if found is None:
        return Head(tag=tag_of(first))
    tag_text = found[1].decode("ascii")
    name = found[2].decode("ascii").upper()
    if name == "UID":
        sub = re.match(rb" ([A-Za-z]+)", first[found.end() :])
        if sub is None:
            return Head(tag=tag_text, name="UID")
        name = "UID " + sub[1].decode("ascii").upper()
    return Head(tag=tag_text, name=name)


def tag_of(prefix: bytes, *, complete: bool = True) -> str | None:
    """The tag at the start of *prefix*, if followed by a space (or, for a *complete*
    line, by its end); else None."""
    found = _TAG.match(prefix)
    if found is None:
        return None
    end = found.end()
    if (end == len(prefix) and complete) or prefix[end : end + 1] == b" ":
        return found[0].decode("ascii")
    return None


def _reader_after_head(parts: Sequence[Part], context: ParseContext) -> tuple[_Reader, str]:
    r = _Reader(parts, context)
    first = r.text
    head = parse_head(first)
    if head.tag is None:
        raise ParseError("invalid tag")
    parser = _COMMANDS.get(head.name)
    if parser is None:
        raise ParseError("unknown command")
    # skip "tag SP name" (and " subcommand" for UID)
    r.pos = len(head.tag) + 1 + len(head.name)
    return r, head.name


def parse_command(parts: Sequence[Part], context: ParseContext) -> Command:
    """Parse one complete command (tag included) into a ``_commands`` class.

    Args:
        parts: line text and literals, as described in the module docstring.
        context: session facts that change the syntax (UTF-8 names, QRESYNC).

    Raises:
        ParseError: malformed; ``.status``/``.code``/``.text`` give the response.
    """
    r, name = _reader_after_head(parts, context)
    try:
        return _COMMANDS[name](r)
    except _ReachedPending:  # pragma: no cover - complete parts hold no placeholder
        raise ParseError("incomplete command") from None


def check_prefix(
    parts: Sequence[Part], context: ParseContext, *, binary: bool = False
) -> PrefixCheck:
    """Check a command whose next literal has been announced but not read.

    Args:
        parts: the parts so far, ending with the line text before the literal marker.
        context: as for `parse_command`.
        binary: the announced literal is a literal8 (``~{n}``).

    Returns:
        Where the literal goes (APPEND message data or not).

    Raises:
        ParseError: the text so far is already wrong, or a literal cannot stand where
            this one was announced.
    """
    placeholder = LiteralData(binary=binary, pending=True)
    r, name = _reader_after_head([*parts, placeholder, b""], context)
    try:
        _COMMANDS[name](r)
    except _ReachedPending as reached:
        return PrefixCheck(append_mailbox=reached.mailbox)
    raise ParseError("a literal cannot stand here")
