"""An auth backend from a plugin decides POP3 logins instead of the user database."""

from __future__ import annotations

import poplib
from pathlib import Path

import pytest

from trimail.testing.process import running_server


def test_plugin_backend_replaces_the_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": "the database password"},
        top_extra='plugins = ["tests.plugins.auth_plugin"]\n',
    ) as srv:
        client = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
        client.user("alice@example.org")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_("the database password")  # the plugin decides now
        client.user("ALICE@example.org")
        client.pass_("from-the-plugin")
        assert client.stat() == (0, 0)
        client.quit()
