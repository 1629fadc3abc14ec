"""The queue runner: the Trio task that delivers queued mail, retries, and bounces.

One runner per server: the worker process that holds ``<queue>/runner.lock`` (flock)
runs it; the others only enqueue, and their entries are seen within
``[queue] poll_seconds``. If that worker dies, another takes the lock over.

Each attempt of an entry groups its pending recipients by domain, delivers each group
(local domains into the store, others through `trimail.server.outbound`), then settles
the results (`trimail.queue.schedule.settle`): delivery status notifications go out
first (as new queue entries with the null reverse-path), then the entry is updated or
removed. A crash between the two repeats the attempt: delivery is at least once.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import math
import os
import random
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import attrs
import trio

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.dsn import DsnMailParams, DsnRcptParams
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mail.trace import return_path_header
from trimail.plugins import QueueEvent, QueueEventKind
from trimail.queue.dsn import RecipientStatus, build_dsn, is_status, return_content_for
from trimail.queue.schedule import (
    STATUS_EXPIRED,
    Outcome,
    RecipientResult,
    Report,
    ReportKind,
    RetryPolicy,
    settle,
)
from trimail.queue.spool import QueuedRecipient, QueueEntry, Spool, SpoolError
from trimail.server.delivery import INBOX, LocalDelivery, RoutedRecipient, held, refused_recipients
from trimail.server.outbound import reply_status, reply_text
from trimail.server.session_info import INTERNAL
from trimail.users.db import Resolution
from trimail.verdicts import Reject

log = logging.getLogger("trimail.queue")

LOCK_RETRY_FACTOR = 5  # a worker without the runner lock tries again every 5 polls


class Transport(Protocol):
    """Delivers to one remote domain (see `trimail.server.outbound.SmtpTransport`)."""

    async def deliver(
        self, entry: QueueEntry, domain: str, recipients: Sequence[QueuedRecipient], message: bytes
    ) -> list[RecipientResult]:
        """Try the domain's next hops once; one result per recipient."""
        ...


def new_queue_id() -> str:
    """A fresh queue id: 12 upper-case hex digits (also used in Received and logs)."""
    return secrets.token_hex(6).upper()


