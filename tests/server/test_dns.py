"""trimail.server.dns against a real authoritative server (NSD) on loopback."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.reversename
import pytest
import trio
import trio.lowlevel

from trimail.mailauth import dmarc
from trimail.mailauth.resolver import PermError, TempError
from trimail.server.dns import (
    DnsResolver,
    MxHost,
    MxResult,
    MxStatus,
    ThreadResolver,
    domain_to_ascii,
    parse_nameserver,
)
from trimail.testing.dns_server import LoopbackDns, NsdNotInstalledError, zone_file_text

_IP6_REVERSE = dns.reversename.from_address("2001:db8::1")
_IP6_ZONE = dns.name.from_text("8.b.d.0.1.0.0.2.ip6.arpa")
_BIG = " ".join(f'"{c * 250}"' for c in "abcdefgh")  # 2000 octets: truncated over UDP

EXAMPLE_ZONE = f"""
@        300 MX 20 mx2
@        300 MX 10 mx1
@        300 MX 30 mx3
mx1      300 A 192.0.2.1
mx1      300 AAAA 2001:db8::1
mx2      300 A 192.0.2.2
mx3      300 CNAME mx1          ; an MX target behind a CNAME (RFC 2181 §10.3 frowns)
ties     300 MX 10 a.ties
ties     300 MX 10 b.ties
ties     300 MX 10 c.ties
ties     300 MX 20 d.ties
plain    300 A 192.0.2.10       ; no MX: implicit MX (RFC 5321 §5.1)
alias    300 CNAME plain
nullmx   300 MX 0 .             ; RFC 7505
dotmix   300 MX 0 .
dotmix   300 MX 10 MX1.Example.Test.
dup      300 MX 10 mx1
dup      300 MX 5 mx1
v6only   300 AAAA 2001:db8::6
txt      120 TXT "v=spf1 " "ip4:192.0.2.0/24 " "-all"
txt      120 TXT "second"
big      300 TXT {_BIG}
_dmarc   300 TXT "v=DMARC1; p=reject"
"""

DNS_ZONES = {
    "example.test": EXAMPLE_ZONE,
    "2.0.192.in-addr.arpa": "1 PTR mx1.example.test.\n1 PTR Other.Example.TEST.\n",
    _IP6_ZONE.to_text(): f"{_IP6_REVERSE.relativize(_IP6_ZONE)} PTR mx1.example.test.\n",
    "bücher.test": "@ MX 10 mx\nmx A 192.0.2.20\n",
}
DNS_SERVFAIL_ZONES = ["broken.test"]


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    """Run *test* on Trio with the real clock (these tests talk to real sockets)."""
    return trio.run(test)


def resolve(resolver: DnsResolver, method: str, arg: str) -> Any:
    """One lookup: ``resolve(r, "mx", "example.test")``."""

    async def lookup() -> Any:
        return await getattr(resolver, method)(arg)

    return run(lookup)


@pytest.fixture
def resolver(loopback_dns: LoopbackDns) -> DnsResolver:
    return DnsResolver([loopback_dns.nameserver], timeout_seconds=2.0, rng=random.Random(1))


class FakeClock:
    """Monotonic seconds under the test's control."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- MX (RFC 5321 §5.1, RFC 7505) ---


def test_mx_in_preference_order(resolver: DnsResolver) -> None:
    assert resolve(resolver, "mx", "example.test") == MxResult(
        domain="example.test",
        status=MxStatus.FOUND,
        hosts=(
            MxHost(preference=10, host="mx1.example.test"),
            MxHost(preference=20, host="mx2.example.test"),
            MxHost(preference=30, host="mx3.example.test"),
        ),
    )


def test_mx_name_in_any_case_with_trailing_dot(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "EXAMPLE.Test.")
    assert result.domain == "example.test"
    assert [h.host for h in result.hosts] == [
        "mx1.example.test",
        "mx2.example.test",
        "mx3.example.test",
    ]


def test_mx_ties_in_random_order(loopback_dns: LoopbackDns) -> None:
    orders = set()
    for seed in range(20):
        r = DnsResolver([loopback_dns.nameserver], rng=random.Random(seed), cache_entries=0)
        result = resolve(r, "mx", "ties.example.test")
        hosts = tuple(h.host.split(".")[0] for h in result.hosts)
        assert set(hosts[:3]) == {"a", "b", "c"} and hosts[3] == "d"
        assert [h.preference for h in result.hosts] == [10, 10, 10, 20]
        orders.add(hosts)
    assert len(orders) > 1


