"""DNSBL query names (RFC 5782 §2.1, §2.4) and which client addresses are looked up."""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_NAME_OCTETS = 253  # a domain name in text form, without the final dot (RFC 1035 §2.3.4)
IPV4_PREFIX_OCTETS = len("255.255.255.255.")  # the longest reversed IPv4 address, with dot
IPV6_PREFIX_OCTETS = 32 * 2  # 32 nibbles, each with its dot (RFC 5782 §2.4)

LOOPBACK_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),  # RFC 1122 §3.2.1.3
    ipaddress.ip_network("::1/128"),  # RFC 4291 §2.5.3
)
"""Loopback: checked only with ``check_loopback = true`` (tests)."""

INTERNAL_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("0.0.0.0/8"),  # "this network" (RFC 1122 §3.2.1.3)
    ipaddress.ip_network("10.0.0.0/8"),  # RFC 1918
    ipaddress.ip_network("172.16.0.0/12"),  # RFC 1918
    ipaddress.ip_network("192.168.0.0/16"),  # RFC 1918
    ipaddress.ip_network("100.64.0.0/10"),  # shared address space, carrier NAT (RFC 6598)
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local (RFC 3927)
    ipaddress.ip_network("::/128"),  # unspecified (RFC 4291 §2.5.2)
    ipaddress.ip_network("fc00::/7"),  # unique local addresses, ULA (RFC 4193)
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local (RFC 4291 §2.5.6)
)
"""Private and link-local networks: never looked up (no public list knows them, and
the query would tell the list's operator about internal hosts)."""


def client_address(peer_host: str) -> IPAddress | None:
    """The client's address as the lists know it, from ``SessionInfo.peer_host``.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``, from a dual-stack socket; RFC
    4291 §2.5.5.2) is the IPv4 client it stands for; an IPv6 zone (``%eth0``) is dropped.

    Args:
        peer_host: the peer's address as text.

    Returns:
        The address, or None when *peer_host* is not an IP address (e.g. ``""``).
    """
    try:
        address = ipaddress.ip_address(peer_host.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # without the scope id
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def is_internal(address: IPAddress, *, check_loopback: bool = False) -> bool:
    """True if *address* is not to be looked up: loopback, private or link-local.

    Args:
        address: the client's address (see `client_address`).
        check_loopback: False (production): loopback counts as internal. True (tests
            only) lets 127.0.0.0/8 and ::1 be looked up, so that a test can connect
            from 127.0.0.2, the test point every list lists (RFC 5782 §5).

    Returns:
        True for addresses in `INTERNAL_NETWORKS` (and `LOOPBACK_NETWORKS` unless
        *check_loopback*).
    """
    networks = INTERNAL_NETWORKS if check_loopback else INTERNAL_NETWORKS + LOOPBACK_NETWORKS
    return any(address.version == net.version and address in net for net in networks)


def query_name(address: IPAddress, zone: str) -> str:
    """The name to query for *address* in the list *zone* (RFC 5782 §2.1, §2.4).

    IPv4: the four octets in reverse order, ``192.168.42.23`` in ``dnsbl.example.net``
    -> ``23.42.168.192.dnsbl.example.net``. IPv6: the 32 nibbles in reverse order
    (as in ip6.arpa, RFC 3596 §2.5), ``2001:db8:1:2:3:4:567:89ab`` ->
    ``b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.<zone>``.

    Args:
        address: the client's address. An IPv4-mapped IPv6 address is queried as IPv6
            (``::ffff:7f00:2`` is the IPv6 test point, RFC 5782 §5); use
            `client_address` first to query a mapped client as IPv4.
        zone: the list's zone, e.g. ``"zen.example"`` (lower case, no final dot).

    Returns:
        The query name, without the final dot.
    """
    if isinstance(address, ipaddress.IPv4Address):
        labels = reversed(str(address).split("."))
    else:
        labels = reversed(ipaddress.IPv6Address(int(address)).exploded.replace(":", ""))
    return ".".join([*labels, zone])


def address_from_query_name(name: str, zone: str) -> IPAddress:
    """The address a query name stands for: the inverse of `query_name`.

    Args:
        name: a query name in *zone*, any case, with or without the final dot.
        zone: the list's zone.

    Returns:
        The IPv4 address (4 decimal labels) or IPv6 address (32 hex-digit labels).

    Raises:
        ValueError: *name* is not in *zone*, or its labels are no address.
    """
    name, zone = name.lower().rstrip("."), zone.lower().rstrip(".")
    if not name.endswith("." + zone):
        raise ValueError(f"{name!r} is not in the zone {zone!r}")
    labels = name[: -len(zone) - 1].split(".")[::-1]
    if len(labels) == 4:
        return ipaddress.IPv4Address(".".join(labels))
    hex_digits = "0123456789abcdef"
    if len(labels) == 32 and all(len(x) == 1 and x in hex_digits for x in labels):
        return ipaddress.IPv6Address(int("".join(labels), 16))
    raise ValueError(f"{name!r}: expected 4 decimal or 32 hex-digit labels before {zone!r}")
