"""The retry schedule and what one delivery attempt means for an entry (pure).

After each attempt `settle` folds the per-recipient results into the entry: 2xx marks a
recipient delivered, 5xx failed, 4xx (or no answer) leaves it pending until the entry
is older than ``max_age_seconds`` (then it fails with 4.4.7, RFC 3463). It also says
which delivery status notifications are due (RFC 3461 §4.1 NOTIFY, §6.2): failures,
one delay notice per message, and "relayed" for NOTIFY=SUCCESS when the next hop does
not take DSN requests over. Nothing here reads a clock or a file: *now* and the random
*jitter* come in as arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from trimail.mail.address import Mailbox
from trimail.queue.spool import QueuedRecipient, QueueEntry, RecipientState

STATUS_EXPIRED = "4.4.7"  # RFC 3463: delivery time expired


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When to try again and when to give up (RFC 5321 §4.5.4.1).

    Attributes:
        min_backoff_seconds: wait after the first failed attempt.
        max_backoff_seconds: the wait doubles per attempt up to this.
        max_age_seconds: give up on pending recipients of an entry this old (5 days;
            RFC 5321 §4.5.4.1 says at least 4-5 days).
        delay_warning_seconds: send one delay DSN when an entry is this old and still
            pending; 0 turns delay notices off.
    """

    min_backoff_seconds: float = 300.0
    max_backoff_seconds: float = 4000.0
    max_age_seconds: float = 5 * 86400.0
    delay_warning_seconds: float = 4 * 3600.0

    def backoff(self, attempts: int, jitter: float = 0.0) -> float:
        """Seconds to wait after attempt number *attempts* (1 = the first) failed.

        Args:
            attempts: attempts made so far, at least 1.
            jitter: a random number in [0, 1); adds up to 10 % so that entries that
                failed together do not come back together.
        """
        exponent = max(0, min(attempts - 1, 32))
        wait = min(self.max_backoff_seconds, self.min_backoff_seconds * float(2**exponent))
        return wait * (1.0 + 0.1 * jitter)


class Outcome(enum.Enum):
    """What one attempt did for one recipient."""

    DELIVERED = "delivered"  # 2xx from the next hop, or stored locally
    TEMPORARY = "temporary"  # 4xx, connection failure, timeout: try again
    PERMANENT = "permanent"  # 5xx, null MX, no such domain: give up now


@attrs.frozen(kw_only=True)
class RecipientResult:
    """The result of one attempt for one recipient.

    Attributes:
        forward_path: the recipient.
        outcome: see `Outcome`.
        reply: the next hop's reply (``"550 5.1.1 No such user"``) or what went wrong
            (``"connect to 192.0.2.1: Connection refused"``), one line.
        status: enhanced status code for a DSN (RFC 3463).
        remote_mta: the host that answered, if any.
        dsn_passed_on: the next hop took the DSN request over (it advertised DSN,
            RFC 3461 §5.2), so it reports success itself.
    """

    forward_path: Mailbox
    outcome: Outcome
    reply: str
    status: str
    remote_mta: str | None = None
    dsn_passed_on: bool = False


class ReportKind(enum.Enum):
    """The kinds of DSN (RFC 3464 §2.3.3 Action) a settlement can ask for."""

    FAILED = "failed"
    DELAYED = "delayed"
    RELAYED = "relayed"
    DELIVERED = "delivered"


@attrs.frozen(kw_only=True)
class Report:
    """A DSN to send: one kind, the recipients it is about (snapshots)."""

    kind: ReportKind
    recipients: tuple[QueuedRecipient, ...]


@attrs.frozen(kw_only=True)
class Settlement:
    """The entry after an attempt, and the DSNs due.

    Attributes:
        entry: the updated entry, or None when no recipient is pending any more
            (remove it from the queue).
        reports: DSNs to send to the entry's reverse-path (none for ``<>``).
    """

    entry: QueueEntry | None
    reports: tuple[Report, ...]