def test_mx_tie_order_comes_from_the_injected_rng(loopback_dns: LoopbackDns) -> None:
    def order(seed: int) -> list[str]:
        r = DnsResolver([loopback_dns.nameserver], rng=random.Random(seed))
        return [h.host for h in resolve(r, "mx", "ties.example.test").hosts]

    assert order(7) == order(7)


def test_no_mx_is_an_implicit_mx(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "plain.example.test")
    assert result.status is MxStatus.IMPLICIT and result.implicit and result.accepts_mail
    assert result.hosts == (MxHost(preference=0, host="plain.example.test"),)
    assert resolve(resolver, "addresses", result.hosts[0].host) == ["192.0.2.10"]


def test_implicit_mx_of_a_cname_is_its_target(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "alias.example.test")
    assert result.status is MxStatus.IMPLICIT
    assert result.domain == "alias.example.test"
    assert result.hosts == (MxHost(preference=0, host="plain.example.test"),)


def test_null_mx(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "nullmx.example.test")
    assert result == MxResult(domain="nullmx.example.test", status=MxStatus.NULL_MX)
    assert not result.accepts_mail and not result.implicit


def test_null_mx_among_real_hosts_is_dropped(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "dotmix.example.test")
    assert result.status is MxStatus.FOUND
    assert result.hosts == (MxHost(preference=10, host="mx1.example.test"),)


def test_host_listed_twice_keeps_lowest_preference(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "dup.example.test")
    assert result.hosts == (MxHost(preference=5, host="mx1.example.test"),)


def test_nxdomain_is_no_domain(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "nowhere.example.test")
    assert result == MxResult(domain="nowhere.example.test", status=MxStatus.NO_DOMAIN)
    assert not result.accepts_mail


@pytest.mark.parametrize("name", ["a..example.test", "x" * 64 + ".example.test", "☃.test", "", "."])
def test_impossible_names_do_not_exist(resolver: DnsResolver, name: str) -> None:
    assert resolve(resolver, "mx", name).status is MxStatus.NO_DOMAIN
    assert resolve(resolver, "addresses", name) == []
    assert resolve(resolver, "txt", name) == []


def test_idn_domain(resolver: DnsResolver) -> None:
    result = resolve(resolver, "mx", "Bücher.TEST")
    assert result.domain == "xn--bcher-kva.test"
    assert result.hosts == (MxHost(preference=10, host="mx.xn--bcher-kva.test"),)
    assert resolve(resolver, "addresses", "mx.bücher.test") == ["192.0.2.20"]


# --- A and AAAA ---


def test_addresses_ipv6_first(resolver: DnsResolver) -> None:
    assert resolve(resolver, "addresses", "mx1.example.test") == ["2001:db8::1", "192.0.2.1"]


def test_addresses_ipv4_first(loopback_dns: LoopbackDns) -> None:
    r = DnsResolver([loopback_dns.nameserver], prefer_ipv6=False)
    assert resolve(r, "addresses", "mx1.example.test") == ["192.0.2.1", "2001:db8::1"]


def test_addresses_of_a_cnamed_mx_target(resolver: DnsResolver) -> None:
    assert resolve(resolver, "addresses", "mx3.example.test") == ["2001:db8::1", "192.0.2.1"]


def test_addresses_one_family(resolver: DnsResolver) -> None:
    assert resolve(resolver, "addresses", "v6only.example.test") == ["2001:db8::6"]
    assert resolve(resolver, "addresses", "mx2.example.test") == ["192.0.2.2"]


def test_addresses_nxdomain_and_nodata_are_empty(resolver: DnsResolver) -> None:
    assert resolve(resolver, "addresses", "nowhere.example.test") == []
    assert resolve(resolver, "addresses", "ties.example.test") == []  # has only MX


# --- TXT and PTR ---


def test_txt_strings_joined_per_record(resolver: DnsResolver) -> None:
    records = resolve(resolver, "txt", "TXT.example.test.")
    assert sorted(records) == ["second", "v=spf1 ip4:192.0.2.0/24 -all"]


def test_txt_none(resolver: DnsResolver) -> None:
    assert resolve(resolver, "txt", "nowhere.example.test") == []
    assert resolve(resolver, "txt", "mx1.example.test") == []


