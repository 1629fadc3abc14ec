"""`ImapConnection`: the driver API, state moves, literals, STARTTLS, AUTHENTICATE, IDLE."""

from __future__ import annotations

import base64

import pytest

from trimail.imap import (
    COMMANDS,
    NEED_DATA,
    PAUSED,
    Append,
    AuthCancelled,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    ImapConfig,
    ImapConnection,
    LiteralRequest,
    LocalProtocolError,
    NextEvent,
    RemoteProtocolError,
    Reply,
    State,
)
from trimail.imap._connection import MAX_LITERALS_PER_COMMAND


def make(*, tls_active: bool = False, loopback: bool = True, **config: object) -> ImapConnection:
    conn = ImapConnection(ImapConfig(**config), tls_active=tls_active, loopback=loopback)  # type: ignore[arg-type]
    conn.greeting()
    return conn


def events(conn: ImapConnection, data: bytes = b"") -> list[NextEvent]:
    """Feed *data*, then collect events up to NEED_DATA/PAUSED/ConnectionClosed."""
    if data:
        conn.receive_data(data)
    found: list[NextEvent] = []
    while True:
        event = conn.next_event()
        found.append(event)
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return found


def one(conn: ImapConnection, data: bytes = b"") -> Event:
    """The single event *data* produces (then NEED_DATA or PAUSED)."""
    found = events(conn, data)
    assert len(found) == 2 and found[1] in (NEED_DATA, PAUSED), found
    event = found[0]
    assert isinstance(event, Event)
    return event


def command(conn: ImapConnection, data: bytes = b"") -> CommandReceived:
    event = one(conn, data)
    assert isinstance(event, CommandReceived), event
    return event


def reply(conn: ImapConnection, data: bytes) -> bytes:
    event = one(conn, data)
    assert isinstance(event, Reply), event
    return event.data


def login(conn: ImapConnection) -> None:
    conn.complete(command(conn, b"L LOGIN alice secret\r\n").tag, "OK", "hi")
    assert conn.state is State.AUTHENTICATED


def select(conn: ImapConnection) -> None:
    login(conn)
    conn.complete(command(conn, b"S SELECT INBOX\r\n").tag, "OK", "selected")
    assert conn.state is State.SELECTED


# --- greeting, pipelining, completion ----------------------------------------------


def test_greeting_once_and_paused_before() -> None:
    conn = ImapConnection(ImapConfig())
    conn.receive_data(b"a NOOP\r\n")
    assert conn.next_event() is PAUSED
    assert conn.greeting("hi") == (
        b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LOGINDISABLED SASL-IR LITERAL+ ID ENABLE IDLE]"
        b" hi\r\n"
    )
    with pytest.raises(LocalProtocolError):
        conn.greeting("again")
    assert isinstance(conn.next_event(), CommandReceived)


def test_pipelined_commands_wait_for_the_answer() -> None:
    conn = make()
    first = events(conn, b"a NOOP\r\nb NOOP\r\n")
    assert isinstance(first[0], CommandReceived) and first[0].tag == "a"
    assert first[1] is PAUSED and conn.next_event() is PAUSED
    assert conn.complete("a", "OK", "NOOP completed") == b"a OK NOOP completed\r\n"
    assert command(conn).tag == "b"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("x", "OK", "t"), "no command is owed"),
        (("a", "MAYBE", "t"), "status"),
        (("a", "OK", "t", "BAD]CODE"), "response code"),
        (("a", "OK", "t", ""), "response code"),
        (("a", "OK", "t", "A\r\nB"), "response code"),
    ],
)
def test_complete_misuse(args: tuple[str, ...], match: str) -> None:
    conn = make()
    command(conn, b"a NOOP\r\n")
    with pytest.raises(LocalProtocolError, match=match):
        conn.complete(*args)  # type: ignore[arg-type]
    assert conn.complete("a", "OK", "fine") == b"a OK fine\r\n"
    with pytest.raises(LocalProtocolError):
        conn.complete("a", "OK", "twice")


def test_complete_text_and_code_rendering() -> None:
    conn = make()
    command(conn, b"a NOOP\r\n")
    assert conn.complete("a", "NO", "bad\r\nthing", "TRYCREATE") == (
        b"a NO [TRYCREATE] bad  thing\r\n"
    )
    command(conn, b"b NOOP\r\n")
    assert conn.complete("b", "OK", "") == b"b OK completed\r\n"


