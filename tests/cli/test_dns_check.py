"""``trimail dns check``, run as a user would, against a real DNS server (NSD on loopback).

Every domain under ``example`` is the output of ``trimail dns records`` for it, with
one record taken out or changed: ``good.example`` has everything right, the others each
break one thing. 192.0.2.0/24 and 2001:db8::/32 (TEST-NET, RFC 5737 and RFC 3849) are
only DNS data here; nothing connects to them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from trimail.mailauth import records
from trimail.testing.dns_server import LoopbackDns
from trimail.testing.process import run_cli, write_config

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # 2 TXT strings
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()
REVERSE_V4 = "2.0.192.in-addr.arpa"
REVERSE_V6 = "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"  # 2001:db8::/64


def ip4(n: int) -> records.IpAddress:
    return ipaddress.ip_address(f"192.0.2.{n}")


def ip6(n: int) -> records.IpAddress:
    return ipaddress.ip_address(f"2001:db8::{n}")


def spf_ips(n: int) -> str:
    return f"v=spf1 ip4:{ip4(n)} ip6:{ip6(n)} ~all"


def domain_zone(
    domain: str,
    n: int,
    *,
    hostname: str | None = None,
    drop: Collection[tuple[str, str]] = (),
    add: Collection[str] = (),
) -> str:
    """``dns records`` for *domain* at 192.0.2.n and 2001:db8::n, minus *drop*
    ((owner, TYPE) pairs, owner without the trailing dot), plus the *add* lines."""
    host = hostname or f"mail.{domain}"
    text = records.dns_records(domain, host, [ip4(n), ip6(n)], KEY.public_key())
    kept: list[str] = []
    dropping = False
    for line in text.splitlines():
        if line.startswith("\t"):
            if not dropping:
                kept.append(line)
            continue
        fields = line.split()
        dropping = len(fields) > 2 and (fields[0].rstrip("."), fields[2]) in drop
        if not dropping:
            kept.append(line)
    return "\n".join([*kept, *add]) + "\n"


def txt(owner: str, text: str) -> str:
    return "\n".join(records.txt_lines(f"{owner}.", text))


def spf_replaced(domain: str, n: int, **changes: Any) -> str:
    """A zone whose SPF does not depend on the MX (for the MX cases)."""
    drop = {(domain, "TXT"), *changes.pop("drop", ())}
    add = [txt(domain, spf_ips(n)), *changes.pop("add", ())]
    return domain_zone(domain, n, drop=drop, add=add, **changes)


ELEVEN_LOOKUPS = " ".join(f"a:h{i}.spflimit.example" for i in range(11))
VOID_LOOKUPS = " ".join(f"a:void{i}.spfvoid.example" for i in range(3))  # NXDOMAIN
NESTED_LOOKUPS = " ".join(f"a:h{i}.spfnested.example" for i in range(10))  # 1 + 10 + mx

ZONES = [
    domain_zone("good.example", 10),
    spf_replaced("nomx.example", 11, drop={("nomx.example", "MX")}),
    spf_replaced(
        "nullmx.example", 12, drop={("nullmx.example", "MX")}, add=["nullmx.example. IN MX 0 ."]
    ),
    domain_zone(
        "cnamemx.example",
        13,
        hostname="mx.cnamemx.example",
        drop={("mx.cnamemx.example", "A"), ("mx.cnamemx.example", "AAAA")},
        add=[
            "mx.cnamemx.example. IN CNAME mail.cnamemx.example.",
            f"mail.cnamemx.example. IN A {ip4(13)}",
            f"mail.cnamemx.example. IN AAAA {ip6(13)}",
        ],
    ),
    spf_replaced(
        "othermx.example",
        14,
        drop={("othermx.example", "MX")},
        add=["othermx.example. IN MX 10 mail.good.example."],
    ),
    domain_zone(
        "noaddr.example",
        15,
        drop={("mail.noaddr.example", "A"), ("mail.noaddr.example", "AAAA")},
    ),
    domain_zone("noptr.example", 16),
    domain_zone("badptr.example", 17),
    domain_zone("nospf.example", 18, drop={("nospf.example", "TXT")}),
    domain_zone("twospf.example", 19, add=[txt("twospf.example", spf_ips(19))]),
    domain_zone(
        "badspf.example",
        20,
        drop={("badspf.example", "TXT")},
        add=[txt("badspf.example", "v=spf1 mx foo ~all")],
    ),
    domain_zone(
        "spflimit.example",
        21,
        drop={("spflimit.example", "TXT")},
        add=[
            txt("spflimit.example", f"v=spf1 {ELEVEN_LOOKUPS} mx -all"),
            *(f"h{i}.spflimit.example. IN A 192.0.2.200" for i in range(11)),
        ],
    ),
    domain_zone(
        "spffail.example",
        22,
        drop={("spffail.example", "TXT")},
        add=[txt("spffail.example", f"v=spf1 ip4:{ip4(99)} -all")],
    ),
    domain_zone(
        "spfvoid.example",
        30,
        drop={("spfvoid.example", "TXT")},
        add=[txt("spfvoid.example", f"v=spf1 {VOID_LOOKUPS} mx -all")],
    ),
    domain_zone(
        "spfnested.example",
        31,
        drop={("spfnested.example", "TXT")},
        add=[
            txt("spfnested.example", "v=spf1 include:inc.spfnested.example mx -all"),
            txt("inc.spfnested.example", f"v=spf1 {NESTED_LOOKUPS} -all"),
            *(f"h{i}.spfnested.example. IN A 192.0.2.200" for i in range(10)),
            *(f"h{i}.spfnested.example. IN AAAA 2001:db8::200" for i in range(10)),
        ],
    ),
    domain_zone("nodkim.example", 23, drop={("mail._domainkey.nodkim.example", "TXT")}),
    domain_zone(
        "baddkim.example",
        24,
        drop={("mail._domainkey.baddkim.example", "TXT")},
        add=records.dkim_record_lines("mail", "baddkim.example", OTHER_KEY.public_key()),
    ),
    domain_zone("nodmarc.example", 25, drop={("_dmarc.nodmarc.example", "TXT")}),
    domain_zone(
        "dmarcnone.example",
        26,
        drop={("_dmarc.dmarcnone.example", "TXT")},
        add=[txt("_dmarc.dmarcnone.example", "v=DMARC1; p=none")],
    ),
    domain_zone(
        "twodmarc.example",
        27,
        add=[txt("_dmarc.twodmarc.example", "v=DMARC1; p=reject")],
    ),
    domain_zone(
        "baddmarc.example",
        28,
        drop={("_dmarc.baddmarc.example", "TXT")},
        add=[txt("_dmarc.baddmarc.example", "v=DMARC1; p=bogus")],
    ),
    domain_zone(
        "nosts.example",
        29,
        drop={("_mta-sts.nosts.example", "TXT"), ("_smtp._tls.nosts.example", "TXT")},
    ),
]

# The PTR of 192.0.2.n and 2001:db8::n; 16 has none, 17 names another domain's host.
PTR_NAMES = {
    n: f"mail.{domain}"
    for domain, n in [
        ("good.example", 10),
        ("nomx.example", 11),
        ("nullmx.example", 12),
        ("othermx.example", 14),
        ("noaddr.example", 15),
        ("good.example", 17),
        ("nospf.example", 18),
        ("twospf.example", 19),
        ("badspf.example", 20),
        ("spflimit.example", 21),
        ("spffail.example", 22),
        ("nodkim.example", 23),
        ("baddkim.example", 24),
        ("nodmarc.example", 25),
        ("dmarcnone.example", 26),
        ("twodmarc.example", 27),
        ("baddmarc.example", 28),
        ("nosts.example", 29),
        ("spfvoid.example", 30),
        ("spfnested.example", 31),
    ]
} | {13: "mx.cnamemx.example"}


def reverse_zone(zone: str, version: int) -> str:
    lines = []
    for n, name in PTR_NAMES.items():
        address = ip4(n) if version == 4 else ip6(n)
        relative = address.reverse_pointer.removesuffix(f".{zone}")
        lines.append(f"{relative} PTR {name}.")
    return "\n".join(lines) + "\n"


DNS_ZONES = {
    "example": "\n".join(ZONES),
    REVERSE_V4: reverse_zone(REVERSE_V4, 4),
    REVERSE_V6: reverse_zone(REVERSE_V6, 6),
}
DNS_SERVFAIL_ZONES = ["broken.example"]  # its addresses: 192.0.2.40, 2001:db8::40
NAMES_ONE_PTR = ["MX", "A/AAAA", "PTR", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"]
ALL_NAMES = ["MX", "A/AAAA", "PTR", "PTR", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"]


def txt_text(lines: list[str]) -> str:
    """The text of one TXT record in zone-file lines: its strings joined."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', "".join(lines)))


