"""What envelope and message filters answer (the values hook implementations return)."""

from __future__ import annotations

import attrs

from trimail.mail.reply import Reply


@attrs.frozen(kw_only=True)
class Reject:
    """Refuse: the client gets *reply* (4xx for a temporary failure, 5xx for permanent).

    A 4xx reply is a tempfail: the client keeps the message and tries again later
    (RFC 5321 §4.2.1).
    """

    reply: Reply = attrs.field()

    @reply.validator
    def _negative(self, _attribute: object, value: Reply) -> None:
        if value.code < 400:
            raise ValueError("a Reject needs a 4xx or 5xx reply")


@attrs.frozen(kw_only=True)
class MessageVerdict:
    """A message filter's answer (the MDA step, after DATA).

    Attributes:
        reject: refuse the message with this reply (4xx = tempfail), or None to go on.
        add_headers: header fields to prepend, each a complete ``Name: value`` line
            without CRLF (e.g. an ``Authentication-Results`` field, RFC 8601).
        mailbox_name: deliver into this IMAP mailbox instead of INBOX (e.g. ``"Junk"``);
            created if missing. The last filter that sets one wins.
    """

    reject: Reject | None = None
    add_headers: tuple[str, ...] = ()
    mailbox_name: str | None = None