# --- state moves (RFC 3501 §3) -----------------------------------------------------


def test_login_moves() -> None:
    conn = make()
    conn.complete(command(conn, b"a LOGIN alice wrong\r\n").tag, "NO", "no")
    assert conn.state is State.NOT_AUTHENTICATED
    login(conn)


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        ([(b"EXAMINE INBOX", "OK")], State.SELECTED),
        ([(b"SELECT nope", "NO")], State.AUTHENTICATED),  # RFC 3501 §6.3.1
        ([(b"EXAMINE nope", "NO")], State.AUTHENTICATED),
        ([(b"SELECT x", "BAD")], State.SELECTED),
        ([(b"CLOSE", "NO")], State.SELECTED),
        ([(b"CLOSE", "OK")], State.AUTHENTICATED),
        ([(b"UNSELECT", "OK")], State.AUTHENTICATED),
        ([(b"CLOSE", "OK"), (b"SELECT nope", "NO")], State.AUTHENTICATED),
        ([(b"UNSELECT", "OK"), (b"EXAMINE INBOX", "OK")], State.SELECTED),
    ],
)
def test_select_close_unselect_moves(steps: list[tuple[bytes, str]], final: State) -> None:
    conn = make()
    select(conn)
    for text, status in steps:
        conn.complete(command(conn, b"t " + text + b"\r\n").tag, status, "x")  # type: ignore[arg-type]
    assert conn.state is final


def test_logout() -> None:
    conn = make()
    tag = command(conn, b"a LOGOUT\r\nb NOOP\r\n").tag
    assert conn.complete(tag, "OK", "bye") == b"a OK bye\r\n"
    assert conn.state is State.LOGOUT
    assert isinstance(conn.next_event(), ConnectionClosed)


SAMPLES = {
    "CAPABILITY": b"CAPABILITY",
    "NOOP": b"NOOP",
    "LOGOUT": b"LOGOUT",
    "ID": b"ID NIL",
    "STARTTLS": b"STARTTLS",
    "LOGIN": b"LOGIN alice secret",
    "AUTHENTICATE": b"AUTHENTICATE PLAIN",
    "SELECT": b"SELECT INBOX",
    "EXAMINE": b"EXAMINE INBOX",
    "CREATE": b"CREATE x",
    "DELETE": b"DELETE x",
    "RENAME": b"RENAME x y",
    "SUBSCRIBE": b"SUBSCRIBE x",
    "UNSUBSCRIBE": b"UNSUBSCRIBE x",
    "LIST": b'LIST "" *',
    "LSUB": b'LSUB "" *',
    "STATUS": b"STATUS x (MESSAGES)",
    "APPEND": b"APPEND x {1+}\r\nx",
    "IDLE": b"IDLE",
    "NAMESPACE": b"NAMESPACE",
    "ENABLE": b"ENABLE CONDSTORE",
    "CHECK": b"CHECK",
    "CLOSE": b"CLOSE",
    "UNSELECT": b"UNSELECT",
    "EXPUNGE": b"EXPUNGE",
    "SEARCH": b"SEARCH ALL",
    "FETCH": b"FETCH 1 FLAGS",
    "STORE": b"STORE 1 +FLAGS \\Seen",
    "COPY": b"COPY 1 x",
    "MOVE": b"MOVE 1 x",
    "UID FETCH": b"UID FETCH 1 FLAGS",
    "UID STORE": b"UID STORE 1 FLAGS ()",
    "UID COPY": b"UID COPY 1 x",
    "UID MOVE": b"UID MOVE 1 x",
    "UID SEARCH": b"UID SEARCH ALL",
    "UID EXPUNGE": b"UID EXPUNGE 1",
}


def test_samples_cover_the_table() -> None:
    assert set(SAMPLES) == set(COMMANDS)


def _in_state(state: State) -> ImapConnection:
    conn = make(starttls_available=True)
    if state is not State.NOT_AUTHENTICATED:
        login(conn)
    if state is State.SELECTED:
        conn.complete(command(conn, b"S SELECT INBOX\r\n").tag, "OK", "selected")
    return conn


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("state", [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED])
def test_state_table(state: State, name: str) -> None:
    """Every command in every state: the table decides; the state never changes."""
    conn = _in_state(state)
    event = one(conn, b"t " + SAMPLES[name] + b"\r\n")
    if state in COMMANDS[name]:
        if name == "CAPABILITY":
            assert isinstance(event, Reply) and event.data.endswith(
                b"t OK CAPABILITY completed\r\n"
            )
        else:
            assert isinstance(event, CommandReceived), event
    else:
        assert isinstance(event, Reply)
        assert event.data.startswith(b"t BAD ") and b"not allowed" in event.data
    assert conn.state is state


