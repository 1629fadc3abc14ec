"""The server's DNS resolver: MX, A/AAAA, TXT and PTR lookups on Trio, with a cache.

One :class:`DnsResolver` serves the whole ``trimail serve`` process: the queue runner
asks it for MX hosts (RFC 5321 §5.1) and their addresses, the SMTP sessions for PTR
names, the mail-authentication checks for TXT records (and, through the general
:meth:`DnsResolver.lookup`, SPF for A, AAAA, MX and PTR records too). It uses dnspython's async stub
resolver (``dns.asyncresolver``, which runs on Trio through ``dns.asyncbackend``) and
keeps a small cache that honours the records' TTLs, so repeated lookups during a queue
run stay off the network.

Code that runs in a worker thread (``trio.to_thread.run_sync``, e.g. DKIM
verification) uses :class:`ThreadResolver`, which implements the synchronous
:class:`trimail.mailauth.resolver.Resolver` protocol by calling back into Trio.

Names: every method accepts a domain in any case, with or without the trailing dot,
as A-labels or U-labels (converted with IDNA 2008 and the UTS 46 mapping,
:func:`domain_to_ascii`); every name returned is lower-case A-labels without the
trailing dot.

Errors: a lookup either answers or raises :class:`~trimail.mailauth.resolver.TempError`
(timeout, SERVFAIL, REFUSED, malformed answer, no nameservers); it never raises
another exception and never takes longer than ``timeout_seconds``.
"""

from __future__ import annotations

import collections
import enum
import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs
import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.reversename
import idna
import trio
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from trimail.mailauth.resolver import PermError, TempError, check_rdtype

__all__ = [
    "DnsResolver",
    "MxHost",
    "MxResult",
    "MxStatus",
    "ThreadResolver",
    "domain_to_ascii",
    "parse_nameserver",
]

log = logging.getLogger("trimail.dns")

DNS_PORT = 53  # RFC 1035 §4.2.1
MAX_TTL_SECONDS = 3600.0  # cap on how long any answer is cached, positive or negative
PER_SERVER_TIMEOUT_SECONDS = 2.0  # one try at one nameserver before the next one

_T = TypeVar("_T")
_CacheKey = tuple[dns.name.Name, dns.rdatatype.RdataType]


def parse_nameserver(text: str) -> tuple[str, int]:
    """Split a nameserver setting into address and port.

    Args:
        text: ``"127.0.0.1"``, ``"::1"``, ``"127.0.0.1:5353"``, ``"[::1]"`` or
            ``"[::1]:5353"``; the port defaults to 53 (RFC 1035 §4.2.1).

    Returns:
        ``(address, port)``: the address in its canonical text form, e.g.
        ``("::1", 5353)``; port 1-65535.

    Raises:
        ValueError: not an IP address with an optional port.
    """
    host, port_text = text.strip(), ""
    if host.startswith("["):
        host, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPv6] or [IPv6]:port")
        port_text = rest[1:]
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    try:
        address = ipaddress.ip_address(host)
        port = int(port_text) if port_text else DNS_PORT
    except ValueError:
        raise ValueError(f"{text!r} is not a nameserver (IP, IP:port or [IPv6]:port)") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: port {port} is not 1-65535")
    return str(address), port


def domain_to_ascii(domain: str) -> str:
    """Convert a domain name to lower-case A-labels (RFC 5890 §2.3.2.1).

    Non-ASCII input is mapped with UTS 46 (non-transitional: "ß" stays "ß") and each
    non-ASCII label becomes an A-label under IDNA 2008 (RFC 5891 §4); ASCII labels are
    only lower-cased, so ``_dmarc`` and ``_domainkey`` labels pass.

    Args:
        domain: a name in any case, A-labels or U-labels, with or without one trailing
            dot, e.g. ``"Bücher.Example."``.

    Returns:
        The name without the trailing dot, e.g. ``"xn--bcher-kva.example"``.

    Raises:
        UnicodeError: a label is not a valid IDNA 2008 U-label (e.g. ``"☃"``).
    """
    name = domain.strip()
    if not name.isascii():
        name = idna.uts46_remap(name, std3_rules=False, transitional=False)
    name = name.lower().removesuffix(".")
    return ".".join(
        label if label.isascii() else idna.alabel(label).decode("ascii")
        for label in name.split(".")
    )


