"""Wake IMAP sessions when an account changes (IDLE, RFC 2177).

The index is the truth (IMAP-NOTES §1); notifications only wake sessions, which then
read the changes from the store. Changes made by this worker process wake sessions at
once (`ChangeNotifier.changed`); changes made by other processes (other workers, SMTP
deliveries, the CLI) are found by polling the account's MODSEQ counter, one cheap read
per watched account per poll interval, however many sessions watch it.
"""

from __future__ import annotations

import logging

import attrs
import trio

from trimail.storage.api import MailStore, StorageError

log = logging.getLogger("trimail.imap")

__all__ = ["ChangeNotifier"]


@attrs.define(eq=False)
class _Watch:
    event: trio.Event = attrs.field(factory=trio.Event)
    counter: int = -1
    watchers: int = 0


class ChangeNotifier:
    """One per worker: per-account wake-ups for sessions waiting in IDLE.

    Args:
        store: the mail store (``last_modseq`` is polled).
        poll_seconds: the poll interval for changes made by other processes.
    """

    def __init__(self, store: MailStore, poll_seconds: float) -> None:
        self._store = store
        self._poll_seconds = poll_seconds
        self._watches: dict[str, _Watch] = {}
        self._wakeup = trio.Event()

    def changed(self, account_id: str) -> None:
        """Wake every session watching ``account_id`` (call after writing to it)."""
        watch = self._watches.get(account_id)
        if watch is not None:
            watch.event.set()
            watch.event = trio.Event()

    def event(self, account_id: str) -> trio.Event:
        """The event the next change of ``account_id`` sets (take it before reading)."""
        watch = self._watches.get(account_id)
        if watch is None:
            watch = self._watches[account_id] = _Watch()
            self._wakeup.set()
        return watch.event

    def watch(self, account_id: str) -> None:
        """Start polling ``account_id`` for another process's changes."""
        watch = self._watches.setdefault(account_id, _Watch())
        watch.watchers += 1
        self._wakeup.set()

    def unwatch(self, account_id: str) -> None:
        """Stop polling for one watcher of ``account_id``."""
        watch = self._watches.get(account_id)
        if watch is not None:
            watch.watchers -= 1
            if watch.watchers <= 0:
                del self._watches[account_id]
                watch.event.set()

    async def run(self) -> None:
        """Poll the watched accounts until cancelled (a task of the server nursery)."""
        while True:
            if not any(w.watchers for w in self._watches.values()):
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            watched = [a for a, w in self._watches.items() if w.watchers]
            try:
                counters = await trio.to_thread.run_sync(self._read_counters, watched)
            except StorageError as exc:
                log.warning("IDLE poll failed: %s", exc)
                counters = {}
            for account_id, counter in counters.items():
                watch = self._watches.get(account_id)
                if watch is None:
                    continue
                if watch.counter != -1 and counter != watch.counter:
                    self.changed(account_id)
                watch.counter = counter
            await trio.sleep(self._poll_seconds)

    def _read_counters(self, accounts: list[str]) -> dict[str, int]:
        counters = {}
        for account_id in accounts:
            try:
                counters[account_id] = self._store.last_modseq(account_id)
            except StorageError:
                continue
        return counters
