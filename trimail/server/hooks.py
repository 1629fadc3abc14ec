"""Calling plugin hooks from the server: off the event loop, each call time-bounded.

A filter hook may block (DNS, SQLite, HTTP), so every call runs in a worker thread
from a limiter of its own (hung plugins cannot starve storage of threads) under
``plugin_timeout_seconds``. A call that raises or runs out of time becomes
`HookFailed`; callers answer 451 4.3.0 and go on (`trimail.hookspecs`).

Each hook has its own thread limit: a timed-out call is abandoned, not killed, and
keeps its thread until it returns, so a plugin that hangs uses up only its own hook's
threads (further calls of that hook fail after the timeout) while the other hooks,
and the sessions that need them, go on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

import pluggy
import trio

from trimail.mail.reply import Reply
from trimail.plugins import plugin_names
from trimail.verdicts import Reject

log = logging.getLogger("trimail.plugins")

R451_PLUGIN_FAILED = Reply(
    code=451, enhanced_status="4.3.0", text="Local error in processing; try again later"
)

HOOK_THREADS = 32  # worker threads per hook, apart from storage's
NOTIFICATIONS_BUFFERED = 1000  # notify_soon calls waiting for run_notifications


class HookFailed(Exception):
    """A hook call raised or timed out; already logged with the hook's name."""


class HookRunner:
    """Runs the hooks of one plugin manager in worker threads with a timeout.

    Args:
        manager: the loaded plugins.
        timeout_seconds: the longest one call may take (seconds).
        threads: how many calls of one hook may run at once (each hook has its own
            limiter, apart from storage's threads).
    """

    def __init__(
        self, manager: pluggy.PluginManager, timeout_seconds: float, *, threads: int = HOOK_THREADS
    ) -> None:
        self.manager = manager
        self.timeout_seconds = timeout_seconds
        self.threads = threads
        self._limiters: dict[str, trio.CapacityLimiter] = {}
        self._send, self._receive = trio.open_memory_channel[tuple[str, dict[str, Any]]](
            NOTIFICATIONS_BUFFERED
        )

    def has(self, name: str) -> bool:
        """True if some plugin implements hook *name* (else calling it is skipped)."""
        return bool(getattr(self.manager.hook, name).get_hookimpls())

    async def call(self, name: str, **kwargs: Any) -> Any:
        """Call hook *name* with *kwargs* in a worker thread and return pluggy's result
        (a list of the non-None results, or the first one for ``firstresult`` hooks).

        Raises:
            HookFailed: an implementation raised, or the call took longer than
                ``timeout_seconds`` (the thread is abandoned; its result is ignored).
        """
        caller = getattr(self.manager.hook, name)
        limiter = self._limiters.get(name)
        if limiter is None:
            limiter = self._limiters[name] = trio.CapacityLimiter(self.threads)
        with trio.move_on_after(self.timeout_seconds) as scope:
            try:
                return await trio.to_thread.run_sync(
                    functools.partial(caller, **kwargs), abandon_on_cancel=True, limiter=limiter
                )
            except (Exception, SystemExit) as exc:  # SystemExit too: not from a plugin
                log.error(
                    "plugin hook %s failed (plugins: %s)",
                    name,
                    ", ".join(plugin_names(self.manager, name)),
                    exc_info=exc,
                )
                raise HookFailed(f"{name} raised {type(exc).__name__}") from exc
        assert scope.cancelled_caught
        log.error(
            "plugin hook %s timed out after %g s (plugins: %s; %d of its calls still running)",
            name,
            self.timeout_seconds,
            ", ".join(plugin_names(self.manager, name)),
            limiter.borrowed_tokens,
        )
        raise HookFailed(f"{name} timed out")

    async def envelope_filter(self, name: str, **kwargs: Any) -> Reject | None:
        """Call an envelope filter hook (connect, HELO, MAIL, RCPT): the first Reject
        wins; a failed call is a 451 4.3.0 tempfail (the client tries again later)."""
        if not self.has(name):
            return None
        try:
            results: list[Reject | None] = await self.call(name, **kwargs)
        except HookFailed:
            return Reject(reply=R451_PLUGIN_FAILED)
        for result in results:
            if isinstance(result, Reject):
                return result
            if result is not None:
                log.error("plugin hook %s returned %r, not a Reject; ignored", name, result)
        return None

    def notify_soon(self, name: str, **kwargs: Any) -> None:
        """Call a hook whose results do not matter (queue events) in the background,
        in order, from `run_notifications`; the caller does not wait. Failures are
        logged; when too many calls are waiting, this one is dropped with a log line."""
        if not self.has(name):
            return
        try:
            self._send.send_nowait((name, kwargs))
        except trio.ClosedResourceError:
            log.debug("plugin hook %s: called after shutdown; dropped", name)
        except trio.WouldBlock:
            log.warning(
                "plugin hook %s: %d calls waiting; this one dropped", name, NOTIFICATIONS_BUFFERED
            )

    def close(self) -> None:
        """No more `notify_soon` calls: `run_notifications` ends once it ran those
        already waiting (at shutdown)."""
        self._send.close()

    async def run_notifications(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the `notify_soon` calls one after another until cancelled."""
        task_status.started()
        async for name, kwargs in self._receive:
            with contextlib.suppress(HookFailed):  # logged by call()
                await self.call(name, **kwargs)
