"""Crash safety of the outbound queue: kill -9 the server while it accepts and relays a
stream of messages, start it again, and count that every message that got 250 arrives
at the remote MX (at least once; docs/queue.md)."""

from __future__ import annotations

import smtplib
import threading
import time
from pathlib import Path

from tests.integration.conftest import PASSWORD, stored_messages
from tests.integration.test_outbound import free_port, queue_ids, sender_config, wait_for
from trimail.testing.dns_server import LoopbackDns
from trimail.testing.process import ServerProcess, running_server, serving

DNS_ZONES = {"example": "remote MX 10 mx.remote\nmx.remote A 127.0.0.2\n"}
MESSAGES = 60
KILLS = 3


def message(number: int) -> bytes:
    return (
        f"From: alice@example.org\r\nTo: bob@remote.example\r\n"
        f"Message-ID: <crash-{number}@example.org>\r\nSubject: crash test {number}\r\n"
        f"\r\nmessage {number}\r\n"
    ).encode()


def test_kill_9_loses_no_accepted_message(tmp_path: Path, loopback_dns: LoopbackDns) -> None:
    port = free_port()
    accepted: list[int] = []
    current: list[ServerProcess] = []
    done = threading.Event()

    def send_stream() -> None:
        number = 0
        while number < MESSAGES:
            try:
                with smtplib.SMTP("127.0.0.1", current[-1].submission_port, timeout=10) as smtp:
                    smtp.login("alice@example.org", PASSWORD)
                    while number < MESSAGES:
                        smtp.sendmail("alice@example.org", ["bob@remote.example"], message(number))
                        accepted.append(number)  # 250: from now on it must arrive
                        number += 1
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # no 250: the client keeps the message and tries again
        done.set()

    with (
        running_server(
            tmp_path / "remote",
            domains=["remote.example"],
            users={"bob@remote.example": PASSWORD},
            hostname="mx.remote.example",
            smtp_listen=f"127.0.0.2:{port}",
            top_extra="workers = 1\n",
        ) as remote,
        running_server(
            tmp_path / "sender",
            domains=["example.org"],
            users={"alice@example.org": PASSWORD},
            top_extra=sender_config(loopback_dns, port),
        ) as first,
    ):
        current.append(first)
        sender = threading.Thread(target=send_stream, daemon=True)
        sender.start()
        config, data_dir = first.config_path, first.data_dir
        for kill in range(KILLS):
            wait_for(lambda k=kill: len(accepted) >= (k + 1) * MESSAGES // (KILLS + 1))
            current[-1].process.kill()  # SIGKILL: no shutdown, no flush, no goodbye
            current[-1].process.wait()
            restarted = serving(config, data_dir)
            current.append(restarted.__enter__())
        try:
            assert done.wait(120), "the sender did not finish"

            def arrived() -> set[int]:
                ids = set()
                for raw in stored_messages(remote, "bob@remote.example"):
                    for line in raw.split(b"\r\n"):
                        if line.startswith(b"Message-ID: <crash-"):
                            ids.add(int(line.split(b"crash-")[1].split(b"@")[0]))
                return ids

            wait_for(lambda: set(accepted) <= arrived(), timeout=60, what="every message")
            assert sorted(accepted) == list(range(MESSAGES))
            wait_for(lambda: not queue_ids(current[-1]), what="an empty queue")
        finally:
            for server in current[1:]:
                server.stop()
                for line in server.log_lines:
                    assert "Traceback" not in line, server.log_text()
