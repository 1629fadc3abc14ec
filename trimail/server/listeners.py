"""TCP listeners with connection limits: in all, and per client address."""

from __future__ import annotations

import functools
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable

import trio

from trimail.config.model import parse_listen_address

log = logging.getLogger("trimail.listeners")

Handler = Callable[[trio.SocketStream, str, int, str, int], Awaitable[None]]
Refuse = Callable[[trio.SocketStream], Awaitable[None]]


async def open_listeners(addresses: tuple[str, ...]) -> list[trio.SocketListener]:
    """Bind every ``HOST:PORT`` in *addresses* (port 0 picks a free port).

    Raises:
        OSError: an address cannot be bound; the message names it.
    """
    listeners: list[trio.SocketListener] = []
    for text in addresses:
        host, port = parse_listen_address(text)
        try:
            listeners.extend(await trio.open_tcp_listeners(port, host=host))
        except OSError as exc:
            for listener in listeners:
                await listener.aclose()
            raise OSError(exc.errno, f"cannot listen on {text}: {exc.strerror}") from None
    return listeners


def bound_address(listener: trio.SocketListener) -> tuple[str, int]:
    """The (host, port) a listener is bound to (useful with port 0)."""
    host, port = listener.socket.getsockname()[:2]
    return str(host), int(port)


class ConnectionLimiter:
    """Counts open connections in all and per client address.

    Args:
        max_total: connections in all.
        max_per_ip: connections from one address.
    """

    def __init__(self, *, max_total: int, max_per_ip: int) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.per_ip: Counter[str] = Counter()
        self.total = 0

    def try_acquire(self, ip: str) -> bool:
        """Take a slot for *ip*; False when a limit is reached."""
        if self.total >= self.max_total or self.per_ip[ip] >= self.max_per_ip:
            return False
        self.total += 1
        self.per_ip[ip] += 1
        return True

    def release(self, ip: str) -> None:
        """Give back a slot taken by `try_acquire`."""
        self.total -= 1
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]


async def serve_listeners(
    listeners: list[trio.SocketListener],
    *,
    handler: Handler,
    refuse: Refuse,
    limiter: ConnectionLimiter,
    handler_nursery: trio.Nursery,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept connections until cancelled; each runs ``handler`` in *handler_nursery*.

    Cancelling this task closes the listeners ("stop accepting") without touching the
    sessions, which live in *handler_nursery* and are drained separately.
    """

    async def run(stream: trio.SocketStream) -> None:
        try:
            peer = stream.socket.getpeername()
            local = stream.socket.getsockname()
        except OSError:
            await stream.aclose()
            return
        ip = str(peer[0])
        if not limiter.try_acquire(ip):
            log.info("%s: refused, too many connections", ip)
            try:
                await refuse(stream)
            finally:
                await stream.aclose()
            return
        try:
            stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            await handler(stream, ip, int(peer[1]), str(local[0]), int(local[1]))
        except Exception:
            log.exception("%s: session failed", ip)
        finally:
            limiter.release(ip)
            with trio.CancelScope(shield=True):  # closing never blocks long
                await stream.aclose()

    async with trio.open_nursery() as accept_nursery:
        for listener in listeners:
            accept_nursery.start_soon(
                functools.partial(
                    trio.serve_listeners, run, [listener], handler_nursery=handler_nursery
                )
            )
        task_status.started()
