"""Parsing command lines, paths and ESMTP parameters (RFC 5321 §4.1, RFC 6531 §3.3).

Everything here is pure: bytes in, values or an exception carrying the reply out.
"""

from __future__ import annotations

import ipaddress
import re

from trimail.mail.address import NULL_PATH, Mailbox, NullPath, ReversePath
from trimail.mail.reply import Reply
from trimail.smtp import _replies as R
from trimail.smtp.errors import PathError

MAX_PATH_BYTES = 256  # octets incl. "<" and ">", RFC 5321 §4.5.3.1.3
MAX_LOCAL_PART_BYTES = 64  # octets, RFC 5321 §4.5.3.1.1
MAX_DOMAIN_BYTES = 255  # octets, RFC 5321 §4.5.3.1.2


class CommandError(Exception):
    """A command the engine refuses by itself; ``reply`` goes into a `BadCommand`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text[0])
        self.reply = reply


# --- path grammar, RFC 5321 §4.1.2 with RFC 6531 §3.3 (UTF8-non-ascii) -------------------
_NON_ASCII = "\u0080-\U0010ffff"
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-" + _NON_ASCII
_DOT_STRING = f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*"
_QUOTED = f'"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e{_NON_ASCII}]|\\\\[\\x20-\\x7e])*"'
_LET_DIG = "A-Za-z0-9" + _NON_ASCII
_SUB_DOMAIN = f"[{_LET_DIG}](?:[{_LET_DIG}\\-]*[{_LET_DIG}])?"
_DOMAIN = f"{_SUB_DOMAIN}(?:\\.{_SUB_DOMAIN})*"
_LITERAL = "\\[[\\x21-\\x5a\\x5e-\\x7e]+\\]"
_ADL = f"@{_DOMAIN}(?:,@{_DOMAIN})*"
_PATH = re.compile(
    f"<(?:{_ADL}:)?(?P<local>{_DOT_STRING}|{_QUOTED})@(?P<domain>{_DOMAIN}|{_LITERAL})>\\Z"
)
_QUOTED_PAIR = re.compile(r"\\(.)")
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+\Z")

# A path token on the command line: "<", then unquoted octets or quoted strings, then ">".
_PATH_TOKEN = re.compile(rb'<(?:[^<>"\\ \t]|"(?:[^"\\\r\n]|\\[^\r\n])*")*>')

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")  # esmtp-keyword, RFC 5321 §4.1.2
_VALUE = re.compile(f"[\\x21-\\x3c\\x3e-\\x7e{_NON_ASCII}]+\\Z")  # esmtp-value, RFC 6531


def _path_error(code: int, status: str, text: str) -> PathError:
    return PathError(text, reply=Reply(code=code, enhanced_status=status, text=text))


def _valid_literal(literal: str) -> bool:
    """Check an address literal (RFC 5321 §4.1.3) such as ``[192.0.2.1]``."""
    inner = literal[1:-1]
    try:
        if inner[:5].upper() == "IPV6:":
            ipaddress.IPv6Address(inner[5:])
        elif ":" in inner:
            return _GENERAL_LITERAL.match(inner) is not None
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def _parse_path(raw: bytes, *, smtputf8: bool, sender: bool) -> ReversePath:
    detail = "5.1.7" if sender else "5.1.3"  # RFC 3463: bad sender / destination syntax
    if len(raw) > MAX_PATH_BYTES:
        raise _path_error(501, detail, "Path too long")
    if not raw.isascii() and not smtputf8:  # RFC 6531 §3.4
        raise _path_error(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _path_error(501, detail, "Invalid UTF-8 in address") from None
    if text == "<>":
        return NULL_PATH
    if text.lower() == "<postmaster>":  # RFC 5321 §4.1.1.3
        return Mailbox(local_part="postmaster", domain="")
    match = _PATH.match(text)
    if match is None:
        raise _path_error(501, detail, "Bad address syntax")
    local, domain = match["local"], match["domain"]
    if len(local.encode("utf-8")) > MAX_LOCAL_PART_BYTES:
        raise _path_error(553, detail, "Local part too long")
    if len(domain.encode("utf-8")) > MAX_DOMAIN_BYTES:
        raise _path_error(501, detail, "Domain too long")
    if domain.startswith("[") and not _valid_literal(domain):
        raise _path_error(501, detail, "Bad address literal")
    if local.startswith('"'):
        local = _QUOTED_PAIR.sub(lambda m: m.group(1), local[1:-1])
    return Mailbox(local_part=local, domain=domain)


def parse_path(raw: bytes, *, smtputf8: bool) -> ReversePath:
    """Parse a reverse-path or forward-path (RFC 5321 §4.1.2, RFC 6531 §3.3).

    Accepts ``<>``, ``<postmaster>`` (any case, RFC 5321 §4.1.1.3), dot-string and
    quoted local parts (quoted-pairs removed), domains, address literals
    (``[192.0.2.1]``, ``[IPv6:2001:db8::1]``, general literals), and source routes
    ``<@a,@b:user@host>``, whose route is dropped (RFC 5321 §C).

    Args:
        raw: the path with its angle brackets, e.g. ``b"<joe@example.org>"``; at most
            256 octets (§4.5.3.1.3).
        smtputf8: True if the transaction uses SMTPUTF8, which allows UTF-8 local
            parts and domains.

    Returns:
        ``NULL_PATH`` or a `Mailbox`; ``<postmaster>`` is
        ``Mailbox(local_part="postmaster", domain="")``.

    Raises:
        PathError: with ``.reply`` 501 5.1.3 (syntax, path over 256 octets), 553 5.1.3
            (local part over 64 octets, §4.5.3.1.1) or 553 5.6.7 (non-ASCII without
            SMTPUTF8).
    """
    return _parse_path(raw, smtputf8=smtputf8, sender=False)


def format_path(path: ReversePath) -> str:
    """Render *path* as it appears in MAIL/RCPT: ``<>``, ``<joe@example.org>``.

    The local part is quoted only if it is not a Dot-string (RFC 5321 §4.1.2), so
    ``parse_path(format_path(p).encode(), smtputf8=True) == p``.
    """
    if isinstance(path, NullPath):
        return "<>"
    return f"<{path}>"


def split_command(line: bytes) -> tuple[bytes, bytes]:
    """Split a command line (CRLF removed) into the upper-cased verb and its argument.

    Commands are case-insensitive (RFC 5321 §2.4); the argument is everything after
    the first space, as sent.
    """
    verb, _, argument = line.partition(b" ")
    return verb.upper(), argument


def decode(raw: bytes) -> str:
    """Decode a command argument as UTF-8 (RFC 6531 §3.3).

    Raises:
        CommandError: 501 5.5.2 for invalid UTF-8.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(R.R501_BAD_UTF8) from None


