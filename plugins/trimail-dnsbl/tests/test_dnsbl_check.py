"""The checker against a fake resolver: codes, weights, failures, cache, time budget."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trimail_dnsbl import (
    DnsblChecker,
    DnsblList,
    DnsblSettings,
    Listing,
    address_from_query_name,
    header_field,
    reject_reply,
    sanitize_reason,
)
from trimail_dnsbl.reason import MAX_REASON_CHARS

from trimail.mailauth.resolver import PermError, TempError

ONE_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")  # delivery.py
CLIENT = "192.0.2.99"  # TEST-NET-1: public as far as the plugin knows
Q = "99.2.0.192"  # its reversed octets


class Clock:
    """A fake monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeResolver:
    """Answers from a table; a value that is an exception is raised instead.

    Args:
        table: (name, rdtype) -> answers or an exception.
        clock: advanced by *seconds_per_lookup* at each lookup.
    """

    def __init__(
        self,
        table: Mapping[tuple[str, str], Sequence[str] | Exception],
        clock: Clock | None = None,
        seconds_per_lookup: float = 0.0,
    ) -> None:
        self.table = dict(table)
        self.clock = clock
        self.seconds_per_lookup = seconds_per_lookup
        self.lookups: list[tuple[str, str]] = []

    def txt(self, name: str) -> list[str]:
        return self.lookup(name, "TXT")

    def lookup(self, name: str, rdtype: str) -> list[str]:
        self.lookups.append((name, rdtype))
        if self.clock is not None:
            self.clock.now += self.seconds_per_lookup
        found = self.table.get((name, rdtype), [])
        if isinstance(found, Exception):
            raise found
        return list(found)


def checker(*lists: DnsblList, clock: Clock | None = None, **kwargs: Any) -> DnsblChecker:
    config = DnsblSettings(lists=lists, **kwargs)
    return DnsblChecker(config, clock=clock or Clock())


def test_a_listed_client_with_its_reason() -> None:
    resolver = FakeResolver(
        {
            (f"{Q}.zen.example", "A"): ["127.0.0.2", "127.0.0.4"],
            (f"{Q}.zen.example", "TXT"): ["Listed;\r\n see https://zen.example/q?192.0.2.99"],
        }
    )
    result = checker(DnsblList(zone="zen.example")).check(CLIENT, resolver)
    assert result is not None
    assert result.listings == (
        Listing(
            zone="zen.example",
            weight=1.0,
            codes=("127.0.0.2", "127.0.0.4"),
            reason="Listed; see https://zen.example/q?192.0.2.99",
        ),
    )
    assert result.blocked and result.score == 1.0 and not result.failed


def test_an_unlisted_client_costs_one_query_per_list() -> None:
    resolver = FakeResolver({})
    result = checker(DnsblList(zone="a.example"), DnsblList(zone="b.example")).check(
        CLIENT, resolver
    )
    assert result is not None and result.listings == () and not result.blocked
    assert resolver.lookups == [(f"{Q}.a.example", "A"), (f"{Q}.b.example", "A")]


def test_weights_add_up_to_the_threshold() -> None:
    lists = [DnsblList(zone=f"{z}.example", weight=w) for z, w in (("a", 0.1), ("b", 0.2))]
    lists.append(DnsblList(zone="c.example", weight=5.0))
    listed = {(f"{Q}.{z}.example", "A"): ["127.0.0.2"] for z in "ab"}
    result = checker(*lists, threshold=0.3).check(CLIENT, FakeResolver(listed))
    assert result is not None
    assert [x.zone for x in result.listings] == ["a.example", "b.example"]
    assert result.blocked  # 0.1 + 0.2 reaches 0.3 despite binary floating point
    result = checker(*lists, threshold=0.31).check(CLIENT, FakeResolver(listed))
    assert result is not None and not result.blocked


def test_only_the_configured_codes_count() -> None:
    lists = (DnsblList(zone="zen.example", codes=("127.0.0.4", "127.0.0.9")),)
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.0.0.2", "127.0.0.9"]})
    result = checker(*lists).check(CLIENT, resolver)
    assert result is not None and result.listings[0].codes == ("127.0.0.9",)
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.0.0.2", "127.0.0.3"]})
    result = checker(*lists).check(CLIENT, resolver)
    assert result is not None and result.listings == ()
    assert (f"{Q}.zen.example", "TXT") not in resolver.lookups


def test_error_codes_are_never_a_listing(caplog: pytest.LogCaptureFixture) -> None:
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.255.255.254"]})
    with caplog.at_level(logging.WARNING, "trimail.dnsbl"):
        result = checker(DnsblList(zone="zen.example")).check(CLIENT, resolver)
    assert result is not None and result.listings == ()
    assert "error code 127.255.255.254" in caplog.text


