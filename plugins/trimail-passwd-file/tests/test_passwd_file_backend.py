"""The passwd-file backend: parsing, reloading, unreadable files, configuration."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

import pytest
import trio
from trimail_passwd_file import PasswdFileBackend, trimail_auth_backend
from trimail_passwd_file.backend import parse_passwd_file

from trimail.config import ConfigError
from trimail.config.model import Config


def ssha256(password: str, salt: bytes = b"saltsalt") -> str:
    raw = hashlib.sha256(password.encode() + salt).digest() + salt
    return "{SSHA256}" + base64.b64encode(raw).decode()


def write(path: Path, text: str, *, bump: int = 0) -> Path:
    path.write_text(text, encoding="utf-8")
    if bump:  # a different mtime even on coarse-grained file systems
        stamp = path.stat().st_mtime_ns + bump * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
    return path


def test_parse_skips_comments_blank_and_malformed_lines(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "# Dovecot users\n"
        "\n"
        "alice@example.org:{PLAIN}pw1:1000:1000::/home/alice::userdb_mail=maildir:~/Mail\n"
        "bob:{PLAIN}pw2\n"
        "no-password-field\n"
        ":{PLAIN}no-user\n"
        "carol@example.org:\n"
        "ALICE@example.org:{PLAIN}second\n"
        "  dave@Example.ORG:{PLAIN}pw4::::::\n"
    )
    with caplog.at_level(logging.WARNING):
        entries = parse_passwd_file(text, default_domain="example.net")
    assert entries == {
        "alice@example.org": "{PLAIN}pw1",
        "bob@example.net": "{PLAIN}pw2",
        "dave@example.org": "{PLAIN}pw4",
    }
    assert "line 5" in caplog.text and "line 6" in caplog.text and "line 7" in caplog.text
    assert "line 8: alice@example.org repeated" in caplog.text


def test_bare_user_names_need_default_domain(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_passwd_file("bob:{PLAIN}pw\n") == {}
    assert "default_domain is not set" in caplog.text


def test_verify(tmp_path: Path) -> None:
    path = write(tmp_path / "users", f"alice@example.org:{ssha256('pw')}\nbob:{{PLAIN}}b\n")
    backend = PasswdFileBackend(path, default_domain="example.org")
    assert backend.check("alice@example.org", "pw") == "alice@example.org"
    assert backend.check("Alice@Example.org", "pw") == "alice@example.org"
    assert backend.check("alice", "pw") == "alice@example.org"
    assert backend.check("bob@example.org", "b") == "bob@example.org"
    assert backend.check("alice@example.org", "wrong") is None
    assert backend.check("nobody@example.org", "pw") is None
    assert trio.run(backend.verify, "alice@example.org", "pw") == "alice@example.org"


def test_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "users", "alice@example.org:{PLAIN}old\n")
    backend = PasswdFileBackend(path)
    assert backend.check("alice@example.org", "old")
    write(path, "alice@example.org:{PLAIN}new\nbob@example.org:{PLAIN}b\n", bump=5)
    assert backend.check("alice@example.org", "new")
    assert not backend.check("alice@example.org", "old")
    assert backend.check("bob@example.org", "b")


def test_unreadable_file_fails_logins_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing"
    backend = PasswdFileBackend(path)
    with caplog.at_level(logging.INFO, logger="trimail.auth.passwd_file"):
        assert backend.check("alice@example.org", "pw") is None
        assert backend.check("alice@example.org", "pw") is None
        assert caplog.text.count("cannot read") == 1
        write(path, "alice@example.org:{PLAIN}pw\n")
        assert backend.check("alice@example.org", "pw") == "alice@example.org"
        assert "readable again" in caplog.text
        path.unlink()
        assert backend.check("alice@example.org", "pw") is None
        assert caplog.text.count("cannot read") == 2


def test_unsupported_scheme_fails_the_login_with_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = PasswdFileBackend(write(tmp_path / "users", "a@example.org:{MD5-CRYPT}$1$x$y\n"))
    assert backend.check("a@example.org", "pw") is None
    assert "unsupported scheme MD5-CRYPT" in caplog.text


def test_hook_defers_without_a_table() -> None:
    assert trimail_auth_backend(config=Config()) is None
    assert trimail_auth_backend(config=Config(plugin={"other": {"path": "x"}})) is None


def test_hook_builds_the_backend(tmp_path: Path) -> None:
    table = {"path": str(tmp_path / "users"), "default_domain": "Example.org"}
    backend = trimail_auth_backend(config=Config(plugin={"passwd_file": table}))
    assert isinstance(backend, PasswdFileBackend)
    assert backend.path == tmp_path / "users"
    assert backend.address("bob") == "bob@example.org"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({}, "plugin.passwd_file.path: required field missing"),
        ({"path": ""}, "plugin.passwd_file.path: must name the passwd-file"),
        ({"path": 3}, "plugin.passwd_file.path: expected a string"),
        ({"path": "/x", "domain": "a"}, "plugin.passwd_file: unknown key(s): domain"),
        ({"path": "/x", "default_domain": "a@b"}, "plugin.passwd_file.default_domain: 'a@b'"),
        ({"path": "/x", "default_domain": "bad domain"}, "plugin.passwd_file.default_domain:"),
    ],
)
def test_config_errors(table: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        trimail_auth_backend(config=Config(plugin={"passwd_file": table}))
    assert str(err.value).startswith(expected)
