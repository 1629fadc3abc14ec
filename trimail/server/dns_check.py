"""``trimail dns check``: look up a mail domain's records live and judge each one.

For one mail domain served by one mail host (config ``hostname``), :func:`check_dns`
asks DNS, through the server's :class:`~trimail.server.dns.DnsResolver`, for:

- the MX of the domain (RFC 5321 §5.1, RFC 7505, RFC 2181 §10.3);
- the A/AAAA of the mail host (RFC 1035, RFC 3596);
- the PTR of each server address, forward-confirmed (RFC 1912 §2.1, RFC 8601 §3;
  receivers compare it with the HELO name, RFC 7208 §2.3);
- the SPF record of the domain: one, valid, within the lookup limits, and passing for
  every server address (RFC 7208 §4.5, §4.6.4; evaluated by pyspf through
  :func:`trimail.mailauth.spf.check_spf` in a worker thread);
- the DKIM key record of a selector (RFC 6376 §3.6.2.1);
- the DMARC record (RFC 7489 §6.1, §6.6.3);
- the MTA-STS and TLS-RPT records (RFC 8461 §3.1, RFC 8460 §3), presence only;

and returns one :class:`CheckResult` per record: ok, missing, wrong, warning, or error
(the lookup failed). What a result says to publish is the zone-file text
:func:`trimail.mailauth.records.dns_records` prints, so ``trimail dns records`` and
``trimail dns check`` never disagree.

Shapes: ``domain`` and ``hostname`` are lower-case A-labels without the trailing dot
(checked by the caller, as ``trimail dns records`` does); addresses are
:mod:`ipaddress` objects; zone-file lines are absolute, as ``dns records`` prints them.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import attrs
import trio

from trimail.mailauth import records
from trimail.mailauth.dmarc import DmarcRecord, DmarcRecordError, organizational_domain
from trimail.mailauth.dmarc import parse_record as parse_dmarc
from trimail.mailauth.resolver import PermError, TempError
from trimail.server.dns import DnsResolver, MxResult, MxStatus, ThreadResolver

__all__ = [
    "MAX_SPF_DNS_TERMS",
    "PROBLEMS",
    "CheckResult",
    "CheckStatus",
    "check_dns",
    "count_spf_dns_terms",
    "dkim_key_tags",
    "one_line",
    "published_records",
    "spf_records",
    "spf_syntax_problem",
]

MAX_SPF_DNS_TERMS = 10  # include, a, mx, ptr, exists, redirect: RFC 7208 §4.6.4

# One term of an SPF record (RFC 7208 §12): a mechanism with its optional qualifier, or
# a modifier. Loose on domain-specs (macros, §7.1), strict on the rest.
_SPF_MECHANISM = re.compile(
    r"[+\-~?]?(?:all"
    r"|(?:include|exists):[^\s/]+"
    r"|(?:a|mx)(?::[^\s/]+)?(?:/\d{1,2})?(?://\d{1,3})?"
    r"|ptr(?::\S+)?"
    r"|ip4:(?P<ip4>[0-9.]+(?:/\d{1,2})?)"
    r"|ip6:(?P<ip6>[0-9a-f:.]+(?:/\d{1,3})?))",
    re.IGNORECASE,
)
_SPF_MODIFIER = re.compile(r"(?P<name>[a-z][a-z0-9_.-]*)=\S*", re.IGNORECASE)
_SPF_DNS_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
_LOOKUP_FIX = "check [dns] nameservers and that the zone is served, then run again"
# A zone-file record line as `dns records` prints it, possibly as a comment (PTR).
_RECORD_LINE = re.compile(r"(?:; )?(?P<owner>\S+)\. IN (?P<rtype>[A-Z]+) .*")


class CheckStatus(enum.Enum):
    """The verdict on one record."""

    OK = "ok"  # as it should be
    MISSING = "missing"  # not published
    WRONG = "wrong"  # published, but receivers will not accept it as it is
    WARNING = "warning"  # works, but should be improved (p=none, no MTA-STS, ...)
    ERROR = "error"  # the lookup failed (timeout, SERVFAIL): nothing is known


def _lines(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


PROBLEMS = frozenset({CheckStatus.MISSING, CheckStatus.WRONG, CheckStatus.ERROR})
"""The statuses that make ``trimail dns check`` exit with status 1."""


@attrs.frozen(kw_only=True)
class CheckResult:
    """What DNS says about one record, and what to do about it.

    Attributes:
        name: the record checked: ``"MX"``, ``"A/AAAA"``, ``"PTR"`` (one result per
            server address), ``"SPF"``, ``"DKIM"``, ``"DMARC"``, ``"MTA-STS"``,
            ``"TLS-RPT"``.
        owner: the name looked up, e.g. ``"_dmarc.example.org"`` or
            ``"7.2.0.192.in-addr.arpa"``; no trailing dot.
        status: the verdict.
        found: what DNS answered, as zone-file lines (a long TXT record takes several
            lines, as in ``dns records``); empty when nothing was found.
        expected: what to publish, as ``trimail dns records`` prints it (PTR lines
            without the ``;`` that makes them comments there); empty when there is
            nothing to suggest.
        reason: one line saying why the status is what it is (for ``ok``, a note or "").
        fix: one line saying what to do; "" for ``ok``.
    """

    name: str
    owner: str
    status: CheckStatus
    found: tuple[str, ...] = attrs.field(default=(), converter=_lines)
    expected: tuple[str, ...] = attrs.field(default=(), converter=_lines)
    reason: str = ""
    fix: str = ""

    @property
    def problem(self) -> bool:
        """True for missing, wrong and error: the command's exit status is then 1."""
        return self.status in PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data: ``{"name": "MX", "status": "ok", ...}``.

        Keys: name, owner, status (the enum's value), found and expected (lists of
        zone-file lines), reason, fix.
        """
        return {
            "name": self.name,
            "owner": self.owner,
            "status": self.status.value,
            "found": list(self.found),
            "expected": list(self.expected),
            "reason": self.reason,
            "fix": self.fix,
        }


# ---------------------------------------------------------------------------------
# Pure helpers


def published_records(
    domain: str,
    hostname: str,
    addresses: Sequence[records.IpAddress] = (),
    dkim_public_key: records.DkimPublicKey | None = None,
    selector: str = records.DEFAULT_SELECTOR,
) -> dict[tuple[str, str], tuple[str, ...]]:
    """The records of :func:`trimail.mailauth.records.dns_records`, by owner and type.

    The PTR records and the address placeholders, which ``dns records`` prints as
    comments, are included without the leading ``"; "``.

    Args:
        domain, hostname, addresses, dkim_public_key, selector: as for
            :func:`~trimail.mailauth.records.dns_records`.

    Returns:
        ``{(owner without the trailing dot, TYPE): lines}``, e.g.
        ``{("example.org", "MX"): ("example.org. IN MX 10 mail.example.org.",), ...}``;
        the lines of a record in parentheses stay as printed (continuations start with a
        tab), several records of one owner and type follow each other.
    """
    text = records.dns_records(domain, hostname, addresses, dkim_public_key, selector)
    found: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            current.append(line)
            continue
        match = _RECORD_LINE.fullmatch(line)
        if match is None:
            current = None
            continue
        key = (match["owner"].lower(), match["rtype"])
        current = found.setdefault(key, [])
        current.append(line.removeprefix("; "))
    return {key: tuple(lines) for key, lines in found.items()}


def spf_records(texts: Sequence[str]) -> list[str]:
    """The SPF records among the TXT records of a domain (RFC 7208 §4.5).

    A record is SPF when it starts with the version section ``v=spf1`` (any case)
    followed by a space or its end; ``v=spf10`` is not one.

    Args:
        texts: the TXT records, strings of each already joined (RFC 7208 §3.3).

    Returns:
        The SPF records, in the given order; more than one is a permerror (§4.5).
    """
    return [t for t in texts if t[:6].lower() == "v=spf1" and (len(t) == 6 or t[6] == " ")]


def spf_syntax_problem(record: str) -> str | None:
    """What is wrong with the syntax of one SPF record, or None (RFC 7208 §12).

    Checks each term against the ABNF (domain-specs loosely: macros are allowed),
    the addresses of ``ip4:``/``ip6:``, and that ``redirect`` and ``exp`` appear at
    most once (§6).

    Args:
        record: one record that :func:`spf_records` accepted.

    Returns:
        e.g. ``"unknown term 'foo:bar'"``, or None when the syntax is valid.
    """
    seen: set[str] = set()
    for term in record.split(" ")[1:]:
        if not term:
            continue  # several spaces between terms are allowed (1*SP)
        mechanism = _SPF_MECHANISM.fullmatch(term)
        if mechanism is not None:
            network = mechanism["ip4"] or mechanism["ip6"]
            if network is not None and not _is_network(network):
                return f"bad address in {term!r}"
            continue
        modifier = _SPF_MODIFIER.fullmatch(term)
        if modifier is None:
            return f"unknown term {term!r}"
        name = modifier["name"].lower()
        if name in ("redirect", "exp") and name in seen:
            return f"{name}= appears twice (RFC 7208 §6)"
        seen.add(name)
    return None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def count_spf_dns_terms(record: str) -> int:
    """How many terms of *record* itself cause DNS lookups (RFC 7208 §4.6.4).

    ``include``, ``a``, ``mx``, ``ptr``, ``exists`` and ``redirect`` count;
    ``all``, ``ip4``, ``ip6`` and ``exp`` do not. Terms of included records are not
    counted: a count over 10 here already makes every evaluation that reaches the
    11th term a permerror.

    Args:
        record: one SPF record, e.g. ``"v=spf1 mx include:_spf.example.net ~all"`` -> 2.
    """
    count = 0
    for term in record.split(" ")[1:]:
        name = re.split(r"[:/=]", term.lstrip("+-~?"), maxsplit=1)[0].lower()
        count += name in _SPF_DNS_TERMS
    return count


def dkim_key_tags(text: str) -> dict[str, str] | None:
    """The tags of a DKIM key record, or None if *text* is not one (RFC 6376 §3.6.1).

    Args:
        text: one TXT record at ``<selector>._domainkey.<domain>``, strings joined.

    Returns:
        ``{"v": "DKIM1", "k": "rsa", "p": "MIIB..."}``: lower-case tag names, values
        stripped, whitespace removed from ``p=`` (base64 may be folded, §3.6.1); None
        when it has no ``p=`` tag, a malformed tag, or a ``v=`` other than ``DKIM1``
        (which must then come first).
    """
    tags: dict[str, str] = {}
    for index, part in enumerate(text.split(";")):
        part = part.strip(" \t\r\n")
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip(" \t\r\n").lower()
        if not sep or not name:
            return None
        if name == "v" and (index != 0 or value.strip() != "DKIM1"):
            return None
        tags.setdefault(name, value.strip(" \t\r\n"))
    if "p" not in tags:
        return None
    tags["p"] = "".join(tags["p"].split())
    return tags


def one_line(lines: Sequence[str]) -> str:
    """Zone-file lines as one line: continuations joined, records separated by " | ".

    Args:
        lines: as in `CheckResult.found`; a line starting with a tab continues a record
            in parentheses.

    Returns:
        e.g. ``'a. IN TXT ( "v=DKIM1; k=rsa; " "p=MIIB..." ) | a. IN TXT "x"'``.
    """
    joined: list[str] = []
    for line in lines:
        if line.startswith("\t") and joined:
            joined[-1] += " " + line.strip()
        else:
            joined.append(line)
    return " | ".join(joined)


def _txt_found(owner: str, texts: Sequence[str]) -> list[str]:
    """TXT records as zone-file lines, printable ASCII or not (DNS may say anything)."""
    lines: list[str] = []
    for text in texts:
        try:
            lines += records.txt_lines(f"{owner}.", text)
        except records.RecordError:
            lines.append(f"{owner}. IN TXT {text!r}")
    return lines


def _address_line(host: str, address: records.IpAddress) -> str:
    return f"{host}. IN {'A' if address.version == 4 else 'AAAA'} {address}"


def _ip(text: str) -> records.IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------
# The checks


@attrs.frozen(kw_only=True)
class _Target:
    """What is checked, and against what."""

    resolver: DnsResolver
    domain: str
    hostname: str
    selector: str
    dkim_public_key: records.DkimPublicKey | None
    addresses: tuple[records.IpAddress, ...]  # the server's, from --ip or from DNS
    published: dict[tuple[str, str], tuple[str, ...]]

    def expected(self, owner: str, rtype: str) -> tuple[str, ...]:
        """The lines ``dns records`` prints for *owner* (no trailing dot) and *rtype*."""
        return self.published.get((owner, rtype), ())

    def publish(self, owner: str, rtype: str) -> str:
        """The fix ``"publish: <those lines as one line>"``."""
        return f"publish: {one_line(self.expected(owner, rtype))}"


async def check_dns(
    resolver: DnsResolver,
    domain: str,
    hostname: str,
    *,
    addresses: Sequence[records.IpAddress] = (),
    selector: str = records.DEFAULT_SELECTOR,
    dkim_public_key: records.DkimPublicKey | None = None,
) -> list[CheckResult]:
    """Look up every record *domain* needs and judge each one.

    The A/AAAA of *hostname* are looked up first (without *addresses*, they become the
    server addresses checked by PTR and SPF); the other checks then run concurrently.

    Args:
        resolver: the server's resolver (config ``[dns]``).
        domain: the mail domain, e.g. ``"example.org"``.
        hostname: the mail host, config ``hostname``, e.g. ``"mail.example.org"``; the
            MX should name it, and it is the HELO name receivers see.
        addresses: the server's public addresses (``--ip``); empty: those DNS gives
            for *hostname*.
        selector: the DKIM selector to check (one DNS label, already checked).
        dkim_public_key: the public half of the local key of *selector*; None when
            there is none.

    Returns:
        In this order: MX, A/AAAA, one PTR per server address (one PTR result saying
        why when there is none), SPF, DKIM, DMARC, MTA-STS, TLS-RPT.

    Error handling:
        A lookup that fails (``TempError``: timeout, SERVFAIL, REFUSED) makes its
        check's status ``error`` with the reason; the other checks go on.
    """
    given = tuple(addresses)
    try:
        host_result, found = await _check_host(resolver, domain, hostname, given)
    except (TempError, PermError) as exc:
        host_result, found = _lookup_failed("A/AAAA", hostname, exc), ()
    server = given or found
    target = _Target(
        resolver=resolver,
        domain=domain,
        hostname=hostname,
        selector=selector,
        dkim_public_key=dkim_public_key,
        addresses=server,
        published=published_records(domain, hostname, server, dkim_public_key, selector),
    )
    checks: list[tuple[str, str, Callable[[], Awaitable[CheckResult]]]] = [
        ("MX", domain, functools.partial(_check_mx, target)),
        *[
            ("PTR", records.ptr_name(ip).rstrip("."), functools.partial(_check_ptr, target, ip))
            for ip in server
        ],
        ("SPF", domain, functools.partial(_check_spf, target)),
        (
            "DKIM",
            f"{selector}._domainkey.{domain}",
            functools.partial(_check_dkim, target),
        ),
        ("DMARC", f"_dmarc.{domain}", functools.partial(_check_dmarc, target)),
        *[
            (name, owner, functools.partial(_check_presence, target, name, owner, version))
            for name, owner, version in (
                ("MTA-STS", f"_mta-sts.{domain}", "v=STSv1"),
                ("TLS-RPT", f"_smtp._tls.{domain}", "v=TLSRPTv1"),
            )
        ],
    ]
    done: list[CheckResult | None] = [None] * len(checks)

    async def run(index: int) -> None:
        name, owner, check = checks[index]
        try:
            done[index] = await check()
        except (TempError, PermError) as exc:
            done[index] = _lookup_failed(name, owner, exc)

    async with trio.open_nursery() as nursery:
        for index in range(len(checks)):
            nursery.start_soon(run, index)
    results = [r for r in done if r is not None]
    if not server:
        results.insert(1, _no_addresses(hostname, host_result))
    return [results[0], host_result, *results[1:]]


def _lookup_failed(name: str, owner: str, exc: Exception) -> CheckResult:
    """The ``error`` result of a check whose lookup raised *exc*."""
    return CheckResult(
        name=name,
        owner=owner,
        status=CheckStatus.ERROR,
        reason=f"DNS lookup failed: {exc}",
        fix=_LOOKUP_FIX,
    )


async def _check_host(
    resolver: DnsResolver, domain: str, hostname: str, given: tuple[records.IpAddress, ...]
) -> tuple[CheckResult, tuple[records.IpAddress, ...]]:
    """A/AAAA of the mail host: present, and containing every ``--ip`` address.

    Returns:
        The result, and the addresses found (the server's when *given* is empty).

    Raises:
        TempError: both the A and the AAAA lookup failed.
    """
    found = tuple(a for a in map(_ip, await resolver.addresses(hostname)) if a is not None)
    found_lines = [_address_line(hostname, a) for a in found]
    published = published_records(domain, hostname, given)
    expected = published.get((hostname, "A"), ()) + published.get((hostname, "AAAA"), ())
    result = functools.partial(
        CheckResult, name="A/AAAA", owner=hostname, found=found_lines, expected=expected
    )
    if not found:
        fix = (
            f"publish: {one_line(expected)}"
            if given
            else f"publish A/AAAA records for {hostname} (run with --ip ADDRESS to see them)"
        )
        return result(status=CheckStatus.MISSING, reason=f"{hostname} has no address", fix=fix), ()
    if not given:
        note = "no --ip given: checking PTR and SPF for these addresses"
        return result(status=CheckStatus.OK, reason=note, expected=found_lines), found
    lacking = [a for a in given if a not in found]
    if lacking:
        reason = f"{hostname} lacks {', '.join(map(str, lacking))}"
        fix = f"publish: {one_line([_address_line(hostname, a) for a in lacking])}"
        return result(status=CheckStatus.WRONG, reason=reason, fix=fix), found
    extra = [a for a in found if a not in given]
    note = f"also {', '.join(map(str, extra))}, not given with --ip" if extra else ""
    return result(status=CheckStatus.OK, reason=note), found


def _mx_lines(domain: str, mx: MxResult) -> list[str]:
    if mx.status is MxStatus.NULL_MX:
        return [f"{domain}. IN MX 0 ."]
    if mx.status is not MxStatus.FOUND:
        return []
    return [f"{domain}. IN MX {h.preference} {h.host}." for h in mx.hosts]


async def _check_mx(target: _Target) -> CheckResult:
    """MX of the domain: names the mail host, not null, targets no CNAMEs, with addresses."""
    domain, hostname = target.domain, target.hostname
    mx = await target.resolver.mx(domain)
    result = functools.partial(
        CheckResult,
        name="MX",
        owner=domain,
        found=_mx_lines(domain, mx),
        expected=target.expected(domain, "MX"),
    )
    publish = target.publish(domain, "MX")
    if mx.status is MxStatus.NO_DOMAIN:
        return result(status=CheckStatus.MISSING, reason=f"{domain} does not exist", fix=publish)
    if mx.status is MxStatus.IMPLICIT:
        reason = f"no MX record (senders fall back to the address of {domain}, RFC 5321 §5.1)"
        return result(status=CheckStatus.MISSING, reason=reason, fix=publish)
    if mx.status is MxStatus.NULL_MX:
        reason = "null MX: the domain says it accepts no mail (RFC 7505)"
        return result(status=CheckStatus.WRONG, reason=reason, fix=f"replace it; {publish}")
    hosts = [h.host for h in mx.hosts]
    if hostname not in hosts:
        reason = f"MX names {', '.join(hosts)}, not {hostname}"
        return result(status=CheckStatus.WRONG, reason=reason, fix=publish)
    for host in hosts:
        problem = await _mx_target_problem(target.resolver, host)
        if problem is not None:
            return result(status=CheckStatus.WRONG, reason=problem[0], fix=problem[1])
    others = [h for h in hosts if h != hostname]
    note = f"other MX hosts: {', '.join(others)}" if others else ""
    return result(status=CheckStatus.OK, reason=note)


async def _mx_target_problem(resolver: DnsResolver, host: str) -> tuple[str, str] | None:
    """(reason, fix) if MX target *host* is an alias or has no address; else None.

    An MX must name a host, not an alias (RFC 2181 §10.3, RFC 5321 §5.1).

    Raises:
        TempError: a lookup failed.
    """
    alias = await resolver.lookup(host, "CNAME")  # not followed: the alias's own record
    if alias:
        reason = f"MX target {host} is a CNAME to {alias[0]} (RFC 2181 §10.3)"
        return reason, f"point the MX at {alias[0]}, or make {host} an A/AAAA record"
    if not await resolver.addresses(host):
        return f"MX target {host} has no A/AAAA record", f"publish A/AAAA records for {host}"
    return None


def _no_addresses(hostname: str, host_result: CheckResult) -> CheckResult:
    """The PTR result when there is no server address to check."""
    if host_result.status is CheckStatus.ERROR:
        status, reason = CheckStatus.ERROR, "no server address known: the A/AAAA lookup failed"
    else:
        status, reason = CheckStatus.MISSING, "no server address known"
    fix = f"run again with --ip ADDRESS, or publish the A/AAAA records of {hostname}"
    return CheckResult(name="PTR", owner="", status=status, reason=reason, fix=fix)


async def _check_ptr(target: _Target, ip: records.IpAddress) -> CheckResult:
    """Forward-confirmed reverse DNS of one server address (RFC 1912 §2.1, RFC 8601 §3).

    The PTR of *ip* must name the mail host, and the mail host's A/AAAA must contain
    *ip* again: receivers compare that name with the HELO name, and many reject or
    score mail from addresses without it.
    """
    owner = records.ptr_name(ip)
    names = await target.resolver.ptr(str(ip))
    expected = (f"{owner} IN PTR {target.hostname}.",)
    result = functools.partial(
        CheckResult,
        name="PTR",
        owner=owner.rstrip("."),
        found=[f"{owner} IN PTR {n}." for n in names],
        expected=expected,
    )
    ask = f"ask whoever hosts {ip} (not your zone) to set: {expected[0]}"
    if not names:
        return result(status=CheckStatus.MISSING, reason=f"{ip} has no PTR record", fix=ask)
    if target.hostname not in names:
        reason = f"{ip} has PTR {', '.join(names)}, not the HELO name {target.hostname}"
        return result(status=CheckStatus.WRONG, reason=reason, fix=ask)
    forward = {_ip(a) for a in await target.resolver.addresses(target.hostname)}
    if ip not in forward:
        reason = f"not forward-confirmed: {target.hostname} does not resolve to {ip}"
        fix = f"publish: {_address_line(target.hostname, ip)}"
        return result(status=CheckStatus.WRONG, reason=reason, fix=fix)
    note = f"forward-confirmed: {target.hostname} resolves to {ip}"
    if len(names) > 1:
        note += f"; {len(names)} PTR names, one is usual"
    return result(status=CheckStatus.OK, reason=note)


def _spf_record_problem(found: Sequence[str]) -> tuple[str, str] | None:
    """(reason, hint) when the SPF records of a domain are a permerror as they stand.

    Several records (RFC 7208 §4.5), bad syntax (§4.6), or more than 10 terms of the
    record itself that need lookups (§4.6.4); None when evaluation can tell.
    """
    if len(found) > 1:
        return f"{len(found)} v=spf1 records: a permerror (RFC 7208 §4.5)", "keep one"
    problem = spf_syntax_problem(found[0])
    if problem is not None:
        return f"syntax: {problem}: a permerror (RFC 7208 §4.6)", "correct it"
    count = count_spf_dns_terms(found[0])
    if count > MAX_SPF_DNS_TERMS:
        reason = (
            f"{count} terms need DNS lookups, at most {MAX_SPF_DNS_TERMS} may "
            "(RFC 7208 §4.6.4): a permerror"
        )
        return reason, "use ip4:/ip6: terms instead of lookups"
    return None


async def _check_spf(target: _Target) -> CheckResult:
    """The SPF record: exactly one, valid, and every server address passes (RFC 7208)."""
    domain = target.domain
    found = spf_records(await target.resolver.txt(domain))
    publish = target.publish(domain, "TXT")
    result = functools.partial(
        CheckResult,
        name="SPF",
        owner=domain,
        found=_txt_found(domain, found),
        expected=target.expected(domain, "TXT"),
    )
    if not found:
        reason = f"no v=spf1 record at {domain}"
        return result(status=CheckStatus.MISSING, reason=reason, fix=publish)
    problem = _spf_record_problem(found)
    if problem is not None:
        return result(status=CheckStatus.WRONG, reason=problem[0], fix=f"{problem[1]}; {publish}")
    verdicts = [(ip, *await _evaluate_spf(target, ip)) for ip in target.addresses]
    failed = [(ip, code, why) for ip, code, why in verdicts if code != "pass"]
    if not failed:
        passing = ", ".join(map(str, target.addresses)) or "no server address to try"
        return result(status=CheckStatus.OK, reason=f"pass for {passing}")
    reason = "; ".join(f"{ip}: {code}{why}" for ip, code, why in failed)
    if any(code == "temperror" for _, code, _ in failed):
        return result(status=CheckStatus.ERROR, reason=reason, fix=_LOOKUP_FIX)
    if any(code == "permerror" for _, code, _ in failed):
        return result(status=CheckStatus.WRONG, reason=reason, fix=publish)
    terms = " ".join(f"ip{ip.version}:{ip}" for ip, _, _ in failed)
    fix = f"add {terms} (or mx, with the MX at these addresses) before the all term"
    return result(status=CheckStatus.WRONG, reason=reason, fix=fix)


async def _evaluate_spf(target: _Target, ip: records.IpAddress) -> tuple[str, str]:
    """Does mail from *ip* as ``postmaster@<domain>``, HELO the mail host, pass SPF?

    Runs :func:`trimail.mailauth.spf.check_spf` (pyspf, in strict mode: at most 10
    DNS-querying terms and 2 void lookups in all, includes counted, RFC 7208 §4.6.4)
    in a worker thread, its lookups through *target*'s resolver.

    Returns:
        The result (RFC 7208 §2.6), e.g. ``"softfail"``, and for permerror and
        temperror why, in parentheses (pyspf's comment), else "".
    """
    from trimail.mailauth.spf import check_spf  # pyspf is only needed here

    check = functools.partial(
        check_spf,
        ip=str(ip),
        mail_from=f"postmaster@{target.domain}",
        helo=target.hostname,
        resolver=ThreadResolver(target.resolver),
        receiver=target.hostname,
    )
    spf = await trio.to_thread.run_sync(check)
    explained = spf.comment and spf.result in ("permerror", "temperror")
    return spf.result, f" ({spf.comment})" if explained else ""


def _dkim_fix(target: _Target) -> str:
    if target.dkim_public_key is None:
        return (
            f"run `trimail dkim generate {target.domain} --selector {target.selector}`, "
            "then publish the record it prints"
        )
    owner = f"{target.selector}._domainkey.{target.domain}"
    return "publish the record `trimail dkim generate` printed for the local key: " + (
        one_line(target.expected(owner, "TXT"))
    )


async def _check_dkim(target: _Target) -> CheckResult:
    """The key record of the selector (RFC 6376 §3.6.2.1) and whether it is the local key."""
    owner = f"{target.selector}._domainkey.{target.domain}"
    texts = await target.resolver.txt(owner)
    keys = [tags for tags in map(dkim_key_tags, texts) if tags is not None]
    result = functools.partial(
        CheckResult,
        name="DKIM",
        owner=owner,
        found=_txt_found(owner, texts),
        expected=target.expected(owner, "TXT"),
        fix=_dkim_fix(target),
    )
    if not keys:
        return result(status=CheckStatus.MISSING, reason=f"no DKIM key record at {owner}")
    if len(keys) > 1:
        reason = f"{len(keys)} key records: verifiers may use either (RFC 6376 §3.6.2.2)"
        return result(status=CheckStatus.WRONG, reason=reason)
    key = keys[0]
    if not key["p"]:
        return result(status=CheckStatus.WRONG, reason="the key is revoked (empty p=)")
    if target.dkim_public_key is None:
        reason = f"no local key for selector {target.selector}: trimail cannot sign with it"
        return result(status=CheckStatus.WARNING, reason=reason)
    ktag, ptag = records.dkim_key_tags(target.dkim_public_key)
    if key["p"] != ptag or key.get("k", "rsa").lower() != ktag:
        reason = "the published key is not the local key: signatures will not verify"
        return result(status=CheckStatus.WRONG, reason=reason)
    return result(status=CheckStatus.OK, reason="matches the local key", fix="")


def _dmarc_records(texts: Sequence[str]) -> list[DmarcRecord | DmarcRecordError]:
    """The DMARC records among *texts*, parsed, or the error of an unusable one."""
    found: list[DmarcRecord | DmarcRecordError] = []
    for text in texts:
        try:
            record = parse_dmarc(text)
        except DmarcRecordError as exc:
            found.append(exc)
            continue
        if record is not None:
            found.append(record)
    return found


async def _check_dmarc(target: _Target) -> CheckResult:
    """The DMARC record (RFC 7489 §6.6.3): one, valid, p= not none, with rua=."""
    owner = f"_dmarc.{target.domain}"
    texts = await target.resolver.txt(owner)
    dmarc = _dmarc_records(texts)
    publish = target.publish(owner, "TXT")
    result = functools.partial(
        CheckResult,
        name="DMARC",
        owner=owner,
        found=_txt_found(owner, texts) if dmarc else (),
        expected=target.expected(owner, "TXT"),
    )
    if not dmarc:
        return await _inherited_dmarc(target, result, publish)
    if len(dmarc) > 1:
        reason = f"{len(dmarc)} DMARC records: receivers apply none (RFC 7489 §6.6.3)"
        return result(status=CheckStatus.WRONG, reason=reason, fix=f"keep one; {publish}")
    record = dmarc[0]
    if isinstance(record, DmarcRecordError):
        return result(status=CheckStatus.WRONG, reason=f"unusable: {record}", fix=publish)
    return _judge_dmarc(record, record.p, result, publish)


def _judge_dmarc(
    record: DmarcRecord, policy: str, result: Callable[..., CheckResult], publish: str
) -> CheckResult:
    """ok, or a warning for ``p=none`` (monitoring only) and for no ``rua=`` (§6.3)."""
    problems = []
    if policy == "none":
        problems.append("p=none: receivers apply no policy (monitoring only)")
    if not record.rua:
        problems.append("no rua=: you get no aggregate reports")
    if problems:
        fix = f"when the reports look right, {publish}"
        return result(status=CheckStatus.WARNING, reason="; ".join(problems), fix=fix)
    return result(status=CheckStatus.OK, reason=f"p={policy}")


async def _inherited_dmarc(
    target: _Target, result: Callable[..., CheckResult], publish: str
) -> CheckResult:
    """No record at the domain: the Organizational Domain's may apply (§6.6.3 step 4)."""
    missing = result(
        status=CheckStatus.MISSING, reason=f"no DMARC record at _dmarc.{target.domain}", fix=publish
    )
    org = organizational_domain(target.domain)
    if org == target.domain:
        return missing
    texts = await target.resolver.txt(f"_dmarc.{org}")
    found = _dmarc_records(texts)
    if len(found) != 1 or isinstance(found[0], DmarcRecordError):
        return missing
    inherited = _judge_dmarc(found[0], found[0].sp or found[0].p, result, publish)
    note = f"the record of _dmarc.{org} applies (RFC 7489 §6.6.3)"
    return attrs.evolve(
        inherited,
        found=_txt_found(f"_dmarc.{org}", texts),
        reason="; ".join(filter(None, [note, inherited.reason])),
    )


async def _check_presence(target: _Target, name: str, owner: str, version: str) -> CheckResult:
    """MTA-STS (RFC 8461 §3.1) or TLS-RPT (RFC 8460 §3): a record starting *version*."""
    texts = await target.resolver.txt(owner)
    found = [t for t in texts if t.split(";", 1)[0].strip() == version]
    result = functools.partial(
        CheckResult,
        name=name,
        owner=owner,
        found=_txt_found(owner, found),
        expected=target.expected(owner, "TXT"),
    )
    if not found:
        reason = f"no {version} record at {owner} (optional, recommended)"
        return result(status=CheckStatus.WARNING, reason=reason, fix=target.publish(owner, "TXT"))
    return result(status=CheckStatus.OK)
