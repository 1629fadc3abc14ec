"""The greylisting state machine with a fake clock (RFC 6647 §2.1, §4.3)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from trimail_greylist import GreylistPlugin, GreylistSettings, GreylistStore, Outcome
from trimail_greylist.policy import Greylist, greylisted_reply, retry_text
from trimail_greylist.store import COUNT_INTERVAL_SECONDS, GreylistStoreError, PurgeCount
from trimail_greylist.triplet import make_triplet

from trimail.config.model import Config
from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.envelope import Envelope
from trimail.plugins import PluginContext
from trimail.server.session_info import SessionInfo

DAY = 86400.0
START = 1_700_000_000.0
ALICE = Mailbox(local_part="alice", domain="example.org")
SENDER = Mailbox(local_part="Bob", domain="Sender.Example")


class FakeClock:
    """A settable clock (epoch seconds)."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def mx(
    peer_host: str = "192.0.2.10", *, listener: str = "smtp", authenticated_as: str | None = None
) -> SessionInfo:
    return SessionInfo(
        listener=listener,
        peer_host=peer_host,
        peer_port=40000,
        local_host="192.0.2.1",
        local_port=25,
        authenticated_as=authenticated_as,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GreylistStore]:
    s = GreylistStore(tmp_path / "greylist.sqlite3")
    yield s
    s.close()


def make(store: GreylistStore, clock: FakeClock, **settings: Any) -> Greylist:
    return Greylist(GreylistSettings(**settings), store, clock)


def outcome(greylist: Greylist, session: SessionInfo | None = None, **paths: Mailbox) -> object:
    decision = greylist.decide(
        session or mx(), paths.get("reverse_path", SENDER), paths.get("forward_path", ALICE)
    )
    return None if decision is None else decision.outcome


def test_first_too_early_then_passed(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock)
    reject = greylist.judge(mx(), SENDER, ALICE)
    assert reject is not None
    assert (reject.reply.code, reject.reply.enhanced_status) == (451, "4.7.1")
    assert "Greylisted" in reject.reply.text[0] and "5 minutes" in reject.reply.text[0]

    clock.advance(120)  # too early: 451 again, first-seen kept
    reject = greylist.judge(mx(), SENDER, ALICE)
    assert reject is not None and "3 minutes" in reject.reply.text[0]
    clock.advance(120)
    assert outcome(greylist) is Outcome.TOO_EARLY
    [row] = store.triplets()
    assert row.first_seen == START and row.refused == 3 and row.passed_at is None

    clock.advance(60)  # 300 s after first sight
    assert greylist.judge(mx(), SENDER, ALICE) is None
    [row] = store.triplets()
    assert row.passed_at == START + 300 and row.passes == 1
    assert row.state(clock.now) == "passed"
    clock.advance(10)
    assert outcome(greylist) is Outcome.KNOWN


def test_triplet_is_lower_cased_and_grouped(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock)
    assert outcome(greylist, mx("192.0.2.10")) is Outcome.NEW
    clock.advance(301)
    # another server of the same /24, other case: the same triplet
    shouting = Mailbox(local_part="ALICE", domain="EXAMPLE.ORG.")
    assert outcome(greylist, mx("192.0.2.200"), forward_path=shouting) is Outcome.PASSED
    assert outcome(greylist, mx("192.0.3.10")) is Outcome.NEW  # another /24
    [first, second] = store.triplets()
    assert (first.network, first.reverse_path, first.forward_path) == (
        "192.0.2.0/24",
        "bob@sender.example",
        "alice@example.org",
    )
    assert second.network == "192.0.3.0/24"


def test_each_member_of_the_triplet_counts(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock)
    assert outcome(greylist) is Outcome.NEW
    clock.advance(301)
    other = Mailbox(local_part="carol", domain="example.org")
    assert outcome(greylist, forward_path=other) is Outcome.NEW
    assert outcome(greylist, reverse_path=other) is Outcome.NEW
    assert outcome(greylist) is Outcome.PASSED


def test_null_reverse_path_is_greylisted_like_any_other(
    store: GreylistStore, clock: FakeClock
) -> None:
    greylist = make(store, clock)
    assert greylist.judge(mx(), NULL_PATH, ALICE) is not None
    clock.advance(300)
    assert greylist.judge(mx(), NULL_PATH, ALICE) is None
    assert store.triplets()[0].reverse_path == "<>"


