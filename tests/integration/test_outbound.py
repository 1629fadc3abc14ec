"""Outbound delivery end to end: a real `trimail serve` relays submitted mail through a
real DNS server (NSD on loopback) to remote MXes played by a second trimail and by a
scripted SMTP sink, retries, and bounces with DSNs (RFC 3461-3464)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD, stored_messages
from tests.integration.smtp_sink import SmtpSink, running_sink
from trimail.testing.dns_server import LoopbackDns
from trimail.testing.process import ServerProcess, run_cli, running_server

DNS_ZONES = {
    "example": """
remote          MX 10 mx.remote
mx.remote       A  127.0.0.2
sink            MX 10 mx.sink
mx.sink         A  127.0.0.3
backup          MX 10 dead-mx.backup
backup          MX 20 mx.backup
dead-mx.backup  A  127.0.0.9
mx.backup       A  127.0.0.3
nullmx          MX 0 .
dead            MX 10 mx.dead
mx.dead         A  127.0.0.9
implicit        A  127.0.0.3
mx.relay        A  127.0.0.1
""",
}

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: someone\r\n"
    b"Subject: outbound test\r\n"
    b"Message-ID: <outbound-1@example.org>\r\n"
    b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"Hello over there.\r\n"
    b".leading dot stays\r\n"
)


def free_port() -> int:
    """A TCP port free on 127.0.0.2 and 127.0.0.3 (the remote MX addresses)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as other:
                other.bind(("127.0.0.3", port))
        except OSError:
            continue
        return int(port)
    raise RuntimeError("no free port")


@pytest.fixture(scope="module")
def mx_port() -> int:
    return free_port()


def sender_config(dns: LoopbackDns, port: int, queue_extra: str = "") -> str:
    return (
        "workers = 1\n"
        f'[dns]\nnameservers = ["{dns.nameserver}"]\ntimeout_seconds = 2.0\n'
        f"[outbound]\nport = {port}\nconnect_timeout_seconds = 5.0\n"
        "[queue]\nmin_backoff_seconds = 1.0\nmax_backoff_seconds = 2.0\npoll_seconds = 0.2\n"
        "delay_warning_seconds = 0\n" + queue_extra
    )


@pytest.fixture
def sender(tmp_path: Path, loopback_dns: LoopbackDns, mx_port: int) -> Iterator[ServerProcess]:
    """trimail for example.org (alice), relaying through the loopback DNS."""
    with running_server(
        tmp_path / "sender",
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=sender_config(loopback_dns, mx_port),
    ) as srv:
        yield srv


@pytest.fixture
def remote(tmp_path: Path, mx_port: int) -> Iterator[ServerProcess]:
    """A second trimail: the MX of remote.example (user bob) on 127.0.0.2."""
    with running_server(
        tmp_path / "remote",
        domains=["remote.example"],
        users={"bob@remote.example": PASSWORD},
        hostname="mx.remote.example",
        smtp_listen=f"127.0.0.2:{mx_port}",
        top_extra="workers = 1\n",
    ) as srv:
        yield srv


