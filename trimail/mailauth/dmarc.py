"""DMARC (RFC 7489): record parsing, policy discovery, identifier alignment.

Pure: DNS goes through a :class:`~trimail.mailauth.resolver.Resolver` and the random
number for ``pct`` sampling (§6.6.4) is passed in. The Organizational Domain (§3.2)
comes from the Public Suffix List bundled with the ``publicsuffixlist`` package
(loaded once, on first use, from the package's own data).

Domains are A-labels; case and one trailing dot are ignored.
"""

from __future__ import annotations

import functools
import re
from typing import Literal, TypeAlias

import attrs
from publicsuffixlist import PublicSuffixList

from trimail.mailauth.resolver import Resolver, TempError, normalize_name

Policy: TypeAlias = Literal["none", "quarantine", "reject"]
Alignment: TypeAlias = Literal["r", "s"]
DmarcResultCode: TypeAlias = Literal["pass", "fail", "none", "temperror", "permerror"]

POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")
# §6.6.4: a message not sampled by pct gets the next less strict policy.
_LOWER_POLICY: dict[Policy, Policy] = {
    "reject": "quarantine",
    "quarantine": "none",
    "none": "none",
}
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # tag-name, RFC 6376 §3.2
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s!,]+(?:![0-9]+[kmgtKMGT]?)?")  # §6.4 dmarc-uri


class DmarcRecordError(ValueError):
    """A ``v=DMARC1`` record that cannot be used; the message says which tag is bad."""


@attrs.frozen(kw_only=True)
class DmarcRecord:
    """A parsed DMARC policy record (RFC 7489 §6.3)."""

    p: Policy  # requested policy for the domain itself
    sp: Policy | None = None  # for subdomains (None: use p)
    pct: int = 100  # 0-100, percentage of failing mail the policy applies to
    adkim: Alignment = "r"  # DKIM alignment mode, §3.1.1
    aspf: Alignment = "r"  # SPF alignment mode, §3.1.2
    rua: tuple[str, ...] = ()  # aggregate-report URIs, as written
    ruf: tuple[str, ...] = ()  # failure-report URIs, as written


@attrs.frozen(kw_only=True)
class DmarcResult:
    """The outcome of :func:`evaluate` for one message."""

    result: DmarcResultCode  # as in RFC 7489 §11.2 / RFC 8601 registry
    policy: Policy  # the policy the Domain Owner requests (p, or sp for subdomains)
    disposition: Policy  # what to do: "none" unless failed; lowered when not sampled
    domain: str  # RFC5322.From domain, normalized
    org_domain: str  # its Organizational Domain (§3.2)
    record_domain: str | None = None  # where the record was found, None if nowhere
    sp_applied: bool = False  # the record came from the org domain and sp was used
    pct: int = 100
    record: DmarcRecord | None = None


def _tags(text: str) -> list[tuple[str, str]]:
    """Split ``tag=value; ...`` (RFC 6376 §3.2 tag-list); whitespace around parts is dropped."""
    pairs: list[tuple[str, str]] = []
    for part in text.split(";"):
        part = part.strip(" \t\r\n")
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip(" \t\r\n")
        if not sep or _TAG.fullmatch(name) is None:
            raise DmarcRecordError(f"malformed tag {part!r}")
        pairs.append((name.lower(), value.strip(" \t\r\n")))
    return pairs


def _is_dmarc(text: str) -> bool:
    """True when *text* starts with the ``v=DMARC1`` tag (§6.6.3 step 2)."""
    head = text.lstrip(" \t").split(";", 1)[0]
    name, sep, value = head.partition("=")
    return bool(sep) and name.strip(" \t").lower() == "v" and value.strip(" \t") == "DMARC1"


def _policy(value: str | None) -> Policy | None:
    if value is None:
        return None
    for policy in POLICIES:
        if value.lower() == policy:
            return policy
    return None


def _alignment(tags: dict[str, str], name: str) -> Alignment:
    value = tags.get(name, "r").lower()
    if value == "r":
        return "r"
    if value == "s":
        return "s"
    raise DmarcRecordError(f"{name}={tags[name]!r}: must be 'r' or 's'")


def _pct(tags: dict[str, str]) -> int:
    value = tags.get("pct", "100")
    if not value.isascii() or not value.isdigit() or int(value) > 100:
        raise DmarcRecordError(f"pct={value!r}: must be an integer 0-100")
    return int(value)


