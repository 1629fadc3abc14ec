"""Body sections of a stored message: ``BODY[section]``, ``<partial>``, ``BINARY[]``.

Everything works on the raw message octets and byte offsets; nothing is re-serialized
(see ARCHITECTURE.md, "Bytes as received"). The MIME tree is cut exactly as
:mod:`trimail.mail.summary` cuts it for BODYSTRUCTURE (same header parser, same
multipart delimiter rule, same depth and part limits), so part ``n`` here is part
``n`` of the cached BODYSTRUCTURE and its size is that BODYSTRUCTURE's size.

Part numbering (RFC 3501 §6.4.5, RFC 9051 §6.4.5, and imaptest's fetch-body-*
scripts): the parts of a *message* are its multipart children, or, for a
non-multipart message, the message itself as part 1 (so ``BODY[1]`` is its body and
``BODY[1.MIME]`` its header). A multipart part numbers its children; a MESSAGE/RFC822
part numbers the parts of the message it encapsulates, and ``n.HEADER`` / ``n.TEXT``
/ ``n.HEADER.FIELDS`` address that message.

This module does no I/O and never raises on any message bytes; the only errors are
the documented ones for invalid arguments and :class:`UnknownTransferEncoding`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator

import attrs

from trimail.mail.summary import (
    _FIELD_NAME,
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    _content_type,
    _first,
    _line_start,
    _parse_header,
    _raw_boundary,
    _strip_comments,
)

__all__ = [
    "SECTION_TEXTS",
    "MimeEntity",
    "MimeTree",
    "UnknownTransferEncoding",
    "decode_part",
    "fetch_section",
    "partial",
]

SECTION_TEXTS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})
"""The ``section-text`` / ``section-msgtext`` specifiers (RFC 3501 §9), upper-case."""

IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})  # RFC 2045 §6.2


class UnknownTransferEncoding(Exception):
    """BINARY[] of a part whose Content-Transfer-Encoding we cannot decode (RFC 3516 §4.1).

    The driver answers ``NO [UNKNOWN-CTE]`` (RFC 3516 §4.1, RFC 9051 §7.1).

    Attributes:
        encoding: the encoding as found, lower-cased, e.g. ``"x-uuencode"``.
    """

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding: {encoding!r}")
        self.encoding = encoding


@attrs.define(slots=True, eq=False)
class MimeEntity:
    """One MIME entity as byte offsets into the message (read-only by convention).

    Attributes:
        start: offset of its first header octet (its MIME header for a part).
        body_start: offset of its first body octet.
        end: offset one past its last octet.
        mtype, subtype: upper-case media type as BODYSTRUCTURE reports it.
        params: Content-Type parameters, flat ``[NAME, value, ...]``, or None.
        encoding: Content-Transfer-Encoding, lower-cased, comments removed; ``""``
            if absent.
        children: the parts of a multipart that was split, else None.
        message: the encapsulated message of a parsed MESSAGE/RFC822, else None.
    """

    start: int
    body_start: int
    end: int
    mtype: str
    subtype: str
    params: list[str | None] | None
    encoding: str
    children: list[MimeEntity] | None = None
    message: MimeEntity | None = None


class MimeTree:
    """The MIME tree of one message, parsed once for several section fetches.

    Args:
        raw: the whole stored message, any bytes.

    Attributes:
        raw: the message octets.
        root: the message's entity (``start`` 0, ``end`` ``len(raw)``).

    Error handling:
        Never raises on any bytes. Should the lenient parser fail anyway, the tree
        is what :func:`trimail.mail.summary.summarize` then reports: one part whose
        body is the whole message.
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = bytes(raw)
        try:
            fields, body_start = _parse_header(self.raw, 0, len(self.raw))
            self.root = _build(self.raw, 0, len(self.raw), fields, body_start, "text/plain", 0, [0])
        except Exception:  # defensive, mirrors summarize()'s fallback
            self.root = MimeEntity(0, 0, len(self.raw), "TEXT", "PLAIN", None, "")

    def find(self, part: tuple[int, ...]) -> MimeEntity | None:
        """The entity of a part number (RFC 3501 §6.4.5 numbering, see module docs).

        Args:
            part: part numbers, e.g. ``(2, 1)`` for ``2.1``; ``()`` gives None.

        Returns:
            The part's entity (for part 1 of a non-multipart message, the message
            itself), or None: a 0, a number past the last part, or sub-parts of a leaf.
        """
        entity: MimeEntity | None = None
        for n in part:
            if entity is None:
                siblings = _message_parts(self.root)
            elif entity.children is not None:
                siblings = entity.children
            elif entity.message is not None:
                siblings = _message_parts(entity.message)
            else:
                return None
            if not 1 <= n <= len(siblings):
                return None
            entity = siblings[n - 1]
        return entity

    def section(
        self, part: tuple[int, ...], text: str | None, fields: tuple[str, ...] = ()
    ) -> bytes | None:
        """The octets of ``BODY[section]``; see :func:`fetch_section`."""
        if text is not None and text not in SECTION_TEXTS:
            raise ValueError(f"unknown section text: {text!r}")
        if not part:
            if text == "MIME":
                raise ValueError("MIME needs a part number (RFC 3501 §6.4.5)")
            return self._message_section(self.root, text, fields)
        entity = self.find(part)
        if entity is None:
            return None
        if text is None:
            return self.raw[entity.body_start : entity.end]
        if text == "MIME":
            return self.raw[entity.start : entity.body_start]
        if entity.message is None:  # HEADER/TEXT need a MESSAGE/RFC822 part
            return None
        return self._message_section(entity.message, text, fields)

    def _message_section(
        self, message: MimeEntity, text: str | None, fields: tuple[str, ...]
    ) -> bytes:
        raw = self.raw
        if text is None:
            return raw[message.start : message.end]
        if text == "HEADER":
            return raw[message.start : message.body_start]
        if text == "TEXT":
            return raw[message.body_start : message.end]
        wanted = {name.lower() for name in fields}
        keep = text == "HEADER.FIELDS"
        out = []
        for name, start, end in _field_spans(raw, message.start, message.end):
            if (name in wanted) == keep:
                line = raw[start:end]
                out.append(line if line.endswith(b"\n") else line + b"\r\n")
        out.append(b"\r\n")
        return b"".join(out)

    def decode(self, part: tuple[int, ...]) -> bytes | None:
        """The octets of ``BINARY[part]``; see :func:`decode_part`."""
        if not part:
            return self.raw
        entity = self.find(part)
        if entity is None:
            return None
        return _decoded_body(self.raw, entity)

    def leaves(self) -> Iterator[tuple[MimeEntity, bytes | None]]:
        """Every leaf and encapsulated-message header, in message order (for SEARCH).

        Yields:
            ``(entity, None)`` for an encapsulated message (its header is
            ``raw[start:body_start]``), then ``(leaf, decoded body)`` for leaves; the
            decoded body is the raw body if its encoding is unknown.
        """
        yield from self._walk(self.root)

    def _walk(self, entity: MimeEntity) -> Iterator[tuple[MimeEntity, bytes | None]]:
        if entity.children is not None:
            for child in entity.children:
                yield from self._walk(child)
        elif entity.message is not None:
            yield entity.message, None
            yield from self._walk(entity.message)
        else:
            try:
                body = _decoded_body(self.raw, entity)
            except UnknownTransferEncoding:
                body = self.raw[entity.body_start : entity.end]
            yield entity, body


