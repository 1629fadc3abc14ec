"""Built-in plugin: SPF, DKIM and DMARC checks of incoming mail, DKIM signing of outgoing.

Registered like any plugin (`trimail.plugins.BUILTIN_PLUGINS`), so a replacement can
unregister it. Both hooks run in worker threads.

Incoming (``trimail_message_filter``, MX listener only, unauthenticated clients):
SPF of the HELO and MAIL FROM identities (RFC 7208), every DKIM signature (RFC 6376),
DMARC of the From: domain (RFC 7489) from their results, one Authentication-Results
field (RFC 8601) with our authserv-id. Policy (``[mailauth]``): a failing message under
p=reject gets 550 5.7.1 (or goes to Junk), under p=quarantine goes to Junk.

Outgoing (``trimail_outbound_headers``): a DKIM-Signature for the From: domain when a
key from ``trimail dkim generate`` exists for it (relaxed/relaxed, From oversigned).
"""

from __future__ import annotations

import logging
import os
import random

from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mailauth import dkim, dmarc, results
from trimail.mailauth.resolver import Resolver
from trimail.mailauth.spf import check_spf
from trimail.plugins import hookimpl
from trimail.server.dkim_keys import DkimKeys, dkim_key_path
from trimail.server.dns import domain_to_ascii
from trimail.server.session_info import SessionInfo
from trimail.server.submission import from_addresses
from trimail.users.db import UserDatabaseError
from trimail.verdicts import MessageVerdict, Reject

log = logging.getLogger("trimail.mailauth")

JUNK = "Junk"
MAX_FROM_DOMAINS = 5  # DMARC-evaluated From: domains of one message
_SEVERITY = {"none": 0, "quarantine": 1, "reject": 2}


KEYS = DkimKeys()


def header_section(message: bytes) -> bytes:
    """The whole header section of *message* (however long: a From: field or a forged
    Authentication-Results field may hide after any cut-off)."""
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 4]


def from_domains(message: bytes) -> list[str] | None:
    """The RFC5322.From domains as A-labels, in order, without repeats (RFC 7489
    §6.6.1); None when a From: address has no usable domain (or there is none)."""
    addresses = from_addresses(header_section(message))
    domains: list[str] = []
    for address in addresses:
        domain = address.domain.lower().rstrip(".")
        if not domain or domain.startswith("["):
            return None
        try:
            ascii_domain = domain_to_ascii(domain)
        except ValueError:
            return None
        if ascii_domain not in domains:
            domains.append(ascii_domain)
    return domains or None


def _from_domain(message: bytes) -> str | None:
    """The one From: domain, or None if there is not exactly one (for signing)."""
    domains = from_domains(message)
    return domains[0] if domains is not None and len(domains) == 1 else None


@hookimpl
def trimail_message_filter(
    session: SessionInfo,
    envelope: Envelope,
    message: bytes,
    config: Config,
    resolver: Resolver,
) -> MessageVerdict | None:
    """Check SPF, DKIM and DMARC of mail from other servers; see the module docstring."""
    settings = config.mailauth
    if not settings.check_incoming or session.listener != "smtp":
        return None
    if session.authenticated_as is not None:
        return None
    authserv_id = settings.authserv_id or config.hostname
    reverse_path = envelope.reverse_path
    mail_from = str(reverse_path) if isinstance(reverse_path, Mailbox) else ""
    spf = check_spf(
        ip=session.peer_host,
        mail_from=mail_from,
        helo=session.helo_identity,
        resolver=resolver,
        receiver=config.hostname,
    )
    signatures = dkim.verify(message, resolver)
    method_results = [spf.method_result()]
    if not signatures:
        method_results.append(results.MethodResult(method="dkim", result="none"))
    for signature in signatures:
        method_results.append(
            results.dkim(
                signature.result,
                domain=signature.domain,
                selector=signature.selector,
                b=signature.b,
                reason=signature.reason or None,
            )
        )
    arc, arc_reason = dkim.verify_arc(message, resolver)
    if arc != "none":
        method_results.append(results.arc(arc, reason=arc_reason or None))
    domains = from_domains(message)
    reject: Reject | None = None
    mailbox: str | None = None
    if domains is None:
        method_results.append(
            results.MethodResult(
                method="dmarc", result="permerror", reason="no usable From: domain"
            )
        )
    else:
        # RFC 7489 §6.6.1: several From: domains (a spoofing trick; RFC 5322 allows one
        # field) are each evaluated and the strictest disposition applies
        sample = random.random()
        verdicts = [
            dmarc.evaluate(
                domain,
                spf.aligned_domain if spf.result == "pass" else None,
                [s.domain for s in signatures if s.result == "pass"],
                resolver,
                sample=sample,
            )
            for domain in domains[:MAX_FROM_DOMAINS]
        ]
        for domain, verdict in zip(domains, verdicts, strict=False):
            method_results.append(results.dmarc(verdict.result, header_from=domain))
        verdict = max(verdicts, key=lambda v: _SEVERITY[v.disposition])
        from_domain = verdict.domain
        action = {
            "reject": settings.dmarc_reject,
            "quarantine": settings.dmarc_quarantine,
        }.get(verdict.disposition, "deliver")
        if action == "reject":
            reject = Reject(
                reply=Reply(
                    code=550,
                    enhanced_status="5.7.1",
                    text=f"Message rejected by the DMARC policy of {from_domain}",
                )
            )
        elif action == "junk":
            mailbox = JUNK
        if verdict.disposition != "none":
            log.info(
                "%s: DMARC %s for %s (policy %s): %s",
                session.peer_host,
                verdict.result,
                from_domain,
                verdict.policy,
                action,
            )
    header = results.render(authserv_id, method_results).rstrip("\r\n")
    return MessageVerdict(reject=reject, add_headers=(header,), mailbox_name=mailbox)


@hookimpl
def trimail_outbound_headers(
    envelope: Envelope, message: bytes, config: Config
) -> list[str] | None:
    """DKIM-sign a relayed message for its From: domain when a key exists for it."""
    settings = config.mailauth
    if not settings.sign_outgoing:
        return None
    domain = _from_domain(message)
    if domain is None:
        return None
    selector = settings.selectors.get(domain, settings.selector)
    try:  # _from_domain gives A-labels; the path helper still checks the name
        path = dkim_key_path(config.data_dir, domain, selector)
    except UserDatabaseError:
        return None
    key = KEYS.get(path)
    if key is None:
        if os.path.exists(path.parent):
            log.warning("no usable DKIM key %s: %s goes out unsigned", path, domain)
        return None
    try:
        return [dkim.sign(message, domain=domain, selector=selector, key=key)]
    except dkim.DkimSignError as exc:
        log.error("DKIM signing failed: %s", exc)
        return None
