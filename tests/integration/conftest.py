"""Fixtures that run a real ``trimail serve`` and read what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trimail.storage.plugin import open_default_store
from trimail.testing.process import ServerProcess, running_server
from trimail.users.db import UserDatabase

PASSWORD = "correct horse battery"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server for example.org with users alice and bob, a catch-all on catchall.test."""
    with running_server(
        tmp_path,
        domains=["example.org", "catchall.test"],
        users={
            "alice@example.org": PASSWORD,
            "bob@example.org": PASSWORD,
            "carol@catchall.test": PASSWORD,
        },
        aliases=[
            ("postmaster@example.org", "alice@example.org"),
            ("team@example.org", "alice@example.org"),
            ("team@example.org", "bob@example.org"),
            ("@catchall.test", "carol@catchall.test"),
        ],
    ) as srv:
        yield srv


def stored_messages(srv: ServerProcess, address: str, mailbox_name: str = "INBOX") -> list[bytes]:
    """The messages in *address*'s mailbox, as stored bytes, in UID order."""
    users = UserDatabase(srv.data_dir / "users.sqlite3")
    try:
        account_id = {u.address: u.account_id for u in users.users()}[address]
    finally:
        users.close()
    store = open_default_store(srv.data_dir / "accounts")
    try:
        infos = store.list_messages(account_id, mailbox_name)
        return [store.read_message(account_id, mailbox_name, info.uid) for info in infos]
    finally:
        store.close()