def wants(recipient: QueuedRecipient, kind: ReportKind) -> bool:
    """Whether *recipient*'s NOTIFY asks for a DSN of *kind* (RFC 3461 §4.1).

    Without NOTIFY a failure is always reported and a delay is (the MTA's choice,
    §4.1); success only when asked for.
    """
    if recipient.notify is None:
        return kind in (ReportKind.FAILED, ReportKind.DELAYED)
    if "NEVER" in recipient.notify:
        return False
    wanted = {
        ReportKind.FAILED: "FAILURE",
        ReportKind.DELAYED: "DELAY",
        ReportKind.RELAYED: "SUCCESS",
        ReportKind.DELIVERED: "SUCCESS",
    }[kind]
    return wanted in recipient.notify


def settle(
    entry: QueueEntry,
    results: Sequence[RecipientResult],
    *,
    now: float,
    policy: RetryPolicy,
    jitter: float = 0.0,
) -> Settlement:
    """Fold one attempt's *results* into *entry* (which is changed in place).

    Args:
        entry: the entry as loaded before the attempt's results are applied.
        results: per recipient; recipients without a result stay as they were.
        now: Unix time, seconds.
        policy: the retry policy.
        jitter: random in [0, 1) for the backoff.

    Returns:
        The settlement: the entry (None when done) and the DSNs due.
    """
    by_path = {r.forward_path: r for r in results}
    failed: list[QueuedRecipient] = []
    succeeded: list[tuple[QueuedRecipient, ReportKind]] = []
    expired = now - entry.arrival >= policy.max_age_seconds
    for recipient in entry.recipients:
        result = by_path.get(recipient.forward_path)
        if recipient.state is not RecipientState.PENDING or result is None:
            continue
        recipient.last_reply = result.reply
        recipient.status = result.status
        recipient.remote_mta = result.remote_mta
        recipient.last_attempt = now
        if result.outcome is Outcome.DELIVERED:
            recipient.state = RecipientState.DELIVERED
            if not result.dsn_passed_on:
                kind = ReportKind.DELIVERED if result.remote_mta is None else ReportKind.RELAYED
                succeeded.append((recipient, kind))
        elif result.outcome is Outcome.PERMANENT:
            recipient.state = RecipientState.FAILED
            failed.append(recipient)
    if expired:
        for recipient in entry.pending:
            recipient.state = RecipientState.FAILED
            recipient.status = STATUS_EXPIRED
            age = _duration(policy.max_age_seconds)
            last = recipient.last_reply or "no attempt succeeded"
            recipient.last_reply = f"message expired after {age}; last: {last}"
            failed.append(recipient)
    entry.attempts += 1
    reports = []
    if failed:
        reports.append(Report(kind=ReportKind.FAILED, recipients=_snapshots(failed)))
    for kind in (ReportKind.RELAYED, ReportKind.DELIVERED):
        chosen = [r for r, k in succeeded if k is kind and wants(r, kind)]
        if chosen:
            reports.append(Report(kind=kind, recipients=_snapshots(chosen)))
    pending = entry.pending
    if pending and _delay_notice_due(entry, now, policy):
        entry.delay_notified = True
        delayed = [r for r in pending if wants(r, ReportKind.DELAYED)]
        if delayed:
            reports.append(Report(kind=ReportKind.DELAYED, recipients=_snapshots(delayed)))
    if entry.reverse_path is None:
        reports = []  # never a DSN about a DSN (RFC 3461 §6.2, RFC 5321 §6.1)
    else:
        reports = [
            Report(kind=r.kind, recipients=tuple(x for x in r.recipients if wants(x, r.kind)))
            for r in reports
        ]
        reports = [r for r in reports if r.recipients]
    if not pending:
        return Settlement(entry=None, reports=tuple(reports))
    entry.next_attempt = now + policy.backoff(entry.attempts, jitter)
    return Settlement(entry=entry, reports=tuple(reports))


def _duration(seconds: float) -> str:
    """``"5 days"``, ``"4 hours"``, ``"90 seconds"``: a give-up age for people."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _delay_notice_due(entry: QueueEntry, now: float, policy: RetryPolicy) -> bool:
    if policy.delay_warning_seconds <= 0 or entry.delay_notified:
        return False
    return now - entry.arrival >= policy.delay_warning_seconds


def _snapshots(recipients: Sequence[QueuedRecipient]) -> tuple[QueuedRecipient, ...]:
    return tuple(attrs.evolve(r) for r in recipients)
