"""The engine's DSN support (RFC 3461 §4): EHLO keyword, RET/ENVID, NOTIFY/ORCPT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.mail.dsn import DsnMailParams, DsnRcptParams, xtext_encode
from trimail.mail.reply import Reply
from trimail.smtp import (
    PAUSED,
    BadCommand,
    Hello,
    MailFrom,
    RcptTo,
    RemoteProtocolError,
    ServerConnection,
    SmtpConfig,
)

OK = Reply(code=250, enhanced_status="2.0.0", text="ok")


def ready(config: SmtpConfig | None = None, *, hello: bytes = b"EHLO c") -> ServerConnection:
    conn = ServerConnection(config)
    assert conn.next_event() is PAUSED
    conn.send(Reply(code=220, text="mx ESMTP"))
    conn.receive_data(hello + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, Hello)
    conn.send(conn.ehlo_reply("mx") if event.command == "EHLO" else Reply(code=250, text="mx"))
    return conn


def in_mail(config: SmtpConfig | None = None) -> ServerConnection:
    conn = ready(config)
    conn.receive_data(b"MAIL FROM:<a@b.example>\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    conn.send(OK)
    return conn


def answer(conn: ServerConnection, line: bytes) -> MailFrom | RcptTo | BadCommand:
    conn.receive_data(line + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, MailFrom | RcptTo | BadCommand)
    conn.send(event.reply if isinstance(event, BadCommand) else Reply(code=550, text="no"))
    return event


def test_ehlo_advertises_dsn_after_chunking() -> None:
    lines = ServerConnection().ehlo_reply("mx").text
    assert lines[-2:] == ("CHUNKING", "DSN")
    starttls = ServerConnection(SmtpConfig(starttls=True)).ehlo_reply("mx").text
    assert starttls[-2:] == ("DSN", "STARTTLS")
    assert "DSN" not in ServerConnection(SmtpConfig(dsn=False)).ehlo_reply("mx").text
    assert "DSN" in ready().extensions


def test_mail_parameters_reach_the_driver() -> None:
    conn = ready()
    event = answer(conn, b"MAIL FROM:<a@b.example> SIZE=10 ret=hdrs ENVID=QQ+2B1")
    assert isinstance(event, MailFrom)
    assert event.parameters == (("SIZE", "10"), ("RET", "hdrs"), ("ENVID", "QQ+2B1"))
    assert event.size == 10
    assert DsnMailParams.from_parameters(event.parameters) == DsnMailParams(
        ret="HDRS", envid="QQ+1"
    )


def test_rcpt_parameters_reach_the_driver() -> None:
    conn = in_mail()
    event = answer(
        conn, b"RCPT TO:<c@d.example> NOTIFY=delay,failure ORCPT=utf-8;j\\x{F6}rg@d.example"
    )
    assert isinstance(event, RcptTo)
    assert event.parameters == (
        ("NOTIFY", "delay,failure"),
        ("ORCPT", "utf-8;j\\x{F6}rg@d.example"),
    )
    assert DsnRcptParams.from_parameters(event.parameters) == DsnRcptParams(
        notify=frozenset({"DELAY", "FAILURE"}), orcpt=("utf-8", "jörg@d.example")
    )


@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        (b"RET", 501, "Syntax error in RET parameter: a value is required"),
        (b"RET=ALL", 501, "Syntax error in RET parameter: must be FULL or HDRS"),
        (b"RET=FULL RET=HDRS", 501, "Duplicate parameter"),
        (
            b"ENVID=" + b"x" * 101,
            501,
            "Syntax error in ENVID parameter: longer than 100 characters",
        ),
        (b"ENVID=a+0Db", 501, "Syntax error in ENVID parameter: must decode to printable US-ASCII"),
        (b"ENVID=a+zz", 501, "Syntax error in ENVID parameter: malformed xtext"),
        (b"NOTIFY=NEVER", 555, "Unsupported parameter"),  # an RCPT parameter
    ],
)
def test_bad_mail_parameters(line: bytes, code: int, text: str) -> None:
    event = answer(ready(), b"MAIL FROM:<a@b.example> " + line)
    assert isinstance(event, BadCommand)
    assert (event.reply.code, event.reply.enhanced_status) == (code, "5.5.4")
    assert event.reply.text == (text,)


@pytest.mark.parametrize(
    ("line", "code", "text"),
    [
        (b"NOTIFY", 501, "Syntax error in NOTIFY parameter: a value is required"),
        (b"NOTIFY=,", 501, "Syntax error in NOTIFY parameter: a value is required"),
        (b"NOTIFY=FAILURE NOTIFY=DELAY", 501, "Duplicate parameter"),
        (b"ORCPT=rfc822;", 501, "Syntax error in ORCPT parameter: the address is empty"),
        (b"ORCPT=rfc 822;a@b", 501, "Syntax error in parameters"),  # a space ends the value
        (
            b"ORCPT=utf-8;a+2Bb@c",
            501,
            "Syntax error in ORCPT parameter: malformed address encoding",
        ),
        (b"ORCPT=;a@b", 501, "Syntax error in ORCPT parameter: malformed address type"),
        (b"RET=FULL", 555, "Unsupported parameter"),  # a MAIL parameter
    ],
)
def test_bad_rcpt_parameters(line: bytes, code: int, text: str) -> None:
    event = answer(in_mail(), b"RCPT TO:<c@d.example> " + line)
    assert isinstance(event, BadCommand)
    assert (event.reply.code, event.reply.text) == (code, (text,))


def test_orcpt_limit() -> None:
    conn = in_mail()
    value = b"rfc822;" + b"a" * 490 + b"@d.example"  # 507 characters
    event = answer(conn, b"RCPT TO:<c@d.example> ORCPT=" + value)
    assert isinstance(event, BadCommand) and event.reply.code == 501
    assert event.reply.text == ("Syntax error in ORCPT parameter: longer than 500 characters",)


@pytest.mark.parametrize("config", [SmtpConfig(dsn=False), SmtpConfig()], ids=["off", "helo"])
def test_without_dsn_the_parameters_are_unknown(config: SmtpConfig) -> None:
    hello = b"EHLO c" if not config.dsn else b"HELO c"
    conn = ready(config, hello=hello)
    for line in (b"RET=FULL", b"ENVID=x"):
        event = answer(conn, b"MAIL FROM:<a@b.example> " + line)
        assert isinstance(event, BadCommand) and event.reply.code == 555
    conn.receive_data(b"MAIL FROM:<a@b.example>\r\n")
    assert isinstance(conn.next_event(), MailFrom)
    conn.send(OK)
    for line in (b"NOTIFY=NEVER", b"ORCPT=rfc822;a@b"):
        event = answer(conn, b"RCPT TO:<c@d.example> " + line)
        assert isinstance(event, BadCommand) and event.reply.code == 555


def test_driver_checked_parameters_when_dsn_is_off() -> None:
    config = SmtpConfig(dsn=False, extra_mail_parameters={"ret"}, extra_rcpt_parameters={"notify"})
    conn = ready(config)
    event = answer(conn, b"MAIL FROM:<a@b.example> RET=anything")
    assert isinstance(event, MailFrom) and event.parameters == (("RET", "anything"),)
    conn = in_mail(config)
    event = answer(conn, b"RCPT TO:<c@d.example> NOTIFY=whatever")
    assert isinstance(event, RcptTo) and event.parameters == (("NOTIFY", "whatever"),)


def test_extra_rcpt_parameters_still_work_with_dsn() -> None:
    conn = in_mail(SmtpConfig(extra_rcpt_parameters={"XFOO"}))
    event = answer(conn, b"RCPT TO:<c@d.example> XFOO=1 NOTIFY=SUCCESS")
    assert isinstance(event, RcptTo)
    assert event.parameters == (("XFOO", "1"), ("NOTIFY", "SUCCESS"))


def test_dsn_errors_count_as_bad_commands() -> None:
    conn = ready(SmtpConfig(max_bad_commands=1))
    answer(conn, b"MAIL FROM:<a@b.example> RET=NO")
    conn.receive_data(b"MAIL FROM:<a@b.example> RET=NO\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.reply.code == 421


printable_ascii = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1)


@given(envid=printable_ascii.filter(lambda s: len(s) <= 100))
def test_any_printable_envid_passes_the_engine(envid: str) -> None:
    event = answer(ready(), b"MAIL FROM:<a@b.example> ENVID=" + xtext_encode(envid).encode())
    assert isinstance(event, MailFrom)
    assert DsnMailParams.from_parameters(event.parameters).envid == envid


@given(address=st.text(min_size=1, max_size=60).filter(lambda s: s.isprintable()))
def test_any_utf8_orcpt_passes_the_engine(address: str) -> None:
    params = DsnRcptParams(orcpt=("utf-8", address))
    ((keyword, value),) = params.to_parameters()
    event = answer(in_mail(), f"RCPT TO:<c@d.example> {keyword}={value}".encode())
    assert isinstance(event, RcptTo)
    assert DsnRcptParams.from_parameters(event.parameters) == params
