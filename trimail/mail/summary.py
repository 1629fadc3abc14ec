"""The message summary cached at delivery: IMAP ENVELOPE, BODYSTRUCTURE, header fields.

Everything here reads the raw RFC 5322 bytes and never re-serializes them (see
ARCHITECTURE.md, "Bytes as received"). The MIME tree is cut on byte offsets, so every
size and line count is that of the octets a later ``FETCH BODY[...]`` returns.
Header values are unfolded (RFC 5322 §2.2.3) but otherwise raw: encoded words
(RFC 2047) stay encoded, because IMAP's ENVELOPE and BODYSTRUCTURE carry raw values
(RFC 3501 §7.4.2). Parameter values and display names are unquoted, as on the wire
an IMAP string carries the value, not its quoting.

Shapes (plain JSON-able values, so the store can cache them as JSON; an IMAP renderer
maps ``str`` -> string, ``int`` -> number, ``None`` -> NIL, ``list`` -> parenthesized
list):

* ENVELOPE: ``[date, subject, from, sender, reply_to, to, cc, bcc, in_reply_to,
  message_id]`` where the address fields are ``None`` or lists of
  ``[name, route, mailbox, host]``; a group is ``[None, None, group_name, None]``,
  its members, then ``[None, None, None, None]`` (RFC 3501 §7.4.2).
* BODYSTRUCTURE (RFC 3501 §7.4.2, extension data included):
  a leaf is ``[type, subtype, params, id, description, encoding, size, ...]``
  (+ ``envelope, body, lines`` for MESSAGE/RFC822, + ``lines`` for TEXT/*)
  + ``md5, disposition, language, location``; a multipart is
  ``[part, part, ..., subtype, params, disposition, language, location]``. A multipart
  is recognised by its first element being a list. ``params`` is ``None`` or a flat
  ``[attr, value, ...]`` list; ``disposition`` is ``None`` or ``[type, params]``;
  ``language`` is ``None`` or a list of strings.

This module does no I/O and never raises on any input bytes.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import re
from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

__all__ = [
    "ENVELOPE_FIELDS",
    "SUMMARY_HEADER_FIELDS",
    "BodyStructure",
    "ImapEnvelope",
    "MessageSummary",
    "summarize",
]

JsonValue: TypeAlias = Any
"""A nested structure of ``list``, ``str``, ``int`` and ``None`` (see module docs)."""
ImapEnvelope: TypeAlias = list[JsonValue]
BodyStructure: TypeAlias = list[JsonValue]

SUMMARY_HEADER_FIELDS: tuple[str, ...] = (
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "reply-to",
    "sender",
    "list-id",
)
"""Header fields (lower-cased) cached for SEARCH and HEADER.FIELDS without file opens."""

ENVELOPE_FIELDS: tuple[str, ...] = (
    "date",
    "subject",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "in-reply-to",
    "message-id",
)
"""ENVELOPE field order (RFC 3501 §7.4.2)."""

_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc"})

MAX_MIME_DEPTH = 32  # nested multiparts / message/rfc822; deeper ones become leaves
MAX_MIME_PARTS = 2000  # parts per message; later delimiters are treated as part content
MISSING_HOST = ".MISSING-HOST-NAME."  # host for an address without "@" (as UW, Dovecot)

_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")  # RFC 5322 §2.2 + obs WSP
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


@attrs.frozen(kw_only=True)
class MessageSummary:
    """What IMAP needs about a message, computed once at delivery.

    Attributes:
        size: RFC822.SIZE, octets of the stored message (RFC 3501 §7.4.2).
        envelope: the ENVELOPE as a JSON-able list (module docs).
        bodystructure: the BODYSTRUCTURE with extension data, JSON-able (module docs).
        headers: lower-cased field name (one of :data:`SUMMARY_HEADER_FIELDS`) ->
            every occurrence's unfolded raw value, in message order. Absent fields are
            missing keys.
        date: the first Date: field parsed (RFC 5322 §3.3), timezone-aware (``-0000``
            becomes UTC); ``None`` if absent or invalid.
    """

    size: int
    envelope: ImapEnvelope
    bodystructure: BodyStructure
    headers: Mapping[str, tuple[str, ...]]
    date: _dt.datetime | None


def summarize(raw: bytes) -> MessageSummary:
    """Compute the summary of one message.

    Args:
        raw: the whole message as stored (trace headers included), CRLF or LF line
            endings; any bytes at all.

    Returns:
        The :class:`MessageSummary`; ``size == len(raw)``.

    Error handling:
        Never raises on any input bytes. Malformed syntax is read leniently (as
        Dovecot does); should an unexpected internal error happen anyway, a minimal
        summary (all-NIL ENVELOPE, one TEXT/PLAIN leaf) is returned instead.
    """
    try:
        return _summarize_strict(raw)
    except Exception:  # defensive: a summary must never block a delivery
        return MessageSummary(
            size=len(raw),
            envelope=[None] * 10,
            bodystructure=_default_leaf(len(raw), raw.count(b"\n")),
            headers={},
            date=None,
        )


def _summarize_strict(raw: bytes) -> MessageSummary:
    """Like :func:`summarize`, without the safety net (tests call this directly)."""
    raw = bytes(raw)
    fields, body_start = _parse_header(raw, 0, len(raw))
    wanted = set(SUMMARY_HEADER_FIELDS)
    headers: dict[str, list[str]] = {}
    for name, value in fields:
        if name in wanted:
            headers.setdefault(name, []).append(_text(value))
    structure = _entity_structure(raw, 0, len(raw), fields, body_start, "text/plain", 0, [0])
    return MessageSummary(
        size=len(raw),
        envelope=_envelope(fields),
        bodystructure=structure,
        headers={k: tuple(v) for k, v in headers.items()},
        date=_parse_date(_first(fields, "date")),
    )


# --- header block -------------------------------------------------------------------


def _parse_header(data: bytes, start: int, end: int) -> tuple[list[tuple[str, str]], int]:
    """Split the header block of the entity at ``data[start:end]`` (RFC 5322 §2.2).

    Returns:
        ``(fields, body_start)``: fields as (lower-cased name, unfolded value decoded
        UTF-8 with surrogateescape), and the offset of the body: after the empty line,
        or at the first line that is neither a field nor a continuation (lenient, as
        the stdlib parser), or ``end`` if there is no body.
    """
    fields: list[tuple[str, list[bytes]]] = []
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = data[pos:line_end].rstrip(b"\r\n")
        if not line:
            return _finish_fields(fields), line_end
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1].append(line)
        else:
            m = _FIELD_NAME.match(line)
            if m is None:
                if pos == start and line.startswith(b"From "):  # mbox separator
                    pos = line_end
                    continue
                return _finish_fields(fields), pos
            name = m.group()[:-1].rstrip(b" \t").decode("ascii").lower()
            fields.append((name, [line[m.end() :]]))
        pos = line_end
    return _finish_fields(fields), end


def _finish_fields(fields: list[tuple[str, list[bytes]]]) -> list[tuple[str, str]]:
    """Unfold (RFC 5322 §2.2.3) and decode each field; strip surrounding WSP."""
    out = []
    for name, lines in fields:
        value = b"".join(lines).strip(b" \t")
        out.append((name, value.decode("utf-8", "surrogateescape")))
    return out


def _first(fields: list[tuple[str, str]], name: str) -> str | None:
    for field_name, value in fields:
        if field_name == name:
            return value
    return None


def _text(value: str) -> str:
    """Make an internal (surrogateescape) string safe for JSON/SQLite: bad UTF-8 -> U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _parse_date(value: str | None) -> _dt.datetime | None:
    """Parse a Date: value (RFC 5322 §3.3, obsolete forms too); None if invalid."""
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_text(value))
    except Exception:  # the stdlib raises several types on garbage
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # "-0000": time in UTC, zone unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed


