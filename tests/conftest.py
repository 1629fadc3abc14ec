"""Fixtures shared by all of trimail's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trimail.testing.dns_server import LoopbackDns


@pytest.fixture(scope="module")
def loopback_dns(request: pytest.FixtureRequest) -> Iterator[LoopbackDns]:
    """A real DNS server (NSD on 127.0.0.1, a free port) serving the module's zones.

    The test module defines ``DNS_ZONES = {"example.test": "<zone body>", ...}`` (SOA,
    NS and $TTL are added when missing, see
    :func:`trimail.testing.dns_server.zone_file_text`) and may define
    ``DNS_SERVFAIL_ZONES = ["broken.test"]``. One server per module; tests must not
    stop it. Point a resolver at it with ``DnsResolver([loopback_dns.nameserver])``.

    Needs ``nsd`` (``apt-get install nsd``); fails with that hint otherwise.
    """
    zones = getattr(request.module, "DNS_ZONES", None)
    if zones is None:
        pytest.fail(f"{request.module.__name__} uses loopback_dns but defines no DNS_ZONES")
    servfail = getattr(request.module, "DNS_SERVFAIL_ZONES", ())
    with LoopbackDns(zones, servfail_zones=servfail) as server:
        yield server
