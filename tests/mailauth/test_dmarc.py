"""DMARC (RFC 7489): records, org domains, alignment, discovery, pct."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mailauth.dmarc import (
    DmarcRecord,
    DmarcRecordError,
    aligned,
    evaluate,
    organizational_domain,
    parse_record,
)
from trimail.mailauth.resolver import StaticResolver


@pytest.mark.parametrize(
    ("domain", "org"),
    [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("Mail.Example.COM.", "example.com"),
        ("co.uk", "co.uk"),  # a public suffix is its own org domain
        ("com", "com"),
    ],
)
def test_organizational_domain(domain: str, org: str) -> None:
    assert organizational_domain(domain) == org


@pytest.mark.parametrize(
    ("identifier", "from_domain", "mode", "expected"),
    [
        ("example.com", "example.com", "s", True),
        ("example.com", "example.com", "r", True),
        ("EXAMPLE.com", "example.COM.", "s", True),
        ("mail.example.com", "example.com", "r", True),
        ("mail.example.com", "example.com", "s", False),
        ("example.com", "news.example.com", "r", True),
        ("a.example.com", "b.example.com", "r", True),
        ("a.example.com", "b.example.com", "s", False),
        ("example.net", "example.com", "r", False),
        ("bank.co.uk", "example.co.uk", "r", False),  # same public suffix only
        ("mail.example.co.uk", "example.co.uk", "r", True),
        ("mail.example.co.uk", "example.co.uk", "s", False),
        ("co.uk", "example.co.uk", "r", False),
    ],
)
def test_alignment_table(identifier: str, from_domain: str, mode: str, expected: bool) -> None:
    assert aligned(identifier, from_domain, mode) is expected  # type: ignore[arg-type]


def test_parse_full_record() -> None:
    text = (
        " V = DMARC1 ;P=Reject; sp = quarantine ; PCT=50; adkim=S; aspf=r;"
        " rua=mailto:d@example.com!10m, mailto:e@example.net; ruf=mailto:f@example.com; x=y"
    )
    assert parse_record("v=DMARC1;p=none") == DmarcRecord(p="none")
    # "V" upper case: tag names are case-insensitive; DMARC1 itself must match.
    assert parse_record(text) == DmarcRecord(
        p="reject",
        sp="quarantine",
        pct=50,
        adkim="s",
        aspf="r",
        rua=("mailto:d@example.com!10m", "mailto:e@example.net"),
        ruf=("mailto:f@example.com",),
    )


@pytest.mark.parametrize("text", ["", "v=spf1 -all", "p=reject; v=DMARC1", "v=DMARC2; p=none"])
def test_not_a_dmarc_record(text: str) -> None:
    assert parse_record(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "v=DMARC1",
        "v=DMARC1; p=block",
        "v=DMARC1; p=none; pct=101",
        "v=DMARC1; p=none; pct=-1",
        "v=DMARC1; p=none; adkim=x",
        "v=DMARC1; p=reject; sp=bogus",
        "v=DMARC1; p=none; junk",
    ],
)
def test_bad_records_raise(text: str) -> None:
    with pytest.raises(DmarcRecordError):
        parse_record(text)


def test_invalid_p_with_rua_reads_as_none() -> None:
    record = parse_record("v=DMARC1; p=block; rua=mailto:r@example.com")
    assert record is not None and record.p == "none"  # §6.6.3 step 6.1


@given(st.text(max_size=200))
def test_parse_never_raises_other_errors(text: str) -> None:
    with contextlib.suppress(DmarcRecordError):
        parse_record(text)


@given(st.text(max_size=60))
def test_organizational_domain_total(text: str) -> None:
    assert isinstance(organizational_domain(text), str)


RESOLVER = StaticResolver(
    {
        "_dmarc.example.com": ["v=DMARC1; p=reject; sp=quarantine; adkim=s"],
        "_dmarc.example.co.uk": ["v=spf1 -all", "v=DMARC1; p=quarantine; pct=25"],
        "_dmarc.own.example.co.uk": ["v=DMARC1; p=none"],
        "_dmarc.nosp.example.org": ["junk"],
        "_dmarc.example.org": ["v=DMARC1; p=reject"],
        "_dmarc.double.test": ["v=DMARC1; p=none", "v=DMARC1; p=reject"],
        "_dmarc.broken.test": ["v=DMARC1; p=maybe"],
    },
    failing=["_dmarc.flaky.test"],
)


def test_pass_by_spf_relaxed() -> None:
    result = evaluate("example.co.uk", "bounces.example.co.uk", [], RESOLVER)
    assert (result.result, result.disposition) == ("pass", "none")
    assert result.policy == "quarantine" and result.pct == 25


def test_dkim_strict_needs_exact_domain() -> None:
    fail = evaluate("example.com", None, ["mail.example.com"], RESOLVER)
    assert (fail.result, fail.policy, fail.disposition) == ("fail", "reject", "reject")
    assert fail.record_domain == "example.com" and not fail.sp_applied
    assert evaluate("example.com", None, ["EXAMPLE.COM"], RESOLVER).result == "pass"


def test_subdomain_falls_back_to_org_domain_with_sp() -> None:
    resolver = StaticResolver(RESOLVER._records)
    result = evaluate("news.example.com", "evil.test", [], resolver)
    assert resolver.queries == ["_dmarc.news.example.com", "_dmarc.example.com"]
    assert (result.result, result.policy, result.disposition) == (
        "fail",
        "quarantine",
        "quarantine",
    )
    assert result.sp_applied and result.record_domain == "example.com"
    assert result.org_domain == "example.com"


def test_org_fallback_without_sp_uses_p() -> None:
    result = evaluate("a.b.nosp.example.org", None, [], RESOLVER)
    assert (result.policy, result.sp_applied, result.record_domain) == (
        "reject",
        False,
        "example.org",
    )


def test_own_record_wins_over_org_record() -> None:
    result = evaluate("own.example.co.uk", None, [], RESOLVER)
    assert (result.result, result.policy, result.record_domain) == (
        "fail",
        "none",
        "own.example.co.uk",
    )


@pytest.mark.parametrize(("sample", "disposition"), [(0.0, "quarantine"), (0.2499, "quarantine"),
                                                      (0.25, "none"), (0.99, "none")])  # fmt: skip
def test_pct_sampling(sample: float, disposition: str) -> None:
    result = evaluate("example.co.uk", None, [], RESOLVER, sample=sample)
    assert (result.result, result.policy, result.disposition) == ("fail", "quarantine", disposition)


def test_pct_lowers_reject_to_quarantine() -> None:
    resolver = StaticResolver({"_dmarc.example.com": ["v=DMARC1; p=reject; pct=0"]})
    assert evaluate("example.com", None, [], resolver, sample=0.0).disposition == "quarantine"


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("nothing.test", "none"),
        ("flaky.test", "temperror"),
        ("double.test", "permerror"),
        ("broken.test", "permerror"),
    ],
)
def test_no_usable_policy(domain: str, code: str) -> None:
    result = evaluate(domain, domain, [domain], RESOLVER)
    assert (result.result, result.policy, result.disposition) == (code, "none", "none")
