"""Text matching for IMAP SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4).

SEARCH string keys (BODY, TEXT, SUBJECT, FROM, HEADER ...) match a case-insensitive
substring of the *decoded* text: encoded words (RFC 2047) in header fields, and
quoted-printable or base64 (RFC 2045 §6) plus the declared charset in body parts.
These helpers do that decoding and folding; the driver picks the header values
(cached in :class:`trimail.mail.summary.MessageSummary` or read from the file) and
combines the results.

Nothing here re-serializes a message or does I/O, and no function raises on any input.
"""

from __future__ import annotations

import binascii
import codecs
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from trimail.mail.sections import MimeTree
from trimail.mail.summary import _param, parse_address_list

__all__ = [
    "ADDRESS_FIELDS",
    "body_text",
    "decode_header_value",
    "fold_case",
    "header_matches",
    "header_text",
    "message_text",
    "searchable_fields",
    "text_matches",
]

ADDRESS_FIELDS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to"})
"""Lower-case fields for which the driver should call ``header_matches(..., address=True)``."""

# RFC 2047 §2 encoded-word; encoded-text has no "?" or white space.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_WHITESPACE_ONLY = re.compile(r"[ \t\r\n]*")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


def fold_case(s: str) -> str:
    """Fold text for case-insensitive comparison (RFC 3501 §6.4.4, cf. RFC 5051).

    Args:
        s: any text.

    Returns:
        ``NFKC(casefold(NFKC(s)))``: full Unicode case folding (``"Straße"`` ->
        ``"strasse"``) with compatibility normalization, so composed and decomposed
        accents compare equal. Accents are not stripped.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


def text_matches(haystack: str, needle: str) -> bool:
    """True if ``needle`` is a case-insensitive substring of ``haystack`` (§6.4.4).

    Args:
        haystack: decoded text, e.g. from :func:`body_text`.
        needle: the SEARCH string, already decoded from the command's charset.
    """
    return fold_case(needle) in fold_case(haystack)


# --- header fields --------------------------------------------------------------------


def _lookup_charset(charset: str) -> str:
    """A Python codec name for a MIME charset; UTF-8 for unknown or non-text codecs."""
    name = charset.split("*", 1)[0].strip().lower()  # RFC 2231 §5 language suffix
    if name in ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        return "utf-8"  # a superset: raw 8-bit text is usually UTF-8
    try:
        info = codecs.lookup(name)
    except LookupError:
        return "utf-8"
    if not getattr(info, "_is_text_encoding", True):
        return "utf-8"
    return info.name


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with a MIME charset; undecodable octets become U+FFFD. Never raises."""
    try:
        return data.decode(_lookup_charset(charset or ""), "replace")
    except Exception:  # exotic codecs may reject the "replace" handler
        return data.decode("utf-8", "replace")


def _decode_word(encoding: str, text: str) -> bytes:
    """Octets of one encoded word's encoded-text (RFC 2047 §4.1 B, §4.2 Q)."""
    data = text.encode("ascii", "replace")
    if encoding in "Bb":
        data = _BASE64_JUNK.sub(b"", data.split(b"=", 1)[0])
        rest = len(data) % 4
        data = data[:-1] if rest == 1 else data + b"=" * ((4 - rest) % 4)
        try:
            return binascii.a2b_base64(data)
        except binascii.Error:  # pragma: no cover - valid by construction
            return b""
    data = data.replace(b"_", b" ")
    return _Q_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode("ascii")), data)


def decode_header_value(raw: str) -> str:
    """Decode RFC 2047 encoded words in an unfolded header value.

    White space between adjacent encoded words is dropped (RFC 2047 §6.2), and
    adjacent words in the same charset are decoded together, so a character split
    across two words survives. Text outside encoded words is kept as is (raw UTF-8
    headers, RFC 6532, arrive already decoded). Words inside quoted strings are
    decoded too, as most mail clients do.

    Args:
        raw: the header value, e.g. ``"=?utf-8?q?caf=C3=A9?= au lait"``.

    Returns:
        The decoded text, e.g. ``"café au lait"``. Unknown charsets decode as UTF-8;
        bad octets become U+FFFD.

    Error handling:
        Never raises: malformed words are decoded as far as they go, or kept raw when
        they do not parse.
    """
    out: list[str] = []
    pending: list[bytes] = []  # octets of adjacent words in one charset
    pending_charset: str | None = None
    pos = 0
    for m in _ENCODED_WORD.finditer(raw):
        gap = raw[pos : m.start()]
        charset = m.group(1).split("*", 1)[0].lower()
        between_words = pos > 0 and _WHITESPACE_ONLY.fullmatch(gap) is not None
        if pending and not (between_words and charset == pending_charset):
            out.append(_decode_bytes(b"".join(pending), pending_charset))
            pending = []
        if not between_words:
            out.append(gap)
        pending.append(_decode_word(m.group(2), m.group(3)))
        pending_charset = charset
        pos = m.end()
    if pending:
        out.append(_decode_bytes(b"".join(pending), pending_charset))
    out.append(raw[pos:])
    return "".join(out)