def _to_name(domain: str) -> dns.name.Name | None:
    """*domain* as an absolute dnspython name, or None if no such name can exist.

    A name that cannot be written in DNS (invalid IDNA, an empty label, a label over
    63 octets or a name over 255 octets, RFC 1035 §2.3.4) or the root itself.
    """
    try:
        name = dns.name.from_text(domain_to_ascii(domain), origin=dns.name.root)
    except (dns.exception.DNSException, UnicodeError):
        return None
    return None if name == dns.name.root else name.canonicalize()


def _text(name: dns.name.Name) -> str:
    """A name as returned by this module: lower case, A-labels, no trailing dot."""
    return name.to_text(omit_final_dot=True).lower()


class MxStatus(enum.Enum):
    """What the MX lookup of a domain found (RFC 5321 §5.1)."""

    FOUND = "found"  # MX records: deliver to the hosts in order
    IMPLICIT = "implicit"  # no MX records (NODATA): the domain itself, preference 0
    NULL_MX = "null-mx"  # RFC 7505 "MX 0 .": the domain accepts no mail (permanent)
    NO_DOMAIN = "no-domain"  # NXDOMAIN or an impossible name (permanent)


@attrs.frozen(kw_only=True)
class MxHost:
    """One mail exchanger (RFC 1035 §3.3.9)."""

    preference: int  # 0-65535; lower is tried first (RFC 5321 §5.1)
    host: str  # lower-case A-labels, no trailing dot, e.g. "mx1.example.org"


@attrs.frozen(kw_only=True)
class MxResult:
    """The mail exchangers of a domain, in the order to try them (RFC 5321 §5.1).

    Attributes:
        domain: the domain looked up, lower-case A-labels without the trailing dot.
        status: what the lookup found.
        hosts: by preference, ties in random order (§5.1 "randomize them to spread the
            load"); for ``IMPLICIT`` the one host is the domain itself (or the target
            of its CNAME), preference 0; empty for ``NULL_MX`` and ``NO_DOMAIN``.
    """

    domain: str
    status: MxStatus
    hosts: tuple[MxHost, ...] = ()

    @property
    def implicit(self) -> bool:
        """True if the domain has no MX records and the domain itself is the host."""
        return self.status is MxStatus.IMPLICIT

    @property
    def accepts_mail(self) -> bool:
        """False if delivery must fail permanently: NXDOMAIN or a null MX (RFC 7505 §3)."""
        return self.status in (MxStatus.FOUND, MxStatus.IMPLICIT)


@attrs.frozen
class _Answer:
    """What one query found, as cached: NXDOMAIN, NODATA or records."""

    exists: bool  # False for NXDOMAIN (RFC 8020: nothing below it exists either)
    canonical_name: dns.name.Name  # the owner after following CNAMEs (RFC 1034 §3.6.2)
    records: tuple[dns.rdata.Rdata, ...] = ()  # empty for NXDOMAIN and NODATA


class _Cache:
    """A bounded LRU cache of answers that expire after their TTL.

    Args:
        max_entries: at most this many answers; 0 disables the cache.
        max_ttl_seconds: no answer is kept longer than this, whatever its TTL.
        clock: monotonic seconds.
    """

    def __init__(self, max_entries: int, max_ttl_seconds: float, clock: Callable[[], float]):
        self._entries: collections.OrderedDict[_CacheKey, tuple[float, _Answer]] = (
            collections.OrderedDict()
        )
        self._max_entries = max_entries
        self._max_ttl_seconds = max_ttl_seconds
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: _CacheKey) -> _Answer | None:
        """The cached answer, or None if there is none or it has expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: _CacheKey, answer: _Answer, ttl_seconds: float) -> None:
        """Keep *answer* for min(*ttl_seconds*, max_ttl_seconds); a TTL of 0 is not cached."""
        ttl = min(ttl_seconds, self._max_ttl_seconds)
        if ttl <= 0 or self._max_entries <= 0:
            return
        self._entries[key] = (self._clock() + ttl, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every answer."""
        self._entries.clear()