def _message_parts(message: MimeEntity) -> list[MimeEntity]:
    """Parts of a message: its multipart children, or the message itself as part 1."""
    return message.children if message.children is not None else [message]


# --- the tree, cut exactly as summary._entity_structure cuts it ----------------------


def _build(
    data: bytes,
    start: int,
    end: int,
    fields: list[tuple[str, str]],
    body_start: int,
    default_type: str,
    depth: int,
    part_count: list[int],
) -> MimeEntity:
    """Mirror of ``summary._entity_structure``, keeping offsets instead of values."""
    part_count[0] += 1
    ctype_raw = _first(fields, "content-type")
    mtype, subtype, params = _content_type(ctype_raw, default_type)
    boundary = _raw_boundary(ctype_raw)
    encoding = _strip_comments(_first(fields, "content-transfer-encoding") or "")
    entity = MimeEntity(start, body_start, end, mtype, subtype, params, encoding.strip().lower())
    too_deep = depth >= MAX_MIME_DEPTH or part_count[0] > MAX_MIME_PARTS
    if mtype == "MULTIPART" and not too_deep and boundary:
        entity.children = _split_multipart(
            data, body_start, end, subtype, boundary, depth, part_count
        )
    elif mtype == "MULTIPART":  # opaque leaf, as summary reports it
        entity.mtype, entity.subtype = "APPLICATION", "OCTET-STREAM"
    elif mtype == "MESSAGE" and subtype == "RFC822" and not too_deep:
        inner_fields, inner_body = _parse_header(data, body_start, end)
        entity.message = _build(
            data, body_start, end, inner_fields, inner_body, "text/plain", depth + 1, part_count
        )
    elif mtype == "MESSAGE" and subtype == "RFC822":
        entity.mtype, entity.subtype = "APPLICATION", "OCTET-STREAM"
    return entity