@pytest.mark.parametrize("answer", ["192.0.2.1", "10.0.0.2", "0.0.0.0", "::1", "junk"])
def test_answers_outside_127_8_are_ignored(answer: str, caplog: pytest.LogCaptureFixture) -> None:
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): [answer, "127.0.0.3"]})
    with caplog.at_level(logging.WARNING, "trimail.dnsbl"):
        result = checker(DnsblList(zone="zen.example")).check(CLIENT, resolver)
    assert result is not None and result.listings[0].codes == ("127.0.0.3",)
    assert "outside 127.0.0.0/8" in caplog.text and "taken over" in caplog.text


@pytest.mark.parametrize("error", [TempError("SERVFAIL"), PermError("broken")])
def test_a_dns_failure_means_not_listed(error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    resolver = FakeResolver(
        {
            (f"{Q}.a.example", "A"): error,
            (f"{Q}.b.example", "A"): ["127.0.0.2"],
            (f"{Q}.b.example", "TXT"): TempError("timeout"),
        }
    )
    with caplog.at_level(logging.INFO, "trimail.dnsbl"):
        result = checker(DnsblList(zone="a.example"), DnsblList(zone="b.example")).check(
            CLIENT, resolver
        )
    assert result is not None
    assert result.failed == ("a.example",)
    assert result.listings == (Listing(zone="b.example", weight=1.0, codes=("127.0.0.2",)),)
    assert f"lookup of {Q}.a.example failed, treated as not listed" in caplog.text


def test_no_txt_lookup_when_lookup_txt_is_off() -> None:
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.0.0.2"]})
    result = checker(DnsblList(zone="zen.example"), lookup_txt=False).check(CLIENT, resolver)
    assert result is not None and result.listings[0].reason == ""
    assert resolver.lookups == [(f"{Q}.zen.example", "A")]


@pytest.mark.parametrize(
    "peer", ["127.0.0.2", "::1", "10.0.0.1", "192.168.1.2", "fd12::1", "fe80::2", "::ffff:10.1.1.1"]
)
def test_internal_clients_are_not_looked_up(peer: str) -> None:
    resolver = FakeResolver({})
    assert checker(DnsblList(zone="zen.example", ipv6=True)).check(peer, resolver) is None
    assert resolver.lookups == []


def test_check_loopback_looks_up_the_test_point() -> None:
    resolver = FakeResolver({("2.0.0.127.zen.example", "A"): ["127.0.0.2"]})
    result = checker(DnsblList(zone="zen.example"), check_loopback=True).check(
        "127.0.0.2", resolver
    )
    assert result is not None and result.blocked
    assert (
        checker(DnsblList(zone="zen.example"), check_loopback=True).check("10.0.0.1", resolver)
        is None
    )  # private networks stay exempt


def test_whitelisted_networks_are_not_looked_up() -> None:
    resolver = FakeResolver({})
    check = checker(
        DnsblList(zone="zen.example", ipv6=True),
        whitelist_networks=("192.0.2.0/25", "2001:db8:1::/48"),
    )
    assert check.check("192.0.2.99", resolver) is None
    assert check.check("::ffff:192.0.2.1", resolver) is None
    assert check.check("2001:db8:1::5", resolver) is None
    assert resolver.lookups == []
    assert check.check("192.0.2.200", resolver) is not None


def test_ipv6_clients_ask_only_the_lists_that_take_ipv6() -> None:
    nibbles = "1.0.0.0" + ".0" * 20 + ".8.b.d.0.1.0.0.2"
    resolver = FakeResolver({(f"{nibbles}.v6.example", "A"): ["127.0.0.2"]})
    lists = (DnsblList(zone="v4.example"), DnsblList(zone="v6.example", ipv6=True))
    result = checker(*lists).check("2001:db8::1", resolver)
    assert result is not None and [x.zone for x in result.listings] == ["v6.example"]
    assert [name for name, rdtype in resolver.lookups if rdtype == "A"] == [f"{nibbles}.v6.example"]
    assert checker(lists[0]).check("2001:db8::1", resolver) is None


def test_a_mapped_client_is_asked_as_ipv4() -> None:
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.0.0.2"]})
    result = checker(DnsblList(zone="zen.example")).check(f"::ffff:{CLIENT}", resolver)
    assert result is not None and result.address == CLIENT and result.blocked


def test_results_are_cached_per_client_for_cache_seconds() -> None:
    clock = Clock()
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): ["127.0.0.2"]})
    check = checker(DnsblList(zone="zen.example"), clock=clock, cache_seconds=60.0)
    first = check.check(CLIENT, resolver)
    clock.now += 59
    assert check.check(CLIENT, resolver) is first
    assert len(resolver.lookups) == 2  # A and TXT, once
    clock.now += 2
    assert check.check(CLIENT, resolver) == first
    assert len(resolver.lookups) == 4


def test_results_with_failures_are_cached_briefly() -> None:
    clock = Clock()
    resolver = FakeResolver({(f"{Q}.zen.example", "A"): TempError("SERVFAIL")})
    check = checker(DnsblList(zone="zen.example"), clock=clock, cache_seconds=600.0)
    check.check(CLIENT, resolver)
    clock.now += 29
    check.check(CLIENT, resolver)
    assert len(resolver.lookups) == 1
    clock.now += 2
    check.check(CLIENT, resolver)
    assert len(resolver.lookups) == 2