# --- literals ------------------------------------------------------------------------


def test_sync_literal_gets_continuation() -> None:
    conn = make()
    assert reply(conn, b"a LOGIN {5}\r\n") == b"+ Ready for literal data\r\n"
    assert events(conn, b"ali") == [NEED_DATA]
    event = command(conn, b'ce "secret"\r\n')
    assert event.command == type(event.command)(username="alice", password="secret")  # type: ignore[call-arg]


def test_literal_request_accept() -> None:
    conn = make()
    login(conn)
    request = one(conn, b"a APPEND INBOX (\\Seen) {11}\r\n")
    assert request == LiteralRequest(tag="a", command_name="APPEND", mailbox="INBOX", size=11)
    assert conn.next_event() is PAUSED
    with pytest.raises(LocalProtocolError, match="LiteralRequest"):
        conn.complete("a", "OK", "no")
    assert conn.accept_literal() == b"+ Ready for literal data\r\n"
    with pytest.raises(LocalProtocolError):
        conn.accept_literal()
    event = command(conn, b"hello world\r\n")
    assert isinstance(event.command, Append)
    assert event.command.messages[0].data == b"hello world"
    assert event.command.messages[0].flags == ("\\Seen",)


def test_literal_request_reject() -> None:
    conn = make()
    login(conn)
    one(conn, b"a APPEND nobox {5}\r\n")
    with pytest.raises(LocalProtocolError):
        conn.reject_literal("OK", "fine")  # type: ignore[arg-type]
    assert conn.reject_literal("NO", "no such mailbox", "TRYCREATE") == (
        b"a NO [TRYCREATE] no such mailbox\r\n"
    )
    with pytest.raises(LocalProtocolError):
        conn.reject_literal("NO", "again")
    assert command(conn, b"b NOOP\r\n").tag == "b"


def test_non_sync_append_has_no_literal_request() -> None:
    conn = make()
    login(conn)
    assert isinstance(command(conn, b"a APPEND x {2+}\r\nhi\r\n").command, Append)


def test_sync_literal_too_big_and_no_plus() -> None:
    conn = make(max_literal_bytes=4)
    assert reply(conn, b"a LOGIN {5}\r\n") == b"a BAD [TOOBIG] Literal too large\r\n"
    assert command(conn, b"b LOGIN {4+}\r\nuser pass\r\n").tag == "b"


def test_non_sync_literal_is_counted_down_not_buffered() -> None:
    conn = make(max_literal_bytes=4, max_discard_bytes=10**9)
    assert reply(conn, b"a LOGIN {100000000+}\r\n") == b"a BAD [TOOBIG] Literal too large\r\n"
    chunk = b"b NOOP\r\n" * 1000
    for _ in range(100):
        conn.receive_data(chunk)
        assert conn.next_event() is NEED_DATA
        assert conn.buffered_bytes == 0


