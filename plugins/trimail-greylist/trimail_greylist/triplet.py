"""The greylisting triplet (RFC 6647 §2.1): client network, reverse-path, forward-path."""

from __future__ import annotations

import ipaddress

import attrs

from trimail.mail.address import Mailbox, ReversePath

NULL_REVERSE_PATH = "<>"
"""The triplet's reverse-path for the null reverse-path ``<>`` (RFC 5321 §4.5.5)."""


@attrs.frozen(kw_only=True)
class Triplet:
    """What identifies one delivery attempt for greylisting (RFC 6647 §2.1).

    Attributes:
        network: the client's network (``192.0.2.0/24``, ``2001:db8:1:2::/64``), or the
            peer address as given when it is not an IP address.
        reverse_path: MAIL FROM's path lower-cased, ``<>`` for the null reverse-path.
        forward_path: RCPT TO's path lower-cased (``postmaster`` for ``<postmaster>``).
    """

    network: str
    reverse_path: str
    forward_path: str


def client_address(
    peer_host: str,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's IP address, IPv4-mapped IPv6 (``::ffff:192.0.2.1``) as IPv4.

    Args:
        peer_host: the peer address as text; an IPv6 zone (``%eth0``) or brackets are
            ignored.

    Returns:
        The address, or None if *peer_host* is not an IP address.
    """
    text = peer_host.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_network(peer_host: str, *, ipv4_prefix_length: int, ipv6_prefix_length: int) -> str:
    """Group a client address into its network, the triplet's first member.

    Servers of one sender often retry from another address of the same pool, so the
    triplet holds the network, not the address (postgrey's ``--lookup-by-subnet``).

    Args:
        peer_host: the client's address as text.
        ipv4_prefix_length: bits kept of an IPv4 address (0..32), e.g. 24.
        ipv6_prefix_length: bits kept of an IPv6 address (0..128), e.g. 64.

    Returns:
        The network in CIDR notation, or *peer_host* lower-cased if it is not an IP
        address (such a client is then greylisted on its own).
    """
    address = client_address(peer_host)
    if address is None:
        return peer_host.strip().lower()
    bits = ipv4_prefix_length if address.version == 4 else ipv6_prefix_length
    return str(ipaddress.ip_network((address, bits), strict=False))


def path_key(path: ReversePath | Mailbox) -> str:
    """The triplet's form of a path: the address lower-cased, ``<>`` for the null path.

    The local part is lower-cased too (RFC 5321 §2.4 leaves its case to the receiving
    host; every mainstream server ignores it), and a trailing dot of the domain is dropped.

    Args:
        path: a `Mailbox` or ``NULL_PATH``.

    Returns:
        ``local@domain``, ``postmaster`` for ``<postmaster>``, or ``<>``.
    """
    if not isinstance(path, Mailbox):
        return NULL_REVERSE_PATH
    domain = path.domain.lower().rstrip(".")
    local = path.local_part.lower()
    return f"{local}@{domain}" if domain else local


def make_triplet(
    peer_host: str,
    reverse_path: ReversePath,
    forward_path: Mailbox,
    *,
    ipv4_prefix_length: int = 24,
    ipv6_prefix_length: int = 64,
) -> Triplet:
    """Build the triplet of one RCPT TO (RFC 6647 §2.1).

    Args:
        peer_host: the client's address as text.
        reverse_path: MAIL FROM's path, ``NULL_PATH`` for ``<>``.
        forward_path: the recipient being judged.
        ipv4_prefix_length: network size of IPv4 clients, in bits.
        ipv6_prefix_length: network size of IPv6 clients, in bits.

    Returns:
        The triplet.
    """
    return Triplet(
        network=client_network(
            peer_host,
            ipv4_prefix_length=ipv4_prefix_length,
            ipv6_prefix_length=ipv6_prefix_length,
        ),
        reverse_path=path_key(reverse_path),
        forward_path=path_key(forward_path),
    )


def path_matches(address: str, patterns: frozenset[str]) -> bool:
    """True if *address* (a `path_key`) matches a whitelist entry.

    Args:
        address: ``local@domain`` lower-cased, or ``<>`` (never matches).
        patterns: normalized entries: addresses, domains, ``.domain`` (with subdomains).
    """
    if address == NULL_REVERSE_PATH:
        return False
    if address in patterns:
        return True
    domain = address.rpartition("@")[2]
    if not domain:
        return False
    if domain in patterns:
        return True
    labels = domain.split(".")
    return any("." + ".".join(labels[i:]) in patterns for i in range(len(labels)))