def split_path_argument(argument: bytes, prefix: bytes, syntax: Reply) -> tuple[bytes, bytes]:
    """Split ``FROM:<path> params`` / ``TO:<path> params`` into path and parameters.

    A space after the colon is tolerated, as many clients send one.

    Args:
        argument: the command argument after the verb.
        prefix: ``b"FROM:"`` or ``b"TO:"`` (matched case-insensitively).
        syntax: the reply for a malformed argument.

    Returns:
        (the path token with its angle brackets, the raw parameters).

    Raises:
        CommandError: the prefix or the path token is missing.
    """
    if argument[: len(prefix)].upper() != prefix:
        raise CommandError(syntax)
    rest = argument[len(prefix) :].lstrip(b" ")
    match = _PATH_TOKEN.match(rest)
    if match is None:
        raise CommandError(syntax)
    end = match.end()
    params = rest[end:]
    if params and params[:1] != b" ":
        raise CommandError(syntax)
    return rest[:end], params


def parse_parameters(raw: bytes) -> tuple[tuple[str, str | None], ...]:
    """Parse ``KEYWORD[=value]`` parameters separated by spaces (RFC 5321 §4.1.2).

    Returns:
        (keyword upper-cased, value or None) in the order sent.

    Raises:
        CommandError: 501 5.5.4 for bad syntax or a repeated keyword, 501 5.5.2 for
            invalid UTF-8.
    """
    if not raw.strip(b" "):
        return ()
    result: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for token in decode(raw).split(" "):
        if not token:
            continue
        keyword, equals, value = token.partition("=")
        if not _KEYWORD.match(keyword) or (equals and not _VALUE.match(value)):
            raise CommandError(R.R501_PARAMETER)
        keyword = keyword.upper()
        if keyword in seen:
            raise CommandError(R.R501_DUPLICATE_PARAMETER)
        seen.add(keyword)
        result.append((keyword, value if equals else None))
    return tuple(result)


def parse_chunk_size(argument: bytes) -> tuple[int, bool] | None:
    """Parse ``chunk-size [LAST]`` of BDAT (RFC 3030 §2).

    Returns:
        (size in octets, True if the second word is LAST), or None if the size cannot
        be read, so that nobody can tell where the chunk ends. Other extra words are
        left to `bdat_arguments_ok`.
    """
    size_text, _, _rest = argument.partition(b" ")
    if not size_text.isdigit() or len(size_text) > 20:
        return None
    words = argument.split()
    last = len(words) == 2 and words[1].upper() == b"LAST"
    return int(size_text), last


def bdat_arguments_ok(argument: bytes) -> bool:
    """True if BDAT's argument is exactly ``size`` or ``size LAST`` (RFC 3030 §2)."""
    words = argument.split(b" ")
    return len(words) == 1 or (len(words) == 2 and words[1].upper() == b"LAST")
