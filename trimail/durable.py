"""Durable file writes: fsync of files and directories, atomic replacement.

Used wherever a reply promises that data is on disk: the mail store (before SMTP 250
or IMAP OK) and the outbound queue (before 250 on submission). Blocking calls: run
them in a worker thread from async code.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import suppress
from pathlib import Path

__all__ = ["fsync", "fsync_dir", "replace_durably", "unlink_quietly"]

_F_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)  # macOS only


def fsync(fd: int) -> None:
    """Flush a file descriptor to stable storage (``F_FULLFSYNC`` where it exists)."""
    if _F_FULLFSYNC is not None:
        with suppress(OSError):
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
    os.fsync(fd)


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (new, renamed or removed names) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: Path) -> None:
    """Remove a file; a missing file or an error is ignored (the orphan sweep retries)."""
    with suppress(OSError):
        path.unlink()


def replace_durably(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write *data* to *path* so that a crash leaves either the old or the new content.

    The data goes to a temporary file beside *path* (``.<name>.<pid>.tmp``), is
    fsynced, renamed over *path*, and the directory is fsynced.

    Args:
        path: the file to create or replace.
        data: its whole new content.
        mode: permission bits of a newly created file.

    Raises:
        OSError: the file could not be written (the temporary file is removed).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), mode
        )
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)