def _address_candidates(value: str) -> list[str]:
    """Decoded display names, addresses and ``name <address>`` forms of a field."""
    candidates = []
    for name, _route, mailbox, host in parse_address_list(value):
        if mailbox is None:  # end of a group
            continue
        display = decode_header_value(name) if name else ""
        address = mailbox if host is None else f"{mailbox}@{host}"  # group start: no host
        candidates.append(display)
        candidates.append(address)
        if display:
            candidates.append(f"{display} <{address}>")
    return candidates


def header_matches(values: Iterable[str], needle: str, *, address: bool = False) -> bool:
    """Whether a SEARCH header key matches (RFC 3501 §6.4.4 FROM, SUBJECT, HEADER ...).

    Args:
        values: every occurrence's unfolded raw value of the field (as cached in
            ``MessageSummary.headers``); empty if the field is absent.
        needle: the SEARCH string.
        address: True for FROM/TO/CC/BCC (see :data:`ADDRESS_FIELDS`): the needle
            may also match a parsed display name (decoded), ``mailbox@host``, or
            ``name <mailbox@host>``, so quoting and encoded words in the source
            do not get in the way.

    Returns:
        True if the needle is a case-insensitive substring of a decoded value. An
        empty needle matches whenever the field is present (``HEADER f ""``,
        IMAP-NOTES §5); an absent field never matches.
    """
    folded = fold_case(needle)
    for value in values:
        if not folded:
            return True
        candidates = [decode_header_value(value)]
        if address:
            candidates.extend(_address_candidates(value))
        if any(folded in fold_case(c) for c in candidates):
            return True
    return False


def searchable_fields(headers: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Folded search text per header field, for a store's SEARCH prefilter.

    For each field, every string `header_matches` compares against (the decoded value,
    and for address fields the display names, addresses and ``name <address>`` forms),
    case-folded with `fold_case` and joined by U+001E. So if `header_matches` is True
    for a needle, ``fold_case(needle)`` is a substring of the field's text.

    Args:
        headers: lower-cased field name -> raw unfolded values (the summary's cache).

    Returns:
        field name -> folded text; fields without values are left out.
    """
    out = {}
    for field, values in headers.items():
        parts = []
        for value in values:
            parts.append(fold_case(decode_header_value(value)))
            if field in ADDRESS_FIELDS:
                parts.extend(fold_case(c) for c in _address_candidates(value))
        if parts:
            out[field] = "\x1e".join(parts)
    return out


# --- message text -----------------------------------------------------------------------


def header_text(header: bytes) -> str:
    """Decoded text of a raw header block: unfolded, encoded words decoded.

    Args:
        header: raw header octets, e.g. ``BODY[HEADER]``.

    Returns:
        One line per field (``"Name: decoded value"``), ``"\\n"``-separated.
    """
    text = _UNFOLD.sub("", header.decode("utf-8", "replace"))
    return "\n".join(decode_header_value(line) for line in text.splitlines() if line)


def body_text(raw: bytes) -> str:
    """Decoded text searched by SEARCH BODY (RFC 3501 §6.4.4).

    Args:
        raw: the whole stored message, any bytes.

    Returns:
        The text of every TEXT/* leaf in message order, transfer-decoded
        (quoted-printable, base64) and charset-decoded (unknown or US-ASCII charset:
        UTF-8; bad octets: U+FFFD), ``"\\n"``-separated. The header of an
        encapsulated MESSAGE/RFC822 message is part of the outer body, so it is
        included (decoded as in :func:`header_text`). Non-text leaves are skipped;
        leaves with an unknown transfer encoding are used raw.

    Error handling:
        Never raises (the MIME tree of :class:`trimail.mail.sections.MimeTree` is
        lenient).
    """
    return _body_text(MimeTree(raw))


def _body_text(tree: MimeTree) -> str:
    pieces = []
    for entity, body in tree.leaves():
        if body is None:  # an encapsulated message: its header
            pieces.append(header_text(tree.raw[entity.start : entity.body_start]))
        elif entity.mtype == "TEXT":
            pieces.append(_decode_bytes(body, _param(entity.params, "CHARSET")))
    return "\n".join(pieces)


def message_text(raw: bytes) -> str:
    """Decoded text searched by SEARCH TEXT: header and body (RFC 3501 §6.4.4).

    Args:
        raw: the whole stored message, any bytes.

    Returns:
        :func:`header_text` of the top-level header, a newline, then
        :func:`body_text`. Never raises.
    """
    tree = MimeTree(raw)
    header = header_text(tree.raw[tree.root.start : tree.root.body_start])
    return header + "\n" + _body_text(tree)
