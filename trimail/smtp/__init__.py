"""Sans-IO ESMTP engines (RFC 5321, 1870, 2034, 2920, 3030, 3207, 4954, 6152, 6531).

Server: feed bytes with ``receive_data``, take events from ``next_event``, answer each
event that owes a reply with ``send``; see `ServerConnection`. Client: ask
`ClientConnection` for each command's bytes, feed the server's bytes back and take one
event per reply. No I/O, clock, randomness or logging happens here, so the engines run
under Trio, asyncio or plain threads.
"""

from trimail.smtp._client import ClientConnection
from trimail.smtp._client_config import ClientConfig
from trimail.smtp._client_core import ClientNextEvent
from trimail.smtp._client_events import (
    AuthChallenge,
    ClientEvent,
    CommandReply,
    EhloResult,
    Greeting,
    PendingCommand,
    ServiceClosing,
)
from trimail.smtp._client_extensions import Extensions
from trimail.smtp._client_render import needs_smtputf8
from trimail.smtp._client_state import ClientState
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
from trimail.smtp._reply_parse import parse_reply
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
    "AuthChallenge",
    "AuthResponse",
    "Authenticate",
    "BadCommand",
    "ChunkComplete",
    "ClientConfig",
    "ClientConnection",
    "ClientEvent",
    "ClientNextEvent",
    "ClientState",
    "CommandReply",
    "ConnectionClosed",
    "DataCommand",
    "EhloResult",
    "Event",
    "Extensions",
    "Greeting",
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
    "PendingCommand",
    "Quit",
    "RcptTo",
    "RemoteProtocolError",
    "Reset",
    "Sentinel",
    "ServerConnection",
    "ServiceClosing",
    "SmtpConfig",
    "SmtpProtocolError",
    "StartTls",
    "State",
    "Verify",
    "format_path",
    "needs_smtputf8",
    "parse_path",
    "parse_reply",
    "render_reply",
]
