"""Unit tests of ServerConnection's API: misuse, limits, chunked reading, closing."""

from __future__ import annotations

import pytest

from trimail.mail.reply import Reply
from trimail.smtp import (
    NEED_DATA,
    PAUSED,
    BadCommand,
    ConnectionClosed,
    DataCommand,
    Hello,
    LocalProtocolError,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    PathError,
    Quit,
    RcptTo,
    RemoteProtocolError,
    ServerConnection,
    SmtpConfig,
    StartTls,
    State,
    parse_path,
)

OK = Reply(code=250, enhanced_status="2.0.0", text="ok")


def greeted(config: SmtpConfig | None = None) -> ServerConnection:
    conn = ServerConnection(config)
    assert conn.next_event() is PAUSED
    assert conn.send(Reply(code=220, text="mx ESMTP")) == b"220 mx ESMTP\r\n"
    return conn


def in_data(config: SmtpConfig | None = None) -> ServerConnection:
    conn = greeted(config)
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
    assert isinstance(conn.next_event(), Hello)
    conn.send(conn.ehlo_reply("mx"))
    for expected in (MailFrom, RcptTo):
        assert isinstance(conn.next_event(), expected)
        conn.send(OK)
    assert isinstance(conn.next_event(), DataCommand)
    conn.send(Reply(code=354, text="go"))
    assert conn.in_data
    return conn


def test_send_without_owed_reply_is_local_error() -> None:
    conn = greeted()
    with pytest.raises(LocalProtocolError):
        conn.send(OK)
    assert conn.state is State.INITIAL


def test_wrong_code_is_local_error_and_state_unchanged() -> None:
    conn = greeted()
    conn.receive_data(b"EHLO c\r\n")
    assert isinstance(conn.next_event(), Hello)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=354, text="no"))
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(code=250, text="bad\r\ninjection"))
    assert conn.state is State.INITIAL
    assert conn.next_event() is PAUSED
    conn.send(conn.ehlo_reply("mx", extra_keywords=["AUTH PLAIN"]))
    assert conn.state is State.READY
    assert "AUTH" in conn.extensions


def test_greeting_must_come_first() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        conn.send(OK)


def test_refused_greeting_answers_503_until_quit() -> None:
    conn = ServerConnection()
    conn.send(Reply(code=554, enhanced_status="5.7.1", text="no service"))
    conn.receive_data(b"EHLO c\r\nQUIT\r\n")
    event = conn.next_event()
    assert isinstance(event, BadCommand) and event.reply.code == 503
    conn.send(event.reply)
    assert isinstance(conn.next_event(), Quit)
    conn.send(Reply(code=221, text="bye"))
    assert conn.state is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_421_closes_at_any_time() -> None:
    conn = in_data()
    assert conn.send(conn.timeout_reply()).startswith(b"421 4.4.2 ")
    assert conn.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        conn.send(OK)
    assert greeted().send(greeted().shutdown_reply()).startswith(b"421 4.3.2 ")


def test_send_failed_closes() -> None:
    conn = greeted()
    conn.send_failed()
    assert conn.state is State.CLOSED


def test_enhanced_status_codes_off() -> None:
    conn = greeted(SmtpConfig(enhanced_status_codes=False))
    conn.receive_data(b"EHLO c\r\nNOOP\r\n")
    conn.next_event()
    conn.send(conn.ehlo_reply("mx"))
    conn.next_event()
    assert conn.send(OK) == b"250 ok\r\n"


def test_large_message_gives_few_events() -> None:
    conn = in_data()
    message = b"".join(b"line %06d of the message body, some text\r\n" % i for i in range(2500))
    data = message + b".\r\n"
    events = []
    for start in range(0, len(data), 65536):
        conn.receive_data(data[start : start + 65536])
        while (event := conn.next_event()) is not NEED_DATA:
            events.append(event)
            if isinstance(event, MessageComplete):
                break
    assert len(message) > 100_000
    assert len(events) <= 4
    assert b"".join(e.data for e in events if isinstance(e, MessageData)) == message


