"""IMAP syntax for the cached message summary: strings, ENVELOPE and BODYSTRUCTURE.

Renders the JSON shapes of :mod:`trimail.mail.summary` as IMAP wire bytes (RFC 3501
§4, §7.4.2, §9; RFC 9051). It lives beside the summary, not in the IMAP engine, so the
store can cache the rendered ENVELOPE and BODYSTRUCTURE at delivery (FETCH of cached
items then copies bytes instead of rendering 100,000 envelopes). The engine's value
module, ``trimail.imap._values``, re-exports everything here.

The ``utf8`` keyword is True once the client enabled UTF8=ACCEPT or IMAP4rev2
(RFC 6855 §3, RFC 9051 §4.3): then UTF-8 text may travel in quoted strings. Output
made with ``utf8=False`` is valid for every client. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "NIL",
    "astring",
    "binary_literal",
    "literal",
    "nstring",
    "number",
    "quoted_or_literal",
    "render_bodystructure",
    "render_envelope",
    "render_list",
]

NIL = b"NIL"

MAX_NUMBER64 = 2**63 - 1  # number64, RFC 9051 §9; RFC 3501 "number" is 32-bit unsigned

# atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials /
# resp-specials (RFC 3501 §9); CTL and 8-bit octets are checked separately.
ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_MUST_LITERAL = frozenset(b"\r\n\x00")  # not TEXT-CHAR / not CHAR (RFC 3501 §9)


# --- strings ----------------------------------------------------------------------


def _as_bytes(text: str | bytes) -> bytes:
    """UTF-8 octets of ``text``; surrogate escapes become the original octets."""
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that are not escapes
        return text.encode("utf-8", "replace")


def _quotable(data: bytes, *, utf8: bool) -> bool:
    """True if ``data`` fits in a quoted string (RFC 3501 §9 QUOTED-CHAR, RFC 9051 §9)."""
    if any(octet in _MUST_LITERAL for octet in data):
        return False
    if data.isascii():
        return True
    if not utf8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def literal(data: bytes) -> bytes:
    """A synchronizing literal ``{n}\\r\\n`` followed by the octets (RFC 3501 §4.3).

    Args:
        data: the octets; any length.

    Returns:
        ``b"{<len>}\\r\\n" + data``.
    """
    return b"{%d}\r\n" % len(data) + data


def binary_literal(data: bytes) -> bytes:
    """A literal for decoded BINARY[] data (RFC 3516 §4.2, RFC 9051 §7.5.2).

    Args:
        data: the decoded octets.

    Returns:
        A ``literal8`` (``~{n}\\r\\n...``) if ``data`` holds a NUL octet, which no
        other string form may carry, else an ordinary literal.
    """
    if b"\x00" in data:
        return b"~" + literal(data)
    return literal(data)


def quoted_or_literal(text: str | bytes, *, utf8: bool) -> bytes:
    """Render an IMAP ``string`` (RFC 3501 §4.3, §9; RFC 9051 §4.3).

    A quoted string is used when possible, with ``"`` and ``\\`` escaped; a literal
    when the octets hold CR, LF or NUL, or 8-bit octets that may not be quoted: any
    8-bit octet when ``utf8`` is False, invalid UTF-8 when it is True (RFC 6855 §3
    and RFC 9051 allow UTF-8 in quoted strings).

    Args:
        text: ``str`` (sent as UTF-8; surrogate escapes as their original octets) or
            raw ``bytes``.
        utf8: UTF8=ACCEPT or IMAP4rev2 is enabled on the connection.

    Returns:
        ``b'"..."'`` or ``b"{n}\\r\\n..."``.

    Note:
        NUL is not CHAR8, so strictly no string can carry it; a literal is the least
        harmful choice, and messages with NUL in header fields are rare.
    """
    data = _as_bytes(text)
    if _quotable(data, utf8=utf8):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return literal(data)


def nstring(value: str | bytes | None, *, utf8: bool) -> bytes:
    """Render an ``nstring``: ``NIL`` for None, else a string (RFC 3501 §9).

    Args:
        value: the text, or None. An empty string renders as ``""``, not NIL.
        utf8: as for :func:`quoted_or_literal`.
    """
    if value is None:
        return NIL
    return quoted_or_literal(value, utf8=utf8)


def _is_atom(data: bytes, *, astring: bool) -> bool:
    """True if ``data`` is 1*ATOM-CHAR (or 1*ASTRING-CHAR with ``astring``), RFC 3501 §9."""
    if not data or not data.isascii():
        return False
    for octet in data:
        if octet < 0x20 or octet == 0x7F:  # CTL
            return False
        if octet in ATOM_SPECIALS and not (astring and octet == 0x5D):  # "]"
            return False
    return True


def astring(value: str | bytes, *, utf8: bool = False) -> bytes:
    """Render an ``astring``: an atom when the value is one, else a string (RFC 3501 §9).

    ``NIL`` (any case) is quoted so that no parser mistakes it for nil.

    Args:
        value: the text.
        utf8: as for :func:`quoted_or_literal`; False (the default) is always safe,
            it only sends 8-bit text as a literal.
    """
    data = _as_bytes(value)
    if _is_atom(data, astring=True) and data.upper() != NIL:
        return data
    return quoted_or_literal(data, utf8=utf8)


def number(value: int) -> bytes:
    """Render a ``number`` / ``number64`` in decimal (RFC 3501 §4.2, RFC 9051 §4.2).

    Args:
        value: 0 <= value < 2**63.

    Raises:
        ValueError: negative, too large, or not an ``int`` (``bool`` included).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an IMAP number: {value!r}")
    if not 0 <= value <= MAX_NUMBER64:
        raise ValueError(f"IMAP number out of range: {value}")
    return b"%d" % value


