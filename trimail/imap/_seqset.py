"""Sequence sets (RFC 3501 §9 ``sequence-set``, RFC 9051 §9, ``$`` of RFC 5182).

A `SequenceSet` keeps the ranges as sent (``*`` as 0), so ``str(parse(s))`` is the
canonical wire form and ``parse(str(x)) == x``. `SequenceSet.resolve` turns it into
ascending, merged, inclusive ranges for a given largest value (the number of messages
for sequence numbers, the highest UID for UID sets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

__all__ = ["MAX_NZ_NUMBER", "SequenceSet"]

MAX_NZ_NUMBER = 0xFFFFFFFF  # nz-number is a non-zero unsigned 32-bit integer (§9)
STAR = 0  # "*" in a range
MAX_RANGES = 10_000  # more ranges than any client sends; bounds work per command

_NUMBER = r"(?:[1-9][0-9]{0,9}|\*)"
_RANGE_RE = re.compile(rf"({_NUMBER})(?::({_NUMBER}))?")


def _number(text: str) -> int:
    if text == "*":
        return STAR
    value = int(text)
    if value > MAX_NZ_NUMBER:
        raise ValueError(f"number out of range: {text}")
    return value


@attrs.frozen
class SequenceSet:
    """A parsed sequence set.

    Attributes:
        ranges: ``(first, last)`` pairs as sent, ``0`` standing for ``*``; a single
            number ``n`` is ``(n, n)``. Reversed ranges (``4:2``) are kept reversed.
        saved: True for ``$``, the saved search result (RFC 5182, RFC 9051 §6.4.4.1);
            then ``ranges`` is empty.
    """

    ranges: tuple[tuple[int, int], ...] = ()
    saved: bool = False

    @classmethod
    def parse(cls, text: str | bytes) -> SequenceSet:
        """Parse ``1,3:5,7:*`` or ``$``.

        Raises:
            ValueError: empty, malformed, zero, over 2^32-1, or over MAX_RANGES ranges.
        """
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        if text == "$":
            return cls(saved=True)
        parts = text.split(",")
        if len(parts) > MAX_RANGES:
            raise ValueError("too many ranges in sequence set")
        ranges = []
        for part in parts:
            match = _RANGE_RE.fullmatch(part)
            if match is None:
                raise ValueError(f"invalid sequence set {text[:64]!r}")
            first = _number(match[1])
            last = first if match[2] is None else _number(match[2])
            ranges.append((first, last))
        return cls(tuple(ranges))

    @classmethod
    def from_values(cls, values: Iterable[int]) -> SequenceSet:
        """The compact set of the given numbers (``1:3,7``); empty input gives ``()``.

        Raises:
            ValueError: a value outside 1..2^32-1.
        """
        ranges: list[tuple[int, int]] = []
        for value in sorted(set(values)):
            if not 1 <= value <= MAX_NZ_NUMBER:
                raise ValueError(f"not an nz-number: {value}")
            if ranges and ranges[-1][1] == value - 1:
                ranges[-1] = (ranges[-1][0], value)
            else:
                ranges.append((value, value))
        return cls(tuple(ranges))

    def __str__(self) -> str:
        if self.saved:
            return "$"

        def one(n: int) -> str:
            return "*" if n == STAR else str(n)

        return ",".join(one(a) if a == b else f"{one(a)}:{one(b)}" for a, b in self.ranges)

    @property
    def uses_star(self) -> bool:
        """True if any range names ``*``."""
        return any(STAR in pair for pair in self.ranges)

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ascending, non-overlapping, inclusive ranges with ``*`` replaced by ``largest``.

        ``n:*`` with n > largest is ``largest:n`` (RFC 3501 §9: the order does not
        matter), so it still includes the largest value. With ``largest == 0`` a ``*``
        matches nothing. Values above ``largest`` are kept: the caller decides whether
        they are an error (sequence numbers) or ignored (UIDs).

        Raises:
            ValueError: on a ``$`` set (resolve the saved result instead).
        """
        if self.saved:
            raise ValueError("resolve the saved search result instead of '$'")
        spans = []
        for first, last in self.ranges:
            if largest == 0 and STAR in (first, last):
                continue
            a = largest if first == STAR else first
            b = largest if last == STAR else last
            spans.append((min(a, b), max(a, b)))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1] + 1:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged

    def contains(self, value: int, largest: int) -> bool:
        """True if ``value`` is in the set, ``*`` being ``largest``."""
        return any(a <= value <= b for a, b in self.resolve(largest))
