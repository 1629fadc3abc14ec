"""DSN parameters of MAIL and RCPT: RET, ENVID, NOTIFY, ORCPT (RFC 3461, RFC 6533).

xtext (RFC 3461 §4), the ``utf-8`` address forms (RFC 6533 §3), and typed values of the
four parameters, checked on the way in (`DsnMailParams.from_parameters`,
`DsnRcptParams.from_parameters`) and rendered on the way out for a next hop that
advertises DSN (``to_parameters``, RFC 3461 §5.2). Pure: strings in, values or
`DsnParameterError` out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Final, Literal, TypeAlias

import attrs

Ret: TypeAlias = Literal["FULL", "HDRS"]
"""RET values (RFC 3461 §4.3)."""
NotifyKind: TypeAlias = Literal["SUCCESS", "FAILURE", "DELAY"]
"""The conditions NOTIFY can ask a DSN for (RFC 3461 §4.1)."""
Parameters: TypeAlias = tuple[tuple[str, str | None], ...]
"""ESMTP parameters as (keyword upper-cased, value or None), as on the SMTP events."""

MAX_ENVID_CHARS: Final = 100  # decoded, RFC 3461 §4.4
# RFC 3461 §4: NOTIFY and ORCPT may lengthen a RCPT line by up to 500 characters.
MAX_ORCPT_CHARS: Final = 500  # the value as sent, "addr-type;xtext"
NOTIFY_KINDS: Final[frozenset[str]] = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_NOTIFY_ORDER: Final = ("SUCCESS", "FAILURE", "DELAY")  # the order RFC 3461 §4.1 lists

_HEX = "0123456789ABCDEF"
_XCHARS = frozenset(chr(c) for c in range(33, 127)) - {"+", "="}  # RFC 3461 §4
_QCHARS = _XCHARS - {"\\"}  # RFC 6533 §3 QCHAR: xchar without "\"
_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-Fa-f]{2})*\Z")
_EMBEDDED = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
# RFC 5322 atext without "=" (which an esmtp-value cannot hold, RFC 5321 §4.1.2).
_ADDR_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+\Z")


class DsnParameterError(ValueError):
    """A malformed DSN parameter (RFC 3461 §4); the SMTP engine answers 501 5.5.4.

    The message never repeats the client's value, so it is safe in a reply.

    Attributes:
        keyword: the parameter, e.g. ``"NOTIFY"``.
        reason: what is wrong, ASCII, e.g. ``"NEVER cannot be combined with other values"``.
    """

    def __init__(self, keyword: str, reason: str) -> None:
        super().__init__(f"{keyword}: {reason}")
        self.keyword = keyword
        self.reason = reason


# --- xtext, RFC 3461 §4 --------------------------------------------------------------


def xtext_encode(text: str) -> str:
    """Encode *text* as xtext (RFC 3461 §4).

    Octets 33..126 other than ``+`` and ``=`` stand for themselves; every other octet
    of the UTF-8 encoding is ``+`` and two upper-case hex digits (``" "`` is ``+20``).

    Args:
        text: any string; ENVID and rfc822 ORCPT values are printable ASCII.

    Returns:
        The xtext, ASCII only; ``xtext_decode(xtext_encode(s)) == s``.
    """
    out = []
    for octet in text.encode("utf-8"):
        char = chr(octet)
        out.append(char if char in _XCHARS else f"+{_HEX[octet >> 4]}{_HEX[octet & 15]}")
    return "".join(out)


def xtext_decode(xtext: str) -> str:
    """Decode xtext (RFC 3461 §4) to the string it encodes.

    Lower-case hex digits after ``+`` are accepted too (robustness); the encoder
    writes upper case.

    Args:
        xtext: the encoded value, e.g. ``"joe+2Bdev@example.org"``.

    Returns:
        The decoded string, e.g. ``"joe+dev@example.org"``.

    Raises:
        ValueError: a character outside xtext (space, ``=``, non-ASCII), a ``+`` not
            followed by two hex digits, or octets that are not UTF-8.
    """
    if not _XTEXT.match(xtext):
        raise ValueError("malformed xtext")
    raw = bytearray()
    index = 0
    while index < len(xtext):
        char = xtext[index]
        if char == "+":
            raw.append(int(xtext[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.append(ord(char))
            index += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("xtext does not decode to UTF-8") from None


# --- utf-8 addresses, RFC 6533 §3 ------------------------------------------------------


def utf8_address_encode(address: str, *, unitext: bool = False) -> str:
    """Encode an address of type ``utf-8`` (RFC 6533 §3).

    QCHARs (printable ASCII but ``+``, ``=``, ``\\`` and space) stand for themselves;
    other characters become ``\\x{HEX}`` (EmbeddedUnicodeChar, upper-case hex, at
    least two digits). With *unitext*, printable non-ASCII characters stay as they are
    (utf-8-addr-unitext, for SMTPUTF8 next hops and message/global-delivery-status).

    Args:
        address: the decoded address, e.g. ``"jörg@example.org"``.
        unitext: keep printable non-ASCII characters.

    Returns:
        utf-8-addr-xtext (ASCII) or utf-8-addr-unitext; it is valid xtext too, and
        ``utf8_address_decode(utf8_address_encode(a)) == a``.
    """
    out = []
    for char in address:
        if char in _QCHARS or (unitext and not char.isascii() and char.isprintable()):
            out.append(char)
        else:
            out.append(f"\\x{{{ord(char):02X}}}")
    return "".join(out)


def utf8_address_decode(value: str) -> str:
    """Decode utf-8-addr-xtext or utf-8-addr-unitext (RFC 6533 §3).

    Any ``\\x{HEX}`` with 1-6 hex digits naming a Unicode scalar value is accepted
    (the RFC's HEXPOINT is stricter about which ones may be written).

    Args:
        value: the encoded address, e.g. ``"j\\x{F6}rg@example.org"``.

    Returns:
        The address, e.g. ``"jörg@example.org"``.

    Raises:
        ValueError: a ``+``, ``=``, ``\\`` (outside ``\\x{...}``), space or ASCII
            control character, or a HEXPOINT that is a surrogate or above U+10FFFF.
    """
    out = []
    index = 0
    while index < len(value):
        match = _EMBEDDED.match(value, index)
        if match is not None:
            point = int(match.group(1), 16)
            if point > 0x10FFFF or 0xD800 <= point <= 0xDFFF:
                raise ValueError("\\x{...} names no Unicode character")
            out.append(chr(point))
            index = match.end()
            continue
        char = value[index]
        if char not in _QCHARS and char.isascii():
            raise ValueError("character not allowed in a utf-8 address")
        out.append(char)
        index += 1
    return "".join(out)


# --- one parameter at a time ------------------------------------------------------------


def _required(keyword: str, value: str | None) -> str:
    if not value:
        raise DsnParameterError(keyword, "a value is required")
    return value


def _printable_ascii(text: str) -> bool:
    """Printable US-ASCII: graphic characters, space and tab (RFC 3461 §4.2, §4.4)."""
    return all(" " <= char <= "~" or char == "\t" for char in text)


def _printable_address(text: str) -> bool:
    """No control, surrogate or line-separator characters (a utf-8 address, RFC 6533)."""
    return all(unicodedata.category(char) not in ("Cc", "Cs", "Zl", "Zp") for char in text)


def parse_ret(value: str | None) -> Ret:
    """Parse the value of MAIL's ``RET`` (RFC 3461 §4.3), case-insensitively.

    Raises:
        DsnParameterError: absent or not ``FULL``/``HDRS``.
    """
    ret = _required("RET", value).upper()
    if ret == "FULL":
        return "FULL"
    if ret == "HDRS":
        return "HDRS"
    raise DsnParameterError("RET", "must be FULL or HDRS")


def check_envid(envid: str, keyword: str = "ENVID") -> str:
    """Check a decoded envelope identifier (RFC 3461 §4.4) and return it.

    Raises:
        DsnParameterError: empty, over `MAX_ENVID_CHARS` characters, or not printable
            US-ASCII.
    """
    if not envid:
        raise DsnParameterError(keyword, "a value is required")
    if len(envid) > MAX_ENVID_CHARS:
        raise DsnParameterError(keyword, f"longer than {MAX_ENVID_CHARS} characters")
    if not _printable_ascii(envid):
        raise DsnParameterError(keyword, "must decode to printable US-ASCII")
    return envid


def parse_envid(value: str | None) -> str:
    """Parse the value of MAIL's ``ENVID`` (RFC 3461 §4.4): xtext of printable ASCII.

    Args:
        value: the xtext as sent, e.g. ``"QQ314159+2Bx"``.

    Returns:
        The decoded identifier, at most `MAX_ENVID_CHARS` characters: ``"QQ314159+x"``.

    Raises:
        DsnParameterError: absent, malformed xtext, too long, or not printable ASCII.
    """
    encoded = _required("ENVID", value)
    try:
        envid = xtext_decode(encoded)
    except ValueError:
        raise DsnParameterError("ENVID", "malformed xtext") from None
    return check_envid(envid)


def check_notify(kinds: Iterable[str], keyword: str = "NOTIFY") -> frozenset[str]:
    """Check NOTIFY keywords (RFC 3461 §4.1) and return them as a frozenset.

    Args:
        kinds: upper-case keywords: ``NEVER`` alone, or some of ``SUCCESS``,
            ``FAILURE``, ``DELAY``.

    Raises:
        DsnParameterError: empty, an unknown keyword, or NEVER with others.
    """
    result = frozenset(kinds)
    if not result:
        raise DsnParameterError(keyword, "a value is required")
    if "NEVER" in result:
        if len(result) > 1:
            raise DsnParameterError(keyword, "NEVER cannot be combined with other values")
    elif not result <= NOTIFY_KINDS:
        raise DsnParameterError(keyword, "must be NEVER or a list of SUCCESS, FAILURE, DELAY")
    return result


def parse_notify(value: str | None) -> frozenset[str]:
    """Parse the value of RCPT's ``NOTIFY`` (RFC 3461 §4.1), case-insensitively.

    ``notify-esmtp-value = "NEVER" / 1#notify-list-element``: empty list elements
    (``SUCCESS,,DELAY``) are skipped as the RFC 822 ``#`` rule allows.

    Args:
        value: e.g. ``"SUCCESS,FAILURE"`` or ``"NEVER"``.

    Returns:
        The upper-case keywords, e.g. ``frozenset({"SUCCESS", "FAILURE"})``, or
        ``frozenset({"NEVER"})``.

    Raises:
        DsnParameterError: absent, an unknown or repeated keyword, or NEVER with others.
    """
    items = [item.upper() for item in _required("NOTIFY", value).split(",") if item]
    if len(set(items)) != len(items):
        raise DsnParameterError("NOTIFY", "a value is repeated")
    return check_notify(items)


def check_orcpt(orcpt: tuple[str, str], keyword: str = "ORCPT") -> tuple[str, str]:
    """Check a decoded original recipient (RFC 3461 §4.2, RFC 6533 §3) and return it.

    Args:
        orcpt: (addr-type, address); the type lower-case, e.g. ``("rfc822",
            "joe@example.org")``. Any atom is a type; ``utf-8`` addresses may hold
            non-ASCII characters, the others must be printable US-ASCII (§4.2).

    Raises:
        DsnParameterError: a malformed type, an empty address, or characters the type
            does not allow.
    """
    addr_type, address = orcpt
    if not _ADDR_TYPE.match(addr_type) or addr_type != addr_type.lower():
        raise DsnParameterError(keyword, "malformed address type")
    if not address:
        raise DsnParameterError(keyword, "the address is empty")
    if addr_type == "utf-8":
        if not _printable_address(address):
            raise DsnParameterError(keyword, "control characters in the address")
    elif not _printable_ascii(address):
        raise DsnParameterError(keyword, "the address must decode to printable US-ASCII")
    return orcpt


def parse_orcpt(value: str | None) -> tuple[str, str]:
    """Parse the value of RCPT's ``ORCPT`` (RFC 3461 §4.2, RFC 6533 §3).

    ``ORCPT=addr-type;xtext``: the type is matched case-insensitively and returned
    lower-case. Type ``utf-8`` uses RFC 6533's utf-8-addr-xtext or -unitext
    (``\\x{HEX}`` escapes, raw UTF-8 allowed); every other type uses xtext.

    Args:
        value: as sent, e.g. ``"rfc822;joe+2Bdev@example.org"``; at most
            `MAX_ORCPT_CHARS` characters.

    Returns:
        (addr-type, decoded address), e.g. ``("rfc822", "joe+dev@example.org")``.

    Raises:
        DsnParameterError: absent, too long, no ``;``, a malformed type or encoding,
            or characters the type does not allow.
    """
    raw = _required("ORCPT", value)
    if len(raw) > MAX_ORCPT_CHARS:
        raise DsnParameterError("ORCPT", f"longer than {MAX_ORCPT_CHARS} characters")
    addr_type, semicolon, encoded = raw.partition(";")
    if not semicolon:
        raise DsnParameterError("ORCPT", "expected addr-type;address")
    addr_type = addr_type.lower()
    decode = utf8_address_decode if addr_type == "utf-8" else xtext_decode
    try:
        address = decode(encoded)
    except ValueError:
        raise DsnParameterError("ORCPT", "malformed address encoding") from None
    return check_orcpt((addr_type, address))


def format_orcpt(orcpt: tuple[str, str], *, unitext: bool = False) -> str:
    """Render an ORCPT value: ``addr-type;`` and the encoded address (RFC 3461 §4.2).

    Args:
        orcpt: (addr-type lower-case, decoded address), as `parse_orcpt` returns.
        unitext: for type ``utf-8``, keep printable non-ASCII characters (only to a
            next hop that advertises SMTPUTF8, RFC 6533 §3).

    Returns:
        e.g. ``"rfc822;joe+2Bdev@example.org"`` or ``"utf-8;j\\x{F6}rg@example.org"``.
    """
    addr_type, address = orcpt
    if addr_type == "utf-8":
        return f"utf-8;{utf8_address_encode(address, unitext=unitext)}"
    return f"{addr_type};{xtext_encode(address)}"


def _pick(
    parameters: Sequence[tuple[str, str | None]], keywords: tuple[str, ...]
) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for keyword, value in parameters:
        upper = keyword.upper()
        if upper in keywords:
            if upper in found:
                raise DsnParameterError(upper, "given more than once")
            found[upper] = value
    return found


# --- the typed values ------------------------------------------------------------------


def _check_ret(_instance: object, _attribute: object, value: Ret | None) -> None:
    if value is not None and value not in ("FULL", "HDRS"):
        raise DsnParameterError("RET", "must be FULL or HDRS")


def _check_envid(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None:
        check_envid(value)


def _check_notify(_instance: object, _attribute: object, value: frozenset[str] | None) -> None:
    if value is not None:
        check_notify(value)


def _check_orcpt(_instance: object, _attribute: object, value: tuple[str, str] | None) -> None:
    if value is not None:
        check_orcpt(value)


def _notify(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


@attrs.frozen(kw_only=True)
class DsnMailParams:
    """MAIL FROM's DSN parameters (RFC 3461 §4.3, §4.4).

    Attributes:
        ret: ``"FULL"`` (return the whole message in a failure DSN) or ``"HDRS"``
            (only its header section); None when absent, and then the MTA chooses.
        envid: the envelope identifier, decoded from xtext: printable US-ASCII, at most
            `MAX_ENVID_CHARS` characters; None when absent.

    Raises:
        DsnParameterError: on construction with a value the RFC does not allow.
    """

    ret: Ret | None = attrs.field(default=None, validator=_check_ret)
    envid: str | None = attrs.field(default=None, validator=_check_envid)

    @classmethod
    def from_parameters(cls, parameters: Sequence[tuple[str, str | None]]) -> DsnMailParams:
        """Pick RET and ENVID out of MAIL's parameters and check them.

        Args:
            parameters: (keyword, value or None) pairs as on `trimail.smtp.MailFrom`;
                keywords are matched case-insensitively; others are ignored.

        Raises:
            DsnParameterError: a malformed value, or RET or ENVID given twice.
        """
        found = _pick(parameters, ("RET", "ENVID"))
        ret = parse_ret(found["RET"]) if "RET" in found else None
        envid = parse_envid(found["ENVID"]) if "ENVID" in found else None
        return cls(ret=ret, envid=envid)

    def to_parameters(self) -> Parameters:
        """Render for MAIL FROM to a next hop that advertised DSN (RFC 3461 §5.2.1).

        Returns:
            e.g. ``(("RET", "HDRS"), ("ENVID", "QQ314159"))``; ``()`` when both are absent.
        """
        out: list[tuple[str, str | None]] = []
        if self.ret is not None:
            out.append(("RET", self.ret))
        if self.envid is not None:
            out.append(("ENVID", xtext_encode(self.envid)))
        return tuple(out)


@attrs.frozen(kw_only=True)
class DsnRcptParams:
    """RCPT TO's DSN parameters (RFC 3461 §4.1, §4.2).

    Attributes:
        notify: upper-case NOTIFY keywords: ``frozenset({"NEVER"})`` or a non-empty
            subset of SUCCESS, FAILURE, DELAY; None when absent (see `wants`).
        orcpt: (addr-type lower-case, decoded address) from ORCPT, e.g.
            ``("rfc822", "joe@example.org")`` or ``("utf-8", "jörg@example.org")``;
            None when absent.

    Raises:
        DsnParameterError: on construction with a value the RFC does not allow.
    """

    notify: frozenset[str] | None = attrs.field(
        default=None, converter=_notify, validator=_check_notify
    )
    orcpt: tuple[str, str] | None = attrs.field(default=None, validator=_check_orcpt)

    @classmethod
    def from_parameters(cls, parameters: Sequence[tuple[str, str | None]]) -> DsnRcptParams:
        """Pick NOTIFY and ORCPT out of RCPT's parameters and check them.

        Args:
            parameters: (keyword, value or None) pairs as on `trimail.smtp.RcptTo`;
                keywords are matched case-insensitively; others are ignored.

        Raises:
            DsnParameterError: a malformed value, or NOTIFY or ORCPT given twice.
        """
        found = _pick(parameters, ("NOTIFY", "ORCPT"))
        notify = parse_notify(found["NOTIFY"]) if "NOTIFY" in found else None
        orcpt = parse_orcpt(found["ORCPT"]) if "ORCPT" in found else None
        return cls(notify=notify, orcpt=orcpt)

    def to_parameters(self, *, smtputf8: bool = False) -> Parameters:
        """Render for RCPT TO to a next hop that advertised DSN (RFC 3461 §5.2.1).

        Args:
            smtputf8: the next hop advertised SMTPUTF8, so a ``utf-8`` ORCPT may keep
                non-ASCII characters (RFC 6533 §3); otherwise it is all ASCII.

        Returns:
            e.g. ``(("NOTIFY", "SUCCESS,FAILURE"), ("ORCPT", "rfc822;joe@example.org"))``.
        """
        out: list[tuple[str, str | None]] = []
        if self.notify is not None:
            value = ",".join(k for k in ("NEVER", *_NOTIFY_ORDER) if k in self.notify)
            out.append(("NOTIFY", value))
        if self.orcpt is not None:
            out.append(("ORCPT", format_orcpt(self.orcpt, unitext=smtputf8)))
        return tuple(out)

    def wants(self, kind: NotifyKind, *, delay_by_default: bool = True) -> bool:
        """Whether a DSN of *kind* is to be sent for this recipient (RFC 3461 §4.1).

        Without NOTIFY, failures are reported, delays at the MTA's discretion
        (*delay_by_default*), successes never. ``NEVER`` asks for none.

        Args:
            kind: ``"FAILURE"`` (action failed), ``"DELAY"`` (delayed) or
                ``"SUCCESS"`` (delivered, relayed, expanded).
            delay_by_default: whether delays are reported when NOTIFY is absent.
        """
        if self.notify is None:
            return kind == "FAILURE" or (kind == "DELAY" and delay_by_default)
        return kind in self.notify
