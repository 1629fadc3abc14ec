"""Local delivery: route forward-paths to accounts and store messages durably.

The routing answers RCPT TO (RFC 5321 §3.6: never an open relay); the delivery runs the
message filters, prepends the trace fields (§4.4) and stores one copy per account. It
returns only after every copy is durable (the store's contract), so the SMTP session
may say 250.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mail.trace import received_header, return_path_header
from trimail.mailauth.results import strip_forged
from trimail.server.dns import DnsResolver, ThreadResolver
from trimail.server.hooks import R451_PLUGIN_FAILED, HookFailed, HookRunner
from trimail.server.session_info import SessionInfo
from trimail.server.spool import MessageBuffer
from trimail.storage.api import MailStore
from trimail.users.db import Resolution, UserDatabase
from trimail.verdicts import DeliveryVerdict, MessageVerdict, Reject

if TYPE_CHECKING:
    from trimail.config.model import Config
    from trimail.server.queue_runner import QueueRunner

log = logging.getLogger("trimail.delivery")

INBOX = "INBOX"

# one header field, possibly folded (RFC 5322 §2.2.3): CRLF only before a space or tab,
# no other control characters (RFC 5322 §3.2.2, UTF-8 allowed by RFC 6532)
_ONE_FIELD = re.compile(
    r"[\x21-\x39\x3b-\x7e]+:[^\x00-\x08\x0a-\x1f\x7f]*(?:\r\n[ \t][^\x00-\x08\x0a-\x1f\x7f]*)*"
)
MAX_LINE_OCTETS = 998  # RFC 5322 §2.1.1


def is_one_field(header: object) -> bool:
    """True if *header* is one header field (``Name: value``, folded lines joined with
    CRLF and a space or tab, no trailing CRLF) whose lines fit RFC 5322 §2.1.1."""
    return (
        isinstance(header, str)
        and _ONE_FIELD.fullmatch(header) is not None
        and all(len(line.encode("utf-8")) <= MAX_LINE_OCTETS for line in header.split("\r\n"))
    )


R250_RCPT_OK = Reply(code=250, enhanced_status="2.1.5", text="Ok")
R550_NO_SUCH_USER = Reply(code=550, enhanced_status="5.1.1", text="No such user here")
R554_RELAY_DENIED = Reply(
    code=554, enhanced_status="5.7.1", text="Relay access denied: not a local domain"
)
R550_NO_LITERALS = Reply(
    code=550,
    enhanced_status="5.1.2",
    text="Mail to address literals is not relayed; use a domain name",
)
R550_SPECIAL_USE = Reply(
    code=550,
    enhanced_status="5.1.2",
    text="No mail goes to .invalid, .localhost or single-label domains (RFC 6761)",
)
R451_NO_QUEUE = Reply(
    code=451, enhanced_status="4.4.3", text="Relaying is not available here; try later"
)
R451_LOCAL_ERROR = R451_PLUGIN_FAILED  # one 451 4.3.0 for our own trouble


@attrs.frozen(kw_only=True)
class RoutedRecipient:
    """An accepted forward-path and where it goes.

    Attributes:
        forward_path: the RCPT TO path.
        account_ids: the local accounts it delivers to; empty for a remote recipient.
        remote: another domain's recipient, relayed through the outbound queue
            (accepted only from authenticated clients).
        parameters: the RCPT TO ESMTP parameters (DSN NOTIFY and ORCPT, RFC 3461).
    """

    forward_path: Mailbox
    account_ids: tuple[str, ...] = ()
    remote: bool = False
    parameters: tuple[tuple[str, str | None], ...] = ()


class DeliveryError(Exception):
    """The message could not be stored; the client must retry (451)."""


class LocalDelivery:
    """Routing and delivery into the local mail store.

    Args:
        users: the user database (domains, users, aliases).
        store: the mail store (thread-safe, blocking methods).
        hooks: calls the plugins' hooks (message filters, per-user delivery,
            outbound headers) in threads with a timeout.
        hostname: this server's name, for Received.
        config: the server configuration (passed to the filter hooks; its
            ``[mailauth] authserv_id`` names the Authentication-Results fields that
            are removed from incoming mail).
        dns: the server's resolver; message filters get a thread adapter of it.
        queue: the outbound queue for remote recipients; without it relaying is
            refused (451).
    """

    def __init__(
        self,
        *,
        users: UserDatabase,
        store: MailStore,
        hooks: HookRunner,
        hostname: str,
        config: Config,
        dns: DnsResolver,
        queue: QueueRunner | None = None,
    ) -> None:
        self.users = users
        self.store = store
        self.hooks = hooks
        self.hostname = hostname
        self.config = config
        self.dns = dns
        self.queue = queue
        self.authserv_id = config.mailauth.authserv_id or hostname

    def route(self, forward_path: Mailbox, *, authenticated: bool) -> Reply | RoutedRecipient:
        """Decide RCPT TO (RFC 5321 §4.1.1.3, §3.6).

        Returns:
            The recipient's accounts (or ``remote=True`` for another domain when the
            client is authenticated), or the refusal reply: 550 5.1.1 for an unknown
            user of a local domain, 554 5.7.1 for other domains from unauthenticated
            clients (never an open relay), 550 5.1.2 for an address literal of
            another host (a relay to bare IP addresses is a spam tool, and no
            routing by DNS applies), 451 4.4.3 when there is no queue.
        """
        if forward_path.is_postmaster:
            return self._route_postmaster(forward_path)
        resolution, accounts = self.users.resolve(forward_path)
        if resolution is Resolution.LOCAL:
            return RoutedRecipient(forward_path=forward_path, account_ids=accounts)
        if resolution is Resolution.UNKNOWN:
            return R550_NO_SUCH_USER
        if not authenticated:
            return R554_RELAY_DENIED
        if forward_path.domain.startswith("["):
            return R550_NO_LITERALS
        if _special_use(forward_path.domain):
            return R550_SPECIAL_USE
        if self.queue is None or forward_path.is_postmaster:
            return R451_NO_QUEUE
        return RoutedRecipient(forward_path=forward_path, remote=True)

    def _route_postmaster(self, forward_path: Mailbox) -> Reply | RoutedRecipient:
        # RFC 5321 §4.5.1: <postmaster> without a domain must be accepted. It is the
        # postmaster of this host: the domain of our hostname first, then any local
        # domain with an explicit postmaster, then one whose catch-all takes it.
        domains = self.users.domains()
        host_domain = self.hostname.lower().partition(".")[2]
        ordered = sorted(domains, key=lambda d: d not in (self.hostname.lower(), host_domain))
        for catch_all in (False, True):
            for domain in ordered:
                resolution, accounts = self.users.resolve(
                    Mailbox(local_part="postmaster", domain=domain), catch_all=catch_all
                )
                if resolution is Resolution.LOCAL:
                    return RoutedRecipient(forward_path=forward_path, account_ids=accounts)
        return R550_NO_SUCH_USER

    async def deliver(
        self,
        *,
        session: SessionInfo,
        envelope: Envelope,
        recipients: Sequence[RoutedRecipient],
        message: MessageBuffer,
        queue_id: str,
        protocol: str,
        added_headers: bytes = b"",
    ) -> Reject | None:
        """Filter and store *message* for every recipient's account.

        Args:
            session: the client connection.
            envelope: the transaction's envelope.
            recipients: the accepted recipients, in RCPT order.
            message: the message content as received (CRLF line ends), in memory or
                in a spool file.
            queue_id: the id named in Received and in the 250 reply.
            protocol: the Received ``with`` keyword.
            added_headers: complete header fields (CRLF-terminated) to prepend after
                Received, e.g. Message-ID and Date for submissions.

        Returns:
            None when every copy is durable, or a filter's Reject.

        Raises:
            DeliveryError: a copy could not be stored (the caller answers 451).
        """
        verdict = await self._filter(session, envelope, message, queue_id)
        if verdict.reject is not None:
            return verdict.reject
        content = await trio.to_thread.run_sync(without_forged_results, message, self.authserv_id)
        now = datetime.datetime.now(datetime.UTC).astimezone()
        common = b"".join(
            [
                # filters' fields (Authentication-Results: RFC 8601 §5 prepends them)
                # above our Received, then the submission's Message-ID/Date below it
                *(h.encode("utf-8") + b"\r\n" for h in verdict.add_headers),
                received_header(
                    helo_identity=session.helo_identity,
                    peer_host=session.peer_host,
                    by_host=self.hostname,
                    protocol=protocol,
                    queue_id=queue_id,
                    forward_paths=tuple(r.forward_path for r in recipients),
                    now=now,
                ),
                added_headers,
            ]
        )
        remote = [r for r in recipients if r.remote]
        local = [r for r in recipients if not r.remote]
        prefix = return_path_header(envelope.reverse_path) + common
        mailbox_name = verdict.mailbox_name or INBOX
        plans = await self.plan_local(session, envelope, local, content, prefix, mailbox_name)
        if isinstance(plans, Reject):
            return plans
        hold = held(plans)
        if hold is not None:  # SMTP has one reply for DATA: a tempfail holds the whole message
            log.info("%s: a recipient's delivery rules asked to try again later", queue_id)
            return hold
        refused = refused_recipients(local, plans)
        if local and len(refused) == len(local) and not remote:
            first = next(p.reject for p in plans.values() if p.reject is not None)
            log.info("%s: refused by the recipients' delivery rules", queue_id)
            return first
        if remote:
            await self._enqueue(session, envelope, remote, content, queue_id, common)
        failures: list[BaseException] = []

        async def one(account_id: str, plan: DeliveryVerdict) -> None:
            try:
                await self.store_planned(account_id, plan, mailbox_name, content, prefix, now)
            except Exception as exc:
                log.exception("delivery %s to account %s failed", queue_id, account_id)
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            for account_id, plan in plans.items():
                nursery.start_soon(one, account_id, plan)
        if failures:
            raise DeliveryError(f"{len(failures)} of {len(plans)} copies failed")
        if self.queue is not None and local:
            delivered = [r for r in local if r not in refused]
            await self.queue.report_local_delivery(
                queue_id=queue_id,
                envelope=envelope,
                recipients=delivered,
                head=prefix + message.head(),
            )
            if refused:
                await self.queue.report_local_refusals(
                    queue_id=queue_id,
                    envelope=envelope,
                    refusals=[(r, refused[r]) for r in local if r in refused],
                    head=prefix + message.head(),
                )
        return None

    async def plan_local(
        self,
        session: SessionInfo,
        envelope: Envelope,
        local: Sequence[RoutedRecipient],
        content: bytes | Path,
        prefix: bytes,
        mailbox_name: str,
    ) -> dict[str, DeliveryVerdict] | Reject:
        """Each local account's delivery decision (`trimail_local_delivery`), or the
        451 Reject when that hook failed (nothing is stored or queued then)."""
        first_path: dict[str, Mailbox] = {}
        for r in local:
            for account_id in r.account_ids:
                first_path.setdefault(account_id, r.forward_path)
        plans = {account_id: DeliveryVerdict() for account_id in first_path}
        if not first_path or not self.hooks.has("trimail_local_delivery"):
            return plans
        body = (
            content
            if isinstance(content, bytes)
            else await trio.to_thread.run_sync(content.read_bytes)
        )
        whole = prefix + body
        failed = False

        async def decide(account_id: str, forward_path: Mailbox) -> None:
            nonlocal failed
            address = self.users.address_of(account_id) or forward_path.normalized()
            try:
                result = await self.hooks.call(
                    "trimail_local_delivery",
                    session=session,
                    envelope=envelope,
                    forward_path=forward_path,
                    address=address,
                    account_id=account_id,
                    message=whole,
                    mailbox_name=mailbox_name,
                )
            except HookFailed:
                failed = True
                return
            if isinstance(result, DeliveryVerdict):
                plans[account_id] = result
            elif result is not None:
                log.error("trimail_local_delivery returned %r, not a DeliveryVerdict", result)

        async with trio.open_nursery() as nursery:
            for account_id, forward_path in first_path.items():
                nursery.start_soon(decide, account_id, forward_path)
        if failed:
            return Reject(reply=R451_PLUGIN_FAILED)
        return plans

    async def store_planned(
        self,
        account_id: str,
        plan: DeliveryVerdict,
        default_mailbox: str,
        content: bytes | Path,
        prefix: bytes,
        now: datetime.datetime,
    ) -> None:
        """Store the copies *plan* asks for (one per mailbox, each with its flags; none
        for a discard or a refusal), *default_mailbox* for the implicit keep.

        Raises:
            DeliveryError, StorageError: a copy could not be stored.
        """
        if plan.discard or plan.reject is not None:
            return
        for name in dict.fromkeys(plan.mailboxes or (default_mailbox,)):
            flags = plan.flags_by_mailbox.get(name, plan.flags)
            await trio.to_thread.run_sync(
                self.store_one, account_id, name, content, prefix, now, flags
            )

    async def enqueue_new(
        self,
        session: SessionInfo,
        envelope: Envelope,
        recipients: Sequence[RoutedRecipient],
        message: bytes,
        queue_id: str,
    ) -> None:
        """Queue a complete message made here (a plugin's vacation reply, a notice)
        for *recipients* (local ones too), with the outbound hooks' fields on top.

        Raises:
            DeliveryError: it could not be queued.
        """
        await self._enqueue(session, envelope, recipients, message, queue_id, b"")

    async def _enqueue(
        self,
        session: SessionInfo,
        envelope: Envelope,
        recipients: Sequence[RoutedRecipient],
        content: bytes | Path,
        queue_id: str,
        prefix: bytes,
    ) -> None:
        """Queue *content* (bytes or a spool file) for its remote recipients, with the
        outbound hooks' fields (a DKIM signature over exactly what is queued) on top."""
        if self.queue is None:  # route() never accepts a remote recipient then
            raise DeliveryError("no outbound queue")
        if self.hooks.has("trimail_outbound_headers"):
            body = (
                content
                if isinstance(content, bytes)
                else await trio.to_thread.run_sync(content.read_bytes)
            )
            try:
                added: list[list[str] | None] = await self.hooks.call(
                    "trimail_outbound_headers",
                    envelope=envelope,
                    message=prefix + body,
                    config=self.config,
                )
            except HookFailed as exc:
                raise DeliveryError(str(exc)) from None
            headers = [h for result in added if result for h in result]
            for header in headers:
                if not is_one_field(header):
                    log.error("trimail_outbound_headers gave %r: not one header field", header)
                    raise DeliveryError(f"outbound header {str(header)[:40]!r} is not one field")
            prefix = b"".join(h.encode("utf-8") + b"\r\n" for h in headers) + prefix
        try:
            await self.queue.enqueue(
                queue_id=queue_id,
                envelope=envelope,
                recipients=recipients,
                content=content,
                prefix=prefix,
                submitted_by=session.authenticated_as,
            )
        except Exception as exc:
            log.exception("queue %s: could not be queued", queue_id)
            raise DeliveryError(f"queueing failed: {exc}") from exc

    def store_one(
        self,
        account_id: str,
        mailbox_name: str,
        message: bytes | Path,
        prefix: bytes,
        now: datetime.datetime,
        flags: frozenset[str] = frozenset(),
    ) -> None:
        """Blocking: store one copy, creating the account or mailbox if missing.

        A mailbox name or flag the store refuses (a plugin's choice) is logged and
        the copy goes to INBOX without flags instead: a message is never lost for it.
        """
        from trimail.storage.api import (
            InvalidMailboxName,
            MailboxExists,
            NoSuchAccount,
            NoSuchMailbox,
        )

        for _attempt in range(4):
            try:
                self.store.deliver(
                    account_id, mailbox_name, message, prefix=prefix, flags=flags, internal_date=now
                )
                return
            except ValueError as exc:
                if mailbox_name == INBOX and not flags:
                    raise
                log.error(
                    "account %s: cannot store into %r with flags %s (%s); using INBOX",
                    account_id,
                    mailbox_name,
                    sorted(flags),
                    exc,
                )
                mailbox_name, flags = INBOX, frozenset()
            except NoSuchAccount:  # a user added while the store had not seen it yet
                self.store.create_account(account_id)
            except NoSuchMailbox:  # a filter chose a mailbox that does not exist yet
                try:
                    self.store.create_mailbox(account_id, mailbox_name)
                except MailboxExists:  # created meanwhile by another delivery
                    pass
                except InvalidMailboxName as exc:
                    log.error("account %s: %s; using INBOX", account_id, exc)
                    mailbox_name = INBOX
        raise DeliveryError(f"account {account_id}: mailbox {mailbox_name!r} unavailable")

    async def _filter(
        self, session: SessionInfo, envelope: Envelope, message: MessageBuffer, queue_id: str
    ) -> MessageVerdict:
        if not self.hooks.has("trimail_message_filter"):
            return MessageVerdict()
        data = await trio.to_thread.run_sync(message.read_bytes)
        try:
            results: list[MessageVerdict] = await self.hooks.call(
                "trimail_message_filter",
                session=session,
                envelope=envelope,
                message=data,
                config=self.config,
                resolver=ThreadResolver(self.dns),
                queue_id=queue_id,
            )
        except HookFailed:
            return MessageVerdict(reject=Reject(reply=R451_PLUGIN_FAILED))
        try:
            return merge_verdicts(results)
        except (ValueError, TypeError, AttributeError) as exc:
            log.error("trimail_message_filter returned an unusable verdict: %s", exc)
            return MessageVerdict(reject=Reject(reply=R451_PLUGIN_FAILED))


def held(plans: dict[str, DeliveryVerdict]) -> Reject | None:
    """The first "try again later" (4xx) refusal among the users' plans: it holds the
    whole message, as there is one reply for it (`DeliveryVerdict.reject`)."""
    return next((p.reject for p in plans.values() if p.reject and p.reject.reply.code < 500), None)


def refused_recipients(
    local: Sequence[RoutedRecipient], plans: dict[str, DeliveryVerdict]
) -> dict[RoutedRecipient, Reject]:
    """The local recipients all of whose accounts refused the message, with the first
    refusal (a recipient with one accepting account is delivered)."""
    refused = {}
    for r in local:
        rejects = [plans[a].reject for a in r.account_ids if a in plans]
        if r.account_ids and all(rejects) and rejects[0] is not None:
            refused[r] = rejects[0]
    return refused


def merge_verdicts(results: Sequence[MessageVerdict]) -> MessageVerdict:
    """Combine message filter answers: the first reject wins, headers add up in order,
    the last mailbox choice wins (`trimail.hookspecs.trimail_message_filter`)."""
    reject = next((v.reject for v in results if v.reject is not None), None)
    headers = tuple(h for v in results for h in v.add_headers)
    mailbox = next((v.mailbox_name for v in reversed(results) if v.mailbox_name), None)
    for header in headers:
        if not is_one_field(header):
            raise ValueError(f"filter header {str(header)[:60]!r} must be one header field")
    return MessageVerdict(reject=reject, add_headers=headers, mailbox_name=mailbox)


def _special_use(domain: str) -> bool:
    """True for domains mail can never reach: ``localhost``, ``*.localhost``,
    ``*.invalid`` (RFC 6761 §6.3, §6.4) and single labels (RFC 5321 §2.3.5 wants FQDNs)."""
    name = domain.lower().rstrip(".")
    last = name.rpartition(".")[2]
    return "." not in name or last in ("localhost", "invalid")


def without_forged_results(message: MessageBuffer, authserv_id: str) -> bytes | Path:
    """The message content without Authentication-Results fields that claim
    *authserv_id* (RFC 8601 §5: only we may write those); other octets unchanged.

    Blocking (may read a spool file): run it in a worker thread.

    Returns:
        The content as `MessageBuffer.content` gives it when nothing is removed
        (bytes or a spool file path), else the changed bytes.
    """
    head = message.head()
    end = head.find(b"\r\n\r\n")
    if end < 0 and len(head) < message.size:  # a header section over the head's size
        head = message.read_bytes()
        end = head.find(b"\r\n\r\n")
    header = head if end < 0 else head[: end + 2]
    if b"authentication-results" not in header.lower():
        return message.content()
    data = message.read_bytes()
    end = data.find(b"\r\n\r\n")
    header, body = (data, b"") if end < 0 else (data[: end + 2], data[end + 2 :])
    stripped = strip_forged(header, authserv_id)
    if stripped == header:
        return message.content()
    log.info("removed an Authentication-Results field that claimed %s", authserv_id)
    return stripped + body
