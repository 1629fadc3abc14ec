"""The tutorial plugin against a real ``trimail serve`` (docs/plugins.md, step 4)."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from trimail.testing.process import running_server

TABLE = '[plugin.blocklist]\nsenders = ["bad.example", "Spammer@Example.NET"]\n'


def test_listed_senders_are_refused_and_others_delivered(tmp_path: Path) -> None:
    with (
        running_server(
            tmp_path,
            domains=["example.org"],
            users={"alice@example.org": "pw12345678"},
            top_extra=TABLE,
        ) as srv,
        smtplib.SMTP("127.0.0.1", srv.smtp_port, timeout=10) as client,
    ):
        client.ehlo("client.example")
        for sender in ("joe@bad.example", "spammer@example.net"):
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.sendmail(sender, ["alice@example.org"], b"Subject: hi\r\n\r\nhi\r\n")
            assert refused.value.smtp_code == 550
            client.rset()
        assert (
            client.sendmail("joe@good.example", ["alice@example.org"], b"Subject: ok\r\n\r\n.\r\n")
            == {}
        )


def test_an_empty_list_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    bad = "[plugin.blocklist]\nsenders = []\n"
    with (
        pytest.raises(RuntimeError, match=r"plugin\.blocklist\.senders: list at least one"),
        running_server(tmp_path, top_extra=bad),
    ):
        pass
