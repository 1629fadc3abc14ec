"""A test plugin for the outbound signing hook: a header that names the message's size,
so the test can check it saw the message exactly as it is queued."""

from __future__ import annotations

import hashlib

from trimail.mail.envelope import Envelope
from trimail.plugins import hookimpl


@hookimpl
def trimail_outbound_headers(envelope: Envelope, message: bytes) -> list[str]:
    digest = hashlib.sha256(message).hexdigest()
    return [f"X-Test-Signature: sha256={digest};\r\n\trcpts={len(envelope.forward_paths)}"]
