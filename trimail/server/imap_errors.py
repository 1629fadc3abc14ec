"""The one way an IMAP command handler fails: a tagged NO or BAD."""

from __future__ import annotations

from typing import Literal

__all__ = ["CommandFailed"]


class CommandFailed(Exception):
    """A command ends with a tagged NO or BAD (raised by handlers, answered by the loop).

    Args:
        status: ``"NO"`` or ``"BAD"``.
        text: human-readable text.
        code: a response code without brackets (RFC 5530), e.g. ``"TRYCREATE"``.
    """

    def __init__(self, status: Literal["NO", "BAD"], text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.code = status, text, code
