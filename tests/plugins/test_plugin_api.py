"""The plugin API 1.0 against a running server: config tables, start-up and shut-down,
timeouts, per-user delivery decisions, the outbox, routing and queue events."""

from __future__ import annotations

import imaplib
import json
import smtplib
import time
from pathlib import Path

import pytest

from tests.integration.conftest import stored_messages
from tests.integration.test_outbound import free_port, wait_for
from trimail.config import ConfigError, load_config
from trimail.plugins import make_plugin_manager
from trimail.testing.process import run_cli, running_server

ROOT = Path(__file__).parents[2]
PLUGIN = 'plugins = ["tests.plugins.api_plugin:plugin"]\n'
PASSWORD = "12345678pw"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trimail.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{text}', encoding="utf-8")
    return path


def test_a_declared_table_is_validated_and_turns_the_plugin_on(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, PLUGIN + "[plugin.api_test]\nslow_seconds = 2.5\n"))
    pm = make_plugin_manager(config, load_entry_points=False)
    assert pm.tables["api_test"].slow_seconds == 2.5
    assert pm.get_plugin("tests.plugins.api_plugin:plugin") is not None
    (info,) = [i for i in pm.describe(config) if i.table == "api_test"]
    assert info.enabled and info.configured and info.source == "config"
    assert "trimail_local_delivery" in info.hooks


def test_without_its_table_a_plugin_is_loaded_but_off(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, PLUGIN))
    pm = make_plugin_manager(config, load_entry_points=False)
    assert pm.get_plugin("tests.plugins.api_plugin:plugin") is None  # its hooks never run
    (info,) = [i for i in pm.describe(config) if i.table == "api_test"]
    assert not info.enabled and not info.configured


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[plugin.api_test]\nslow_seconds = -1.0\n", "plugin.api_test.slow_seconds"),
        ("[plugin.api_test]\nslow_secs = 1.0\n", "plugin.api_test: unknown key(s): slow_secs"),
        ("[plugin.api_tset]\n", "plugin.api_tset: no loaded plugin reads this table"),
    ],
)
def test_bad_or_unknown_tables_are_refused(tmp_path: Path, table: str, message: str) -> None:
    config = load_config(_config(tmp_path, PLUGIN + table))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_plugin_manager(config, load_entry_points=False)


