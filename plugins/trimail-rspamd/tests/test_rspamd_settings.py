"""The [plugin.rspamd] table: defaults, URL forms and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from trimail_rspamd import RspamdSettings, parse_url
from trimail_rspamd.settings import Endpoint, describe, is_loopback

from trimail.config import ConfigError
from trimail.config.loader import structure_plugin_table
from trimail.config.model import Config
from trimail.testing.process import run_cli


def load(table: dict[str, Any]) -> RspamdSettings | None:
    return structure_plugin_table(Config(plugin={"rspamd": table}), "rspamd", RspamdSettings)


def test_defaults() -> None:
    settings = load({})
    assert settings == RspamdSettings()
    assert settings.url == "http://127.0.0.1:11333"
    assert settings.timeout_seconds == 20.0
    assert settings.on_error == "accept"
    assert settings.junk_mailbox == "Junk"
    assert not settings.scan_outbound
    assert settings.max_size_bytes == 20 * 1024 * 1024
    assert settings.password == settings.mta_name == settings.settings_id == ""
    assert settings.endpoint == Endpoint(
        scheme="http", host="127.0.0.1", port=11333, path="/checkv2"
    )


def test_no_table_means_off() -> None:
    assert structure_plugin_table(Config(), "rspamd", RspamdSettings) is None


def test_a_full_table() -> None:
    settings = load(
        {
            "url": "https://rspamd.example.org/scan/",
            "timeout_seconds": 5,  # a TOML integer is fine for seconds
            "on_error": "tempfail",
            "junk_mailbox": "Spam",
            "scan_outbound": True,
            "max_size_bytes": 1_000_000,
            "password": "s3cret",
            "mta_name": "mx.example.org",
            "settings_id": "inbound",
        }
    )
    assert settings is not None and settings.timeout_seconds == 5.0
    assert settings.endpoint == Endpoint(
        scheme="https", host="rspamd.example.org", port=443, path="/scan/checkv2"
    )
    assert describe(settings)["password"] == "***"


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://localhost", Endpoint(scheme="http", host="localhost", port=80, path="/checkv2")),
        ("http://[::1]:11333/", Endpoint(scheme="http", host="::1", port=11333, path="/checkv2")),
        (
            "http://127.0.0.1:11333/checkv2",  # the whole scan URL is accepted too
            Endpoint(scheme="http", host="127.0.0.1", port=11333, path="/checkv2"),
        ),
    ],
)
def test_url_forms(url: str, endpoint: Endpoint) -> None:
    assert parse_url(url) == endpoint


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"url": "ftp://127.0.0.1"},
            "plugin.rspamd.url: 'ftp://127.0.0.1' must start with http://",
        ),
        ({"url": "127.0.0.1:11333"}, "must start with http:// or https://"),
        ({"url": "http://"}, "names no host"),
        ({"url": "http://u:p@127.0.0.1"}, "must not hold a user name or password"),
        ({"url": "http://127.0.0.1/?a=1"}, "must not have a query or fragment"),
        ({"url": "http://127.0.0.1:99999"}, "is not a URL"),
        ({"url": "http://127.0.0.1:0"}, "has port 0"),
        ({"url": "http://127.0.0.1/a b"}, "spaces or control characters"),
        ({"url": 11333}, "plugin.rspamd.url: expected"),
        ({"timeout_seconds": 0}, "plugin.rspamd.timeout_seconds: must be more than 0"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds: must be more than 0"),
        ({"timeout_seconds": 601}, "at most 600"),
        ({"on_error": "reject"}, 'plugin.rspamd.on_error: must be "accept" or "tempfail"'),
        ({"junk_mailbox": " "}, "plugin.rspamd.junk_mailbox: ' ' is not a mailbox name"),
        ({"junk_mailbox": "Junk\n"}, "is not a mailbox name"),
        ({"max_size_bytes": 0}, "plugin.rspamd.max_size_bytes: must be at least 1"),
        ({"password": "two words"}, "plugin.rspamd.password: printable ASCII"),
        ({"mta_name": "mx\r\nX-Evil: 1"}, "plugin.rspamd.mta_name: printable ASCII"),
        ({"settings_id": "é"}, "plugin.rspamd.settings_id: printable ASCII"),
        ({"scan_outbound": "yes"}, "plugin.rspamd.scan_outbound: expected"),
        ({"urls": "x"}, "plugin.rspamd: unknown key(s): urls"),
    ],
)
def test_bad_values_are_clear_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(table)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True),
     ("192.0.2.1", False), ("rspamd.example.org", False), ("::", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_config_names_the_bad_key(tmp_path: Path) -> None:
    """``trimail check-config`` stops with ``plugin.rspamd.KEY: reason``, no traceback."""
    config = tmp_path / "trimail.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[plugin.rspamd]\nurl = "ftp://127.0.0.1"\n',
        encoding="utf-8",
    )
    done = run_cli(config, "check-config")
    assert done.returncode == 1, done
    assert "plugin.rspamd.url: 'ftp://127.0.0.1' must start with http://" in done.stderr
    assert "Traceback" not in done.stderr
