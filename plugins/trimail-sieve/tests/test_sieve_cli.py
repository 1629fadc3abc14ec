"""``trimail sieve put|get|delete|list|check``, run in-process through trimail's CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from trimail_sieve.store import FILE_NAME, SieveStore

from trimail.cli.main import main
from trimail.testing.process import write_config
from trimail.users.db import UserDatabase

GOOD = b'require ["fileinto"];\nif header :contains "subject" "x" { fileinto "X"; }\n'


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    users = UserDatabase(data / "users.sqlite3")
    users.add_domain("example.org")
    users.add_user("alice@example.org", "not-a-real-hash")
    users.close()
    return write_config(tmp_path / "trimail.toml", data, top_extra="[plugin.sieve]\n")


def sieve(config: Path, *args: str) -> int:
    return main(["--config", str(config), "sieve", *args])


def script_file(tmp_path: Path, source: bytes, name: str = "f.sieve") -> str:
    path = tmp_path / name
    path.write_bytes(source)
    return str(path)


def test_put_get_list_delete(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sieve(config, "put", "Alice@Example.org", script_file(tmp_path, GOOD)) == 0
    assert "alice@example.org: script stored" in capsys.readouterr().out
    assert sieve(config, "get", "alice@example.org") == 0
    assert capsys.readouterr().out == GOOD.decode()
    assert sieve(config, "list") == 0
    assert capsys.readouterr().out.startswith(f"alice@example.org\t{len(GOOD)} octets\t")
    state = tmp_path / "data" / "plugins" / "sieve"
    assert (state / FILE_NAME).exists() and state.stat().st_mode & 0o777 == 0o700
    store = SieveStore(state / FILE_NAME)  # keyed by account id, not by address
    (stored,) = store.scripts()
    assert stored.account_id != "alice@example.org" and stored.source == GOOD
    store.close()
    assert sieve(config, "delete", "alice@example.org") == 0
    assert sieve(config, "get", "alice@example.org") == 1
    assert "has no Sieve script" in capsys.readouterr().err
    assert sieve(config, "delete", "alice@example.org") == 1


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (b'require "body";\nkeep;', "f.sieve: line 1, column 9: unknown capability 'body'"),
        (b"keep;\nif true {\n", "f.sieve: line 3"),
        (b'if header :is "a" "b" { keep }', "f.sieve: line 1, column 30: unexpected token"),
        (b'require "fileinto";\nfileinto "";', "not a valid mailbox name"),
        (b"#" * 70_000, "over the limit of 65536"),
        (
            b'keep;\nredirect "carol";',
            "f.sieve: line 2, column 10: redirect: 'carol' is not a valid address",
        ),
    ],
)
def test_put_refuses_bad_scripts(
    config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: bytes,
    words: str,
) -> None:
    assert sieve(config, "put", "alice@example.org", script_file(tmp_path, source)) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert sieve(config, "check", script_file(tmp_path, source)) == 1
    assert words in capsys.readouterr().err


def test_check_accepts_a_good_script(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sieve(config, "check", script_file(tmp_path, GOOD)) == 0
    assert "OK" in capsys.readouterr().out


def test_unknown_user_and_missing_file(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sieve(config, "put", "nobody@example.org", script_file(tmp_path, GOOD)) == 1
    assert "nobody@example.org: no such user" in capsys.readouterr().err
    assert sieve(config, "get", "not an address") == 1
    assert "no such user" in capsys.readouterr().err
    assert sieve(config, "put", "alice@example.org", str(tmp_path / "missing")) == 1
    assert "missing: No such file or directory" in capsys.readouterr().err


def test_limits_come_from_the_config(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = config.read_text().replace(
        "[plugin.sieve]\n", "[plugin.sieve]\nmax_script_bytes = 1024\n"
    )
    config.write_text(text)
    assert sieve(config, "check", script_file(tmp_path, b"#" * 2000)) == 1
    assert "over the limit of 1024" in capsys.readouterr().err
    config.write_text(text.replace("1024", "12"))
    assert sieve(config, "check", script_file(tmp_path, GOOD)) == 1
    assert "plugin.sieve.max_script_bytes" in capsys.readouterr().err


def test_max_redirects_zero_refuses_redirect(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = script_file(tmp_path, b'redirect "carol@example.org";')
    assert sieve(config, "check", source) == 0
    capsys.readouterr()
    text = config.read_text().replace("[plugin.sieve]\n", "[plugin.sieve]\nmax_redirects = 0\n")
    config.write_text(text)
    assert sieve(config, "put", "alice@example.org", source) == 1
    assert "line 1, column 1: redirect is not allowed on this server" in capsys.readouterr().err


def test_broken_databases_are_one_line(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users_file = tmp_path / "data" / "users.sqlite3"
    users_file.write_bytes(b"\x07not a database" * 200)
    assert sieve(config, "get", "alice@example.org") == 1
    err = capsys.readouterr().err
    assert err.startswith("trimail") and "Traceback" not in err and len(err.splitlines()) == 1
    state = tmp_path / "data" / "plugins" / "sieve"
    state.mkdir(parents=True, exist_ok=True)
    import sqlite3

    with sqlite3.connect(state / FILE_NAME) as db:
        db.execute("CREATE TABLE scripts (x)")
    assert sieve(config, "list") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1
