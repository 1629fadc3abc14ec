"""Unit tests of ClientConnection: every command and reply path, misuse, 421, STARTTLS."""

from __future__ import annotations

import pytest

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    AuthChallenge,
    ClientConfig,
    ClientConnection,
    ClientState,
    CommandReply,
    ConnectionClosed,
    EhloResult,
    Greeting,
    LocalProtocolError,
    PendingCommand,
    RemoteProtocolError,
    ServiceClosing,
    needs_smtputf8,
)

CONFIG = ClientConfig(local_hostname="client.example")
ALICE = Mailbox(local_part="alice", domain="client.example")
BOB = Mailbox(local_part="bob", domain="example.org")
CAROL = Mailbox(local_part="carol", domain="example.org")
DAVE = Mailbox(local_part="dave", domain="example.org")
JOSE = Mailbox(local_part="josé", domain="例え.jp")
EHLO_ALL = (
    b"250-mx.example.org greets client.example\r\n"
    b"250-SIZE 35882577\r\n"
    b"250-8BITMIME\r\n"
    b"250-PIPELINING\r\n"
    b"250-SMTPUTF8\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-CHUNKING\r\n"
    b"250-STARTTLS\r\n"
    b"250-DSN\r\n"
    b"250 AUTH PLAIN LOGIN\r\n"
)
EHLO_PLAIN = b"250 mx.example.org\r\n"


def feed(conn: ClientConnection, data: bytes) -> list[object]:
    """Feed *data* and return every event up to NEED_DATA (or the first ConnectionClosed)."""
    if data:
        conn.receive_data(data)
    events: list[object] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)
        if isinstance(event, ConnectionClosed):
            return events


def greeted(ehlo: bytes = EHLO_ALL) -> ClientConnection:
    conn = ClientConnection(CONFIG)
    [greeting] = feed(conn, b"220 mx.example.org ESMTP\r\n")
    assert isinstance(greeting, Greeting)
    assert conn.send_ehlo() == b"EHLO client.example\r\n"
    [result] = feed(conn, ehlo)
    assert isinstance(result, EhloResult) and result.reply.code == 250
    assert conn.state is ClientState.READY
    return conn


def in_data() -> ClientConnection:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_data()
    events = feed(conn, b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n")
    assert [e.reply.code for e in events] == [250, 250, 354]  # type: ignore[attr-defined]
    assert conn.state is ClientState.DATA
    return conn


def reply_of(event: object) -> Reply:
    assert isinstance(event, CommandReply | EhloResult | Greeting | ServiceClosing)
    return event.reply


# --- greeting ----------------------------------------------------------------------


def test_greeting_then_ehlo() -> None:
    conn = ClientConnection(CONFIG)
    assert conn.state is ClientState.GREETING
    with pytest.raises(LocalProtocolError):
        conn.send_ehlo()  # RFC 5321 §3.1: wait for the greeting
    assert conn.next_event() is NEED_DATA
    [greeting] = feed(conn, b"220-mx.example.org ESMTP\r\n220 no UCE\r\n")
    assert greeting == Greeting(reply=Reply(code=220, text=("mx.example.org ESMTP", "no UCE")))
    assert conn.state is ClientState.INITIAL


def test_greeting_byte_by_byte() -> None:
    conn = ClientConnection(CONFIG)
    events: list[object] = []
    for byte in b"220 mx ready\r\n":
        events += feed(conn, bytes([byte]))
    assert events == [Greeting(reply=Reply(code=220, text="mx ready"))]


def test_421_instead_of_greeting_closes() -> None:
    conn = ClientConnection(CONFIG)
    events = feed(conn, b"421 4.3.2 mx.example.org shutting down\r\n")
    assert events == [
        Greeting(
            reply=Reply(code=421, enhanced_status="4.3.2", text="mx.example.org shutting down")
        ),
        ConnectionClosed(),
    ]
    assert conn.state is ClientState.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send_ehlo()
    assert conn.next_event() == ConnectionClosed()


def test_554_greeting_allows_quit() -> None:
    conn = ClientConnection(CONFIG)
    [greeting] = feed(conn, b"554 5.7.1 no service\r\n")
    assert reply_of(greeting).code == 554
    assert conn.send_quit() == b"QUIT\r\n"
    assert [reply_of(e).code for e in feed(conn, b"221 bye\r\n")[:1]] == [221]
    assert conn.state is ClientState.CLOSED


def test_3xx_greeting_is_remote_error() -> None:
    conn = ClientConnection(CONFIG)
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"354 what\r\n")


