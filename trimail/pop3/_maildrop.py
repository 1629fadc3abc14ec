"""The engine's view of a maildrop: sizes, unique-ids and deletion marks (RFC 1939 §5)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

MAX_UNIQUE_ID_CHARS = 70  # RFC 1939 §7 (UIDL): 1 to 70 characters 0x21-0x7E


@attrs.frozen(kw_only=True)
class MaildropEntry:
    """One message of the maildrop, in message-number order.

    Attributes:
        size: the message's size in octets as RETR sends it, before byte-stuffing
            (RFC 1939 §5: the exact size); the stored size.
        unique_id: the UIDL value, 1-70 characters 0x21-0x7E, unique in the maildrop
            and stable across sessions (RFC 1939 §7).
    """

    size: int
    unique_id: str


def check_entries(entries: Sequence[MaildropEntry]) -> str | None:
    """Return why *entries* cannot be a maildrop, or None if they can."""
    seen: set[str] = set()
    for number, entry in enumerate(entries, 1):
        uid = entry.unique_id
        if not isinstance(entry.size, int) or entry.size < 0:
            return f"message {number}: size must be a non-negative int"
        if not (1 <= len(uid) <= MAX_UNIQUE_ID_CHARS and all("!" <= c <= "~" for c in uid)):
            return f"message {number}: unique_id must be 1-70 characters 0x21-0x7E"
        if uid in seen:
            return f"message {number}: duplicate unique_id {uid!r}"
        seen.add(uid)
    return None


class Maildrop:
    """Message sizes, unique-ids and deletion marks for one session.

    Message-numbers are 1-based and fixed for the session; deleted messages keep
    theirs (RFC 1939 §5).
    """

    def __init__(self, entries: Sequence[MaildropEntry]) -> None:
        self.entries = tuple(entries)
        self.deleted: set[int] = set()

    def live(self) -> list[tuple[int, MaildropEntry]]:
        """(msg_number, entry) of every message not marked deleted."""
        return [(i + 1, e) for i, e in enumerate(self.entries) if i not in self.deleted]

    def stat(self) -> tuple[int, int]:
        """(number of messages, total octets), deleted ones excluded (RFC 1939 §5)."""
        live = self.live()
        return len(live), sum(e.size for _, e in live)

    def index(self, msg_number: int) -> int | None:
        """The 0-based index of *msg_number*, or None if missing or deleted."""
        index = msg_number - 1
        if not 0 <= index < len(self.entries) or index in self.deleted:
            return None
        return index
