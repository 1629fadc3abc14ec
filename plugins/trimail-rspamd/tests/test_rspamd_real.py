"""Against a REAL rspamd (Debian's package), started privately from a temporary
directory, loopback only: the hook directly, then a real ``trimail serve`` that refuses
GTUBE at the end of DATA, marks ordinary mail and files spam into Junk."""

from __future__ import annotations

import email
import email.policy
import imaplib
import re
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from trimail_rspamd import RspamdPlugin, unfold
from trimail_rspamd.testing import (
    GTUBE,
    GTUBE_ADD_HEADER,
    GTUBE_REWRITE_SUBJECT,
    RspamdProcess,
    rspamd_binary,
    running_rspamd,
    socket_peers,
    unused_port,
)

from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.server.session_info import SessionInfo
from trimail.testing.process import running_server
from trimail.verdicts import MessageVerdict

pytestmark = pytest.mark.skipif(
    rspamd_binary() is None, reason="rspamd is not installed (apt-get install rspamd)"
)

SESSION = SessionInfo(
    listener="smtp", peer_host="192.0.2.7", peer_port=40000, local_host="127.0.0.1",
    local_port=25, helo_identity="mail.example.net",
)  # fmt: skip
ENVELOPE = Envelope(
    reverse_path=Mailbox(local_part="someone", domain="example.net"),
    forward_paths=(Mailbox(local_part="bob", domain="example.org"),),
    helo_identity="mail.example.net",
)
PASSWORD = "bob's password"


def message(body: str, subject: str = "Lunch") -> bytes:
    return (
        "From: Someone <someone@example.net>\r\nTo: Bob <bob@example.org>\r\n"
        f"Subject: {subject}\r\nDate: Sun, 29 Nov 2026 18:00:00 +0000\r\n"
        "Message-ID: <m1@example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        f"\r\n{body}\r\n"
    ).encode()


@pytest.fixture(scope="module")
def rspamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RspamdProcess]:
    with running_rspamd(tmp_path_factory.mktemp("rspamd")) as process:
        print(f"rspamd started in {process.start_seconds:.2f} s")
        yield process


def scan(rspamd: RspamdProcess, data: bytes) -> MessageVerdict:
    cfg = Config(plugin={"rspamd": {"url": rspamd.url, "timeout_seconds": 15}})
    verdict: MessageVerdict | None = RspamdPlugin().trimail_message_filter(
        session=SESSION, envelope=ENVELOPE, message=data, config=cfg
    )
    assert verdict is not None
    return verdict


def test_gtube_is_rejected(rspamd: RspamdProcess) -> None:
    verdict = scan(rspamd, message(f"Buy now.\r\n{GTUBE}"))
    assert verdict.reject is not None
    assert verdict.reject.reply.code == 554
    assert verdict.reject.reply.enhanced_status == "5.7.1"
    assert verdict.reject.reply.text == ("Gtube pattern",)


def test_ordinary_mail_is_marked_with_the_symbols(rspamd: RspamdProcess) -> None:
    verdict = scan(rspamd, message("See you at noon?\r\n-- \r\nSomeone"))
    assert verdict.reject is None and verdict.mailbox_name is None
    result, score, *rest = verdict.add_headers
    assert unfold(result).startswith("X-Spamd-Result: default: False [")
    assert "TO_DN_ALL" in result or "FROM_HAS_DN" in result  # rspamd's own rules ran
    assert score.startswith("X-Spam-Score: ")
    assert [h.partition(":")[0] for h in rest] == ["X-Spamd-Bar"]  # asked for by rspamd
    assert not any(h.startswith("X-Spam: ") for h in verdict.add_headers)


@pytest.mark.parametrize("pattern", [GTUBE_ADD_HEADER, GTUBE_REWRITE_SUBJECT])
def test_add_header_and_rewrite_subject_go_to_junk(rspamd: RspamdProcess, pattern: str) -> None:
    verdict = scan(rspamd, message(f"Hello.\r\n{pattern}"))
    assert verdict.reject is None
    assert verdict.mailbox_name == "Junk"
    assert "X-Spam: Yes" in verdict.add_headers
    assert unfold(verdict.add_headers[0]).startswith("X-Spamd-Result: default: True [")