# --- EHLO / HELO -------------------------------------------------------------------


def test_ehlo_with_every_extension() -> None:
    conn = ClientConnection(CONFIG)
    feed(conn, b"220 mx\r\n")
    conn.send_ehlo()
    [result] = feed(conn, EHLO_ALL)
    assert isinstance(result, EhloResult) and result.command == "EHLO"
    ext = result.extensions
    assert ext == conn.extensions
    assert ext.size == 35882577
    assert ext.pipelining and ext.eightbitmime and ext.smtputf8 and ext.chunking
    assert ext.starttls and ext.dsn and ext.enhanced_status_codes
    assert ext.auth == {"PLAIN", "LOGIN"}
    assert ext.keywords["AUTH"] == "PLAIN LOGIN" and ext.keywords["8BITMIME"] == ""
    assert "size" in ext and "VRFY" not in ext
    assert ext.parameters("Size") == "35882577" and ext.parameters("XFOO") is None
    assert conn.pipelining


def test_ehlo_keywords_case_and_legacy_auth() -> None:
    conn = ClientConnection(CONFIG)
    feed(conn, b"220 mx\r\n")
    conn.send_ehlo()
    [result] = feed(
        conn,
        b"250-mx\r\n250-pipelining\r\n250-size\r\n250-AUTH=LOGIN\r\n250-auth cram-md5\r\n"
        b"250-X-EXPS GSSAPI NTLM\r\n250-bad_keyword!\r\n250 \r\n",
    )
    ext = result.extensions  # type: ignore[attr-defined]
    assert ext.pipelining and ext.size is None and "SIZE" in ext
    assert ext.auth == {"LOGIN", "CRAM-MD5"}
    assert ext.keywords == {
        "PIPELINING": "",
        "SIZE": "",
        "AUTH": "cram-md5",
        "X-EXPS": "GSSAPI NTLM",
    }


@pytest.mark.parametrize(("line", "size"), [(b"SIZE 0", None), (b"SIZE x", None), (b"SIZE 10", 10)])
def test_size_values(line: bytes, size: int | None) -> None:
    [result] = feed(started(), b"250-mx\r\n250 " + line + b"\r\n")
    assert result.extensions.size == size  # type: ignore[attr-defined]


def started() -> ClientConnection:
    conn = ClientConnection(CONFIG)
    feed(conn, b"220 mx\r\n")
    conn.send_ehlo()
    return conn


def test_helo_fallback_after_ehlo_refused() -> None:
    conn = started()
    [refused] = feed(conn, b"500 5.5.1 Command unrecognized\r\n")
    assert isinstance(refused, EhloResult) and refused.reply.code == 500
    assert refused.extensions.keywords == {}
    assert conn.state is ClientState.INITIAL
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)  # RFC 5321 §4.1.4: HELO/EHLO first
    assert conn.send_helo() == b"HELO client.example\r\n"
    [result] = feed(conn, b"250 mx.example.org\r\n")
    assert isinstance(result, EhloResult) and result.command == "HELO"
    assert conn.state is ClientState.READY and not conn.pipelining
    conn.send_mail(ALICE)
    # Without PIPELINING the caller writes RCPT after MAIL's reply; preparing it ahead
    # is allowed (the engine cannot see when bytes are written).
    assert not conn.must_wait
    assert conn.send_rcpt(BOB) == b"RCPT TO:<bob@example.org>\r\n"
    events = feed(conn, b"250 ok\r\n250 ok\r\n")
    assert [(e.command, e.forward_path) for e in events] == [("MAIL", None), ("RCPT", BOB)]  # type: ignore[attr-defined]


