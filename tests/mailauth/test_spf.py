"""SPF (RFC 7208) with pyspf over trimail's resolvers: StaticResolver tables and real DNS.

The tables follow RFC 7208 Appendix A (its zone and the records of A.1 and A.4), then
each rule with its section. The openspf RFC 7208 test suite runs too when
``TRIMAIL_RFC7208_TESTS`` names its YAML file (the pyspf wheel does not ship it; its
sdist does: ``pip download pyspf==2.0.14 --no-binary :all: --no-deps``, then
``test/rfc7208-tests.yml`` in the archive).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import spf as pyspf
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mailauth import results
from trimail.mailauth import spf as spf_module
from trimail.mailauth.resolver import RDTYPES, StaticRecord, StaticResolver, TempError
from trimail.mailauth.spf import SpfResult, check_spf
from trimail.server.dns import DnsResolver, ThreadResolver
from trimail.testing.dns_server import LoopbackDns

RECEIVER = "mx.receiver.test"

# RFC 7208 Appendix A: the example zones (www is a CNAME for example.com).
APPENDIX_A: dict[str, list[StaticRecord]] = {
    "example.com": [
        ("MX", "10 mail-a.example.com"),
        ("MX", "20 mail-b.example.com"),
        ("A", "192.0.2.10"),
        ("A", "192.0.2.11"),
    ],
    "amy.example.com": [("A", "192.0.2.65")],
    "bob.example.com": [("A", "192.0.2.66")],
    "mail-a.example.com": [("A", "192.0.2.129")],
    "mail-b.example.com": [("A", "192.0.2.130")],
    "www.example.com": [("CNAME", "example.com")],
    "example.org": [("MX", "10 mail-c.example.org")],
    "mail-c.example.org": [("A", "192.0.2.140")],
    "10.2.0.192.in-addr.arpa": [("PTR", "example.com")],
    "11.2.0.192.in-addr.arpa": [("PTR", "example.com")],
    "65.2.0.192.in-addr.arpa": [("PTR", "amy.example.com")],
    "66.2.0.192.in-addr.arpa": [("PTR", "bob.example.com")],
    "129.2.0.192.in-addr.arpa": [("PTR", "mail-a.example.com")],
    "130.2.0.192.in-addr.arpa": [("PTR", "mail-b.example.com")],
    "140.2.0.192.in-addr.arpa": [("PTR", "mail-c.example.org")],
    "4.3.2.10.in-addr.arpa": [("PTR", "bob.example.com")],  # 10.2.3.4: not validated
}


def zone(
    extra: Mapping[str, Iterable[StaticRecord]] | None = None,
    failing: Iterable[str | tuple[str, str]] = (),
    base: Mapping[str, Iterable[StaticRecord]] = APPENDIX_A,
) -> StaticResolver:
    """*base* with *extra* records added (same name: appended)."""
    merged = {name: list(records) for name, records in base.items()}
    for name, records in (extra or {}).items():
        merged.setdefault(name, []).extend(records)
    return StaticResolver(merged, failing=list(failing))


def check(
    resolver: StaticResolver,
    ip: str,
    mail_from: str = "alice@example.com",
    helo: str = "[192.0.2.99]",
    **kwargs: Any,
) -> SpfResult:
    """check_spf with an address-literal HELO (not checked) unless one is given."""
    return check_spf(
        ip=ip, mail_from=mail_from, helo=helo, resolver=resolver, receiver=RECEIVER, **kwargs
    )


# --- RFC 7208 Appendix A.1: simple examples, record at example.com ---

A1 = [
    ("v=spf1 +all", "198.51.100.7", "pass"),
    ("v=spf1 a -all", "192.0.2.10", "pass"),
    ("v=spf1 a -all", "192.0.2.11", "pass"),
    ("v=spf1 a -all", "192.0.2.65", "fail"),
    ("v=spf1 a:example.org -all", "192.0.2.140", "fail"),  # example.org has no A
    ("v=spf1 mx -all", "192.0.2.129", "pass"),
    ("v=spf1 mx -all", "192.0.2.130", "pass"),
    ("v=spf1 mx -all", "192.0.2.10", "fail"),
    ("v=spf1 mx:example.org -all", "192.0.2.140", "pass"),
    ("v=spf1 mx:example.org -all", "192.0.2.129", "fail"),
    ("v=spf1 mx mx:example.org -all", "192.0.2.129", "pass"),
    ("v=spf1 mx mx:example.org -all", "192.0.2.140", "pass"),
    ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.131", "pass"),
    ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.143", "pass"),
    ("v=spf1 mx/30 mx:example.org/30 -all", "192.0.2.144", "fail"),
    ("v=spf1 ptr -all", "192.0.2.10", "pass"),  # PTR example.com
    ("v=spf1 ptr -all", "192.0.2.65", "pass"),  # amy.example.com
    ("v=spf1 ptr -all", "192.0.2.140", "fail"),  # mail-c.example.org
    ("v=spf1 ptr -all", "10.2.3.4", "fail"),  # bob.example.com is not 10.2.3.4
    ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.65", "fail"),
    ("v=spf1 ip4:192.0.2.128/28 -all", "192.0.2.129", "pass"),
]


@pytest.mark.parametrize(("record", "ip", "expected"), A1)
def test_appendix_a1(record: str, ip: str, expected: str) -> None:
    result = check(zone({"example.com": [record]}), ip)
    assert result.result == expected
    assert result.mailfrom == result.aligned_domain == "example.com"


def test_cname_is_followed_for_the_record_and_for_a() -> None:
    resolver = zone({"example.com": ["v=spf1 a -all"]})
    result = check(resolver, "192.0.2.10", "alice@www.example.com")
    assert (result.result, result.mailfrom) == ("pass", "www.example.com")
    assert resolver.lookups == [("www.example.com", "TXT"), ("www.example.com", "A")]


# --- Appendix A.4: several requirements through include ---

A4 = {
    "example.com": ["v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all"],
    "ip4._spf.example.com": ["v=spf1 -ip4:192.0.2.0/24 +all"],
    "ptr._spf.example.com": ["v=spf1 -ptr:example.com +all"],
}


@pytest.mark.parametrize(
    ("ip", "expected"),
    [("192.0.2.65", "pass"), ("192.0.2.140", "fail"), ("198.51.100.1", "fail")],
)
def test_appendix_a4_multiple_requirements(ip: str, expected: str) -> None:
    assert check(zone(A4), ip).result == expected


# --- results and mechanisms (RFC 7208 §2.6, §4.6.2, §5) ---

EXAMPLE_NET: dict[str, list[StaticRecord]] = {
    "example.net": [],
    "v6.example.net": ["v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24 -all"],
    "soft.example.net": ["v=spf1 ip4:192.0.2.1 ~all"],
    "neutral.example.net": ["v=spf1 ip4:192.0.2.1 ?all"],
    "noall.example.net": ["v=spf1 ip4:192.0.2.1"],
    "inc.example.net": ["v=spf1 include:v6.example.net -all"],
    "inc-none.example.net": ["v=spf1 include:nothing.example.net -all"],
    "inc-broken.example.net": ["v=spf1 include:broken.example.net -all"],
    "redir.example.net": ["v=spf1 redirect=v6.example.net"],
    "redir-none.example.net": ["v=spf1 redirect=nothing.example.net"],
    "redir-late.example.net": ["v=spf1 ip4:203.0.113.5 redirect=v6.example.net"],
    "macro.example.net": ["v=spf1 exists:%{l}.%{i}.allow.%{d} -all"],
    "macro-r.example.net": ["v=spf1 exists:%{ir}.%{l1r-}.rev.%{d2} -all"],
    "alice.192.0.2.7.allow.macro.example.net": [("A", "127.0.0.2")],
    "7.2.0.192.bob.rev.example.net": [("A", "127.0.0.2")],
    "exp.example.net": ["v=spf1 ip4:192.0.2.1 -all exp=why.%{d}"],
    "why.exp.example.net": ["%{i} is not one of %{d}'s designated mail servers."],
    "exp-broken.example.net": ["v=spf1 -all exp=why.broken.example.net"],
    "exp-ctl.example.net": ["v=spf1 -all exp=why.exp-ctl.example.net"],
    "why.exp-ctl.example.net": ["bad\r\nInjected: yes"],
    "two.example.net": ["v=spf1 -all", "v=spf1 +all"],
    "two-cased.example.net": ["v=spf1 -all", "V=SPF1 +all"],
    "other-txt.example.net": ["google-site-verification=x", "v=spf10 +all"],
    "syntax.example.net": ["v=spf1 ip4:192.0.2.300 -all"],
    "unknown.example.net": ["v=spf1 moo -all"],
    "badmacro.example.net": ["v=spf1 a:%{z}.example.net -all"],
    "double.example.net": ["v=spf1 redirect=a.example.net redirect=b.example.net"],
    "nonascii.example.net": ["v=spf1 a:bücher.example.net -all"],
    "ptr-fail.example.net": ["v=spf1 ptr ?all"],
    "ptr-macro.example.net": ["v=spf1 -all exp=p.example.net"],
    "p.example.net": ["connect from %{p}"],
    "mx-null.example.net": ["v=spf1 mx ?all", ("MX", "0 .")],
    "xn--bcher-kva.example.net": ["v=spf1 ip4:192.0.2.0/24 -all"],
}


@pytest.mark.parametrize(
    ("mail_from", "ip", "expected"),
    [
        ("a@v6.example.net", "2001:db8::1", "pass"),
        ("a@v6.example.net", "2001:db9::1", "fail"),
        ("a@v6.example.net", "::ffff:192.0.2.1", "pass"),  # IPv4-mapped counts as IPv4
        ("a@v6.example.net", "fe80::1%eth0", "fail"),  # the zone is ignored
        ("a@soft.example.net", "192.0.2.2", "softfail"),
        ("a@neutral.example.net", "192.0.2.2", "neutral"),
        ("a@noall.example.net", "192.0.2.2", "neutral"),  # §4.7 default
        ("a@noall.example.net", "192.0.2.1", "pass"),
        ("a@inc.example.net", "2001:db8::5", "pass"),  # §5.2
        ("a@inc.example.net", "198.51.100.1", "fail"),
        ("a@inc-none.example.net", "192.0.2.1", "permerror"),  # §5.2: include of none
        ("a@redir.example.net", "192.0.2.9", "pass"),  # §6.1
        ("a@redir.example.net", "198.51.100.1", "fail"),
        ("a@redir-late.example.net", "203.0.113.5", "pass"),  # mechanisms first
        ("a@redir-none.example.net", "192.0.2.9", "permerror"),  # §6.1
        ("a@example.net", "192.0.2.1", "none"),  # §4.5: no record
        ("a@nowhere.example.net", "192.0.2.1", "none"),  # NXDOMAIN
        ("a@other-txt.example.net", "192.0.2.1", "none"),  # v=spf10 is not v=spf1
        ("a@two.example.net", "192.0.2.1", "permerror"),  # §4.5: two records
        ("a@two-cased.example.net", "192.0.2.1", "permerror"),
        ("a@syntax.example.net", "192.0.2.1", "permerror"),  # §4.6
        ("a@unknown.example.net", "192.0.2.1", "permerror"),  # §4.6.1: unknown mechanism
        ("a@badmacro.example.net", "192.0.2.1", "permerror"),  # §7.1
        ("a@double.example.net", "192.0.2.1", "permerror"),  # §6: redirect twice
        ("a@nonascii.example.net", "192.0.2.1", "permerror"),  # §3.1: ASCII only
        ("a@mx-null.example.net", "192.0.2.1", "neutral"),  # RFC 7505 null MX: no hosts
        ("a@Bücher.Example.NET", "192.0.2.1", "pass"),  # U-labels: A-labels, RFC 8616 §4
        ("a@macro.example.net", "192.0.2.7", "fail"),  # %{l} is "a", not "alice"
        ("alice@macro.example.net", "192.0.2.7", "pass"),  # %{l}.%{i}.allow.%{d}
        ("alice@macro.example.net", "192.0.2.8", "fail"),
        ("bob-x@macro-r.example.net", "192.0.2.7", "pass"),  # %{ir}.%{l1r-}.rev.%{d2}
    ],
)
def test_results(mail_from: str, ip: str, expected: str) -> None:
    assert check(zone(EXAMPLE_NET), ip, mail_from).result == expected


def test_macros_expand_to_the_name_looked_up() -> None:
    """%{l}, %{i} and %{d} (RFC 7208 §7.2, §7.3); %{ir} and %{l1r-} reversed and split."""
    resolver = zone(EXAMPLE_NET)
    check(resolver, "192.0.2.7", "alice@macro.example.net")
    check(resolver, "192.0.2.7", "bob-x@macro-r.example.net")
    assert ("alice.192.0.2.7.allow.macro.example.net", "A") in resolver.lookups
    assert ("7.2.0.192.bob.rev.example.net", "A") in resolver.lookups


def test_u_label_domain_is_queried_as_a_labels() -> None:
    resolver = zone(EXAMPLE_NET)
    result = check(resolver, "192.0.2.1", "a@Bücher.Example.NET")
    assert result.mailfrom == "xn--bcher-kva.example.net"
    assert resolver.lookups[0] == ("xn--bcher-kva.example.net", "TXT")


def test_local_part_may_contain_at_sign() -> None:
    result = check(zone(EXAMPLE_NET), "192.0.2.7", '"x@y"@macro.example.net')
    assert (result.mailfrom, result.mailfrom_check.sender) == (
        "macro.example.net",
        '"x@y"@macro.example.net',
    )


def test_no_local_part_is_postmaster() -> None:
    """RFC 7208 §4.3: "@example.net" is checked as postmaster@example.net."""
    resolver = zone(EXAMPLE_NET | {"pm.example.net": ["v=spf1 exists:%{l}.%{d} -all"]})
    result = check(resolver, "192.0.2.1", "@pm.example.net")
    assert result.mailfrom_check.sender == "postmaster@pm.example.net"
    assert ("postmaster.pm.example.net", "A") in resolver.lookups


# --- explanations (RFC 7208 §6.2) ---


def test_exp_explains_a_fail() -> None:
    result = check(zone(EXAMPLE_NET), "198.51.100.9", "a@exp.example.net")
    assert result.result == "fail"
    assert result.explanation == (
        "198.51.100.9 is not one of exp.example.net's designated mail servers."
    )
    assert result.mailfrom_check.mechanism == "-all"


def test_exp_is_not_given_for_other_results() -> None:
    result = check(zone(EXAMPLE_NET), "192.0.2.1", "a@exp.example.net")
    assert (result.result, result.explanation) == ("pass", "")


def test_default_explanation_is_empty() -> None:
    result = check(zone(EXAMPLE_NET), "198.51.100.9", "a@v6.example.net")
    assert (result.result, result.explanation) == ("fail", "")
    assert result.comment == (
        "domain of v6.example.net does not designate 198.51.100.9 as permitted sender"
    )


def test_failing_exp_lookup_only_loses_the_explanation() -> None:
    resolver = zone(EXAMPLE_NET, failing=["why.broken.example.net"])
    result = check(resolver, "192.0.2.1", "a@exp-broken.example.net")
    assert (result.result, result.explanation) == ("fail", "")


def test_explanation_cannot_inject_lines() -> None:
    result = check(zone(EXAMPLE_NET), "192.0.2.1", "a@exp-ctl.example.net")
    assert result.explanation == "bad??Injected: yes"


# --- ptr and %{p}: DNS errors skip names (RFC 7208 §5.5, §7.3) ---


def test_ptr_lookup_error_does_not_match() -> None:
    resolver = zone(EXAMPLE_NET, failing=[("10.2.0.192.in-addr.arpa", "PTR")])
    assert check(resolver, "192.0.2.10", "a@ptr-fail.example.net").result == "neutral"


def test_ptr_name_whose_address_lookup_fails_is_skipped() -> None:
    resolver = zone({"example.com": ["v=spf1 ptr -all"]}, failing=[("amy.example.com", "A")])
    assert check(resolver, "192.0.2.65").result == "fail"
    assert check(resolver, "192.0.2.66").result == "pass"  # bob is fine


@pytest.mark.parametrize(
    ("ip", "failing", "text"),
    [
        ("192.0.2.65", [], "connect from amy.example.com"),
        ("192.0.2.77", [], "connect from unknown"),  # no PTR
        ("192.0.2.65", ["65.2.0.192.in-addr.arpa"], "connect from unknown"),  # DNS error
    ],
)
def test_p_macro(ip: str, failing: list[str], text: str) -> None:
    result = check(zone(EXAMPLE_NET, failing=failing), ip, "a@ptr-macro.example.net")
    assert (result.result, result.explanation) == ("fail", text)


# --- processing limits (RFC 7208 §4.6.4) ---


def limit_zone(last_term: str) -> StaticResolver:
    """limit.example.net: nine ``a:`` terms with addresses, then *last_term*, then -all."""
    names = [f"h{n}.limit.example.net" for n in range(9)]
    terms = " ".join(f"a:{name}" for name in names)
    table: dict[str, list[StaticRecord]] = {
        "limit.example.net": [f"v=spf1 {terms} {last_term} -all"],
        "x.example.net": ["v=spf1 ?all", ("A", "198.51.100.1"), ("MX", "10 x.example.net")],
        "1.2.0.192.in-addr.arpa": [("PTR", "x.example.net")],
    }
    table.update({name: [("A", "198.51.100.1")] for name in names})
    return zone(table, base={})


@pytest.mark.parametrize("term", ["a:x.example.net", "mx:x.example.net", "ptr:x.example.net",
                                  "include:x.example.net", "redirect=x.example.net"])  # fmt: skip
def test_ten_lookups_are_allowed(term: str) -> None:
    """RFC 7208 §4.6.4: at most 10 terms that cause DNS lookups; 10 is fine."""
    result = check(limit_zone(term), "192.0.2.1", "a@limit.example.net")
    assert result.result == "fail"


@pytest.mark.parametrize("term", ["a", "mx", "ptr", "exists:x.example.net",
                                  "include:x.example.net", "redirect=x.example.net"])  # fmt: skip
def test_more_than_ten_lookups_is_a_permerror(term: str) -> None:
    resolver = limit_zone(f"a:x.example.net {term}")
    result = check(resolver, "192.0.2.1", "a@limit.example.net")
    assert result.result == "permerror"
    assert "Too many DNS lookups" in result.comment
    assert result.method_result().reason == result.comment


def test_more_than_ten_mx_names_is_a_permerror() -> None:
    mx = [("MX", f"{n} mx{n}.many.example.net") for n in range(11)]
    resolver = zone({"many.example.net": ["v=spf1 mx -all", *mx]}, base={})
    assert check(resolver, "192.0.2.1", "a@many.example.net").result == "permerror"


@pytest.mark.parametrize(("voids", "expected"), [(2, "fail"), (3, "permerror")])
def test_void_lookup_limit(voids: int, expected: str) -> None:
    """At most two lookups may answer NXDOMAIN or no records (RFC 7208 §4.6.4)."""
    terms = " ".join(f"a:void{n}.example.net" for n in range(voids))
    resolver = zone({"void.example.net": [f"v=spf1 {terms} -all"]}, base={})
    result = check(resolver, "192.0.2.1", "a@void.example.net")
    assert result.result == expected
    if expected == "permerror":
        assert "Void lookup limit" in result.comment


def test_time_limit_gives_temperror() -> None:
    class Slow(StaticResolver):
        def lookup(self, name: str, rdtype: str) -> list[str]:
            time.sleep(0.02)
            return super().lookup(name, rdtype)

    slow = Slow(APPENDIX_A | {"example.com": ["v=spf1 a mx -all", *APPENDIX_A["example.com"]]})
    result = check(slow, "192.0.2.129", time_limit_seconds=0.01)
    assert result.result == "temperror"
    assert check(slow, "192.0.2.129").result == "pass"


# --- DNS failures: temperror, never an exception (RFC 7208 §2.6.6) ---


@pytest.mark.parametrize(
    ("record", "failing"),
    [
        ("v=spf1 -all", ["example.com"]),  # the record itself
        ("v=spf1 a -all", [("example.com", "A")]),
        ("v=spf1 mx -all", [("mail-a.example.com", "A")]),
        ("v=spf1 include:broken.example.net -all", ["broken.example.net"]),
        ("v=spf1 exists:%{i}.bl.example.net -all", ["192.0.2.200.bl.example.net"]),
    ],
)
def test_dns_failure_is_temperror(record: str, failing: list[str | tuple[str, str]]) -> None:
    table = {name: records for name, records in APPENDIX_A.items() if name != "example.com"}
    table["example.com"] = [record, *APPENDIX_A["example.com"]]
    result = check(zone(table, failing, base={}), "192.0.2.200")
    assert result.result == "temperror"
    assert "SERVFAIL" in result.comment
    assert result.method_result() == results.MethodResult(
        method="spf",
        result="temperror",
        reason=result.comment,
        properties=(("smtp", "mailfrom", "example.com"),),
    )


def test_resolver_bugs_are_not_hidden() -> None:
    class Broken(StaticResolver):
        def lookup(self, name: str, rdtype: str) -> list[str]:
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        check(Broken({}), "192.0.2.1")


def test_bad_client_address_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        check(zone(), "mail.example.com")


# --- identities: HELO first, MAIL FROM, and the null reverse-path (§2.3, §2.4) ---

HELO_ZONE: dict[str, list[StaticRecord]] = {
    "mail.example.org": ["v=spf1 a -all", ("A", "192.0.2.5")],
    "example.com": ["v=spf1 ip4:198.51.100.0/24 -all"],
}


def test_helo_is_checked_first_and_recorded() -> None:
    resolver = zone(HELO_ZONE, base={})
    result = check(resolver, "192.0.2.5", "bob@example.com", "Mail.Example.org.")
    assert result.result == "fail"  # MAIL FROM decides
    assert result.helo_check is not None and result.helo_check.result == "pass"
    assert result.helo_check.sender == "postmaster@mail.example.org"
    assert (result.mailfrom, result.helo) == ("example.com", "mail.example.org")
    assert resolver.queries[0] == "mail.example.org"
    header = results.render(RECEIVER, [result.method_result()])
    assert header == (
        "Authentication-Results: mx.receiver.test;\r\n"
        " spf=fail smtp.mailfrom=example.com smtp.helo=mail.example.org\r\n"
    )


def test_null_reverse_path_uses_helo() -> None:
    """RFC 7208 §2.4: MAIL FROM:<> is checked as postmaster@<HELO identity>."""
    resolver = zone(HELO_ZONE, base={})
    result = check(resolver, "192.0.2.5", "", "mail.example.org")
    assert result.result == "pass" and result.null_reverse_path
    assert result.mailfrom is None
    assert result.aligned_domain == result.helo == "mail.example.org"
    assert result.mailfrom_check.identity == "mailfrom"
    assert result.mailfrom_check.sender == "postmaster@mail.example.org"
    assert resolver.lookups == [("mail.example.org", "TXT"), ("mail.example.org", "A")]
    assert result.method_result() == results.spf("pass", helo="mail.example.org")


def test_null_reverse_path_and_address_literal_is_none() -> None:
    resolver = zone(HELO_ZONE, base={})
    result = check(resolver, "192.0.2.5", "", "[192.0.2.5]")
    assert (result.result, result.helo_check, result.helo) == ("none", None, None)
    assert resolver.queries == []
    assert result.method_result() == results.MethodResult(method="spf", result="none")


@pytest.mark.parametrize("helo", ["localhost", "192.0.2.5", "a..example.org", "x" * 64 + ".org"])
def test_malformed_or_single_label_helo_is_none_without_lookups(helo: str) -> None:
    """RFC 7208 §4.3."""
    resolver = zone(HELO_ZONE, base={})
    result = check(resolver, "192.0.2.5", "", helo)
    assert result.helo_check is not None and result.helo_check.result == "none"
    assert result.result == "none" and resolver.queries == []


@pytest.mark.parametrize(
    "mail_from", ["a@localhost", "a@[192.0.2.5]", "a@exa mple.org", "a@" + "x" * 64 + ".org"]
)
def test_malformed_mail_from_domain_is_none_without_lookups(mail_from: str) -> None:
    resolver = zone(HELO_ZONE, base={})
    assert check(resolver, "192.0.2.5", mail_from).result == "none"
    assert resolver.queries == []


def test_helo_dns_failure_is_recorded_but_mail_from_decides() -> None:
    resolver = zone(HELO_ZONE, failing=["mail.example.org"], base={})
    result = check(resolver, "198.51.100.3", "bob@example.com", "mail.example.org")
    assert result.helo_check is not None and result.helo_check.result == "temperror"
    assert result.result == "pass"


# --- the pyspf adapter: one global, a resolver per thread ---


def test_concurrent_checks_each_use_their_own_resolver() -> None:
    """pyspf.DNSLookup is process-wide; the resolver comes from a ContextVar per thread."""
    barrier = threading.Barrier(8)

    class Waiting(StaticResolver):
        def lookup(self, name: str, rdtype: str) -> list[str]:
            if rdtype == "A":
                barrier.wait(timeout=5)  # every thread is inside check_spf at once
            return super().lookup(name, rdtype)

    def one(n: int) -> str:
        resolver = Waiting({"example.com": ["v=spf1 a -all", ("A", f"192.0.2.{n}")]})
        return check(resolver, f"192.0.2.{n}").result

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(1, 9))) == ["pass"] * 8


def test_adapter_outside_check_spf_uses_pyspf_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    check(zone({"example.com": ["v=spf1 -all"]}), "192.0.2.1")
    assert pyspf.DNSLookup is spf_module._dns_lookup
    calls: list[tuple[object, ...]] = []

    def original(*args: object) -> list[object]:
        calls.append(args)
        return []

    monkeypatch.setattr(spf_module, "_ORIGINAL_LOOKUP", original)
    assert pyspf.DNSLookup("example.com", "TXT") == []
    assert calls == [("example.com", "TXT", True, 30)]


def test_adapter_value_shapes() -> None:
    """The shapes of pyspf's dnspython driver: str, (pref, name), (bytes, ...)."""
    resolver = zone({"example.com": ["v=spf1 é"], "ip6.example.com": [("AAAA", "2001:DB8::1")]})
    token = spf_module._RESOLVER.set(resolver)
    try:
        assert pyspf.DNSLookup("example.com", "MX") == [
            (("example.com", "MX"), (10, "mail-a.example.com")),
            (("example.com", "MX"), (20, "mail-b.example.com")),
        ]
        assert pyspf.DNSLookup("example.com", "TXT") == [
            (("example.com", "TXT"), ("v=spf1 é".encode(),))
        ]
        assert pyspf.DNSLookup("ip6.example.com", "AAAA") == [
            (("ip6.example.com", "AAAA"), "2001:db8::1")
        ]
        assert pyspf.DNSLookup("65.2.0.192.in-addr.arpa", "PTR") == [
            (("65.2.0.192.in-addr.arpa", "PTR"), "amy.example.com")
        ]
        assert pyspf.DNSLookup("example.com", "SPF") == []
    finally:
        spf_module._RESOLVER.reset(token)


