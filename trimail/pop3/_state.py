"""The POP3 states (RFC 1939 §3) and the one table of legal moves.

`COMMANDS[state]` lists the commands valid in a state; any other known command gets
``-ERR`` (wrong state) from the engine. `MOVES[(state, event type, ok)]` is the state
after the driver answers an event (``ok``: it answered ``+OK``). Policy (is this
password right?) is never decided here.
"""

from __future__ import annotations

import enum

from trimail.pop3._events import (
    Authenticate,
    Event,
    Quit,
    Retrieve,
    SaslAuthenticate,
    SaslResponse,
    StartTls,
)


class State(enum.Enum):
    """Where the POP3 session stands (server side), RFC 1939 §3."""

    AUTHORIZATION = "AUTHORIZATION"
    """Greeted (or not yet): the client must identify itself (RFC 1939 §4)."""
    TRANSACTION = "TRANSACTION"
    """Logged in: the maildrop is open (RFC 1939 §5)."""
    UPDATE = "UPDATE"
    """QUIT from TRANSACTION: the driver removes deleted messages (RFC 1939 §6)."""
    CLOSED = "CLOSED"
    """QUIT answered, EOF, too many errors, or the transport failed."""


_AUTHORIZATION_COMMANDS = frozenset({"USER", "PASS", "AUTH", "APOP", "CAPA", "QUIT", "STLS"})
_TRANSACTION_COMMANDS = frozenset(
    {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "QUIT"}
)

COMMANDS: dict[State, frozenset[str]] = {
    State.AUTHORIZATION: _AUTHORIZATION_COMMANDS,  # RFC 1939 §4, RFC 2449 §5, RFC 5034
    State.TRANSACTION: _TRANSACTION_COMMANDS,  # RFC 1939 §5, §7; CAPA: RFC 2449 §5
    State.UPDATE: frozenset(),
    State.CLOSED: frozenset(),
}
"""Commands valid in each state."""

KNOWN_COMMANDS = _AUTHORIZATION_COMMANDS | _TRANSACTION_COMMANDS

ON_EMIT: dict[tuple[State, type[Event]], State] = {
    (State.TRANSACTION, Quit): State.UPDATE,  # RFC 1939 §6
}
"""State entered as soon as the event is reported, where it changes."""

MOVES: dict[tuple[State, type[Event], bool], State] = {
    (State.AUTHORIZATION, Authenticate, True): State.TRANSACTION,
    (State.AUTHORIZATION, Authenticate, False): State.AUTHORIZATION,
    # RFC 5034 §4; a challenge (sasl_challenge) answers them too and stays AUTHORIZATION
    (State.AUTHORIZATION, SaslAuthenticate, True): State.TRANSACTION,
    (State.AUTHORIZATION, SaslAuthenticate, False): State.AUTHORIZATION,
    (State.AUTHORIZATION, SaslResponse, True): State.TRANSACTION,
    (State.AUTHORIZATION, SaslResponse, False): State.AUTHORIZATION,
    (State.TRANSACTION, Retrieve, True): State.TRANSACTION,
    (State.TRANSACTION, Retrieve, False): State.TRANSACTION,
    (State.AUTHORIZATION, StartTls, True): State.AUTHORIZATION,  # RFC 2595 §4
    (State.AUTHORIZATION, StartTls, False): State.AUTHORIZATION,
    (State.AUTHORIZATION, Quit, True): State.CLOSED,
    (State.UPDATE, Quit, True): State.CLOSED,
    (State.UPDATE, Quit, False): State.CLOSED,  # RFC 1939 §6: -ERR, then close anyway
}
"""State after the driver's answer to an owed event; missing triples are misuse."""


def command_allowed(state: State, command: str) -> bool:
    """True if *command* (upper-case keyword) is valid in *state*."""
    return command in COMMANDS[state]


def next_state(state: State, event_type: type[Event], *, ok: bool) -> State | None:
    """The state after answering an *event_type* in *state*, or None if illegal."""
    return MOVES.get((state, event_type, ok))
