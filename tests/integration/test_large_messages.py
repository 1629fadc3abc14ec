"""Large messages go through the spool and arrive intact; the spool is left empty."""

from __future__ import annotations

import smtplib

from tests.integration.conftest import stored_messages
from trimail.testing.process import ServerProcess


def test_large_message_is_spooled_and_stored_intact(server: ServerProcess) -> None:
    line = b"0123456789" * 9 + b"\r\n"
    body = b"".join(b"%06d " % i + line for i in range(40_000))  # about 3.9 MiB
    message = b"Subject: big\r\n\r\n" + body
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as client:
        assert client.sendmail("b@example.net", ["alice@example.org"], message) == {}
        # a second, aborted large message leaves nothing behind either
        client.mail("b@example.net")
        client.rcpt("alice@example.org")
        code, _ = client.data(message + b"bare\nLF\r\n")
        assert code == 554
    (stored,) = stored_messages(server, "alice@example.org")
    assert stored.endswith(message)
    assert list((server.data_dir / "spool").iterdir()) == []
