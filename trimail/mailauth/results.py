"""The Authentication-Results header field (RFC 8601): render ours, strip forgeries.

Pure text work. Header fields are ASCII; the rendered field ends in CRLF and is
folded with CRLF + one space (RFC 5322 §2.2.3) so that lines stay within 78
characters whenever no single word is longer (RFC 5322 §2.1.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

FIELD_NAME = "Authentication-Results"
MAX_LINE = 78  # characters excluding CRLF, RFC 5322 §2.1.1 SHOULD
# MIME token (RFC 2045 §5.1): no SPACE, CTLs or tspecials.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_ATEXT = r"[!#$%&'*+\-/=?^_`{|}~0-9A-Za-z]+"
# pvalue's unquoted "[ [ local-part ] "@" ] domain-name" form (RFC 8601 §2.2).
_ADDRESS = re.compile(rf"(?:{_ATEXT}(?:\.{_ATEXT})*)?@[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*\.?")
_FIELD = b"authentication-results"
DKIM_B_PREFIX = 8  # characters of b= in header.b, RFC 6008 §4 suggests at least 8


@attrs.frozen(kw_only=True)
class MethodResult:
    """One ``resinfo``: ``method=result [reason=...] ptype.property=value ...``.

    Example: ``MethodResult(method="spf", result="pass",
    properties=(("smtp", "mailfrom", "sender@example.net"),))``.
    """

    method: str  # registered method, e.g. "spf", "dkim", "dmarc", "arc" (§2.7)
    result: str  # e.g. "pass", "fail", "temperror"
    reason: str | None = None
    properties: tuple[tuple[str, str, str], ...] = ()  # (ptype, property, pvalue)


def spf(result: str, *, mailfrom: str | None = None, helo: str | None = None) -> MethodResult:
    """``spf=<result> smtp.mailfrom=... smtp.helo=...`` (RFC 8601 §2.7.2)."""
    props = [("smtp", "mailfrom", mailfrom), ("smtp", "helo", helo)]
    return MethodResult(
        method="spf", result=result, properties=tuple((t, p, v) for t, p, v in props if v)
    )


def dkim(
    result: str, *, domain: str, selector: str | None = None, b: str = "", reason: str | None = None
) -> MethodResult:
    """``dkim=<result> header.d=... header.s=... header.b=<prefix>`` (RFC 8601 §2.7.1, RFC 6008)."""
    props = [("header", "d", domain)]
    if selector:
        props.append(("header", "s", selector))
    if b:
        props.append(("header", "b", re.sub(r"\s", "", b)[:DKIM_B_PREFIX]))
    return MethodResult(method="dkim", result=result, reason=reason, properties=tuple(props))


def dmarc(result: str, *, header_from: str, reason: str | None = None) -> MethodResult:
    """``dmarc=<result> header.from=<domain>`` (RFC 7489 §11.2)."""
    return MethodResult(
        method="dmarc", result=result, reason=reason, properties=(("header", "from", header_from),)
    )


def arc(result: str, *, reason: str | None = None) -> MethodResult:
    """``arc=<result>`` (RFC 8617 §10.1)."""
    return MethodResult(method="arc", result=result, reason=reason)


def quote(value: str, *, address_ok: bool = False) -> str:
    """*value* as a ``value`` (MIME token or quoted-string, RFC 8601 §2.2).

    Args:
        value: the text; ``"`` and ``\\`` are escaped when quoting; characters other
            than printable ASCII become ``?``.
        address_ok: allow the unquoted ``local-part@domain`` form of a pvalue.
    """
    # the field is ASCII: anything else (a U+FFFD from undecodable bytes, controls)
    # becomes "?" rather than reaching a stored header (RFC 8601 §2.2)
    value = "".join(ch if " " <= ch <= "~" else "?" for ch in value)
    if _TOKEN.fullmatch(value) or (address_ok and _ADDRESS.fullmatch(value)):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _words(result: MethodResult) -> list[str]:
    words = [f"{result.method}={quote(result.result)}"]
    if result.reason is not None:
        words.append(f"reason={quote(result.reason)}")
    words.extend(f"{t}.{p}={quote(v, address_ok=True)}" for t, p, v in result.properties)
    return words


def _fold(groups: list[list[str]]) -> str:
    """Lay out words; each group starts a new line, words fill lines up to MAX_LINE."""
    lines = [groups[0][0]]
    for group in groups[1:]:
        lines.append(" " + group[0])
        for word in group[1:]:
            if len(lines[-1]) + 1 + len(word) <= MAX_LINE:
                lines[-1] += " " + word
            else:
                lines.append(" " + word)
    return "\r\n".join(lines) + "\r\n"


def render(authserv_id: str, results: Sequence[MethodResult]) -> str:
    """The whole ``Authentication-Results:`` field, folded, ending in CRLF (RFC 8601 §2.2).

    Args:
        authserv_id: our ADMD's identifier, usually the host name (§2.5).
        results: the methods evaluated, in order; empty means ``none`` (§2.2 no-result).

    Returns:
        e.g. ``"Authentication-Results: mx.example.org;\\r\\n spf=pass
        smtp.mailfrom=example.net\\r\\n"``; semicolons end all but the last resinfo.
    """
    head = f"{FIELD_NAME}: {quote(authserv_id)};"
    if not results:
        return _fold([[head + " none"]])
    groups = [_words(r) for r in results]
    for group in groups[:-1]:
        group[-1] += ";"
    return _fold([[head], *groups])


def _fields(block: bytes) -> list[bytes]:
    """Split a header block into fields, each with its continuation lines and line ends."""
    fields: list[bytes] = []
    for line in block.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _skip_cfws(text: bytes, i: int) -> int:
    """Index after folding white space and (nested) comments (RFC 5322 §3.2.2)."""
    depth = 0
    while i < len(text):
        c = text[i : i + 1]
        if c == b"\\" and depth:
            i += 2
            continue
        if c == b"(":
            depth += 1
        elif c == b")" and depth:
            depth -= 1
        elif not depth and c not in b" \t\r\n":
            break
        i += 1
    return i


def authserv_id_of(value: bytes) -> str | None:
    """The authserv-id at the start of an Authentication-Results value, or None.

    Args:
        value: the field body after the colon, possibly folded, with comments.
    """
    i = _skip_cfws(value, 0)
    if value[i : i + 1] == b'"':
        m = re.match(rb'"((?:[^"\\]|\\.)*)"', value[i:], re.S)
        return None if m is None else re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("latin-1")
    m = re.match(rb"[^\s;()\"]+", value[i:])
    return None if m is None else m.group(0).decode("latin-1")


def strip_forged(raw_header_block: bytes, authserv_id: str) -> bytes:
    """Remove Authentication-Results fields that claim *authserv_id* (RFC 8601 §5).

    A border MTA must delete such fields arriving from outside, since only it may
    speak for its ADMD. Matching is case-insensitive; folded fields are removed whole.

    Args:
        raw_header_block: header lines as received, each ending in CRLF (or LF);
            a trailing empty line, if present, is kept.
        authserv_id: our authserv-id.

    Returns:
        The block without those fields; every other byte is unchanged and in order.
    """
    ours = authserv_id.lower()
    kept = []
    for field in _fields(raw_header_block):
        name, colon, value = field.partition(b":")
        claimed = authserv_id_of(value) if colon else None
        is_ar = name.rstrip(b" \t").lower() == _FIELD
        if not (is_ar and claimed is not None and claimed.lower() == ours):
            kept.append(field)
    return b"".join(kept)
