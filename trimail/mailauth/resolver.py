"""The DNS the mail-authentication checks see: lookups behind a protocol.

The checks in this package never resolve names themselves; the caller passes an
object with ``txt`` and ``lookup`` methods (the server wraps dnspython in a thread,
tests pass a :class:`StaticResolver`). Names are domain names without the trailing
dot, e.g. ``"_dmarc.example.org"``; case does not matter (RFC 4343 §2).

Records travel as text, one str per record (:meth:`Resolver.lookup` gives the form
of each type), so that a resolver needs no DNS library to implement the protocol.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol, TypeAlias

RDTYPES = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT")  # what lookup() answers
MAX_CNAME_CHAIN = 16  # CNAMEs StaticResolver follows before it calls it a loop (SERVFAIL)

# One record in a StaticResolver table: a str is a TXT record, a pair is (rdtype, text).
StaticRecord: TypeAlias = str | tuple[str, str]


class TempError(Exception):
    """A transient DNS failure (SERVFAIL, timeout): the check may succeed later.

    Maps to the ``temperror`` results of RFC 7208 §2.6.6, RFC 6376 §6.1.2 and
    RFC 7489 §11.2.
    """


class PermError(Exception):
    """A permanent failure that a retry will not fix (e.g. an unusable record)."""


class Resolver(Protocol):
    """The DNS queries the checks need."""

    def txt(self, name: str) -> list[str]:
        """Return the TXT records at *name*, each record's strings concatenated.

        The same as ``lookup(name, "TXT")``.

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

    def lookup(self, name: str, rdtype: str) -> list[str]:
        """Return the records of type *rdtype* at *name*, in text form.

        CNAMEs at *name* are followed (RFC 1034 §3.6.2) for every type but CNAME.

        Args:
            name: a domain name without the trailing dot, any case; for PTR the
                reverse name, e.g. ``"1.2.0.192.in-addr.arpa"`` (RFC 1035 §3.5).
            rdtype: one of :data:`RDTYPES`, upper case: ``"A"``, ``"AAAA"``,
                ``"CNAME"``, ``"MX"``, ``"NS"``, ``"PTR"`` or ``"TXT"``.

        Returns:
            One str per record, in the order the server sent:

            - A, AAAA: the address in its canonical text form, ``"192.0.2.1"``,
              ``"2001:db8::1"`` (RFC 5952 §4);
            - MX: ``"<preference> <exchange>"``, e.g. ``"10 mx1.example.org"``;
              ``"0 ."`` is a null MX (RFC 7505 §3);
            - CNAME, NS, PTR: the target name, lower case, no trailing dot;
            - TXT: as :meth:`txt`.

            ``[]`` for NXDOMAIN or NODATA.

        Raises:
            TempError: the query failed or timed out.
            ValueError: *rdtype* is not one of :data:`RDTYPES`.
        """
        ...


def normalize_name(name: str) -> str:
    """Lower-case *name* and drop one trailing dot: ``"Example.ORG."`` -> ``"example.org"``."""
    name = name.lower()
    return name[:-1] if name.endswith(".") else name


def check_rdtype(rdtype: str) -> str:
    """*rdtype* in upper case if :meth:`Resolver.lookup` answers it.

    Raises:
        ValueError: it does not.
    """
    upper = rdtype.upper()
    if upper not in RDTYPES:
        raise ValueError(f"unsupported rdtype {rdtype!r}; expected one of {', '.join(RDTYPES)}")
    return upper