def test_nothing_pipelined_after_ehlo() -> None:
    conn = started()
    with pytest.raises(LocalProtocolError):
        conn.send_noop()
    assert conn.pending == (PendingCommand(command="EHLO"),)


def test_ehlo_mid_transaction_resets_it() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    feed(conn, b"250 ok\r\n")
    conn.send_ehlo()
    feed(conn, EHLO_PLAIN)
    assert conn.state is ClientState.READY and not conn.pipelining
    with pytest.raises(LocalProtocolError):
        conn.send_rcpt(BOB)


# --- the mail transaction ----------------------------------------------------------


def test_pipelined_transaction_with_mixed_recipient_results() -> None:
    conn = greeted()
    written = (
        conn.send_mail(ALICE, [("SIZE", "120"), ("BODY", "8BITMIME")])
        + conn.send_rcpt(BOB, [("NOTIFY", "FAILURE,DELAY")])
        + conn.send_rcpt(CAROL)
        + conn.send_rcpt(DAVE, [("ORCPT", "rfc822;dave@example.org")])
        + conn.send_data()
    )
    assert written == (
        b"MAIL FROM:<alice@client.example> SIZE=120 BODY=8BITMIME\r\n"
        b"RCPT TO:<bob@example.org> NOTIFY=FAILURE,DELAY\r\n"
        b"RCPT TO:<carol@example.org>\r\n"
        b"RCPT TO:<dave@example.org> ORCPT=rfc822;dave@example.org\r\n"
        b"DATA\r\n"
    )
    assert [p.command for p in conn.pending] == ["MAIL", "RCPT", "RCPT", "RCPT", "DATA"]
    assert conn.must_wait  # DATA ends the group (RFC 2920 §3.1)
    events = feed(
        conn,
        b"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n550 5.1.1 No such user\r\n"
        b"451 4.3.0 Try later\r\n354 Go ahead\r\n",
    )
    assert events == [
        CommandReply(
            command="MAIL", reply=Reply(code=250, enhanced_status="2.1.0", text="Sender OK")
        ),
        CommandReply(
            command="RCPT",
            reply=Reply(code=250, enhanced_status="2.1.5", text="OK"),
            forward_path=BOB,
        ),
        CommandReply(
            command="RCPT",
            reply=Reply(code=550, enhanced_status="5.1.1", text="No such user"),
            forward_path=CAROL,
        ),
        CommandReply(
            command="RCPT",
            reply=Reply(code=451, enhanced_status="4.3.0", text="Try later"),
            forward_path=DAVE,
        ),
        CommandReply(command="DATA", reply=Reply(code=354, text="Go ahead")),
    ]
    assert conn.state is ClientState.DATA and conn.pending == ()
    assert conn.send_message(b"Subject: x\r\n\r\nhi\r\n") == b"Subject: x\r\n\r\nhi\r\n.\r\n"
    assert conn.state is ClientState.READY
    # RFC 2920 §3.1: the next transaction may follow the content in the same group.
    conn.send_mail(NULL_PATH)
    [end, mail] = feed(conn, b"250 2.0.0 queued as X\r\n250 2.1.0 ok\r\n")
    assert isinstance(end, CommandReply) and end.command == "DATA-END" and end.ends_message
    assert isinstance(mail, CommandReply) and mail.command == "MAIL" and not mail.ends_message


def test_refused_mail_with_pipelined_recipients() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_rcpt(CAROL)
    conn.send_data()
    events = feed(
        conn,
        b"550 5.7.1 Sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"
        b"503 5.5.1 need MAIL\r\n",
    )
    assert [(e.command, e.reply.code) for e in events] == [  # type: ignore[attr-defined]
        ("MAIL", 550),
        ("RCPT", 503),
        ("RCPT", 503),
        ("DATA", 503),
    ]
    assert conn.state is ClientState.READY
    with pytest.raises(LocalProtocolError):
        conn.send_rcpt(BOB)
    conn.send_mail(ALICE)  # a new transaction may start


