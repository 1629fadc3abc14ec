"""DKIM signing keys in the data directory: where they live, and a cache of them.

Keys are written by ``trimail dkim generate`` (`trimail.cli.dns`) and read by the
signing hook (`trimail.server.mailauth_plugin`); both name the file with
`dkim_key_path`, so the two can never disagree.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from trimail.mailauth.records import DkimPrivateKey, RecordError, load_private_key_pem
from trimail.users.db import normalize_domain

log = logging.getLogger("trimail.mailauth")


def dkim_key_path(data_dir: str | Path, domain: str, selector: str) -> Path:
    """``<data_dir>/dkim/<A-label domain>/<selector>.key``.

    Raises:
        UserDatabaseError: *domain* is not a host name (never becomes a path then).
    """
    return Path(data_dir) / "dkim" / normalize_domain(domain) / f"{selector}.key"


class DkimKeys:
    """Signing keys read from the data directory, cached until their file changes."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[int, DkimPrivateKey | None]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> DkimPrivateKey | None:
        """The key in *path*, or None if there is none or it cannot be used (logged)."""
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        key: DkimPrivateKey | None
        try:
            key = load_private_key_pem(path.read_bytes())
        except (OSError, RecordError) as exc:
            log.error("DKIM key %s cannot be used: %s", path, exc)
            key = None
        with self._lock:
            self._cache[path] = (mtime, key)
        return key
