"""The ``trimail`` command line, run as a user would (a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trimail.testing.process import run_cli, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "trimail.toml", tmp_path / "data")


def ok(config: Path, *args: str, stdin: str = "") -> str:
    done = run_cli(config, *args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def fails(config: Path, *args: str, stdin: str = "") -> str:
    done = run_cli(config, *args, stdin=stdin)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stderr


def test_domain_user_alias_lifecycle(config: Path) -> None:
    ok(config, "domain", "add", "Example.org")
    assert ok(config, "domain", "list") == "example.org\n"
    ok(config, "user", "add", "alice@example.org", "--password-stdin", stdin="a secret pw\n")
    assert ok(config, "user", "list") == "alice@example.org\n"
    ok(config, "user", "passwd", "alice@example.org", "--password-stdin", stdin="another pw\n")
    ok(config, "alias", "add", "@example.org", "alice@example.org")
    ok(config, "alias", "add", "info@example.org", "alice@example.org")
    assert ok(config, "alias", "list") == (
        "@example.org -> alice@example.org\ninfo@example.org -> alice@example.org\n"
    )
    assert "still has" in fails(config, "domain", "remove", "example.org")
    ok(config, "alias", "remove", "info@example.org")
    ok(config, "alias", "remove", "@example.org", "alice@example.org")
    assert "mail is kept" in ok(config, "user", "remove", "alice@example.org")
    ok(config, "domain", "remove", "example.org")
    assert ok(config, "domain", "list") == ""


def test_user_add_makes_inbox(config: Path, tmp_path: Path) -> None:
    from trimail.storage.plugin import open_default_store
    from trimail.users.db import UserDatabase

    ok(config, "domain", "add", "example.org")
    ok(config, "user", "add", "a@example.org", "--password-stdin", stdin="long enough\n")
    users = UserDatabase(tmp_path / "data" / "users.sqlite3")
    (user,) = users.users()
    users.close()
    store = open_default_store(tmp_path / "data" / "accounts")
    try:
        assert "INBOX" in [m.name for m in store.list_mailboxes(user.account_id)]
    finally:
        store.close()


def test_clear_errors(config: Path, tmp_path: Path) -> None:
    assert "not a local domain" in fails(
        config, "user", "add", "a@x.example", "--password-stdin", stdin="long enough\n"
    )
    ok(config, "domain", "add", "example.org")
    assert "at least 8" in fails(
        config, "user", "add", "a@example.org", "--password-stdin", stdin="short\n"
    )
    assert "no user" in fails(
        config, "user", "passwd", "ghost@example.org", "--password-stdin", stdin="long enough\n"
    )
    assert "use --password-stdin" in fails(config, "user", "add", "b@example.org")
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nmax_recipients = -1\n")
    assert f"{bad}: smtp.max_recipients: must be greater than 0" in fails(bad, "domain", "list")


def test_check_config(config: Path, tmp_path: Path) -> None:
    assert "OK" in ok(config, "check-config")
    bad = tmp_path / "bad.toml"
    bad.write_text('plugins = ["no_such_plugin_module"]\n')
    assert "no_such_plugin_module" in fails(bad, "check-config")


def test_serve_refuses_a_bad_config_and_a_busy_port(tmp_path: Path) -> None:
    import socket

    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nlisten = ['127.0.0.1:70000']\n")
    assert "port must be a number" in fails(bad, "serve")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = write_config(tmp_path / "busy.toml", tmp_path / "d2")
        busy.write_text(busy.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))
        assert f"cannot listen on 127.0.0.1:{port}" in fails(busy, "serve")


def test_user_show_notes_and_idn(config: Path) -> None:
    ok(config, "domain", "add", "exämple.org")
    assert ok(config, "domain", "list") == "xn--exmple-cua.org\n"
    ok(config, "user", "add", "jöran@EXÄMPLE.org", "--password-stdin", stdin="long enough\n")
    done = run_cli(config, "alias", "add", "info@exämple.org", "ghost@exämple.org")
    assert done.returncode == 0 and "is not a user or alias (yet)" in done.stderr
    ok(config, "alias", "add", "sales@xn--exmple-cua.org", "jöran@exämple.org")
    shown = ok(config, "user", "show", "jöran@exämple.org")
    assert "address: jöran@xn--exmple-cua.org\n" in shown
    assert "aliases: sales@xn--exmple-cua.org\n" in shown
    done = run_cli(config, "user", "remove", "jöran@exämple.org")
    assert done.returncode == 0 and "still point to" in done.stderr
    assert "not a plain SMTP local part" in fails(
        config, "user", "add", "../../x@exämple.org", "--password-stdin", stdin="long enough\n"
    )


def test_plugin_without_hooks_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('plugins = ["json"]\n')
    assert "plugins: 'json' defines no trimail hooks" in fails(bad, "check-config")