def submit(
    srv: ServerProcess,
    recipients: list[str],
    message: bytes = MESSAGE,
    mail_options: tuple[str, ...] = (),
    rcpt_options: tuple[str, ...] = (),
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", srv.submission_port, timeout=30) as client:
        client.ehlo("laptop.example")
        client.login("alice@example.org", PASSWORD)
        return client.sendmail(
            "alice@example.org", recipients, message, list(mail_options), list(rcpt_options)
        )


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


def queue_ids(srv: ServerProcess) -> list[str]:
    return sorted(p.stem for p in (srv.data_dir / "queue" / "entries").glob("*.json"))


def dsns(srv: ServerProcess) -> list[email.message.EmailMessage]:
    found = []
    for raw in stored_messages(srv, "alice@example.org"):
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        if parsed.get_content_type() == "multipart/report":
            found.append(parsed)  # type: ignore[arg-type]
    return found


def report_fields(dsn: email.message.EmailMessage) -> list[dict[str, str]]:
    """The per-recipient blocks of a DSN's message/delivery-status part."""
    (status,) = [p for p in dsn.walk() if p.get_content_type() == "message/delivery-status"]
    blocks = [dict(b.items()) for b in status.get_payload()]  # type: ignore[union-attr]
    return blocks[1:]  # the first block is per-message


def test_relays_to_the_remote_mx_and_bounces_an_unknown_user(
    sender: ServerProcess, remote: ServerProcess
) -> None:
    refused = submit(sender, ["bob@remote.example", "nobody@remote.example"])
    assert refused == {}  # both queued: the remote MX decides, later
    (stored,) = wait_for(lambda: stored_messages(remote, "bob@remote.example"), what="relay")
    assert stored.endswith(MESSAGE)  # byte for byte, dot line included
    assert b"by mx.test.example" in stored  # the sender's Received
    assert b"with ESMTPS" in stored  # opportunistic STARTTLS to the remote MX
    (dsn,) = wait_for(lambda: dsns(sender), what="bounce")
    assert dsn["To"] == "alice@example.org"
    assert dsn["Auto-Submitted"] == "auto-replied"
    (block,) = report_fields(dsn)
    assert block["Final-Recipient"].lower() == "rfc822; nobody@remote.example"
    assert block["Action"] == "failed" and block["Status"] == "5.1.1"
    assert "mx.remote.example" in block["Remote-MTA"]
    assert "550" in block["Diagnostic-Code"]
    wait_for(lambda: not queue_ids(sender), what="empty queue")
    assert "Return-Path: <>" in stored_messages(sender, "alice@example.org")[0].decode()


def test_mixed_results_retry_only_the_temporary_recipient(
    sender: ServerProcess, mx_port: int
) -> None:
    sink = SmtpSink(rcpt_codes={"later": [451, 250], "never": [550]})
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["ok@sink.example", "later@sink.example", "never@sink.example"])
        wait_for(lambda: len(sink.received) == 2, what="the retry")
        first, second = sink.received
        assert first.recipients == ["ok@sink.example"]
        assert second.recipients == ["later@sink.example"]
        assert first.content.endswith(MESSAGE) and second.content == first.content
        (dsn,) = wait_for(lambda: dsns(sender), what="bounce")
        assert [b["Final-Recipient"] for b in report_fields(dsn)] == ["rfc822; never@sink.example"]
        wait_for(lambda: not queue_ids(sender), what="empty queue")


def test_null_mx_and_missing_domains_bounce_at_once(sender: ServerProcess, mx_port: int) -> None:
    sink = SmtpSink()
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["x@nullmx.example", "y@nosuch.example"])
        found = wait_for(
            lambda: sum(len(report_fields(d)) for d in dsns(sender)) == 2 and dsns(sender)
        )
        blocks = [b for d in found for b in report_fields(d)]  # type: ignore[attr-defined]
        statuses = {b["Final-Recipient"]: b["Status"] for b in blocks}
        assert statuses == {
            "rfc822; x@nullmx.example": "5.1.10",
            "rfc822; y@nosuch.example": "5.1.2",
        }
        assert sink.sessions == 0


def test_backup_mx_and_implicit_mx(sender: ServerProcess, mx_port: int) -> None:
    sink = SmtpSink()
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["a@backup.example", "b@implicit.example"])
        wait_for(lambda: len(sink.received) == 2, what="both domains")
        assert sorted(r.recipients[0] for r in sink.received) == [
            "a@backup.example",
            "b@implicit.example",
        ]


@pytest.mark.parametrize("starttls", ["refuse", "broken"])
def test_starttls_refused_or_broken_falls_back_to_plain_text(
    sender: ServerProcess, mx_port: int, starttls: str
) -> None:
    sink = SmtpSink(starttls=starttls)
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["x@sink.example"])
        wait_for(lambda: sink.received, what="delivery")
        assert sink.starttls_requests >= 1
        wait_for(lambda: not queue_ids(sender), what="empty queue")


