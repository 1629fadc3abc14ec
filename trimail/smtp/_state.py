"""The server's states and its one table of legal moves (RFC 5321 §4.1.4, RFC 3030).

`POSITIVE_MOVES[(state, event type)]` is the state after a 2xx/3xx reply to that
event; a pair missing from it is a bad sequence (503, or 554 for DATA without
recipients). `NEGATIVE_MOVES` overrides where a 4xx/5xx reply also changes the state;
otherwise a refusal leaves it unchanged. Policy (accept this recipient?) is never
decided here.
"""

from __future__ import annotations

import enum

from trimail.smtp._events import (
    Authenticate,
    AuthResponse,
    ChunkComplete,
    DataCommand,
    Event,
    Hello,
    Help,
    MailFrom,
    MessageAborted,
    MessageComplete,
    Noop,
    Quit,
    RcptTo,
    Reset,
    StartTls,
    Verify,
)


class State(enum.Enum):
    """Where the SMTP dialogue stands (server side).

    A BDAT chunk being read is a sub-mode of RCPT / CHUNKING, not a state of its own;
    ``ServerConnection.in_data`` tells whether content is being read.
    """

    GREETING = "GREETING"
    """Connected; the driver owes the 220 (or 554) greeting (RFC 5321 §3.1)."""
    INITIAL = "INITIAL"
    """Greeted; HELO/EHLO expected (after STARTTLS too, RFC 3207 §4.2)."""
    READY = "READY"
    """HELO/EHLO accepted, no mail transaction: MAIL expected."""
    MAIL = "MAIL"
    """MAIL accepted, no recipient yet (RFC 5321 §3.3)."""
    RCPT = "RCPT"
    """At least one RCPT accepted: DATA or BDAT may follow."""
    DATA = "DATA"
    """354 sent: reading message content up to CRLF.CRLF (RFC 5321 §4.1.1.4)."""
    CHUNKING = "CHUNKING"
    """At least one BDAT chunk accepted, LAST not yet seen (RFC 3030 §2)."""
    AUTH = "AUTH"
    """334 sent to AUTH: the client's SASL response line is expected (RFC 4954 §4)."""
    STARTTLS = "STARTTLS"
    """220 sent to STARTTLS: waiting for ``start_tls_done()`` (RFC 3207)."""
    CLOSED = "CLOSED"
    """QUIT answered, 421 sent, EOF, or the transport failed."""


_SESSION = (State.INITIAL, State.READY, State.MAIL, State.RCPT, State.CHUNKING)
_GREETED = (State.READY, State.MAIL, State.RCPT, State.CHUNKING)

POSITIVE_MOVES: dict[tuple[State, type[Event]], State] = {
    **{(s, Hello): State.READY for s in _SESSION},
    **{(s, Reset): State.READY for s in _GREETED},
    (State.INITIAL, Reset): State.INITIAL,
    **{(s, cls): s for s in _SESSION for cls in (Noop, Verify, Help)},
    **{(s, Quit): State.CLOSED for s in _SESSION},
    (State.INITIAL, StartTls): State.STARTTLS,
    (State.READY, StartTls): State.STARTTLS,
    (State.READY, MailFrom): State.MAIL,
    # AUTH (RFC 4954 §4): not during a transaction; a 334 reply moves to AUTH
    # (ServerConnection._after_reply), 235 or a refusal back to READY.
    (State.READY, Authenticate): State.READY,
    (State.AUTH, AuthResponse): State.READY,
    (State.MAIL, RcptTo): State.RCPT,
    (State.RCPT, RcptTo): State.RCPT,
    (State.RCPT, DataCommand): State.DATA,
    (State.DATA, MessageComplete): State.READY,
    (State.DATA, MessageAborted): State.READY,
    # BDAT (RFC 3030): the chunk's octets are read in RCPT / CHUNKING.
    (State.RCPT, ChunkComplete): State.CHUNKING,
    (State.CHUNKING, ChunkComplete): State.CHUNKING,
    (State.RCPT, MessageComplete): State.READY,
    (State.CHUNKING, MessageComplete): State.READY,
    (State.RCPT, MessageAborted): State.READY,
    (State.CHUNKING, MessageAborted): State.READY,
}
"""State after a 2xx/3xx reply to an event; missing pairs are bad sequences."""

NEGATIVE_MOVES: dict[tuple[State, type[Event]], State] = {
    **{(s, Quit): State.CLOSED for s in _SESSION},
    (State.AUTH, AuthResponse): State.READY,
    # The end of the content ends the transaction whatever the reply (RFC 5321 §4.1.1.4);
    # a refused BDAT chunk fails it (RFC 3030 §2).
    **{
        (s, cls): State.READY
        for s in (State.DATA, State.RCPT, State.CHUNKING)
        for cls in (MessageComplete, MessageAborted, ChunkComplete)
    },
}
"""State after a 4xx/5xx reply, where it differs from the state before."""


def allowed(state: State, event_type: type[Event]) -> bool:
    """True if *event_type* may happen in *state* (the table has a move for it)."""
    return (state, event_type) in POSITIVE_MOVES


def next_state(state: State, event_type: type[Event], *, positive: bool) -> State:
    """The state after the reply to an *event_type* sent in *state*.

    Args:
        state: the state the event was reported in.
        event_type: the event's class.
        positive: True for a 2xx/3xx reply.

    Returns:
        The new state: unchanged for a refusal unless ``NEGATIVE_MOVES`` says otherwise.
    """
    if positive:
        return POSITIVE_MOVES.get((state, event_type), state)
    return NEGATIVE_MOVES.get((state, event_type), state)