def test_txt_too_big_for_udp_comes_over_tcp(resolver: DnsResolver) -> None:
    assert resolve(resolver, "txt", "big.example.test") == ["".join(c * 250 for c in "abcdefgh")]


def test_ptr_ipv4(resolver: DnsResolver) -> None:
    assert sorted(resolve(resolver, "ptr", "192.0.2.1")) == [
        "mx1.example.test",
        "other.example.test",
    ]


def test_ptr_ipv6_and_ipv4_mapped(resolver: DnsResolver) -> None:
    assert resolve(resolver, "ptr", "2001:db8:0::1") == ["mx1.example.test"]
    assert resolve(resolver, "ptr", "2001:db8::1%eth0") == ["mx1.example.test"]
    assert len(resolve(resolver, "ptr", "::ffff:192.0.2.1")) == 2


def test_ptr_missing(resolver: DnsResolver) -> None:
    assert resolve(resolver, "ptr", "192.0.2.99") == []


def test_ptr_of_a_non_address(resolver: DnsResolver) -> None:
    with pytest.raises(PermError):
        resolve(resolver, "ptr", "mx1.example.test")


# --- lookup: any one type, in text form (the SPF mechanisms' queries, RFC 7208 §5) ---


def lookup(resolver: DnsResolver, name: str, rdtype: str) -> Any:
    """``resolver.lookup(name, rdtype)`` on Trio."""

    async def main() -> Any:
        return await resolver.lookup(name, rdtype)

    return run(main)


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("mx1.example.test", "A", ["192.0.2.1"]),
        ("MX1.Example.Test.", "aaaa", ["2001:db8::1"]),
        ("mx3.example.test", "A", ["192.0.2.1"]),  # CNAME followed
        ("mx3.example.test", "CNAME", ["mx1.example.test"]),  # the alias itself
        ("nullmx.example.test", "MX", ["0 ."]),  # RFC 7505
        ("dup.example.test", "MX", ["5 mx1.example.test", "10 mx1.example.test"]),
        ("example.test", "NS", ["ns.invalid"]),
        ("txt.example.test", "TXT", ["second", "v=spf1 ip4:192.0.2.0/24 -all"]),
        ("1.2.0.192.in-addr.arpa", "PTR", ["mx1.example.test", "other.example.test"]),
        ("mx.bücher.test", "A", ["192.0.2.20"]),
        ("nowhere.example.test", "A", []),  # NXDOMAIN
        ("mx2.example.test", "AAAA", []),  # NODATA
        ("a..example.test", "TXT", []),  # cannot exist
    ],
)
def test_lookup(resolver: DnsResolver, name: str, rdtype: str, expected: list[str]) -> None:
    assert sorted(lookup(resolver, name, rdtype)) == sorted(expected)


def test_lookup_shares_the_cache(resolver: DnsResolver) -> None:
    resolve(resolver, "txt", "txt.example.test")
    size = resolver.cache_size
    assert sorted(lookup(resolver, "txt.example.test", "TXT"))[0] == "second"
    assert resolver.cache_size == size


def test_lookup_failures(resolver: DnsResolver) -> None:
    with pytest.raises(TempError):
        lookup(resolver, "x.broken.test", "A")
    with pytest.raises(ValueError, match="unsupported rdtype"):
        lookup(resolver, "example.test", "SOA")


# --- failures: TempError, within the timeout ---


def test_servfail_is_temporary(resolver: DnsResolver) -> None:
    for method in ("mx", "txt", "addresses"):
        with pytest.raises(TempError):
            resolve(resolver, method, "x.broken.test")


def test_refused_is_temporary(resolver: DnsResolver) -> None:
    with pytest.raises(TempError):
        resolve(resolver, "mx", "example.org")  # not NSD's zone: REFUSED


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port where a socket is bound and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("method", ["mx", "txt", "addresses", "ptr"])
def test_timeout_is_temporary_and_bounded(silent_port: int, method: str) -> None:
    r = DnsResolver([f"127.0.0.1:{silent_port}"], timeout_seconds=0.5)
    start = time.monotonic()
    with pytest.raises(TempError):
        resolve(r, method, "192.0.2.1" if method == "ptr" else "example.test")
    assert time.monotonic() - start < 1.0


