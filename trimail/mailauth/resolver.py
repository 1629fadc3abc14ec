"""The DNS the mail-authentication checks see: a TXT lookup behind a protocol.

The checks in this package never resolve names themselves; the caller passes an
object with a ``txt`` method (the server wraps dnspython in a thread, tests pass a
:class:`StaticResolver`). Names are domain names without the trailing dot, e.g.
``"_dmarc.example.org"``; case does not matter (RFC 4343 §2).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol


class TempError(Exception):
    """A transient DNS failure (SERVFAIL, timeout): the check may succeed later.

    Maps to the ``temperror`` results of RFC 7208 §2.6.6, RFC 6376 §6.1.2 and
    RFC 7489 §11.2.
    """


class PermError(Exception):
    """A permanent failure that a retry will not fix (e.g. an unusable record)."""


class Resolver(Protocol):
    """The one DNS query the checks need."""

    def txt(self, name: str) -> list[str]:
        """Return the TXT records at *name*, each record's strings concatenated.

        Args:
            name: a domain name without the trailing dot, any case.

        Returns:
            One str per TXT record; the <character-string>s of a record are joined
            with nothing between them (RFC 7208 §3.3, RFC 6376 §3.6.2.2). ``[]`` for
            NXDOMAIN or NODATA.

        Raises:
            TempError: the query failed or timed out.
        """
        ...


def normalize_name(name: str) -> str:
    """Lower-case *name* and drop one trailing dot: ``"Example.ORG."`` -> ``"example.org"``."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


class StaticResolver:
    """A :class:`Resolver` over a fixed table, for tests and offline checks.

    Args:
        records: ``{name: [txt, ...]}``; names in any case, with or without the
            trailing dot. Missing names answer ``[]`` (NXDOMAIN).
        failing: names whose lookup raises :class:`TempError` (a SERVFAIL).
    """

    def __init__(self, records: Mapping[str, list[str]], failing: Collection[str] = ()) -> None:
        self._records = {normalize_name(k): list(v) for k, v in records.items()}
        self._failing = {normalize_name(name) for name in failing}
        self.queries: list[str] = []

    def txt(self, name: str) -> list[str]:
        """Answer from the table; see :meth:`Resolver.txt`."""
        key = normalize_name(name)
        self.queries.append(key)
        if key in self._failing:
            raise TempError(f"SERVFAIL for {key}")
        return list(self._records.get(key, []))
