"""SCRAM-SHA-256 keys in the user database: the column, its migration, the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.sasl.scram_client import ScramClient
from trimail.sasl import ScramServer, derive_credentials
from trimail.testing.process import run_cli, write_config
from trimail.users.db import UserDatabase
from trimail.users.passwords import SCRAM_ITERATIONS, hash_password, scram_credentials

# The user table as it was before SCRAM keys were stored.
OLD_SCHEMA = """
CREATE TABLE domain (name TEXT PRIMARY KEY);
CREATE TABLE user (
    address TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);
CREATE TABLE alias (source TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (source, target));
INSERT INTO domain VALUES ('example.org');
INSERT INTO user VALUES ('old@example.org', 'a1b2c3', 'the-old-hash');
"""


@pytest.fixture
def db(tmp_path: Path) -> UserDatabase:
    db = UserDatabase(tmp_path / "users.sqlite3")
    db.add_domain("example.org")
    return db


def test_scram_credentials_for_a_password_log_in() -> None:
    keys = scram_credentials("pencil and paper")
    assert keys.iterations == SCRAM_ITERATIONS >= 4096  # RFC 7677 §4
    assert len(keys.salt) == 16
    assert scram_credentials("pencil and paper").salt != keys.salt  # a fresh salt each time
    client = ScramClient("alice@example.org", "pencil and paper")
    server = ScramServer("servernonce")
    assert server.first(client.first()) == ("alice@example.org", "")
    assert client.verify(server.final(client.final(server.challenge(keys))))


def test_add_user_stores_keys_not_the_password(db: UserDatabase, tmp_path: Path) -> None:
    keys = scram_credentials("pencil and paper")
    db.add_user("Alice@example.org", "h", keys)
    db.add_user("bob@example.org", "h")
    assert db.scram_credentials("ALICE@example.org") == keys
    assert db.scram_credentials("bob@example.org") is None
    assert db.scram_credentials("nobody@example.org") is None
    assert db.scram_credentials("not an address") is None
    db.close()
    raw = (tmp_path / "users.sqlite3").read_bytes()
    assert b"pencil" not in raw
    assert keys.to_text().encode() in raw


def test_set_password_replaces_or_drops_the_keys(db: UserDatabase) -> None:
    first = derive_credentials("first password", b"salt-one", 4096)
    db.add_user("alice@example.org", "h1", first)
    second = derive_credentials("second password", b"salt-two", 4096)
    db.set_password_hash("alice@example.org", "h2", second)
    assert db.scram_credentials("alice@example.org") == second
    assert db.password_hash("alice@example.org") == "h2"
    # a new password without keys must not leave the old password's keys usable
    db.set_password_hash("alice@example.org", "h3")
    assert db.scram_credentials("alice@example.org") is None


def test_scram_secret_is_random_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    first = UserDatabase(path)
    secret = first.scram_secret
    first.close()
    again = UserDatabase(path)
    assert again.scram_secret == secret and len(secret) == 32
    again.close()
    other = UserDatabase(tmp_path / "other.sqlite3")
    assert other.scram_secret != secret
    other.close()


def test_a_garbled_stored_value_means_no_keys(db: UserDatabase, tmp_path: Path) -> None:
    db.add_user("alice@example.org", "h", scram_credentials("pencil and paper"))
    with sqlite3.connect(tmp_path / "users.sqlite3") as raw:
        raw.execute("UPDATE user SET scram='SCRAM-SHA-256$12:bad'")
    raw.close()
    assert db.scram_credentials("alice@example.org") is None


def test_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.executescript(OLD_SCHEMA)
    raw.close()
    db = UserDatabase(path)
    # the user is still there with its hash, and simply has no SCRAM keys yet
    assert db.find_user("old@example.org") is not None
    assert db.password_hash("old@example.org") == "the-old-hash"
    assert db.scram_credentials("old@example.org") is None
    assert len(db.scram_secret) == 32
    keys = scram_credentials("a new password")
    db.set_password_hash("old@example.org", hash_password("a new password"), keys)
    assert db.scram_credentials("old@example.org") == keys
    db.add_user("new@example.org", "h", keys)
    secret = db.scram_secret
    db.close()
    reopened = UserDatabase(path)  # migrating twice changes nothing
    assert reopened.scram_secret == secret
    assert reopened.scram_credentials("new@example.org") == keys
    reopened.close()
    with sqlite3.connect(path) as raw:
        columns = [row[1] for row in raw.execute("PRAGMA table_info(user)")]
    raw.close()
    assert columns == ["address", "account_id", "password_hash", "scram"]


def test_cli_stores_keys_on_add_and_passwd(tmp_path: Path) -> None:
    config = write_config(tmp_path / "trimail.toml", tmp_path / "data")
    for args, stdin in (
        (("domain", "add", "example.org"), ""),
        (("user", "add", "alice@example.org", "--password-stdin"), "first password\n"),
    ):
        done = run_cli(config, *args, stdin=stdin)
        assert done.returncode == 0, done.stderr
    path = tmp_path / "data" / "users.sqlite3"
    db = UserDatabase(path)
    keys = db.scram_credentials("alice@example.org")
    db.close()
    assert keys is not None and keys.iterations == SCRAM_ITERATIONS
    done = run_cli(config, "user", "show", "alice@example.org")
    assert "scram:   yes\n" in done.stdout
    done = run_cli(
        config, "user", "passwd", "alice@example.org", "--password-stdin", stdin="second pw!\n"
    )
    assert done.returncode == 0, done.stderr
    db = UserDatabase(path)
    changed = db.scram_credentials("alice@example.org")
    db.close()
    assert changed is not None and changed.salt != keys.salt
    assert changed == derive_credentials("second pw!", changed.salt, changed.iterations)


def test_cli_show_tells_a_migrated_user_to_set_the_password(tmp_path: Path) -> None:
    config = write_config(tmp_path / "trimail.toml", tmp_path / "data")
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "users.sqlite3") as raw:
        raw.executescript(OLD_SCHEMA)
    raw.close()
    done = run_cli(config, "user", "show", "old@example.org")
    assert done.returncode == 0, done.stderr
    assert "scram:   no (set the password again to enable)\n" in done.stdout
