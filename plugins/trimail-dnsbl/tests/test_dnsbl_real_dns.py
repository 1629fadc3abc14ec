"""The checker against a real DNS server (NSD on loopback) through trimail's resolver,
from a worker thread as the server calls filter hooks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from trimail_dnsbl import DnsblChecker, DnsblList, DnsblResult, DnsblSettings

from trimail.mailauth.resolver import Resolver
from trimail.server.dns import DnsResolver, ThreadResolver
from trimail.testing.dns_server import LoopbackDns

V6_TEST_POINT = "2.0.0.0.0.0.f.7.f.f.f.f" + ".0" * 20  # ::FFFF:7F00:2 (RFC 5782 §5)
V6_LISTED = "1.0.0.0" + ".0" * 20 + ".8.b.d.0.1.0.0.2"  # 2001:db8::1

ZONES = {
    # A list as RFC 5782 §5 wants it: 127.0.0.2 listed, 127.0.0.1 not.
    "bl.test": f"""
2.0.0.127      A   127.0.0.2
2.0.0.127      TXT "Test point (RFC 5782 section 5)"
2.2.0.192      A   127.0.0.2
2.2.0.192      A   127.0.0.4
2.2.0.192      TXT "Listed\\013\\010X-Injected: 1" " see https://bl.test/q"
3.2.0.192      A   127.0.0.10
4.2.0.192      A   127.255.255.254
5.2.0.192      A   192.0.2.1
5.2.0.192      A   127.0.0.3
{V6_TEST_POINT} A 127.0.0.2
{V6_LISTED}    A   127.0.0.2
""",
    "codes.test": "2.2.0.192 A 127.0.0.4\n3.2.0.192 A 127.0.0.10\n",
}


@pytest.fixture(scope="module")
def nameserver() -> Iterator[str]:
    with LoopbackDns(ZONES, servfail_zones=["broken.test"]) as server:
        yield server.nameserver


def check(nameserver: str, peer: str, *lists: DnsblList, **table: Any) -> DnsblResult | None:
    """Run one check from a Trio worker thread, as a filter hook runs."""
    settings = DnsblSettings(lists=lists, check_loopback=True, **table)
    checker = DnsblChecker(settings)

    async def main() -> DnsblResult | None:
        resolver: Resolver = ThreadResolver(DnsResolver([nameserver], timeout_seconds=1.0))
        return await trio.to_thread.run_sync(checker.check, peer, resolver)

    return trio.run(main)


def test_the_ipv4_test_point_is_listed_and_127_0_0_1_is_not(nameserver: str) -> None:
    result = check(nameserver, "127.0.0.2", DnsblList(zone="bl.test"))
    assert result is not None and result.blocked
    assert result.listings[0].codes == ("127.0.0.2",)
    assert result.listings[0].reason == "Test point (RFC 5782 section 5)"
    result = check(nameserver, "127.0.0.1", DnsblList(zone="bl.test"))
    assert result is not None and not result.listings and not result.failed


def test_the_ipv6_test_point_and_an_ipv6_listing(nameserver: str) -> None:
    lists = (DnsblList(zone="bl.test", ipv6=True),)
    result = check(nameserver, "2001:db8::1", *lists)
    assert result is not None and result.blocked
    # a client on ::ffff:127.0.0.2 is an IPv4 client: asked as 2.0.0.127
    result = check(nameserver, "::ffff:127.0.0.2", *lists)
    assert result is not None and result.address == "127.0.0.2" and result.blocked


def test_txt_reason_arrives_sanitized(nameserver: str) -> None:
    result = check(nameserver, "192.0.2.2", DnsblList(zone="bl.test"))
    assert result is not None
    (listing,) = result.listings
    assert sorted(listing.codes) == ["127.0.0.2", "127.0.0.4"]
    assert listing.reason == "Listed X-Injected: 1 see https://bl.test/q"


def test_codes_error_codes_and_hijacked_answers(
    nameserver: str, caplog: pytest.LogCaptureFixture
) -> None:
    coded = DnsblList(zone="codes.test", codes=("127.0.0.4",))
    result = check(nameserver, "192.0.2.2", coded)
    assert result is not None and result.blocked
    result = check(nameserver, "192.0.2.3", coded)
    assert result is not None and not result.listings
    with caplog.at_level(logging.WARNING, "trimail.dnsbl"):
        result = check(nameserver, "192.0.2.4", DnsblList(zone="bl.test"))
        assert result is not None and not result.listings
        result = check(nameserver, "192.0.2.5", DnsblList(zone="bl.test"))
        assert result is not None and result.listings[0].codes == ("127.0.0.3",)
    assert "error code 127.255.255.254" in caplog.text
    assert "'192.0.2.1', outside 127.0.0.0/8" in caplog.text


def test_servfail_refused_and_no_server_fail_open(nameserver: str) -> None:
    lists = (
        DnsblList(zone="broken.test"),  # SERVFAIL
        DnsblList(zone="elsewhere.test"),  # REFUSED: NSD is not authoritative
        DnsblList(zone="bl.test", weight=0.5),
    )
    result = check(nameserver, "127.0.0.2", *lists)
    assert result is not None
    assert result.failed == ("broken.test", "elsewhere.test")
    assert [x.zone for x in result.listings] == ["bl.test"] and not result.blocked
    result = check("127.0.0.1:9", "127.0.0.2", DnsblList(zone="bl.test"))  # nobody there
    assert result is not None and result.failed == ("bl.test",) and not result.blocked