# --- ENVELOPE -------------------------------------------------------------------------


def _envelope(fields: list[tuple[str, str]]) -> ImapEnvelope:
    """Build the ENVELOPE (RFC 3501 §7.4.2) from the first occurrence of each field."""
    values: dict[str, JsonValue] = {}
    for name in ENVELOPE_FIELDS:
        raw = _first(fields, name)
        if name in _ADDRESS_FIELDS:
            values[name] = None if raw is None else (parse_address_list(raw) or None)
        else:
            values[name] = _opt_text(raw)
    for name in ("sender", "reply-to"):  # absent or empty: same as From
        if values[name] is None:
            values[name] = values["from"]
    return [values[name] for name in ENVELOPE_FIELDS]


_SPECIALS = "<>@,;:.[]"


def _tokenize(value: str) -> list[tuple[str, str, bool]]:
    """Split an address-list into (kind, text, space_before) tokens (RFC 5322 §3.2).

    Kinds: ``atom``, ``quoted`` (text unescaped), ``comment`` (text of the outer
    comment), ``literal`` (a ``[...]`` domain literal, brackets kept), or the special
    character itself. Unterminated quotes, comments and literals end at the end.
    """
    tokens: list[tuple[str, str, bool]] = []
    i, n, space = 0, len(value), False
    while i < n:
        c = value[i]
        if c in " \t\r\n":
            space, i = True, i + 1
            continue
        if c == '"':
            text, i = _scan_quoted(value, i + 1, '"')
            tokens.append(("quoted", text, space))
        elif c == "(":
            text, i = _scan_comment(value, i + 1)
            tokens.append(("comment", text, space))
        elif c == "[":
            close = value.find("]", i)
            j = n if close < 0 else close + 1
            tokens.append(("literal", value[i:j], space))
            i = j
        elif c in _SPECIALS:
            tokens.append((c, c, space))
            i += 1
        elif c == ")":  # stray close of a comment: dropped
            i += 1
            continue
        else:
            j = i
            while j < n and value[j] not in ' \t\r\n"()' + _SPECIALS:
                j += 1
            tokens.append(("atom", value[i:j], space))
            i = j
        space = False
    return tokens


