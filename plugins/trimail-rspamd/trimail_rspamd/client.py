"""One ``POST /checkv2`` to rspamd's normal worker over HTTP/1.1 (rspamd protocol).

Blocking (``http.client``): call it from a worker thread. The whole exchange is bounded
by one deadline: every socket operation gets the time that is left, so a server that
answers one byte at a time cannot hold the thread longer than the timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence

from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.server.session_info import SessionInfo
from trimail_rspamd.result import MAX_REPLY_BYTES
from trimail_rspamd.settings import Endpoint, RspamdSettings

SEND_CHUNK = 64 * 1024  # bytes per send, so that the deadline is checked in between
RECV_CHUNK = 64 * 1024

Clock = Callable[[], float]


class RspamdUnavailable(Exception):
    """No usable answer: connection refused, timeout, TLS or HTTP error, an HTTP
    status other than 200, or a reply too big. ``str(err)`` says which (no secrets)."""


def _usable(value: str) -> bool:
    """True if *value* can be an HTTP header value: no control characters (CR, LF,
    NUL...), not empty."""
    return bool(value) and all(ch >= " " and ch != "\x7f" for ch in value)


def request_headers(
    session: SessionInfo, envelope: Envelope, settings: RspamdSettings, queue_id: str = ""
) -> list[tuple[str, str]]:
    """The rspamd protocol request headers for one message.

    ``IP`` (the client's address), ``Helo``, ``From`` (the reverse-path, ``<>`` for the
    null path), one ``Rcpt`` per forward-path, ``User`` (the authenticated user, if
    any), and ``MTA-Name``, ``Settings-ID``, ``Password`` when configured. ``Hostname``
    is not sent: trimail does not give plugins a verified client host name, and rspamd
    treats a missing one as unknown. ``Queue-Id`` is *queue_id* (trimail's id of the
    message, as in its Received field), so rspamd's log names it.

    Returns:
        (name, value) pairs in sending order; values with control characters are
        left out.
    """
    reverse_path = envelope.reverse_path
    pairs = [
        ("IP", session.peer_host),
        ("Helo", envelope.helo_identity or session.helo_identity),
        ("From", str(reverse_path) if isinstance(reverse_path, Mailbox) else "<>"),
        *(("Rcpt", str(path)) for path in envelope.forward_paths),
        ("Queue-Id", queue_id),
        ("User", session.authenticated_as or ""),
        ("MTA-Name", settings.mta_name),
        ("Settings-ID", settings.settings_id),
        ("Password", settings.password),
    ]
    return [(name, value) for name, value in pairs if _usable(value)]


def _left(deadline: float, clock: Clock, timeout_seconds: float) -> float:
    left = deadline - clock()
    if left <= 0:
        raise RspamdUnavailable(f"no answer within {timeout_seconds:g} s")
    return left


def post_checkv2(
    endpoint: Endpoint,
    headers: Sequence[tuple[str, str]],
    message: bytes,
    *,
    timeout_seconds: float,
    clock: Clock = time.monotonic,
    ssl_context: ssl.SSLContext | None = None,
) -> bytes:
    """POST *message* to ``/checkv2`` and return the 200 response's body.

    Args:
        endpoint: where rspamd listens (`trimail_rspamd.settings.parse_url`).
        headers: the protocol headers (`request_headers`), values as UTF-8.
        message: the message (RFC 5322 bytes), sent with a Content-Length.
        timeout_seconds: the deadline for connect, send and the whole answer.
        clock: monotonic seconds (injected by tests).
        ssl_context: for https; the default verifies the certificate and host name.

    Returns:
        The response body (at most `trimail_rspamd.result.MAX_REPLY_BYTES`).

    Raises:
        RspamdUnavailable: see the class.
    """
    deadline = clock() + timeout_seconds
    conn: http.client.HTTPConnection
    if endpoint.scheme == "https":
        context = ssl_context or ssl.create_default_context()
        conn = http.client.HTTPSConnection(
            endpoint.host, endpoint.port, timeout=timeout_seconds, context=context
        )
    else:
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout_seconds)
    # The socket timeout bounds each read, not the whole answer: a server trickling
    # its status line and headers a byte at a time would hold the thread for ever.
    # A watchdog shuts the socket down at the deadline, whatever is being read.
    expired = threading.Event()
    watchdog = threading.Timer(timeout_seconds, _shut_down, args=(conn, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        return _exchange(conn, endpoint, headers, message, deadline, clock, timeout_seconds)
    except TimeoutError:
        raise RspamdUnavailable(f"no answer within {timeout_seconds:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise RspamdUnavailable(f"no answer within {timeout_seconds:g} s") from None
        reason = str(exc) or type(exc).__name__
        raise RspamdUnavailable(f"{endpoint.host} port {endpoint.port}: {reason}") from None
    finally:
        watchdog.cancel()
        conn.close()


def _shut_down(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    """The watchdog: end the exchange at its deadline (the reader then fails)."""
    expired.set()
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _exchange(
    conn: http.client.HTTPConnection,
    endpoint: Endpoint,
    headers: Sequence[tuple[str, str]],
    message: bytes,
    deadline: float,
    clock: Clock,
    timeout_seconds: float,
) -> bytes:
    conn.putrequest("POST", endpoint.path, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value.encode("utf-8"))
    conn.putheader("Content-Length", str(len(message)))
    conn.endheaders()  # connects (within timeout_seconds) and sends the head
    view = memoryview(message)
    for start in range(0, len(view), SEND_CHUNK):
        _set_timeout(conn, _left(deadline, clock, timeout_seconds))
        conn.send(view[start : start + SEND_CHUNK])
    _set_timeout(conn, _left(deadline, clock, timeout_seconds))
    response = conn.getresponse()
    body = bytearray()
    while True:
        _set_timeout(conn, _left(deadline, clock, timeout_seconds))
        chunk = response.read1(RECV_CHUNK)
        if not chunk:
            break
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            raise RspamdUnavailable(f"reply over {MAX_REPLY_BYTES} bytes")
    if response.status != 200:
        detail = _error_text(bytes(body))
        raise RspamdUnavailable(f"HTTP {response.status} {_short(response.reason)}{detail}")
    return bytes(body)


def _error_text(body: bytes) -> str:
    """``: TEXT`` from rspamd's error answer ``{"error": "TEXT"}``, else ``""``."""
    try:
        data = json.loads(body[:4096].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    return f": {_short(error)}" if isinstance(error, str) else ""


def _set_timeout(conn: http.client.HTTPConnection, seconds: float) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(seconds)


def _short(text: str) -> str:
    return "".join(ch for ch in text[:80] if " " <= ch <= "~")
