"""Evaluating a SEARCH program against messages (RFC 3501 §6.4.4, IMAP-NOTES §5).

Flags, sizes, dates and the cached header fields come from the index; BODY, TEXT and
HEADER on an uncached field read the message file, once per message. Pure: the caller
passes the message's cached data and a loader for its octets.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence

import attrs

from trimail.imap._commands import SearchKey
from trimail.imap._seqset import SequenceSet
from trimail.mail.search import (
    ADDRESS_FIELDS,
    body_text,
    fold_case,
    header_matches,
    message_text,
)
from trimail.mail.sections import fetch_section
from trimail.mail.summary import SUMMARY_HEADER_FIELDS
from trimail.storage.api import MessageInfo

__all__ = ["SearchContext", "matches", "needs_octets", "prefilters", "text_matches"]

_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc", "SUBJECT": "subject"}
_CACHED = frozenset(SUMMARY_HEADER_FIELDS)


def needs_octets(key: SearchKey) -> bool:
    """True if evaluating ``key`` may need a message's octets."""
    if key.op in ("BODY", "TEXT"):
        return True
    if key.op == "HEADER":
        return str(key.args[0]).lower() not in _CACHED
    return any(isinstance(a, SearchKey) and needs_octets(a) for a in key.args)


def prefilters(program: SearchKey) -> list[tuple[str, str]]:
    """``(field, text)`` pairs every match must satisfy: the top-level header keys.

    Each can narrow the candidates with `MailStore.header_candidates` before the exact
    evaluation (only keys directly under the top-level AND: under OR or NOT they do
    not restrict the result).
    """
    keys = program.args if program.op == "AND" else (program,)
    out = []
    for key in keys:
        if not isinstance(key, SearchKey):
            continue
        if key.op in _HEADER_KEYS and str(key.args[0]):
            out.append((_HEADER_KEYS[key.op], str(key.args[0])))
        elif key.op == "HEADER" and str(key.args[1]):
            field = str(key.args[0]).lower()
            if field in _CACHED:
                out.append((field, str(key.args[1])))
    return out


@attrs.define(kw_only=True)
class SearchContext:
    """What a search needs besides the message itself.

    Attributes:
        exists: the message count (``*`` in sequence sets).
        largest_uid: the highest UID of the view (``*`` in UID sets).
        recent: UIDs this session sees as ``\\Recent``.
        saved: the saved search result (``$``, RFC 5182), as UIDs.
    """

    exists: int
    largest_uid: int
    recent: set[int]
    saved: set[int]


def _date(value: _dt.datetime) -> _dt.date:
    return value.date()


def matches(
    key: SearchKey,
    seq: int,
    info: MessageInfo,
    octets: Callable[[], bytes],
    ctx: SearchContext,
) -> bool:
    """Does the message match ``key``?

    Args:
        key: the search program node.
        seq: the message's sequence number.
        info: its cached data.
        octets: returns the message octets (called only if needed; cache it).
        ctx: the session facts.
    """
    op, args = key.op, key.args
    if op == "AND":
        return all(matches(k, seq, info, octets, ctx) for k in args if isinstance(k, SearchKey))
    if op == "OR":
        a, b = args
        assert isinstance(a, SearchKey) and isinstance(b, SearchKey)
        return matches(a, seq, info, octets, ctx) or matches(b, seq, info, octets, ctx)
    if op == "NOT":
        (a,) = args
        assert isinstance(a, SearchKey)
        return not matches(a, seq, info, octets, ctx)
    if op == "ALL":
        return True
    if op in _FLAG_KEYS:
        flag, wanted = _FLAG_KEYS[op]
        return (flag in info.flags) == wanted
    if op in ("KEYWORD", "UNKEYWORD"):
        has = str(args[0]).lower() in {f.lower() for f in info.flags}
        return has if op == "KEYWORD" else not has
    if op == "RECENT":
        return info.uid in ctx.recent
    if op == "NEW":
        return info.uid in ctx.recent and "\\Seen" not in info.flags
    if op == "OLD":
        return info.uid not in ctx.recent
    if op == "LARGER":
        return info.size > int(str(args[0]))
    if op == "SMALLER":
        return info.size < int(str(args[0]))
    if op == "MODSEQ":
        return info.modseq >= int(str(args[0]))
    if op in ("BEFORE", "ON", "SINCE"):
        return _compare(op, _date(info.internal_date), args[0])
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        if info.sent_date is None:
            return False
        return _compare(op[4:], _date(info.sent_date), args[0])
    if op in ("SEQSET", "UID"):
        seqset = args[0]
        assert isinstance(seqset, SequenceSet)
        if seqset.saved:
            return info.uid in ctx.saved
        if op == "SEQSET":
            return seqset.contains(seq, ctx.exists)
        return seqset.contains(info.uid, ctx.largest_uid)
    if op in _HEADER_KEYS:
        cached = info.headers.get(_HEADER_KEYS[op], ())
        return header_matches(cached, str(args[0]), address=op != "SUBJECT")
    if op == "HEADER":
        field, needle = str(args[0]).lower(), str(args[1])
        values: Sequence[str] = (
            info.headers.get(field, ()) if field in _CACHED else _header_values(octets(), field)
        )
        if needle == "":
            return bool(values)
        return header_matches(values, needle, address=field in ADDRESS_FIELDS)
    if op in ("BODY", "TEXT"):
        return text_matches(octets(), str(args[0]), body_only=op == "BODY")
    raise ValueError(f"unknown search key {op}")


_ENCODINGS = (b"base64", b"quoted-printable")


def text_matches(raw: bytes, needle: str, *, body_only: bool) -> bool:
    """SEARCH BODY / TEXT (RFC 3501 §6.4.4): ``needle`` in the body (or whole message).

    Decoding every MIME part is slow (about 0.2 ms a message), so an ASCII needle is
    first looked for in the raw octets (ASCII case-insensitively): found there, the
    message contains it; absent, and the octets are ASCII with no base64 or
    quoted-printable part (nor, for TEXT, encoded words), the decoded text cannot
    contain it either. Only the remaining messages are decoded
    (`trimail.mail.search.body_text` / `message_text`).
    """
    folded = fold_case(needle)
    if folded.isascii():
        low = raw.lower()  # ASCII letters only, as fold_case does for ASCII
        start = 0
        if body_only:
            end = low.find(b"\r\n\r\n")
            start = end + 4 if end >= 0 else len(low)
        if low.find(folded.encode("ascii"), start) >= 0:
            return True
        if (
            raw.isascii()
            and not any(marker in low for marker in _ENCODINGS)  # CTE headers included
            and (body_only or b"=?" not in low)
        ):
            return False
    text = body_text(raw) if body_only else message_text(raw)
    return folded in fold_case(text)


def _compare(op: str, day: _dt.date, wanted: object) -> bool:
    assert isinstance(wanted, _dt.date)
    if op == "BEFORE":
        return day < wanted
    if op == "ON":
        return day == wanted
    return day >= wanted  # SINCE


def _header_values(raw: bytes, field: str) -> list[str]:
    """Unfolded values of every ``field`` header line of the message."""
    block = fetch_section(raw, (), "HEADER.FIELDS", (field,)) or b""
    values: list[str] = []
    for line in (
        block.decode("utf-8", "replace").replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n")
    ):
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == field:
            values.append(value.strip())
    return values