def test_non_sync_literal_far_too_big_disconnects() -> None:
    conn = make(max_literal_bytes=4, max_discard_bytes=100)
    conn.receive_data(b"a LOGIN {101+}\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.data == b"a BAD [TOOBIG] Literal too large\r\n* BYE Literal too large\r\n"
    assert conn.state is State.LOGOUT


def test_huge_literal_digits() -> None:
    conn = make()
    assert reply(conn, b"a LOGIN {" + b"9" * 5000 + b"}\r\n").startswith(b"a BAD [TOOBIG]")
    conn.receive_data(b"b LOGIN {" + b"9" * 5000 + b"+}\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_too_many_literals() -> None:
    conn = make()
    data = b"a ID (" + b'"k" {0+}\r\n ' * (MAX_LITERALS_PER_COMMAND + 1) + b")\r\n"
    found = events(conn, data)
    assert isinstance(found[0], Reply) and found[0].data == (
        b"a BAD [LIMIT] Too many literals in one command\r\n"
    )
    assert found[-1] is NEED_DATA


def test_big_append_in_chunks() -> None:
    conn = make()
    login(conn)
    size = 5 * 1024 * 1024
    request = one(conn, b"a APPEND INBOX {%d}\r\n" % size)
    assert isinstance(request, LiteralRequest)
    conn.accept_literal()
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        conn.receive_data(chunk)
        assert conn.next_event() is NEED_DATA
    event = command(conn, b"\r\n")
    assert isinstance(event.command, Append) and len(event.command.messages[0].data) == size


# --- line limits, bad commands -------------------------------------------------------


def test_long_line_is_not_buffered() -> None:
    conn = make(max_line_bytes=1024)
    conn.receive_data(b"a NOOP ")
    assert conn.next_event() is NEED_DATA
    found = events(conn, b"x" * 2000)
    assert found[0] == Reply(data=b"a BAD [TOOBIG] Line too long\r\n")
    for _ in range(50):
        conn.receive_data(b"y" * 10000)
        assert conn.next_event() is NEED_DATA and conn.buffered_bytes < 1024
    assert command(conn, b"\r\nb NOOP\r\n").tag == "b"


def test_too_many_bad_commands() -> None:
    conn = make(max_bad_commands=2)
    reply(conn, b"a FOO\r\n")
    command(conn, b"b NOOP\r\n")
    conn.complete("b", "BAD", "driver says bad")  # counts too
    conn.receive_data(b"c FOO\r\nd NOOP\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.data == b"c BAD Unknown command\r\n* BYE Too many invalid commands\r\n"
    assert conn.state is State.LOGOUT
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_driver_bad_over_the_limit_ends_at_next_event() -> None:
    conn = make(max_bad_commands=0)
    command(conn, b"a NOOP\r\n")
    conn.complete("a", "BAD", "no")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.data == b"* BYE Too many invalid commands\r\n"


def test_untagged_bad_for_unreadable_tag() -> None:
    conn = make()
    assert reply(conn, b"(x) NOOP\r\n") == b"* BAD Invalid tag\r\n"
    assert events(conn, b"\r\n\r\n") == [NEED_DATA]  # empty lines are ignored


def test_no_badcharset_is_not_counted() -> None:
    conn = make(max_bad_commands=0)
    select(conn)
    data = reply(conn, b"a SEARCH CHARSET X ALL\r\n")
    assert data == b"a NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset\r\n"
    assert command(conn, b"b NOOP\r\n").tag == "b"


# --- EOF -------------------------------------------------------------------------------


def test_eof_mid_line() -> None:
    conn = make()
    conn.receive_data(b"a NOO")
    conn.receive_data(b"")
    assert isinstance(conn.next_event(), ConnectionClosed)
    assert conn.state is State.LOGOUT
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"more")


def test_eof_while_owed() -> None:
    conn = make()
    command(conn, b"a NOOP\r\n")
    conn.receive_data(b"")
    assert conn.next_event() is PAUSED
    conn.complete("a", "OK", "done")
    assert isinstance(conn.next_event(), ConnectionClosed)


def test_bye_and_send_failed() -> None:
    conn = make()
    command(conn, b"a NOOP\r\n")
    assert conn.bye("shutting down") == b"* BYE shutting down\r\n"
    assert conn.state is State.LOGOUT
    assert isinstance(conn.next_event(), ConnectionClosed)
    with pytest.raises(LocalProtocolError):
        conn.complete("a", "OK", "late")
    other = make()
    other.send_failed()
    assert isinstance(other.next_event(), ConnectionClosed)


# --- STARTTLS --------------------------------------------------------------------------


def test_starttls_discards_buffer_and_input() -> None:
    conn = make(loopback=False, starttls_available=True)
    assert not conn.passwords_allowed
    assert "STARTTLS" in conn.capabilities() and "LOGINDISABLED" in conn.capabilities()
    command(conn, b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    assert conn.complete("a", "OK", "go") == b"a OK go\r\n"
    assert conn.starting_tls and conn.next_event() is PAUSED
    conn.receive_data(b"c LOGIN alice secret\r\n")  # cleartext before the handshake
    assert conn.buffered_bytes == 0
    conn.start_tls_done()
    assert conn.tls_active and conn.passwords_allowed and not conn.starting_tls
    assert conn.state is State.NOT_AUTHENTICATED
    assert "STARTTLS" not in conn.capabilities() and "AUTH=PLAIN" in conn.capabilities()
    assert conn.next_event() is NEED_DATA
    assert reply(conn, b"d STARTTLS\r\n") == b"d BAD TLS is already active\r\n"
    with pytest.raises(LocalProtocolError):
        conn.start_tls_done()


def test_starttls_refused_keeps_buffer() -> None:
    conn = make(loopback=False, starttls_available=True)
    command(conn, b"a STARTTLS\r\nb NOOP\r\n")
    conn.complete("a", "NO", "TLS broken")
    assert not conn.starting_tls and command(conn).tag == "b"


def test_passwords_refused_without_tls() -> None:
    conn = make(loopback=False)
    expected = b"a NO [PRIVACYREQUIRED] Use STARTTLS before logging in\r\n"
    assert reply(conn, b"a LOGIN alice secret\r\n") == expected
    assert reply(conn, b"a AUTHENTICATE PLAIN\r\n") == expected
    assert reply(conn, b"a LOGIN {5}\r\n") == expected  # before "+"
    assert make(tls_active=True, loopback=False).passwords_allowed


# --- AUTHENTICATE ---------------------------------------------------------------------


def test_authenticate_rounds() -> None:
    conn = make()
    event = command(conn, b"a AUTHENTICATE PLAIN\r\n")
    with pytest.raises(LocalProtocolError):
        conn.idle_started()
    assert conn.auth_challenge(b"\x00hi") == b"+ AGhp\r\n"
    with pytest.raises(LocalProtocolError):
        conn.auth_challenge()  # a response is awaited already
    response = one(conn, base64.b64encode(b"\x00alice\x00secret") + b"\r\n")
    assert response == AuthResponse(tag="a", data=b"\x00alice\x00secret")
    assert "secret" not in repr(response)
    assert conn.auth_challenge() == b"+ \r\n"
    assert one(conn, b"\r\n") == AuthResponse(tag="a", data=b"")
    conn.complete(event.tag, "OK", "welcome")
    assert conn.state is State.AUTHENTICATED


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b"*", "cancelled"), (b"not base64", "invalid base64"), (b"YW=Jj", "invalid base64")],
)
def test_authenticate_cancelled(line: bytes, reason: str) -> None:
    conn = make()
    command(conn, b"a AUTHENTICATE PLAIN\r\n")
    conn.auth_challenge()
    assert one(conn, line + b"\r\nb NOOP\r\n") == AuthCancelled(tag="a", reason=reason)
    with pytest.raises(LocalProtocolError):
        conn.auth_challenge()
    assert conn.complete("a", "BAD", "cancelled") == b"a BAD cancelled\r\n"
    assert conn.state is State.NOT_AUTHENTICATED
    assert command(conn).tag == "b"


