"""AUTH SCRAM-SHA-256 through the SMTP engine (RFC 4954 §4, RFC 7677 §3 example).

The engine only carries the exchange; the session runs `trimail.sasl.ScramServer`.
Here it is run by hand with the RFC's fixed nonces.
"""

from __future__ import annotations

import base64

from trimail.mail.reply import Reply
from trimail.sasl import ScramServer, derive_credentials
from trimail.smtp import Authenticate, AuthResponse, Hello, ServerConnection, SmtpConfig

SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
PENCIL = derive_credentials("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def ehlo(mechanisms: tuple[str, ...]) -> tuple[ServerConnection, bytes]:
    conn = ServerConnection(SmtpConfig(hostname="mx.example.org"))
    conn.send(Reply(code=220, text="hi"))
    conn.offer_auth(mechanisms)
    conn.receive_data(b"EHLO c.example\r\n")
    assert isinstance(conn.next_event(), Hello)
    return conn, conn.send(conn.ehlo_reply("mx.example.org"))


def challenge(data: bytes) -> Reply:
    return Reply(code=334, text=base64.b64encode(data).decode())


def test_not_offered_when_the_session_offers_nothing() -> None:
    # the submission session offers no mechanism in cleartext from a remote address
    conn, reply = ehlo(())
    assert b"AUTH" not in reply
    conn.receive_data(b"AUTH SCRAM-SHA-256\r\n")
    refused = conn.next_event()
    assert refused.reply.code == 502  # type: ignore[union-attr]


def test_rfc_7677_exchange_with_initial_response() -> None:
    conn, reply = ehlo(("PLAIN", "LOGIN", "SCRAM-SHA-256"))
    assert b"250 AUTH PLAIN LOGIN SCRAM-SHA-256\r\n" in reply
    server = ScramServer(SERVER_NONCE)
    conn.receive_data(b"AUTH SCRAM-SHA-256 " + base64.b64encode(CLIENT_FIRST) + b"\r\n")
    event = conn.next_event()
    assert event == Authenticate(mechanism="SCRAM-SHA-256", initial_response=CLIENT_FIRST)
    assert server.first(CLIENT_FIRST) == ("user", "")
    conn.send(challenge(server.challenge(PENCIL)))
    conn.receive_data(base64.b64encode(CLIENT_FINAL) + b"\r\n")
    assert conn.next_event() == AuthResponse(data=CLIENT_FINAL)
    # the server-final-message rides in a 334; the client answers with an empty line
    sent = conn.send(challenge(server.final(CLIENT_FINAL)))
    assert sent == b"334 " + base64.b64encode(SERVER_FINAL) + b"\r\n"
    conn.receive_data(b"\r\n")
    assert conn.next_event() == AuthResponse(data=b"")
    conn.send(Reply(code=235, enhanced_status="2.7.0", text="Authentication successful"))
    assert conn.authenticated
