"""The outbox plugins send new mail with (`trimail.plugins.Outbox`): vacation replies,
notices. Messages go through the outbound hooks (DKIM) into the queue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from trimail.mail.address import NULL_PATH, Mailbox, ReversePath
from trimail.mail.envelope import Envelope
from trimail.server.delivery import DeliveryError, RoutedRecipient
from trimail.server.queue_runner import new_queue_id
from trimail.server.session_info import INTERNAL
from trimail.smtp import PathError, parse_path

if TYPE_CHECKING:
    from trimail.server.delivery import LocalDelivery

MAX_RECIPIENTS = 100  # per message sent by a plugin
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
_BARE_LF = re.compile(rb"(?<!\r)\n")
_FIRST_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


class QueueOutbox:
    """`trimail.plugins.Outbox` over the server's queue.

    Args:
        delivery: the server's delivery (its queue and outbound hooks).
        trio_token: the token of the Trio run that owns *delivery*.
    """

    def __init__(self, delivery: LocalDelivery, trio_token: trio.lowlevel.TrioToken) -> None:
        self.delivery = delivery
        self.trio_token = trio_token

    def send(self, *, reverse_path: str, recipients: Sequence[str], message: bytes) -> str:
        """See `trimail.plugins.Outbox.send`.

        Raises:
            ValueError: a malformed address, no or too many recipients, a message that
                is too big or not bytes.
            OSError: the queue could not store it (also when the server is stopping).
        """
        if not isinstance(message, bytes) or len(message) > MAX_MESSAGE_BYTES:
            raise ValueError("outbox: message must be bytes of at most 10 MiB")
        if _BARE_LF.search(message) or not _FIRST_FIELD.match(message):
            raise ValueError(
                "outbox: message must be RFC 5322 text: header fields first, CRLF line ends"
            )
        if isinstance(recipients, str):
            raise ValueError("outbox: recipients is a list of addresses, not one str")
        if not recipients or len(recipients) > MAX_RECIPIENTS:
            raise ValueError(f"outbox: 1 to {MAX_RECIPIENTS} recipients, not {len(recipients)}")
        sender = _path(reverse_path) if reverse_path else NULL_PATH
        paths = [_path(r) for r in recipients]
        forward = [p for p in paths if isinstance(p, Mailbox)]
        if len(forward) != len(paths) or any(not p.domain for p in forward):
            raise ValueError("outbox: recipients must be local@domain addresses")
        smtputf8 = not (str(sender).isascii() and all(p.is_ascii for p in forward))
        envelope = Envelope(
            reverse_path=sender,
            forward_paths=tuple(forward),
            parameters=() if message.isascii() else (("BODY", "8BITMIME"),),
            smtputf8=smtputf8,
        )
        queue_id = new_queue_id()
        routed = [RoutedRecipient(forward_path=p, remote=True) for p in forward]
        try:
            trio.from_thread.run(
                self.delivery.enqueue_new,
                INTERNAL,
                envelope,
                routed,
                message,
                queue_id,
                trio_token=self.trio_token,
            )
        except trio.RunFinishedError:
            raise OSError("outbox: the server is stopping") from None
        except DeliveryError as exc:
            raise OSError(f"outbox: {exc}") from None
        return queue_id


def _path(text: str) -> ReversePath:
    try:
        path = parse_path(f"<{text}>".encode(), smtputf8=not text.isascii())
    except (PathError, UnicodeError):
        raise ValueError(f"outbox: {text!r} is not an address") from None
    return path