def _uris(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(u.strip(" \t") for u in value.split(",") if _URI.fullmatch(u.strip(" \t")))


def parse_record(text: str) -> DmarcRecord | None:
    """Parse one TXT record found at ``_dmarc.<domain>`` (RFC 7489 §6.3, §6.4).

    Tag names are case-insensitive and whitespace around tags, ``=`` and ``;`` is
    ignored; unknown tags are ignored (§6.3). ``v=DMARC1`` must come first and is
    case-sensitive (§6.4).

    Args:
        text: the record, its strings already concatenated.

    Returns:
        The record, or None when *text* is not a DMARC record at all (§6.6.3 step 2
        says such records are discarded).

    Raises:
        DmarcRecordError: it is a DMARC record but unusable: malformed tag list, bad
            ``pct``/``adkim``/``aspf``, or ``p``/``sp`` missing or invalid with no
            valid ``rua`` (with a valid ``rua`` it reads as ``p=none``, §6.6.3 step 6).
    """
    if not _is_dmarc(text):
        return None
    tags: dict[str, str] = {}
    for name, value in _tags(text):
        tags.setdefault(name, value)  # first occurrence wins
    rua = _uris(tags.get("rua"))
    p = _policy(tags.get("p"))
    sp = _policy(tags.get("sp"))
    if p is None or ("sp" in tags and sp is None):
        if not rua:
            raise DmarcRecordError("p= missing or invalid (or sp= invalid) and no valid rua=")
        p, sp = "none", None  # §6.6.3 step 6.1
    return DmarcRecord(
        p=p,
        sp=sp,
        pct=_pct(tags),
        adkim=_alignment(tags, "adkim"),
        aspf=_alignment(tags, "aspf"),
        rua=rua,
        ruf=_uris(tags.get("ruf")),
    )


@functools.cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The Organizational Domain of *domain* (RFC 7489 §3.2).

    The public suffix (ICANN and private sections of the PSL) plus one label:
    ``"mail.example.co.uk"`` -> ``"example.co.uk"``. A name that is itself a public
    suffix (or unknown to the list and one label long) is its own org domain.
    """
    name = normalize_name(domain)
    try:
        found = _psl().privatesuffix(name)
    except (ValueError, TypeError):  # empty labels such as "a..b"
        found = None
    return found if isinstance(found, str) else name


def aligned(identifier: str, from_domain: str, mode: Alignment) -> bool:
    """Identifier alignment of an authenticated domain with the From domain (§3.1).

    Args:
        identifier: the SPF-authenticated (RFC5321.MailFrom) or DKIM ``d=`` domain.
        from_domain: the RFC5322.From domain.
        mode: ``"s"`` strict (exact match) or ``"r"`` relaxed (same org domain).
    """
    left, right = normalize_name(identifier), normalize_name(from_domain)
    if mode == "s":
        return left == right
    return organizational_domain(left) == organizational_domain(right)


@attrs.frozen
class _Discovered:
    record: DmarcRecord
    domain: str


def _lookup(domain: str, resolver: Resolver) -> _Discovered | None:
    """The DMARC record at ``_dmarc.<domain>`` (§6.6.3 steps 1-3).

    Raises:
        TempError: from the resolver.
        DmarcRecordError: several DMARC records, or an unusable one.
    """
    texts = [t for t in resolver.txt(f"_dmarc.{domain}") if _is_dmarc(t)]
    if not texts:
        return None
    if len(texts) > 1:
        raise DmarcRecordError(f"{len(texts)} DMARC records at _dmarc.{domain}")
    record = parse_record(texts[0])
    assert record is not None  # _is_dmarc held
    return _Discovered(record, domain)


def discover(from_domain: str, resolver: Resolver) -> tuple[DmarcRecord, str] | None:
    """Find the policy for *from_domain*: itself, then its org domain (§6.6.3).

    Returns:
        ``(record, domain where it was found)`` or None when neither has one.

    Raises:
        TempError: a lookup failed.
        DmarcRecordError: the first record found is unusable or duplicated.
    """
    domain = normalize_name(from_domain)
    found = _lookup(domain, resolver)
    org = organizational_domain(domain)
    if found is None and org != domain:
        found = _lookup(org, resolver)
    return None if found is None else (found.record, found.domain)


def _no_policy(result: DmarcResultCode, domain: str, org: str) -> DmarcResult:
    return DmarcResult(
        result=result, policy="none", disposition="none", domain=domain, org_domain=org
    )


def evaluate(
    from_domain: str,
    spf_domain_passed: str | None,
    dkim_domains_passed: list[str],
    resolver: Resolver,
    *,
    sample: float = 0.0,
) -> DmarcResult:
    """DMARC result and disposition for one message (RFC 7489 §6.6).

    Args:
        from_domain: the single RFC5322.From domain (§6.6.1).
        spf_domain_passed: the RFC5321.MailFrom domain (or HELO identity when the
            reverse-path is null) if SPF passed, else None.
        dkim_domains_passed: ``d=`` of every DKIM signature that verified.
        resolver: DNS for the ``_dmarc`` TXT lookups.
        sample: a uniform random number in [0, 1) drawn by the caller; the policy
            applies when ``sample * 100 < pct`` (§6.6.4), otherwise the next lower
            policy does.

    Error handling:
        A resolver :class:`TempError` becomes ``result="temperror"``; an unusable or
        duplicated record becomes ``"permerror"`` (§11.2). Both carry policy "none".
    """
    domain = normalize_name(from_domain)
    org = organizational_domain(domain)
    try:
        found = discover(domain, resolver)
    except TempError:
        return _no_policy("temperror", domain, org)
    except DmarcRecordError:
        return _no_policy("permerror", domain, org)
    if found is None:
        return _no_policy("none", domain, org)
    record, record_domain = found
    sp_applied = record_domain != domain and record.sp is not None
    policy = record.sp if sp_applied and record.sp is not None else record.p
    passed = (
        spf_domain_passed is not None and aligned(spf_domain_passed, domain, record.aspf)
    ) or any(aligned(d, domain, record.adkim) for d in dkim_domains_passed)
    disposition: Policy = "none"
    if not passed:
        disposition = policy if sample * 100 < record.pct else _LOWER_POLICY[policy]
    return DmarcResult(
        result="pass" if passed else "fail",
        policy=policy,
        disposition=disposition,
        domain=domain,
        org_domain=org,
        record_domain=record_domain,
        sp_applied=sp_applied,
        pct=record.pct,
        record=record,
    )
