"""The embedding example in docs/ works with a real client (smtplib), without Trio."""

from __future__ import annotations

import importlib.util
import smtplib
import socket
import threading
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "blocking_smtp_server.py"


def test_blocking_example_receives_mail_from_smtplib() -> None:
    spec = importlib.util.spec_from_file_location("blocking_smtp_server", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept_one() -> None:
            client, _ = server.accept()
            with client:
                module.serve_one(client, on_message=received.append)

        thread = threading.Thread(target=accept_one)
        thread.start()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("a@x.example", ["b@example.org"], b"Subject: hi\r\n\r\n.dot\r\n")
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("a@x.example", ["b@elsewhere.example"], b"x\r\n")
        thread.join(10)
    assert received == [b"Subject: hi\r\n\r\n.dot\r\n"]
