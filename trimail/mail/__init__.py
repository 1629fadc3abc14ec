"""Shared mail types: addresses, paths, envelopes and replies (no I/O, no protocol state)."""

from trimail.mail.address import NULL_PATH, Mailbox, NullPath, ReversePath
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply

__all__ = ["NULL_PATH", "Envelope", "Mailbox", "NullPath", "Reply", "ReversePath"]
