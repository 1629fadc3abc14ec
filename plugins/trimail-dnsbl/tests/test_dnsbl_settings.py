"""``[plugin.dnsbl]`` validation: clear ``plugin.dnsbl.KEY: reason`` errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import attrs
import pytest
from trimail_dnsbl import DnsblList, DnsblSettings

from trimail.config.loader import ConfigError, load_config, structure_plugin_table
from trimail.config.model import Config


def settings(table: dict[str, Any]) -> DnsblSettings | None:
    config = attrs.evolve(Config(), plugin={"dnsbl": table})
    return structure_plugin_table(config, "dnsbl", DnsblSettings)


def test_a_toml_file_with_lists(tmp_path: Path) -> None:
    path = tmp_path / "trimail.toml"
    path.write_text(
        "[plugin.dnsbl]\n"
        'action = "tag"\nthreshold = 2\nwhitelist_networks = ["192.0.2.0/24", "2001:db8::/32"]\n'
        '[[plugin.dnsbl.lists]]\nzone = "Zen.Example."\n'
        '[[plugin.dnsbl.lists]]\nzone = "v6.example"\nweight = 0.5\nipv6 = true\n'
        'codes = ["127.0.0.2", "127.0.0.4"]\n',
        encoding="utf-8",
    )
    got = structure_plugin_table(load_config(path), "dnsbl", DnsblSettings)
    assert got == DnsblSettings(
        lists=(
            DnsblList(zone="zen.example"),
            DnsblList(zone="v6.example", weight=0.5, ipv6=True, codes=("127.0.0.2", "127.0.0.4")),
        ),
        action="tag",
        threshold=2.0,
        whitelist_networks=("192.0.2.0/24", "2001:db8::/32"),
    )
    assert got.reject_at == "rcpt" and got.allow_postmaster and not got.check_loopback
    assert got.networks() == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "plugin.dnsbl.lists: "),
        ({"lists": []}, "plugin.dnsbl.lists: no list to ask"),
        ({"lists": [{"zone": "zen"}]}, r"lists\[0\]\.zone: 'zen' is not a DNS zone name"),
        ({"lists": [{"zone": "bad_zone.example"}]}, "is not a DNS zone name"),
        ({"lists": [{"zone": "bücher.example"}]}, "A-labels"),
        ({"lists": [{"zone": "a.example", "ipv6": True, "extra": 1}]}, "unknown key"),
        ({"lists": [{"zone": ("x" * 60 + ".") * 3 + "x" * 10, "ipv6": True}]}, "at most 189"),
        ({"lists": [{"zone": "a.example"}, {"zone": "A.example."}]}, "listed twice"),
        ({"lists": [{"zone": f"l{i}.example"} for i in range(33)]}, "at most 32 lists"),
        ({"lists": [{"zone": "a.example", "weight": 0}]}, r"weight: must be a number above 0"),
        ({"lists": [{"zone": "a.example", "weight": float("nan")}]}, "weight: must be"),
        ({"lists": [{"zone": "a.example", "weight": "1"}]}, "expected a number"),
        ({"lists": [{"zone": "a.example", "codes": ["127.0.0.256"]}]}, "not an IPv4 address"),
        ({"lists": [{"zone": "a.example", "codes": ["10.0.0.2"]}]}, "outside 127.0.0.0/8"),
        ({"lists": [{"zone": "a.example", "codes": ["127.255.255.254"]}]}, "error codes"),
        ({"lists": [{"zone": "a.example", "codes": "127.0.0.2"}]}, "list of strings"),
    ],
)
def test_bad_lists_are_refused_clearly(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(table)


LIST = [{"zone": "a.example"}]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"threshold": -1}, "threshold: must be a number above 0"),
        ({"threshold": float("inf")}, "threshold: must be"),
        ({"action": "drop"}, 'action: must be "reject" or "tag"'),
        ({"reject_at": "data"}, 'reject_at: must be "connect" or "rcpt"'),
        ({"allow_postmaster": "yes"}, "expected true or false"),
        ({"whitelist_networks": ["192.0.2.1/24"]}, "host bits set; did you mean 192.0.2.0/24"),
        ({"whitelist_networks": ["example.org"]}, "is not a network"),
        ({"timeout_seconds": 0}, "timeout_seconds: must be more than 0 to 300"),
        ({"cache_seconds": -1}, "cache_seconds: must be 0 to 86400"),
        ({"check_loopback": 1}, "expected true or false"),
    ],
)
def test_bad_settings_are_refused_clearly(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings({"lists": LIST, **table})


def test_single_addresses_are_networks() -> None:
    got = settings({"lists": LIST, "whitelist_networks": ["192.0.2.7", "2001:db8::1"]})
    assert got is not None
    assert [str(n) for n in got.networks()] == ["192.0.2.7/32", "2001:db8::1/128"]


def test_codes_select_the_return_addresses() -> None:
    entry = DnsblList(zone="a.example", codes=("127.0.0.2",))
    assert entry.counts(ipaddress.IPv4Address("127.0.0.2"))
    assert not entry.counts(ipaddress.IPv4Address("127.0.0.3"))
    assert DnsblList(zone="a.example").counts(ipaddress.IPv4Address("127.0.0.3"))
