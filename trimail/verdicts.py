"""What envelope and message filters answer (the values hook implementations return).

The classes check their fields when they are made, so a plugin that builds a wrong
verdict (a str where a tuple of mailbox names belongs) raises in its own hook, which
the server turns into a 451 tempfail and a log line naming the hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def _strings(value: Iterable[str], what: str) -> tuple[str, ...]:
    """*value* as a tuple of str; a lone str (not a tuple of them) is refused."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what}: a tuple of str, not {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what}: {item!r} is not a str")
    return items


def _header_fields(value: Iterable[str]) -> tuple[str, ...]:
    return _strings(value, "add_headers")


def _mailbox_names(value: Iterable[str]) -> tuple[str, ...]:
    return _strings(value, "mailboxes")


def _optional_reject(_inst: object, _attribute: object, value: Reject | None) -> None:
    if value is not None and not isinstance(value, Reject):
        raise TypeError(f"reject: a trimail.verdicts.Reject or None, not {value!r}")


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

    reject: Reject | None = attrs.field(default=None, validator=_optional_reject)
    add_headers: tuple[str, ...] = attrs.field(default=(), converter=_header_fields)
    mailbox_name: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )


def _flag_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(_strings(value, "flags"))


def _read_only(flags: Mapping[str, Iterable[str]]) -> Mapping[str, frozenset[str]]:
    if not isinstance(flags, Mapping):
        raise TypeError(f"flags_by_mailbox: a mapping of mailbox name to flags, not {flags!r}")
    checked = {}
    for name, value in flags.items():
        if not isinstance(name, str):
            raise TypeError(f"flags_by_mailbox: {name!r} is not a mailbox name")
        checked[name] = _flag_set(value)
    return MappingProxyType(checked)


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
        discard: store nothing for this user (RFC 5228 §4.4); wins over *mailboxes*
            (but *reject* wins over both).
        reject: refuse this user's copy (RFC 5429). When every recipient of the
            message is refused, the SMTP client gets the (first) reply at the end of
            DATA; otherwise the others are delivered and the reverse-path gets a
            delivery status notification (RFC 3464) naming this recipient. A 4xx
            reply (try again later) holds the whole message: the client gets it at
            the end of DATA, nothing is stored, and every recipient is retried.
            A forward-path counts as refused only when every account it reaches
            refuses (an alias with one accepting member is delivered, no DSN).
    """

    mailboxes: tuple[str, ...] = attrs.field(default=(), converter=_mailbox_names)
    flags: frozenset[str] = attrs.field(default=frozenset(), converter=_flag_set)
    flags_by_mailbox: Mapping[str, frozenset[str]] = attrs.field(
        factory=dict, converter=_read_only, hash=False
    )
    discard: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    reject: Reject | None = attrs.field(default=None, validator=_optional_reject)
