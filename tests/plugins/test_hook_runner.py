"""HookRunner: hooks in worker threads, each call time-bounded, a hung hook isolated."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trio

from trimail.config import load_config
from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.plugins import PluginError, hookimpl, make_plugin_manager
from trimail.server.hooks import HookFailed, HookRunner
from trimail.server.session_info import SessionInfo
from trimail.verdicts import DeliveryVerdict, MessageVerdict, Reject

SESSION = SessionInfo(
    listener="smtp", peer_host="192.0.2.1", peer_port=1, local_host="h", local_port=25
)
RELEASE = threading.Event()
RCPT = {
    "session": SESSION,
    "envelope": Envelope(reverse_path=NULL_PATH),
    "forward_path": Mailbox(local_part="a", domain="example.org"),
}


class Plugin:
    @hookimpl
    def trimail_smtp_rcpt_to(self) -> Reject | None:
        RELEASE.wait(30)  # hangs until the test lets it go
        return None

    @hookimpl
    def trimail_smtp_helo(self, helo_identity: str) -> Reject | None:
        if helo_identity == "exit":
            raise SystemExit(3)  # must not end the worker
        return Reject(reply=Reply(code=550, enhanced_status="5.7.1", text="no"))


def _runner(threads: int = 2) -> HookRunner:
    pm = make_plugin_manager(load_config(None), load_entry_points=False)
    pm.register(Plugin())
    return HookRunner(pm, timeout_seconds=0.3, threads=threads)


def test_a_hung_hook_uses_up_only_its_own_threads() -> None:
    runner = _runner(threads=2)
    RELEASE.clear()

    async def main() -> None:
        for _ in range(4):  # more calls than the hook has threads: each fails in time
            started = trio.current_time()
            assert await runner.envelope_filter("trimail_smtp_rcpt_to", **RCPT) == Reject(
                reply=Reply(
                    code=451,
                    enhanced_status="4.3.0",
                    text="Local error in processing; try again later",
                )
            )
            assert trio.current_time() - started < 1.0
        started = trio.current_time()  # another hook is not held up by the hung one
        reject = await runner.envelope_filter(
            "trimail_smtp_helo", session=SESSION, helo_identity="x"
        )
        assert reject is not None and reject.reply.code == 550
        assert trio.current_time() - started < 0.3
        RELEASE.set()  # the plugin recovers: its threads come back
        await trio.sleep(0.2)
        assert await runner.envelope_filter("trimail_smtp_rcpt_to", **RCPT) is None

    trio.run(main)


def test_system_exit_in_a_hook_is_a_failed_call() -> None:
    runner = _runner()

    async def main() -> None:
        with pytest.raises(HookFailed):
            await runner.call("trimail_smtp_helo", session=SESSION, helo_identity="exit")

    trio.run(main)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tests.plugins.bad_plugins:wrong_argument", "unknown hook|argument|sender"),
        ("tests.plugins.bad_plugins:async_hook", "async def"),
        ("tests.plugins.bad_plugins:table_fails", "trimail_config_table failed: cannot say"),
    ],
)
def test_plugins_that_break_the_rules_are_refused_at_load(
    tmp_path: Path, name: str, message: str
) -> None:
    config_file = tmp_path / "t.toml"
    config_file.write_text(f'plugins = ["{name}"]\n', encoding="utf-8")
    with pytest.raises(PluginError, match=message):
        make_plugin_manager(load_config(config_file), load_entry_points=False)


@pytest.mark.parametrize(
    "bad",
    [
        {"mailboxes": "Junk"},  # a str, not a tuple of names
        {"flags": "\\Seen"},
        {"flags": frozenset([5])},
        {"flags_by_mailbox": {"A": "x"}},
        {"reject": "no"},
        {"discard": 1},
    ],
)
def test_a_wrong_delivery_verdict_cannot_be_made(bad: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        DeliveryVerdict(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"reject": "no"}, {"add_headers": "X-A: b"}, {"mailbox_name": 3}])
def test_a_wrong_message_verdict_cannot_be_made(bad: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        MessageVerdict(**bad)  # type: ignore[arg-type]


def test_verdict_fields_take_lists_and_keep_per_mailbox_flags() -> None:
    verdict = DeliveryVerdict(
        mailboxes=["A", "B"], flags=["$x"], flags_by_mailbox={"A": ["\\Seen"]}
    )
    assert verdict.mailboxes == ("A", "B") and verdict.flags == frozenset({"$x"})
    assert verdict.flags_by_mailbox["A"] == frozenset({"\\Seen"})