def test_no_cache_with_cache_seconds_0() -> None:
    resolver = FakeResolver({})
    check = checker(DnsblList(zone="zen.example"), cache_seconds=0.0)
    check.check(CLIENT, resolver)
    check.check(CLIENT, resolver)
    assert len(resolver.lookups) == 2


def test_the_cache_is_bounded() -> None:
    clock = Clock()
    config = DnsblSettings(lists=(DnsblList(zone="zen.example"),))
    check = DnsblChecker(config, clock=clock, cache_entries=3)
    resolver = FakeResolver({})
    for last in range(1, 6):
        check.check(f"192.0.2.{last}", resolver)
    assert len(check._cache) == 3
    assert set(check._cache) == {"192.0.2.3", "192.0.2.4", "192.0.2.5"}
    check.clear_cache()
    assert not check._cache


def test_lookups_stop_when_the_time_budget_is_spent(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    resolver = FakeResolver(
        {(f"{Q}.{z}.example", "A"): ["127.0.0.2"] for z in "abc"},
        clock=clock,
        seconds_per_lookup=2.0,
    )
    lists = [DnsblList(zone=f"{z}.example") for z in "abc"]
    with caplog.at_level(logging.WARNING, "trimail.dnsbl"):
        result = checker(*lists, clock=clock, timeout_seconds=3.0).check(CLIENT, resolver)
    assert result is not None
    # a: A (2 s) then TXT (4 s); b and c: no time left
    assert [x.zone for x in result.listings] == ["a.example"]
    assert result.failed == ("b.example", "c.example")
    assert "no time left" in caplog.text
    assert len(resolver.lookups) == 2


def test_txt_records_are_sanitized() -> None:
    assert sanitize_reason(["a\r\nX-Evil: 1", "a\r\nX-Evil: 1", "\tb\x00c\u00e9d "]) == (
        "a X-Evil: 1 / b c d"
    )
    assert sanitize_reason([]) == ""
    assert sanitize_reason(["\x01\x02", "   "]) == ""
    long = sanitize_reason(["x" * 1000])
    assert len(long) == MAX_REASON_CHARS and long.endswith("...")


@given(st.lists(st.text(max_size=300), max_size=20), st.integers(3, 300))
def test_any_txt_records_become_a_short_printable_line(records: list[str], limit: int) -> None:
    reason = sanitize_reason(records, limit)
    assert len(reason) <= limit
    assert all(" " <= c <= "~" for c in reason)
    assert reason == reason.strip() and "  " not in reason


ANSWERS = st.one_of(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.ip_addresses().map(str),
            st.ip_addresses(network="127.0.0.0/8").map(str),
            st.ip_addresses(network="127.255.255.0/24").map(str),
        ),
        max_size=12,
    ),
    st.sampled_from([TempError("SERVFAIL"), PermError("bad")]),
)


@settings(deadline=None)
@given(
    st.one_of(st.ip_addresses().map(str), st.text(max_size=40)),
    st.lists(
        st.from_regex(r"[a-z]{1,10}\.(test|example)", fullmatch=True), unique=True, max_size=4
    ),
    st.lists(ANSWERS, min_size=4, max_size=4),
    st.lists(ANSWERS, min_size=4, max_size=4),
)
def test_any_address_zone_and_answer_never_crash(
    peer: str,
    zones: list[str],
    a_answers: list[Sequence[str] | Exception],
    txt_answers: list[Sequence[str] | Exception],
) -> None:
    class AnyResolver(FakeResolver):
        def lookup(self, name: str, rdtype: str) -> list[str]:
            zone = next(z for z in zones if name.endswith("." + z))
            address_from_query_name(name, zone)  # every query name is well formed
            self.table[(name, rdtype)] = (a_answers if rdtype == "A" else txt_answers)[
                zones.index(zone)
            ]
            return super().lookup(name, rdtype)

    lists = [DnsblList(zone=z, ipv6=True) for z in zones] or [DnsblList(zone="x.test")]
    zones = [x.zone for x in lists]
    check = checker(*lists, check_loopback=True)
    result = check.check(peer, AnyResolver({}))
    if result is None:
        return
    assert ipaddress.ip_address(result.address)
    if result.listings:
        reply = reject_reply(result)
        assert all(len(f"554-5.7.1 {line}\r\n") <= 512 for line in reply.text)
        assert all(line.isascii() and line.isprintable() for line in reply.text)
        field = header_field(result)
        assert ONE_FIELD.fullmatch(field)
        assert all(len(line) <= 998 for line in field.split("\r\n"))
    for listing in result.listings:
        assert all(ipaddress.IPv4Address(code).is_loopback for code in listing.codes)
        assert not any(code.startswith("127.255.255.") for code in listing.codes)
        assert len(listing.reason) <= MAX_REASON_CHARS and listing.reason.isascii()
