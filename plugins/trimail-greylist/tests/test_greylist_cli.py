"""``trimail greylist list|purge|allow`` against a database the hook filled."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest
from trimail_greylist import GreylistPlugin, GreylistSettings
from trimail_greylist.cli import database_path

from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.plugins import PluginContext
from trimail.server.session_info import SessionInfo


def run(config: Config, *argv: str) -> int:
    """Parse *argv* as ``trimail`` would with the plugin's commands, then run it."""
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser(prog="trimail", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True)
    GreylistPlugin().trimail_cli_commands(commands=commands, common=common)
    args = parser.parse_args(argv)
    status: int = args.handler(config, args)
    return status


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(data_dir=str(tmp_path / "data"), plugin={"greylist": {}})


def fill(config: Config) -> None:
    start = time.time() - 600  # the commands use the real clock: ten minutes ago
    now = [start]
    plugin = GreylistPlugin(lambda: now[0])
    context = PluginContext(
        config=config,
        data_dir=Path(config.data_dir),
        tables={"greylist": GreylistSettings(retry_window_seconds=450.0)},
    )
    plugin.trimail_startup(context)
    session = SessionInfo(
        listener="smtp", peer_host="192.0.2.9", peer_port=1, local_host="::1", local_port=25
    )
    envelope = Envelope(reverse_path=Mailbox(local_part="bob", domain="sender.example"))
    for when, local in ((start, "alice"), (start, "carol"), (start + 400, "alice")):
        now[0] = when
        plugin.trimail_smtp_rcpt_to(
            session=session,
            envelope=envelope,
            forward_path=Mailbox(local_part=local, domain="example.org"),
        )
    plugin.trimail_shutdown(context=context)


def test_no_database_yet(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "greylist", "list") == 0
    assert "no database yet" in capsys.readouterr().err
    assert run(config, "greylist", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"triplets": [], "clients": [], "allowed": []}
    assert run(config, "greylist", "purge") == 0
    assert not database_path(config).exists()


def test_list_json_and_table(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    fill(config)
    assert run(config, "greylist", "list", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    alice, carol = listing["triplets"]
    assert alice["network"] == "192.0.2.0/24"
    assert alice["reverse_path"] == "bob@sender.example"
    assert alice["forward_path"] == "alice@example.org"
    assert alice["state"] == "passed" and alice["passes"] == 1 and alice["refused"] == 1
    assert alice["first_seen"].endswith("+00:00")
    assert 599 < alice["age_seconds"] < 700 and 199 < alice["idle_seconds"] < 300
    assert carol["state"] == "expired"  # its 450 s retry window closed long ago
    assert listing["clients"][0]["network"] == "192.0.2.0/24"

    assert run(config, "greylist", "list") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "STATE", "NETWORK", "SENDER", "RECIPIENT", "AGE", "IDLE", "REFUSED", "PASSES"
    ]  # fmt: skip
    assert out.splitlines()[1].split()[:4] == [
        "passed", "192.0.2.0/24", "bob@sender.example", "alice@example.org"
    ]  # fmt: skip
    assert out.splitlines()[2].split()[:6] == [
        "expired", "192.0.2.0/24", "bob@sender.example", "carol@example.org", "10m", "10m"
    ]  # fmt: skip
    assert "client networks" in out


def test_purge(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    fill(config)
    assert run(config, "greylist", "purge") == 0
    assert capsys.readouterr().out == "purged 1 triplets and 0 client networks\n"


def test_allow(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "greylist", "allow", "192.0.2.0/24") == 0
    assert capsys.readouterr().out == "192.0.2.0/24: allowed\n"
    assert run(config, "greylist", "allow", "192.0.2.0/24") == 0
    assert "already allowed" in capsys.readouterr().out
    assert run(config, "greylist", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)["allowed"] == ["192.0.2.0/24"]
    assert run(config, "greylist", "allow", "--remove", "192.0.2.0/24") == 0
    assert capsys.readouterr().out == "192.0.2.0/24: removed\n"
    assert run(config, "greylist", "allow", "192.0.2.1/24") == 1
    assert "did you mean '192.0.2.0/24'" in capsys.readouterr().err
    mode = database_path(config).parent.stat().st_mode & 0o777
    assert mode == 0o700


def test_allow_without_table_says_greylisting_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config(data_dir=str(tmp_path))
    assert run(config, "greylist", "allow", "2001:db8::/48") == 0
    assert "greylisting is off" in capsys.readouterr().err


def test_broken_database(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    path = database_path(config)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage " * 1000)
    for argv in (("list",), ("list", "--json"), ("purge",), ("allow", "192.0.2.0/24")):
        assert run(config, "greylist", *argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("trimail: greylist: ") and "not a usable greylist database" in err
