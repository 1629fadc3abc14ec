"""The delivery hook: verdicts for keep, fileinto, flags, discard and reject; the
implicit keep on every kind of failure; start-up and the config table."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from trimail_sieve import SievePlugin, SieveSettings, reject_reply
from trimail_sieve.settings import TABLE
from trimail_sieve.store import FILE_NAME, SieveStore

from trimail.config import ConfigError
from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.plugins import PluginContext, make_plugin_manager
from trimail.verdicts import DeliveryVerdict, Reject

USER = "bob@example.org"
MESSAGE = b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: Hello\r\n\r\nHi\r\n"


@pytest.fixture
def plugin(tmp_path: Path) -> SievePlugin:
    plugin = SievePlugin()
    plugin.start(SieveSettings(max_actions=4), SieveStore(tmp_path / FILE_NAME), None)
    return plugin


def deliver(plugin: SievePlugin, source: bytes | None, mailbox: str = "INBOX") -> object:
    assert plugin.store is not None
    if source is not None:
        plugin.store.put("a1", USER, source, now=0)
    bob = Mailbox(local_part="bob", domain="example.org")
    return plugin.trimail_local_delivery(
        envelope=Envelope(
            reverse_path=Mailbox(local_part="alice", domain="example.com"), forward_paths=(bob,)
        ),
        forward_path=bob,
        address=USER,
        account_id="a1",
        message=MESSAGE,
        mailbox_name=mailbox,
    )


HEAD = b'require ["fileinto", "reject", "imap4flags", "copy"];\n'


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        (b"", DeliveryVerdict(mailboxes=("INBOX",))),
        (b"keep;", DeliveryVerdict(mailboxes=("INBOX",))),
        (b'fileinto "Work";', DeliveryVerdict(mailboxes=("Work",))),
        (b'fileinto "Work"; keep;', DeliveryVerdict(mailboxes=("Work", "INBOX"))),
        (
            b'fileinto :flags "\\\\Flagged" "Work";',
            DeliveryVerdict(mailboxes=("Work",), flags=frozenset({"\\Flagged"})),
        ),
        (
            b'addflag "$x"; fileinto :copy "Work";',
            DeliveryVerdict(mailboxes=("Work", "INBOX"), flags=frozenset({"$x"})),
        ),
        (b"discard;", DeliveryVerdict(discard=True)),
        (
            b'reject "Not\r\nwanted\there \xe2\x98\x83";',
            DeliveryVerdict(
                reject=Reject(
                    reply=Reply(code=550, enhanced_status="5.7.1", text="Not wanted here")
                )
            ),
        ),
    ],
)
def test_verdicts(plugin: SievePlugin, body: bytes, verdict: DeliveryVerdict) -> None:
    assert deliver(plugin, HEAD + body) == verdict


def test_each_copy_gets_its_own_flags(plugin: SievePlugin) -> None:
    body = b'addflag "$a"; fileinto :flags ["$a", "\\\\Seen"] "A"; keep;'
    verdict = deliver(plugin, HEAD + body)
    assert verdict == DeliveryVerdict(
        mailboxes=("A", "INBOX"),
        flags_by_mailbox={"A": frozenset({"$a", "\\Seen"}), "INBOX": frozenset({"$a"})},
    )


def test_no_script_is_no_opinion(plugin: SievePlugin) -> None:
    assert deliver(plugin, None) is None
    assert (
        SievePlugin().trimail_local_delivery(
            envelope=Envelope(reverse_path=Mailbox(local_part="a", domain="b")),
            forward_path=Mailbox(local_part="a", domain="b"),
            address="a@b",
            account_id="x",
            message=b"",
            mailbox_name="INBOX",
        )
        is None
    )  # not started: no [plugin.sieve] table


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (b'require "foo"; discard;', "unknown capability"),  # stored by an older version
        (b"keep; keep; keep; keep; keep;", "more than 4 actions"),
        (HEAD + b'reject "x"; keep;', "reject cannot be combined"),
    ],
)
def test_errors_mean_implicit_keep(
    plugin: SievePlugin, caplog: pytest.LogCaptureFixture, source: bytes, words: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="trimail.sieve"):
        assert deliver(plugin, source) is None
    assert words in caplog.text and USER in caplog.text


def test_unexpected_failures_mean_implicit_keep(
    plugin: SievePlugin, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("deep")

    monkeypatch.setattr("trimail_sieve.hooks.run", broken)
    assert deliver(plugin, b"discard;") is None
    assert "script failed, message kept" in caplog.text


def test_database_trouble_means_implicit_keep(
    plugin: SievePlugin, caplog: pytest.LogCaptureFixture
) -> None:
    assert plugin.store is not None
    plugin.store.close()
    assert deliver(plugin, None) is None
    assert "cannot read the script database" in caplog.text


def test_compiled_scripts_are_cached(plugin: SievePlugin) -> None:
    deliver(plugin, b"discard;")
    deliver(plugin, b"discard;")
    assert len(plugin._cache) == 1


def test_reject_reply_is_one_safe_line() -> None:
    assert reject_reply("") == Reply(
        code=550, enhanced_status="5.7.1", text="Message refused by the recipient's mail filter"
    )
    long = reject_reply("x" * 1000)
    assert len(long.text[0]) == 200


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="max_actions"):
        SieveSettings(max_actions=0)
    with pytest.raises(ValueError, match="vacation_min_days"):
        SieveSettings(vacation_min_days=10, vacation_max_days=5)
    with pytest.raises(ValueError, match="max_script_bytes"):
        SieveSettings(max_script_bytes=10)


def test_startup_through_the_plugin_manager(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path), plugin={TABLE: {"max_actions": 5}})
    pm = make_plugin_manager(config)
    assert pm.tables[TABLE] == SieveSettings(max_actions=5)
    plugin = SievePlugin()
    context = PluginContext(config=config, data_dir=tmp_path, tables=pm.tables)
    plugin.trimail_startup(context)
    assert plugin.store is not None and (tmp_path / "plugins" / TABLE / FILE_NAME).exists()
    plugin.trimail_shutdown()
    assert plugin.store is None
    with pytest.raises(ConfigError, match=r"plugin\.sieve\.max_actions"):
        make_plugin_manager(Config(data_dir=str(tmp_path), plugin={TABLE: {"max_actions": "x"}}))