def _split_multipart(
    data: bytes,
    body_start: int,
    end: int,
    subtype: str,
    boundary: str,
    depth: int,
    part_count: list[int],
) -> list[MimeEntity]:
    """Mirror of ``summary._multipart`` (RFC 2046 §5.1.1): the parts' entities."""
    delimiter = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"(--)?[ \t]*\r?$",
        re.MULTILINE,
    )
    default_type = "message/rfc822" if subtype == "DIGEST" else "text/plain"
    parts: list[MimeEntity] = []
    part_start: int | None = None
    for m in delimiter.finditer(data, body_start, end):
        if part_start is not None:
            stop = _line_start(data, m.start(), part_start)
            parts.append(_part(data, part_start, stop, default_type, depth, part_count))
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
    if not parts:  # summary reports one empty TEXT/PLAIN part
        parts.append(MimeEntity(end, end, end, "TEXT", "PLAIN", None, ""))
    return parts


def _part(
    data: bytes, start: int, end: int, default_type: str, depth: int, part_count: list[int]
) -> MimeEntity:
    fields, body_start = _parse_header(data, start, end)
    return _build(data, start, end, fields, body_start, default_type, depth + 1, part_count)


def _field_spans(data: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
    """The header fields of the entity at ``data[start:end]`` as raw line spans.

    Mirrors ``summary._parse_header`` (same end-of-header rule, mbox ``From `` line
    skipped), but keeps each field's octets: ``(lower-cased name, start, end)`` where
    ``data[start:end]`` is the field with its continuation lines and line ends.
    """
    spans: list[tuple[str, int, int]] = []
    pos = start
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        line = data[pos:line_end].rstrip(b"\r\n")
        if not line:
            break
        if line[:1] in (b" ", b"\t") and spans:
            name, field_start, _ = spans[-1]
            spans[-1] = (name, field_start, line_end)
        else:
            m = _FIELD_NAME.match(line)
            if m is None:
                if pos == start and line.startswith(b"From "):
                    pos = line_end
                    continue
                break
            name = m.group()[:-1].rstrip(b" \t").decode("ascii").lower()
            spans.append((name, pos, line_end))
        pos = line_end
    return spans


# --- transfer decoding ---------------------------------------------------------------

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decoded_body(raw: bytes, entity: MimeEntity) -> bytes:
    body = raw[entity.body_start : entity.end]
    if entity.children is not None or entity.message is not None:
        return body  # composite types are never encoded (RFC 2045 §6.4)
    encoding = entity.encoding
    if encoding in IDENTITY_ENCODINGS:
        return body
    if encoding == "base64":
        return _decode_base64(body)
    if encoding == "quoted-printable":
        return _decode_quoted_printable(body)
    raise UnknownTransferEncoding(encoding)


def _decode_base64(data: bytes) -> bytes:
    """Lenient base64 (RFC 2045 §6.8): junk octets ignored, stops at padding."""
    text = _BASE64_JUNK.sub(b"", data.split(b"=", 1)[0])
    rest = len(text) % 4
    if rest == 1:  # a lone final character carries no whole octet
        text = text[:-1]
    elif rest:
        text += b"=" * (4 - rest)
    try:
        return binascii.a2b_base64(text)
    except binascii.Error:  # pragma: no cover - the input is valid by construction
        return b""


def _decode_quoted_printable(data: bytes) -> bytes:
    """Lenient quoted-printable (RFC 2045 §6.7).

    Trailing white space of each line is dropped (rule 3), ``=`` at the end of a line
    is a soft line break (rule 5), ``=XX`` (either case) is an octet, and any other
    ``=`` is kept as is.
    """
    out = []
    for line in data.splitlines(keepends=True):
        content = line.rstrip(b"\r\n")
        newline = line[len(content) :]
        content = content.rstrip(b" \t")
        if content.endswith(b"="):
            content, newline = content[:-1], b""
        out.append(_QP_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), content))
        out.append(newline)
    return b"".join(out)


