"""Vacation responses (RFC 5230; RFC 3834 for automatic responses in general).

`reason_not_to_respond` applies the rules that stop a response (§4.5, §4.6; RFC 3834
§2); `build_response` writes the reply (§5); `period_seconds` and `default_handle` give
the tracking key and interval (§4.1, §4.2). Sending and tracking are the plugin's.
"""

from __future__ import annotations

import datetime as _dt
import email.message
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterable

import attrs

from trimail.mail.address import quote_local_part
from trimail_sieve.message import Headers
from trimail_sieve.script import Vacation

DAY_SECONDS = 86_400
DEFAULT_DAYS = 7  # RFC 5230 §4.1

# RFC 5230 §4.5: the user's address must be in one of these fields.
RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")

# RFC 5230 §4.6, RFC 3834 §2: senders that are robots or lists.
_ROBOT_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "postmaster",
        "listserv",
        "majordomo",
        "noreply",
        "no-reply",
        "do-not-reply",
        "donotreply",
    }
)
_ROBOT_SUFFIXES = ("-request", "-owner", "-bounce", "-bounces")
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})  # RFC 3834 §2 (Precedence)

_SMTP = email.policy.SMTP  # CRLF line ends, RFC 5322 output
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def reason_not_to_respond(
    *, headers: Headers, sender: str, user_addresses: Iterable[str]
) -> str | None:
    """Why no vacation response may be sent, or None if one may.

    Args:
        headers: the incoming message's header fields.
        sender: the envelope reverse-path (``local@domain``, ``""`` for ``<>``).
        user_addresses: the user's addresses (own address, the forward-path that
            reached it, ``:addresses``), any case.

    Returns:
        A short reason for the log ("null reverse-path", "mailing list" ...), or None.
    """
    mine = {address.lower() for address in user_addresses if address}
    local = sender.rpartition("@")[0].lower()
    if not sender:
        return "null reverse-path"  # RFC 5230 §4.6, RFC 3834 §3.3
    if sender.lower() in mine:
        return "sent by the user"  # RFC 5230 §4.6
    if local in _ROBOT_LOCAL_PARTS or local.startswith("owner-") or local.endswith(_ROBOT_SUFFIXES):
        return "sender looks like a robot or list address"  # RFC 5230 §4.6
    auto = headers.first("auto-submitted").split(";")[0].strip().lower()
    if headers.exists("auto-submitted") and auto != "no":
        return "auto-submitted message"  # RFC 3834 §2, §5
    precedence = headers.first("precedence").split("(", 1)[0]  # "list (comment)"
    if precedence.strip().lower() in _BULK_PRECEDENCE:
        return "bulk or list precedence"
    if any(name.startswith("list-") for name in headers.names()):
        return "mailing list message"  # RFC 2369, RFC 2919 fields
    suppress = headers.first("x-auto-response-suppress").lower()
    if "all" in suppress or "oof" in suppress:
        return "auto responses suppressed"
    if not any(
        address.all.lower() in mine
        for field in RECIPIENT_FIELDS
        for address in headers.addresses(field)
    ):
        return "the user's address is not in To, Cc or Bcc"  # RFC 5230 §4.5
    return None


def period_seconds(action: Vacation, *, min_days: int, max_days: int) -> int:
    """How long to stay silent to one sender after a response (RFC 5230 §4.1): ``:days``
    (7 if absent) kept within [min_days, max_days], in seconds."""
    days = DEFAULT_DAYS if action.days is None else action.days
    return max(min_days, min(max_days, days)) * DAY_SECONDS


def default_handle(action: Vacation) -> str:
    """The handle of a vacation without ``:handle`` (RFC 5230 §4.2): a digest of the
    reason, subject, from and mime arguments, so a changed text responds again."""
    parts = [action.reason, action.subject or "", action.from_address or "", str(action.mime)]
    return "auto:" + hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).hexdigest()


@attrs.frozen(kw_only=True)
class Response:
    """A vacation response ready for the outbox.

    Attributes:
        recipient: where it goes (the original reverse-path).
        message: the RFC 5322 message (CRLF line ends).
    """

    recipient: str
    message: bytes


def build_response(
    *,
    action: Vacation,
    headers: Headers,
    sender: str,
    user_address: str,
    now: float,
    aliases: Iterable[str] = (),
) -> Response:
    """Write the response to *sender* (RFC 5230 §5).

    Args:
        action: the vacation command.
        headers: the incoming message's header fields.
        sender: the envelope reverse-path (the response's only recipient, §5.1).
        user_address: the user's address; the From unless ``:from`` names it or one of
            *aliases*, which then is the From (§4.3). Any other ``:from`` is ignored,
            also one listed in ``:addresses`` (the script says what it likes there): a
            user may not send as someone else.
        now: the current time, seconds since the epoch (for Date).
        aliases: other addresses known to be the user's: the forward-path that
            reached the user (an alias the server resolved to this user).

    Returns:
        The response.

    Raises:
        ValueError: a ``:mime`` reason that is not a MIME entity.
    """
    allowed = {user_address.lower(), *(a.lower() for a in aliases if a)}
    author = user_address
    if action.from_address:
        named = email.utils.parseaddr(action.from_address)[1]
        if named.lower() in allowed:
            author = action.from_address
    response = _body(action)
    response["From"] = _one_line(author)
    response["To"] = _sendable(sender)
    response["Subject"] = _subject(action, headers)
    response["Date"] = email.utils.format_datetime(_dt.datetime.fromtimestamp(now, _dt.UTC))
    domain = user_address.rpartition("@")[2] or "localhost"
    response["Message-ID"] = email.utils.make_msgid("vacation", domain=domain)
    original_id = headers.first("message-id").strip()
    if original_id:  # RFC 5230 §5.3
        response["In-Reply-To"] = _one_line(original_id)
        references = _one_line(headers.first("references"))
        response["References"] = f"{references} {original_id}".strip()
    response["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5, RFC 5230 §5
    return Response(recipient=_sendable(sender), message=response.as_bytes(policy=_SMTP))


def _sendable(address: str) -> str:
    """*address* with its local part quoted when it needs it (``"a b"@example.net``,
    RFC 5321 §4.1.2), as the outbox parses it."""
    local, _, domain = address.rpartition("@")
    return f"{quote_local_part(local)}@{domain}" if local else address


def _subject(action: Vacation, headers: Headers) -> str:
    if action.subject:
        return _one_line(action.subject)
    original = _one_line(headers.first("subject"))
    return f"Auto: {original}" if original else "Auto: (no subject)"  # RFC 5230 §5.2


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()[:900]


def _body(action: Vacation) -> email.message.EmailMessage:
    if not action.mime:
        response = email.message.EmailMessage(policy=_SMTP)
        text = action.reason.replace("\r\n", "\n")
        cte = "7bit" if text.isascii() else "quoted-printable"
        response.set_content(text, charset="utf-8", cte=cte)
        return response
    part = email.message_from_string(action.reason.replace("\r\n", "\n"), policy=_SMTP)
    if not isinstance(part, email.message.EmailMessage) or part.defects:
        raise ValueError("the :mime reason is not a MIME entity")
    for name in set(part.keys()):  # only the entity's own fields (RFC 5230 §4.7)
        if not name.lower().startswith("content-"):
            del part[name]
    part["MIME-Version"] = "1.0"
    return part