class DnsResolver:
    """The server's DNS stub resolver, on Trio.

    Not thread-safe: call it from the Trio thread; worker threads use
    :class:`ThreadResolver`.

    Args:
        nameservers: recursive resolvers to ask, each ``"IP"``, ``"IP:port"`` or
            ``"[IPv6]:port"`` (see :func:`parse_nameserver`); empty means those of
            *resolv_conf*.
        timeout_seconds: the longest any one lookup may take, all retries and
            nameservers included; each nameserver gets at most
            ``PER_SERVER_TIMEOUT_SECONDS`` per try.
        cache_entries: how many answers to cache (one per name and type); 0 disables.
        max_ttl_seconds: no answer is cached longer than this, whatever its TTL;
            negative answers are cached for the SOA's negative TTL (RFC 2308 §5).
        prefer_ipv6: :meth:`addresses` lists IPv6 addresses before IPv4 ones
            (the default of RFC 6724 §10.3).
        rng: orders MX hosts of equal preference (RFC 5321 §5.1); a seeded
            ``random.Random`` for tests.
        clock: monotonic seconds for the cache; a fake clock for tests.
        resolv_conf: where to read the system's nameservers when *nameservers* is
            empty.

    Raises:
        ValueError: a nameserver is not an IP address with an optional port.

    Error handling:
        An unreadable *resolv_conf*, or one without nameservers, is not an error
        here: every lookup then raises ``TempError``.
    """

    def __init__(
        self,
        nameservers: Sequence[str] = (),
        *,
        timeout_seconds: float = 5.0,
        cache_entries: int = 10000,
        max_ttl_seconds: float = MAX_TTL_SECONDS,
        prefer_ipv6: bool = True,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        resolv_conf: str = "/etc/resolv.conf",
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.prefer_ipv6 = prefer_ipv6
        self._rng = rng if rng is not None else random.Random()
        self._cache = _Cache(cache_entries, max_ttl_seconds, clock)
        self._resolver = _stub_resolver(nameservers, resolv_conf, timeout_seconds)

    @property
    def nameservers(self) -> list[str]:
        """The nameservers asked, as ``"IP:port"`` / ``"[IPv6]:port"``; [] if none."""
        found = []
        for server in self._resolver.nameservers:
            if isinstance(server, dns.nameserver.Do53Nameserver):
                address, port = server.address, server.port
            else:  # from resolv.conf: an address, on the resolver's port
                address, port = str(server), self._resolver.port
            found.append(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
        return found

    @property
    def cache_size(self) -> int:
        """How many answers are cached now (expired ones may still count)."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every cached answer."""
        self._cache.clear()

    async def mx(self, domain: str) -> MxResult:
        """Find where to deliver mail for *domain* (RFC 5321 §5.1, RFC 7505).

        Address literals (``[192.0.2.1]``) are the caller's business: they have no MX.

        Args:
            domain: the domain of a forward-path, any case, A- or U-labels.

        Returns:
            ``FOUND`` with hosts by preference (ties shuffled with *rng*, and a host
            listed twice kept at its lowest preference); ``IMPLICIT`` when the domain
            has no MX records (NODATA), with the domain itself (or its CNAME target)
            at preference 0, whether or not it has addresses; ``NULL_MX`` when the
            only exchange is "." (RFC 7505 §3; a "." among real hosts is dropped);
            ``NO_DOMAIN`` for NXDOMAIN or a name that cannot exist.

        Raises:
            TempError: SERVFAIL, REFUSED, timeout, malformed answer, no nameservers.
        """
        name = _to_name(domain)
        if name is None:
            return MxResult(domain=domain.strip().lower(), status=MxStatus.NO_DOMAIN)
        answer = await self._lookup(name, dns.rdatatype.MX)
        if not answer.exists:
            return MxResult(domain=_text(name), status=MxStatus.NO_DOMAIN)
        if not answer.records:
            implicit = MxHost(preference=0, host=_text(answer.canonical_name))
            return MxResult(domain=_text(name), status=MxStatus.IMPLICIT, hosts=(implicit,))
        return self._explicit_mx(_text(name), answer.records)

    def _explicit_mx(self, domain: str, records: Sequence[dns.rdata.Rdata]) -> MxResult:
        """Order MX records: preference, then random (RFC 5321 §5.1); detect null MX."""
        best: dict[str, int] = {}
        for record in records:
            if isinstance(record, MX) and record.exchange != dns.name.root:
                host = _text(record.exchange)
                best[host] = min(best.get(host, record.preference), record.preference)
        if not best:
            return MxResult(domain=domain, status=MxStatus.NULL_MX)
        keyed = sorted((pref, self._rng.random(), host) for host, pref in best.items())
        hosts = tuple(MxHost(preference=pref, host=host) for pref, _, host in keyed)
        return MxResult(domain=domain, status=MxStatus.FOUND, hosts=hosts)

    async def addresses(self, host: str) -> list[str]:
        """Find the IPv4 and IPv6 addresses of *host* (RFC 5321 §5.1), CNAMEs followed.

        The A and AAAA queries run concurrently.

        Args:
            host: a host name, e.g. an MX host; any case, A- or U-labels.

        Returns:
            Addresses in text form (``"2001:db8::1"``, ``"192.0.2.1"``), IPv6 first if
            ``prefer_ipv6``, each family in the order the server sent; ``[]`` for
            NXDOMAIN, NODATA or a name that cannot exist.

        Raises:
            TempError: both queries failed temporarily (if one did, the other's
                addresses are returned).
        """
        name = _to_name(host)
        if name is None:
            return []
        found: dict[dns.rdatatype.RdataType, list[str] | TempError] = {}

        async def one(rdtype: dns.rdatatype.RdataType) -> None:
            try:
                answer = await self._lookup(name, rdtype)
            except TempError as e:
                found[rdtype] = e
                return
            found[rdtype] = [r.address for r in answer.records if isinstance(r, A | AAAA)]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, dns.rdatatype.AAAA)
            nursery.start_soon(one, dns.rdatatype.A)
        return _merge_families(found, self.prefer_ipv6)

    async def txt(self, name: str) -> list[str]:
        """Return the TXT records at *name* (RFC 1035 §3.3.14), CNAMEs followed.

        The async twin of :meth:`trimail.mailauth.resolver.Resolver.txt`.

        Args:
            name: a domain name, e.g. ``"_dmarc.example.org"``; any case, A- or U-labels.

        Returns:
            One str per record, its <character-string>s joined with nothing between
            (RFC 7208 §3.3, RFC 6376 §3.6.2.2), bytes decoded as UTF-8 with invalid
            sequences replaced by U+FFFD; ``[]`` for NXDOMAIN, NODATA or a name that
            cannot exist.

        Raises:
            TempError: the query failed or timed out.
        """
        return await self.lookup(name, "TXT")

    async def lookup(self, name: str, rdtype: str) -> list[str]:
        """Return the records of one type at *name*, in text form; CNAMEs followed.

        The async twin of :meth:`trimail.mailauth.resolver.Resolver.lookup`: the
        general query that SPF's mechanisms need (RFC 7208 §5: A, AAAA, MX, PTR,
        TXT). It shares the cache, timeout and error handling of the other methods.

        Args:
            name: a domain name, any case, A- or U-labels, with or without the
                trailing dot; for PTR the reverse name, e.g.
                ``"1.2.0.192.in-addr.arpa"``.
            rdtype: ``"A"``, ``"AAAA"``, ``"CNAME"``, ``"MX"``, ``"NS"``, ``"PTR"`` or
                ``"TXT"`` (:data:`trimail.mailauth.resolver.RDTYPES`), any case.

        Returns:
            One str per record, in the order the server sent: A/AAAA addresses in
            canonical text form; MX as ``"<preference> <exchange>"`` (``"0 ."`` for a
            null MX, RFC 7505); CNAME/NS/PTR targets; TXT records with their strings
            joined and decoded as :meth:`txt` does. Names are lower-case A-labels
            without the trailing dot. ``[]`` for NXDOMAIN, NODATA or a name that
            cannot exist. A CNAME query is not followed: it answers the alias itself.

        Raises:
            TempError: the query failed or timed out.
            ValueError: *rdtype* is not one of those above.
        """
        qtype = dns.rdatatype.from_text(check_rdtype(rdtype))
        dns_name = _to_name(name)
        if dns_name is None:
            return []
        answer = await self._lookup(dns_name, qtype)
        return [_rdata_text(r) for r in answer.records if r.rdtype == qtype]

    async def ptr(self, ip: str) -> list[str]:
        """Return the names of an IP address from its PTR records (RFC 1035 §3.5).

        Args:
            ip: an IPv4 or IPv6 address in text form; an IPv4-mapped IPv6 address
                (``"::ffff:192.0.2.1"``, as dual-stack sockets report IPv4 peers) is
                looked up under in-addr.arpa; an IPv6 zone (``"fe80::1%eth0"``) is
                ignored.

        Returns:
            The names, lower-case A-labels without the trailing dot, in the order the
            server sent; ``[]`` for NXDOMAIN or NODATA.

        Raises:
            PermError: *ip* is not an IP address.
            TempError: the query failed or timed out.
        """
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            raise PermError(f"{ip!r} is not an IP address") from None
        if isinstance(address, ipaddress.IPv6Address):
            address = address.ipv4_mapped or ipaddress.IPv6Address(address.packed)  # no %scope
        name = dns.reversename.from_address(str(address))
        answer = await self._lookup(name, dns.rdatatype.PTR)
        return [_text(r.target) for r in answer.records if isinstance(r, PTR)]

    async def _lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Answer:
        """Answer from the cache, or query and cache the answer.

        Raises:
            TempError: no nameservers, or the query failed, or *timeout_seconds* passed.
        """
        cached = self._cache.get((name, rdtype))
        if cached is not None:
            return cached
        if not self._resolver.nameservers:
            raise TempError("no DNS nameservers configured")
        with trio.move_on_after(self.timeout_seconds):
            answer, ttl = await self._query(name, rdtype)
            self._cache.put((name, rdtype), answer, ttl)
            return answer
        raise TempError(f"{_describe(name, rdtype)}: no answer within {self.timeout_seconds} s")

    async def _query(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> tuple[_Answer, float]:
        """Ask the nameservers once (dnspython retries within its lifetime).

        Returns:
            The answer and how long it may be cached, in seconds: the smallest TTL of
            the answer and its CNAMEs, or the negative TTL (RFC 2308 §5).

        Raises:
            TempError: everything that is not NOERROR or NXDOMAIN.

        Error handling:
            Any exception from dnspython becomes ``TempError``; one that is not a
            ``DNSException`` is logged with its traceback, as it is a bug somewhere.
        """
        try:
            result = await self._resolver.resolve(
                name, rdtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN as e:
            return _Answer(exists=False, canonical_name=name), _negative_ttl(name, e)
        except dns.exception.DNSException as e:
            raise TempError(f"{_describe(name, rdtype)}: {e}") from e
        except Exception as e:
            log.warning("dnspython failed on %s", _describe(name, rdtype), exc_info=True)
            raise TempError(f"{_describe(name, rdtype)}: {e!r}") from e
        records = tuple(result.rrset) if result.rrset is not None else ()
        answer = _Answer(exists=True, canonical_name=result.canonical_name, records=records)
        return answer, float(result.chaining_result.minimum_ttl)


def _stub_resolver(
    nameservers: Sequence[str], resolv_conf: str, timeout_seconds: float
) -> dns.asyncresolver.Resolver:
    """A dnspython async resolver for *nameservers* (or *resolv_conf*), without its cache.

    Raises:
        ValueError: a nameserver is not an IP address with an optional port.
    """
    resolver = dns.asyncresolver.Resolver(configure=False)
    if nameservers:
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(*parse_nameserver(text)) for text in nameservers
        ]
    else:
        try:
            resolver.read_resolv_conf(resolv_conf)
        except (dns.exception.DNSException, OSError) as e:
            log.warning("no DNS nameservers from %s: %s", resolv_conf, e)
            resolver.nameservers = []
    resolver.timeout = min(timeout_seconds, PER_SERVER_TIMEOUT_SECONDS)
    resolver.lifetime = timeout_seconds
    resolver.cache = None
    return resolver


def _negative_ttl(name: dns.name.Name, nxdomain: dns.resolver.NXDOMAIN) -> float:
    """The negative TTL of an NXDOMAIN (RFC 2308 §5): min(SOA TTL, SOA MINIMUM); 0 if unknown."""
    try:
        response = nxdomain.kwargs["responses"][name]
        return float(response.resolve_chaining().minimum_ttl)
    except Exception:  # no usable response: do not cache
        return 0.0


def _merge_families(
    found: dict[dns.rdatatype.RdataType, list[str] | TempError], prefer_ipv6: bool
) -> list[str]:
    """Join the AAAA and A results in the preferred order; TempError if both failed."""
    v6, v4 = found[dns.rdatatype.AAAA], found[dns.rdatatype.A]
    if isinstance(v6, TempError) and isinstance(v4, TempError):
        raise TempError(f"A and AAAA lookups failed: {v4}; {v6}")
    v6_list = [] if isinstance(v6, TempError) else v6
    v4_list = [] if isinstance(v4, TempError) else v4
    return v6_list + v4_list if prefer_ipv6 else v4_list + v6_list


def _rdata_text(record: dns.rdata.Rdata) -> str:
    """One record in the text form of :meth:`DnsResolver.lookup`."""
    if isinstance(record, A | AAAA):
        return str(record.address)
    if isinstance(record, MX):
        return f"{record.preference} {_text(record.exchange)}"
    if isinstance(record, TXT):
        return b"".join(record.strings).decode("utf-8", "replace")
    if isinstance(record, CNAME | NS | PTR):
        return _text(record.target)
    raise AssertionError(f"unexpected record type {type(record).__name__}")  # pragma: no cover


def _describe(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> str:
    """``"example.org MX"``, for error messages."""
    return f"{_text(name)} {dns.rdatatype.to_text(rdtype)}"


@attrs.frozen
class ThreadResolver:
    """A synchronous resolver for worker threads, backed by a :class:`DnsResolver`.

    Implements :class:`trimail.mailauth.resolver.Resolver`; each call runs the async
    lookup in the Trio thread (``trio.from_thread.run``) and blocks the worker thread
    until it answers, so the cache is shared with the rest of the server.

    Use it only from threads started by ``trio.to_thread.run_sync`` (then
    *trio_token* may be None) or from threads given the run's token.

    Attributes:
        resolver: the server's resolver.
        trio_token: ``trio.lowlevel.current_trio_token()`` of the run that owns
            *resolver*; None to use the token of the calling worker thread.

    Error handling:
        Every method raises ``TempError`` (as the async one does) and also when the
        Trio run has finished (``trio.RunFinishedError``: the server is stopping).
        Calling from the Trio thread itself, or from a foreign thread without a
        token, is a bug and raises ``RuntimeError``.
    """

    resolver: DnsResolver
    trio_token: trio.lowlevel.TrioToken | None = None

    def txt(self, name: str) -> list[str]:
        """Blocking :meth:`DnsResolver.txt`; see :meth:`Resolver.txt`."""
        return self._run(self.resolver.txt, name)

    def lookup(self, name: str, rdtype: str) -> list[str]:
        """Blocking :meth:`DnsResolver.lookup`; see :meth:`Resolver.lookup`.

        Raises:
            ValueError: *rdtype* is not supported (checked in the calling thread).
        """
        return self._run(self.resolver.lookup, name, check_rdtype(rdtype))

    def mx(self, domain: str) -> MxResult:
        """Blocking :meth:`DnsResolver.mx`."""
        return self._run(self.resolver.mx, domain)

    def addresses(self, host: str) -> list[str]:
        """Blocking :meth:`DnsResolver.addresses`."""
        return self._run(self.resolver.addresses, host)

    def ptr(self, ip: str) -> list[str]:
        """Blocking :meth:`DnsResolver.ptr`."""
        return self._run(self.resolver.ptr, ip)

    def _run(self, lookup: Callable[..., Awaitable[_T]], *arguments: str) -> _T:
        try:
            return trio.from_thread.run(lookup, *arguments, trio_token=self.trio_token)
        except trio.RunFinishedError as e:
            raise TempError("DNS lookup abandoned: the server is stopping") from e
