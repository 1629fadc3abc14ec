"""Comparators and match types (RFC 5228 §2.7.1, §2.7.3; RFC 4790 §9.2, §9.3).

Two comparators: ``i;octet`` (exact) and ``i;ascii-casemap`` (only ASCII letters are
folded, RFC 4790 §9.2). Three match types: ``:is``, ``:contains`` and ``:matches``
(wildcards ``*`` and ``?``, ``\\`` quotes the next character).

``:matches`` never backtracks: a pattern is split at its ``*`` into fixed-length
segments, the first anchored at the start, the last at the end, the others found
left-most in between. Each segment is a regular expression of literal characters and
``.`` only (no quantifier), so the work is at most about len(value) x len(pattern)
character steps in C, never exponential. ``?`` matches one character (a Unicode code
point), as Pigeonhole and Cyrus do, rather than one octet.
"""

from __future__ import annotations

import enum
import functools
import re
import string
from collections.abc import Callable

import attrs

OCTET = "i;octet"
ASCII_CASEMAP = "i;ascii-casemap"
COMPARATORS = (OCTET, ASCII_CASEMAP)

_ASCII_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class MatchType(enum.Enum):
    """The match types of RFC 5228 §2.7.1."""

    IS = "is"
    CONTAINS = "contains"
    MATCHES = "matches"


@attrs.frozen(kw_only=True)
class Match:
    """How a test compares values with its key-list (RFC 5228 §2.7).

    Attributes:
        match_type: ``:is`` (the default), ``:contains`` or ``:matches``.
        comparator: ``i;ascii-casemap`` (the default) or ``i;octet``.
        keys: the key-list; the test is true if any value matches any key.
    """

    match_type: MatchType = MatchType.IS
    comparator: str = ASCII_CASEMAP
    keys: tuple[str, ...] = ()

    def any_value(
        self, values: list[str] | tuple[str, ...], tick: Callable[[], None] = lambda: None
    ) -> bool:
        """True if any of *values* matches any key (RFC 5228 §2.7.1); False for none.

        *tick* is called before each comparison (the interpreter's time budget; it
        raises to stop the run)."""
        for value in values:
            for key in self.keys:
                tick()
                if self.one(value, key):
                    return True
        return False

    def one(self, value: str, key: str) -> bool:
        """Compare one value with one key."""
        return compare(value, key, self.match_type, self.comparator)


def fold(text: str, comparator: str) -> str:
    """*text* as the comparator sees it: ASCII letters lower-cased for
    ``i;ascii-casemap`` (RFC 4790 §9.2), unchanged for ``i;octet``."""
    return text.translate(_ASCII_FOLD) if comparator == ASCII_CASEMAP else text


def compare(value: str, key: str, match_type: MatchType, comparator: str) -> bool:
    """Match *value* against *key* (RFC 5228 §2.7.1).

    Args:
        value: the value from the message (a header value, an address part).
        key: the key from the script; for ``:matches`` a wildcard pattern.
        match_type: ``:is``, ``:contains`` or ``:matches``.
        comparator: ``i;octet`` or ``i;ascii-casemap``.

    Returns:
        True if they match.
    """
    value, key = fold(value, comparator), fold(key, comparator)
    if match_type is MatchType.IS:
        return value == key
    if match_type is MatchType.CONTAINS:
        return key in value
    return glob_match(key, value)


_ANY_ONE = object()  # one "?" in a pattern segment


@attrs.frozen
class _Pattern:
    """A parsed ``:matches`` pattern: segments between ``*`` (``star`` is False for a
    pattern without any ``*``)."""

    segments: tuple[re.Pattern[str], ...]
    lengths: tuple[int, ...]
    star: bool


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> _Pattern:
    segments: list[list[str]] = [[]]
    escaped = False
    for char in pattern:
        if escaped:
            segments[-1].append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            segments.append([])
        elif char == "?":
            segments[-1].append(".")
        else:
            segments[-1].append(re.escape(char))
    if escaped:  # a trailing lone backslash stands for itself
        segments[-1].append(re.escape("\\"))
    return _Pattern(
        segments=tuple(re.compile("".join(s), re.DOTALL) for s in segments),
        lengths=tuple(len(s) for s in segments),
        star=len(segments) > 1,
    )


def glob_match(pattern: str, value: str) -> bool:
    """``:matches``: does *value* as a whole match the wildcard *pattern*?

    ``*`` matches any sequence (also empty), ``?`` one character, ``\\`` makes the next
    character literal (RFC 5228 §2.7.1). Both arguments already folded by the
    comparator.

    Returns:
        True on a match. Work: linear in len(value) per segment, no backtracking.
    """
    compiled = _compile(pattern)
    if not compiled.star:
        return compiled.lengths[0] == len(value) and (
            compiled.segments[0].fullmatch(value) is not None
        )
    first, last = compiled.segments[0], compiled.segments[-1]
    start, end = compiled.lengths[0], len(value) - compiled.lengths[-1]
    if end < start or first.match(value) is None or last.fullmatch(value, end) is None:
        return False
    for segment in compiled.segments[1:-1]:
        found = segment.search(value, start, end)
        if found is None:
            return False
        start = found.end()
    return True