def _scan_quoted(value: str, i: int, close: str) -> tuple[str, int]:
    """Read up to an unescaped ``close``; return (unescaped text, index after it)."""
    out = []
    while i < len(value) and value[i] != close:
        if value[i] == "\\" and i + 1 < len(value):
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out), i + 1


def _scan_comment(value: str, i: int) -> tuple[str, int]:
    """Read a possibly nested comment (RFC 5322 §3.2.2); return (text, index after)."""
    out, depth = [], 1
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return "".join(out), i + 1
        out.append(c)
        i += 1
    return "".join(out), i


def parse_address_list(value: str) -> list[list[str | None]]:
    """Parse an address-list into ENVELOPE addresses (RFC 5322 §3.4, RFC 3501 §7.4.2).

    Args:
        value: the unfolded raw field value (str; 8-bit text already decoded).

    Returns:
        ``[name, route, mailbox, host]`` lists; groups are bracketed by
        ``[None, None, group, None]`` and ``[None, None, None, None]``. The name is the
        display phrase (unquoted, encoded words left raw) or else a trailing comment;
        a mailbox without ``@`` gets host :data:`MISSING_HOST`. Empty for no address.
        Lenient: never raises.
    """
    parser = _AddressParser(_tokenize(value))
    return parser.address_list()


