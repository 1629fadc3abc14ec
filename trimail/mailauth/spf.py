"""SPF (RFC 7208): may this client use the HELO and MAIL FROM domains?

pyspf evaluates ``check_host()`` (§4); this module feeds it DNS from the
:class:`~trimail.mailauth.resolver.Resolver` passed in and shapes its answers into
RFC 7208 §2.6 results for Authentication-Results (RFC 8601 §2.7.2) and DMARC
(RFC 7489 §4.1).

How pyspf gets its DNS: it calls one module-level function, ``spf.DNSLookup(name,
qtype, strict, timeout)``. Swapping that global for each check would race, because
checks run in several worker threads at once (``trio.to_thread``, STYLE.md §3) and one
thread's lookups would reach another check's resolver. So :func:`check_spf` installs
one adapter, once, for good, and the adapter finds the resolver of the check that is
calling it in a :class:`contextvars.ContextVar` set around that check: each thread
(and each task) has its own value. Outside :func:`check_spf` (no resolver set) the
adapter calls pyspf's own lookup, so other users of pyspf in the process keep working.

Processing limits (§4.6.4) are pyspf's, in strict mode: at most 10 terms that cause
DNS lookups (``include``, ``a``, ``mx``, ``ptr``, ``exists``, ``redirect``), at most 10
MX and 10 PTR names per mechanism, at most 2 void lookups (NXDOMAIN or no records);
exceeding one is a permerror. The elapsed time of all lookups of one check is capped
too (``time_limit_seconds``, "at least 20 seconds" in §4.6.4); pyspf measures it with
the wall clock, the only clock reading involved, and makes it a temperror.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Callable
from typing import Any, Literal, TypeAlias

import attrs
import idna
import spf as pyspf

from trimail.mailauth import results
from trimail.mailauth.resolver import Resolver, TempError, normalize_name

SpfResultCode: TypeAlias = Literal[
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"
]
Identity: TypeAlias = Literal["helo", "mailfrom"]  # RFC 7208 §9.1 identity= values

RESULT_CODES: tuple[SpfResultCode, ...] = (
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"
)  # fmt: skip
TIME_LIMIT_SECONDS = 20.0  # all DNS lookups of one check_host(), RFC 7208 §4.6.4
MAX_DOMAIN_OCTETS = 253  # a name in text form without the trailing dot, RFC 1035 §2.3.4
MAX_COMMENT = 200  # characters of a comment kept (it quotes DNS data)
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")  # LDH plus "_", RFC 7208 §4.3 "malformed"
_PYSPF_TYPES = ("A", "AAAA", "MX", "PTR", "TXT")  # what pyspf asks in strict mode
# pyspf raises these on input it cannot handle; they mean "cannot be processed",
# never a crash of ours (as for dkimpy in trimail.mailauth.dkim).
_PYSPF_BUGS = (ValueError, IndexError, KeyError, TypeError, AssertionError, RecursionError)

_LookupResult: TypeAlias = list[tuple[tuple[str, str], Any]]
_RESOLVER: contextvars.ContextVar[Resolver | None] = contextvars.ContextVar(
    "trimail_spf_resolver", default=None
)
_ORIGINAL_LOOKUP: Callable[..., _LookupResult] = pyspf.DNSLookup


@attrs.frozen(kw_only=True)
class SpfCheck:
    """One ``check_host()`` evaluation (RFC 7208 §4) for one identity.

    Example: ``SpfCheck(identity="mailfrom", domain="example.org",
    sender="alice@example.org", result="fail", explanation="See
    https://example.org/spf", comment="domain of example.org does not designate
    192.0.2.9 as permitted sender", mechanism="-all")``.
    """

    identity: Identity  # "helo" (§2.3) or "mailfrom" (§2.4)
    domain: str  # <domain>: lower case, A-labels, no trailing dot (as given if malformed)
    sender: str  # <sender>: "local-part@domain"; "postmaster@<helo>" for HELO and <>
    result: SpfResultCode  # §2.6
    explanation: str = ""  # fail only: the domain's exp= text, expanded (§6.2); else ""
    comment: str = ""  # why, for people and logs: printable ASCII, at most MAX_COMMENT
    mechanism: str = ""  # the directive that matched, e.g. "-all"; "" if none did


@attrs.frozen(kw_only=True)
class SpfResult:
    """What :func:`check_spf` found for one SMTP transaction.

    The result that counts (for policy, Authentication-Results and DMARC) is the MAIL
    FROM identity's; the HELO identity's is kept beside it (RFC 7208 §2.3, §2.4).
    """

    mailfrom_check: SpfCheck  # the MAIL FROM identity (postmaster@<helo> for <>)
    helo_check: SpfCheck | None = None  # None: the HELO identity is not a domain name
    null_reverse_path: bool = False  # MAIL FROM:<> (RFC 5321 §4.5.5)

    @property
    def result(self) -> SpfResultCode:
        """The MAIL FROM identity's result (RFC 7208 §2.6)."""
        return self.mailfrom_check.result

    @property
    def explanation(self) -> str:
        """For a fail: the domain's explanation for the SMTP reply (§6.2), else ""."""
        return self.mailfrom_check.explanation

    @property
    def comment(self) -> str:
        """Why the MAIL FROM identity got its result, for logs and reason= texts."""
        return self.mailfrom_check.comment

    @property
    def mailfrom(self) -> str | None:
        """``smtp.mailfrom`` (RFC 8601 §2.7.2): the reverse-path's domain; None for <>."""
        return None if self.null_reverse_path else self.mailfrom_check.domain

    @property
    def helo(self) -> str | None:
        """``smtp.helo`` (RFC 8601 §2.7.2): the HELO identity if it is a domain, else None."""
        return None if self.helo_check is None else self.helo_check.domain

    @property
    def aligned_domain(self) -> str:
        """The domain SPF authenticates, for DMARC alignment (RFC 7489 §3.1.2, §4.1).

        The reverse-path's domain, or the HELO identity when the reverse-path is null.
        Only meaningful when :attr:`result` is ``"pass"``.
        """
        return self.mailfrom_check.domain

    def method_result(self) -> results.MethodResult:
        """This result as an Authentication-Results resinfo (RFC 8601 §2.7.2).

        ``spf=<result> [reason=...] smtp.mailfrom=<domain> smtp.helo=<domain>``; the
        reason only for temperror and permerror, ``smtp.mailfrom`` only when the
        reverse-path is not null, ``smtp.helo`` only when the HELO identity is a domain.
        """
        found = results.spf(self.result, mailfrom=self.mailfrom, helo=self.helo)
        if self.result in ("temperror", "permerror") and self.comment:
            return attrs.evolve(found, reason=self.comment)
        return found


def _dns_lookup(
    name: str, qtype: str, tcpfallback: object = True, timeout: object = 30
) -> _LookupResult:
    """pyspf's ``DNSLookup``, answered by the resolver of the current check.

    Args:
        name: the name pyspf asks for, lower case, no trailing dot.
        qtype: "A", "AAAA", "MX", "PTR" or "TXT" (others get no records).
        tcpfallback: pyspf passes its ``strict`` setting here; unused.
        timeout: seconds pyspf allows; unused (the resolver has its own timeout).

    Returns:
        ``[((name, qtype), value), ...]`` in the shapes of pyspf's dnspython driver:
        an address str for A/AAAA, ``(preference, exchange)`` for MX (exchange ""
        for a null MX, so it is never looked up), a name for PTR, and a tuple of
        bytes (the record's text as UTF-8) for TXT.

    Raises:
        spf.TempError: the resolver raised :class:`TempError`.
    """
    resolver = _RESOLVER.get()
    if resolver is None:
        return _ORIGINAL_LOOKUP(name, qtype, tcpfallback, timeout)
    if qtype not in _PYSPF_TYPES:
        return []
    try:
        records = resolver.lookup(name, qtype)
    except TempError as e:
        raise pyspf.TempError(f"DNS {qtype} lookup of {name} failed: {e}") from e
    key = (name, qtype)
    if qtype == "TXT":
        return [(key, (text.encode("utf-8"),)) for text in records]
    if qtype == "MX":
        return [(key, mx) for mx in map(_mx_value, records) if mx is not None]
    return [(key, text) for text in records]


def _mx_value(text: str) -> tuple[int, str] | None:
    """``"10 mx.example.org"`` -> ``(10, "mx.example.org")``; ``"0 ."`` -> ``(0, "")``."""
    preference, _, exchange = text.partition(" ")
    if not preference.isdigit():
        return None
    return int(preference), normalize_name(exchange.strip())


def _install() -> None:
    """Route pyspf's DNS through :func:`_dns_lookup` (idempotent; see the module doc)."""
    if pyspf.DNSLookup is not _dns_lookup:
        pyspf.DNSLookup = _dns_lookup


def _client_ip(ip: str) -> str:
    """*ip* in canonical text form, without an IPv6 zone (``"fe80::1%eth0"``).

    Raises:
        ValueError: not an IP address.
    """
    return str(ipaddress.ip_address(ip.strip().partition("%")[0]))


def _domain_name(domain: str) -> str | None:
    """*domain* as lower-case A-labels without the trailing dot, or None if malformed.

    RFC 7208 §4.3: a malformed name (empty label, label over 63 octets) or one that
    is not multi-label gives ``none`` without any lookup. Address literals and names
    whose last label is all digits (an IP address, RFC 3696 §2) are not domains
    either. U-labels become A-labels (UTS 46 mapping, IDNA 2008; RFC 8616 §4).
    """
    name = domain.strip().removesuffix(".")
    if not name.isascii():
        try:  # as trimail.server.dns.domain_to_ascii does
            name = idna.uts46_remap(name, std3_rules=False, transitional=False)
            name = ".".join(
                label if label.isascii() else idna.alabel(label).decode("ascii")
                for label in name.split(".")
            )
        except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
            return None
    name = name.lower()
    labels = name.split(".")
    if len(labels) < 2 or len(name) > MAX_DOMAIN_OCTETS or labels[-1].isdigit():
        return None
    return name if all(_LABEL.fullmatch(label) for label in labels) else None


def _clean(text: str) -> str:
    """*text* as printable ASCII on one line (others become "?"), at most MAX_COMMENT long.

    Comments and explanations quote DNS data (a mechanism, a name) and end up in
    header fields, SMTP replies and logs: control characters there could inject
    lines (RFC 5322 §2.2, RFC 5321 §4.2).
    """
    return "".join(c if " " <= c <= "~" else "?" for c in text)[:MAX_COMMENT]


def _result_code(text: str) -> SpfResultCode:
    """pyspf's result word as an RFC 7208 §2.6 result; anything else is a permerror."""
    for code in RESULT_CODES:
        if text == code:
            return code
    return "permerror"


def _evaluate(query: Any) -> tuple[SpfResultCode, str, str]:
    """Run pyspf's check: ``(result, explanation, comment)``.

    Error handling:
        pyspf turns DNS trouble into temperror and bad records into permerror; an
        exception it lets escape on input it cannot handle becomes a permerror too.
    """
    try:
        word, _code, text = query.check()
    except _PYSPF_BUGS as e:
        return "permerror", "", _clean(f"SPF Permanent Error: {type(e).__name__}: {e}")
    result = _result_code(str(word))
    if result in ("temperror", "permerror"):
        return result, "", _clean(str(text))
    explanation = _clean(str(text)) if result == "fail" else ""
    return result, explanation, _clean(query.get_header_comment(result))


class _Query(pyspf.query):  # type: ignore[misc]  # pyspf has no type hints
    """pyspf's query with RFC 7208 §5.5's error handling for ``ptr`` and ``%{p}``.

    pyspf lets a DNS error during PTR validation end the whole check with temperror.
    §5.5 says instead: an error on the PTR lookup makes the mechanism not match, and
    a name whose address lookup fails is skipped; §7.3 gives ``%{p}`` "unknown" then.
    """

    def validated_ptrs(self) -> list[str]:
        """The PTR names of the client (at most 10, §4.6.4) that resolve back to it."""
        try:
            names: list[str] = self.dns_ptr(self.i)[: pyspf.MAX_PTR]
        except pyspf.TempError:
            return []
        return [name for name in names if self._points_back(name)]

    def _points_back(self, name: str) -> bool:
        try:
            return bool(self.cidrmatch(self.dns_a(name, self.A), self.cidrmax))
        except pyspf.TempError:
            return False


@attrs.frozen
class _Client:
    """What stays the same for both identities of one transaction."""

    ip: str  # canonical text form
    helo: str  # as received, for the %{h} macro
    receiver: str  # for the %{r} macro
    time_limit_seconds: float


def _check(client: _Client, identity: Identity, local_part: str, domain: str) -> SpfCheck:
    """``check_host(<ip>, <domain>, <local_part>@<domain>)`` (RFC 7208 §4.1)."""
    name = _domain_name(domain)
    sender = f"{local_part}@{name or normalize_name(domain)}"
    if name is None:
        reason = f"{domain!r} is not a usable domain name (RFC 7208 section 4.3)"
        return SpfCheck(
            identity=identity,
            domain=normalize_name(domain),
            sender=sender,
            result="none",
            comment=_clean(reason),
        )
    query = _Query(
        i=client.ip,
        s=sender,
        h=client.helo,
        receiver=client.receiver,
        strict=True,
        querytime=client.time_limit_seconds,
    )
    query.l, query.o, query.d = local_part, name, name  # pyspf splits at the first "@"
    query.set_default_explanation("")  # so a non-empty fail text came from exp= (§6.2)
    result, explanation, comment = _evaluate(query)
    return SpfCheck(
        identity=identity,
        domain=name,
        sender=sender,
        result=result,
        explanation=explanation,
        comment=comment,
        mechanism=_clean(query.mechanism or "") if result != "permerror" else "",
    )


def _is_domain(helo: str) -> bool:
    """True if the HELO identity names a host rather than an address (RFC 7208 §2.3)."""
    text = helo.strip()
    return bool(text) and not text.startswith("[")


def check_spf(
    *,
    ip: str,
    mail_from: str,
    helo: str,
    resolver: Resolver,
    receiver: str,
    time_limit_seconds: float = TIME_LIMIT_SECONDS,
) -> SpfResult:
    """Check the HELO and MAIL FROM identities of an SMTP client (RFC 7208 §2.3, §2.4).

    The HELO identity is checked first when it is a domain name (an address literal
    such as ``[192.0.2.1]`` is not); then the MAIL FROM identity: the reverse-path,
    or ``postmaster@<HELO identity>`` when the reverse-path is null, whose result is
    then the HELO identity's (the same check_host() call, §2.4). A malformed or
    single-label domain gives ``none`` without a lookup (§4.3).

    Blocking: every lookup goes through *resolver* (at most about 10 x 10 of them,
    §4.6.4); run it in a worker thread with a
    :class:`trimail.server.dns.ThreadResolver`.

    Args:
        ip: the SMTP client's address, ``"192.0.2.1"`` or ``"2001:db8::1"``; an
            IPv4-mapped IPv6 address counts as IPv4 (§5: pyspf does this), an IPv6
            zone (``"%eth0"``) is ignored.
        mail_from: the reverse-path address ``local-part@domain`` without angle
            brackets, ``""`` for ``<>``; the domain may be U-labels (RFC 8616 §4).
            Without a local-part (``"@example.org"``) it is "postmaster" (§4.3).
        helo: the HELO/EHLO argument as received, ``""`` if none was given.
        resolver: answers every DNS query (A, AAAA, MX, PTR, TXT).
        receiver: our host name, for the ``%{r}`` macro in explanations (§7.3).
        time_limit_seconds: the longest all lookups of one identity's check may take
            together before it gives temperror (§4.6.4); 0 for no limit.

    Returns:
        The MAIL FROM result and details of both checks; ``.method_result()`` is the
        ``spf=`` part of Authentication-Results.

    Raises:
        ValueError: *ip* is not an IP address.

    Error handling:
        A resolver :class:`~trimail.mailauth.resolver.TempError` gives ``temperror``;
        several SPF records, a syntax error, too many lookups or void lookups give
        ``permerror`` (§4.4, §4.6, §4.6.4); neither raises. A failing ``exp=``
        lookup only loses the explanation (§6.2).
    """
    client = _Client(_client_ip(ip), helo.strip(), receiver, time_limit_seconds)
    _install()
    token = _RESOLVER.set(resolver)
    try:
        return _check_identities(client, mail_from)
    finally:
        _RESOLVER.reset(token)


def _check_identities(client: _Client, mail_from: str) -> SpfResult:
    """HELO first, then MAIL FROM (RFC 7208 §2.3, §2.4); see :func:`check_spf`."""
    helo_check = None
    if _is_domain(client.helo):
        helo_check = _check(client, "helo", "postmaster", client.helo)
    if not mail_from:
        if helo_check is None:  # no domain to check: none (§4.3), without a lookup
            mailfrom_check = _check(client, "mailfrom", "postmaster", client.helo)
        else:  # the same check_host() call as for HELO (§2.4)
            mailfrom_check = attrs.evolve(helo_check, identity="mailfrom")
        return SpfResult(
            mailfrom_check=mailfrom_check, helo_check=helo_check, null_reverse_path=True
        )
    local_part, at, domain = mail_from.rpartition("@")
    if not at:
        local_part, domain = "", mail_from
    mailfrom_check = _check(client, "mailfrom", local_part or "postmaster", domain)
    return SpfResult(mailfrom_check=mailfrom_check, helo_check=helo_check)