def test_dsn_parameters_pass_to_a_dsn_capable_next_hop(sender: ServerProcess, mx_port: int) -> None:
    sink = SmtpSink(dsn=True)
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(
            sender,
            ["x@sink.example"],
            mail_options=("RET=HDRS", "ENVID=env+2B1"),
            rcpt_options=("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@sink.example"),
        )
        (received,) = wait_for(lambda: sink.received, what="delivery")
        mail = dict(received.mail_parameters)
        assert mail["RET"] == "HDRS" and mail["ENVID"] == "env+2B1"
        rcpt = dict(received.rcpt_parameters[0])
        assert set(rcpt["NOTIFY"].split(",")) == {"SUCCESS", "FAILURE"}  # type: ignore[union-attr]
        assert rcpt["ORCPT"].lower() == "rfc822;orig@sink.example"  # type: ignore[union-attr]
    time.sleep(1)
    assert dsns(sender) == []  # the next hop reports success itself


def test_notify_success_to_a_hop_without_dsn_gets_a_relayed_report(
    sender: ServerProcess, mx_port: int
) -> None:
    sink = SmtpSink(dsn=False, rcpt_codes={"gone": [550]})
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["x@sink.example"], rcpt_options=("NOTIFY=SUCCESS",))
        submit(sender, ["gone@sink.example"], rcpt_options=("NOTIFY=NEVER",))
        (dsn,) = wait_for(lambda: dsns(sender), what="relayed report")
        (block,) = report_fields(dsn)
        assert block["Action"] == "relayed" and block["Final-Recipient"] == "rfc822; x@sink.example"
        wait_for(lambda: not queue_ids(sender), what="empty queue")
        assert len(dsns(sender)) == 1  # NOTIFY=NEVER: no bounce for gone@


def test_unreachable_host_stays_queued_and_the_cli_shows_and_deletes_it(
    sender: ServerProcess,
) -> None:
    submit(sender, ["x@dead.example"])
    (queue_id,) = wait_for(lambda: queue_ids(sender), what="queued")  # type: ignore[misc]
    listing = run_cli(sender.config_path, "queue", "list")
    assert (
        listing.returncode == 0
        and queue_id in listing.stdout
        and "x@dead.example" in listing.stdout
    )

    def shown() -> str | None:
        out = run_cli(sender.config_path, "queue", "show", queue_id).stdout
        return out if "Connection refused" in out else None

    shown_text = wait_for(shown, what="a failed attempt")
    assert "127.0.0.9" in str(shown_text) and "Subject: outbound test" in str(shown_text)
    assert run_cli(sender.config_path, "queue", "retry", queue_id).returncode == 0
    assert run_cli(sender.config_path, "queue", "flush").returncode == 0
    bad = run_cli(sender.config_path, "queue", "show", "../../etc/passwd")
    assert bad.returncode == 1 and "not a queue id" in bad.stderr and "Traceback" not in bad.stderr
    assert run_cli(sender.config_path, "queue", "delete", queue_id).returncode == 0
    assert queue_ids(sender) == []
    missing = run_cli(sender.config_path, "queue", "delete", queue_id)
    assert missing.returncode == 1 and "not in the queue" in missing.stderr
    time.sleep(1)
    assert dsns(sender) == []  # deleted by the operator: no bounce


