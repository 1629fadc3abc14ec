"""Query names (RFC 5782 §2.1, §2.4) and which clients are looked up."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trimail_dnsbl.names import (
    address_from_query_name,
    client_address,
    is_internal,
    query_name,
)

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
ZONES = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
ADDRESSES = st.ip_addresses()


def test_ipv4_example_of_rfc5782_section_2_1() -> None:
    address = ipaddress.ip_address("192.168.42.23")
    assert query_name(address, "dnsbl.example.net") == "23.42.168.192.dnsbl.example.net"


def test_ipv6_example_of_rfc5782_section_2_4() -> None:
    address = ipaddress.ip_address("2001:db8:1:2:3:4:567:89ab")
    assert query_name(address, "ugly.example.com") == (
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
    )


def test_test_points_of_rfc5782_section_5() -> None:
    assert query_name(ipaddress.ip_address("127.0.0.2"), "bl.test") == "2.0.0.127.bl.test"
    mapped = ipaddress.ip_address("::FFFF:7F00:2")  # the IPv6 lists' test point
    assert query_name(mapped, "bl.test") == "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20 + ".bl.test"


def test_a_mapped_client_is_an_ipv4_client() -> None:
    assert client_address("::ffff:192.0.2.1") == ipaddress.IPv4Address("192.0.2.1")
    assert client_address(" 2001:db8::1 ") == ipaddress.IPv6Address("2001:db8::1")
    assert client_address("fe80::1%eth0") == ipaddress.IPv6Address("fe80::1")
    assert client_address("") is None
    assert client_address("mx.example") is None


@pytest.mark.parametrize(
    "text",
    [
        *("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.1.1"),
        *("100.64.0.1", "fd00::1", "fc00::1", "fe80::1", "::", "0.0.0.0"),
    ],
)
def test_private_and_link_local_clients_are_not_looked_up(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert is_internal(address)
    assert is_internal(address, check_loopback=True)


@pytest.mark.parametrize("text", ["127.0.0.1", "127.0.0.2", "::1"])
def test_loopback_is_internal_unless_check_loopback(text: str) -> None:
    address = ipaddress.ip_address(text)
    assert is_internal(address)
    assert not is_internal(address, check_loopback=True)


@pytest.mark.parametrize("text", ["192.0.2.1", "8.8.8.8", "172.32.0.1", "2001:db8::1"])
def test_public_clients_are_looked_up(text: str) -> None:
    assert not is_internal(ipaddress.ip_address(text))


def test_names_outside_the_zone_or_without_an_address_are_refused() -> None:
    with pytest.raises(ValueError, match="not in the zone"):
        address_from_query_name("2.0.0.127.other.test", "bl.test")
    with pytest.raises(ValueError, match="32 hex-digit"):
        address_from_query_name("1.2.3.bl.test", "bl.test")
    with pytest.raises(ValueError):
        address_from_query_name("256.0.0.127.bl.test", "bl.test")


@given(ADDRESSES, ZONES)
def test_query_names_round_trip(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str
) -> None:
    name = query_name(address, zone)
    assert name.endswith("." + zone)
    assert len(name.split(".")) == (4 if address.version == 4 else 32) + len(zone.split("."))
    assert address_from_query_name(name.upper() + ".", zone) == address


@given(st.text(max_size=60))
def test_any_peer_host_text_is_an_address_or_none(text: str) -> None:
    address = client_address(text)
    if address is not None:
        assert isinstance(is_internal(address), bool)
        assert address_from_query_name(query_name(address, "bl.test"), "bl.test") == address