# --- public functions -----------------------------------------------------------------


def fetch_section(
    raw: bytes, part: tuple[int, ...], text: str | None, fields: tuple[str, ...] = ()
) -> bytes | None:
    """The octets of ``BODY[section]`` (RFC 3501 §6.4.5, RFC 9051 §6.4.5).

    Args:
        raw: the whole stored message (CRLF-normalized), any bytes.
        part: part numbers, e.g. ``(2, 1)`` for ``2.1``; ``()`` for the message.
        text: None, or upper-case ``HEADER``, ``HEADER.FIELDS``,
            ``HEADER.FIELDS.NOT``, ``TEXT``, ``MIME``.
        fields: field names for HEADER.FIELDS(.NOT), matched case-insensitively.

    Returns:
        * ``()``/None: the whole message; HEADER: the header including its blank line
          (as stored: a message without a blank line has none), so HEADER + TEXT ==
          the message; TEXT: the body.
        * HEADER.FIELDS / .NOT: every matching (non-matching) field with its
          continuation lines, all occurrences in message order, then the blank line
          CRLF, which is always there (``b"\\r\\n"`` if nothing matched).
        * part: the part's body (for a MESSAGE/RFC822 part the encapsulated message,
          for a multipart part its body with preamble and delimiters); single-part
          messages have only part 1, their body. ``part.MIME``: the part's MIME
          header with its blank line (for part 1 of a single-part message, the
          message header). ``part.HEADER`` etc.: as above, of the message
          encapsulated in the MESSAGE/RFC822 part.
        * None if the part does not exist, or HEADER/TEXT/HEADER.FIELDS is asked of a
          part that is not MESSAGE/RFC822. RFC 3501 does not say what to answer;
          we recommend the empty string ``""`` (Dovecot and UW-IMAP do so, and it is
          what imaptest expects; some clients treat NIL here as an error).

    Raises:
        ValueError: ``text`` is not one of the above, or MIME without a part number
            (the parser never produces these).
    """
    return MimeTree(raw).section(part, text, fields)


def partial(data: bytes, origin: int, count: int) -> bytes:
    """Apply ``<origin.count>`` (RFC 3501 §6.4.5, IMAP-NOTES §4).

    Args:
        data: the section's octets.
        origin: 0-based offset of the first octet wanted.
        count: maximum number of octets.

    Returns:
        ``min(count, len - origin)`` octets from ``origin``; ``b""`` if ``origin`` is at
        or past the end. The response names only the origin: ``BODY[]<origin>``.

    Raises:
        ValueError: a negative ``origin`` or ``count``.
    """
    if origin < 0 or count < 0:
        raise ValueError(f"negative partial range: <{origin}.{count}>")
    return data[origin : origin + count]


def decode_part(raw: bytes, part: tuple[int, ...]) -> bytes | None:
    """The octets of ``BINARY[part]``: the part body with its CTE removed (RFC 3516 §4).

    Args:
        raw: the whole stored message, any bytes.
        part: part numbers; ``()`` is the whole message, returned as stored.

    Returns:
        The decoded body: base64 and quoted-printable decoded leniently (junk
        ignored), 7bit/8bit/binary/absent as is; multipart and MESSAGE/RFC822 parts
        as is (RFC 2045 §6.4 forbids encoding them). None if the part does not
        exist (answer as for :func:`fetch_section`). ``BINARY.SIZE`` is its length.
        ``BINARY[n.MIME]`` and the like are not decoded: use :func:`fetch_section`.

    Raises:
        UnknownTransferEncoding: any other encoding (``NO [UNKNOWN-CTE]``).
    """
    return MimeTree(raw).decode(part)
