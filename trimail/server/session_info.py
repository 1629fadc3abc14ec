"""What plugins may know about an SMTP session (read-only)."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class SessionInfo:
    """One client connection, as hooks see it.

    Attributes:
        listener: the listener's name, e.g. ``"smtp"`` (MX) or ``"submission"``;
            ``"internal"`` for mail the server makes or delivers itself (a plugin's
            outbox message, a DSN or a queued message to a local user).
        peer_host: the client's IP address as text.
        peer_port: the client's TCP port.
        local_host: our address the client connected to.
        local_port: our port.
        helo_identity: the HELO/EHLO argument once given, else ``""``.
        tls: True once the connection is encrypted.
        authenticated_as: the SASL authorization identity, or None.
    """

    listener: str
    peer_host: str
    peer_port: int
    local_host: str
    local_port: int
    helo_identity: str = ""
    tls: bool = False
    authenticated_as: str | None = None


INTERNAL = SessionInfo(
    listener="internal", peer_host="127.0.0.1", peer_port=0, local_host="127.0.0.1", local_port=0
)
"""The session of mail the server makes or delivers itself (no client connection)."""