def check_config(
    tmp_path: Path, dns: str, domain: str, *, hostname: str | None = None, key: bool = True
) -> Path:
    """A config for mail host *hostname* (default mail.DOMAIN) asking *dns*; with the
    local DKIM key of *domain* when *key*."""
    data = tmp_path / "data"
    if key:
        path = data / "dkim" / domain / "mail.key"
        path.parent.mkdir(parents=True)
        path.write_bytes(records.private_key_pem(KEY))
    return write_config(
        tmp_path / "trimail.toml",
        data,
        hostname=hostname or f"mail.{domain}",
        top_extra=f'[dns]\nnameservers = ["{dns}"]\ntimeout_seconds = 2.0\n',
    )


def dns_check(
    config: Path, domain: str, n: int | None, *args: str, status: int
) -> tuple[str, dict[str, list[str]]]:
    """Run ``dns check`` (with --ip for 192.0.2.n and 2001:db8::n unless n is None).

    Returns:
        The output, and the result lines by record name.
    """
    ips = [] if n is None else ["--ip", str(ip4(n)), "--ip", str(ip6(n))]
    done = run_cli(config, "dns", "check", domain, *ips, *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == status, (done.stdout, done.stderr)
    lines: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        match = re.match(r"(ok|missing|wrong|warning|error) +(\S+) ", line + " ")
        if match:
            lines.setdefault(match[2], []).append(line)
    return done.stdout, lines


def statuses(lines: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {name: [line.split()[0] for line in found] for name, found in lines.items()}


def test_a_domain_with_every_record_right_is_ok(tmp_path: Path, loopback_dns: LoopbackDns) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example")
    out, lines = dns_check(config, "good.example", 10, status=0)
    assert [line.split()[1] for line in out.splitlines()[:-1]] == ALL_NAMES
    assert all(status == ["ok"] * len(status) for status in statuses(lines).values()), out
    assert lines["MX"] == ["ok       MX       good.example. IN MX 10 mail.good.example."]
    assert "forward-confirmed: mail.good.example resolves to 192.0.2.10" in lines["PTR"][0]
    assert "10.2.0.192.in-addr.arpa. IN PTR mail.good.example." in lines["PTR"][0]
    assert "mail._domainkey.good.example. IN TXT" in lines["DKIM"][0]
    assert "matches the local key" in lines["DKIM"][0]
    assert len(lines["DKIM"][0]) < 200  # the key is shortened
    assert "p=quarantine" in lines["DMARC"][0]
    assert lines["SPF"] == [
        'ok       SPF      good.example. IN TXT "v=spf1 mx ~all"; pass for 192.0.2.10, 2001:db8::10'
    ]
    assert out.splitlines()[-1].startswith("good.example: 9 checks: 9 ok; all required")
    assert "note: no --ip" not in out


def test_without_ip_the_addresses_of_the_hostname_are_checked(
    tmp_path: Path, loopback_dns: LoopbackDns
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example")
    out, lines = dns_check(config, "good.example", None, status=0)
    assert out.startswith("note: no --ip given; checking the addresses DNS gives for mail.")
    assert "no --ip given: checking PTR and SPF for these addresses" in lines["A/AAAA"][0]
    assert len(lines["PTR"]) == 2
    assert all(line.startswith("ok ") for found in lines.values() for line in found), out


def test_json_lists_every_result_with_the_records_of_dns_records(
    tmp_path: Path, loopback_dns: LoopbackDns
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example")
    done = run_cli(config, "dns", "check", "good.example", "--ip", "192.0.2.10", "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["name"] for r in results] == NAMES_ONE_PTR
    assert {r["status"] for r in results} == {"ok"}
    assert set(results[0]) == {"name", "owner", "status", "found", "expected", "reason", "fix"}
    published = run_cli(config, "dns", "records", "good.example", "--ip", "192.0.2.10")
    printed = published.stdout.splitlines()
    for result in results:
        assert result["expected"], result
        for line in result["expected"]:
            assert line in printed or f"; {line}" in printed, (line, result["name"])
    by_name = {r["name"]: r for r in results}
    assert by_name["MX"]["found"] == by_name["MX"]["expected"]
    assert txt_text(by_name["DKIM"]["found"]) == txt_text(by_name["DKIM"]["expected"])
    assert by_name["PTR"]["owner"] == "10.2.0.192.in-addr.arpa"
    assert by_name["DMARC"]["owner"] == "_dmarc.good.example"


# (domain, n, hostname, record, status, text in its line, other records allowed to fail)
BROKEN = [
    ("nomx.example", 11, None, "MX", "missing", "no MX record", ()),
    ("nullmx.example", 12, None, "MX", "wrong", "null MX", ()),
    (
        "cnamemx.example",
        13,
        "mx.cnamemx.example",
        "MX",
        "wrong",
        "MX target mx.cnamemx.example is a CNAME to mail.cnamemx.example (RFC 2181 §10.3)",
        (),
    ),
    ("othermx.example", 14, None, "MX", "wrong", "MX names mail.good.example, not mail.", ()),
    (
        "noaddr.example",
        15,
        None,
        "A/AAAA",
        "missing",
        "publish: mail.noaddr.example. IN A 192.0.2.15 | mail.noaddr.example. IN AAAA 2001:db8::",
        ("MX", "PTR", "SPF"),
    ),
    (
        "noptr.example",
        16,
        None,
        "PTR",
        "missing",
        "192.0.2.16 has no PTR record; ask whoever hosts 192.0.2.16 (not your zone) to set: "
        "16.2.0.192.in-addr.arpa. IN PTR mail.noptr.example.",
        (),
    ),
    (
        "badptr.example",
        17,
        None,
        "PTR",
        "wrong",
        "192.0.2.17 has PTR mail.good.example, not the HELO name mail.badptr.example",
        (),
    ),
    (
        "nospf.example",
        18,
        None,
        "SPF",
        "missing",
        'publish: nospf.example. IN TXT "v=spf1 mx ~all"',
        (),
    ),
    ("twospf.example", 19, None, "SPF", "wrong", "2 v=spf1 records: a permerror", ()),
    ("badspf.example", 20, None, "SPF", "wrong", "unknown term 'foo'", ()),
    (
        "spflimit.example",
        21,
        None,
        "SPF",
        "wrong",
        "12 terms need DNS lookups, at most 10 may (RFC 7208 §4.6.4)",
        (),
    ),
    (
        "spffail.example",
        22,
        None,
        "SPF",
        "wrong",
        "192.0.2.22: fail; 2001:db8::22: fail; add ip4:192.0.2.22 ip6:2001:db8::22 (or mx",
        (),
    ),
    ("spfvoid.example", 30, None, "SPF", "wrong", "192.0.2.30: permerror (", ()),
    ("spfnested.example", 31, None, "SPF", "wrong", "192.0.2.31: permerror (", ()),
    ("nodkim.example", 23, None, "DKIM", "missing", "no DKIM key record", ()),
    ("baddkim.example", 24, None, "DKIM", "wrong", "is not the local key", ()),
    (
        "nodmarc.example",
        25,
        None,
        "DMARC",
        "missing",
        "publish: _dmarc.nodmarc.example. IN TXT "
        '"v=DMARC1; p=quarantine; rua=mailto:postmaster@nodmarc.example"',
        (),
    ),
    ("twodmarc.example", 27, None, "DMARC", "wrong", "2 DMARC records", ()),
    ("baddmarc.example", 28, None, "DMARC", "wrong", "unusable: p= missing or invalid", ()),
]


@pytest.mark.parametrize(
    ("domain", "n", "hostname", "record", "status", "text", "also"),
    BROKEN,
    ids=[case[0].split(".")[0] for case in BROKEN],
)
def test_a_missing_or_wrong_record_is_reported_with_its_fix(
    tmp_path: Path,
    loopback_dns: LoopbackDns,
    domain: str,
    n: int,
    hostname: str | None,
    record: str,
    status: str,
    text: str,
    also: tuple[str, ...],
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, domain, hostname=hostname)
    out, lines = dns_check(config, domain, n, status=1)
    assert any(line.startswith(f"{status:<8} {record:<8} ") for line in lines[record]), out
    assert any(text in line for line in lines[record]), out
    for name, found in statuses(lines).items():
        if name != record and name not in also:
            assert set(found) == {"ok"}, out
    assert "fix the records above (`trimail dns records" in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("domain", "n", "record", "text"),
    [
        ("dmarcnone.example", 26, "DMARC", "p=none: receivers apply no policy"),
        ("nosts.example", 29, "MTA-STS", "no v=STSv1 record at _mta-sts.nosts.example"),
        ("nosts.example", 29, "TLS-RPT", "no v=TLSRPTv1 record at _smtp._tls.nosts.example"),
    ],
)
def test_warnings_do_not_fail_the_check(
    tmp_path: Path, loopback_dns: LoopbackDns, domain: str, n: int, record: str, text: str
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, domain)
    out, lines = dns_check(config, domain, n, status=0)
    assert lines[record][0].startswith(f"warning  {record:<8} "), out
    assert text in lines[record][0]
    assert "warning; all required records are right" in out.splitlines()[-1]


def test_dmarc_without_rua_is_a_warning(tmp_path: Path, loopback_dns: LoopbackDns) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "dmarcnone.example")
    _, lines = dns_check(config, "dmarcnone.example", 26, status=0)
    assert "no rua=: you get no aggregate reports" in lines["DMARC"][0]
    assert "when the reports look right, publish: _dmarc.dmarcnone.example." in lines["DMARC"][0]


def test_a_subdomain_without_dmarc_gets_its_organizational_domains(
    tmp_path: Path, loopback_dns: LoopbackDns
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example", key=False)
    done = run_cli(config, "dns", "check", "sub.good.example", "--ip", "192.0.2.10", "--json")
    (dmarc,) = [r for r in json.loads(done.stdout) if r["name"] == "DMARC"]
    assert dmarc["status"] == "ok", dmarc
    assert dmarc["owner"] == "_dmarc.sub.good.example"
    assert dmarc["reason"] == "the record of _dmarc.good.example applies (RFC 7489 §6.6.3); " + (
        "p=quarantine"
    )
    assert dmarc["found"] == [
        '_dmarc.good.example. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@good.example"'
    ]


def test_a_published_key_without_a_local_key_is_a_warning(
    tmp_path: Path, loopback_dns: LoopbackDns
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example", key=False)
    _, lines = dns_check(config, "good.example", 10, status=0)
    assert lines["DKIM"][0].startswith("warning  DKIM     no local key for selector mail")
    assert "run `trimail dkim generate good.example --selector mail`" in lines["DKIM"][0]


def test_another_selector_without_record_or_key(tmp_path: Path, loopback_dns: LoopbackDns) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "good.example")
    done = run_cli(config, "dns", "check", "good.example", "--selector", "s2", "--json")
    assert done.returncode == 1, done.stderr
    (dkim,) = [r for r in json.loads(done.stdout) if r["name"] == "DKIM"]
    assert dkim["status"] == "missing"
    assert dkim["owner"] == "s2._domainkey.good.example"
    assert dkim["found"] == [] and dkim["expected"] == []
    assert "trimail dkim generate good.example --selector s2" in dkim["fix"]


def test_a_failing_zone_gives_errors_not_tracebacks(
    tmp_path: Path, loopback_dns: LoopbackDns
) -> None:
    config = check_config(tmp_path, loopback_dns.nameserver, "broken.example", key=False)
    out, lines = dns_check(config, "broken.example", 40, status=1)
    for name in ("MX", "A/AAAA", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT"):
        assert lines[name][0].startswith(f"error    {name:<8} DNS lookup failed: "), out
        assert "check [dns] nameservers" in lines[name][0]
    assert lines["PTR"][0].startswith("missing  PTR ")  # the reverse zone answers


def test_an_unreachable_nameserver_gives_errors(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "trimail.toml",
        tmp_path / "data",
        hostname="mail.example.org",
        top_extra='[dns]\nnameservers = ["127.0.0.1:9"]\ntimeout_seconds = 0.5\n',
    )
    out, _ = dns_check(config, "example.org", None, "--json", status=1)
    results = json.loads(out)
    assert {r["status"] for r in results} == {"error"}
    assert [r["name"] for r in results] == NAMES_ONE_PTR
    assert results[2]["reason"] == "no server address known: the A/AAAA lookup failed"


def test_bad_arguments(tmp_path: Path) -> None:
    config = write_config(tmp_path / "trimail.toml", tmp_path / "data")
    for args, message in [
        (["x.org", "--ip", "300.1.1.1"], "bad --ip '300.1.1.1'"),
        (["../x"], "bad domain"),
        (["x.org", "--selector", "a.b"], "bad selector"),
    ]:
        done = run_cli(config, "dns", "check", *args)
        assert done.returncode == 1 and done.stderr.startswith("trimail: "), done.stderr
        assert message in done.stderr
