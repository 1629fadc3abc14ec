"""The [plugin.greylist] table: defaults and clear errors for bad values."""

from __future__ import annotations

from typing import Any

import pytest
from trimail_greylist import GreylistSettings
from trimail_greylist.settings import normalize_path_pattern, parse_network

from trimail.config import ConfigError
from trimail.config.loader import structure_plugin_table
from trimail.config.model import Config


def load(table: dict[str, Any]) -> GreylistSettings | None:
    return structure_plugin_table(Config(plugin={"greylist": table}), "greylist", GreylistSettings)


def test_defaults_are_postgreys() -> None:
    settings = load({})
    assert settings == GreylistSettings()
    assert settings.delay_seconds == 300
    assert settings.retry_window_seconds == 2 * 86400
    assert settings.pass_lifetime_seconds == 35 * 86400
    assert settings.auto_whitelist_after == 5
    assert (settings.ipv4_prefix_length, settings.ipv6_prefix_length) == (24, 64)
    assert not settings.greylist_loopback


def test_a_full_table() -> None:
    settings = load(
        {
            "delay_seconds": 60,  # a TOML integer is fine for seconds
            "retry_window_seconds": 3600.5,
            "auto_whitelist_after": 0,
            "whitelist_networks": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"],
            "whitelist_recipients": ["postmaster@example.org", ".example.net", "bücher.de"],
            "whitelist_senders": ["Example.COM."],
            "greylist_loopback": True,
        }
    )
    assert settings is not None and settings.delay_seconds == 60.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"delay_seconds": -1}, "plugin.greylist.delay_seconds: must not be negative"),
        ({"retry_window_seconds": 0}, "retry_window_seconds: must be more than 0"),
        ({"pass_lifetime_seconds": -5}, "pass_lifetime_seconds: must be more than 0"),
        ({"auto_whitelist_after": -1}, "auto_whitelist_after: must not be negative"),
        ({"delay_seconds": float("inf")}, "delay_seconds: must be a finite number"),
        ({"purge_interval_seconds": 0}, "purge_interval_seconds: must be more than 0"),
        (
            {"delay_seconds": 600, "retry_window_seconds": 600},
            "delay_seconds: must be less than retry_window_seconds",
        ),
        ({"ipv4_prefix_length": 33}, "ipv4_prefix_length: must be 0..32"),
        ({"ipv6_prefix_length": -1}, "ipv6_prefix_length: must be 0..128"),
        ({"whitelist_networks": ["10.0.0.1/8"]}, "did you mean '10.0.0.0/8'"),
        ({"whitelist_networks": ["not-a-net"]}, "'not-a-net' is not an IP address or CIDR"),
        ({"whitelist_networks": ["10.0.0.0/33"]}, "whitelist_networks: '10.0.0.0/33'"),
        ({"whitelist_networks": "10.0.0.0/8"}, "expected a list of strings"),
        ({"whitelist_recipients": ["@example.org"]}, "the local part before '@' is empty"),
        ({"whitelist_recipients": ["a@exa mple.org"]}, "whitelist_recipients: 'a@exa mple.org'"),
        ({"whitelist_senders": ["a@-bad-.org"]}, "'-bad-.org' is not a domain name"),
        ({"whitelist_senders": ["<a@example.org>"]}, "is not an address, a domain or a .domain"),
        ({"whitelist_senders": [""]}, "whitelist_senders: '' is not an address"),
        ({"delay_seconds": "300"}, "delay_seconds: expected a number"),
        ({"greylist_loopback": 1}, "greylist_loopback: expected true or false"),
        ({"delay": 300}, "unknown key(s): delay"),
    ],
)
def test_bad_values_are_named(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(table)
    assert message in str(info.value)


def test_parse_network() -> None:
    assert str(parse_network(" 192.0.2.1 ")) == "192.0.2.1/32"
    assert str(parse_network("2001:db8::/32")) == "2001:db8::/32"
    with pytest.raises(ValueError, match="host bits"):
        parse_network("2001:db8::1/32")


def test_normalize_path_pattern() -> None:
    assert normalize_path_pattern("Alice@Example.ORG.") == "alice@example.org"
    assert normalize_path_pattern(".Example.org") == ".example.org"
    assert normalize_path_pattern("example.org") == "example.org"
    with pytest.raises(ValueError):
        normalize_path_pattern("..example.org")


def test_mapped_and_scoped_networks() -> None:
    assert str(parse_network("::ffff:192.0.2.1")) == "192.0.2.1/32"  # clients count as IPv4
    assert str(parse_network("::ffff:192.0.2.0/120")) == "192.0.2.0/24"
    with pytest.raises(ValueError, match="zone index"):
        parse_network("fe80::1%eth0")