def test_pyspf_limits_are_the_rfc_ones() -> None:
    assert (pyspf.MAX_LOOKUP, pyspf.MAX_MX, pyspf.MAX_PTR, pyspf.MAX_VOID_LOOKUPS) == (
        10,
        10,
        10,
        2,
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_any_record_gives_a_result(record: str) -> None:
    result = check(zone({"example.com": ["v=spf1 " + record]}), "192.0.2.10")
    assert result.result in spf_module.RESULT_CODES
    assert all(" " <= c <= "~" for c in result.comment + result.explanation)


# --- StaticResolver.lookup: typed records (the old {name: [txt]} form still works) ---


def test_static_resolver_typed_records() -> None:
    resolver = StaticResolver(
        {
            "Example.ORG.": ["v=spf1 -all", ("MX", "10 MX.Example.ORG."), ("AAAA", "2001:DB8::1")],
            "alias.example.org": [("CNAME", "example.org")],
        }
    )
    assert resolver.txt("example.org") == ["v=spf1 -all"]
    assert resolver.lookup("example.org", "mx") == ["10 mx.example.org"]
    assert resolver.lookup("alias.example.org", "AAAA") == ["2001:db8::1"]
    assert resolver.lookup("alias.example.org", "CNAME") == ["example.org"]
    assert resolver.lookup("example.org", "A") == []
    assert resolver.queries == ["example.org"] * 2 + ["alias.example.org"] * 2 + ["example.org"]


def test_static_resolver_failing_by_type_and_cname_loop() -> None:
    resolver = StaticResolver(
        {"a.test": [("CNAME", "b.test")], "b.test": [("CNAME", "a.test")], "c.test": ["x"]},
        failing=[("c.test", "A")],
    )
    assert resolver.txt("c.test") == ["x"]
    with pytest.raises(TempError):
        resolver.lookup("c.test", "A")
    with pytest.raises(TempError, match="CNAME loop"):
        resolver.lookup("a.test", "TXT")


@pytest.mark.parametrize(
    "record", [("A", "2001:db8::1"), ("AAAA", "192.0.2.1"), ("MX", "mx.example"), ("SOA", "x")]
)
def test_static_resolver_rejects_bad_records(record: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        StaticResolver({"example.org": [record]})
    with pytest.raises(ValueError):
        StaticResolver({}).lookup("example.org", "SOA")


# --- the openspf RFC 7208 test suite, when its YAML file is at hand ---

SUITE = os.environ.get("TRIMAIL_RFC7208_TESTS", "")


def suite_zone(data: dict[str, Any]) -> StaticResolver:
    """The suite's zonedata as a StaticResolver.

    Type SPF records stand in for TXT unless the name has TXT entries (as in pyspf's
    own driver); "TIMEOUT" makes every type without a record before it fail; a value
    "TIMEOUT" makes that type fail; "NONE" means no record.
    """
    records: dict[str, list[tuple[str, str]]] = {}
    failing: list[str | tuple[str, str]] = []
    for name, entries in (data.get("zonedata") or {}).items():
        pairs = [next(iter(e.items())) if isinstance(e, dict) else (e, "") for e in entries or []]
        txt_type = "TXT" if any(t == "TXT" for t, _ in pairs) else "SPF"
        table: list[tuple[str, str]] = []
        for rdtype, value in pairs:
            if rdtype == "TIMEOUT":
                seen = {t for t, _ in table}
                failing.extend((name, t) for t in RDTYPES if t not in seen)
                break
            if rdtype in ("TXT", "SPF") and rdtype != txt_type:
                continue
            if value == "TIMEOUT":
                failing.append((name, "TXT" if rdtype == "SPF" else rdtype))
            elif value != "NONE":
                table.append(suite_record(rdtype, value))
        records[name] = table
    return StaticResolver(records, failing)


def suite_record(rdtype: str, value: Any) -> tuple[str, str]:
    if rdtype in ("TXT", "SPF"):
        return ("TXT", value if isinstance(value, str) else "".join(value))
    if rdtype == "MX":
        return ("MX", f"{value[0]} {value[1] or '.'}")
    return (rdtype, str(value))


def suite_cases() -> Iterator[Any]:
    if not SUITE:
        yield pytest.param(None, None, marks=pytest.mark.skip(reason="TRIMAIL_RFC7208_TESTS unset"))
        return
    yaml = pytest.importorskip("yaml")
    for scenario in yaml.safe_load_all(Path(SUITE).read_bytes()):
        for test_id, case in scenario["tests"].items():
            yield pytest.param(scenario, case, id=test_id)


@pytest.mark.parametrize(("scenario", "case"), list(suite_cases()))
def test_rfc7208_suite(scenario: dict[str, Any], case: dict[str, Any]) -> None:
    result = check(suite_zone(scenario), case["host"], case["mailfrom"], case["helo"])
    expected = case["result"] if isinstance(case["result"], list) else [case["result"]]
    assert result.result == expected[0]  # the preferred one, where the suite allows two
    if "explanation" in case:
        assert result.explanation == (
            "" if case["explanation"] == "DEFAULT" else case["explanation"]
        )


# --- through ThreadResolver and DnsResolver, against NSD on loopback ---

DNS_ZONES = {
    "example.test": """
@        TXT "v=spf1 mx ptr:example.test " "include:inc.example.test -all"
@        MX 10 mx1
mx1      A 192.0.2.1
mx1      AAAA 2001:db8::1
inc      TXT "v=spf1 ip4:198.51.100.0/24 -all"
ptr-host A 192.0.2.44
mail     TXT "v=spf1 a -all"
mail     A 192.0.2.45
loop     TXT "v=spf1 a:x1.example.test a:x2.example.test a:x3.example.test -all"
""",
    "2.0.192.in-addr.arpa": "44 PTR ptr-host.example.test.\n",
}
DNS_SERVFAIL_ZONES = ["broken.test"]


@pytest.mark.parametrize(
    ("ip", "mail_from", "helo", "expected", "helo_result"),
    [
        ("192.0.2.1", "alice@example.test", "mail.example.test", "pass", "fail"),  # mx
        ("2001:db8::1", "alice@EXAMPLE.test", "[2001:db8::1]", "pass", None),  # mx, AAAA
        ("192.0.2.44", "alice@example.test", "mail.example.test", "pass", "fail"),  # ptr
        ("198.51.100.8", "alice@example.test", "mail.example.test", "pass", "fail"),  # include
        ("203.0.113.1", "alice@example.test", "mail.example.test", "fail", "fail"),
        ("192.0.2.45", "", "mail.example.test", "pass", "pass"),  # <>: HELO a
        ("192.0.2.1", "a@nowhere.example.test", "mail.example.test", "none", "fail"),
        ("192.0.2.1", "a@x.broken.test", "mail.example.test", "temperror", "fail"),
        ("192.0.2.1", "a@loop.example.test", "mail.example.test", "permerror", "fail"),  # voids
    ],
)
def test_real_dns_through_thread_resolver(
    loopback_dns: LoopbackDns,
    ip: str,
    mail_from: str,
    helo: str,
    expected: str,
    helo_result: str | None,
) -> None:
    async def main() -> SpfResult:
        resolver = ThreadResolver(DnsResolver([loopback_dns.nameserver], timeout_seconds=2.0))
        return await trio.to_thread.run_sync(
            lambda: check_spf(
                ip=ip, mail_from=mail_from, helo=helo, resolver=resolver, receiver=RECEIVER
            )
        )

    result = trio.run(main)
    assert result.result == expected, result.comment
    assert (result.helo_check.result if result.helo_check else None) == helo_result
