"""The default backend passes the storage plugin conformance suite."""

from __future__ import annotations

from pathlib import Path

from trimail.storage import SqliteMailStore
from trimail.testing.store_conformance import check_mail_store


def test_sqlite_store_conforms() -> None:
    check_mail_store(
        lambda root: SqliteMailStore(root / "accounts"),
        clocked_factory=lambda root, clock: SqliteMailStore(root / "accounts", clock=clock),
    )


def test_conformance_suite_catches_a_broken_store(tmp_path: Path) -> None:
    """A store that loses the prefix must fail the suite (the suite has teeth)."""

    class DropsPrefix(SqliteMailStore):
        def deliver(self, *args, prefix=b"", **kwargs):  # type: ignore[no-untyped-def]
            return super().deliver(*args, **kwargs)

    try:
        check_mail_store(DropsPrefix)
    except AssertionError as exc:
        assert "prefix" in str(exc) or "octets" in str(exc)
    else:
        raise AssertionError("the suite accepted a store that drops the prefix")