def test_retry_after_the_window_starts_over(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, delay_seconds=60.0, retry_window_seconds=3600.0)
    assert outcome(greylist) is Outcome.NEW
    clock.advance(3600)  # the window has closed: forgotten, greylisted anew
    assert outcome(greylist) is Outcome.NEW
    [row] = store.triplets()
    assert row.first_seen == clock.now and row.refused == 1
    clock.advance(59)
    assert outcome(greylist) is Outcome.TOO_EARLY
    clock.advance(1)
    assert outcome(greylist) is Outcome.PASSED


def test_pass_lifetime_is_refreshed_by_each_use(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, pass_lifetime_seconds=10 * DAY, auto_whitelist_after=0)
    outcome(greylist)
    clock.advance(300)
    assert outcome(greylist) is Outcome.PASSED
    for _ in range(3):  # used every 9 days: kept alive for 27 days
        clock.advance(9 * DAY)
        assert outcome(greylist) is Outcome.KNOWN
    assert store.triplets()[0].expires == clock.now + 10 * DAY
    clock.advance(10 * DAY)  # unused for its lifetime: greylisted again
    assert outcome(greylist) is Outcome.NEW


def test_purge_from_the_hook_at_most_once_per_interval(
    store: GreylistStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    greylist = make(store, clock, retry_window_seconds=1000.0, purge_interval_seconds=600.0)
    outcome(greylist)  # purges (nothing) and records
    clock.advance(1000)  # the triplet expired; next purge due at START + 600: now
    other = Mailbox(local_part="dave", domain="example.org")
    with caplog.at_level(logging.INFO, logger="trimail_greylist"):
        assert outcome(greylist, forward_path=other) is Outcome.NEW
    assert [r.forward_path for r in store.triplets()] == ["dave@example.org"]
    assert "purged 1 expired triplets" in caplog.text
    clock.advance(1000)
    store_purge = store.purge
    calls: list[float] = []

    def spy(now: float) -> PurgeCount:
        calls.append(now)
        return store_purge(now)

    monkeypatch.setattr(store, "purge", spy)
    outcome(greylist)
    outcome(greylist)  # within the interval: no second purge
    assert calls == [clock.now]


def test_store_purge_and_listing(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, retry_window_seconds=1000.0, auto_whitelist_after=1)
    outcome(greylist)
    clock.advance(300)
    outcome(greylist)
    assert [c.network for c in store.clients()] == ["192.0.2.0/24"]
    assert store.triplets()[0].state(clock.now + 36 * DAY) == "expired"
    purged = store.purge(clock.now + 36 * DAY)
    assert (purged.triplets, purged.clients) == (1, 1)
    assert store.triplets() == [] and store.clients() == []


def test_auto_whitelist_after_n_passed_deliveries(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, auto_whitelist_after=3)
    recipients = [Mailbox(local_part=f"user{i}", domain="example.org") for i in range(6)]
    for rcpt in recipients[:3]:
        assert outcome(greylist, forward_path=rcpt) is Outcome.NEW
    clock.advance(300)
    # three passes in the same minute count once (one message to many recipients)
    for rcpt in recipients[:3]:
        assert outcome(greylist, forward_path=rcpt) is Outcome.PASSED
    assert store.clients()[0].deliveries == 1
    assert outcome(greylist, forward_path=recipients[3]) is Outcome.NEW
    for _ in range(2):
        clock.advance(COUNT_INTERVAL_SECONDS)
        assert outcome(greylist, forward_path=recipients[0]) is Outcome.KNOWN
    assert store.clients()[0].deliveries == 3
    # now any triplet from that network passes at once, and is not recorded
    assert outcome(greylist, forward_path=recipients[5]) is Outcome.CLIENT
    assert outcome(greylist, mx("192.0.2.99"), forward_path=recipients[4]) is Outcome.CLIENT
    assert outcome(greylist, mx("198.51.100.1"), forward_path=recipients[4]) is Outcome.NEW
    assert "user5@example.org" not in {r.forward_path for r in store.triplets()}


def test_auto_whitelist_expires_with_the_pass_lifetime(
    store: GreylistStore, clock: FakeClock
) -> None:
    greylist = make(store, clock, auto_whitelist_after=1, pass_lifetime_seconds=DAY)
    outcome(greylist)
    clock.advance(300)
    assert outcome(greylist) is Outcome.PASSED
    other = Mailbox(local_part="erin", domain="example.org")
    clock.advance(DAY - 1)
    assert outcome(greylist, forward_path=other) is Outcome.CLIENT  # renews it
    clock.advance(DAY - 1)
    assert outcome(greylist, forward_path=other) is Outcome.CLIENT
    clock.advance(DAY)
    assert outcome(greylist, forward_path=other) is Outcome.NEW


def test_auto_whitelist_off(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, auto_whitelist_after=0)
    outcome(greylist)
    clock.advance(300)
    for _ in range(10):
        outcome(greylist)
        clock.advance(COUNT_INTERVAL_SECONDS)
    assert store.clients() == []
    other = Mailbox(local_part="frank", domain="example.org")
    assert outcome(greylist, forward_path=other) is Outcome.NEW


def test_ipv6_grouped_by_64(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock)
    assert outcome(greylist, mx("2001:db8:1:2::25")) is Outcome.NEW
    clock.advance(300)
    assert outcome(greylist, mx("2001:db8:1:2:ffff::1")) is Outcome.PASSED
    assert outcome(greylist, mx("2001:db8:1:3::25")) is Outcome.NEW
    assert {r.network for r in store.triplets()} == {"2001:db8:1:2::/64", "2001:db8:1:3::/64"}


def test_prefix_lengths_are_configurable(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, ipv4_prefix_length=32, ipv6_prefix_length=48)
    outcome(greylist, mx("192.0.2.10"))
    outcome(greylist, mx("::ffff:192.0.2.11"))  # IPv4-mapped: the IPv4 rules apply
    outcome(greylist, mx("2001:db8:1:2::25"))
    assert {r.network for r in store.triplets()} == {
        "192.0.2.10/32",
        "192.0.2.11/32",
        "2001:db8:1::/48",
    }


@pytest.mark.parametrize(
    ("session", "reason"),
    [
        (mx(authenticated_as="alice@example.org"), "authenticated"),
        (mx(listener="submission"), "listener submission"),
        (mx(listener="submissions"), "listener submissions"),
        (mx("127.0.0.1"), "loopback"),
        (mx("::1"), "loopback"),
        (mx("::ffff:127.0.0.2"), "loopback"),
        (mx("198.51.100.7"), "whitelisted network"),
        (mx("2001:db8:ffff::1"), "whitelisted network"),
    ],
)
def test_exempt_sessions(
    store: GreylistStore, clock: FakeClock, session: SessionInfo, reason: str
) -> None:
    greylist = make(store, clock, whitelist_networks=("198.51.100.0/24", "2001:db8:ffff::/48"))
    assert greylist.exemption(session, SENDER, ALICE) == reason
    assert greylist.judge(session, SENDER, ALICE) is None
    assert store.triplets() == []


def test_loopback_greylisted_when_configured(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock, greylist_loopback=True)
    assert outcome(greylist, mx("127.0.0.1")) is Outcome.NEW


@pytest.mark.parametrize(
    ("entry", "address", "exempt"),
    [
        ("alice@example.org", "ALICE@Example.Org", True),
        ("alice@example.org", "alice2@example.org", False),
        ("example.org", "anyone@example.org", True),
        ("example.org", "anyone@sub.example.org", False),
        (".example.org", "anyone@sub.example.org", True),
        (".example.org", "anyone@example.org", True),
        (".example.org", "anyone@notexample.org", False),
        ("Example.ORG.", "x@example.org.", True),
    ],
)
def test_whitelisted_paths(
    store: GreylistStore, clock: FakeClock, entry: str, address: str, exempt: bool
) -> None:
    local, _, domain = address.partition("@")
    path = Mailbox(local_part=local, domain=domain)
    recipients = make(store, clock, whitelist_recipients=(entry,))
    assert (recipients.exemption(mx(), SENDER, path) == "whitelisted recipient") is exempt
    assert recipients.exemption(mx(), path, SENDER) is None
    senders = make(store, clock, whitelist_senders=(entry,))
    assert (senders.exemption(mx(), path, SENDER) == "whitelisted sender") is exempt
    assert senders.exemption(mx(), SENDER, path) is None
    assert senders.exemption(mx(), NULL_PATH, SENDER) is None  # <> matches no entry


def test_allowed_networks_in_the_database(store: GreylistStore, clock: FakeClock) -> None:
    import ipaddress

    greylist = make(store, clock)
    network = ipaddress.ip_network("203.0.113.0/28")
    assert store.allow(network, clock.now) and not store.allow(network, clock.now)
    assert greylist.exemption(mx("203.0.113.9"), SENDER, ALICE) == "allowed network"
    assert greylist.exemption(mx("203.0.113.16"), SENDER, ALICE) is None
    assert store.disallow(network) and not store.disallow(network)
    assert greylist.exemption(mx("203.0.113.9"), SENDER, ALICE) is None


def test_peer_that_is_not_an_ip_address(store: GreylistStore, clock: FakeClock) -> None:
    greylist = make(store, clock)
    assert outcome(greylist, mx("unix-socket")) is Outcome.NEW
    assert store.triplets()[0].network == "unix-socket"


def test_retry_text() -> None:
    assert retry_text(0) == "1 second"
    assert retry_text(44.2) == "45 seconds"
    assert retry_text(300) == "5 minutes"
    assert retry_text(301) == "6 minutes"
    reply = greylisted_reply(300)
    assert reply.is_transient and reply.enhanced_status == "4.7.1"


def test_concurrent_threads_see_one_first_sight(tmp_path: Path, clock: FakeClock) -> None:
    """Many threads (and two connections, as two worker processes would have) judging
    the same triplets at once: each triplet is NEW exactly once."""
    stores = [GreylistStore(tmp_path / "g.sqlite3") for _ in range(2)]
    greylists = [make(s, clock) for s in stores]
    recipients = [Mailbox(local_part=f"r{i}", domain="example.org") for i in range(10)]
    results: list[object] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)
    lock = threading.Lock()

    def work(n: int) -> None:
        try:
            barrier.wait()
            for rcpt in recipients:
                got = outcome(greylists[n % 2], forward_path=rcpt)
                with lock:
                    results.append(got)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results.count(Outcome.NEW) == 10
    assert results.count(Outcome.TOO_EARLY) == 70
    assert sum(r.refused for r in stores[0].triplets()) == 80
    for s in stores:
        s.close()