def serve_udp(answer: Callable[[bytes], bytes | None]) -> Callable[..., Awaitable[None]]:
    """A Trio task: a UDP DNS server on 127.0.0.1 that replies ``answer(query)``."""

    async def serve(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            await sock.bind(("127.0.0.1", 0))
            task_status.started(sock.getsockname()[1])
            while True:
                query, peer = await sock.recvfrom(4096)
                reply = answer(query)
                if reply is not None:
                    await sock.sendto(reply, peer)

    return serve


def garbage(query: bytes) -> bytes:
    return query[:2] + b"\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00\xff"


def wrong_question(query: bytes) -> bytes:
    response = dns.message.make_response(dns.message.from_wire(query))
    response.question = [dns.message.make_query("other.test", "MX").question[0]]
    return response.to_wire()


def servfail(query: bytes) -> bytes:
    response = dns.message.make_response(dns.message.from_wire(query))
    response.set_rcode(dns.rcode.SERVFAIL)
    return response.to_wire()


@pytest.mark.parametrize("answer", [garbage, wrong_question, servfail])
def test_bad_answers_are_temporary(answer: Callable[[bytes], bytes]) -> None:
    async def main() -> float:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_udp(answer))
            r = DnsResolver([f"127.0.0.1:{port}"], timeout_seconds=0.5)
            start = trio.current_time()
            with pytest.raises(TempError):
                await r.mx("example.test")
            nursery.cancel_scope.cancel()
            return trio.current_time() - start

    assert run(main) < 1.0


def test_no_nameservers(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("search example.test\n")
    for conf in (tmp_path / "resolv.conf", tmp_path / "missing"):
        r = DnsResolver(resolv_conf=str(conf))
        assert r.nameservers == []
        with pytest.raises(TempError, match="no DNS nameservers"):
            resolve(r, "txt", "example.test")


def test_nameservers_from_resolv_conf(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("nameserver 192.0.2.53\nnameserver ::1\n")
    r = DnsResolver(resolv_conf=str(tmp_path / "resolv.conf"))
    assert r.nameservers == ["192.0.2.53:53", "[::1]:53"]


# --- the cache ---

CACHE_ZONES = {"example.test": "@ 300 MX 10 mx1\nmx1 300 A 192.0.2.1\ntxt 120 TXT hello\n"}


def test_cache_answers_until_the_ttl_expires() -> None:
    clock = FakeClock()
    with LoopbackDns(CACHE_ZONES) as server:
        r = DnsResolver([server.nameserver], timeout_seconds=0.5, clock=clock)
        mx = resolve(r, "mx", "example.test")
        assert resolve(r, "txt", "txt.example.test") == ["hello"]
        assert resolve(r, "mx", "nowhere.example.test").status is MxStatus.NO_DOMAIN
        assert resolve(r, "addresses", "mx1.example.test") == ["192.0.2.1"]  # + AAAA NODATA
    assert not server.running
    clock.now += 59  # negative TTL: SOA MINIMUM 60 (RFC 2308 §5)
    assert resolve(r, "mx", "example.test") == mx
    assert resolve(r, "mx", "Nowhere.Example.Test.").status is MxStatus.NO_DOMAIN
    assert resolve(r, "addresses", "mx1.example.test") == ["192.0.2.1"]
    clock.now += 2
    with pytest.raises(TempError):
        resolve(r, "mx", "nowhere.example.test")
    clock.now += 60  # 121 s: the TXT (TTL 120) is gone, the MX (300) is not
    with pytest.raises(TempError):
        resolve(r, "txt", "txt.example.test")
    assert resolve(r, "mx", "example.test") == mx
    clock.now += 200
    with pytest.raises(TempError):
        resolve(r, "mx", "example.test")


def test_cache_ttl_is_capped() -> None:
    clock = FakeClock()
    with LoopbackDns(CACHE_ZONES) as server:
        r = DnsResolver([server.nameserver], timeout_seconds=0.5, clock=clock, max_ttl_seconds=10)
        resolve(r, "mx", "example.test")
    clock.now += 9
    resolve(r, "mx", "example.test")
    clock.now += 2
    with pytest.raises(TempError):
        resolve(r, "mx", "example.test")


def test_cache_is_bounded(loopback_dns: LoopbackDns) -> None:
    r = DnsResolver([loopback_dns.nameserver], cache_entries=2)
    for name in ("mx1.example.test", "mx2.example.test", "plain.example.test"):
        resolve(r, "txt", name)
    assert r.cache_size == 2
    r.clear_cache()
    assert r.cache_size == 0
    off = DnsResolver([loopback_dns.nameserver], cache_entries=0)
    resolve(off, "txt", "mx1.example.test")
    assert off.cache_size == 0


def test_temporary_failures_are_not_cached(resolver: DnsResolver) -> None:
    with pytest.raises(TempError):
        resolve(resolver, "txt", "x.broken.test")
    assert resolver.cache_size == 0


# --- ThreadResolver: the mailauth Resolver protocol from worker threads ---


def test_thread_resolver(resolver: DnsResolver) -> None:
    async def main() -> None:
        implicit = ThreadResolver(resolver)
        explicit = ThreadResolver(resolver, trio.lowlevel.current_trio_token())
        txt = await trio.to_thread.run_sync(implicit.txt, "txt.example.test")
        assert sorted(txt) == ["second", "v=spf1 ip4:192.0.2.0/24 -all"]
        mx = await trio.to_thread.run_sync(explicit.mx, "example.test")
        assert mx.hosts[0].host == "mx1.example.test"
        assert await trio.to_thread.run_sync(explicit.ptr, "192.0.2.99") == []
        assert await trio.to_thread.run_sync(explicit.addresses, "mx2.example.test") == [
            "192.0.2.2"
        ]
        with pytest.raises(TempError):
            await trio.to_thread.run_sync(implicit.txt, "x.broken.test")
        assert await trio.to_thread.run_sync(implicit.lookup, "mx2.example.test", "A") == [
            "192.0.2.2"
        ]
        with pytest.raises(ValueError):
            implicit.lookup("example.test", "SOA")  # checked before calling into Trio
        found = await trio.to_thread.run_sync(dmarc.discover, "example.test", implicit)
        assert found is not None and found[0].p == "reject"

    run(main)


def test_thread_resolver_after_the_run_is_temporary(resolver: DnsResolver) -> None:
    async def current_token() -> trio.lowlevel.TrioToken:
        return trio.lowlevel.current_trio_token()

    token = run(current_token)
    with pytest.raises(TempError, match="stopping"):
        ThreadResolver(resolver, token).txt("txt.example.test")


# --- names and settings ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("::1", ("::1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[2001:DB8::1]", ("2001:db8::1", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize(
    "text", ["", "dns.example", "127.0.0.1:0", "127.0.0.1:70000", "[::1", "[::1]x", "1.2.3.4:x"]
)
def test_parse_nameserver_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.ORG.", "example.org"),
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008: ß is not mapped to "ss"
        ("_dmarc.bücher.example", "_dmarc.xn--bcher-kva.example"),
        ("\uff42\u00fc\uff43her\u3002example", "xn--bcher-kva.example"),  # UTS 46: width, dot
    ],
)
def test_domain_to_ascii(text: str, expected: str) -> None:
    assert domain_to_ascii(text) == expected


