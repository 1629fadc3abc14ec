"""Asking the lists about one client: lookups, answer codes, score, a short cache.

RFC 5782 §2.1-§2.3: a client is listed when the A record at its query name is in
127.0.0.0/8; the TXT record at the same name says why. Every failure counts as "not
listed" (fail open) with a log line: a broken list must not stop mail.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

import attrs

from trimail.mailauth.resolver import PermError, Resolver, TempError
from trimail_dnsbl.names import IPAddress, client_address, is_internal, query_name
from trimail_dnsbl.reason import sanitize_reason
from trimail_dnsbl.settings import ERROR_NETWORK, LISTED_NETWORK, DnsblList, DnsblSettings

log = logging.getLogger("trimail.dnsbl")

CACHE_ENTRIES = 10000  # client addresses remembered at once
INCOMPLETE_CACHE_SECONDS = 30.0  # a result with failed lookups is retried sooner
MAX_CODES = 8  # return codes kept per listing (a hostile list may send hundreds)
SCORE_EPSILON = 1e-9  # 0.1 + 0.2 reaches a threshold of 0.3


class _LookupFailed(Exception):
    """One list could not be asked (already logged)."""


@attrs.frozen(kw_only=True)
class Listing:
    """One list that lists the client.

    Attributes:
        zone: the list's zone.
        weight: the list's weight (added to the score).
        codes: the A records that counted (e.g. ``("127.0.0.2",)``), in DNS order,
            without repeats, at most `MAX_CODES`.
        reason: the TXT record(s), sanitized (printable ASCII, at most 200
            characters); ``""`` when there is none or it was not looked up.
    """

    zone: str
    weight: float
    codes: tuple[str, ...]
    reason: str = ""


@attrs.frozen(kw_only=True)
class DnsblResult:
    """What the lists said about one client address.

    Attributes:
        address: the client's address as looked up (IPv4-mapped clients as IPv4).
        listings: the lists that list it, in configuration order.
        threshold: the score at which the client is blocked (from the settings).
        failed: zones that could not be asked (DNS failure, out of time); they count
            as not listing the client.
    """

    address: str
    threshold: float
    listings: tuple[Listing, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The sum of the listing lists' weights."""
        return math.fsum(listing.weight for listing in self.listings)

    @property
    def blocked(self) -> bool:
        """True if the score reaches the threshold."""
        return self.score + SCORE_EPSILON >= self.threshold


