"""IMAP flags as imap4flags handles them (RFC 5232 §3; RFC 9051 §2.3.2)."""

from __future__ import annotations

from collections.abc import Iterable

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
_CANONICAL = {flag.lower(): flag for flag in SYSTEM_FLAGS}
_ATOM_SPECIALS = frozenset('(){ %*"\\]')  # RFC 9051 §9 atom-specials (with CTL and SP)
MAX_FLAG_CHARS = 100  # a keyword is a short atom; IMAP servers cap them similarly


class FlagError(ValueError):
    """A string that is not an IMAP flag; ``flag`` is the culprit."""

    def __init__(self, message: str, flag: str) -> None:
        super().__init__(message)
        self.flag = flag


def normalize_flags(values: Iterable[str]) -> tuple[str, ...]:
    """Turn imap4flags flag strings into a list of distinct flags (RFC 5232 §3).

    Each string may hold several flags separated by spaces. System flags get their
    canonical spelling; duplicates (compared case-insensitively) are dropped, the first
    spelling kept.

    Raises:
        FlagError: ``\\Recent`` (it cannot be set) or an unknown ``\\`` flag, or a
            keyword that is not an IMAP atom (RFC 9051 §9).
    """
    found: dict[str, str] = {}
    for value in values:
        for flag in value.split():
            flag = canonical_flag(flag)
            found.setdefault(flag.lower(), flag)
    return tuple(found.values())


def canonical_flag(flag: str) -> str:
    """One flag in canonical spelling.

    Raises:
        FlagError: not a settable system flag or keyword.
    """
    if flag.startswith("\\"):
        canonical = _CANONICAL.get(flag.lower())
        if canonical is None:
            raise FlagError(f"{flag!r} is not a system flag that can be set", flag)
        return canonical
    if (
        not flag
        or len(flag) > MAX_FLAG_CHARS
        or any(c in _ATOM_SPECIALS or not "\x21" <= c <= "\x7e" for c in flag)
    ):
        raise FlagError(f"{flag!r} is not a valid IMAP keyword (RFC 9051 atom)", flag)
    return flag


def merge_flags(current: Iterable[str], change: Iterable[str], operation: str) -> tuple[str, ...]:
    """Apply setflag, addflag or removeflag to the internal variable (RFC 5232 §3).

    Args:
        current: the variable's flags.
        change: the command's flags (already normalized).
        operation: ``setflag``, ``addflag`` or ``removeflag``.

    Returns:
        The new value, duplicates removed case-insensitively.
    """
    if operation == "setflag":
        return normalize_flags(change)
    if operation == "addflag":
        return normalize_flags([*current, *change])
    drop = {flag.lower() for flag in change}
    return tuple(flag for flag in current if flag.lower() not in drop)
