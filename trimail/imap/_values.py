"""Rendering IMAP data values as wire bytes (RFC 3501 §4, §9; RFC 9051 §4, §9).

Everything returns ``bytes`` ready to be joined into a response line. Strings become
quoted strings when the grammar allows it and literals otherwise; ``None`` becomes
``NIL``; numbers are decimal. ENVELOPE and BODYSTRUCTURE are rendered from the JSON
shapes cached at delivery by :mod:`trimail.mail.summary` (see its module docs).

The ``utf8`` keyword is True once the client enabled UTF8=ACCEPT or IMAP4rev2
(RFC 6855 §3, RFC 9051 §4.3): then UTF-8 text may travel in quoted strings, and mailbox
names are sent as UTF-8 instead of modified UTF-7 (RFC 3501 §5.1.3).

This module does no I/O.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from trimail.imap import _mutf7
from trimail.mail.imap_syntax import (
    NIL,
    _as_bytes,
    _is_atom,
    astring,
    binary_literal,
    literal,
    nstring,
    number,
    quoted_or_literal,
    render_bodystructure,
    render_envelope,
    render_list,
)

__all__ = [
    "NIL",
    "astring",
    "binary_literal",
    "encode_mailbox_name",
    "literal",
    "nstring",
    "number",
    "quoted_or_literal",
    "render_bodystructure",
    "render_envelope",
    "render_flags",
    "render_internaldate",
    "render_list",
]


SYSTEM_FLAGS: tuple[str, ...] = (
    "\\Seen",
    "\\Answered",
    "\\Flagged",
    "\\Deleted",
    "\\Draft",
    "\\Recent",
)
"""System flags in the order they are rendered (RFC 3501 §2.3.2)."""

_SYSTEM_BY_FOLDED = {flag.lower(): (i, flag) for i, flag in enumerate(SYSTEM_FLAGS)}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- flags, dates, names ------------------------------------------------------------


def render_flags(flags: Iterable[str]) -> bytes:
    """Render a flag list ``(\\Seen foo)`` (RFC 3501 §2.3.2, §7.2.6, §9 flag-list).

    Duplicates are dropped case-insensitively (flags are case-insensitive). Order
    is stable: the system flags in the order of :data:`SYSTEM_FLAGS`, spelled as
    there; then other ``\\`` flags (extensions), then keywords, each group sorted
    case-insensitively; ``\\*`` (PERMANENTFLAGS, §7.1) last.

    Args:
        flags: flag names as stored, e.g. ``["$Forwarded", "\\\\seen"]``.

    Returns:
        e.g. ``b"(\\\\Seen $Forwarded)"``; ``b"()"`` for none.

    Raises:
        ValueError: a flag is not an atom (after its leading ``\\``).
    """
    system: dict[int, str] = {}
    others: dict[str, str] = {}
    star = False
    for flag in flags:
        folded = flag.lower()
        if folded in _SYSTEM_BY_FOLDED:
            index, canonical = _SYSTEM_BY_FOLDED[folded]
            system[index] = canonical
        elif flag == "\\*":
            star = True
        else:
            bare = flag[1:] if flag.startswith("\\") else flag
            if not _is_atom(_as_bytes(bare), astring=False):
                raise ValueError(f"flag is not an atom: {flag!r}")
            others.setdefault(folded, flag)
    ordered = [system[i] for i in sorted(system)]
    ordered.extend(sorted(others.values(), key=lambda f: (not f.startswith("\\"), f.lower(), f)))
    if star:
        ordered.append("\\*")
    return render_list(flag.encode("ascii") for flag in ordered)


def render_internaldate(dt: _dt.datetime) -> bytes:
    """Render INTERNALDATE ``"17-Jul-1996 02:44:25 -0700"`` (RFC 3501 §7.4.2, §9).

    The day is space-padded (``date-day-fixed``: ``" 7-Feb-1994 21:52:25 -0800"``),
    month names are English, and the zone is the datetime's own UTC offset
    (seconds of the offset are dropped).

    Args:
        dt: a timezone-aware datetime (the zone given at APPEND or arrival).

    Raises:
        ValueError: ``dt`` is naive, or its year is not four digits.
    """
    offset = dt.utcoffset()
    if offset is None:
        raise ValueError("INTERNALDATE needs a timezone-aware datetime")
    minutes = int(offset.total_seconds() / 60)  # truncated toward zero
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    if not 1000 <= dt.year <= 9999:  # date-year = 4DIGIT
        raise ValueError(f"INTERNALDATE year out of range: {dt.year}")
    text = (
        f'"{dt.day:2d}-{_MONTHS[dt.month - 1]}-{dt.year:04d} '
        f'{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} {sign}{hours:02d}{mins:02d}"'
    )
    return text.encode("ascii")


def encode_mailbox_name(name: str, *, utf8: bool) -> bytes:
    """Render a mailbox name as an astring (RFC 3501 §5.1.3, §9 ``mailbox``).

    Args:
        name: the stored UTF-8 name, e.g. ``"Entwürfe"`` or ``"INBOX"``.
        utf8: UTF8=ACCEPT or IMAP4rev2 is enabled: send UTF-8 (RFC 6855 §3,
            RFC 9051 §5.1). Otherwise the name is first converted to modified UTF-7
            (RFC 3501 §5.1.3) with :func:`trimail.imap._mutf7.encode`.

    Returns:
        An atom when the (encoded) name is one, e.g. ``b"INBOX"``, ``b"&AMQ-b"``;
        otherwise a quoted string or literal. Names containing ``]`` are quoted too:
        it is a valid astring character, but some client parsers stop at it.

    Raises:
        ValueError: ``name`` holds a lone surrogate (not encodable in modified UTF-7).
    """
    data = _as_bytes(name if utf8 else _mutf7.encode(name))
    if b"]" in data:
        return quoted_or_literal(data, utf8=utf8)
    return astring(data, utf8=utf8)
