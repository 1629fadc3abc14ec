"""Retry schedule and settlement: which recipients are done, which DSNs are due."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.address import Mailbox
from trimail.queue.schedule import (
    Outcome,
    RecipientResult,
    ReportKind,
    RetryPolicy,
    settle,
    wants,
)
from trimail.queue.spool import QueuedRecipient, QueueEntry, RecipientState

SENDER = Mailbox(local_part="alice", domain="example.org")
A = Mailbox(local_part="a", domain="remote.example")
B = Mailbox(local_part="b", domain="remote.example")
C = Mailbox(local_part="c", domain="other.example")
POLICY = RetryPolicy(
    min_backoff_seconds=300,
    max_backoff_seconds=4000,
    max_age_seconds=5 * 86400,
    delay_warning_seconds=4 * 3600,
)
T0 = 1_700_000_000.0


def entry(*recipients: QueuedRecipient, reverse_path: Mailbox | None = SENDER) -> QueueEntry:
    return QueueEntry(
        queue_id="0123456789AB",
        reverse_path=reverse_path,
        recipients=list(recipients),
        arrival=T0,
        next_attempt=T0,
    )


def rcpt(path: Mailbox, notify: tuple[str, ...] | None = None) -> QueuedRecipient:
    return QueuedRecipient(forward_path=path, notify=notify)


def result(path: Mailbox, outcome: Outcome, reply: str = "", **kw: object) -> RecipientResult:
    status = {"delivered": "2.0.0", "temporary": "4.0.0", "permanent": "5.1.1"}[outcome.value]
    return RecipientResult(
        forward_path=path,
        outcome=outcome,
        reply=reply or status,
        status=status,
        **kw,  # type: ignore[arg-type]
    )


def test_backoff_doubles_up_to_the_maximum() -> None:
    waits = [POLICY.backoff(n) for n in range(1, 8)]
    assert waits == [300, 600, 1200, 2400, 4000, 4000, 4000]
    assert POLICY.backoff(1, jitter=0.999) < 300 * 1.1
    assert POLICY.backoff(10_000) == 4000  # no overflow after many attempts


def test_all_delivered_removes_the_entry_without_reports() -> None:
    settled = settle(
        entry(rcpt(A), rcpt(B)),
        [
            result(A, Outcome.DELIVERED, remote_mta="mx"),
            result(B, Outcome.DELIVERED, remote_mta="mx"),
        ],
        now=T0 + 10,
        policy=POLICY,
    )
    assert settled.entry is None and settled.reports == ()


def test_mixed_results_fail_one_keep_one_and_report_the_failure() -> None:
    settled = settle(
        entry(rcpt(A), rcpt(B), rcpt(C)),
        [
            result(A, Outcome.DELIVERED, remote_mta="mx"),
            result(B, Outcome.PERMANENT, "550 5.1.1 no such user", remote_mta="mx"),
            result(C, Outcome.TEMPORARY, "451 4.3.0 try later", remote_mta="mx2"),
        ],
        now=T0 + 10,
        policy=POLICY,
        jitter=0.0,
    )
    assert settled.entry is not None
    states = {r.forward_path: r.state for r in settled.entry.recipients}
    assert states == {
        A: RecipientState.DELIVERED,
        B: RecipientState.FAILED,
        C: RecipientState.PENDING,
    }
    assert settled.entry.next_attempt == T0 + 10 + 300
    assert settled.entry.attempts == 1
    (report,) = settled.reports
    assert report.kind is ReportKind.FAILED
    assert [r.forward_path for r in report.recipients] == [B]
    assert report.recipients[0].last_reply == "550 5.1.1 no such user"


def test_expiry_fails_pending_recipients_with_4_4_7() -> None:
    settled = settle(
        entry(rcpt(A)),
        [result(A, Outcome.TEMPORARY, "connect to mx: refused")],
        now=T0 + 5 * 86400,
        policy=POLICY,
    )
    assert settled.entry is None
    (report,) = settled.reports
    assert report.kind is ReportKind.FAILED
    assert report.recipients[0].status == "4.4.7"
    assert "connect to mx: refused" in (report.recipients[0].last_reply or "")


def test_one_delay_notice_per_message() -> None:
    queued = entry(rcpt(A))
    first = settle(queued, [result(A, Outcome.TEMPORARY)], now=T0 + 4 * 3600, policy=POLICY)
    assert [r.kind for r in first.reports] == [ReportKind.DELAYED]
    assert first.entry is not None
    second = settle(first.entry, [result(A, Outcome.TEMPORARY)], now=T0 + 8 * 3600, policy=POLICY)
    assert second.reports == ()


def test_delay_notices_can_be_turned_off() -> None:
    policy = RetryPolicy(delay_warning_seconds=0)
    settled = settle(entry(rcpt(A)), [result(A, Outcome.TEMPORARY)], now=T0 + 86400, policy=policy)
    assert settled.reports == ()


def test_never_a_report_to_the_null_reverse_path() -> None:
    settled = settle(
        entry(rcpt(A), reverse_path=None),
        [result(A, Outcome.PERMANENT)],
        now=T0 + 1,
        policy=POLICY,
    )
    assert settled.entry is None and settled.reports == ()


@pytest.mark.parametrize(
    ("notify", "passed_on", "expected"),
    [
        (None, False, []),  # success is reported only when asked for
        (("SUCCESS",), False, [ReportKind.RELAYED]),  # next hop without DSN: "relayed"
        (("SUCCESS",), True, []),  # next hop took the request over
        (("NEVER",), False, []),
    ],
)
def test_success_reports_follow_notify(
    notify: tuple[str, ...] | None, passed_on: bool, expected: list[ReportKind]
) -> None:
    settled = settle(
        entry(rcpt(A, notify)),
        [result(A, Outcome.DELIVERED, remote_mta="mx", dsn_passed_on=passed_on)],
        now=T0 + 1,
        policy=POLICY,
    )
    assert [r.kind for r in settled.reports] == expected


def test_notify_never_and_delay_only_suppress_failure_reports() -> None:
    settled = settle(
        entry(rcpt(A, ("NEVER",)), rcpt(B, ("DELAY",)), rcpt(C)),
        [result(p, Outcome.PERMANENT) for p in (A, B, C)],
        now=T0 + 1,
        policy=POLICY,
    )
    (report,) = settled.reports
    assert [r.forward_path for r in report.recipients] == [C]


def test_recipients_without_a_result_are_left_as_they_were() -> None:
    settled = settle(entry(rcpt(A), rcpt(B)), [result(A, Outcome.DELIVERED)], now=T0, policy=POLICY)
    assert settled.entry is not None and settled.entry.pending[0].forward_path == B


def test_wants_defaults() -> None:
    plain = rcpt(A)
    assert wants(plain, ReportKind.FAILED) and wants(plain, ReportKind.DELAYED)
    assert not wants(plain, ReportKind.RELAYED)


outcomes = st.sampled_from(list(Outcome))


@given(st.lists(outcomes, min_size=1, max_size=6), st.floats(0, 10 * 86400), st.floats(0, 0.999))
def test_settlement_invariants(kinds: list[Outcome], age: float, jitter: float) -> None:
    paths = [Mailbox(local_part=f"r{i}", domain="x.example") for i in range(len(kinds))]
    queued = entry(*(rcpt(p) for p in paths))
    settled = settle(
        queued,
        [result(p, k) for p, k in zip(paths, kinds, strict=True)],
        now=T0 + age,
        policy=POLICY,
        jitter=jitter,
    )
    expired = age >= POLICY.max_age_seconds
    if settled.entry is None:
        assert expired or Outcome.TEMPORARY not in kinds
    else:
        assert not expired and settled.entry.pending
        assert settled.entry.next_attempt > T0 + age
    reported = {
        r.forward_path
        for rep in settled.reports
        if rep.kind is ReportKind.FAILED
        for r in rep.recipients
    }
    failed = {
        p
        for p, k in zip(paths, kinds, strict=True)
        if k is Outcome.PERMANENT or (expired and k is Outcome.TEMPORARY)
    }
    assert reported == failed
