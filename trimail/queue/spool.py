"""The queue on disk: one immutable message file and one metadata file per entry.

Layout under the queue directory (``<data_dir>/queue``)::

    messages/<queue-id>      the message as it will be sent (trace fields prepended)
    entries/<queue-id>.json  envelope, per-recipient state, attempts, next attempt
    lock                     flock(2): serializes metadata changes across processes

An entry exists once its metadata file exists. `Spool.enqueue` writes and fsyncs the
message file and its directory entry first, then the metadata (atomically, fsynced):
after a crash a message file without metadata is an orphan of a transaction that got
no 250 and is removed; metadata never names a missing message file. Queue ids are
made by the server (hex), checked by `valid_queue_id`, and are the only names used in
paths. Blocking methods: call them from a worker thread in async code.
"""

from __future__ import annotations

import enum
import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import attrs
import cattrs.preconf.json

from trimail.durable import fsync, fsync_dir, replace_durably, unlink_quietly
from trimail.mail.address import Mailbox

log = logging.getLogger("trimail.queue")

ORPHAN_AGE_SECONDS = 3600.0  # message files without metadata older than this are removed
_QUEUE_ID = re.compile(r"[0-9A-F]{8,32}")
COPY_CHUNK_BYTES = 1 << 20


class SpoolError(Exception):
    """The queue directory or an entry cannot be read or written."""


def valid_queue_id(queue_id: str) -> bool:
    """True if *queue_id* has the form the server makes (8-32 upper-case hex digits)."""
    return _QUEUE_ID.fullmatch(queue_id) is not None


class RecipientState(enum.Enum):
    """Where one recipient of a queue entry stands."""

    PENDING = "pending"  # not yet delivered; tried again at the next attempt
    DELIVERED = "delivered"  # the next hop said 2xx (or stored locally)
    FAILED = "failed"  # permanent failure or expiry; a DSN was considered


@attrs.define(kw_only=True)
class QueuedRecipient:
    """One forward-path of a queue entry and its delivery state.

    Attributes:
        forward_path: the recipient.
        state: see `RecipientState`.
        notify: the RCPT's DSN NOTIFY keywords (RFC 3461 §4.1), None when absent.
        orcpt: the RCPT's ORCPT as (address type, decoded address), or None.
        last_reply: the last reply or error for this recipient, e.g.
            ``"550 5.1.1 No such user"`` or ``"connect to mx.example: refused"``.
        status: the enhanced status code that goes into a DSN (RFC 3463), e.g. ``"4.4.1"``.
        remote_mta: the host that gave ``last_reply``, if any.
        last_attempt: Unix time of the last attempt, seconds.
    """

    forward_path: Mailbox
    state: RecipientState = RecipientState.PENDING
    notify: tuple[str, ...] | None = None
    orcpt: tuple[str, str] | None = None
    last_reply: str | None = None
    status: str | None = None
    remote_mta: str | None = None
    last_attempt: float | None = None


@attrs.define(kw_only=True)
class QueueEntry:
    """Metadata of one queued message.

    Attributes:
        queue_id: upper-case hex, also named in Received and in the 250 reply.
        reverse_path: MAIL FROM's mailbox; None for the null reverse-path ``<>``
            (a DSN: never answered with another DSN, RFC 3461 §6.2).
        recipients: the forward-paths still relevant, in RCPT order.
        arrival: Unix time the message was accepted, seconds.
        size: octets of the message file.
        smtputf8: the message needs SMTPUTF8 (RFC 6531).
        body: MAIL FROM's BODY value (``"8BITMIME"``, ``"7BIT"``), or None.
        envid: DSN ENVID (RFC 3461 §4.4), decoded.
        ret: DSN RET, ``"FULL"`` or ``"HDRS"``, or None.
        attempts: delivery attempts so far.
        next_attempt: Unix time of the next attempt, seconds.
        delay_notified: a delay DSN went out (one per message).
        submitted_by: the authenticated user that submitted it, if any.
    """

    queue_id: str
    reverse_path: Mailbox | None
    recipients: list[QueuedRecipient]
    arrival: float
    size: int = 0
    smtputf8: bool = False
    body: str | None = None
    envid: str | None = None
    ret: str | None = None
    attempts: int = 0
    next_attempt: float = 0.0
    delay_notified: bool = False
    submitted_by: str | None = None

    @property
    def pending(self) -> list[QueuedRecipient]:
        """The recipients still to deliver."""
        return [r for r in self.recipients if r.state is RecipientState.PENDING]


