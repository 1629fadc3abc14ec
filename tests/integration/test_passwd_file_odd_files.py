"""Fresh-eyes checks of the passwd-file plugin's parsing and name matching."""

from __future__ import annotations

import pytest

pytest.importorskip("trimail_passwd_file")

from trimail_passwd_file.backend import PasswdFileBackend, parse_passwd_file


def test_fresh_passwd_file_bom_first_line() -> None:
    # A file saved by an editor with a UTF-8 BOM: the first user must still be found
    # (or at least the line must be reported), not silently become "\ufeffalice@...".
    entries = parse_passwd_file("\ufeffalice:{PLAIN}secret\n", default_domain="example.org")
    assert "alice@example.org" in entries


@pytest.mark.parametrize(
    ("in_file", "login"),
    [
        ("idn@xn--exmple-cua.org", "idn@exämple.org"),
        ("idn@exämple.org", "idn@xn--exmple-cua.org"),
    ],
)
def test_fresh_passwd_file_idn_either_form(tmp_path, in_file: str, login: str) -> None:
    # docs/cli.md: internationalized domain names "match in either form".
    path = tmp_path / "users"
    path.write_text(f"{in_file}:{{PLAIN}}pw-secret1\n", encoding="utf-8")
    backend = PasswdFileBackend(path)
    assert backend.check(login, "pw-secret1") is not None