def render_list(items: Iterable[bytes]) -> bytes:
    """Parenthesize already-rendered values, separated by single spaces (RFC 3501 §4.4).

    Args:
        items: rendered values, e.g. from :func:`nstring` or :func:`number`.

    Returns:
        ``b"(a b c)"``; ``b"()"`` for no items (valid e.g. for ``FLAGS ()``).
    """
    return b"(" + b" ".join(items) + b")"


# --- ENVELOPE -----------------------------------------------------------------------


def _string(value: Any, *, utf8: bool) -> bytes:
    """A ``string`` field; None (never valid there) is sent as ``""``."""
    if value is None:
        return b'""'
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return quoted_or_literal(value, utf8=utf8)


def _nstr(value: Any, *, utf8: bool) -> bytes:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string or None, got {value!r}")
    return nstring(value, utf8=utf8)


def _address_list(addresses: Any, *, utf8: bool) -> bytes:
    """``"(" 1*address ")" / nil``; each address ``(name adl mailbox host)``."""
    if not addresses:
        return NIL
    rendered = []
    for address in addresses:
        if not isinstance(address, list) or len(address) != 4:
            raise ValueError(f"malformed ENVELOPE address: {address!r}")
        rendered.append(render_list(_nstr(x, utf8=utf8) for x in address))
    return b"(" + b"".join(rendered) + b")"


def render_envelope(env: Sequence[Any], *, utf8: bool) -> bytes:
    """Render an ENVELOPE (RFC 3501 §7.4.2, RFC 9051 §7.5.2).

    Args:
        env: the ten-element list of :mod:`trimail.mail.summary`: ``[date, subject,
            from, sender, reply_to, to, cc, bcc, in_reply_to, message_id]``; the
            address fields are None or lists of ``[name, route, mailbox, host]``,
            groups bracketed by ``[None, None, name, None]`` and
            ``[None, None, None, None]``.
        utf8: as for :func:`quoted_or_literal`.

    Returns:
        ``b'("date" "subject" ((...)) ... NIL "<id>")'``: None is NIL, an empty
        string ``""``, an absent or empty address list NIL. Addresses are
        concatenated without spaces, as in the RFC's grammar and examples.

    Raises:
        ValueError: ``env`` does not have the documented shape (a cache bug).
    """
    if len(env) != 10:
        raise ValueError(f"ENVELOPE needs 10 fields, got {len(env)}")
    fields = [_nstr(env[0], utf8=utf8), _nstr(env[1], utf8=utf8)]
    fields.extend(_address_list(value, utf8=utf8) for value in env[2:8])
    fields.extend((_nstr(env[8], utf8=utf8), _nstr(env[9], utf8=utf8)))
    return render_list(fields)


# --- BODYSTRUCTURE ------------------------------------------------------------------


def _params(params: Any, *, utf8: bool) -> bytes:
    """``body-fld-param``: ``("attr" "value" ...)`` or NIL (RFC 3501 §9)."""
    if not params:
        return NIL
    values = list(params)
    if len(values) % 2:
        values.append("")
    return render_list(_string(v, utf8=utf8) for v in values)


def _disposition(value: Any, *, utf8: bool) -> bytes:
    """``body-fld-dsp``: ``("type" params)`` or NIL."""
    if not value:
        return NIL
    kind = value[0]
    params = value[1] if len(value) > 1 else None
    return render_list((_string(kind, utf8=utf8), _params(params, utf8=utf8)))


def _language(value: Any, *, utf8: bool) -> bytes:
    """``body-fld-lang``: nstring or ``("tag" ...)``."""
    if isinstance(value, list):
        if not value:
            return NIL
        return render_list(_string(v, utf8=utf8) for v in value)
    return _nstr(value, utf8=utf8)