_converter = cattrs.preconf.json.make_converter(forbid_extra_keys=False)


def entry_to_json(entry: QueueEntry) -> bytes:
    """Serialize *entry* as UTF-8 JSON (the metadata file's content)."""
    return _converter.dumps(entry, ensure_ascii=False, indent=1).encode("utf-8")


def entry_from_json(data: bytes) -> QueueEntry:
    """Parse a metadata file.

    Raises:
        SpoolError: not JSON, or not the shape of a `QueueEntry`.
    """
    try:
        return _converter.structure(json.loads(data), QueueEntry)
    except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as exc:
        raise SpoolError(f"unreadable queue entry: {exc}") from None


class Spool:
    """The queue directory.

    Args:
        root: the queue directory; created (mode 0700) by `open`.
        clock: Unix time, seconds (for the orphan sweep).
    """

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.messages_dir = root / "messages"
        self.entries_dir = root / "entries"
        self.corrupt_dir = root / "corrupt"
        self._clock = clock

    def open(self) -> None:
        """Create the directories and sweep orphans left by a crash.

        Orphans are message files without metadata and temporary files, older than
        `ORPHAN_AGE_SECONDS` (younger ones may belong to an enqueue in progress in
        another worker process).

        Raises:
            SpoolError: the directories cannot be created.
        """
        try:
            for directory in (self.root, self.messages_dir, self.entries_dir):
                directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"{exc.filename}: cannot create: {exc.strerror}") from None
        cutoff = self._clock() - ORPHAN_AGE_SECONDS
        known = set(self.ids())
        for path in [*self.messages_dir.iterdir(), *self.entries_dir.glob(".*.tmp")]:
            stale = _mtime(path) < cutoff
            if stale and (path.name.startswith(".") or path.name not in known):
                log.info("queue: removing orphan %s", path)
                unlink_quietly(path)

    # -- reading -------------------------------------------------------------------

    def ids(self) -> list[str]:
        """The queue ids of all entries, oldest file first."""
        names = []
        for path in self.entries_dir.glob("*.json"):
            if valid_queue_id(path.stem):
                names.append((_mtime(path), path.stem))
        return [name for _mtime_ns, name in sorted(names)]

    def load(self, queue_id: str) -> QueueEntry | None:
        """The entry *queue_id*, or None if it is gone.

        An unreadable metadata file is moved to ``corrupt/`` with its message (and
        logged), so that one bad file cannot stop the queue; None is returned.
        """
        path = self._entry_path(queue_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SpoolError(f"{path}: cannot read: {exc.strerror}") from None
        try:
            entry = entry_from_json(data)
            if entry.queue_id != queue_id:
                raise SpoolError(f"names queue id {entry.queue_id!r}")
        except SpoolError as exc:
            log.error("queue: %s: %s; moved to %s", path, exc, self.corrupt_dir)
            self._quarantine(queue_id)
            return None
        return entry

    def entries(self) -> Iterator[QueueEntry]:
        """Every readable entry, oldest first."""
        for queue_id in self.ids():
            entry = self.load(queue_id)
            if entry is not None:
                yield entry

    def message_path(self, queue_id: str) -> Path:
        """The message file of *queue_id* (which must be valid)."""
        if not valid_queue_id(queue_id):
            raise SpoolError(f"invalid queue id {queue_id!r}")
        return self.messages_dir / queue_id

    def read_message(self, queue_id: str) -> bytes:
        """The message of *queue_id*.

        Raises:
            SpoolError: the file is missing or unreadable.
        """
        path = self.message_path(queue_id)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SpoolError(f"{path}: cannot read: {exc.strerror}") from None

    def version(self) -> int:
        """Changes whenever an entry is added, replaced or removed (by any process)."""
        return _mtime_ns(self.entries_dir)

    # -- writing -------------------------------------------------------------------

    def enqueue(self, entry: QueueEntry, content: bytes | Path, prefix: bytes = b"") -> None:
        """Store a new entry durably: ``prefix + content`` as its message, then metadata.

        Returns only after both are fsynced; only then may the client be told 250.
        Sets ``entry.size``.

        Args:
            entry: the new entry (its queue id must not exist yet).
            content: the message, or the path of a spool file holding it.
            prefix: header fields to put first (CRLF-terminated).

        Raises:
            SpoolError: the entry exists or cannot be written (nothing is left behind).
        """
        message_path = self.message_path(entry.queue_id)
        try:
            with open(message_path, "xb") as out:
                out.write(prefix)
                if isinstance(content, Path):
                    with open(content, "rb") as src:
                        shutil.copyfileobj(src, out, COPY_CHUNK_BYTES)
                else:
                    out.write(content)
                size = out.tell()
                out.flush()
                fsync(out.fileno())
            fsync_dir(self.messages_dir)
            entry.size = size
            with self.locked():
                replace_durably(self._entry_path(entry.queue_id), entry_to_json(entry))
        except FileExistsError:
            raise SpoolError(f"queue id {entry.queue_id} exists") from None
        except OSError as exc:
            unlink_quietly(message_path)
            raise SpoolError(
                f"{exc.filename or message_path}: cannot write: {exc.strerror}"
            ) from None

    def update(
        self, queue_id: str, change: Callable[[QueueEntry], QueueEntry | None]
    ) -> QueueEntry | None:
        """Change an entry under the queue lock: ``change(entry)`` returns the new
        metadata, or None to remove the entry (metadata first, then the message).

        Returns:
            What *change* returned, or None if the entry was already gone (then
            *change* is not called).

        Raises:
            SpoolError: the metadata cannot be written.
        """
        with self.locked():
            entry = self.load(queue_id)
            if entry is None:
                return None
            changed = change(entry)
            try:
                if changed is None:
                    self._remove(queue_id)
                else:
                    replace_durably(self._entry_path(queue_id), entry_to_json(changed))
            except OSError as exc:
                raise SpoolError(f"{exc.filename}: cannot write: {exc.strerror}") from None
            return changed

    def remove(self, queue_id: str) -> bool:
        """Delete an entry; False if it did not exist."""
        with self.locked():
            if not self._entry_path(queue_id).exists():
                return False
            self._remove(queue_id)
            return True

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the queue's metadata lock (exclusive, across processes)."""
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _remove(self, queue_id: str) -> None:
        self._entry_path(queue_id).unlink(missing_ok=True)
        fsync_dir(self.entries_dir)
        unlink_quietly(self.message_path(queue_id))

    def _entry_path(self, queue_id: str) -> Path:
        if not valid_queue_id(queue_id):
            raise SpoolError(f"invalid queue id {queue_id!r}")
        return self.entries_dir / f"{queue_id}.json"

    def quarantine(self, queue_id: str) -> None:
        """Move an entry's files to ``corrupt/`` (for the operator to look at)."""
        with self.locked():
            self._quarantine(queue_id)

    def _quarantine(self, queue_id: str) -> None:
        self.corrupt_dir.mkdir(mode=0o700, exist_ok=True)
        for source in (self._entry_path(queue_id), self.message_path(queue_id)):
            with suppress(OSError):
                os.replace(source, self.corrupt_dir / source.name)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
