"""A lean byte transport over a connected TCP socket, for the SMTP session's hot path.

``trio.SocketStream`` wraps every send and receive in several layers (conflict
detection, checkpoints before and after, context managers); for a protocol that
exchanges seven short lines per message those layers cost more CPU than the system
calls. `SocketTransport` makes the system call first and waits for readiness only
when the socket would block, as trio does inside, with one cheap checkpoint per
receive so a busy client cannot starve the others.

Other streams (a TLS stream later) keep the plain ``trio.abc.Stream`` interface;
`SocketTransport` offers the same two methods.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import trio

CLOSE_SECONDS = 2.0  # the most a session's end waits to send a TLS close_notify


class SocketTransport:
    """``send_all`` / ``receive_some`` over a trio ``SocketStream``'s socket.

    Args:
        stream: the accepted stream; it keeps owning the socket (and closes it).
        send_stall_seconds: how long a send may wait without the peer taking any of
            the bytes; past it the peer is taken as gone (a client that stops reading
            must not hold a session, its locks and its slot for ever).

    Errors: OS errors become ``trio.BrokenResourceError``, as with ``SocketStream``.
    Only one task may use the transport at a time (the session task).
    """

    def __init__(self, stream: trio.SocketStream, *, send_stall_seconds: float) -> None:
        self._sock: socket.socket = stream.socket._sock  # type: ignore[attr-defined]
        self._send_stall_seconds = send_stall_seconds

    async def send_all(self, data: bytes) -> None:
        """Write all of *data*, waiting for buffer space when needed (cancellable).

        Raises:
            trio.BrokenResourceError: the connection failed, or no byte could be sent
                for ``send_stall_seconds``.
        """
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                with trio.move_on_after(self._send_stall_seconds) as stalled:
                    await trio.lowlevel.wait_writable(self._sock)
                if stalled.cancelled_caught:
                    raise trio.BrokenResourceError("the peer stopped reading") from None
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc
            view = view[sent:]

    async def receive_some(self, max_bytes: int) -> bytes:
        """Read up to *max_bytes*; ``b""`` at end of stream (cancellable)."""
        await trio.lowlevel.checkpoint()  # fairness: let other sessions run
        while True:
            try:
                return self._sock.recv(max_bytes)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._sock)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc

    async def aclose(self) -> None:
        """Nothing to do: the listener closes the socket when the session ends."""


class StreamTransport:
    """The same two methods over any trio stream (a ``trio.SSLStream`` after STARTTLS).

    Args:
        stream: the stream to use.
        send_stall_seconds: how long one ``send_all`` may take before the peer is taken
            as gone.
    """

    def __init__(self, stream: trio.abc.Stream, *, send_stall_seconds: float) -> None:
        self._stream = stream
        self._send_stall_seconds = send_stall_seconds

    async def send_all(self, data: bytes) -> None:
        """Write all of *data*.

        Raises:
            trio.BrokenResourceError: the connection failed or the send stalled.
        """
        with trio.move_on_after(self._send_stall_seconds) as stalled:
            await self._stream.send_all(data)
        if stalled.cancelled_caught:
            raise trio.BrokenResourceError("the peer stopped reading")

    async def receive_some(self, max_bytes: int) -> bytes:
        """Read up to *max_bytes*; ``b""`` at end of stream."""
        return bytes(await self._stream.receive_some(max_bytes))

    async def aclose(self) -> None:
        """End TLS with a close_notify (RFC 8446 §6.1), then close the connection.

        Waits at most `CLOSE_SECONDS` (a peer that stopped reading cannot block the
        session's end) and never raises.
        """
        gone = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(CLOSE_SECONDS),
            contextlib.suppress(*gone),
        ):
            await self._stream.aclose()


async def start_server_tls(
    stream: trio.SocketStream, context: ssl.SSLContext, *, timeout_seconds: float
) -> StreamTransport | None:
    """Run the server side of a TLS handshake (STARTTLS, STLS or implicit TLS).

    Args:
        stream: the accepted connection, with nothing buffered above it.
        context: the server context (`trimail.server.tls.server_context`).
        timeout_seconds: for the handshake, and then for each stalled send.

    Returns:
        A transport over the TLS stream, or None if the handshake failed or timed out
        (the caller ends the session).
    """
    tls_stream = trio.SSLStream(stream, context, server_side=True)
    with trio.move_on_after(timeout_seconds):
        try:
            await tls_stream.do_handshake()
        except trio.BrokenResourceError:
            return None
        return StreamTransport(tls_stream, send_stall_seconds=timeout_seconds)
    return None
