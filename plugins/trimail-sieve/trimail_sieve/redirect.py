"""``redirect`` (RFC 5228 §4.2): the address check, loop detection, the envelope sender
and the message that is sent on.

The plugin sends with `trimail.plugins.Outbox`; this module only decides what to send.

- **Address**: an RFC 5322 mailbox, ``local@domain`` or ``Name <local@domain>``, that is
  also a valid SMTP forward-path (RFC 5321 §4.1.2), checked when the script is stored
  (`parse_address`).
- **Envelope sender** (`envelope_sender`): the user's own address, like Pigeonhole's
  ``sieve_redirect_envelope_from = recipient``. The next hop then checks SPF (RFC 7208)
  against this server's domain, which passes, instead of against the original
  sender's domain, which would fail; and a bounce from the new destination reaches the
  user who set up the redirect, not the original sender, who never chose it (no
  backscatter to forged senders). A message with the null reverse-path ``<>`` (a
  bounce, an auto-reply) is sent on with ``<>``: RFC 5228 §4.2 requires it, so a
  redirect to a dead address cannot bounce back and be redirected again forever.
- **Message** (`redirected_message`): the bytes the user would have stored, trace fields
  (Received) kept, so the next hop sees one more Received than the message had when it
  arrived (RFC 5228 §4.2, RFC 5321 §6.3); ``Return-Path`` fields are dropped, since
  only final delivery adds one (RFC 5321 §4.4; Pigeonhole drops them too); one
  `LOOP_FIELD` naming the user goes on top, and a ``Message-ID`` if there was none.
- **Loops** (`loop_detected`): a message that already carries `LOOP_FIELD` with the
  user's address came round once already; redirecting it again is an error (RFC 5228
  §4.2: "If an implementation detects a loop, it causes an error"), so it is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from trimail.mail.address import Mailbox
from trimail.smtp import PathError, parse_path
from trimail_sieve.message import Headers

LOOP_FIELD = "X-Sieve-Redirected-From"
"""The field added on top of a redirected message, with the user's address. The name is
Pigeonhole's (Dovecot), so a loop through a Dovecot server is noticed on both sides."""

_NAME_ADDR = re.compile(r"(?P<name>[^<>]*)<(?P<addr>[^<>]*)>")  # RFC 5322 §3.4 name-addr
_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")
_LINES = re.compile(rb"[^\n]*\n|[^\n]+")  # lines with their line ends
_RETURN_PATH = re.compile(rb"return-path[ \t]*:", re.IGNORECASE)


class AddressError(ValueError):
    """A redirect address that is not a valid address; the message says why."""


def parse_address(text: str) -> str:
    """Check a ``redirect`` address (RFC 5228 §2.4.2.3, §4.2).

    Args:
        text: the script's string: an addr-spec (``carol@example.org``) or a name-addr
            (``Carol <carol@example.org>``, RFC 5322 §3.4).

    Returns:
        The forward-path ``local@domain`` (local part quoted only if needed).

    Raises:
        AddressError: not an address SMTP can send to: a syntax error, no domain, a
            source route, a local part over 64 octets (RFC 5321 §4.5.3.1.1).
    """
    stripped = text.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in stripped):  # CR, LF, NUL...
        raise AddressError("control characters are not allowed in an address")
    found = _NAME_ADDR.fullmatch(stripped)
    addr = found.group("addr").strip() if found else stripped
    if found and not _display_name_ok(found.group("name")):
        raise AddressError(
            "the display name before <...> must be words or a quoted string (RFC 5322 §3.4)"
        )
    if not addr:
        raise AddressError("the address is empty")
    if addr.startswith("@"):
        raise AddressError("source routes are not allowed")
    if "@" not in addr:
        raise AddressError("an address needs a domain (local@domain)")
    try:
        path = parse_path(f"<{addr}>".encode(), smtputf8=not addr.isascii())
    except (PathError, UnicodeError) as exc:
        why = str(exc) or "bad address syntax"
        raise AddressError(why[:1].lower() + why[1:]) from None
    if not isinstance(path, Mailbox) or not path.domain:
        raise AddressError("an address needs a domain (local@domain)")
    return str(path)


def _display_name_ok(name: str) -> bool:
    """A phrase (RFC 5322 §3.2.5): words without specials, or one quoted string."""
    name = name.strip()
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return '"' not in name[1:-1].replace('\\"', "")
    return not any(c in _SPECIALS for c in name)


_SPECIALS = frozenset('()<>[]:;@\\,"')


def loop_detected(headers: Headers, addresses: Iterable[str]) -> bool:
    """True if *headers* have a `LOOP_FIELD` naming one of *addresses* (any case, with
    or without angle brackets): this user redirected the message before."""
    mine = {address.lower() for address in addresses if address}
    return any(
        value.strip().strip("<>").strip().lower() in mine for value in headers.raw(LOOP_FIELD)
    )


def envelope_sender(reverse_path: str, user_address: str) -> str:
    """The reverse-path of the redirected message: ``""`` (``<>``) if the message had
    ``<>`` (RFC 5228 §4.2 MUST), else the user's own address (see the module doc)."""
    return user_address if reverse_path else ""


def redirected_message(message: bytes, *, user_address: str, message_id: str | None) -> bytes:
    """The message to send on: `LOOP_FIELD` (and *message_id*, if given) on top, the
    ``Return-Path`` fields of the header section removed, everything else unchanged.

    Args:
        message: the message as the user would store it (CRLF line ends).
        user_address: the user's own address, ``local@domain``.
        message_id: a ``<id@domain>`` to add when the message has no Message-ID, or None.

    Returns:
        The bytes for `trimail.plugins.Outbox.send`.
    """
    end = _END_OF_HEADER.search(message)
    split = end.end() if end is not None else len(message)  # the empty line included
    if message.startswith((b"\r\n", b"\n")):  # no header section at all
        split = 0
    head, rest = message[:split], message[split:]
    kept: list[bytes] = []
    dropping = False
    for line in _LINES.findall(head):
        if line[:1] in (b" ", b"\t"):  # a continuation of the field before
            if not dropping:
                kept.append(line)
            continue
        dropping = _RETURN_PATH.match(line) is not None
        if not dropping:
            kept.append(line)
    top = f"{LOOP_FIELD}: {user_address}\r\n"
    if message_id is not None:
        top += f"Message-ID: {message_id}\r\n"
    return top.encode("utf-8") + b"".join(kept) + rest
