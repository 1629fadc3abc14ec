"""The bundled passwd-file plugin checks IMAP and POP3 logins in a real ``trimail serve``."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import poplib
from pathlib import Path

import argon2
import pytest

from trimail.testing.process import running_server


def ssha256(password: str) -> str:
    salt = b"\x00salt\xff12"
    raw = hashlib.sha256(password.encode() + salt).digest() + salt
    return "{SSHA256}" + base64.b64encode(raw).decode()


def argon2id(password: str) -> str:
    hasher = argon2.PasswordHasher(time_cost=1, memory_cost=8192, type=argon2.Type.ID)
    return "{ARGON2ID}" + hasher.hash(password)


def test_logins_come_from_the_passwd_file(tmp_path: Path) -> None:
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    passwd = tmp_path / "dovecot-users"
    passwd.write_text(
        "# as Dovecot has it\n"
        f"alice:{ssha256('alice file pw')}:1000:1000::/home/alice::\n"
        f"bob@example.org:{argon2id('bob file pw')}\n",
        encoding="utf-8",
    )
    top = (
        'plugins = ["trimail_passwd_file"]\n'
        f'[plugin.passwd_file]\npath = {str(passwd)!r}\ndefault_domain = "example.org"\n'
    )
    with running_server(
        srv_dir,
        domains=["example.org"],
        users={"alice@example.org": "database pw", "bob@example.org": "database pw"},
        top_extra=top,
    ) as srv:
        for user, password in (("alice@example.org", "alice file pw"), ("bob", "bob file pw")):
            imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=10)
            imap.login(user, password)
            assert imap.select("INBOX")[0] == "OK"
            imap.logout()
            pop = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
            pop.user(user)
            pop.pass_(password)
            assert pop.stat() == (0, 0)
            pop.quit()

        imap = imaplib.IMAP4("127.0.0.1", srv.imap_port, timeout=10)
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("alice@example.org", "database pw")  # the file decides now
        imap.logout()
        pop = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
        pop.user("bob@example.org")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            pop.pass_("wrong")
        pop.quit()


def test_a_bad_plugin_table_is_one_clear_error(tmp_path: Path) -> None:
    """check-config and serve both stop with ``plugin.NAME.KEY: reason``, no traceback."""
    from trimail.testing.process import run_cli

    config = tmp_path / "trimail.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[plugin.passwd_file]\npath = 5\n', encoding="utf-8"
    )
    for args in (("check-config",), ("serve",)):
        done = run_cli(config, *args)
        assert done.returncode == 1, done
        assert "plugin.passwd_file.path: expected a string" in done.stderr
        assert "Traceback" not in done.stderr
