"""Engine configuration: limits and advertised capabilities (no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

# RFC 4616 §2: three fields of at most 255 octets and two NULs; base64 of 767 octets.
_LONGEST_PLAIN_B64 = 4 * ((3 * 255 + 2 + 2) // 3)  # 1024
# "AUTH PLAIN " + the longest initial response + CRLF.
DEFAULT_MAX_LINE_BYTES = len("AUTH PLAIN ") + _LONGEST_PLAIN_B64 + 2  # 1037


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _printable(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not all(" " <= c <= "~" for c in value):
        raise ValueError(f"{attribute.name} must be non-empty printable ASCII")


def _mechanisms(
    _instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: object
) -> None:
    # RFC 4422 §3.1: 1-20 characters, upper-case letters, digits, "-" and "_"
    if not isinstance(value, tuple) or not all(
        isinstance(v, str)
        and 1 <= len(v) <= 20
        and all(c.isascii() and (c.isupper() or c.isdigit() or c in "-_") for c in v)
        for v in value
    ):
        raise ValueError(f"{attribute.name} must be a tuple of SASL mechanism names")


@attrs.frozen(kw_only=True)
class Pop3Config:
    """Limits and capabilities of one `Pop3Connection` (units in the field names).

    Attributes:
        max_line_bytes: longest line from the client, CRLF included. RFC 2449 §4
            limits commands to 255 octets, but SASL continuation lines are not
            commands, and RFC 5034 §4 only tells clients to drop the initial response
            when it would break that limit; some clients send it anyway. The default,
            1037, fits ``AUTH PLAIN`` with the longest valid initial response (three
            255-octet fields, RFC 4616 §2, base64: 1024 octets). Longer lines get
            ``-ERR`` and are discarded without being buffered.
        max_bad_commands: errors tolerated (unknown commands, syntax, wrong state,
            lines too long, failed logins); the next one ends the session with
            ``-ERR [SYS/PERM] too many errors``. ``-ERR`` for a missing or deleted
            message is not counted.
        auth_allowed: accept USER/PASS and AUTH and advertise them in CAPA. False on
            cleartext connections that are not loopback (RFC 2595 §2.1, RFC 8314).
        stls: offer STLS (RFC 2595 §4) until TLS is active.
        sasl_mechanisms: what AUTH accepts and CAPA lists as ``SASL ...`` (RFC 2449
            §6.3), upper-case, when *auth_allowed*. The engine runs PLAIN itself
            (`Authenticate`); the others go to the driver (`SaslAuthenticate`).
        implementation: the CAPA ``IMPLEMENTATION`` value (RFC 2449 §6.9) and the
            name in the QUIT reply.
    """

    max_line_bytes: int = attrs.field(default=DEFAULT_MAX_LINE_BYTES, validator=_at_least(16))
    max_bad_commands: int = attrs.field(default=10, validator=_at_least(0))
    auth_allowed: bool = True
    stls: bool = False
    sasl_mechanisms: tuple[str, ...] = attrs.field(default=("PLAIN",), validator=_mechanisms)
    implementation: str = attrs.field(default="trimail", validator=_printable)