def test_refused_data_leaves_transaction_for_rset() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_data()
    events = feed(conn, b"250 ok\r\n550 no\r\n554 5.5.1 No valid recipients\r\n")
    assert reply_of(events[-1]).code == 554
    assert conn.state is ClientState.RCPT
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"x")
    assert conn.send_rset() == b"RSET\r\n"
    assert conn.state is ClientState.READY
    [rset] = feed(conn, b"250 2.0.0 OK\r\n")
    assert isinstance(rset, CommandReply) and rset.command == "RSET"


def test_late_refusal_of_an_old_mail_does_not_touch_the_new_transaction() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rset()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    feed(conn, b"451 busy\r\n250 ok\r\n")
    assert conn.state is ClientState.RCPT


@pytest.mark.parametrize(
    "action",
    [
        lambda c: c.send_rcpt(BOB),
        lambda c: c.send_data(),
        lambda c: c.send_message(b"x"),
        lambda c: c.send_message_chunk(b"x"),
        lambda c: c.end_message(),
        lambda c: c.send_bdat(b"x"),
        lambda c: c.send_auth_response(b"x"),
        lambda c: c.send_auth_cancel(),
        lambda c: c.start_tls_done(),
    ],
)
def test_misuse_in_ready_leaves_state(action) -> None:  # type: ignore[no-untyped-def]
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        action(conn)
    assert conn.state is ClientState.READY and conn.pending == ()


def test_data_needs_a_recipient_and_content_needs_354() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    with pytest.raises(LocalProtocolError):
        conn.send_data()
    conn.send_rcpt(BOB)
    conn.send_data()
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"too early")
    with pytest.raises(LocalProtocolError):
        conn.send_rset()  # DATA ends the group: wait for the 354
    assert conn.state is ClientState.RCPT


def test_250_to_data_is_remote_error() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_data()
    with pytest.raises(RemoteProtocolError) as info:
        feed(conn, b"250 ok\r\n250 ok\r\n250 ok\r\n")
    assert info.value.reply.code == 451
    assert conn.state is ClientState.CLOSED
    with pytest.raises(RemoteProtocolError):
        conn.next_event()  # raised again


def test_354_to_mail_is_remote_error() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"354 huh\r\n")


def test_streamed_message() -> None:
    conn = in_data()
    out = conn.send_message_chunk(b"a\r") + conn.send_message_chunk(b"\n.b") + conn.end_message()
    assert out == b"a\r\n..b\r\n.\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_message_chunk(b"more")
    [end] = feed(conn, b"250 queued\r\n")
    assert isinstance(end, CommandReply) and end.command == "DATA-END"


def test_send_message_after_chunks_is_misuse() -> None:
    conn = in_data()
    conn.send_message_chunk(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"y")
    assert conn.end_message() == b"\r\n.\r\n"


# --- BDAT (RFC 3030) ---------------------------------------------------------------


def test_bdat_chunks() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    out = conn.send_bdat(b"hello\r\n.") + conn.send_bdat(b"", last=True)
    assert out == b"BDAT 8\r\nhello\r\n.BDAT 0 LAST\r\n"
    assert conn.state is ClientState.READY
    events = feed(conn, b"250 ok\r\n250 ok\r\n250 2.0.0 8 octets\r\n250 2.0.0 queued\r\n")
    assert [(e.command, e.ends_message) for e in events] == [  # type: ignore[attr-defined]
        ("MAIL", False),
        ("RCPT", False),
        ("BDAT", False),
        ("BDAT-LAST", True),
    ]


def test_bdat_needs_chunking() -> None:
    conn = greeted(b"250-mx\r\n250 PIPELINING\r\n")
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    with pytest.raises(LocalProtocolError):
        conn.send_bdat(b"x", last=True)
    assert conn.state is ClientState.RCPT


def test_refused_bdat_requires_rset() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_bdat(b"abc")
    conn.send_bdat(b"def", last=True)
    feed(conn, b"250 ok\r\n250 ok\r\n452 4.3.1 disk full\r\n503 5.5.1 bad sequence\r\n")
    assert conn.state is ClientState.READY
    for action in (lambda: conn.send_mail(ALICE), lambda: conn.send_auth("PLAIN")):
        with pytest.raises(LocalProtocolError):
            action()
    conn.send_noop()
    feed(conn, b"250 ok\r\n")
    conn.send_rset()
    conn.send_mail(ALICE)


