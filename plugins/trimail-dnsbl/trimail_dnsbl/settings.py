"""The ``[plugin.dnsbl]`` table and its ``[[plugin.dnsbl.lists]]`` entries.

Validators raise ValueError starting with the key's name (``zone: ...``) so that
trimail reports ``plugin.dnsbl.lists.0.zone: ...``.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

import attrs

from trimail.config.model import is_hostname
from trimail_dnsbl.names import IPV4_PREFIX_OCTETS, IPV6_PREFIX_OCTETS, MAX_NAME_OCTETS

TABLE = "dnsbl"
ACTIONS = ("reject", "tag")
REJECT_AT = ("connect", "rcpt")
MAX_LISTS = 32  # each list is one A query (and a TXT query when it lists the client)
LISTED_NETWORK = ipaddress.IPv4Network("127.0.0.0/8")  # RFC 5782 §2.3
ERROR_NETWORK = ipaddress.IPv4Network("127.255.255.0/24")  # Spamhaus-style "query refused"


def normalize_zone(value: object) -> object:
    """Lower-case a zone and drop one final dot; other types pass on to the validator."""
    if isinstance(value, str):
        value = value.strip().lower()
        return value[:-1] if value.endswith(".") else value
    return value


def _zone(inst: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.isascii():
        raise ValueError(f"zone: {value!r}: write the zone in A-labels (xn--...), ASCII only")
    if not is_hostname(value) or "." not in value:
        raise ValueError(
            f'zone: {value!r} is not a DNS zone name (e.g. "zen.spamhaus.org": '
            "letters, digits, '-', at least two labels)"
        )
    prefix = IPV6_PREFIX_OCTETS if inst.ipv6 else IPV4_PREFIX_OCTETS
    if len(value) + prefix > MAX_NAME_OCTETS:
        longest = MAX_NAME_OCTETS - prefix
        raise ValueError(
            f"zone: {value[:40]!r}... is {len(value)} characters; query names would exceed "
            f"{MAX_NAME_OCTETS} (at most {longest} for this list, RFC 1035 §2.3.4)"
        )


def _finite(name: str, *, positive: bool) -> Any:
    def check(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
        if not math.isfinite(value) or (positive and value <= 0):
            raise ValueError(f"{name}: must be a number above 0, got {value!r}")
        if value > 1e6:
            raise ValueError(f"{name}: {value!r} is too large (at most 1000000)")

    return check


def _codes(
    _inst: object, _attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for code in value:
        try:
            address = ipaddress.IPv4Address(code)
        except ValueError:
            raise ValueError(
                f"codes: {code!r} is not an IPv4 address (return codes look like 127.0.0.2)"
            ) from None
        if address not in LISTED_NETWORK:
            raise ValueError(f"codes: {code!r} is outside 127.0.0.0/8 (RFC 5782 §2.3)")
        if address in ERROR_NETWORK:
            raise ValueError(
                f"codes: {code!r} is in 127.255.255.0/24, the lists' error codes "
                "(query refused), never a listing"
            )


@attrs.frozen(kw_only=True)
class DnsblList:
    """One ``[[plugin.dnsbl.lists]]`` entry: a DNS blocklist to ask.

    Attributes:
        zone: the list's zone, e.g. ``"zen.spamhaus.org"`` (ASCII, lower-cased, no
            final dot).
        weight: added to the client's score when this list lists it (above 0).
        codes: the return addresses that count as listed, e.g. ``["127.0.0.2"]``;
            empty (the default): any address in 127.0.0.0/8 except the error codes
            127.255.255.0/24.
        ipv6: also ask this list about IPv6 clients (RFC 5782 §2.4); many lists only
            know IPv4, so the default is False.
    """

    zone: str = attrs.field(converter=normalize_zone, validator=_zone)
    weight: float = attrs.field(default=1.0, validator=_finite("weight", positive=True))
    codes: tuple[str, ...] = attrs.field(default=(), validator=_codes)
    ipv6: bool = False  # read by _zone: attrs validates after setting every field

    def counts(self, answer: ipaddress.IPv4Address) -> bool:
        """True if the A record *answer* (in 127/8, not an error code) means listed."""
        return not self.codes or any(answer == ipaddress.IPv4Address(c) for c in self.codes)


def _lists(_inst: object, _attribute: attrs.Attribute[Any], value: tuple[DnsblList, ...]) -> None:
    if not value:
        raise ValueError(
            'lists: no list to ask; add [[plugin.dnsbl.lists]] tables with zone = "..."'
        )
    if len(value) > MAX_LISTS:
        raise ValueError(f"lists: at most {MAX_LISTS} lists, got {len(value)}")
    seen: set[str] = set()
    for entry in value:
        if entry.zone in seen:
            raise ValueError(f"lists: the zone {entry.zone!r} is listed twice")
        seen.add(entry.zone)


def _choice(name: str, choices: tuple[str, ...]) -> Any:
    def check(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
        if value not in choices:
            allowed = " or ".join(f'"{c}"' for c in choices)
            raise ValueError(f"{name}: must be {allowed}, got {value!r}")

    return check


def _networks(
    _inst: object, _attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    for text in value:
        try:
            ipaddress.ip_network(text.strip())
        except ValueError:
            try:
                network = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"whitelist_networks: {text!r} is not a network "
                    "(CIDR: 192.0.2.0/24, 2001:db8::/32, or one address)"
                ) from None
            raise ValueError(
                f"whitelist_networks: {text!r} has host bits set; did you mean {network}?"
            ) from None


def _seconds(name: str, maximum: float, *, zero: bool) -> Any:
    def check(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
        if not math.isfinite(value) or not 0 <= value <= maximum or (value == 0 and not zero):
            low = "0" if zero else "more than 0"
            raise ValueError(f"{name}: must be {low} to {maximum:g} seconds, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class DnsblSettings:
    """The ``[plugin.dnsbl]`` table.

    Attributes:
        lists: the lists to ask (1 to `MAX_LISTS`), each a `DnsblList`.
        threshold: the score (sum of the weights of the lists that list the client)
            at which *action* is taken; above 0.
        action: ``"reject"``: refuse the mail with 554 5.7.1; ``"tag"``: accept it,
            add an ``X-DNSBL`` header field and file it into Junk.
        reject_at: with ``action = "reject"``: ``"rcpt"`` refuses each RCPT TO (the
            log has the envelope; mail to postmaster still passes), ``"connect"``
            greets with 554 (RFC 5321 §3.1).
        allow_postmaster: with ``reject_at = "rcpt"``, accept mail to postmaster (any
            accepted domain, and ``<postmaster>``) from listed clients, so that they
            can reach a human (RFC 5321 §4.5.1).
        whitelist_networks: client networks never looked up (CIDR).
        lookup_txt: fetch the TXT record (the list's reason) of a listed client for
            the reply and the header field.
        timeout_seconds: the time one check may spend on lookups in all; lists not
            asked by then count as not listing the client (each lookup is bounded
            by ``[dns] timeout_seconds`` too).
        cache_seconds: how long a client's result is reused (connect, each RCPT and
            the message share one check); 0 disables the plugin's cache (the
            server's resolver still caches by TTL).
        check_loopback: FOR TESTS ONLY: look up loopback clients (127.0.0.0/8, ::1)
            too, so that a test can connect from 127.0.0.2, the test point every list
            lists (RFC 5782 §5). Never set it on a real server.
    """

    lists: tuple[DnsblList, ...] = attrs.field(validator=_lists)
    threshold: float = attrs.field(default=1.0, validator=_finite("threshold", positive=True))
    action: str = attrs.field(default="reject", validator=_choice("action", ACTIONS))
    reject_at: str = attrs.field(default="rcpt", validator=_choice("reject_at", REJECT_AT))
    allow_postmaster: bool = True
    whitelist_networks: tuple[str, ...] = attrs.field(default=(), validator=_networks)
    lookup_txt: bool = True
    timeout_seconds: float = attrs.field(
        default=10.0, validator=_seconds("timeout_seconds", 300, zero=False)
    )
    cache_seconds: float = attrs.field(
        default=300.0, validator=_seconds("cache_seconds", 86400, zero=True)
    )
    check_loopback: bool = False

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`whitelist_networks` parsed."""
        return tuple(ipaddress.ip_network(n.strip()) for n in self.whitelist_networks)