def test_check_config_and_plugins_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    bad = _config(tmp_path, PLUGIN + "[plugin.api_tset]\n")
    done = run_cli(bad, "check-config")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "plugin.api_tset: no loaded plugin reads this table" in done.stderr
    good = _config(tmp_path, PLUGIN + "[plugin.api_test]\n")
    done = run_cli(good, "plugins", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    ours = listed["tests.plugins.api_plugin:plugin"]
    assert ours["source"] == "config" and ours["enabled"] and ours["table"] == "api_test"
    assert listed["trimail.storage.plugin"]["source"] == "built-in"
    text = run_cli(good, "plugins", "list").stdout
    assert "tests.plugins.api_plugin:plugin  [config]  on" in text


def _imap_flags(srv: object, user: str, mailbox: str) -> list[bytes]:
    with imaplib.IMAP4("127.0.0.1", srv.imap_port) as imap:  # type: ignore[attr-defined]
        imap.login(user, PASSWORD)
        imap.select(mailbox, readonly=True)
        _, data = imap.fetch("1:*", "(FLAGS)")
        return [d for d in data if isinstance(d, bytes)]


def test_hooks_of_a_running_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    users = {
        f"{name}@example.org": PASSWORD
        for name in ("alice", "bob", "carol", "dropper", "refuser", "notifier", "slow", "busy")
    }
    with running_server(
        tmp_path,
        domains=["example.org"],
        users=users,
        top_extra=PLUGIN
        + "workers = 1\nplugin_timeout_seconds = 1.0\n"
        + '[plugin.api_test]\nslow_seconds = 4.0\nnotice_to = "carol@example.org"\n'
        + "[queue]\npoll_seconds = 0.2\n",
    ) as srv:
        state = srv.data_dir / "plugins" / "api_test"
        # the start-up check (before the workers), then the worker
        wait_for(
            lambda: (
                (state / "lifecycle").read_text().split()
                == ['"startup"', '"shutdown"', '"startup"']
            ),
            what="start-up",
        )
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as client:
            client.ehlo("client.example")
            client.mail("bob@example.org")
            started = time.monotonic()
            code, text = client.rcpt("slow@example.org")  # the hook sleeps 4 s
            assert (code, text[:5]) == (451, b"4.3.0")
            assert time.monotonic() - started < 3.5  # answered at the 1 s timeout
            assert client.rcpt("alice@example.org")[0] == 250  # the session goes on
            client.rset()
            # per-user decisions: two mailboxes with flags, discard, refuse
            client.sendmail(
                "bob@example.org", ["alice@example.org"], b"Subject: filed\r\n\r\nx\r\n"
            )
            client.sendmail("bob@example.org", ["dropper@example.org"], b"Subject: a\r\n\r\nx\r\n")
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(
                    "bob@example.org", ["refuser@example.org"], b"Subject: b\r\n\r\nx\r\n"
                )
            assert refused.value.smtp_code == 550 and b"Not wanted here" in refused.value.smtp_error
            # one of two refuses: the other gets it, the sender a DSN for the refusal
            client.sendmail(
                "bob@example.org",
                ["refuser@example.org", "carol@example.org"],
                b"Subject: both\r\n\r\nx\r\n",
            )
            client.sendmail("bob@example.org", ["notifier@example.org"], b"Subject: n\r\n\r\nx\r\n")
            # one recipient says "later": the whole message waits (one reply for DATA)
            with pytest.raises(smtplib.SMTPDataError) as later:
                client.sendmail(
                    "bob@example.org",
                    ["busy@example.org", "dropper@example.org", "carol@example.org"],
                    b"Subject: later\r\n\r\nx\r\n",
                )
            assert later.value.smtp_code == 451
        for source, code in (("127.0.0.3", 421), ("127.0.0.4", 421)):  # connect hook
            with pytest.raises(smtplib.SMTPConnectError) as refused_at_connect:
                smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10, source_address=(source, 0))
            assert refused_at_connect.value.smtp_code == code
        (filed,) = stored_messages(srv, "alice@example.org", "Filed")
        (inbox,) = stored_messages(srv, "alice@example.org")
        assert filed == inbox and filed.endswith(b"Subject: filed\r\n\r\nx\r\n")
        (flags,) = _imap_flags(srv, "alice@example.org", "Filed")
        assert b"\\Flagged" in flags and b"$Label1" in flags
        (inbox_flags,) = _imap_flags(srv, "alice@example.org", "INBOX")
        assert b"\\Seen" in inbox_flags and b"\\Flagged" not in inbox_flags
        assert stored_messages(srv, "dropper@example.org") == []
        assert not [m for m in stored_messages(srv, "carol@example.org") if b"later" in m]
        assert stored_messages(srv, "refuser@example.org") == []
        assert any(
            m.endswith(b"Subject: both\r\n\r\nx\r\n")
            for m in stored_messages(srv, "carol@example.org")
        )
        dsn = wait_for(
            lambda: [
                m for m in stored_messages(srv, "bob@example.org") if b"multipart/report" in m
            ],
            what="the DSN for the refused recipient",
        )[0]
        assert b"Final-Recipient: rfc822; refuser@example.org" in dsn
        assert b"Action: failed" in dsn and b"smtp; 550 5.7.1 Not wanted here" in dsn
        notice = wait_for(
            lambda: [m for m in stored_messages(srv, "carol@example.org") if b"you have mail" in m],
            what="the outbox notice",
        )[0]
        assert b"Return-Path: <>" in notice
        deliveries = [json.loads(line) for line in (state / "deliveries").read_text().splitlines()]
        # queued mail to a local user (here the DSN to bob) goes through the hook too
        assert any(d["address"] == "bob@example.org" for d in deliveries)
        assert {
            "to": "alice@example.org",
            "address": "alice@example.org",
            "default": "INBOX",
            "has_trace": True,
        } in deliveries
        events = wait_for(
            lambda: (
                [json.loads(line) for line in (state / "events").read_text().splitlines()]
                if (state / "events").exists()
                else []
            ),
            what="queue events",
        )
        kinds = {e["kind"] for e in events}
        assert "queued" in kinds
        wait_for(lambda: "delivered" in (state / "events").read_text(), what="delivered event")
        log = srv.log_text()
        assert "plugin hook trimail_smtp_rcpt_to timed out after 1 s" in log
        assert "tests.plugins.api_plugin:plugin" in log
    assert (state / "lifecycle").read_text().split() == ['"startup"', '"shutdown"'] * 2


def test_a_routing_plugin_chooses_the_next_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    port = free_port()
    with (
        running_server(
            tmp_path / "remote",
            domains=["routed.example"],
            users={"dave@routed.example": PASSWORD},
            smtp_listen=f"127.0.0.2:{port}",
            hostname="mx.routed.example",
        ) as remote,
        running_server(
            tmp_path / "sender",
            domains=["example.org"],
            users={"alice@example.org": PASSWORD},
            top_extra=PLUGIN
            + '[plugin.api_test]\nroute_domain = "routed.example"\n'
            + f'route_to = "[127.0.0.2]:{port}"\n'
            + "[queue]\npoll_seconds = 0.2\n",
        ) as sender,
    ):
        with smtplib.SMTP("127.0.0.1", sender.submission_port, timeout=30) as client:
            client.ehlo("laptop.example")
            client.login("alice@example.org", PASSWORD)
            client.sendmail(
                "alice@example.org", ["dave@routed.example"], b"Subject: r\r\n\r\nx\r\n"
            )
        (got,) = wait_for(lambda: stored_messages(remote, "dave@routed.example"), what="routed")
        assert got.endswith(b"Subject: r\r\n\r\nx\r\n")