# --- LoopbackDns itself ---


def test_zone_boilerplate_is_added() -> None:
    text = zone_file_text("example.test", "@ MX 10 mx1\n")
    assert "$ORIGIN example.test." in text
    assert "@ 300 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60" in text
    assert "@ 300 IN NS ns.invalid." in text
    own = zone_file_text("example.test", "$TTL 60\n@ SOA a. b. 7 1 1 1 1\n@ NS a.\n")
    assert "ns.invalid" not in own and "@ 60 IN SOA a. b. 7 1 1 1 1" in own


def test_bad_zone_fails_early() -> None:
    with pytest.raises(ValueError, match=r"zone example\.test\.: near line 2: unknown rdatatype"):
        LoopbackDns({"example.test": "@ MX 10 mx1\nmx1 BOGUS 192.0.2.1\n"})
    with pytest.raises(ValueError, match=r"zone example\.test\.: near line [23]: .*malformed"):
        LoopbackDns({"example.test": "@ MX 10 mx1\nmx1 A 192.0.2\n"})


def test_missing_nsd_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(NsdNotInstalledError, match="apt-get install nsd"):
        LoopbackDns({"example.test": ""}, nsd=str(tmp_path / "nsd"))


def test_ipv6_loopback() -> None:
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with LoopbackDns(CACHE_ZONES, address="::1") as server:
        assert server.nameserver == f"[::1]:{server.port}"
        r = DnsResolver([server.nameserver])
        assert resolve(r, "txt", "txt.example.test") == ["hello"]
