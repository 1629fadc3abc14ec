"""Sans-IO POP3 server engine (RFC 1939, CAPA 2449, AUTH 5034, response codes 3206).

Feed bytes with ``receive_data`` and take events from ``next_event``. Bytes to write
come from `Reply` events (the engine answered by itself) and from the methods that
answer `Authenticate`, `SaslAuthenticate`/`SaslResponse`, `Retrieve` and `Quit`; see
`Pop3Connection`. No I/O, clock, randomness or logging happens here.
"""

from trimail.pop3._config import DEFAULT_MAX_LINE_BYTES, Pop3Config
from trimail.pop3._connection import (
    AUTH_REQUIRES_TLS,
    RESP_CODES,
    NextEvent,
    Pop3Connection,
)
from trimail.pop3._events import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    ConnectionClosed,
    Event,
    Quit,
    Reply,
    Retrieve,
    SaslAuthenticate,
    SaslResponse,
    Sentinel,
    StartTls,
)
from trimail.pop3._maildrop import MaildropEntry
from trimail.pop3._render import normalize, stuff, unstuff
from trimail.pop3._state import COMMANDS, MOVES, State
from trimail.pop3.errors import LocalProtocolError, Pop3ProtocolError, RemoteProtocolError

__all__ = [
    "AUTH_REQUIRES_TLS",
    "COMMANDS",
    "DEFAULT_MAX_LINE_BYTES",
    "MOVES",
    "NEED_DATA",
    "PAUSED",
    "RESP_CODES",
    "Authenticate",
    "ConnectionClosed",
    "Event",
    "LocalProtocolError",
    "MaildropEntry",
    "NextEvent",
    "Pop3Config",
    "Pop3Connection",
    "Pop3ProtocolError",
    "Quit",
    "RemoteProtocolError",
    "Reply",
    "Retrieve",
    "SaslAuthenticate",
    "SaslResponse",
    "Sentinel",
    "StartTls",
    "State",
    "normalize",
    "stuff",
    "unstuff",
]
