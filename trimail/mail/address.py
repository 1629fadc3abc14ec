"""Mailbox addresses and SMTP paths (RFC 5321 §4.1.2, RFC 6531 §3.3).

These are plain values. Parsing them out of SMTP command lines is the SMTP engine's
job (`trimail.smtp`); this module only holds the types and their canonical rendering.
"""

from __future__ import annotations

import attrs

# RFC 5321 §4.1.2: atext characters allowed unquoted in a Dot-string local part.
_ATEXT_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~")


def is_dot_string(local_part: str) -> bool:
    """True if *local_part* may be written without quotes (RFC 5321 §4.1.2 Dot-string).

    Non-ASCII characters count as atext (RFC 6531 §3.3 extends atext with UTF8-non-ascii).
    """
    if not local_part:
        return False
    for atom in local_part.split("."):
        if not atom:
            return False
        for ch in atom:
            if not (ch.isascii() and ch.isalnum()) and ch not in _ATEXT_SPECIALS and ch.isascii():
                return False
    return True


def quote_local_part(local_part: str) -> str:
    """Render a local part, quoting it only when it is not a Dot-string (RFC 5321 §4.1.2).

    Args:
        local_part: the unquoted local part (quoted-pairs already removed).

    Returns:
        The local part as it may appear in a path: ``joe`` or ``"joe smith"``.
    """
    if is_dot_string(local_part):
        return local_part
    escaped = local_part.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@attrs.frozen(kw_only=True)
class Mailbox:
    """An address ``Local-part@Domain`` (RFC 5321 §4.1.2).

    Attributes:
        local_part: the local part with quoting removed; case is kept (RFC 5321 §2.4
            says only the receiving host may interpret it).
        domain: the domain or address literal as sent (e.g. ``example.org`` or
            ``[192.0.2.1]``); ``""`` only for the special forward-path ``<postmaster>``
            (RFC 5321 §4.1.1.3).
    """

    local_part: str
    domain: str

    def __str__(self) -> str:
        if not self.domain:
            return self.local_part
        return f"{quote_local_part(self.local_part)}@{self.domain}"

    @property
    def is_postmaster(self) -> bool:
        """True for ``<postmaster>`` without a domain (RFC 5321 §4.1.1.3)."""
        return not self.domain and self.local_part.lower() == "postmaster"

    @property
    def is_ascii(self) -> bool:
        """True if the address needs no SMTPUTF8 (RFC 6531 §3.3)."""
        return str(self).isascii()

    def normalized(self) -> str:
        """Return a lookup key: local part as is, domain lower-cased and IDNA-neutral.

        Used by routing to compare against configured domains and users. The local part
        is lower-cased too, as every mainstream server treats it case-insensitively.
        """
        return f"{self.local_part.lower()}@{self.domain.lower().rstrip('.')}"


@attrs.frozen
class NullPath:
    """The null reverse-path ``<>`` (RFC 5321 §4.5.5): used by bounces and notifications."""

    def __str__(self) -> str:
        return ""


NULL_PATH = NullPath()

ReversePath = Mailbox | NullPath
