"""Sans-IO ESMTP server engine (RFC 5321, 1870, 2034, 2920, 3030, 3207, 6152, 6531).

Feed bytes with ``receive_data``, take events from ``next_event``, answer each event
that owes a reply with ``send``; see `ServerConnection`. No I/O, clock, randomness or
logging happens here, so the engine runs under Trio, asyncio or plain threads.
"""

from trimail.smtp._config import SmtpConfig
from trimail.smtp._connection import NextEvent, ServerConnection
from trimail.smtp._events import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    AuthResponse,
    BadCommand,
    ChunkComplete,
    ConnectionClosed,
    DataCommand,
    Event,
    Hello,
    Help,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    Reset,
    Sentinel,
    StartTls,
    Verify,
)
from trimail.smtp._parse import format_path, parse_path
from trimail.smtp._render import render_reply
from trimail.smtp._state import NEGATIVE_MOVES, POSITIVE_MOVES, State
from trimail.smtp.errors import (
    LocalProtocolError,
    PathError,
    RemoteProtocolError,
    SmtpProtocolError,
)

__all__ = [
    "NEED_DATA",
    "NEGATIVE_MOVES",
    "PAUSED",
    "POSITIVE_MOVES",
    "AuthResponse",
    "Authenticate",
    "BadCommand",
    "ChunkComplete",
    "ConnectionClosed",
    "DataCommand",
    "Event",
    "Hello",
    "Help",
    "LocalProtocolError",
    "MailFrom",
    "MessageAborted",
    "MessageComplete",
    "MessageData",
    "NextEvent",
    "Noop",
    "PathError",
    "Quit",
    "RcptTo",
    "RemoteProtocolError",
    "Reset",
    "Sentinel",
    "ServerConnection",
    "SmtpConfig",
    "SmtpProtocolError",
    "StartTls",
    "State",
    "Verify",
    "format_path",
    "parse_path",
    "render_reply",
]
