"""The IMAP states (RFC 3501 §3, RFC 9051 §3) and the tables of what is legal where.

`COMMANDS[name]` lists the states a command is valid in; the engine answers any other
with a tagged ``BAD`` itself. `MOVES[(state, command type, status)]` is the state after
the driver completes a command; a missing triple means "unchanged". Policy (is this
password right?) is never decided here.
"""

from __future__ import annotations

import enum

from trimail.imap._commands import (
    Authenticate,
    Close,
    Command,
    Examine,
    Login,
    Logout,
    Select,
    Unselect,
)


class State(enum.Enum):
    """Where the IMAP session stands (server side), RFC 3501 §3."""

    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    """Greeted with OK: the client must log in (§3.1)."""
    AUTHENTICATED = "AUTHENTICATED"
    """Logged in, no mailbox selected (§3.2)."""
    SELECTED = "SELECTED"
    """A mailbox is selected (§3.3)."""
    LOGOUT = "LOGOUT"
    """LOGOUT, BYE, EOF or a fatal protocol error: the connection ends (§3.4)."""


_ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
_NOT_AUTH = frozenset({State.NOT_AUTHENTICATED})
_AUTH = frozenset({State.AUTHENTICATED, State.SELECTED})
_SELECTED = frozenset({State.SELECTED})

COMMANDS: dict[str, frozenset[State]] = {
    # any state: RFC 3501 §6.1, ID RFC 2971 §3.1
    "CAPABILITY": _ANY,
    "NOOP": _ANY,
    "LOGOUT": _ANY,
    "ID": _ANY,
    # not authenticated: §6.2
    "STARTTLS": _NOT_AUTH,
    "LOGIN": _NOT_AUTH,
    "AUTHENTICATE": _NOT_AUTH,
    # authenticated (and selected): §6.3, RFC 2177, 2342, 5161 (§3.1 lets servers
    # accept ENABLE after SELECT; IMAP-NOTES §2 reports HIGHESTMODSEQ then)
    "SELECT": _AUTH,
    "EXAMINE": _AUTH,
    "CREATE": _AUTH,
    "DELETE": _AUTH,
    "RENAME": _AUTH,
    "SUBSCRIBE": _AUTH,
    "UNSUBSCRIBE": _AUTH,
    "LIST": _AUTH,
    "LSUB": _AUTH,
    "STATUS": _AUTH,
    "APPEND": _AUTH,
    "IDLE": _AUTH,
    "NAMESPACE": _AUTH,
    "ENABLE": _AUTH,
    # selected: §6.4, UNSELECT RFC 3691, MOVE RFC 6851, UID EXPUNGE RFC 4315
    "CHECK": _SELECTED,
    "CLOSE": _SELECTED,
    "UNSELECT": _SELECTED,
    "EXPUNGE": _SELECTED,
    "SEARCH": _SELECTED,
    "FETCH": _SELECTED,
    "STORE": _SELECTED,
    "COPY": _SELECTED,
    "MOVE": _SELECTED,
    "UID FETCH": _SELECTED,
    "UID STORE": _SELECTED,
    "UID COPY": _SELECTED,
    "UID MOVE": _SELECTED,
    "UID SEARCH": _SELECTED,
    "UID EXPUNGE": _SELECTED,
}
"""The states each command (upper-case name, ``UID x`` included) is valid in."""

MOVES: dict[tuple[State, type[Command], str], State] = {
    (State.NOT_AUTHENTICATED, Login, "OK"): State.AUTHENTICATED,  # §6.2.3
    (State.NOT_AUTHENTICATED, Authenticate, "OK"): State.AUTHENTICATED,  # §6.2.2
    (State.AUTHENTICATED, Select, "OK"): State.SELECTED,  # §6.3.1
    (State.SELECTED, Select, "OK"): State.SELECTED,
    (State.SELECTED, Select, "NO"): State.AUTHENTICATED,  # §6.3.1: the old one is closed
    (State.AUTHENTICATED, Examine, "OK"): State.SELECTED,  # §6.3.2
    (State.SELECTED, Examine, "OK"): State.SELECTED,
    (State.SELECTED, Examine, "NO"): State.AUTHENTICATED,
    (State.SELECTED, Close, "OK"): State.AUTHENTICATED,  # §6.4.2
    (State.SELECTED, Unselect, "OK"): State.AUTHENTICATED,  # RFC 3691 §2
    (State.NOT_AUTHENTICATED, Logout, "OK"): State.LOGOUT,  # §6.1.3
    (State.AUTHENTICATED, Logout, "OK"): State.LOGOUT,
    (State.SELECTED, Logout, "OK"): State.LOGOUT,
}
"""State after the driver completes a command; missing triples leave it unchanged."""


def command_allowed(state: State, name: str) -> bool:
    """True if the command *name* (upper-case, ``UID FETCH`` style) is valid in *state*."""
    return state in COMMANDS.get(name, frozenset())


def next_state(state: State, command: Command, status: str) -> State:
    """The state after completing *command* with *status* (``OK``/``NO``/``BAD``)."""
    return MOVES.get((state, type(command), status), state)
