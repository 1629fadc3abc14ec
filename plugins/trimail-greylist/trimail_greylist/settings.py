"""The ``[plugin.greylist]`` table: greylisting delays, lifetimes and whitelists.

Every key is validated when the config is loaded; a bad value stops start-up with
``plugin.greylist.KEY: reason`` (the ValueError messages below, which name their key).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from trimail.config.model import is_hostname

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DAY = 86400.0  # seconds


def _not_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative; got {value}")


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:  # also refuses NaN
        raise ValueError(f"{attribute.name}: must be more than 0; got {value}")


def _finite(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{attribute.name}: must be a finite number of seconds; got {value}")


def _prefix_length(maximum: int) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if not 0 <= value <= maximum:
            raise ValueError(f"{attribute.name}: must be 0..{maximum} (bits); got {value}")

    return check


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR network (``192.0.2.0/24``, ``2001:db8::/32``) or a bare address.

    Args:
        text: the network as written in the config or on the command line.

    Returns:
        The network; a bare address is a /32 (IPv4) or /128 (IPv6) network; an
        IPv4-mapped IPv6 network is given as the IPv4 network.

    Raises:
        ValueError: not an address or CIDR network, or host bits set after the prefix
            (``192.0.2.1/24``: the message suggests ``192.0.2.0/24``).
    """
    text = text.strip()
    if "%" in text:  # a scoped address (fe80::1%eth0): clients never carry a zone
        raise ValueError(f"{text!r}: a zone index (%...) cannot match a client address")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    else:  # ::ffff:192.0.2.1 clients count as IPv4, so must the network (RFC 4291 §2.5.5.2)
        mapped = getattr(network.network_address, "ipv4_mapped", None)
        if mapped is not None and network.prefixlen >= 96:
            return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        return network
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR network") from None
    raise ValueError(f"{text!r} has host bits set after the prefix; did you mean '{loose}'?")


def _networks(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for item in value:
        try:
            parse_network(item)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _domain_ok(domain: str) -> bool:
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return is_hostname(ascii_domain)


def normalize_path_pattern(text: str) -> str:
    """Check and normalize one whitelist entry for reverse-paths or forward-paths.

    Entries are a whole address (``alice@example.org``), a domain (``example.org``:
    addresses in that domain only) or a domain with a leading dot (``.example.org``:
    that domain and its subdomains). Matching ignores case.

    Args:
        text: the entry as written in the config.

    Returns:
        The entry lower-cased, without a trailing dot on the domain.

    Raises:
        ValueError: empty, contains spaces or angle brackets, an empty local part, or
            a domain that is not a host name.
    """
    entry = text.strip().lower()
    if not entry or any(c.isspace() or c in "<>" for c in entry):
        raise ValueError(f"{text!r} is not an address, a domain or a .domain")
    local, at, domain = entry.rpartition("@")
    if at and not local:
        raise ValueError(f"{text!r}: the local part before '@' is empty")
    domain = domain.rstrip(".")
    bare = domain[1:] if not at and domain.startswith(".") else domain
    if not _domain_ok(bare):
        raise ValueError(f"{text!r}: {bare!r} is not a domain name")
    return f"{local}@{domain}" if at else ("." + bare if bare != domain else domain)


def _patterns(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for item in value:
        try:
            normalize_path_pattern(item)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


@attrs.frozen(kw_only=True)
class GreylistSettings:
    """The ``[plugin.greylist]`` table (RFC 6647 practice; defaults as postgrey's).

    Attributes:
        delay_seconds: a retry of a new triplet is refused until this long after it was
            first seen (RFC 6647 §2.1).
        retry_window_seconds: a triplet that is not retried within this long after it was
            first seen is forgotten; the next attempt starts over.
        pass_lifetime_seconds: a triplet that passed stays accepted this long after its
            last use (each use renews it); also the lifetime of an auto-whitelisted
            client network.
        auto_whitelist_after: after this many passed deliveries (counted at most once a
            minute) from a client network it is no longer greylisted (RFC 6647 §4.3);
            0 turns auto-whitelisting off.
        ipv4_prefix_length: IPv4 clients in the same network of this many bits count
            as one client (a pool of outbound servers retries from another address).
        ipv6_prefix_length: the same for IPv6 (a /64 is usually one site).
        greylist_loopback: greylist clients on 127.0.0.0/8 and ::1 too (off: local tools
            that send over SMTP are never delayed).
        whitelist_networks: client networks never greylisted (CIDR or bare addresses).
        whitelist_recipients: forward-paths never greylisted (``postmaster@example.org``,
            ``example.org``, ``.example.org``).
        whitelist_senders: reverse-paths never greylisted, same syntax (forgeable: a
            convenience, not a security control).
        purge_interval_seconds: the RCPT hook deletes expired rows at most this often.
    """

    delay_seconds: float = attrs.field(default=300.0, validator=[_finite, _not_negative])
    retry_window_seconds: float = attrs.field(default=2 * DAY, validator=[_finite, _positive])
    pass_lifetime_seconds: float = attrs.field(default=35 * DAY, validator=[_finite, _positive])
    auto_whitelist_after: int = attrs.field(default=5, validator=_not_negative)
    ipv4_prefix_length: int = attrs.field(default=24, validator=_prefix_length(32))
    ipv6_prefix_length: int = attrs.field(default=64, validator=_prefix_length(128))
    greylist_loopback: bool = False
    whitelist_networks: tuple[str, ...] = attrs.field(default=(), validator=_networks)
    whitelist_recipients: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    whitelist_senders: tuple[str, ...] = attrs.field(default=(), validator=_patterns)
    purge_interval_seconds: float = attrs.field(default=600.0, validator=[_finite, _positive])

    def __attrs_post_init__(self) -> None:
        if self.delay_seconds >= self.retry_window_seconds:
            raise ValueError(
                f"delay_seconds: must be less than retry_window_seconds "
                f"({self.delay_seconds} >= {self.retry_window_seconds}), or no retry "
                "could ever pass"
            )
