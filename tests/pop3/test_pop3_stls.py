"""STLS (RFC 2595 §4): advertised until TLS is on, drops injected plaintext, unlocks logins."""

from __future__ import annotations

import pytest

from trimail.pop3 import (
    NEED_DATA,
    PAUSED,
    LocalProtocolError,
    Pop3Config,
    Pop3Connection,
    Reply,
    StartTls,
)


def events(conn: Pop3Connection) -> list[object]:
    found = []
    while (event := conn.next_event()) not in (NEED_DATA, PAUSED):
        found.append(event)
        if not isinstance(event, Reply):
            break
    return found


def test_stls_discards_injected_commands_and_enables_login() -> None:
    conn = Pop3Connection(Pop3Config(auth_allowed=False, stls=True))
    conn.greeting()
    conn.receive_data(b"CAPA\r\n")
    (capa,) = events(conn)
    assert isinstance(capa, Reply)
    assert b"STLS\r\n" in capa.data and b"USER\r\n" not in capa.data
    conn.receive_data(b"STLS\r\nUSER evil\r\nPASS injected\r\n")  # one packet
    (start,) = events(conn)
    assert isinstance(start, StartTls)
    assert conn.start_tls() == b"+OK Begin TLS negotiation\r\n"
    assert conn.next_event() is PAUSED  # until the handshake is done
    conn.start_tls_done(auth_allowed=True)
    assert conn.next_event() is NEED_DATA  # the injected USER/PASS are gone
    conn.receive_data(b"CAPA\r\nSTLS\r\n")
    capa, again = events(conn)
    assert isinstance(capa, Reply) and b"STLS" not in capa.data and b"USER\r\n" in capa.data
    assert isinstance(again, Reply) and again.data.startswith(b"-ERR")


def test_stls_not_offered_without_config_and_misuse_is_refused() -> None:
    conn = Pop3Connection(Pop3Config())
    conn.greeting()
    conn.receive_data(b"STLS\r\n")
    (reply,) = events(conn)
    assert isinstance(reply, Reply) and reply.data.startswith(b"-ERR")
    with pytest.raises(LocalProtocolError):
        conn.start_tls_done()
    offered = Pop3Connection(Pop3Config(stls=True))
    offered.greeting()
    offered.receive_data(b"STLS\r\n")
    assert isinstance(events(offered)[0], StartTls)
    assert offered.refuse_tls().startswith(b"-ERR")
    assert offered.next_event() is NEED_DATA
