"""Failed-login throttling (like fail2ban, in the server): slow down, then block.

Each failed login from a client address, and for a user name, counts within a window.
Every failure is answered after a delay that doubles with the count (capped); past
``block_after_failures`` the address or user name is refused outright, even with the
right password, until the window passes.

The counts are shared by every worker process (`SharedCounts`, shared memory made by
the supervisor before it forks), so an attacker gets the same number of tries however
many workers the kernel spreads the connections over, and a blocked user is blocked
everywhere.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
import zlib
from collections.abc import Callable

from trimail.config.model import AuthConfig

__all__ = ["LoginThrottle", "SharedCounts"]


class SharedCounts:
    """Counts per hashed key within a time window (failed logins, messages sent), in
    shared memory, one row per worker slot.

    Each worker writes only its own row (no lock a dying process could leave held);
    readers add up all rows. Keys are hashed into `BUCKETS` counters: two keys sharing
    a bucket share a count, which errs on the strict side. Times are
    ``time.monotonic()`` seconds, one clock for all processes (Linux CLOCK_MONOTONIC).

    Args:
        workers: worker slots (rows).
    """

    BUCKETS = 16_381

    def __init__(self, workers: int = 1) -> None:
        context = multiprocessing.get_context("fork")
        self._rows = workers
        self._failures = context.RawArray(ctypes.c_int, workers * self.BUCKETS)
        self._first = context.RawArray(ctypes.c_double, workers * self.BUCKETS)
        self.slot = 0  # the row this process writes; set in each worker after fork

    def bucket(self, key: str) -> int:
        """The counter index of ``key``."""
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) % self.BUCKETS

    def count(self, bucket: int, now: float, window: float) -> int:
        """Events in ``bucket`` within the last ``window`` seconds, all workers."""
        total = 0
        for row in range(self._rows):
            i = row * self.BUCKETS + bucket
            if self._failures[i] and now - self._first[i] <= window:
                total += self._failures[i]
        return total

    def add(self, bucket: int, now: float, window: float) -> None:
        """Count one event in this worker's row (a new window if the old one passed)."""
        i = self.slot * self.BUCKETS + bucket
        if not self._failures[i] or now - self._first[i] > window:
            self._failures[i] = 0
            self._first[i] = now
        self._failures[i] += 1

    def clear(self, bucket: int) -> None:
        """Forget ``bucket``'s counts in every row (e.g. after a successful login)."""
        for row in range(self._rows):
            self._failures[row * self.BUCKETS + bucket] = 0


class LoginThrottle:
    """Counts failed logins per client address and per user name.

    Args:
        config: the ``[auth]`` settings.
        clock: monotonic seconds, the same clock in every process using ``table``.
        table: the shared counts; a private one (this process only) if None.
    """

    def __init__(
        self,
        config: AuthConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        table: SharedCounts | None = None,
    ) -> None:
        self.config = config
        self.table = table if table is not None else SharedCounts()
        self.clock = clock

    def _buckets(self, peer_host: str, username: str) -> tuple[int, int]:
        return (
            self.table.bucket(f"ip:{peer_host}"),
            self.table.bucket(f"user:{username.strip().lower()}"),
        )

    def blocked(self, peer_host: str, username: str) -> bool:
        """True if this address or user name has failed too often in the window."""
        now, window = self.clock(), self.config.window_seconds
        limit = self.config.block_after_failures
        return any(
            self.table.count(b, now, window) >= limit for b in self._buckets(peer_host, username)
        )

    def failed(self, peer_host: str, username: str) -> float:
        """Record a failure; returns how long to wait before answering, in seconds."""
        now, window = self.clock(), self.config.window_seconds
        failures = 0
        for bucket in self._buckets(peer_host, username):
            self.table.add(bucket, now, window)
            failures = max(failures, self.table.count(bucket, now, window))
        delay = self.config.failure_delay_seconds * 2 ** min(failures - 1, 10)
        return float(min(delay, self.config.max_delay_seconds))

    def succeeded(self, peer_host: str, username: str) -> None:
        """A good login forgets the user name's failures (not the address's)."""
        self.table.clear(self._buckets(peer_host, username)[1])
