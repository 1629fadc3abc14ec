"""AUTH (RFC 4954) in the SMTP engine: offered by the session, SASL left to it."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    AuthResponse,
    BadCommand,
    ConnectionClosed,
    Hello,
    LocalProtocolError,
    MailFrom,
    RemoteProtocolError,
    ServerConnection,
    SmtpConfig,
    State,
)

OK = Reply(code=250, text="ok")
DONE = Reply(code=235, enhanced_status="2.7.0", text="Authentication successful")
PLAIN = base64.b64encode(b"\0alice@example.org\0secret")


def ready(mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")) -> tuple[ServerConnection, bytes]:
    conn = ServerConnection(SmtpConfig(hostname="mx.example.org"))
    conn.send(Reply(code=220, text="hi"))
    conn.offer_auth(mechanisms)
    conn.receive_data(b"EHLO c.example\r\n")
    event = conn.next_event()
    assert isinstance(event, Hello)
    return conn, conn.send(conn.ehlo_reply("mx.example.org"))


def test_ehlo_advertises_auth_and_initial_response_logs_in() -> None:
    conn, ehlo = ready()
    assert b"250 AUTH PLAIN LOGIN\r\n" in ehlo
    conn.receive_data(b"AUTH plain " + PLAIN + b"\r\n")
    event = conn.next_event()
    assert event == Authenticate(mechanism="PLAIN", initial_response=b"\0alice@example.org\0secret")
    assert conn.send(DONE) == b"235 2.7.0 Authentication successful\r\n"
    assert conn.authenticated
    conn.receive_data(b"AUTH PLAIN =\r\nEHLO again\r\n")
    bad = conn.next_event()
    assert isinstance(bad, BadCommand) and bad.reply.code == 503  # once per session
    conn.send(bad.reply)
    assert isinstance(conn.next_event(), Hello)
    assert b"AUTH" not in conn.send(conn.ehlo_reply("mx.example.org"))


def test_continuation_rounds_and_cancel() -> None:
    conn, _ = ready()
    conn.receive_data(b"AUTH LOGIN\r\n")
    assert conn.next_event() == Authenticate(mechanism="LOGIN", initial_response=None)
    conn.send(Reply(code=334, text=base64.b64encode(b"Username:").decode()))
    assert conn.state is State.AUTH
    conn.receive_data(base64.b64encode(b"alice") + b"\r\nMAIL FROM:<a@b.c>\r\n")
    assert conn.next_event() == AuthResponse(data=b"alice")
    conn.send(Reply(code=334, text=base64.b64encode(b"Password:").decode()))
    # the pipelined MAIL line is read as the SASL response: not valid base64
    bad = conn.next_event()
    assert isinstance(bad, BadCommand) and bad.reply.code == 501
    conn.send(bad.reply)
    assert conn.state is State.READY and not conn.authenticated
    conn.receive_data(b"AUTH LOGIN\r\n*\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    conn.send(Reply(code=334, text=""))
    cancelled = conn.next_event()
    assert isinstance(cancelled, BadCommand) and cancelled.reply.code == 501
    assert "cancelled" in cancelled.reply.text[0]
    conn.send(cancelled.reply)
    conn.receive_data(b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    conn.send(Reply(code=535, enhanced_status="5.7.8", text="Bad credentials"))
    assert conn.state is State.READY and not conn.authenticated


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"AUTH CRAM-MD5\r\n", 504),
        (b"AUTH PLAIN !!notbase64\r\n", 501),
        (b"AUTH\r\n", 501),
        (b"AUTH PLAIN a b\r\n", 501),
    ],
)
def test_refusals(line: bytes, code: int) -> None:
    conn, _ = ready()
    conn.receive_data(line)
    event = conn.next_event()
    assert isinstance(event, BadCommand) and event.reply.code == code


def test_not_offered_and_not_in_a_transaction() -> None:
    conn, ehlo = ready(())
    assert b"AUTH" not in ehlo
    conn.receive_data(b"AUTH PLAIN =\r\n")
    event = conn.next_event()
    assert isinstance(event, BadCommand) and event.reply.code == 502
    conn.send(event.reply)
    conn.offer_auth(["PLAIN"])
    conn.receive_data(b"MAIL FROM:<a@b.c>\r\nAUTH PLAIN =\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    conn.send(OK)
    event = conn.next_event()
    assert isinstance(event, BadCommand) and event.reply.code == 503
    assert "transaction" in event.reply.text[0]


def test_wrong_reply_codes_are_refused() -> None:
    conn, _ = ready()
    conn.receive_data(b"AUTH PLAIN =\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(OK)  # 250 does not answer AUTH
    assert conn.send(DONE).startswith(b"235")  # the state was left unchanged
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() is not NEED_DATA


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"AUTH PLAIN\r\n",
                b"AUTH LOGIN =\r\n",
                b"*\r\n",
                b"YQ==\r\n",
                b"\r\n",
                b"MAIL FROM:<a@b.c>\r\n",
                b"EHLO x\r\n",
                b"\xff\x00",
                b"AUTH PLAIN " + PLAIN + b"\r\n",
            ]
        ),
        max_size=20,
    ),
    st.lists(st.sampled_from([334, 235, 535, 454]), min_size=1, max_size=20),
)
def test_auth_dialogues_never_crash(pieces: list[bytes], codes: list[int]) -> None:
    conn, _ = ready()
    data = b"".join(pieces)
    if not data:
        return  # b"" would mean EOF
    conn.receive_data(data)
    answers = iter(codes * 50)
    for _ in range(200):
        try:
            event = conn.next_event()
        except RemoteProtocolError as exc:
            conn.send(exc.reply)
            return
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return
        if isinstance(event, Authenticate | AuthResponse):
            code = next(answers)
            conn.send(Reply(code=code, text="x" if code != 334 else ""))
        elif isinstance(event, BadCommand):
            conn.send(event.reply)
        elif isinstance(event, Hello):
            conn.send(conn.ehlo_reply("mx"))
        else:
            conn.send(OK)