def test_delay_notice_then_expiry_bounce(
    tmp_path: Path, loopback_dns: LoopbackDns, mx_port: int
) -> None:
    config = sender_config(loopback_dns, mx_port).replace(
        "delay_warning_seconds = 0\n", "delay_warning_seconds = 1.0\nmax_age_seconds = 4.0\n"
    )
    with running_server(
        tmp_path / "expiring",
        domains=["example.org"],
        users={"alice@example.org": PASSWORD},
        top_extra=config,
    ) as srv:
        submit(srv, ["x@dead.example"])
        found = wait_for(lambda: len(dsns(srv)) == 2 and dsns(srv), what="two DSNs")
        kinds = sorted(report_fields(d)[0]["Action"] for d in found)  # type: ignore[attr-defined]
        assert kinds == ["delayed", "failed"]
        failed = next(d for d in found if report_fields(d)[0]["Action"] == "failed")  # type: ignore[attr-defined]
        assert report_fields(failed)[0]["Status"] == "4.4.7"
        assert "Connection refused" in report_fields(failed)[0]["Diagnostic-Code"]
        wait_for(lambda: not queue_ids(srv), what="empty queue")


def test_no_open_relay(sender: ServerProcess) -> None:
    with smtplib.SMTP("127.0.0.1", sender.smtp_port, timeout=10) as client:
        client.ehlo("outside.example")
        client.mail("someone@outside.example")
        code, _ = client.rcpt("victim@remote.example")
        assert code == 554  # the MX port relays nothing
    with smtplib.SMTP("127.0.0.1", sender.submission_port, timeout=10) as client:
        client.ehlo("outside.example")
        code, _ = client.mail("alice@example.org")
        assert code == 530  # submission: authenticate first
    assert queue_ids(sender) == []


def test_local_delivery_with_notify_success_reports_delivered(sender: ServerProcess) -> None:
    submit(
        sender,
        ["alice@example.org"],
        mail_options=("ENVID=local-1",),
        rcpt_options=("NOTIFY=SUCCESS",),
    )
    (dsn,) = wait_for(lambda: dsns(sender), what="delivered report")
    (block,) = report_fields(dsn)
    assert block["Action"] == "delivered" and block["Status"] == "2.0.0"
    assert "local-1" in dsn.as_string()  # Original-Envelope-Id
    assert len(stored_messages(sender, "alice@example.org")) == 2  # the message and the DSN


@pytest.mark.parametrize("password_ok", [True, False])
def test_relayhost_with_auth_over_verified_tls(
    tmp_path: Path, loopback_dns: LoopbackDns, mx_port: int, password_ok: bool
) -> None:
    with running_server(
        tmp_path / "relay",
        domains=["example.org", "remote.example"],
        users={"alice@example.org": PASSWORD, "bob@remote.example": PASSWORD},
        hostname="mx.relay.example",
        top_extra="workers = 1\n",
    ) as relay:
        secret = tmp_path / "relay-password"
        secret.write_text((PASSWORD if password_ok else "wrong") + "\n")
        secret.chmod(0o600)
        outbound = (
            f'relayhost = "[mx.relay.example]:{relay.submission_port}"\n'
            'relayhost_username = "alice@example.org"\n'
            f'relayhost_password_file = "{secret}"\n'
            f'relayhost_ca_file = "{relay.data_dir / "tls" / "self-signed.crt"}"\n'
        )
        config = sender_config(loopback_dns, mx_port).replace("[queue]\n", outbound + "[queue]\n")
        with running_server(
            tmp_path / "sender",
            domains=["example.org"],
            users={"alice@example.org": PASSWORD},
            top_extra=config,
        ) as srv:
            submit(srv, ["bob@remote.example"])
            if password_ok:
                (stored,) = wait_for(lambda: stored_messages(relay, "bob@remote.example"))
                assert b"with ESMTPSA" in stored  # TLS and AUTH to the relayhost
                wait_for(lambda: not queue_ids(srv), what="empty queue")
            else:
                (queue_id,) = wait_for(lambda: queue_ids(srv))  # type: ignore[misc]

                def shown() -> bool:
                    out = run_cli(srv.config_path, "queue", "show", queue_id).stdout
                    return "relayhost AUTH failed" in out and "535" in out

                wait_for(shown, what="the AUTH failure in the queue")
                assert stored_messages(relay, "bob@remote.example") == []


