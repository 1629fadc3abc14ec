"""The HTTP exchange with a fake rspamd on loopback: what is sent, and every failure."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
from trimail_rspamd import RspamdSettings, RspamdUnavailable, parse_url, post_checkv2
from trimail_rspamd.client import request_headers
from trimail_rspamd.result import MAX_REPLY_BYTES
from trimail_rspamd.testing import Answer, FakeRspamd, Request, answer_json, unused_port

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.envelope import Envelope
from trimail.server.session_info import SessionInfo

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
SESSION = SessionInfo(
    listener="smtp",
    peer_host="192.0.2.7",
    peer_port=40000,
    local_host="127.0.0.1",
    local_port=25,
    helo_identity="mail.example.org",
)
ENVELOPE = Envelope(
    reverse_path=Mailbox(local_part="a", domain="example.org"),
    forward_paths=(
        Mailbox(local_part="b", domain="example.net"),
        Mailbox(local_part="c", domain="example.net"),
    ),
    helo_identity="mail.example.org",
)
NO_ACTION = {"action": "no action", "score": 0.0, "required_score": 15.0}


def ok(_request: Request) -> Answer:
    return answer_json(NO_ACTION)


def test_request_headers_follow_the_rspamd_protocol() -> None:
    settings = RspamdSettings(password="pw", mta_name="mx.example.org", settings_id="inbound")
    authed = SessionInfo(
        listener="submission", peer_host="2001:db8::1", peer_port=1, local_host="::1",
        local_port=587, helo_identity="laptop", authenticated_as="alice@example.org",
    )  # fmt: skip
    bounce = Envelope(reverse_path=NULL_PATH, forward_paths=ENVELOPE.forward_paths)
    assert request_headers(authed, bounce, settings, "a1b2c3") == [
        ("IP", "2001:db8::1"),
        ("Helo", "laptop"),  # from the session when the envelope has none
        ("From", "<>"),
        ("Rcpt", "b@example.net"),
        ("Rcpt", "c@example.net"),
        ("Queue-Id", "a1b2c3"),
        ("User", "alice@example.org"),
        ("MTA-Name", "mx.example.org"),
        ("Settings-ID", "inbound"),
        ("Password", "pw"),
    ]
    assert request_headers(SESSION, ENVELOPE, RspamdSettings())[:3] == [
        ("IP", "192.0.2.7"),
        ("Helo", "mail.example.org"),
        ("From", "a@example.org"),
    ]


def test_values_with_control_characters_are_not_sent() -> None:
    odd = SessionInfo(listener="smtp", peer_host="192.0.2.7", peer_port=1, local_host="h",
                      local_port=25, helo_identity="evil\r\nX-Injected: 1")  # fmt: skip
    names = [
        n for n, _v in request_headers(odd, Envelope(reverse_path=NULL_PATH), RspamdSettings())
    ]
    assert names == ["IP", "From"]


def test_the_post_carries_headers_and_message() -> None:
    with FakeRspamd(ok) as fake:
        url = fake.url + "/prefix/"
        headers = request_headers(SESSION, ENVELOPE, RspamdSettings(password="pw"), "0fa1")
        body = post_checkv2(parse_url(url), headers, MESSAGE, timeout_seconds=5)
    assert b'"no action"' in body
    [request] = fake.requests
    assert request.method == "POST" and request.path == "/prefix/checkv2"
    assert request.body == MESSAGE
    assert request.values("Content-Length") == [str(len(MESSAGE))]
    assert request.values("IP") == ["192.0.2.7"]
    assert request.values("Helo") == ["mail.example.org"]
    assert request.values("From") == ["a@example.org"]
    assert request.values("Rcpt") == ["b@example.net", "c@example.net"]
    assert request.values("Password") == ["pw"]
    assert request.values("User") == request.values("Hostname") == []
    assert request.values("Queue-Id") == ["0fa1"]


def test_utf8_addresses_are_sent_as_utf8() -> None:
    envelope = Envelope(reverse_path=Mailbox(local_part="jörg", domain="bücher.example"))
    with FakeRspamd(ok) as fake:
        post_checkv2(
            parse_url(fake.url),
            request_headers(SESSION, envelope, RspamdSettings()),
            MESSAGE,
            timeout_seconds=5,
        )
    # http.server decodes header bytes as Latin-1
    assert fake.requests[0].values("From") == ["jörg@bücher.example".encode().decode("latin-1")]


def test_a_big_message_is_sent_whole() -> None:
    message = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n" * 2000
    with FakeRspamd(ok) as fake:
        post_checkv2(parse_url(fake.url), [], message, timeout_seconds=5)
    assert fake.requests[0].body == message


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(RspamdUnavailable, match=r"127\.0\.0\.1 port .*refused"):
        post_checkv2(parse_url(url), [], MESSAGE, timeout_seconds=5)


def test_a_slow_answer_times_out() -> None:
    with FakeRspamd(lambda _r: Answer(body="{}", delay_seconds=5)) as fake:
        started = time.monotonic()
        with pytest.raises(RspamdUnavailable, match=r"no answer within 0\.3 s"):
            post_checkv2(parse_url(fake.url), [], MESSAGE, timeout_seconds=0.3)
        assert time.monotonic() - started < 2


def test_a_silent_listener_times_out() -> None:
    """Connected (the kernel accepts) but nobody ever reads or answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(RspamdUnavailable, match="no answer within"):
            post_checkv2(parse_url(url), [], MESSAGE, timeout_seconds=0.2)


def test_a_trickled_status_line_cannot_hold_the_thread() -> None:
    """A server sending its status line a byte every 0.1 s (each read succeeds, so
    no socket timeout fires) is cut off at the deadline by the watchdog."""
    stop = threading.Event()

    def trickle(listener: socket.socket) -> None:
        client, _ = listener.accept()
        with client:
            client.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                if stop.is_set():
                    return
                with contextlib.suppress(OSError):
                    client.send(bytes([byte]))
                time.sleep(0.1)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=trickle, args=(listener,), daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(RspamdUnavailable, match=r"no answer within 1 s"):
            post_checkv2(parse_url(url), [], MESSAGE, timeout_seconds=1)
        assert time.monotonic() - started < 3
        stop.set()
        thread.join(5)


def test_the_deadline_covers_the_whole_exchange() -> None:
    """Each socket operation gets only the time left: a clock that jumps 1 s per
    reading ends the exchange after a few steps, however patiently the server answers."""
    ticks = iter(range(1000))
    with FakeRspamd(ok) as fake, pytest.raises(RspamdUnavailable, match="no answer within 2 s"):
        post_checkv2(
            parse_url(fake.url), [], b"x" * 500_000, timeout_seconds=2,
            clock=lambda: float(next(ticks)),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (answer_json({"error": "invalid command"}, status=500), "HTTP 500 .*: invalid command"),
        (Answer(body="<html>", status=502), "HTTP 502"),
        (Answer(body=b"{}" * (MAX_REPLY_BYTES // 2 + 1)), "reply over"),
    ],
)
def test_http_errors(answer: Answer, match: str) -> None:
    with FakeRspamd(lambda _r: answer) as fake, pytest.raises(RspamdUnavailable, match=match):
        post_checkv2(parse_url(fake.url), [], MESSAGE, timeout_seconds=5)


def test_https_to_a_plain_server_fails_cleanly() -> None:
    with FakeRspamd(ok) as fake:
        url = fake.url.replace("http://", "https://")
        with pytest.raises(RspamdUnavailable, match=r"127\.0\.0\.1 port"):
            post_checkv2(parse_url(url), [], MESSAGE, timeout_seconds=5)
