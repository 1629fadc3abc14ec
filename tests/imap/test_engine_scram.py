"""AUTHENTICATE SCRAM-SHA-256 through the IMAP engine (RFC 7677 §3 example, SASL-IR).

The engine offers what `ImapConfig.auth_mechanisms` lists, only where passwords are
allowed (TLS or loopback); the session runs the mechanism.
"""

from __future__ import annotations

import base64

from trimail.imap import (
    NEED_DATA,
    PAUSED,
    AuthResponse,
    CommandReceived,
    ImapConfig,
    ImapConnection,
    Reply,
    State,
)
from trimail.sasl import ScramServer, derive_credentials

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
PENCIL = derive_credentials("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def make(*, tls_active: bool = False, loopback: bool = True) -> ImapConnection:
    config = ImapConfig(auth_mechanisms=MECHANISMS, starttls_available=True)
    conn = ImapConnection(config, tls_active=tls_active, loopback=loopback)
    conn.greeting()
    return conn


def next_event(conn: ImapConnection, data: bytes) -> object:
    conn.receive_data(data)
    event = conn.next_event()
    assert conn.next_event() in (NEED_DATA, PAUSED)
    return event


def test_offered_only_where_passwords_are_allowed() -> None:
    cleartext = make(loopback=False)
    caps = cleartext.capabilities()
    assert "LOGINDISABLED" in caps and not any(c.startswith("AUTH=") for c in caps)
    refused = next_event(cleartext, b"a AUTHENTICATE SCRAM-SHA-256\r\n")
    assert isinstance(refused, Reply) and b"a NO [PRIVACYREQUIRED]" in refused.data
    for conn in (make(), make(tls_active=True, loopback=False)):
        assert {"AUTH=PLAIN", "AUTH=SCRAM-SHA-256"} <= set(conn.capabilities())
    after_starttls = make(loopback=False)
    after_starttls.receive_data(b"s STARTTLS\r\n")
    assert isinstance(after_starttls.next_event(), CommandReceived)
    after_starttls.complete("s", "OK", "go")
    after_starttls.start_tls_done()
    assert "AUTH=SCRAM-SHA-256" in after_starttls.capabilities()


def test_rfc_7677_exchange_with_sasl_ir() -> None:
    conn = make()
    server = ScramServer(SERVER_NONCE)
    line = b"a AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(CLIENT_FIRST) + b"\r\n"
    event = next_event(conn, line)
    assert isinstance(event, CommandReceived)
    assert event.command.initial_response == CLIENT_FIRST  # type: ignore[attr-defined]
    server.first(CLIENT_FIRST)
    sent = conn.auth_challenge(server.challenge(PENCIL))
    assert sent.startswith(b"+ cj1yT3By")
    assert next_event(conn, base64.b64encode(CLIENT_FINAL) + b"\r\n") == AuthResponse(
        tag="a", data=CLIENT_FINAL
    )
    # the server-final-message as a last challenge, answered by an empty line
    assert conn.auth_challenge(server.final(CLIENT_FINAL)) == (
        b"+ " + base64.b64encode(SERVER_FINAL) + b"\r\n"
    )
    assert next_event(conn, b"\r\n") == AuthResponse(tag="a", data=b"")
    conn.complete("a", "OK", "Logged in")
    assert conn.state is State.AUTHENTICATED
