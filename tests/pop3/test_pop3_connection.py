"""Unit tests of `Pop3Connection`: the driver-facing API and its misuse."""

from __future__ import annotations

import pytest

from trimail.pop3 import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    ConnectionClosed,
    LocalProtocolError,
    MaildropEntry,
    Pop3Config,
    Pop3Connection,
    Quit,
    Reply,
    Retrieve,
    State,
)

DROP = [MaildropEntry(size=5, unique_id="a"), MaildropEntry(size=7, unique_id="b")]


def _logged_in() -> Pop3Connection:
    conn = Pop3Connection()
    conn.greeting()
    conn.receive_data(b"USER alice\r\nPASS secret\r\n")
    assert isinstance(conn.next_event(), Reply)
    event = conn.next_event()
    assert event == Authenticate(username="alice", password="secret", mechanism="USER")
    assert conn.accept_login(DROP) == b"+OK maildrop has 2 messages (12 octets)\r\n"
    assert conn.state is State.TRANSACTION
    return conn


def test_greeting_first_and_once() -> None:
    conn = Pop3Connection()
    conn.receive_data(b"CAPA\r\n")
    assert conn.next_event() is PAUSED
    assert conn.greeting("hi") == b"+OK hi\r\n"
    assert isinstance(conn.next_event(), Reply)
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.greeting()


def test_paused_while_answer_owed() -> None:
    conn = _logged_in()
    conn.receive_data(b"RETR 1\r\nSTAT\r\n")
    assert conn.next_event() == Retrieve(msg_number=1, index=0, top_lines=None)
    assert conn.next_event() is PAUSED
    with pytest.raises(LocalProtocolError):
        conn.quit_done(True)
    assert conn.send_message(b"hello") == b"+OK 5 octets\r\nhello\r\n.\r\n"
    event = conn.next_event()
    assert isinstance(event, Reply) and event.data == b"+OK 2 12\r\n"


def test_send_error_for_unreadable_message() -> None:
    conn = _logged_in()
    conn.receive_data(b"TOP 2 0\r\n")
    assert isinstance(conn.next_event(), Retrieve)
    assert conn.send_error("cannot read") == b"-ERR [SYS/TEMP] cannot read\r\n"
    assert conn.state is State.TRANSACTION
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"x")


def test_accept_login_checks_the_maildrop() -> None:
    conn = Pop3Connection()
    conn.greeting()
    conn.receive_data(b"USER a\r\nPASS b\r\n")
    conn.next_event()
    assert isinstance(conn.next_event(), Authenticate)
    for bad in (
        [MaildropEntry(size=-1, unique_id="a")],
        [MaildropEntry(size=1, unique_id="")],
        [MaildropEntry(size=1, unique_id="has space")],
        [MaildropEntry(size=1, unique_id="x" * 71)],
        [MaildropEntry(size=1, unique_id="a"), MaildropEntry(size=1, unique_id="a")],
    ):
        with pytest.raises(LocalProtocolError):
            conn.accept_login(bad)
        assert conn.state is State.AUTHORIZATION
    with pytest.raises(LocalProtocolError):
        conn.reject_login("no", code="NOPE")
    assert conn.reject_login("no") == b"-ERR [AUTH] no\r\n"
    with pytest.raises(LocalProtocolError):
        conn.accept_login(DROP)


def test_eof_reports_closed_without_quit() -> None:
    conn = _logged_in()
    conn.receive_data(b"DELE 1\r\nSTA")
    assert isinstance(conn.next_event(), Reply)
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()
    assert conn.state is State.CLOSED
    assert conn.next_event() == ConnectionClosed()
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


def test_quit_enters_update_and_reports_deletions() -> None:
    conn = _logged_in()
    conn.receive_data(b"DELE 2\r\nQUIT\r\n")
    conn.next_event()
    assert conn.next_event() == Quit(deleted=(1,))
    assert conn.state is State.UPDATE
    assert conn.quit_done(False) == b"-ERR [SYS/TEMP] some deleted messages not removed\r\n"
    assert conn.state is State.CLOSED


def test_quit_in_authorization_cannot_fail() -> None:
    conn = Pop3Connection(Pop3Config(implementation="x"))
    conn.greeting()
    conn.receive_data(b"QUIT\r\n")
    assert conn.next_event() == Quit(deleted=())
    with pytest.raises(LocalProtocolError):
        conn.quit_done(False)
    assert conn.quit_done(True) == b"+OK x POP3 server signing off\r\n"


def test_shutdown_and_timeout_close() -> None:
    conn = _logged_in()
    assert conn.shutdown_data().startswith(b"-ERR [SYS/TEMP]")
    assert conn.state is State.CLOSED
    conn = _logged_in()
    assert conn.timeout_data().startswith(b"-ERR")
    assert conn.next_event() == ConnectionClosed()


def test_response_text_cannot_inject_lines() -> None:
    conn = Pop3Connection()
    assert conn.greeting("a\r\n+OK b") == b"+OK a  +OK b\r\n"


def test_password_not_in_repr() -> None:
    event = Authenticate(username="alice", password="secret", mechanism="USER")
    assert "secret" not in repr(event)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        Pop3Config(max_line_bytes=1)
    with pytest.raises(ValueError):
        Pop3Config(implementation="a\r\nb")
    assert Pop3Config().max_line_bytes == 1037
