"""Plugins loaded from config change what a running server accepts and where it files."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from tests.integration.conftest import stored_messages
from trimail.testing.process import running_server


def test_filters_from_a_plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[2]))
    with (
        running_server(
            tmp_path,
            domains=["example.org"],
            users={"alice@example.org": "12345678pw"},
            top_extra='plugins = ["tests.plugins.filter_plugin"]\n',
        ) as srv,
        smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as client,
    ):
        code, _ = client.ehlo("spammer.example")
        assert code == 550
        client.ehlo("good.example")
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail(
                "blocked@bad.example", ["alice@example.org"], b"Subject: x\r\n\r\nx\r\n"
            )
        client.rset()
        client.mail("a@good.example")
        code, text = client.rcpt("alice+crash@example.org")  # the plugin raises
        assert code == 451 and b"4.3.0" in text  # a tempfail, and the session goes on
        client.rset()
        client.sendmail("a@good.example", ["alice@example.org"], b"Subject: ham\r\n\r\nhello\r\n")
        client.sendmail("a@good.example", ["alice@example.org"], b"X-Spam: yes\r\n\r\nbuy\r\n")
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(
                "a@good.example", ["alice@example.org"], b"Subject: tempfail-me\r\n\r\n.\r\n"
            )
        assert err.value.smtp_code == 451
        (ham,) = stored_messages(srv, "alice@example.org")
        assert "plugin hook trimail_smtp_rcpt_to failed" in srv.log_text()
        (junk,) = stored_messages(srv, "alice@example.org", "Junk")
    assert b"\r\nX-Envelope-Count: 1\r\nReceived: " in ham
    assert ham.endswith(b"Subject: ham\r\n\r\nhello\r\n")
    assert b"\r\nX-Filtered: junk\r\n" in junk
