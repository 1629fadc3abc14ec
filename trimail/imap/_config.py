"""Engine configuration: limits and advertised capabilities (no I/O)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

MIB = 1024 * 1024

PRE_AUTH_CAPABILITIES: tuple[str, ...] = ("SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE")
"""Extensions advertised before login, after ``IMAP4rev1 IMAP4rev2`` and the
STARTTLS / LOGINDISABLED / AUTH= entries (RFC 3501 §6.1.1, RFC 9051 §7.2.2)."""

AUTHENTICATED_CAPABILITIES: tuple[str, ...] = (
    "LITERAL+",  # RFC 7888
    "SASL-IR",  # RFC 4959
    "ID",  # RFC 2971
    "ENABLE",  # RFC 5161
    "IDLE",  # RFC 2177
    "NAMESPACE",  # RFC 2342
    "UIDPLUS",  # RFC 4315
    "MOVE",  # RFC 6851
    "UNSELECT",  # RFC 3691
    "CHILDREN",  # RFC 3348
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "SPECIAL-USE",  # RFC 6154
    "CREATE-SPECIAL-USE",  # RFC 6154 §3
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "CONDSTORE",  # RFC 7162 §3.1
    "QRESYNC",  # RFC 7162 §3.2
    "UTF8=ACCEPT",  # RFC 6855
    "STATUS=SIZE",  # RFC 8438
)
"""Extensions advertised after login, after ``IMAP4rev1 IMAP4rev2``; APPENDLIMIT
(RFC 7889) and ``extra_capabilities`` follow."""

ENABLEABLE = frozenset({"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"})
"""What ENABLE can switch on (RFC 5161 §3.1; others are ignored)."""


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _atoms(_instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: object) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(v, str) and v and all("!" <= c <= "~" and c not in '(){%*"\\]' for c in v)
        for v in value
    ):
        raise ValueError(f"{attribute.name} must be a tuple of IMAP atoms")


@attrs.frozen(kw_only=True)
class ImapConfig:
    """Limits and capabilities of one `ImapConnection` (units in the field names).

    Attributes:
        max_line_bytes: longest line from the client, CRLF included; a command with
            literals may have several. RFC 2683 §3.2.1.5 asks for at least 8000;
            imaptest's ID test sends 31.8 kB (IMAP-NOTES §3). Longer lines get a tagged
            ``BAD`` (``* BYE`` if even the tag is unreadable) and are discarded
            without being buffered.
        max_literal_bytes: largest literal other than APPEND message data (user names,
            passwords, search strings, mailbox names). Over it: ``BAD [TOOBIG]``.
        max_append_bytes: largest APPEND message (advertised as APPENDLIMIT, RFC 7889).
            Over it: ``NO [TOOBIG]``.
        max_command_bytes: all line text and literals of one command together
            (MULTIAPPEND, RFC 3502, is the only reason to reach it). Over it: TOOBIG.
        max_discard_bytes: a non-synchronizing literal over the limits is read and
            dropped (its octets were already sent, RFC 7888 §4) if it is at most this
            large; larger ones end the session with ``* BYE``.
        max_bad_commands: tagged/untagged BAD responses tolerated; the next one ends
            the session with ``* BYE Too many invalid commands``.
        starttls_available: offer STARTTLS (RFC 3501 §6.2.1) until TLS is active.
        auth_mechanisms: SASL mechanisms offered as ``AUTH=`` (upper-case), when
            passwords are allowed (TLS or loopback).
        extra_capabilities: more atoms for the authenticated CAPABILITY list, e.g.
            ``("MULTIAPPEND", "BINARY")`` once the driver implements them.
    """

    max_line_bytes: int = attrs.field(default=65536, validator=_at_least(256))
    max_literal_bytes: int = attrs.field(default=65536, validator=_at_least(0))
    max_append_bytes: int = attrs.field(default=50 * MIB, validator=_at_least(0))
    max_command_bytes: int = attrs.field(default=100 * MIB, validator=_at_least(1024))
    max_discard_bytes: int = attrs.field(default=100 * MIB, validator=_at_least(0))
    max_bad_commands: int = attrs.field(default=20, validator=_at_least(0))
    starttls_available: bool = False
    auth_mechanisms: tuple[str, ...] = attrs.field(default=("PLAIN",), validator=_atoms)
    extra_capabilities: tuple[str, ...] = attrs.field(default=(), validator=_atoms)


def capabilities(
    config: ImapConfig,
    *,
    authenticated: bool,
    tls_active: bool = False,
    passwords_allowed: bool = True,
) -> tuple[str, ...]:
    """The CAPABILITY list (RFC 3501 §7.2.1) for a session in the given situation.

    Before login: ``IMAP4rev1 IMAP4rev2``, ``STARTTLS`` (offered and not yet active),
    ``LOGINDISABLED`` (passwords not allowed, RFC 3501 §6.2.3) or ``AUTH=`` per
    mechanism, then `PRE_AUTH_CAPABILITIES`. After login: ``IMAP4rev1 IMAP4rev2``,
    `AUTHENTICATED_CAPABILITIES`, ``APPENDLIMIT=n``, ``extra_capabilities``.
    """
    caps = ["IMAP4rev1", "IMAP4rev2"]
    if authenticated:
        caps += AUTHENTICATED_CAPABILITIES
        caps.append(f"APPENDLIMIT={config.max_append_bytes}")
        caps += config.extra_capabilities
        return tuple(caps)
    if config.starttls_available and not tls_active:
        caps.append("STARTTLS")
    if passwords_allowed:
        caps += (f"AUTH={m.upper()}" for m in config.auth_mechanisms)
    else:
        caps.append("LOGINDISABLED")
    caps += PRE_AUTH_CAPABILITIES
    return tuple(caps)
