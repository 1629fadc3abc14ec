"""The client's states and its table of legal writes (RFC 5321 §4.1.4, RFC 2920, RFC 3030).

The client may write several commands before their replies come back (PIPELINING), so
its state says what it has *written*, assuming the pending commands succeed:
`SEND_MOVES[(state, move)]` is the state right after writing *move*; a pair missing from
it is misuse (`LocalProtocolError`). Replies then correct the state where they change
what may come next (`ClientConnection` applies these):

- 2xx to EHLO/HELO: READY (a new session, RFC 5321 §4.1.4);
- 2xx to STARTTLS: STARTTLS, until ``start_tls_done()`` (RFC 3207 §4.2);
- 334 to AUTH: AUTH; 235 or a refusal: READY (RFC 4954 §4, §6);
- 354 to DATA: DATA, the content may be written (RFC 5321 §4.1.1.4);
- 4xx/5xx to the transaction's MAIL: READY (no transaction, RCPT would be refused);
- 4xx/5xx to a BDAT chunk (LAST or not) of the current transaction: READY, and only
  RSET/NOOP/QUIT/EHLO/HELO until RSET (RFC 3030 §2: "the resulting state from a failed
  BDAT command is indeterminate. A RSET command MUST be issued");
- any reply to QUIT, and any 421: CLOSED (RFC 5321 §3.8).
"""

from __future__ import annotations

import enum
from typing import Literal


class ClientState(enum.Enum):
    """Where the SMTP dialogue stands (client side), counting commands written."""

    GREETING = "GREETING"
    """Connected; waiting for the server's greeting (RFC 5321 §3.1)."""
    INITIAL = "INITIAL"
    """Greeted, or TLS just started: EHLO or HELO next (RFC 3207 §4.2)."""
    READY = "READY"
    """EHLO/HELO accepted, no mail transaction: MAIL, AUTH, STARTTLS, RSET, NOOP, QUIT."""
    MAIL = "MAIL"
    """MAIL written (its reply may still be pending): RCPT next."""
    RCPT = "RCPT"
    """At least one RCPT written: more RCPT, DATA, or BDAT with CHUNKING."""
    DATA = "DATA"
    """354 received: the message content next (``send_message`` or chunks + ``end_message``)."""
    CHUNKING = "CHUNKING"
    """BDAT chunks written, LAST not yet: more BDAT (RFC 3030 §2)."""
    AUTH = "AUTH"
    """334 received: a SASL response line or ``*`` next (RFC 4954 §4)."""
    STARTTLS = "STARTTLS"
    """220 to STARTTLS received: run the TLS handshake, then ``start_tls_done()``."""
    QUIT = "QUIT"
    """QUIT written: waiting for its reply; nothing more may be written."""
    CLOSED = "CLOSED"
    """QUIT answered, 421 received, EOF, a protocol error, or ``send_failed()``."""


Move = Literal[
    "EHLO",
    "HELO",
    "STARTTLS",
    "AUTH",
    "AUTH-RESPONSE",
    "MAIL",
    "RCPT",
    "DATA",
    "CONTENT",
    "DATA-END",
    "BDAT",
    "BDAT-LAST",
    "RSET",
    "NOOP",
    "QUIT",
]
"""What the client writes: commands, plus ``AUTH-RESPONSE`` (a SASL line after 334)
and ``CONTENT`` (a piece of message content after 354)."""

_S = ClientState
_CONVERSATION = (_S.INITIAL, _S.READY, _S.MAIL, _S.RCPT, _S.CHUNKING)
_GREETED = (_S.READY, _S.MAIL, _S.RCPT, _S.CHUNKING)

SEND_MOVES: dict[tuple[ClientState, Move], ClientState] = {
    # EHLO/HELO may also restart a session (RFC 5321 §4.1.4); the reply moves to READY.
    **{(s, "EHLO"): s for s in _CONVERSATION},
    **{(s, "HELO"): s for s in _CONVERSATION},
    **{(s, "RSET"): _S.READY for s in _GREETED},
    (_S.INITIAL, "RSET"): _S.INITIAL,
    **{(s, "NOOP"): s for s in _CONVERSATION},
    **{(s, "QUIT"): _S.QUIT for s in _CONVERSATION},
    (_S.READY, "STARTTLS"): _S.READY,
    # AUTH not during a transaction (RFC 4954 §4); a 334 moves to AUTH.
    (_S.READY, "AUTH"): _S.READY,
    (_S.AUTH, "AUTH-RESPONSE"): _S.AUTH,
    (_S.READY, "MAIL"): _S.MAIL,
    (_S.MAIL, "RCPT"): _S.RCPT,
    (_S.RCPT, "RCPT"): _S.RCPT,
    (_S.RCPT, "DATA"): _S.RCPT,
    (_S.DATA, "CONTENT"): _S.DATA,
    # The transaction ends with the content whatever the reply (RFC 5321 §4.1.1.4), and
    # the next commands may follow it in the same group (RFC 2920 §3.1).
    (_S.DATA, "DATA-END"): _S.READY,
    (_S.RCPT, "BDAT"): _S.CHUNKING,
    (_S.CHUNKING, "BDAT"): _S.CHUNKING,
    (_S.RCPT, "BDAT-LAST"): _S.READY,
    (_S.CHUNKING, "BDAT-LAST"): _S.READY,
}
"""State right after writing a move; missing pairs are misuse."""

GROUP_END: frozenset[str] = frozenset({"EHLO", "HELO", "DATA", "NOOP", "QUIT", "STARTTLS", "AUTH"})
"""Moves that must be answered before anything else is written: RFC 2920 §3.1 (EHLO,
DATA, NOOP, QUIT "can only appear as the last command in a group"), RFC 3207 §4.2
(STARTTLS), RFC 4954 §4 (AUTH, and each SASL response line). Without PIPELINING the
caller writes each command after the previous reply; the engine cannot check that."""

AFTER_FAILED_BDAT: frozenset[Move] = frozenset({"RSET", "NOOP", "QUIT", "EHLO", "HELO"})
"""Moves allowed after a refused BDAT chunk until RSET (RFC 3030 §2)."""


def reply_fits(command: str | None, code: int) -> bool:
    """True if a reply *code* can answer *command* (None: the greeting).

    Refusals (4xx/5xx) always can. Only DATA expects 354 and only AUTH expects 334
    (RFC 5321 §4.3.2, RFC 4954 §4); any other command expects 2xx. A 2xx to DATA would
    leave the server and the client disagreeing about where the content goes.
    """
    if code >= 400:
        return True
    if command == "DATA":
        return code == 354
    if command == "AUTH":
        return code == 334 or code < 300
    return code < 300
