"""Vacation (RFC 5230): when not to respond, the response itself, once per :days with a
fake clock, and a failing outbox that must not fail delivery."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from trimail_sieve import SievePlugin, SieveSettings
from trimail_sieve.message import Headers
from trimail_sieve.script import Vacation
from trimail_sieve.store import SieveStore
from trimail_sieve.vacation import (
    DAY_SECONDS,
    build_response,
    default_handle,
    period_seconds,
    reason_not_to_respond,
)

from trimail.mail.address import NULL_PATH, Mailbox, ReversePath
from trimail.mail.envelope import Envelope
from trimail.verdicts import DeliveryVerdict

USER = "bob@example.org"
BASE = b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: Lunch?\r\n"


def why(extra: bytes = b"", *, base: bytes = BASE, sender: str = "alice@example.com") -> str | None:
    headers = Headers.parse(base + extra + b"\r\nbody\r\n")
    return reason_not_to_respond(headers=headers, sender=sender, user_addresses=[USER])


def test_an_ordinary_message_gets_a_response() -> None:
    assert why() is None
    assert why(b"Auto-Submitted: no\r\n") is None  # RFC 3834 §5: "no" is a person
    assert why(base=b"From: a@example.com\r\nCc: x@y.org, BOB@example.org\r\n") is None
    assert why(base=b"From: a@example.com\r\nBcc: bob@example.org\r\n") is None
    assert why(base=b"From: a@example.com\r\nResent-To: bob@example.org\r\n") is None


@pytest.mark.parametrize(
    ("extra", "sender", "words"),
    [
        (b"", "", "null reverse-path"),
        (b"", "bob@example.org", "sent by the user"),
        (b"", "BOB@Example.org", "sent by the user"),
        (b"", "MAILER-DAEMON@example.com", "robot"),
        (b"", "owner-list@example.com", "robot"),
        (b"", "list-request@example.com", "robot"),
        (b"", "noreply@example.com", "robot"),
        (b"", "list-bounces@example.com", "robot"),
        (b"Auto-Submitted: auto-replied\r\n", "alice@example.com", "auto-submitted"),
        (b"Auto-Submitted: auto-generated; x=y\r\n", "alice@example.com", "auto-submitted"),
        (b"Precedence: bulk\r\n", "alice@example.com", "precedence"),
        (b"Precedence: list\r\n", "alice@example.com", "precedence"),
        (b"Precedence: Junk\r\n", "alice@example.com", "precedence"),
        (b"Precedence: list (from a mailing list)\r\n", "alice@example.com", "precedence"),
        (b"List-Id: <talk.example.com>\r\n", "alice@example.com", "mailing list"),
        (b"List-Unsubscribe: <mailto:u@example.com>\r\n", "alice@example.com", "mailing list"),
        (b"X-Auto-Response-Suppress: OOF\r\n", "alice@example.com", "suppressed"),
    ],
)
def test_never_respond(extra: bytes, sender: str, words: str) -> None:
    reason = why(extra, sender=sender)
    assert reason is not None and words in reason


def test_never_respond_when_not_addressed_to_the_user() -> None:
    reason = why(base=b"From: a@example.com\r\nTo: list@example.com\r\n")
    assert reason is not None and "not in To" in reason
    headers = Headers.parse(b"To: other@example.org\r\n\r\n")
    assert (
        reason_not_to_respond(
            headers=headers,
            sender="a@example.com",
            user_addresses=[USER, "other@example.org"],  # e.g. :addresses or an alias
        )
        is None
    )


def test_period_and_handle() -> None:
    assert period_seconds(Vacation(reason="r"), min_days=1, max_days=60) == 7 * DAY_SECONDS
    assert period_seconds(Vacation(reason="r", days=0), min_days=1, max_days=60) == DAY_SECONDS
    assert period_seconds(Vacation(reason="r", days=999), min_days=1, max_days=30) == (
        30 * DAY_SECONDS
    )
    assert default_handle(Vacation(reason="a")) != default_handle(Vacation(reason="b"))
    assert default_handle(Vacation(reason="a")) == default_handle(Vacation(reason="a"))


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_response_fields() -> None:
    headers = Headers.parse(
        BASE + b"Message-ID: <m1@example.com>\r\nReferences: <m0@example.com>\r\n\r\n"
    )
    response = build_response(
        action=Vacation(reason="Away until Monday.\nCall me. \u2603"),
        headers=headers,
        sender="alice@example.com",
        user_address=USER,
        now=1_700_000_000,
    )
    assert response.recipient == "alice@example.com"
    assert b"\r\n" in response.message and b"\n" not in response.message.replace(b"\r\n", b"")
    reply = parse(response.message)
    assert reply["From"] == USER
    assert reply["To"] == "alice@example.com"
    assert reply["Subject"] == "Auto: Lunch?"  # RFC 5230 §5.2
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<m1@example.com>"
    assert reply["References"] == "<m0@example.com> <m1@example.com>"
    assert reply["Message-ID"].endswith("@example.org>")
    assert reply["Date"]
    assert reply.get_content().replace("\r\n", "\n") == "Away until Monday.\nCall me. \u2603\n"


def test_response_subject_from_and_mime() -> None:
    headers = Headers.parse(b"To: bob@example.org\r\n\r\n")
    action = Vacation(
        reason="Content-Type: text/html; charset=us-ascii\nBcc: evil@example.net\n\n<p>Away</p>",
        subject="Out of office\r\nBcc: evil@example.net",
        from_address="Bob <b@example.org>",
        addresses=("b@example.org",),
        mime=True,
    )
    reply = parse(
        build_response(
            action=action,
            headers=headers,
            sender="a@example.com",
            user_address=USER,
            now=0,
            aliases=["b@example.org"],  # the alias that reached the user
        ).message
    )
    assert reply["Subject"] == "Out of office Bcc: evil@example.net"  # one line
    assert reply["From"] == "Bob <b@example.org>"
    assert reply["Bcc"] is None
    assert reply.get_content_type() == "text/html"
    assert "<p>Away</p>" in reply.get_content()
    assert "In-Reply-To" not in reply
    spoof = Vacation(reason="x", from_address="ceo@example.org")
    reply = parse(
        build_response(
            action=spoof, headers=headers, sender="a@example.com", user_address=USER, now=0
        ).message
    )
    assert reply["From"] == USER  # only the user's own addresses may be the author
    listed = Vacation(reason="x", from_address="CEO <ceo@bank.test>", addresses=("ceo@bank.test",))
    reply = parse(
        build_response(
            action=listed, headers=headers, sender="a@example.com", user_address=USER, now=0
        ).message
    )
    assert reply["From"] == USER  # :addresses do not make another address the user's
    quoted = build_response(
        action=Vacation(reason="x"),
        headers=headers,
        sender="a b@example.com",
        user_address=USER,
        now=0,
    )
    assert quoted.recipient == '"a b"@example.com'  # sendable: the outbox parses it
    no_subject = parse(
        build_response(
            action=Vacation(reason="x"),
            headers=headers,
            sender="a@example.com",
            user_address=USER,
            now=0,
        ).message
    )
    assert no_subject["Subject"] == "Auto: (no subject)"


class FakeOutbox:
    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []
        self.fail = fail

    def send(self, *, reverse_path: str, recipients: Sequence[str], message: bytes) -> str:
        if self.fail:
            raise OSError("queue is full")
        self.sent.append((reverse_path, list(recipients), message))
        return f"q{len(self.sent)}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


ALICE = Mailbox(local_part="alice", domain="example.com")
SCRIPT = b'require "vacation";\nvacation :days 2 "I am away.";\n'


@pytest.fixture
def setup(tmp_path: Path) -> tuple[SievePlugin, FakeOutbox, Clock]:
    clock = Clock()
    plugin = SievePlugin(clock=clock)
    outbox = FakeOutbox()
    store = SieveStore(tmp_path / "sieve.sqlite3")
    store.put("a1", USER, SCRIPT, now=0)
    plugin.start(SieveSettings(), store, outbox)
    return plugin, outbox, clock


def deliver(
    plugin: SievePlugin,
    sender: ReversePath = ALICE,
    message: bytes = BASE + b"\r\nhello\r\n",
) -> DeliveryVerdict | None:
    bob = Mailbox(local_part="bob", domain="example.org")
    return plugin.trimail_local_delivery(
        envelope=Envelope(reverse_path=sender, forward_paths=(bob,)),
        forward_path=bob,
        address=USER,
        account_id="a1",
        message=message,
        mailbox_name="INBOX",
    )


def test_once_per_days_per_sender(setup: tuple[SievePlugin, FakeOutbox, Clock]) -> None:
    plugin, outbox, clock = setup
    assert deliver(plugin) == DeliveryVerdict(mailboxes=("INBOX",))
    assert len(outbox.sent) == 1
    reverse_path, recipients, message = outbox.sent[0]
    assert reverse_path == "" and recipients == ["alice@example.com"]
    assert b"I am away." in message
    clock.now += 2 * DAY_SECONDS - 1
    deliver(plugin)
    deliver(plugin, Mailbox(local_part="ALICE", domain="example.com"))  # same sender
    assert len(outbox.sent) == 1
    deliver(plugin, Mailbox(local_part="carol", domain="example.com"))  # another sender
    assert len(outbox.sent) == 2
    clock.now += 1
    deliver(plugin)
    assert len(outbox.sent) == 3  # :days 2 have passed


def test_a_new_reason_is_a_new_handle(setup: tuple[SievePlugin, FakeOutbox, Clock]) -> None:
    plugin, outbox, _clock = setup
    deliver(plugin)
    assert plugin.store is not None
    plugin.store.put("a1", USER, SCRIPT.replace(b"I am away.", b"Back soon."), now=0)
    deliver(plugin)
    assert len(outbox.sent) == 2


def test_no_response_to_null_path_or_lists(setup: tuple[SievePlugin, FakeOutbox, Clock]) -> None:
    plugin, outbox, _clock = setup
    assert deliver(plugin, NULL_PATH) == DeliveryVerdict(mailboxes=("INBOX",))
    deliver(plugin, message=BASE + b"List-Id: <l.example.com>\r\n\r\nx\r\n")
    assert outbox.sent == []


def test_failing_outbox_keeps_the_message_and_retries_later(
    setup: tuple[SievePlugin, FakeOutbox, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    plugin, outbox, _clock = setup
    outbox.fail = True
    with caplog.at_level(logging.ERROR, logger="trimail.sieve"):
        assert deliver(plugin) == DeliveryVerdict(mailboxes=("INBOX",))
    assert "queue is full" in caplog.text
    outbox.fail = False
    deliver(plugin)  # the failed attempt did not use up the period
    assert len(outbox.sent) == 1


def test_claims_are_atomic_across_connections(tmp_path: Path) -> None:
    first = SieveStore(tmp_path / "s.sqlite3")
    second = SieveStore(tmp_path / "s.sqlite3")  # another worker process
    assert first.claim_vacation("a", "h", "x@y", now=100.0, period=50.0) == 0.0
    assert second.claim_vacation("a", "h", "x@y", now=120.0, period=50.0) is None
    assert second.claim_vacation("a", "h", "x@y", now=151.0, period=50.0) == 100.0
    first.release_vacation("a", "h", "x@y", previous=100.0)
    assert first.claim_vacation("a", "h", "x@y", now=160.0, period=50.0) == 100.0
    first.close()
    second.close()
