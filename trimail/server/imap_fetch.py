"""Rendering one ``* n FETCH (...)`` response (RFC 3501 §7.4.2, RFC 9051 §7.5.2).

Cached items (UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, BODY,
MODSEQ) come from the index; body sections need the message octets. Pure: the caller
loads what `needs_octets` says it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trimail.imap._commands import FetchAttribute, Section
from trimail.imap._values import (
    astring,
    render_bodystructure,
    render_envelope,
    render_internaldate,
)
from trimail.mail.sections import UnknownTransferEncoding, decode_part, fetch_section, partial
from trimail.storage.api import CachedFetch, MessageInfo

__all__ = [
    "CACHED_ITEMS",
    "FetchFailed",
    "needs_octets",
    "render_cached",
    "render_fetch",
    "sets_seen",
]

_OCTET_ITEMS = frozenset(
    {"BODY[]", "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
)


CACHED_ITEMS = frozenset(
    {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "MODSEQ"}
)
"""Items `MailStore.fetch_cached` answers without decoding the cached JSON."""


class FetchFailed(Exception):
    """A body part cannot be served (``NO [UNKNOWN-CTE]``, RFC 3516 §4.3)."""


def _is_section(att: FetchAttribute) -> bool:
    return att.name == "BODY" and att.section is not None


def needs_octets(attributes: Iterable[FetchAttribute]) -> bool:
    """True if any item needs the message file (a body section, RFC822*, BINARY*)."""
    return any(_is_section(a) or a.name in _OCTET_ITEMS for a in attributes)


def sets_seen(attributes: Iterable[FetchAttribute]) -> bool:
    """True if fetching these items sets ``\\Seen`` (RFC 3501 §6.4.5: BODY[], RFC822,
    RFC822.TEXT and BINARY[] without .PEEK)."""
    return any(
        (_is_section(a) and not a.peek)
        or (a.name == "BINARY" and not a.peek)
        or a.name in ("RFC822", "RFC822.TEXT")
        for a in attributes
    )


def _section_spec(section: Section) -> bytes:
    parts = [".".join(str(n) for n in section.part)] if section.part else []
    if section.text:
        parts.append(section.text)
    spec = ".".join(parts).encode()
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        spec += b" (" + b" ".join(astring(f) for f in section.fields) + b")"
    return spec


def _literal(data: bytes, *, binary: bool = False) -> bytes:
    """A literal; NUL is not CHAR8 (RFC 3501 §9), so outside BINARY (where ``~{n}``
    may carry it, RFC 3516) a stored NUL is sent as 0x80, keeping every size."""
    if b"\0" not in data:
        return b"{%d}\r\n" % len(data) + data
    if binary:
        return b"~{%d}\r\n" % len(data) + data
    return b"{%d}\r\n" % len(data) + data.replace(b"\0", b"\x80")


def _cut(data: bytes, att: FetchAttribute) -> tuple[bytes, bytes]:
    """Apply ``<origin.count>``; return (data, the ``<origin>`` suffix of the name)."""
    if att.partial is None:
        return data, b""
    origin, count = att.partial
    return partial(data, origin, count), b"<%d>" % origin


def _body_section(raw: bytes, section: Section) -> bytes:
    data = fetch_section(raw, section.part, section.text, section.fields)
    return b"" if data is None else data


def render_fetch(
    seq: int,
    info: MessageInfo,
    attributes: Iterable[FetchAttribute],
    *,
    raw: bytes | None,
    flags: bytes,
    utf8: bool,
) -> bytes:
    """One FETCH response line (with literals), ending CRLF.

    Args:
        seq: the message sequence number.
        info: the cached data of the message.
        attributes: the items, in the order to answer them (UID/FLAGS/MODSEQ added by
            the caller as needed).
        raw: the message octets if `needs_octets`, else None.
        flags: the rendered FLAGS list (the session adds ``\\Recent``).
        utf8: UTF8=ACCEPT/IMAP4rev2 is on (8-bit strings may be quoted).

    Raises:
        FetchFailed: BINARY of a part with an unknown Content-Transfer-Encoding.
    """
    items: list[bytes] = []
    seen: set[tuple[object, ...]] = set()
    for att in attributes:
        key = (att.name, att.section, att.partial)  # BODY.PEEK[] answers as BODY[]
        if key in seen:
            continue
        seen.add(key)
        items.append(_item(info, att, raw=raw, flags=flags, utf8=utf8))
    return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(items))


def _item(
    info: MessageInfo, att: FetchAttribute, *, raw: bytes | None, flags: bytes, utf8: bool
) -> bytes:
    name = att.name
    if name == "UID":
        return b"UID %d" % info.uid
    if name == "FLAGS":
        return b"FLAGS " + flags
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + render_internaldate(info.internal_date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % info.size
    if name == "ENVELOPE":
        return b"ENVELOPE " + render_envelope(info.envelope, utf8=utf8)
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + render_bodystructure(
            info.bodystructure, extensible=True, utf8=utf8
        )
    if name == "MODSEQ":
        return b"MODSEQ (%d)" % info.modseq
    if name == "BODY" and att.section is None:
        return b"BODY " + render_bodystructure(info.bodystructure, extensible=False, utf8=utf8)
    assert raw is not None, f"{name} needs the message octets"
    if name == "RFC822":
        return b"RFC822 " + _literal(raw)
    if name == "RFC822.HEADER":
        return b"RFC822.HEADER " + _literal(_body_section(raw, Section(text="HEADER")))
    if name == "RFC822.TEXT":
        return b"RFC822.TEXT " + _literal(_body_section(raw, Section(text="TEXT")))
    section = att.section or Section()
    if name == "BODY":
        data, origin = _cut(_body_section(raw, section), att)
        return b"BODY[" + _section_spec(section) + b"]" + origin + b" " + _literal(data)
    try:
        decoded = decode_part(raw, section.part) or b""
    except UnknownTransferEncoding:
        raise FetchFailed("unknown Content-Transfer-Encoding") from None
    spec = ".".join(str(n) for n in section.part).encode()
    if name == "BINARY.SIZE":
        return b"BINARY.SIZE[" + spec + b"] %d" % len(decoded)
    data, origin = _cut(decoded, att)
    return b"BINARY[" + spec + b"]" + origin + b" " + _literal(data, binary=True)


def render_cached(seq: int, item: CachedFetch, names: Sequence[str], *, flags: bytes) -> bytes:
    """One FETCH response of `CACHED_ITEMS` only, from `CachedFetch` bytes (fast path).

    Args:
        seq: the message sequence number.
        item: the cached items.
        names: the item names in answer order, each in `CACHED_ITEMS`, no duplicates.
        flags: the rendered FLAGS list.
    """
    parts = []
    for name in names:
        if name == "UID":
            parts.append(b"UID %d" % item.uid)
        elif name == "FLAGS":
            parts.append(b"FLAGS " + flags)
        elif name == "RFC822.SIZE":
            parts.append(b"RFC822.SIZE %d" % item.size)
        elif name == "ENVELOPE":
            parts.append(b"ENVELOPE " + item.envelope)
        elif name == "BODYSTRUCTURE":
            parts.append(b"BODYSTRUCTURE " + item.bodystructure)
        elif name == "INTERNALDATE":
            parts.append(b"INTERNALDATE " + render_internaldate(item.internal_date))
        else:  # MODSEQ
            parts.append(b"MODSEQ (%d)" % item.modseq)
    return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts))
