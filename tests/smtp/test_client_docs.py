"""The blocking client example in docs/smtp-client.md works against the server example."""

from __future__ import annotations

import importlib.util
import re
import socket
import threading
from pathlib import Path
from typing import Any

from trimail.mail.address import Mailbox

DOCS = Path(__file__).parents[2] / "docs"
SERVER = DOCS / "examples" / "blocking_smtp_server.py"


def example_namespace() -> dict[str, Any]:
    """Run the first ``python`` block of docs/smtp-client.md and return its globals."""
    text = (DOCS / "smtp-client.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), "smtp-client.md", "exec"), namespace)
    return namespace


def test_docs_client_delivers_to_the_example_server() -> None:
    spec = importlib.util.spec_from_file_location("blocking_smtp_server", SERVER)
    assert spec is not None and spec.loader is not None
    server_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server_module)
    deliver = example_namespace()["deliver"]
    received: list[bytes] = []
    bob = Mailbox(local_part="bob", domain="example.org")
    eve = Mailbox(local_part="eve", domain="elsewhere.example")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def accept_one() -> None:
            client, _ = server.accept()
            with client:
                server_module.serve_one(client, on_message=received.append)

        thread = threading.Thread(target=accept_one)
        thread.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sender = Mailbox(local_part="alice", domain="client.example")
            fate = deliver(sock, sender, [bob, eve], b"Subject: hi\r\n\r\n.dot")
        thread.join(10)
    assert received == [b"Subject: hi\r\n\r\n.dot\r\n"]
    assert fate[bob].code == 250 and fate[eve].code == 554