class QueueRunner:
    """Enqueues messages and runs their delivery.

    Args:
        spool: the queue directory.
        policy: retry and give-up times.
        transport: delivery to remote domains.
        local: the local delivery (user database and store) for local recipients
            (DSNs to local senders, mainly).
        hostname: this server's name (DSN Reporting-MTA, MAILER-DAEMON address).
        max_deliveries: attempts in parallel.
        poll_seconds: how often the queue directory is checked for outside changes.
        clock: Unix time, seconds.
    """

    def __init__(
        self,
        *,
        spool: Spool,
        policy: RetryPolicy,
        transport: Transport,
        local: LocalDelivery,
        hostname: str,
        max_deliveries: int = 20,
        poll_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.policy = policy
        self.transport = transport
        self.local = local
        self.hostname = hostname
        self.max_deliveries = max_deliveries
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._random = random.Random()
        self._schedule: dict[str, float] = {}
        self._in_flight: set[str] = set()
        self._version = -1
        self._last_scan = -math.inf
        self._wake = trio.Event()
        self._lock_fd: int | None = None
        self._stopping = False

    def begin_shutdown(self) -> None:
        """Start no new attempts; `run` returns once the attempts in flight end."""
        self._stopping = True
        self._wake.set()

    # -- enqueue (any worker) --------------------------------------------------------

    async def enqueue(
        self,
        *,
        queue_id: str,
        envelope: Envelope,
        recipients: Sequence[RoutedRecipient],
        content: bytes | Path,
        prefix: bytes = b"",
        submitted_by: str | None = None,
    ) -> None:
        """Put a message in the queue durably (fsynced) and wake the runner.

        Args:
            queue_id: from `new_queue_id`.
            envelope: reverse-path, MAIL parameters (BODY, RET, ENVID), SMTPUTF8.
            recipients: the forward-paths for this queue entry, with their RCPT
                parameters (DSN NOTIFY, ORCPT).
            content: the message, or a spool file holding it.
            prefix: header fields to put first (trace fields, signatures).
            submitted_by: the authenticated user, for `trimail queue show`.

        Raises:
            SpoolError: the entry could not be written; the client must get a 4xx.
            trimail.mail.dsn.DsnParameterError: malformed DSN parameters (the SMTP
                engine checks them first, so only a caller's bug gets here).
        """
        mail_params = DsnMailParams.from_parameters(envelope.parameters)
        queued = []
        seen: set[str] = set()
        for request in recipients:
            key = request.forward_path.normalized()
            if key in seen:  # one copy per recipient, however often RCPT named it
                continue
            seen.add(key)
            rcpt = DsnRcptParams.from_parameters(request.parameters)
            queued.append(
                QueuedRecipient(
                    forward_path=request.forward_path,
                    notify=tuple(sorted(rcpt.notify)) if rcpt.notify is not None else None,
                    orcpt=rcpt.orcpt,
                )
            )
        body = next((v for k, v in envelope.parameters if k == "BODY"), None)
        now = self.clock()
        entry = QueueEntry(
            queue_id=queue_id,
            reverse_path=envelope.reverse_path
            if isinstance(envelope.reverse_path, Mailbox)
            else None,
            recipients=queued,
            arrival=now,
            smtputf8=envelope.smtputf8,
            body=body.upper() if body else None,
            envid=mail_params.envid,
            ret=mail_params.ret,
            next_attempt=now,
            submitted_by=submitted_by,
        )
        await trio.to_thread.run_sync(self.spool.enqueue, entry, content, prefix)
        log.info(
            "queued %s from=<%s> to=%s size=%d",
            queue_id,
            envelope.reverse_path,
            ",".join(f"<{r.forward_path}>" for r in recipients),
            entry.size,
        )
        self._schedule[queue_id] = now
        self._wake.set()
        self.local.hooks.notify_soon(
            "trimail_queue_event",
            event=QueueEvent(
                kind=QueueEventKind.QUEUED,
                queue_id=queue_id,
                reverse_path=str(envelope.reverse_path),
                recipients=tuple(str(r.forward_path) for r in queued),
                time=now,
            ),
        )

    def wake(self) -> None:
        """Look at the queue now (after `trimail queue flush` in this process, tests)."""
        self._wake.set()

    # -- the runner (one worker) -----------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled: take the runner lock, then deliver what is due."""
        await trio.to_thread.run_sync(self.spool.open)
        task_status.started()
        try:
            while not await trio.to_thread.run_sync(self._try_lock):
                with trio.move_on_after(self.poll_seconds * LOCK_RETRY_FACTOR):
                    await self._wait_for_stop()
                if self._stopping:
                    return
            log.info("queue runner started in process %d", os.getpid())
            async with trio.open_nursery() as nursery:
                while not self._stopping:
                    await self._rescan_if_changed()
                    self._start_due(nursery)
                    await self._sleep_until_due()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    async def _wait_for_stop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake = trio.Event()

    def _try_lock(self) -> bool:
        fd = os.open(self.spool.root / "runner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    async def _rescan_if_changed(self) -> None:
        """Read every entry's due time again when the directory changed, at most once
        per poll (this runner's own changes are in the schedule already)."""
        if trio.current_time() - self._last_scan < self.poll_seconds:
            return
        version = await trio.to_thread.run_sync(self.spool.version)
        if version == self._version:
            return
        self._version = version
        self._last_scan = trio.current_time()

        def scan() -> dict[str, float]:
            return {e.queue_id: e.next_attempt for e in self.spool.entries()}

        self._schedule = await trio.to_thread.run_sync(scan)

    def _start_due(self, nursery: trio.Nursery) -> None:
        now = self.clock()
        due = sorted((t, q) for q, t in self._schedule.items() if t <= now)
        for _when, queue_id in due:
            if len(self._in_flight) >= self.max_deliveries or self._stopping:
                break
            if queue_id not in self._in_flight:
                self._in_flight.add(queue_id)
                nursery.start_soon(self._attempt, queue_id)

    async def _sleep_until_due(self) -> None:
        waiting = [t for q, t in self._schedule.items() if q not in self._in_flight]
        delay = self.poll_seconds
        if waiting and len(self._in_flight) < self.max_deliveries:
            delay = max(0.0, min(delay, min(waiting) - self.clock()))
        with trio.move_on_after(delay):
            await self._wake.wait()
        self._wake = trio.Event()

    async def _attempt(self, queue_id: str) -> None:
        try:
            await self._attempt_once(queue_id)
        except Exception:
            log.exception("queue %s: attempt failed; trying again later", queue_id)
            self._schedule[queue_id] = self.clock() + self.policy.min_backoff_seconds
        finally:
            self._in_flight.discard(queue_id)
            self._wake.set()

    async def _attempt_once(self, queue_id: str) -> None:
        entry = await trio.to_thread.run_sync(self.spool.load, queue_id)
        if entry is None:
            self._schedule.pop(queue_id, None)
            return
        if entry.next_attempt > self.clock():  # rescheduled meanwhile
            self._schedule[queue_id] = entry.next_attempt
            return
        try:
            message = await trio.to_thread.run_sync(self.spool.read_message, queue_id)
        except SpoolError as exc:  # metadata without its message: unusable, set aside
            log.error("queue %s: %s; entry moved to %s", queue_id, exc, self.spool.corrupt_dir)
            await trio.to_thread.run_sync(self.spool.quarantine, queue_id)
            self._schedule.pop(queue_id, None)
            return
        results = await self._deliver_groups(entry, message)
        now = self.clock()
        jitter = self._random.random()
        fresh = await trio.to_thread.run_sync(self.spool.load, queue_id)
        if fresh is None:  # deleted by the operator meanwhile: no reports
            self._schedule.pop(queue_id, None)
            log.info("queue %s: deleted during the attempt", queue_id)
            return
        # settle twice on purpose: first on a copy, to queue the DSNs before the entry
        # changes (a crash in between repeats them rather than losing them), then under
        # the queue lock on the entry as it is then (`trimail queue` may have changed it)
        preview = settle(fresh, results, now=now, policy=self.policy, jitter=jitter)
        for report in preview.reports:
            await self.send_report(entry, report, message)

        def apply(current: QueueEntry) -> QueueEntry | None:
            return settle(current, results, now=now, policy=self.policy, jitter=jitter).entry

        updated = await trio.to_thread.run_sync(self.spool.update, queue_id, apply)
        self._announce(entry, results, updated)
        for result in results:
            log.info(
                "queue %s: to=<%s> relay=%s %s: %s",
                queue_id,
                result.forward_path,
                result.remote_mta or "none",
                result.outcome.value,
                result.reply,
            )
        if updated is None:
            self._schedule.pop(queue_id, None)
            log.info("queue %s: done, removed", queue_id)
        else:
            self._schedule[queue_id] = updated.next_attempt

    def _announce(
        self,
        entry: QueueEntry,
        results: Sequence[RecipientResult],
        updated: QueueEntry | None,
    ) -> None:
        """One `trimail_queue_event` per recipient of an attempt (failures logged)."""
        if not self.local.hooks.has("trimail_queue_event"):
            return
        still = {r.forward_path.normalized() for r in updated.pending} if updated else set()
        for result in results:
            kind = _EVENT_KINDS[result.outcome]
            if kind is QueueEventKind.DEFERRED and result.forward_path.normalized() not in still:
                kind = QueueEventKind.EXPIRED
            self.local.hooks.notify_soon(
                "trimail_queue_event",
                event=QueueEvent(
                    kind=kind,
                    queue_id=entry.queue_id,
                    reverse_path=str(entry.reverse_path or ""),
                    recipient=str(result.forward_path),
                    recipients=(str(result.forward_path),),
                    reply=result.reply,
                    remote_mta=result.remote_mta or "",
                    time=self.clock(),
                ),
            )

    async def _deliver_groups(self, entry: QueueEntry, message: bytes) -> list[RecipientResult]:
        groups: dict[str, list[QueuedRecipient]] = {}
        for recipient in entry.pending:
            groups.setdefault(recipient.forward_path.domain.lower(), []).append(recipient)
        results: list[RecipientResult] = []

        async def one(domain: str, recipients: list[QueuedRecipient]) -> None:
            local = self.local.users.resolve(recipients[0].forward_path)[0]
            if local is not Resolution.NOT_LOCAL:
                results.extend(await self._deliver_local(entry, recipients, message))
            else:
                results.extend(await self.transport.deliver(entry, domain, recipients, message))

        async with trio.open_nursery() as nursery:
            for domain, recipients in groups.items():
                nursery.start_soon(one, domain, recipients)
        return results

    async def _deliver_local(
        self, entry: QueueEntry, recipients: Sequence[QueuedRecipient], message: bytes
    ) -> list[RecipientResult]:
        """Store queued mail for local recipients (DSNs, plugins' outbox messages),
        through the per-user delivery hook (Sieve) as mail from a client would."""
        results = []
        when = datetime.datetime.now(datetime.UTC).astimezone()
        prefix = return_path_header(entry.reverse_path or NULL_PATH)
        for recipient in recipients:
            resolution, accounts = self.local.users.resolve(recipient.forward_path)
            if resolution is not Resolution.LOCAL:
                results.append(
                    _result(recipient, Outcome.PERMANENT, "550 5.1.1 No such user here", "5.1.1")
                )
                continue
            envelope = Envelope(
                reverse_path=entry.reverse_path or NULL_PATH,
                forward_paths=(recipient.forward_path,),
                smtputf8=entry.smtputf8,
            )
            routed = RoutedRecipient(forward_path=recipient.forward_path, account_ids=accounts)
            planned = await self.local.plan_local(
                INTERNAL, envelope, [routed], message, prefix, INBOX
            )
            plans = {} if isinstance(planned, Reject) else planned
            refusal = (  # the delivery hook failed, or a user said later, or all refused
                planned
                if isinstance(planned, Reject)
                else held(plans) or refused_recipients([routed], plans).get(routed)
            )
            if refusal is not None:
                reply = refusal.reply
                outcome = Outcome.TEMPORARY if reply.code < 500 else Outcome.PERMANENT
                status = reply_status(reply)
                text = reply_text(attrs.evolve(reply, enhanced_status=status))
                results.append(_result(recipient, outcome, text, status))
                continue
            try:
                for account_id, plan in plans.items():
                    await self.local.store_planned(account_id, plan, INBOX, message, prefix, when)
            except Exception as exc:
                log.exception(
                    "queue %s: local delivery to <%s> failed",
                    entry.queue_id,
                    recipient.forward_path,
                )
                results.append(
                    _result(recipient, Outcome.TEMPORARY, f"local delivery failed: {exc}", "4.3.0")
                )
            else:
                results.append(
                    _result(recipient, Outcome.DELIVERED, "250 2.0.0 delivered to mailbox", "2.0.0")
                )
        return results

    async def report_local_delivery(
        self,
        *,
        queue_id: str,
        envelope: Envelope,
        recipients: Sequence[RoutedRecipient],
        head: bytes,
    ) -> None:
        """Send "delivered" DSNs for local recipients that asked with NOTIFY=SUCCESS
        (RFC 3461 §4.1, RFC 3464 §2.3.3). Errors are logged, never raised: the
        message itself is delivered.

        Args:
            queue_id: the delivered message's id.
            envelope: its envelope (reverse-path, ENVID, RET).
            recipients: the local recipients, with their RCPT parameters.
            head: the start of the message (at least its header section).
        """
        await self._report_local(
            queue_id, envelope, [(r, R250_STORED) for r in recipients], head, ReportKind.DELIVERED
        )

    async def report_local_refusals(
        self,
        *,
        queue_id: str,
        envelope: Envelope,
        refusals: Sequence[tuple[RoutedRecipient, Reject]],
        head: bytes,
    ) -> None:
        """Send a "failed" DSN for local recipients whose delivery rules refused the
        message (`trimail.verdicts.DeliveryVerdict.reject`, e.g. Sieve reject, RFC
        5429 §2.1) while others took it, unless they asked NOTIFY without FAILURE
        (RFC 3461 §4.1). Errors are logged, never raised.

        Args:
            queue_id: the message's id.
            envelope: its envelope (reverse-path, ENVID, RET).
            refusals: each refused recipient and the refusal.
            head: the start of the message (at least its header section).
        """
        replies = [(r, refusal.reply) for r, refusal in refusals]
        await self._report_local(queue_id, envelope, replies, head, ReportKind.FAILED)

    async def _report_local(
        self,
        queue_id: str,
        envelope: Envelope,
        recipients: Sequence[tuple[RoutedRecipient, Reply]],
        head: bytes,
        kind: ReportKind,
    ) -> None:
        if not isinstance(envelope.reverse_path, Mailbox):
            return
        try:
            mail = DsnMailParams.from_parameters(envelope.parameters)
            wanted = []
            for recipient, reply in recipients:
                rcpt = DsnRcptParams.from_parameters(recipient.parameters)
                if kind is ReportKind.DELIVERED:
                    asked = rcpt.notify is not None and "SUCCESS" in rcpt.notify
                else:
                    asked = rcpt.notify is None or "FAILURE" in rcpt.notify
                if asked:
                    wanted.append(
                        QueuedRecipient(
                            forward_path=recipient.forward_path,
                            orcpt=rcpt.orcpt,
                            status=reply_status(reply),
                            last_reply=reply_text(reply),
                            last_attempt=self.clock(),
                        )
                    )
            if not wanted:
                return
            entry = QueueEntry(
                queue_id=queue_id,
                reverse_path=envelope.reverse_path,
                recipients=wanted,
                arrival=self.clock(),
                smtputf8=envelope.smtputf8,
                envid=mail.envid,
                ret=mail.ret,
            )
            report = Report(kind=kind, recipients=tuple(wanted))
            await self.send_report(entry, report, head)
        except Exception:
            log.exception("%s: the %s report could not be queued", queue_id, kind.value)

    async def send_report(self, entry: QueueEntry, report: Report, message: bytes) -> None:
        """Queue a DSN about *report* to the entry's reverse-path (never to ``<>``).

        Args:
            entry: the message's queue entry (reverse-path, ENVID, RET, arrival).
            report: the kind and the recipients it is about.
            message: the message (or at least its header section, for reports that
                return only headers).

        Raises:
            SpoolError: the DSN could not be queued.
        """
        if entry.reverse_path is None:
            return
        now = datetime.datetime.now(datetime.UTC)
        queue_id = new_queue_id()
        statuses = [_status(r, report.kind, self.policy, entry) for r in report.recipients]
        dsn = build_dsn(
            reporting_mta=self.hostname,
            original_envelope_id=entry.envid,
            arrival_date=datetime.datetime.fromtimestamp(entry.arrival, datetime.UTC),
            recipients=statuses,
            original=message,
            return_content=return_content_for(entry.ret, report.kind.value),
            reverse_path=entry.reverse_path,
            from_address=f"MAILER-DAEMON@{self.hostname}",
            message_id=f"<{queue_id}.dsn@{self.hostname}>",
            now=now,
            smtputf8=entry.smtputf8,
        )
        body = () if dsn.isascii() else (("BODY", "8BITMIME"),)  # RFC 6152
        envelope = Envelope(reverse_path=NULL_PATH, parameters=body, smtputf8=entry.smtputf8)
        await self.enqueue(
            queue_id=queue_id,
            envelope=envelope,
            recipients=[RoutedRecipient(forward_path=entry.reverse_path, remote=True)],
            content=dsn,
        )
        log.info(
            "queue %s: %s DSN %s to <%s> for %s",
            entry.queue_id,
            report.kind.value,
            queue_id,
            entry.reverse_path,
            ",".join(f"<{r.forward_path}>" for r in report.recipients),
        )


def _status(
    recipient: QueuedRecipient, kind: ReportKind, policy: RetryPolicy, entry: QueueEntry
) -> RecipientStatus:
    default = {"failed": "5.0.0", "delayed": "4.0.0"}.get(kind.value, "2.0.0")
    will_retry = None
    if kind is ReportKind.DELAYED:
        will_retry = datetime.datetime.fromtimestamp(
            entry.arrival + policy.max_age_seconds, datetime.UTC
        )
    status = recipient.status or default
    if not is_status(status):
        status = default
    if kind is ReportKind.FAILED and status.startswith("4") and status != STATUS_EXPIRED:
        status = "5" + status[1:]  # a temporary reply that ended the attempt for good
    return RecipientStatus(
        final_recipient=recipient.forward_path,
        original_recipient=recipient.orcpt,
        action=kind.value,
        status=status,
        remote_mta=recipient.remote_mta,
        diagnostic=recipient.last_reply,
        last_attempt=(
            datetime.datetime.fromtimestamp(recipient.last_attempt, datetime.UTC)
            if recipient.last_attempt is not None
            else None
        ),
        will_retry_until=will_retry,
    )


def _result(
    recipient: QueuedRecipient, outcome: Outcome, reply: str, status: str
) -> RecipientResult:
    return RecipientResult(
        forward_path=recipient.forward_path, outcome=outcome, reply=reply, status=status
    )


R250_STORED = Reply(code=250, enhanced_status="2.0.0", text="delivered to mailbox")

_EVENT_KINDS = {
    Outcome.DELIVERED: QueueEventKind.DELIVERED,
    Outcome.TEMPORARY: QueueEventKind.DEFERRED,
    Outcome.PERMANENT: QueueEventKind.FAILED,
}
