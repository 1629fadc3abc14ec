"""Local delivery: route forward-paths to accounts and store messages durably.

The routing answers RCPT TO (RFC 5321 §3.6: never an open relay); the delivery runs the
message filters, prepends the trace fields (§4.4) and stores one copy per account. It
returns only after every copy is durable (the store's contract), so the SMTP session
may say 250.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from pathlib import Path

import attrs
import pluggy
import trio

from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mail.trace import received_header, return_path_header
from trimail.server.session_info import SessionInfo
from trimail.server.spool import MessageBuffer
from trimail.storage.api import MailStore
from trimail.users.db import Resolution, UserDatabase
from trimail.verdicts import MessageVerdict, Reject

log = logging.getLogger("trimail.delivery")

INBOX = "INBOX"

R250_RCPT_OK = Reply(code=250, enhanced_status="2.1.5", text="Ok")
R550_NO_SUCH_USER = Reply(code=550, enhanced_status="5.1.1", text="No such user here")
R554_RELAY_DENIED = Reply(
    code=554, enhanced_status="5.7.1", text="Relay access denied: not a local domain"
)
R451_LOCAL_ERROR = Reply(
    code=451, enhanced_status="4.3.0", text="Local error in processing; try again later"
)


@attrs.frozen(kw_only=True)
class RoutedRecipient:
    """An accepted forward-path and the accounts it delivers to."""

    forward_path: Mailbox
    account_ids: tuple[str, ...]


class DeliveryError(Exception):
    """The message could not be stored; the client must retry (451)."""


class LocalDelivery:
    """Routing and delivery into the local mail store.

    Args:
        users: the user database (domains, users, aliases).
        store: the mail store (thread-safe, blocking methods).
        plugins: the plugin manager (message filters).
        hostname: this server's name, for Received.
    """

    def __init__(
        self,
        *,
        users: UserDatabase,
        store: MailStore,
        plugins: pluggy.PluginManager,
        hostname: str,
    ) -> None:
        self.users = users
        self.store = store
        self.plugins = plugins
        self.hostname = hostname

    def route(self, forward_path: Mailbox, *, authenticated: bool) -> Reply | RoutedRecipient:
        """Decide RCPT TO (RFC 5321 §4.1.1.3, §3.6).

        Returns:
            The recipient's accounts, or the refusal reply: 550 5.1.1 for an unknown
            user of a local domain, 554 5.7.1 for other domains (relaying needs an
            authenticated client, and relaying is not offered yet).
        """
        if forward_path.is_postmaster:
            return self._route_postmaster(forward_path)
        resolution, accounts = self.users.resolve(forward_path)
        if resolution is Resolution.LOCAL:
            return RoutedRecipient(forward_path=forward_path, account_ids=accounts)
        if resolution is Resolution.UNKNOWN:
            return R550_NO_SUCH_USER
        return R554_RELAY_DENIED

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
        verdict = await self._filter(session, envelope, message)
        content = message.content()
        if verdict.reject is not None:
            return verdict.reject
        now = datetime.datetime.now(datetime.UTC).astimezone()
        prefix = b"".join(
            [
                return_path_header(envelope.reverse_path),
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
        accounts = list(dict.fromkeys(a for r in recipients for a in r.account_ids))
        mailbox_name = verdict.mailbox_name or INBOX
        failures: list[BaseException] = []

        async def one(account_id: str) -> None:
            try:
                await trio.to_thread.run_sync(
                    self._store_one, account_id, mailbox_name, content, prefix, now
                )
            except Exception as exc:
                log.exception("delivery %s to account %s failed", queue_id, account_id)
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            for account_id in accounts:
                nursery.start_soon(one, account_id)
        if failures:
            raise DeliveryError(f"{len(failures)} of {len(accounts)} copies failed")
        return None

    def _store_one(
        self,
        account_id: str,
        mailbox_name: str,
        message: bytes | Path,
        prefix: bytes,
        now: datetime.datetime,
    ) -> None:
        """Blocking: store one copy, creating the account or mailbox if missing."""
        from trimail.storage.api import NoSuchAccount, NoSuchMailbox

        for _attempt in range(3):
            try:
                self.store.deliver(
                    account_id, mailbox_name, message, prefix=prefix, internal_date=now
                )
                return
            except NoSuchAccount:  # a user added while the store had not seen it yet
                self.store.create_account(account_id)
            except NoSuchMailbox:  # a filter chose a mailbox that does not exist yet
                self.store.create_mailbox(account_id, mailbox_name)
        raise DeliveryError(f"account {account_id}: mailbox {mailbox_name!r} unavailable")

    async def _filter(
        self, session: SessionInfo, envelope: Envelope, message: MessageBuffer
    ) -> MessageVerdict:
        hook = self.plugins.hook.trimail_message_filter
        if not hook.get_hookimpls():
            return MessageVerdict()
        results: list[MessageVerdict] = await trio.to_thread.run_sync(
            lambda: hook(session=session, envelope=envelope, message=message.read_bytes())
        )
        return merge_verdicts(results)


def merge_verdicts(results: Sequence[MessageVerdict]) -> MessageVerdict:
    """Combine message filter answers: the first reject wins, headers add up in order,
    the last mailbox choice wins (`trimail.hookspecs.trimail_message_filter`)."""
    reject = next((v.reject for v in results if v.reject is not None), None)
    headers = tuple(h for v in results for h in v.add_headers)
    mailbox = next((v.mailbox_name for v in reversed(results) if v.mailbox_name), None)
    for header in headers:
        if "\r" in header or "\n" in header or ":" not in header:
            raise ValueError(f"filter header {header!r} must be one 'Name: value' line")
    return MessageVerdict(reject=reject, add_headers=headers, mailbox_name=mailbox)
