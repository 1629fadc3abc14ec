"""Message content while it arrives: in memory, or in a spool file once it is large.

A slow client can hold a connection for many minutes while it sends a message of up to
``max_message_bytes``; keeping every such message in memory would let a few hundred
connections exhaust it. Past `SPILL_BYTES` the content goes to a file in
``<data_dir>/spool`` (named by `tempfile`, never by anything the client sent), and the
store copies it from there. The spool is not durable and need not be: the client has
no 250 yet, and files left by a crash are removed at the next start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

SPILL_BYTES = 1024 * 1024  # content kept in memory before it goes to a spool file


def clean_spool(spool_dir: Path) -> None:
    """Create *spool_dir* and remove files left in it by an earlier run."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    for entry in spool_dir.glob("msg-*"):
        entry.unlink(missing_ok=True)


class MessageBuffer:
    """Collects one message's content (RFC 5322 octets, as the engine hands them out).

    Args:
        spool_dir: where large content is written.
        spill_bytes: octets kept in memory before switching to a file.
    """

    def __init__(self, spool_dir: Path, spill_bytes: int = SPILL_BYTES) -> None:
        self._spool_dir = spool_dir
        self._spill_bytes = spill_bytes
        self._chunks: list[bytes] = []
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self.size = 0

    def append(self, data: bytes) -> None:
        """Add content. Writes to the page cache only (no fsync), so it does not block long.

        Raises:
            OSError: the spool file cannot be created or written.
        """
        self.size += len(data)
        if self._file is None and self.size > self._spill_bytes:
            fd, name = tempfile.mkstemp(prefix="msg-", dir=self._spool_dir)
            self._file, self._path = os.fdopen(fd, "wb"), Path(name)
            self._file.writelines(self._chunks)
            self._chunks = []
        if self._file is not None:
            self._file.write(data)
        else:
            self._chunks.append(data)

    def content(self) -> bytes | Path:
        """The whole content: bytes, or the path of the spool file (flushed and closed)."""
        if self._path is None:
            return b"".join(self._chunks)
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._path

    def head(self, limit: int = 64 * 1024) -> bytes:
        """The first *limit* octets (enough for the header section of most messages)."""
        if self._path is None:
            return b"".join(self._chunks)[:limit]
        if self._file is not None:
            self._file.flush()
        with open(self._path, "rb") as spooled:
            return spooled.read(limit)

    def read_bytes(self) -> bytes:
        """The whole content as bytes (reads the spool file if there is one)."""
        content = self.content()
        return content if isinstance(content, bytes) else content.read_bytes()

    def discard(self) -> None:
        """Drop the content and remove the spool file, if any. Safe to call twice."""
        self._chunks = []
        self.size = 0
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