def test_store_errors_are_clear(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GreylistStoreError, match="not a usable greylist database"):
        GreylistStore(junk)
    with pytest.raises(GreylistStoreError, match="cannot open"):
        GreylistStore(tmp_path / "missing-dir" / "g.sqlite3")
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(GreylistStoreError, match="newer than this plugin"):
        GreylistStore(newer)


def test_plugin_hooks(tmp_path: Path, clock: FakeClock) -> None:
    config = Config(data_dir=str(tmp_path))
    settings = GreylistSettings(delay_seconds=10.0)
    plugin = GreylistPlugin(clock)
    envelope = Envelope(reverse_path=SENDER)
    # not started (or no table): never greylists
    assert plugin.trimail_smtp_rcpt_to(session=mx(), envelope=envelope, forward_path=ALICE) is None
    plugin.trimail_startup(PluginContext(config=config, data_dir=tmp_path))  # no table: off
    assert plugin.greylist is None
    context = PluginContext(config=config, data_dir=tmp_path, tables={"greylist": settings})
    plugin.trimail_startup(context)
    db = tmp_path / "plugins" / "greylist" / "greylist.sqlite3"
    assert db.exists() and (db.parent.stat().st_mode & 0o777) == 0o700
    reject = plugin.trimail_smtp_rcpt_to(session=mx(), envelope=envelope, forward_path=ALICE)
    assert reject is not None and reject.reply.code == 451
    clock.advance(10)
    assert plugin.trimail_smtp_rcpt_to(session=mx(), envelope=envelope, forward_path=ALICE) is None
    plugin.trimail_shutdown(context=context)
    assert plugin.greylist is None
    assert plugin.trimail_config_table().name == "greylist"


def test_make_triplet_defaults() -> None:
    triplet = make_triplet("192.0.2.77", NULL_PATH, Mailbox(local_part="postmaster", domain=""))
    assert (triplet.network, triplet.reverse_path, triplet.forward_path) == (
        "192.0.2.0/24",
        "<>",
        "postmaster",
    )
