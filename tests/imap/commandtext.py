"""Render parsed IMAP command parts back to wire text, for round-trip tests."""

from __future__ import annotations

import datetime as dt

from trimail.imap import FetchAttribute, SearchKey, Section, SequenceSet

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def string(value: str) -> bytes:
    """A quoted string if it can be one, else a non-synchronizing literal."""
    raw = value.encode("utf-8")
    if b"\r" in raw or b"\n" in raw or b"\x00" in raw:
        return b"{%d+}\r\n" % len(raw) + raw
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def date(value: dt.date) -> bytes:
    return f"{value.day}-{_MONTHS[value.month - 1]}-{value.year:04d}".encode("ascii")


def search_key(key: SearchKey) -> bytes:
    """One search key (RFC 3501 §6.4.4); AND nodes become parenthesized lists."""
    op, args = key.op, key.args
    if op == "AND":
        return b"(" + b" ".join(search_key(k) for k in args) + b")"  # type: ignore[arg-type]
    if op == "SEQSET":
        return str(args[0]).encode("ascii")
    parts = [op.encode("ascii")]
    for arg in args:
        if isinstance(arg, SearchKey):
            parts.append(search_key(arg))
        elif isinstance(arg, SequenceSet):
            parts.append(str(arg).encode("ascii"))
        elif isinstance(arg, dt.date):
            parts.append(date(arg))
        elif isinstance(arg, int) or op in ("KEYWORD", "UNKEYWORD"):
            parts.append(str(arg).encode("ascii"))
        else:
            parts.append(string(str(arg)))
    return b" ".join(parts)


def search_program(program: SearchKey) -> bytes:
    """The keys of a top-level AND, space separated (RFC 3501 §6.4.4)."""
    return b" ".join(search_key(k) for k in program.args)  # type: ignore[arg-type]


def section(value: Section, *, binary: bool = False) -> bytes:
    pieces = [str(n) for n in value.part]
    if value.text:
        pieces.append(value.text)
    text = ".".join(pieces).encode("ascii")
    if value.fields:
        text += b" (" + b" ".join(string(f) for f in value.fields) + b")"
    return b"[" + text + b"]"


def fetch_attribute(att: FetchAttribute) -> bytes:
    name = att.name
    if att.section is None:
        return name.encode("ascii")
    if att.peek:
        name += ".PEEK"
    out = name.encode("ascii") + section(att.section)
    if att.partial is not None:
        out += b"<%d.%d>" % att.partial
    return out