def test_refused_last_chunk_requires_rset_unless_the_next_mail_was_written() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_bdat(b"spam", last=True)
    feed(conn, b"250 ok\r\n250 ok\r\n554 5.7.1 spam\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)
    conn.send_rset()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_bdat(b"spam", last=True)
    conn.send_mail(ALICE)  # pipelined before the reply: too late to ask for RSET
    feed(conn, b"250 ok\r\n250 ok\r\n250 ok\r\n554 5.7.1 spam\r\n")
    assert conn.state is ClientState.MAIL
    conn.send_rcpt(BOB)


def test_data_and_bdat_do_not_mix() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_data()
    feed(conn, b"250 ok\r\n250 ok\r\n451 not now\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send_bdat(b"x", last=True)
    conn.send_rset()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_bdat(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send_data()


# --- 421 and closing ---------------------------------------------------------------


def test_421_answers_the_pending_command_and_closes() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.send_rcpt(CAROL)
    events = feed(conn, b"250 ok\r\n421 4.7.0 mx.example.org Too many errors\r\n250 ignored\r\n")
    assert events[1] == CommandReply(
        command="RCPT",
        reply=Reply(code=421, enhanced_status="4.7.0", text="mx.example.org Too many errors"),
        forward_path=BOB,
    )
    assert events[2:] == [ConnectionClosed()]
    assert conn.state is ClientState.CLOSED
    assert conn.pending == (PendingCommand(command="RCPT", forward_path=CAROL),)
    with pytest.raises(LocalProtocolError):
        conn.send_quit()


def test_unsolicited_421() -> None:
    conn = greeted()
    events = feed(conn, b"421 4.4.2 mx.example.org timeout\r\n")
    assert events == [
        ServiceClosing(
            reply=Reply(code=421, enhanced_status="4.4.2", text="mx.example.org timeout")
        ),
        ConnectionClosed(),
    ]


def test_421_while_content_is_written() -> None:
    conn = in_data()
    conn.send_message_chunk(b"partial")
    assert isinstance(feed(conn, b"421 timeout\r\n")[0], ServiceClosing)
    with pytest.raises(LocalProtocolError):
        conn.end_message()


def test_unsolicited_reply_is_remote_error() -> None:
    conn = greeted()
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"250 surprise\r\n")
    assert conn.state is ClientState.CLOSED


def test_quit() -> None:
    conn = greeted()
    assert conn.send_quit() == b"QUIT\r\n"
    assert conn.state is ClientState.QUIT
    with pytest.raises(LocalProtocolError):
        conn.send_noop()
    events = feed(conn, b"221 2.0.0 Bye\r\n")
    assert events == [
        CommandReply(command="QUIT", reply=Reply(code=221, enhanced_status="2.0.0", text="Bye")),
        ConnectionClosed(),
    ]


def test_eof_with_pending_commands() -> None:
    conn = greeted()
    conn.send_mail(ALICE)
    conn.send_rcpt(BOB)
    conn.receive_data(b"250 ok\r\n250 trunc")
    conn.receive_data(b"")
    assert reply_of(conn.next_event()).code == 250
    assert conn.next_event() == ConnectionClosed()
    assert conn.pending == (PendingCommand(command="RCPT", forward_path=BOB),)
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"late")


def test_send_failed_closes() -> None:
    conn = greeted()
    conn.send_failed()
    assert conn.next_event() == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        conn.send_ehlo()


def test_reply_over_buffer_limit() -> None:
    conn = ClientConnection(ClientConfig(local_hostname="c.example", max_buffer_bytes=100))
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"220-" + b"x" * 60 + b"\r\n220-" + b"y" * 60 + b"\r\n")


# --- STARTTLS (RFC 3207) -----------------------------------------------------------