class DnsblChecker:
    """Asks the configured lists about client addresses; thread-safe.

    Args:
        settings: the validated ``[plugin.dnsbl]`` table.
        clock: monotonic seconds (for the time budget and the cache); a fake one in
            tests.
        cache_entries: how many client addresses the cache holds.
    """

    def __init__(
        self,
        settings: DnsblSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_entries: int = CACHE_ENTRIES,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.cache_entries = cache_entries
        self._whitelist = settings.networks()
        self._cache: dict[str, tuple[float, DnsblResult]] = {}
        self._lock = threading.Lock()

    def exempt(self, address: IPAddress) -> bool:
        """True if *address* is never looked up: internal (loopback, RFC 1918, ULA,
        link-local; see `trimail_dnsbl.names.is_internal`) or in
        ``whitelist_networks``."""
        if is_internal(address, check_loopback=self.settings.check_loopback):
            return True
        return any(address.version == n.version and address in n for n in self._whitelist)

    def lists_for(self, address: IPAddress) -> list[DnsblList]:
        """The lists to ask about *address*: all for IPv4, those with ``ipv6 = true``
        for IPv6 (RFC 5782 §2.4)."""
        return [e for e in self.settings.lists if address.version == 4 or e.ipv6]

    def check(self, peer_host: str, resolver: Resolver) -> DnsblResult | None:
        """Ask every list about the client *peer_host* (or reuse a recent answer).

        Blocking: one A lookup per list, in order, and one TXT lookup per list that
        lists the client (``lookup_txt``), all within ``timeout_seconds`` (lists not
        asked by then count as failed; one lookup may overrun the budget by the
        resolver's own timeout).

        Args:
            peer_host: the client's IP address as text (``SessionInfo.peer_host``).
            resolver: a `trimail.mailauth.resolver.Resolver` usable in this thread.

        Returns:
            The result, or None when the client is not looked up at all (not an IP
            address, internal, whitelisted, or IPv6 with no list that takes IPv6).

        Error handling:
            ``TempError`` and ``PermError`` from the resolver, answers outside
            127.0.0.0/8 and the error codes 127.255.255.0/24 are logged and count as
            "not listed" by that list.
        """
        address = client_address(peer_host)
        if address is None or self.exempt(address):
            return None
        lists = self.lists_for(address)
        if not lists:
            return None
        key = str(address)
        cached = self._cached(key)
        if cached is not None:
            return cached
        result = self._ask(address, lists, resolver)
        self._remember(key, result)
        return result

    def _ask(
        self, address: IPAddress, lists: Sequence[DnsblList], resolver: Resolver
    ) -> DnsblResult:
        deadline = self.clock() + self.settings.timeout_seconds
        listings: list[Listing] = []
        failed: list[str] = []
        for entry in lists:
            if self.clock() >= deadline:
                log.warning(
                    "dnsbl: [%s]: no time left (timeout_seconds = %g) to ask %s; "
                    "treated as not listed",
                    address,
                    self.settings.timeout_seconds,
                    entry.zone,
                )
                failed.append(entry.zone)
                continue
            try:
                listing = self._ask_one(address, entry, resolver, deadline)
            except _LookupFailed:
                failed.append(entry.zone)
                continue
            if listing is not None:
                listings.append(listing)
        result = DnsblResult(
            address=str(address),
            threshold=self.settings.threshold,
            listings=tuple(listings),
            failed=tuple(failed),
        )
        if listings:
            log.info(
                "dnsbl: [%s] listed in %s; score %r, threshold %r",
                address,
                ", ".join(
                    f"{x.zone} ({'/'.join(x.codes)}: {x.reason or 'no reason'})" for x in listings
                ),
                round(result.score, 6),
                result.threshold,
            )
        return result

    def _ask_one(
        self, address: IPAddress, entry: DnsblList, resolver: Resolver, deadline: float
    ) -> Listing | None:
        """Ask one list. Raises _LookupFailed (logged) if the A lookup failed."""
        name = query_name(address, entry.zone)
        try:
            answers = resolver.lookup(name, "A")
        except (TempError, PermError) as exc:
            log.warning(
                "dnsbl: %s: lookup of %s failed, treated as not listed: %s", entry.zone, name, exc
            )
            raise _LookupFailed from None
        codes = self._codes(entry, name, answers)
        if not codes:
            return None
        reason = ""
        if self.settings.lookup_txt and self.clock() < deadline:
            reason = self._reason(entry, name, resolver)
        return Listing(zone=entry.zone, weight=entry.weight, codes=tuple(codes), reason=reason)

    @staticmethod
    def _codes(entry: DnsblList, name: str, answers: Sequence[str]) -> list[str]:
        """The A records among *answers* that mean "listed" for *entry*, without
        repeats, at most `MAX_CODES`; answers that are no listing code at all are
        logged (one line per kind) and ignored."""
        codes: list[str] = []
        outside: list[str] = []
        errors: list[str] = []
        for answer in answers:
            try:
                code = ipaddress.IPv4Address(answer.strip())
            except ValueError:
                outside.append(answer[:64])
                continue
            if code not in LISTED_NETWORK:
                outside.append(str(code))
            elif code in ERROR_NETWORK:
                errors.append(str(code))
            elif entry.counts(code) and str(code) not in codes and len(codes) < MAX_CODES:
                codes.append(str(code))
        if outside:
            log.warning(
                "dnsbl: %s answered %s with %s, outside 127.0.0.0/8 (RFC 5782 §2.3): "
                "the list is broken or its domain was taken over; ignored",
                entry.zone,
                name,
                ", ".join(repr(a) for a in outside[:MAX_CODES]),
            )
        if errors:
            log.warning(
                "dnsbl: %s answered %s with the error code %s (query refused: e.g. asked "
                "through a public resolver, or over quota); not a listing, ignored",
                entry.zone,
                name,
                ", ".join(errors[:MAX_CODES]),
            )
        return codes

    @staticmethod
    def _reason(entry: DnsblList, name: str, resolver: Resolver) -> str:
        """The sanitized TXT record at *name*; ``""`` if the lookup fails (logged)."""
        try:
            return sanitize_reason(resolver.lookup(name, "TXT"))
        except (TempError, PermError) as exc:
            log.info("dnsbl: %s: TXT lookup of %s failed: %s", entry.zone, name, exc)
            return ""

    def _cached(self, key: str) -> DnsblResult | None:
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                return None
            if found[0] <= self.clock():
                del self._cache[key]
                return None
            return found[1]

    def _remember(self, key: str, result: DnsblResult) -> None:
        seconds = self.settings.cache_seconds
        if result.failed:
            seconds = min(seconds, INCOMPLETE_CACHE_SECONDS)
        if seconds <= 0 or self.cache_entries <= 0:
            return
        now = self.clock()
        with self._lock:
            if key not in self._cache and len(self._cache) >= self.cache_entries:
                for stale in [k for k, (expires, _) in self._cache.items() if expires <= now]:
                    del self._cache[stale]
                while len(self._cache) >= self.cache_entries:
                    del self._cache[next(iter(self._cache))]  # the oldest entry
            self._cache.pop(key, None)
            self._cache[key] = (now + seconds, result)

    def clear_cache(self) -> None:
        """Forget every cached result."""
        with self._lock:
            self._cache.clear()