def test_rspamd_talks_on_loopback_only(rspamd: RspamdProcess) -> None:
    scan(rspamd, message("One more, to make it do some work."))
    try:
        sockets = socket_peers(rspamd.pids())
    except FileNotFoundError:
        pytest.skip("ss (iproute2) is not installed")
    assert sockets, "rspamd should at least listen"
    for local, peer in sockets:
        for address in (local, peer):
            host = address.rpartition(":")[0].strip("[]")
            assert host in ("127.0.0.1", "::1", "*", "0.0.0.0", "::", "[::]") or host.startswith(
                "127."
            ), (local, peer)
    dns_requests = re.findall(r"dns req: (\d+)", rspamd.log_text())  # one per scan
    assert dns_requests and set(dns_requests) == {"0"}


def deliver(port: int, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("someone@example.net", ["bob@example.org"], data)


def fetch_all(port: int, mailbox: str) -> list[email.message.EmailMessage]:
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        imap.login("bob@example.org", PASSWORD)
        status, _ = imap.select(mailbox, readonly=True)
        if status != "OK":
            return []
        _, data = imap.search(None, "ALL")
        found = []
        for seq in data[0].split():
            _, parts = imap.fetch(seq, "(BODY.PEEK[])")
            first = parts[0]
            assert isinstance(first, tuple)
            raw = first[1]
            found.append(email.message_from_bytes(raw, policy=email.policy.default))
        return found
    finally:
        imap.logout()


def test_a_real_server_with_a_real_rspamd(tmp_path: Path, rspamd: RspamdProcess) -> None:
    top = f'workers = 1\n[plugin.rspamd]\nurl = "{rspamd.url}"\ntimeout_seconds = 15\n'
    with running_server(
        tmp_path, domains=["example.org"], users={"bob@example.org": PASSWORD}, top_extra=top
    ) as srv:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            deliver(srv.smtp_port, message(f"Cheap pills.\r\n{GTUBE}", subject="Offer"))
        assert refused.value.smtp_code == 554
        assert refused.value.smtp_error == b"5.7.1 Gtube pattern"

        deliver(srv.smtp_port, message("See you at noon?"))
        deliver(srv.smtp_port, message(f"Hello.\r\n{GTUBE_ADD_HEADER}", subject="Deal"))

        [ham] = fetch_all(srv.imap_port, "INBOX")
        assert ham["Subject"] == "Lunch"
        assert str(ham["X-Spamd-Result"]).startswith("default: False [")
        assert ham["X-Spam-Score"] is not None and ham["X-Spam"] is None
        [spam] = fetch_all(srv.imap_port, "Junk")
        assert spam["Subject"] == "Deal"
        assert spam["X-Spam"] == "Yes"
        assert str(spam["X-Spamd-Result"]).startswith("default: True [6.00 / 15.00]")
    assert "rspamd: reject, score 15.00 / 15.00" in srv.log_text()


def test_a_real_server_when_rspamd_is_down(tmp_path: Path) -> None:
    """on_error = "tempfail": 451 at the end of DATA, nothing stored (the client retries;
    "accept" is covered by test_rspamd_plugin.py)."""
    url = f"http://127.0.0.1:{unused_port()}"
    top = f'workers = 1\n[plugin.rspamd]\nurl = "{url}"\non_error = "tempfail"\n'
    with running_server(
        tmp_path, domains=["example.org"], users={"bob@example.org": PASSWORD}, top_extra=top
    ) as srv:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            deliver(srv.smtp_port, message("Hello."))
        assert refused.value.smtp_code == 451
        assert refused.value.smtp_error == b"4.3.0 Spam filter unavailable, try again later"
        assert fetch_all(srv.imap_port, "INBOX") == []
    assert "rspamd unavailable" in srv.log_text()