def test_starttls_then_ehlo_again() -> None:
    conn = greeted()
    assert conn.send_starttls() == b"STARTTLS\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)  # STARTTLS ends the group
    [ready] = feed(conn, b"220 2.0.0 Ready to start TLS\r\n")
    assert isinstance(ready, CommandReply) and ready.command == "STARTTLS"
    assert conn.state is ClientState.STARTTLS
    with pytest.raises(LocalProtocolError):
        conn.send_ehlo()  # the handshake first
    conn.start_tls_done()
    assert conn.tls_active and conn.state is ClientState.INITIAL
    assert conn.extensions.keywords == {} and not conn.pipelining
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)
    conn.send_ehlo()
    feed(conn, EHLO_ALL)
    with pytest.raises(LocalProtocolError):
        conn.send_starttls()


def test_starttls_response_injection_detected_at_handshake() -> None:
    conn = greeted()
    conn.send_starttls()
    conn.receive_data(b"220 go ahead\r\n250-injected\r\n")  # one read, as an attacker sends it
    assert reply_of(conn.next_event()).code == 220
    with pytest.raises(RemoteProtocolError) as info:
        conn.start_tls_done()
    assert info.value.reply.enhanced_status == "4.7.0"
    assert conn.buffered_bytes == 0 and conn.state is ClientState.CLOSED
    assert not conn.tls_active


def test_starttls_response_injection_in_a_later_read() -> None:
    conn = greeted()
    conn.send_starttls()
    feed(conn, b"220 go ahead\r\n")
    conn.receive_data(b"250 injected\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert conn.buffered_bytes == 0


def test_starttls_refused() -> None:
    conn = greeted()
    conn.send_starttls()
    feed(conn, b"454 4.7.0 TLS not available\r\n")
    assert conn.state is ClientState.READY and not conn.tls_active
    conn.send_mail(ALICE)


# --- AUTH (RFC 4954) ---------------------------------------------------------------


def test_auth_plain_with_initial_response() -> None:
    conn = greeted()
    out = conn.send_auth("plain", b"\0alice\0secret")
    assert out == b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)  # AUTH ends the group
    [done] = feed(conn, b"235 2.7.0 Authentication successful\r\n")
    assert isinstance(done, CommandReply) and done.command == "AUTH"
    assert conn.authenticated and conn.state is ClientState.READY
    with pytest.raises(LocalProtocolError):
        conn.send_auth("PLAIN", b"")


def test_auth_plain_empty_initial_response_and_challenge() -> None:
    conn = greeted()
    assert conn.send_auth("PLAIN", b"") == b"AUTH PLAIN =\r\n"  # RFC 4954 §4
    [challenge] = feed(conn, b"334 \r\n")
    assert challenge == AuthChallenge(data=b"")
    assert conn.state is ClientState.AUTH
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE)
    with pytest.raises(LocalProtocolError):
        conn.send_quit()
    assert conn.send_auth_response(b"\0alice\0secret") == b"AGFsaWNlAHNlY3JldA==\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_auth_response(b"twice")
    [done] = feed(conn, b"235 2.7.0 ok\r\n")
    assert reply_of(done).code == 235 and conn.authenticated


def test_auth_challenge_rounds_and_cancel() -> None:
    conn = greeted()
    assert conn.send_auth("login") == b"AUTH LOGIN\r\n"
    [challenge] = feed(conn, b"334 VXNlcm5hbWU6\r\n")
    assert challenge == AuthChallenge(data=b"Username:")
    conn.send_auth_response(b"alice")
    [challenge] = feed(conn, b"334 UGFzc3dvcmQ6\r\n")
    assert challenge == AuthChallenge(data=b"Password:")
    assert conn.send_auth_cancel() == b"*\r\n"
    [cancelled] = feed(conn, b"501 5.7.0 Authentication cancelled\r\n")
    assert reply_of(cancelled).code == 501
    assert conn.state is ClientState.READY and not conn.authenticated


def test_malformed_challenge_is_remote_error() -> None:
    conn = greeted()
    conn.send_auth("LOGIN")
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"334 not*base64\r\n")