def _extension_data(values: Sequence[Any], *, utf8: bool) -> list[bytes]:
    """Render ``[disposition, language, location]``, or the prefix that is present."""
    renderers = (_disposition, _language, _nstr)
    return [render(v, utf8=utf8) for render, v in zip(renderers, values, strict=False)]


def _is_message_leaf(bs: Sequence[Any]) -> bool:
    """A MESSAGE/RFC822 (or /GLOBAL, RFC 9051) leaf carrying envelope, body and lines."""
    return (
        str(bs[0]).upper() == "MESSAGE"
        and str(bs[1]).upper() in ("RFC822", "GLOBAL")
        and len(bs) >= 10
        and isinstance(bs[7], list)
        and isinstance(bs[8], list)
    )


def _leaf(bs: Sequence[Any], *, extensible: bool, utf8: bool) -> bytes:
    """``body-type-1part`` [SP body-ext-1part] (RFC 3501 §9)."""
    if len(bs) < 7:
        raise ValueError(f"BODYSTRUCTURE leaf too short: {bs!r}")
    fields = [
        _string(bs[0], utf8=utf8),
        _string(bs[1], utf8=utf8),
        _params(bs[2], utf8=utf8),
        _nstr(bs[3], utf8=utf8),
        _nstr(bs[4], utf8=utf8),
        _string(bs[5] or "7BIT", utf8=utf8),  # body-fld-enc is never NIL
        number(bs[6]),
    ]
    ext_at = 7
    if _is_message_leaf(bs):
        fields.append(render_envelope(bs[7], utf8=utf8))
        fields.append(_body(bs[8], extensible=extensible, utf8=utf8))
        fields.append(number(bs[9]))
        ext_at = 10
    elif str(bs[0]).upper() == "TEXT" and len(bs) > 7 and isinstance(bs[7], int):
        fields.append(number(bs[7]))
        ext_at = 8
    if extensible and len(bs) > ext_at:
        fields.append(_nstr(bs[ext_at], utf8=utf8))  # body-fld-md5
        fields.extend(_extension_data(bs[ext_at + 1 : ext_at + 4], utf8=utf8))
    return render_list(fields)


def _multipart(bs: Sequence[Any], *, extensible: bool, utf8: bool) -> bytes:
    """``body-type-mpart`` = 1*body SP media-subtype [SP body-ext-mpart] (RFC 3501 §9)."""
    count = 0
    while count < len(bs) and isinstance(bs[count], list):
        count += 1
    rest = bs[count:]
    parts = b"".join(_body(p, extensible=extensible, utf8=utf8) for p in bs[:count])
    fields = [_string(rest[0] if rest else "MIXED", utf8=utf8)]
    if extensible and len(rest) > 1:
        fields.append(_params(rest[1], utf8=utf8))
        fields.extend(_extension_data(rest[2:5], utf8=utf8))
    return b"(" + parts + b" " + b" ".join(fields) + b")"


def _body(bs: Any, *, extensible: bool, utf8: bool) -> bytes:
    if not isinstance(bs, list) or not bs:
        raise ValueError(f"malformed BODYSTRUCTURE: {bs!r}")
    if isinstance(bs[0], list):
        return _multipart(bs, extensible=extensible, utf8=utf8)
    return _leaf(bs, extensible=extensible, utf8=utf8)


def render_bodystructure(bs: Sequence[Any], *, extensible: bool, utf8: bool) -> bytes:
    """Render BODYSTRUCTURE or BODY (RFC 3501 §7.4.2, §9 ``body``; RFC 9051 §7.5.2).

    Args:
        bs: the cached shape of :mod:`trimail.mail.summary`: a leaf ``[type,
            subtype, params, id, description, encoding, size(octets), (envelope,
            body, lines | lines)?, md5, disposition, language, location]``, or a
            multipart ``[part, ..., subtype, params, disposition, language,
            location]``; params a flat ``[attr, value, ...]`` list or None,
            disposition ``[type, params]`` or None, language None, a string or a list.
        extensible: True for BODYSTRUCTURE (with ``body-ext-1part`` /
            ``body-ext-mpart`` extension data); False for BODY, which drops md5,
            disposition, language, location and multipart params, also in parts
            and in the body of an encapsulated message.
        utf8: as for :func:`quoted_or_literal`.

    Returns:
        e.g. ``b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 12 1 NIL NIL
        NIL NIL)'``. Multipart bodies are concatenated without spaces
        (``1*body``). Strings are always quoted strings or literals, never atoms.

    Raises:
        ValueError: ``bs`` does not have the documented shape (a cache bug).
    """
    return _body(list(bs), extensible=extensible, utf8=utf8)
