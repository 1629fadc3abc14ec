"""TCP listeners with connection limits: in all, and per client address."""

from __future__ import annotations

import ctypes
import functools
import logging
import multiprocessing
import socket
import zlib
from collections.abc import Awaitable, Callable

import trio

from trimail.config.model import parse_listen_address

log = logging.getLogger("trimail.listeners")

Handler = Callable[[trio.SocketStream, str, int, str, int], Awaitable[None]]
Refuse = Callable[[trio.SocketStream], Awaitable[None]]


def bind_sockets(addresses: tuple[str, ...], backlog: int = 1024) -> list[socket.socket]:
    """Bind and listen on every ``HOST:PORT`` (port 0 picks a free port).

    Plain sockets, so that worker processes forked afterwards share them (the kernel
    hands each new connection to one process).

    Raises:
        OSError: an address cannot be bound; the message names it.
    """
    bound: list[socket.socket] = []
    for text in addresses:
        host, port = parse_listen_address(text)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
            family, kind, proto, _name, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError as exc:
            for other in bound:
                other.close()
            raise OSError(exc.errno, f"cannot listen on {text}: {exc.strerror}") from None
        bound.append(sock)
    return bound


def bound_address(sock: socket.socket) -> tuple[str, int]:
    """The (host, port) a socket is bound to (useful with port 0)."""
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


class ConnectionLimiter:
    """Counts open connections in all and per client address, across worker processes.

    The counts live in shared memory made before the workers are forked, one row per
    worker slot, so the limits hold for the whole server. Each worker writes only its
    own row (no lock a dying process could leave held), and the supervisor zeroes a
    dead worker's row before its replacement starts, so a crash leaks no slots. Checks
    read every row without a lock: two workers accepting at the same instant can pass a
    limit by one each, which is harmless. Addresses are hashed into `BUCKETS` counters:
    two addresses sharing a bucket share a limit, which errs on the strict side.

    Args:
        max_total: connections in all.
        max_per_ip: connections from one address.
        workers: worker slots (rows).
    """

    BUCKETS = 8191

    def __init__(self, *, max_total: int, max_per_ip: int, workers: int = 1) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self._width = self.BUCKETS + 1  # [0] = this worker's total
        self._rows = workers
        context = multiprocessing.get_context("fork")
        self._counts = context.RawArray(ctypes.c_int, self._width * workers)
        self.slot = 0  # the row this process writes; set in each worker after fork

    def _bucket(self, ip: str) -> int:
        return 1 + zlib.crc32(ip.encode()) % self.BUCKETS

    def _sum(self, column: int) -> int:
        counts, width = self._counts, self._width
        return sum(counts[row * width + column] for row in range(self._rows))

    def try_acquire(self, ip: str) -> bool:
        """Take a slot for *ip*; False when a limit is reached."""
        bucket = self._bucket(ip)
        if self._sum(0) >= self.max_total or self._sum(bucket) >= self.max_per_ip:
            return False
        base = self.slot * self._width
        self._counts[base] += 1
        self._counts[base + bucket] += 1
        return True

    def release(self, ip: str) -> None:
        """Give back a slot taken by `try_acquire` (in the same process)."""
        base = self.slot * self._width
        self._counts[base] -= 1
        self._counts[base + self._bucket(ip)] -= 1

    def reset_slot(self, slot: int) -> None:
        """Forget the connections of worker *slot* (it died); called by the supervisor."""
        size = ctypes.sizeof(ctypes.c_int)
        ctypes.memset(
            ctypes.addressof(self._counts) + slot * self._width * size, 0, self._width * size
        )

    def count(self, ip: str) -> int:
        """Open connections from *ip* (or its bucket)."""
        return self._sum(self._bucket(ip))


async def serve_listeners(
    sockets: list[socket.socket],
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

    listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
    try:
        async with trio.open_nursery() as accept_nursery:
            for listener in listeners:
                accept_nursery.start_soon(
                    functools.partial(
                        trio.serve_listeners, run, [listener], handler_nursery=handler_nursery
                    )
                )
            task_status.started()
    finally:
        for listener in listeners:  # stop accepting: new clients are refused by the kernel
            listener.socket.close()