class _AddressParser:
    """Recursive-descent reader over :func:`_tokenize` tokens, tolerant of garbage."""

    def __init__(self, tokens: list[tuple[str, str, bool]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.out: list[list[str | None]] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def address_list(self) -> list[list[str | None]]:
        while self.pos < len(self.tokens):
            if self.peek() in (",", ";", ">"):
                self.pos += 1
                continue
            self.address(in_group=False)
        return [[_opt_text(x) for x in addr] for addr in self.out]

    def address(self, *, in_group: bool) -> None:
        phrase, comment = self.words(stop=("<", ">", "@", ":", ",", ";"))
        kind = self.peek()
        if kind == ":" and not in_group:
            self.pos += 1
            self.out.append([None, None, _join(phrase) or "", None])
            while self.pos < len(self.tokens) and self.peek() != ";":
                if self.peek() in (",", ">", ":"):
                    self.pos += 1
                    continue
                self.address(in_group=True)
            self.pos += 1  # the ";" (or past the end)
            self.out.append([None, None, None, None])
        elif kind == "<":
            self.pos += 1
            self.angle_addr(_join(phrase) or comment)
        elif kind == "@":
            self.pos += 1
            domain, trailing = self.words(stop=(",", ";", "<", ">", ":"))
            self.add(None, _join(phrase, raw=True), _join(domain, raw=True), comment or trailing)
        elif phrase:  # a bare local part ("undisclosed-recipients") or garbage
            self.add(None, _join(phrase, raw=True), MISSING_HOST, comment)

    def angle_addr(self, name: str | None) -> None:
        route: list[str] = []
        while self.peek() == "@":  # obs-route "<@a,@b:user@host>" (RFC 5322 §4.4)
            self.pos += 1
            domain, _ = self.words(stop=(",", ":", ">", "@"))
            route.append("@" + _join(domain, raw=True))
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == ":":
                self.pos += 1
                break
        local, _ = self.words(stop=("@", ">", ",", ";", "<"))
        host: str | None = MISSING_HOST
        if self.peek() == "@":
            self.pos += 1
            domain, _ = self.words(stop=(">", ",", ";", "<"))
            host = _join(domain, raw=True)
        if self.peek() == ">":
            self.pos += 1
        _, trailing_comment = self.words(stop=(",", ";", "<", "@", ":"))  # after ">"
        if local or host != MISSING_HOST:
            self.add(
                name, _join(local, raw=True), host, trailing_comment, route=",".join(route) or None
            )

    def words(self, stop: tuple[str, ...]) -> tuple[list[tuple[str, str, bool]], str | None]:
        """Collect tokens until one of ``stop``; comments are dropped, first one returned."""
        words: list[tuple[str, str, bool]] = []
        comment: str | None = None
        while self.pos < len(self.tokens):
            kind, text, space = self.tokens[self.pos]
            if kind in stop:
                break
            self.pos += 1
            if kind == "comment":
                comment = comment if comment is not None else text.strip()
                continue
            words.append((kind, text, space))
        return words, comment or None

    def add(
        self,
        name: str | None,
        mailbox: str,
        host: str | None,
        comment: str | None,
        *,
        route: str | None = None,
    ) -> None:
        self.out.append([name if name else (comment or None), route, mailbox, host])


def _join(words: list[tuple[str, str, bool]], *, raw: bool = False) -> str:
    """Join phrase or addr-spec tokens.

    A phrase (``raw=False``) keeps single spaces where the source had white space and
    unquotes quoted strings. An addr-spec part (``raw=True``) drops white space and
    keeps quoted strings quoted, so ``"john doe"@example.com`` stays a valid address.
    """
    out = []
    for i, (kind, text, space) in enumerate(words):
        if space and i and not raw:
            out.append(" ")
        if kind == "quoted" and raw:
            out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            out.append(text)
    return "".join(out)


# --- BODYSTRUCTURE --------------------------------------------------------------------


def _default_leaf(size: int, lines: int) -> BodyStructure:
    return [
        "TEXT",
        "PLAIN",
        ["CHARSET", "US-ASCII"],
        None,
        None,
        "7BIT",
        size,
        lines,
        None,
        None,
        None,
        None,
    ]


def _entity_structure(
    data: bytes,
    start: int,
    end: int,
    fields: list[tuple[str, str]],
    body_start: int,
    default_type: str,
    depth: int,
    part_count: list[int],
) -> BodyStructure:
    """BODYSTRUCTURE of the entity ``data[start:end]`` whose header is already parsed.

    Args:
        data: the whole message; offsets index into it.
        start, end: the entity's octets (header + body), end exclusive.
        fields: its parsed header fields; body_start: offset of its body.
        default_type: "text/plain", or "message/rfc822" inside multipart/digest
            (RFC 2046 §5.1.5).
        depth: nesting depth so far; part_count: one-element running count of parts.
    """
    part_count[0] += 1
    ctype_raw = _first(fields, "content-type")
    mtype, subtype, params = _content_type(ctype_raw, default_type)
    body_size = end - body_start
    boundary = _raw_boundary(ctype_raw)
    too_deep = depth >= MAX_MIME_DEPTH or part_count[0] > MAX_MIME_PARTS
    if mtype == "MULTIPART" and not too_deep and boundary:
        return _multipart(
            data, body_start, end, fields, subtype, params, boundary, depth, part_count
        )
    if mtype == "MULTIPART":  # no boundary or too deep: report an opaque leaf
        mtype, subtype = "APPLICATION", "OCTET-STREAM"
    encoding = (_first(fields, "content-transfer-encoding") or "").strip()
    leaf: BodyStructure = [
        mtype,
        subtype,
        params,
        _opt_text(_first(fields, "content-id")),
        _opt_text(_first(fields, "content-description")),
        _text(encoding.upper()) if encoding else "7BIT",
        body_size,
    ]
    lines = data.count(b"\n", body_start, end)
    if body_size and data[end - 1 : end] != b"\n":
        lines += 1
    if mtype == "MESSAGE" and subtype == "RFC822" and not too_deep:
        inner_fields, inner_body = _parse_header(data, body_start, end)
        leaf.append(_envelope(inner_fields))
        leaf.append(
            _entity_structure(
                data, body_start, end, inner_fields, inner_body, "text/plain", depth + 1, part_count
            )
        )
        leaf.append(lines)
    elif mtype == "MESSAGE" and subtype == "RFC822":
        mtype = leaf[0] = "APPLICATION"
        leaf[1] = "OCTET-STREAM"
    elif mtype == "TEXT":
        leaf.append(lines)
    leaf.append(_opt_text(_first(fields, "content-md5")))
    leaf.extend(_extension(fields))
    return leaf


def _multipart(
    data: bytes,
    body_start: int,
    end: int,
    fields: list[tuple[str, str]],
    subtype: str,
    params: list[str | None] | None,
    boundary: str,
    depth: int,
    part_count: list[int],
) -> BodyStructure:
    """Split a multipart body on its delimiter lines (RFC 2046 §5.1.1).

    The CRLF before each delimiter belongs to the delimiter; preamble and epilogue are
    not parts. Without a close-delimiter the last part runs to the end. With no part at
    all, one empty TEXT/PLAIN part is reported (clients need at least one).
    """
    delimiter = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"(--)?[ \t]*\r?$",
        re.MULTILINE,
    )
    default_type = "message/rfc822" if subtype == "DIGEST" else "text/plain"
    parts: list[BodyStructure] = []
    part_start: int | None = None
    for m in delimiter.finditer(data, body_start, end):
        if part_start is not None:
            parts.append(
                _part(
                    data,
                    part_start,
                    _line_start(data, m.start(), part_start),
                    default_type,
                    depth,
                    part_count,
                )
            )
            if part_count[0] > MAX_MIME_PARTS:
                part_start = None
                break
        if m.group(1):  # close-delimiter
            part_start = None
            break
        newline = data.find(b"\n", m.end(), end)
        part_start = end if newline < 0 else newline + 1
    if part_start is not None:
        parts.append(_part(data, part_start, end, default_type, depth, part_count))
    if not parts:
        parts.append(_default_leaf(0, 0))
    return [*parts, subtype, params or None, *_extension(fields)]


def _line_start(data: bytes, delimiter_at: int, floor: int) -> int:
    """End of a part's content: the delimiter's offset minus its leading CRLF or LF."""
    stop = delimiter_at
    if stop > floor and data[stop - 1 : stop] == b"\n":
        stop -= 1
        if stop > floor and data[stop - 1 : stop] == b"\r":
            stop -= 1
    return stop


def _part(
    data: bytes, start: int, end: int, default_type: str, depth: int, part_count: list[int]
) -> BodyStructure:
    fields, body_start = _parse_header(data, start, end)
    return _entity_structure(
        data, start, end, fields, body_start, default_type, depth + 1, part_count
    )


def _extension(fields: list[tuple[str, str]]) -> list[JsonValue]:
    """Body extension data: disposition, language, location (RFC 3501 §7.4.2)."""
    disposition: JsonValue = None
    raw_disp = _first(fields, "content-disposition")
    if raw_disp is not None:
        head, params = _split_params(raw_disp)
        if head:
            disposition = [_text(head).upper(), params]
    language: JsonValue = None
    raw_lang = _first(fields, "content-language")
    if raw_lang is not None:
        tags = [t.strip() for t in _text(raw_lang).split(",") if t.strip()]
        language = tags or None
    return [disposition, language, _opt_text(_first(fields, "content-location"))]


def _content_type(raw: str | None, default: str) -> tuple[str, str, list[str | None] | None]:
    """Parse Content-Type (RFC 2045 §5.1): upper-cased type, subtype and params.

    A missing or unparsable type gives the default (RFC 2045 §5.2); a defaulted
    TEXT/PLAIN without a charset gets ``CHARSET US-ASCII``.
    """
    head, params = ("", None) if raw is None else _split_params(raw)
    mtype, _, subtype = head.partition("/")
    mtype, subtype = mtype.strip(), subtype.strip()
    defaulted = not (_is_token(mtype) and _is_token(subtype))
    if defaulted:
        mtype, _, subtype = default.partition("/")
    mtype, subtype = _text(mtype).upper(), _text(subtype).upper()
    if defaulted and mtype == "TEXT" and _param(params, "CHARSET") is None:
        params = ["CHARSET", "US-ASCII", *(params or [])]
    return mtype, subtype, params


def _is_token(text: str) -> bool:
    return bool(text) and not any(c in ' \t()<>@,;:\\"/[]?=' or ord(c) < 33 for c in text)


def _param(params: list[str | None] | None, name: str) -> str | None:
    if not params:
        return None
    for i in range(0, len(params) - 1, 2):
        if params[i] == name:
            return params[i + 1]
    return None


def _split_params(value: str) -> tuple[str, list[str | None] | None]:
    """Split ``head; a=b; c="d"`` into head and a flat params list for BODYSTRUCTURE.

    Names are upper-cased, values unquoted and made JSON-safe (:func:`_text`). RFC 2231
    continuations (``name*0``, ``name*1*``) are joined into one ``name`` (or ``name*``
    when any piece is extended, keeping its ``charset'lang'`` prefix and percent escapes
    raw), as Dovecot reports them. Comments are dropped. Returns ``None`` for no params.
    """
    head, pairs = _parse_params(value)
    flat: list[str | None] = []
    for name, val in pairs:
        flat.extend((_text(name), _text(val)))
    return head, flat or None


def _parse_params(value: str) -> tuple[str, list[tuple[str, str]]]:
    """Parse a parameterized field (RFC 2045 §5.1, RFC 2231 §3) into head and pairs."""
    pieces = _split_unquoted(value, ";")
    head = _strip_comments(pieces[0]).strip()
    plain: list[tuple[str, str]] = []
    continued: dict[str, dict[int, tuple[str, bool]]] = {}
    for piece in pieces[1:]:
        name, eq, val = piece.partition("=")
        name = _strip_comments(name).strip().upper()
        if not eq or not name:
            continue
        val = _unquote(val.strip())
        m = re.fullmatch(r"(.+?)\*(\d{1,5})(\*?)", name)
        if m:
            continued.setdefault(m.group(1), {})[int(m.group(2))] = (val, bool(m.group(3)))
        else:
            plain.append((name, val))
    for name, sections in continued.items():
        ordered = [sections[i] for i in sorted(sections)]
        extended = any(ext for _, ext in ordered)
        plain.append((name + "*" if extended else name, "".join(v for v, _ in ordered)))
    return head, plain


def _raw_boundary(raw_content_type: str | None) -> str | None:
    """The boundary parameter as found (surrogateescape), so it matches body bytes."""
    if raw_content_type is None:
        return None
    for name, val in _parse_params(raw_content_type)[1]:
        if name == "BOUNDARY":
            return val
    return None


def _split_unquoted(value: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted strings and comments."""
    pieces, current, quoted, depth, i = [], [], False, 0, 0
    while i < len(value):
        c = value[i]
        if c == "\\" and (quoted or depth) and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if c == '"' and not depth:
            quoted = not quoted
        elif c == "(" and not quoted:
            depth += 1
        elif c == ")" and not quoted and depth:
            depth -= 1
        elif c == sep and not quoted and not depth:
            pieces.append("".join(current))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    pieces.append("".join(current))
    return pieces


def _strip_comments(text: str) -> str:
    out, depth = [], 0
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(c)
    return "".join(out)


def _unquote(val: str) -> str:
    """Unquote a quoted-string value (RFC 2045 §5.1); a token loses trailing comments."""
    if val.startswith('"'):
        text, _ = _scan_quoted(val, 1, '"')
        return text
    return _strip_comments(val).strip()
