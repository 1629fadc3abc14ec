"""Made-up SCRAM credentials for unknown users (RFC 5802 §9): stable, secret, useless."""

from __future__ import annotations

import pytest

from tests.sasl.scram_client import ScramClient
from trimail.sasl import ScramError, ScramServer, derive_credentials, fake_credentials

SECRET = bytes(range(32))


def test_stable_per_name_and_secret() -> None:
    one = fake_credentials(SECRET, "nobody@example.org", 10_000)
    assert one == fake_credentials(SECRET, "nobody@example.org", 10_000)
    assert one.iterations == 10_000 and len(one.salt) == 16
    assert fake_credentials(SECRET, "other@example.org", 10_000).salt != one.salt
    assert fake_credentials(b"another secret", "nobody@example.org", 10_000).salt != one.salt
    assert len(fake_credentials(SECRET, "x", salt_bytes=24).salt) == 24


def test_no_password_matches() -> None:
    keys = fake_credentials(SECRET, "nobody@example.org")
    client = ScramClient("nobody@example.org", "any password")
    server = ScramServer("nonce")
    server.first(client.first())
    server_first = server.challenge(keys)
    with pytest.raises(ScramError) as info:
        server.final(client.final(server_first))
    assert info.value.server_error == "invalid-proof"  # as for a wrong password
    assert derive_credentials("any password", keys.salt, keys.iterations) != keys


def test_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        fake_credentials(b"", "x")
    with pytest.raises(ValueError):
        fake_credentials(SECRET, "x", salt_bytes=0)
    with pytest.raises(ValueError):
        fake_credentials(SECRET, "x", 4095)
