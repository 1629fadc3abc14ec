from __future__ import annotations

from pathlib import Path

import pytest

from trimail.mail.address import Mailbox
from trimail.users.db import Resolution, UserDatabase, UserDatabaseError
from trimail.users.passwords import hash_password, verify_password


@pytest.fixture
def db(tmp_path: Path) -> UserDatabase:
    db = UserDatabase(tmp_path / "users.sqlite3")
    db.add_domain("example.org")
    return db


def resolve(db: UserDatabase, address: str) -> tuple[Resolution, tuple[str, ...]]:
    local, _, domain = address.rpartition("@")
    return db.resolve(Mailbox(local_part=local, domain=domain))


def test_users_plus_addressing_aliases_catch_all(db: UserDatabase) -> None:
    alice = db.add_user("Alice@Example.org", "h")
    bob = db.add_user("bob@example.org", "h")
    assert resolve(db, "alice@example.org") == (Resolution.LOCAL, (alice.account_id,))
    assert resolve(db, "ALICE@EXAMPLE.ORG.") == (Resolution.LOCAL, (alice.account_id,))
    assert resolve(db, "alice+news@example.org") == (Resolution.LOCAL, (alice.account_id,))
    assert resolve(db, "nobody@example.org") == (Resolution.UNKNOWN, ())
    assert resolve(db, "alice@other.example") == (Resolution.NOT_LOCAL, ())
    db.add_alias("team@example.org", "alice@example.org")
    db.add_alias("team@example.org", "bob@example.org")
    assert sorted(resolve(db, "team+x@example.org")[1]) == sorted(
        (alice.account_id, bob.account_id)
    )
    db.add_alias("@example.org", "bob@example.org")
    assert resolve(db, "nobody@example.org") == (Resolution.LOCAL, (bob.account_id,))
    db.remove_alias("@example.org")
    assert resolve(db, "nobody@example.org") == (Resolution.UNKNOWN, ())


def test_alias_loops_terminate(db: UserDatabase) -> None:
    db.add_alias("a@example.org", "b@example.org")
    db.add_alias("b@example.org", "a@example.org")
    assert resolve(db, "a@example.org") == (Resolution.UNKNOWN, ())


def test_account_ids_are_opaque(db: UserDatabase) -> None:
    user = db.add_user("alice@example.org", "h")
    assert len(user.account_id) == 16
    assert all(ch in "0123456789abcdef" for ch in user.account_id)
    assert db.add_user("bob@example.org", "h").account_id != user.account_id


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda db: db.add_domain("example.org"), "already exists"),
        (lambda db: db.add_domain("bad domain"), "not a domain name"),
        (lambda db: db.add_user("a@other.example", "h"), "not a local domain"),
        (lambda db: db.add_user("no-at-sign", "h"), "not an address"),
        (lambda db: db.add_user("a b@example.org", "h"), "not a plain SMTP local part"),
        (lambda db: db.add_user("x@example.org/..", "h"), "not a domain name"),
        (lambda db: db.add_user("../x@example.org", "h"), "not a plain SMTP local part"),
        (lambda db: db.add_alias("x@example.org", "y@elsewhere.example"), "not in a local domain"),
        (lambda db: db.remove_user("ghost@example.org"), "no user"),
        (lambda db: db.remove_domain("other.example"), "no domain"),
    ],
)
def test_refusals(db: UserDatabase, call, message: str) -> None:
    with pytest.raises(UserDatabaseError, match=message):
        call(db)


def test_domain_with_users_cannot_be_removed(db: UserDatabase) -> None:
    db.add_user("a@example.org", "h")
    with pytest.raises(UserDatabaseError, match="still has 1 user"):
        db.remove_domain("example.org")


def test_changes_by_another_connection_are_seen(db: UserDatabase, tmp_path: Path) -> None:
    assert resolve(db, "late@example.org")[0] is Resolution.UNKNOWN
    other = UserDatabase(tmp_path / "users.sqlite3")
    other.add_user("late@example.org", "h")
    other.close()
    assert resolve(db, "late@example.org")[0] is Resolution.LOCAL


def test_password_hashes() -> None:
    stored = hash_password("a good password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a good password")
    assert not verify_password(stored, "a bad password")
    assert not verify_password("not a hash", "x")
    with pytest.raises(ValueError):
        hash_password("short")


def test_internationalized_domains_match_in_either_form(db: UserDatabase) -> None:
    assert db.add_domain("Exämple.ORG") == "xn--exmple-cua.org"
    user = db.add_user("jöran@exämple.org", "h")
    for domain in ("exämple.org", "XN--EXMPLE-CUA.org", "EXÄMPLE.org."):
        assert db.resolve(Mailbox(local_part="Jöran", domain=domain)) == (
            Resolution.LOCAL,
            (user.account_id,),
        )
    with pytest.raises(UserDatabaseError, match="already exists"):
        db.add_domain("xn--exmple-cua.org")