def normalize_record(rdtype: str, text: str) -> str:
    """*text* in the form :meth:`Resolver.lookup` returns for *rdtype*.

    ``("AAAA", "2001:DB8:0::1")`` -> ``"2001:db8::1"``, ``("MX", "10 MX1.Example.")``
    -> ``"10 mx1.example"``, ``("PTR", "Host.Example.")`` -> ``"host.example"``; TXT
    is kept as it is.

    Raises:
        ValueError: *rdtype* is not supported, or *text* is not a record of that type.
    """
    rdtype = check_rdtype(rdtype)
    if rdtype in ("A", "AAAA"):
        address = ipaddress.ip_address(text.strip())
        if address.version != (4 if rdtype == "A" else 6):
            raise ValueError(f"{text!r} is not an {rdtype} address")
        return str(address)
    if rdtype == "MX":
        preference, _, exchange = text.strip().partition(" ")
        if not preference.isdigit() or int(preference) > 65535 or not exchange.strip():
            raise ValueError(f"{text!r} is not '<preference 0-65535> <exchange>'")
        exchange = exchange.strip()
        return f"{int(preference)} {'.' if exchange == '.' else normalize_name(exchange)}"
    if rdtype == "TXT":
        return text
    return normalize_name(text.strip())


class StaticResolver:
    """A :class:`Resolver` over a fixed table, for tests and offline checks.

    Args:
        records: ``{name: [record, ...]}``; names in any case, with or without the
            trailing dot. A record is a str (a TXT record, the strings already
            joined) or an ``(rdtype, text)`` pair in the text form of
            :meth:`Resolver.lookup`, e.g. ``("A", "192.0.2.1")``,
            ``("MX", "10 mx.example.org")``, ``("CNAME", "other.example.org")``.
            A name with a CNAME should have no other records (RFC 1034 §3.6.2).
            Missing names answer ``[]`` (NXDOMAIN), as do missing types (NODATA).
        failing: queries that raise :class:`TempError` (a SERVFAIL): a name (every
            type fails) or a ``(name, rdtype)`` pair (only that type fails).

    Attributes:
        queries: the name of every query, in order, e.g. ``["_dmarc.example.org"]``.
        lookups: every query as ``(name, rdtype)``, in order; CNAME targets
            followed are not queries of their own.

    Raises:
        ValueError: a record is not valid for its type (see :func:`normalize_record`).
    """

    def __init__(
        self,
        records: Mapping[str, Iterable[StaticRecord]],
        failing: Collection[str | tuple[str, str]] = (),
    ) -> None:
        self._records: dict[str, list[tuple[str, str]]] = {
            normalize_name(name): [self._typed(record) for record in entries]
            for name, entries in records.items()
        }
        self._failing = {self._failure(item) for item in failing}
        self.queries: list[str] = []
        self.lookups: list[tuple[str, str]] = []

    @staticmethod
    def _typed(record: StaticRecord) -> tuple[str, str]:
        """``(rdtype, text)`` for a table entry, normalized."""
        if isinstance(record, str):
            return ("TXT", record)
        rdtype, text = record
        return (check_rdtype(rdtype), normalize_record(rdtype, text))

    @staticmethod
    def _failure(item: str | tuple[str, str]) -> tuple[str, str]:
        """``(name, rdtype)`` for an entry of *failing*; rdtype "" means every type."""
        if isinstance(item, str):
            return (normalize_name(item), "")
        return (normalize_name(item[0]), check_rdtype(item[1]))

    def txt(self, name: str) -> list[str]:
        """Answer from the table; see :meth:`Resolver.txt`."""
        return self.lookup(name, "TXT")

    def lookup(self, name: str, rdtype: str) -> list[str]:
        """Answer from the table; see :meth:`Resolver.lookup`.

        Raises:
            TempError: the name (or a CNAME target) is in *failing*, or the CNAME
                chain is a loop or longer than :data:`MAX_CNAME_CHAIN`.
            ValueError: *rdtype* is not supported.
        """
        rdtype = check_rdtype(rdtype)
        key = normalize_name(name)
        self.queries.append(key)
        self.lookups.append((key, rdtype))
        for _ in range(MAX_CNAME_CHAIN + 1):
            if (key, "") in self._failing or (key, rdtype) in self._failing:
                raise TempError(f"SERVFAIL for {key} {rdtype}")
            entries = self._records.get(key, [])
            found = [text for kind, text in entries if kind == rdtype]
            target = next((text for kind, text in entries if kind == "CNAME"), None)
            if found or rdtype == "CNAME" or target is None:
                return found
            key = target
        raise TempError(f"SERVFAIL for {normalize_name(name)} {rdtype}: CNAME loop")