@pytest.mark.parametrize(("pipelining", "chunking"), [(False, False), (True, True), (False, True)])
def test_without_pipelining_and_with_chunking(
    sender: ServerProcess, mx_port: int, pipelining: bool, chunking: bool
) -> None:
    sink = SmtpSink(pipelining=pipelining, chunking=chunking, rcpt_codes={"no": [550]})
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(sender, ["yes@sink.example", "no@sink.example"])
        (received,) = wait_for(lambda: sink.received, what="delivery")
        assert received.recipients == ["yes@sink.example"]
        assert received.content.endswith(MESSAGE)
        (dsn,) = wait_for(lambda: dsns(sender), what="bounce")
        assert report_fields(dsn)[0]["Final-Recipient"] == "rfc822; no@sink.example"


def test_per_domain_transport_and_the_outbound_signing_hook(
    tmp_path: Path,
    loopback_dns: LoopbackDns,
    mx_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    config = 'plugins = ["tests.plugins.outbound_plugin"]\n' + sender_config(
        loopback_dns, mx_port
    ).replace("[queue]\n", '[outbound.transports]\n"internal.example" = "[127.0.0.3]"\n[queue]\n')
    sink = SmtpSink()
    with (
        running_sink(sink, "127.0.0.3", mx_port),
        running_server(
            tmp_path / "sender",
            domains=["example.org"],
            users={"alice@example.org": PASSWORD},
            top_extra=config,
        ) as srv,
    ):
        submit(srv, ["x@internal.example"])  # no DNS records: the transport routes it
        (received,) = wait_for(lambda: sink.received, what="delivery")
        head, _, signed = received.content.partition(b"\r\n\trcpts=1\r\n")
        assert head.startswith(b"X-Test-Signature: sha256=")
        digest = head.split(b"=", 1)[1].rstrip(b";")
        assert hashlib.sha256(signed).hexdigest().encode() == digest  # signed as sent
        assert signed.endswith(MESSAGE)


def test_hostile_tester_findings(sender: ServerProcess, mx_port: int) -> None:
    """SMTPUTF8 on an ASCII message is not required of the next hop; duplicate RCPTs
    become one; 552 on RCPT is temporary (RFC 5321 §4.5.3.1.10); .invalid is refused."""
    sink = SmtpSink(smtputf8=False, rcpt_codes={"busy": [552, 250]})
    with running_sink(sink, "127.0.0.3", mx_port):
        submit(
            sender,
            ["a@sink.example", "A@SINK.example", "a@sink.example", "busy@sink.example"],
            mail_options=("SMTPUTF8",),
        )
        wait_for(lambda: len(sink.received) == 2, what="delivery and the retry")
        assert sink.received[0].recipients == ["a@sink.example"]
        assert sink.received[1].recipients == ["busy@sink.example"]
        wait_for(lambda: not queue_ids(sender), what="empty queue")
    assert dsns(sender) == []
    with smtplib.SMTP("127.0.0.1", sender.submission_port, timeout=10) as client:
        client.login("alice@example.org", PASSWORD)
        client.mail("alice@example.org")
        for nowhere in ("x@host.invalid", "x@localhost", "x@intranet"):
            code, _ = client.rcpt(nowhere)
            assert code == 550, nowhere


def test_missing_message_file_is_set_aside(sender: ServerProcess) -> None:
    submit(sender, ["x@dead.example"])
    (queue_id,) = wait_for(lambda: queue_ids(sender))  # type: ignore[misc]
    (sender.data_dir / "queue" / "messages" / queue_id).unlink()
    run_cli(sender.config_path, "queue", "retry", queue_id)
    corrupt = sender.data_dir / "queue" / "corrupt" / f"{queue_id}.json"
    wait_for(corrupt.exists, what="the entry moved to corrupt/")
    assert queue_ids(sender) == []
    time.sleep(0.5)
    assert sum("attempt failed" in line for line in sender.log_lines) == 0