def test_authenticate_initial_response() -> None:
    conn = make()
    event = command(conn, b"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    assert event.command.initial_response == b"\x00alice\x00secret"  # type: ignore[attr-defined]
    event = make_and_command(b"a AUTHENTICATE PLAIN =\r\n")
    assert event.command.initial_response == b""  # type: ignore[attr-defined]


def make_and_command(data: bytes) -> CommandReceived:
    return command(make(), data)


def test_auth_challenge_misuse() -> None:
    conn = make()
    with pytest.raises(LocalProtocolError):
        conn.auth_challenge()
    command(conn, b"a NOOP\r\n")
    with pytest.raises(LocalProtocolError):
        conn.auth_challenge()


def test_unsupported_mechanism() -> None:
    conn = make(auth_mechanisms=("PLAIN", "SCRAM-SHA-256"))
    assert "AUTH=SCRAM-SHA-256" in conn.capabilities()
    assert reply(conn, b"a AUTHENTICATE LOGIN\r\n") == (
        b"a NO Unsupported authentication mechanism\r\n"
    )
    assert isinstance(command(conn, b"b AUTHENTICATE scram-sha-256\r\n").command, object)


# --- IDLE ---------------------------------------------------------------------------


def test_idle_done() -> None:
    conn = make()
    login(conn)
    command(conn, b"a IDLE\r\n")
    assert conn.idle_started() == b"+ idling\r\n"
    with pytest.raises(LocalProtocolError):
        conn.idle_started()
    assert events(conn, b"Do") == [NEED_DATA]
    assert one(conn, b"nE\r\nb NOOP\r\n") == IdleDone(tag="a")
    assert conn.next_event() is PAUSED
    conn.complete("a", "OK", "IDLE terminated")
    assert command(conn).tag == "b"


def test_idle_broken_by_other_line() -> None:
    conn = make()
    login(conn)
    command(conn, b"a IDLE\r\n")
    conn.idle_started()
    assert reply(conn, b"b NOOP\r\n") == b"a BAD Expected DONE to end IDLE\r\n"
    with pytest.raises(LocalProtocolError):
        conn.complete("a", "OK", "late")


def test_idle_broken_by_literal_skips_it() -> None:
    conn = make()
    login(conn)
    command(conn, b"a IDLE\r\n")
    conn.idle_started()
    found = events(conn, b"b LOGIN {8+}\r\nc LOGOUT\r\nd NOOP\r\n")
    assert isinstance(found[0], Reply)
    assert isinstance(found[1], CommandReceived) and found[1].tag == "d"


def test_idle_completed_by_driver() -> None:
    conn = make()
    login(conn)
    command(conn, b"a IDLE\r\n")
    conn.idle_started()
    conn.complete("a", "NO", "mailbox deleted")
    assert command(conn, b"b NOOP\r\n").tag == "b"


# --- ENABLE -----------------------------------------------------------------------------


def test_enable() -> None:
    conn = make()
    with pytest.raises(LocalProtocolError):
        conn.enable(["CONDSTORE"])
    login(conn)
    assert not conn.utf8_names and not conn.rev2
    assert conn.enable(["utf8=accept", "X-FOO"]) == b"* ENABLED UTF8=ACCEPT\r\n"
    assert conn.utf8_names and not conn.rev2
    assert conn.enable(["QRESYNC", "imap4rev2", "UTF8=ACCEPT"]) == (
        b"* ENABLED QRESYNC IMAP4rev2\r\n"
    )
    assert conn.rev2
    assert conn.enabled == {"UTF8=ACCEPT", "QRESYNC", "CONDSTORE", "IMAP4rev2"}
    assert conn.enable(["CONDSTORE"]) == b"* ENABLED\r\n"


def test_utf8_names_after_rev2() -> None:
    conn = make()
    login(conn)
    event = command(conn, b"a CREATE &AOk-\r\n")
    assert event.command.mailbox == "\xe9"  # type: ignore[attr-defined]
    conn.complete("a", "OK", "created")
    conn.enable(["IMAP4rev2"])
    event = command(conn, b'b CREATE "\xc3\xa9 &AOk-"\r\n')
    assert event.command.mailbox == "\xe9 &AOk-"  # type: ignore[attr-defined]


# --- capabilities -------------------------------------------------------------------------


def test_capabilities_lists() -> None:
    conn = make(max_append_bytes=1000, extra_capabilities=("MULTIAPPEND",))
    assert conn.capabilities() == (
        "IMAP4rev1",
        "IMAP4rev2",
        "AUTH=PLAIN",
        "SASL-IR",
        "LITERAL+",
        "ID",
        "ENABLE",
        "IDLE",
    )
    assert conn.capabilities(authenticated=False) == conn.capabilities()
    before_login = conn.capabilities(authenticated=True)
    login(conn)
    assert conn.capabilities() == before_login
    assert conn.capabilities()[-2:] == ("APPENDLIMIT=1000", "MULTIAPPEND")
    assert "BINARY" not in conn.capabilities() and "STARTTLS" not in conn.capabilities()


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ImapConfig(max_line_bytes=10)
    with pytest.raises(ValueError):
        ImapConfig(auth_mechanisms=("PL AIN",))
    with pytest.raises(ValueError):
        ImapConfig(extra_capabilities=("X]",))


def test_dropped_line_with_absurd_literal_marker_disconnects() -> None:
    """A marker whose "{" is beyond the kept tail still counts as a literal."""
    conn = make(max_line_bytes=256)
    conn.receive_data(b"a NOOP " + b"x" * 300 + b" {" + b"0" * 40 + b"5+}\r\nb NOOP\r\n")
    assert conn.next_event() == Reply(data=b"a BAD [TOOBIG] Line too long\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_dropped_line_literal_is_skipped() -> None:
    conn = make(max_line_bytes=256)
    data = b"a NOOP " + b"x" * 300 + b" {10+}\r\nb LOGOUT\r\n\r\nc NOOP\r\n"
    found = events(conn, data)
    assert found[0] == Reply(data=b"a BAD [TOOBIG] Line too long\r\n")
    assert isinstance(found[1], CommandReceived) and found[1].tag == "c"