def test_reply_while_auth_response_owed_is_remote_error() -> None:
    conn = greeted()
    conn.send_auth("LOGIN")
    feed(conn, b"334 VXNlcm5hbWU6\r\n")
    with pytest.raises(RemoteProtocolError):
        feed(conn, b"334 UGFzc3dvcmQ6\r\n")


def test_auth_misuse() -> None:
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send_auth("PL AIN")
    with pytest.raises(LocalProtocolError):
        conn.send_auth("PLAIN", b"x" * 400)  # RFC 4954 §4: over 512 octets
    conn.send_mail(ALICE)
    feed(conn, b"250 ok\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send_auth("PLAIN", b"")  # not during a transaction
    assert conn.pending == ()


# --- paths, parameters, SMTPUTF8 -------------------------------------------------------


def test_paths_are_rendered_and_checked() -> None:
    conn = greeted()
    assert conn.send_mail(NULL_PATH) == b"MAIL FROM:<>\r\n"
    quoted = Mailbox(local_part="john smith", domain="example.org")
    assert conn.send_rcpt(quoted) == b'RCPT TO:<"john smith"@example.org>\r\n'
    postmaster = Mailbox(local_part="postmaster", domain="")
    assert conn.send_rcpt(postmaster) == b"RCPT TO:<postmaster>\r\n"
    for bad in (
        Mailbox(local_part="a\r\nRSET", domain="example.org"),
        Mailbox(local_part="a", domain="example.org>\r\nRSET"),
        Mailbox(local_part="x" * 65, domain="example.org"),
        NULL_PATH,
    ):
        with pytest.raises(LocalProtocolError):
            conn.send_rcpt(bad)  # type: ignore[arg-type]
    assert len(conn.pending) == 3


@pytest.mark.parametrize(
    "parameters",
    [
        [("SIZE", "1 2")],
        [("SIZE", "")],
        [("SIZE", "1\r\nRSET")],
        [("BAD KEY", None)],
        [("SIZE", "1"), ("size", "2")],
        [("X", "a=b")],
    ],
)
def test_bad_parameters(parameters: list[tuple[str, str | None]]) -> None:
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE, parameters)
    assert conn.state is ClientState.READY


def test_null_path_is_no_forward_path_and_sender_needs_domain() -> None:
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send_mail(Mailbox(local_part="postmaster", domain=""))


def test_smtputf8() -> None:
    assert needs_smtputf8(JOSE) and not needs_smtputf8(ALICE) and not needs_smtputf8(NULL_PATH)
    conn = greeted(b"250-mx\r\n250 PIPELINING\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send_mail(JOSE)
    with pytest.raises(LocalProtocolError):
        conn.send_mail(ALICE, [("SMTPUTF8", None)])  # not advertised
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send_mail(JOSE)  # advertised, but the parameter is missing
    conn.send_mail(ALICE)
    with pytest.raises(LocalProtocolError):
        conn.send_rcpt(JOSE)  # the transaction's MAIL had no SMTPUTF8
    conn.send_rset()
    out = conn.send_mail(JOSE, [("SMTPUTF8", None)]) + conn.send_rcpt(JOSE)
    assert out == "MAIL FROM:<josé@例え.jp> SMTPUTF8\r\nRCPT TO:<josé@例え.jp>\r\n".encode()


def test_local_hostname_is_checked() -> None:
    with pytest.raises(ValueError):
        ClientConfig(local_hostname="bad name")
    with pytest.raises(ValueError):
        ClientConfig(local_hostname="x\r\nMAIL")
    assert ClientConfig(local_hostname="[192.0.2.1]").local_hostname == "[192.0.2.1]"


def test_noop_and_rset_before_ehlo() -> None:
    conn = ClientConnection(CONFIG)
    feed(conn, b"220 mx\r\n")
    assert conn.send_rset() == b"RSET\r\n"
    feed(conn, b"250 ok\r\n")
    assert conn.send_noop() == b"NOOP\r\n"
    [noop] = feed(conn, b"250 2.0.0 OK\r\n")
    assert noop == CommandReply(
        command="NOOP", reply=Reply(code=250, enhanced_status="2.0.0", text="OK")
    )
    assert conn.state is ClientState.INITIAL
