"""Failed-login throttling (like fail2ban, in the server): slow down, then block.

Each failed login from a client address, and for a user name, counts within a window.
Every failure is answered after a delay that doubles with the count (capped); past
``block_after_failures`` the address or user name is refused outright, even with the
right password, until the window passes. Counts live in each worker process.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from trimail.config.model import AuthConfig


@attrs.define
class _Count:
    failures: int = 0
    first: float = 0.0


class LoginThrottle:
    """Counts failed logins per client address and per user name.

    Args:
        config: the ``[auth]`` settings.
        clock: monotonic seconds (``trio.current_time`` in the server).
    """

    MAX_KEYS = 100_000  # bound on memory; the oldest entries go first

    def __init__(self, config: AuthConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._counts: dict[str, _Count] = {}

    def _get(self, key: str) -> _Count:
        now = self.clock()
        count = self._counts.get(key)
        if count is None or now - count.first > self.config.window_seconds:
            count = _Count(failures=0, first=now)
            self._counts[key] = count
            if len(self._counts) > self.MAX_KEYS:
                del self._counts[next(iter(self._counts))]
        return count

    def _keys(self, peer_host: str, username: str) -> tuple[str, str]:
        return f"ip:{peer_host}", f"user:{username.strip().lower()}"

    def blocked(self, peer_host: str, username: str) -> bool:
        """True if this address or user name has failed too often in the window."""
        limit = self.config.block_after_failures
        return any(self._get(key).failures >= limit for key in self._keys(peer_host, username))

    def failed(self, peer_host: str, username: str) -> float:
        """Record a failure; returns how long to wait before answering, in seconds."""
        failures = 0
        for key in self._keys(peer_host, username):
            count = self._get(key)
            count.failures += 1
            failures = max(failures, count.failures)
        delay = self.config.failure_delay_seconds * 2 ** min(failures - 1, 10)
        return float(min(delay, self.config.max_delay_seconds))

    def succeeded(self, peer_host: str, username: str) -> None:
        """A good login forgets the user name's failures (not the address's)."""
        self._counts.pop(self._keys(peer_host, username)[1], None)
