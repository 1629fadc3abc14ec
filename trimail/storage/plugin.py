"""The default store (SQLite index + one file per message), registered as a plugin.

It answers `trimail_mail_store` last (``trylast``), so any plugin that returns a
store replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from trimail.plugins import hookimpl
from trimail.storage.sqlite_store import SqliteMailStore

if TYPE_CHECKING:
    from trimail.config.model import Config


def open_default_store(root: str | os.PathLike[str]) -> SqliteMailStore:
    """Open the default store whose accounts live under *root* (``<data_dir>/accounts``)."""
    return SqliteMailStore(Path(root))


@hookimpl(trylast=True)
def trimail_mail_store(config: Config) -> SqliteMailStore:
    """Provide the default store under ``<data_dir>/accounts``."""
    return open_default_store(Path(config.data_dir) / "accounts")
