"""What envelope and message filters answer (the values hook implementations return)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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


def _read_only(flags: Mapping[str, frozenset[str]]) -> Mapping[str, frozenset[str]]:
    return MappingProxyType(dict(flags))


@attrs.frozen(kw_only=True)
class DeliveryVerdict:
    """A per-user delivery decision (`trimail.hookspecs.trimail_local_delivery`).

    Attributes:
        mailboxes: store one copy in each of these mailboxes (created if missing;
            ``INBOX`` for the inbox). Empty: the implicit keep, one copy where the
            message filters chose (RFC 5228 §2.10.2).
        flags: IMAP flags and keywords to set on the stored copies (e.g.
            ``"\\\\Seen"``, ``"$Junk"``; RFC 5232 imap4flags).
        flags_by_mailbox: flags for the copy in one mailbox, instead of *flags*
            (Sieve's ``fileinto :flags`` differs per copy, RFC 5232 §5).
        discard: store nothing for this user (RFC 5228 §4.4); wins over *mailboxes*.
        reject: refuse this user's copy (RFC 5429). When every recipient of the
            message is refused, the SMTP client gets the (first) reply at the end of
            DATA; otherwise the others are delivered and the reverse-path gets a
            delivery status notification (RFC 3464) naming this recipient. A 4xx
            reply (try again later) holds the whole message: the client gets it at
            the end of DATA, nothing is stored, and every recipient is retried.
    """

    mailboxes: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    flags_by_mailbox: Mapping[str, frozenset[str]] = attrs.field(
        factory=dict, converter=_read_only, hash=False
    )
    discard: bool = False
    reject: Reject | None = None