def test_discarding_is_bounded() -> None:
    conn = in_data(SmtpConfig(max_message_bytes=1000))
    for _ in range(100):
        conn.receive_data(b"x" * 65536)
        assert conn.next_event() is NEED_DATA
        assert conn.buffered_bytes < 1000
    conn.receive_data(b"\r\n.\r\n")
    event = conn.next_event()
    assert isinstance(event, MessageAborted) and event.reply.code == 552


def test_long_command_line_is_not_buffered() -> None:
    conn = greeted()
    for _ in range(50):
        conn.receive_data(b"A" * 65536)
        assert conn.next_event() is NEED_DATA
        assert conn.buffered_bytes == 0
    conn.receive_data(b"\r\nNOOP\r\n")
    event = conn.next_event()
    assert isinstance(event, BadCommand) and event.reply.enhanced_status == "5.5.6"


def test_eof_mid_data_closes() -> None:
    conn = in_data()
    conn.receive_data(b"partial\r\nmessage")
    assert isinstance(conn.next_event(), MessageData)
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.state is State.CLOSED


def test_receive_after_eof_is_local_error() -> None:
    conn = greeted()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


def test_bad_bdat_size_is_fatal() -> None:
    conn = greeted()
    conn.receive_data(b"BDAT lots\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply.code == 421
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    conn.send(info.value.reply)
    assert conn.state is State.CLOSED


def test_starttls_flow() -> None:
    conn = greeted(SmtpConfig(starttls=True))
    conn.receive_data(b"STARTTLS\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), StartTls)
    conn.send(Reply(code=220, enhanced_status="2.0.0", text="go"))
    assert conn.state is State.STARTTLS
    assert conn.next_event() is PAUSED
    assert conn.buffered_bytes == 0
    conn.start_tls_done()
    assert conn.tls_active and conn.state is State.INITIAL
    assert "STARTTLS" not in conn.ehlo_reply("mx").text


def test_starttls_refused_keeps_plaintext_session() -> None:
    conn = greeted(SmtpConfig(starttls=True))
    conn.receive_data(b"STARTTLS\r\n")
    conn.next_event()
    conn.send(Reply(code=454, enhanced_status="4.7.0", text="TLS not available"))
    assert conn.state is State.INITIAL
    with pytest.raises(LocalProtocolError):
        conn.start_tls_done()


@pytest.mark.parametrize(
    ("raw", "code", "status"),
    [
        (b"<a b@example.org>", 501, "5.1.3"),
        (b"<" + b"a" * 65 + b"@example.org>", 553, "5.1.3"),
        (b"<a@" + b"b" * 260 + b">", 501, "5.1.3"),
        (b"<j\xc3\xb6rg@example.org>", 553, "5.6.7"),
        (b"<a@[1.2.3]>", 501, "5.1.3"),
    ],
)
def test_parse_path_errors(raw: bytes, code: int, status: str) -> None:
    with pytest.raises(PathError) as info:
        parse_path(raw, smtputf8=False)
    assert (info.value.reply.code, info.value.reply.enhanced_status) == (code, status)


def test_mail_parameters() -> None:
    conn = greeted()
    conn.receive_data(b"EHLO c\r\n")
    conn.next_event()
    conn.send(conn.ehlo_reply("mx"))
    conn.receive_data(b"MAIL FROM:<a@b.example> size=10 body=8bitmime SMTPUTF8\r\n")
    event = conn.next_event()
    assert event == MailFrom(
        reverse_path=parse_path(b"<a@b.example>", smtputf8=False),
        parameters=(("SIZE", "10"), ("BODY", "8bitmime"), ("SMTPUTF8", None)),
        size=10,
        body="8BITMIME",
        smtputf8=True,
    )
    conn.send(Reply(code=550, text="no"))
    for line, code in [
        (b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", 555),
        (b"MAIL FROM:<a@b.example> XRET=FULL\r\n", 555),
        (b"MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n", 501),
        (b"MAIL FROM:<a@b.example>SIZE=1\r\n", 501),
    ]:
        conn.receive_data(line)
        event = conn.next_event()
        assert isinstance(event, BadCommand) and event.reply.code == code, line
        conn.send(event.reply)
