"""Greylisting in a real ``trimail serve`` (two worker processes sharing the database)."""

from __future__ import annotations

import email.policy
import json
import poplib
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

from trimail.testing.process import ServerProcess, run_cli, running_server

PASSWORD = "alice password 1"
GREYLIST = (
    "workers = 2\n"  # the retry may reach the other worker: the state is shared
    "[plugin.greylist]\n"
    "delay_seconds = 1\n"
    "greylist_loopback = true\n"  # the test client is on 127.0.0.1
)


def message(subject: str, sender: str = "bob@sender.example") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "alice@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@sender.example>"
    msg.set_content("Hello through the greylist.\n")
    return msg.as_bytes(policy=email.policy.SMTP)


def rcpt_once(srv: ServerProcess, sender: str, recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as client:
        client.ehlo("mx.sender.example")
        assert client.mail(sender)[0] == 250
        return client.rcpt(recipient)


def pop3_messages(srv: ServerProcess) -> list[bytes]:
    pop = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
    try:
        pop.user("alice@example.org")
        pop.pass_(PASSWORD)
        count, _size = pop.stat()
        return [b"\r\n".join(pop.retr(n + 1)[1]) for n in range(count)]
    finally:
        pop.quit()


def test_greylisted_then_accepted_and_delivered(tmp_path: Path) -> None:
    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=GREYLIST,
    ) as srv:
        # first sight of the triplet: 451 4.7.1 (RFC 6647 §2.1)
        code, text = rcpt_once(srv, "bob@sender.example", "alice@example.org")
        assert code == 451, text
        assert text.startswith(b"4.7.1 Greylisted") and b"try again" in text
        # a retry before the delay: still greylisted
        code, text = rcpt_once(srv, "BOB@Sender.Example", "Alice@example.org")
        assert (code, text[:5]) == (451, b"4.7.1")

        time.sleep(1.2)  # delay_seconds = 1
        with smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=30) as client:
            client.ehlo("mx.sender.example")
            refused = client.sendmail(
                "bob@sender.example", ["alice@example.org"], message("after greylisting")
            )
            assert refused == {}
            # a new triplet in the same transaction is greylisted on its own
            assert client.mail("carol@sender.example")[0] == 250
            assert client.rcpt("alice@example.org")[0] == 451
            client.rset()

        [delivered] = pop3_messages(srv)
        assert b"Subject: after greylisting" in delivered

        # the server logged the decisions
        log = srv.log_text()
        assert "greylisted (new): 127.0.0.0/24 <bob@sender.example> -> <alice@example.org>" in log
        assert "greylist passed after" in log

        # the operator sees the triplets (while the server runs)
        done = run_cli(srv.config_path, "greylist", "list", "--json")
        assert done.returncode == 0, done.stderr
        states = {(t["reverse_path"], t["state"]) for t in json.loads(done.stdout)["triplets"]}
        assert states == {("bob@sender.example", "passed"), ("carol@sender.example", "greylisted")}
        done = run_cli(srv.config_path, "greylist", "allow", "127.0.0.0/8")
        assert done.returncode == 0, done.stderr
        # an allowed network takes effect at once, in every worker
        for _ in range(4):
            assert rcpt_once(srv, "dave@sender.example", "alice@example.org")[0] == 250


def test_authenticated_submission_is_never_greylisted(tmp_path: Path) -> None:
    with running_server(
        tmp_path,
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=GREYLIST,
    ) as srv:
        with smtplib.SMTP("127.0.0.1", srv.submission_port, timeout=30) as client:
            client.ehlo("laptop.example")
            client.login("alice@example.org", PASSWORD)
            refused = client.sendmail(
                "alice@example.org",
                ["alice@example.org"],
                message("note to self", "alice@example.org"),
            )
            assert refused == {}
        [delivered] = pop3_messages(srv)
        assert b"Subject: note to self" in delivered
        assert "greylisted" not in srv.log_text()
        # the MX listener still greylists the same triplet: nothing was recorded for it
        code, _text = rcpt_once(srv, "alice@example.org", "alice@example.org")
        assert code == 451


def test_a_bad_table_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "trimail.toml"
    config.write_text(
        f"data_dir = {str(tmp_path / 'data')!r}\n"
        '[plugin.greylist]\nwhitelist_networks = ["192.0.2.1/24"]\n',
        encoding="utf-8",
    )
    for args in (("check-config",), ("serve",)):
        done = run_cli(config, *args)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr
        assert (
            "plugin.greylist.whitelist_networks: '192.0.2.1/24' has host bits set after the "
            "prefix; did you mean '192.0.2.0/24'?"
        ) in done.stderr
