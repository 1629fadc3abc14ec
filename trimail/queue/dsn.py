"""Delivery status notifications as messages: multipart/report (RFC 3464, RFC 6522).

`build_dsn` writes the DSN the queue sends to a message's reverse-path when delivery
failed, is delayed, or succeeded and NOTIFY asked for it (RFC 3461 §6): a human
explanation, the machine-readable message/delivery-status, and the original message
or its header section. With SMTPUTF8 the international types of RFC 6533 are used.

Pure: the time, the message id and (optionally) the MIME boundary come in as
arguments. The original is copied in as bytes, never re-serialized (ARCHITECTURE.md,
"Bytes as received"); text that came from remote servers is cleaned of line breaks
and control characters before it goes into a header field.
"""

from __future__ import annotations

import binascii
import datetime
import email.utils
import hashlib
import itertools
import re
import textwrap
import unicodedata
from collections.abc import Sequence
from typing import Final, Literal, TypeAlias

import attrs

from trimail.mail.address import Mailbox
from trimail.mail.dsn import check_orcpt, utf8_address_encode
from trimail.mail.reply import Reply

Action: TypeAlias = Literal["failed", "delayed", "delivered", "relayed", "expanded"]
"""The Action field of a per-recipient block (RFC 3464 §2.3.3)."""
ReturnContent: TypeAlias = Literal["full", "headers"]
"""What of the original message a DSN returns (RFC 3461 §4.3)."""

ACTIONS: Final[tuple[Action, ...]] = ("failed", "delayed", "delivered", "relayed", "expanded")
MAX_ORIGINAL_BYTES: Final = 10 * 1024 * 1024  # larger originals: header section only
MAX_DIAGNOSTIC_CHARS: Final = 2000  # remote reply text kept in a Diagnostic-Code
FOLD_COLUMNS: Final = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
# Longer words are split so that no line passes 998 octets (RFC 5322 §2.1.1) even when
# every character takes 4 octets of UTF-8.
_MAX_WORD_CHARS: Final = 200
_TEXT_COLUMNS: Final = 76
_MAX_ENVID_FIELD_CHARS: Final = 900  # ENVID is at most 100 (RFC 3461 §4.4); keep under 998

_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\Z")  # RFC 3463 §2
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}\Z")  # a host name or address literal
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+\Z")  # RFC 5322 §3.2.3
_SMTP_REPLY = re.compile(r"[2-5]\d\d(?:[ -]|\Z)")  # RFC 5321 §4.2
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]\Z")  # RFC 2046
_MSG_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+\Z")  # id-left "@" id-right, RFC 5322 §3.6.4
_ACTION_BY_NAME: Final[dict[str, Action]] = {action: action for action in ACTIONS}

_SUBJECTS: Final[dict[str, str]] = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "success": "Successful Mail Delivery Report",
}
_INTRODUCTIONS: Final[dict[Action, str]] = {
    "failed": (
        "Your message could not be delivered to the recipients below. This is a "
        "permanent error: the mail system has given up on them."
    ),
    "delayed": (
        "Your message has not been delivered yet to the recipients below. The mail "
        "system keeps trying; you do not need to send it again."
    ),
    "delivered": "Your message was delivered to the recipients below.",
    "relayed": (
        "Your message was passed on to another mail system for the recipients below. "
        "That system does not send delivery reports, so this is the last you will hear "
        "about them."
    ),
    "expanded": (
        "Your message was delivered to the recipients below, which are mailing lists or "
        "aliases that forward it to further addresses."
    ),
}


def _to_action(value: str) -> Action:
    try:
        return _ACTION_BY_NAME[value]
    except KeyError:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {value!r}") from None


def is_status(text: str) -> bool:
    """True if *text* is an enhanced status code such as ``"5.1.1"`` (RFC 3463 §2)."""
    return _STATUS.match(text) is not None


def _check_status(_instance: object, _attribute: object, value: str) -> None:
    if not is_status(value):
        raise ValueError(f"status must look like 5.1.1 (RFC 3463 §2), not {value!r}")


def _check_type(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and not _ATOM.match(value):
        raise ValueError(f"diagnostic type must be an atom (RFC 3464 §2.3.6), not {value!r}")


def _check_orcpt(_instance: object, _attribute: object, value: tuple[str, str] | None) -> None:
    if value is not None:
        check_orcpt(value, "original_recipient")


def _require_aware(name: str, value: datetime.datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _check_aware(
    _instance: object,
    attribute: attrs.Attribute[datetime.datetime | None],
    value: datetime.datetime | None,
) -> None:
    _require_aware(attribute.name, value)


@attrs.frozen(kw_only=True)
class RecipientStatus:
    """What a DSN says about one recipient (RFC 3464 §2.3).

    Attributes:
        final_recipient: the recipient the report is about (Final-Recipient, §2.3.2).
        action: ``"failed"``, ``"delayed"``, ``"delivered"``, ``"relayed"`` or
            ``"expanded"`` (§2.3.3); a plain str is checked and accepted.
        status: the enhanced status code, e.g. ``"5.1.1"`` (RFC 3463 §2).
        original_recipient: the RCPT's ORCPT as (addr-type lower-case, decoded
            address), e.g. ``("rfc822", "joe@example.org")``, or None (§2.3.1).
        remote_mta: the host name of the server that gave *diagnostic*, or None
            (Remote-MTA, §2.3.5).
        diagnostic: the remote server's reply (a `Reply`, or its text such as
            ``"550 5.1.1 No such user"``), or a local explanation such as
            ``"connect to mx.example.net: Connection refused"``; None when there is
            nothing to say (Diagnostic-Code, §2.3.6).
        diagnostic_type: the Diagnostic-Code type; None means ``smtp`` for a `Reply`
            or a text that starts with a reply code, ``X-Trimail`` for other text.
        last_attempt: when delivery was last tried, timezone-aware (§2.3.7).
        will_retry_until: for ``delayed``: when the queue gives up, timezone-aware
            (§2.3.9).

    Raises:
        ValueError: an unknown action, a malformed status, ORCPT or diagnostic type,
            or a naive datetime.
    """

    final_recipient: Mailbox
    action: Action = attrs.field(converter=_to_action)
    status: str = attrs.field(validator=_check_status)
    original_recipient: tuple[str, str] | None = attrs.field(default=None, validator=_check_orcpt)
    remote_mta: str | None = None
    diagnostic: Reply | str | None = None
    diagnostic_type: str | None = attrs.field(default=None, validator=_check_type)
    last_attempt: datetime.datetime | None = attrs.field(default=None, validator=_check_aware)
    will_retry_until: datetime.datetime | None = attrs.field(default=None, validator=_check_aware)


def return_content_for(ret: str | None, action: Action) -> ReturnContent:
    """Choose what of the original a DSN returns (RFC 3461 §4.3).

    RET=FULL asks for the whole message in a *failure* DSN, RET=HDRS for the header
    section only; without RET the MTA chooses. trimail returns the whole message in
    failure DSNs unless RET=HDRS (the sender may need it back), and only the header
    section in every other DSN (delays and successes: the message is on its way, and
    the headers identify it).

    Args:
        ret: ``"FULL"``, ``"HDRS"`` (`trimail.mail.dsn.DsnMailParams.ret`) or None.
        action: the DSN's action.

    Returns:
        ``"full"`` or ``"headers"``, for `build_dsn`.
    """
    if action == "failed" and ret != "HDRS":
        return "full"
    return "headers"


def header_section(message: bytes) -> bytes:
    """The header section of *message*: up to and including the line break of its last
    field (RFC 5322 §2.1), without the empty line; ``b""`` if it has no header fields.

    Lines ending in bare LF are understood too; without an empty line the whole message
    is taken as header section.
    """
    if message.startswith((b"\r\n", b"\n")):
        return b""
    ends = [i + 2 for i in (message.find(b"\r\n\r\n"),) if i >= 0]
    ends += [i + 1 for i in (message.find(b"\n\n"),) if i >= 0]
    return message[: min(ends)] if ends else message


def build_dsn(
    *,
    reporting_mta: str,
    original_envelope_id: str | None,
    arrival_date: datetime.datetime,
    recipients: Sequence[RecipientStatus],
    original: bytes,
    return_content: ReturnContent,
    reverse_path: Mailbox,
    from_address: str,
    message_id: str,
    now: datetime.datetime,
    smtputf8: bool = False,
    max_original_bytes: int = MAX_ORIGINAL_BYTES,
    boundary: str | None = None,
) -> bytes:
    """Build a delivery status notification (RFC 3464) as the bytes of a message.

    The message is ``multipart/report; report-type=delivery-status`` (RFC 6522) with
    three parts: a text/plain explanation listing each recipient and the reply it got;
    message/delivery-status with the per-message fields (Original-Envelope-Id,
    Reporting-MTA, Arrival-Date) and one block per recipient (Original-Recipient,
    Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date,
    Will-Retry-Until; §2.2, §2.3); and the original, byte for byte, as message/rfc822
    (*return_content* ``"full"``) or its header section as text/rfc822-headers. With
    *smtputf8* the types are message/global-delivery-status (and the report-type
    ``global-delivery-status``), message/global and message/global-headers (RFC 6533
    §6), and header fields may hold UTF-8 (RFC 6532).

    Header fields: From ``Mail Delivery System <from_address>``, To the reverse-path,
    a Subject by the gravest action (failed, then delayed, then success), Date,
    Message-ID, MIME-Version and ``Auto-Submitted: auto-replied`` (RFC 3834 §5).
    Lines end in CRLF and fields are folded at 78 columns; remote text is cleaned (no
    CR, LF or other control characters; non-ASCII as ``?`` unless *smtputf8*), cut at
    `MAX_DIAGNOSTIC_CHARS`, and words over 200 characters are split with a space.

    The result is 7-bit unless the original or (with *smtputf8*) an address or reply
    holds 8-bit octets: then the top level says ``Content-Transfer-Encoding: 8bit``
    and the queue must send it with BODY=8BITMIME (RFC 6152). Send it with the null
    reverse-path (RFC 3461 §6.2, RFC 5321 §4.5.5).

    Args:
        reporting_mta: our host name, e.g. ``"mx.example.org"`` (``dns;`` type).
        original_envelope_id: the ENVID, decoded (`trimail.mail.dsn`), or None.
        arrival_date: when we accepted the message, timezone-aware.
        recipients: at least one; usually all with the same action.
        original: the message as queued (trace fields included).
        return_content: ``"full"`` or ``"headers"``, e.g. from `return_content_for`.
        reverse_path: the original MAIL FROM, the DSN's recipient (never ``<>``).
        from_address: e.g. ``"MAILER-DAEMON@mx.example.org"``.
        message_id: the DSN's Message-ID, ``"id@host"`` with or without angle brackets.
        now: the DSN's Date, timezone-aware.
        smtputf8: the original transaction used SMTPUTF8 (RFC 6531).
        max_original_bytes: a larger original is returned as its header section only,
            and a larger header section not at all; the text says so.
        boundary: the MIME boundary (RFC 2046 §5.1.1: 1-70 characters); None derives
            one from *message_id*, changed until it occurs in no part.

    Returns:
        The DSN message, CRLF line endings.

    Raises:
        ValueError: no recipients; a naive datetime; a malformed host name, from
            address, message id or boundary; a given boundary that occurs in the
            content; a reverse-path that is ``<>``, has no domain, holds control
            characters, or is non-ASCII without *smtputf8*; a negative
            *max_original_bytes*; *return_content* not ``"full"``/``"headers"``.
    """
    if not recipients:
        raise ValueError("a DSN reports on at least one recipient")
    _require_aware("arrival_date", arrival_date)
    _require_aware("now", now)
    if not _HOST.match(reporting_mta):
        raise ValueError(f"reporting_mta is not a host name: {reporting_mta!r}")
    returned, returned_kind, note = _returned(original, return_content, max_original_bytes)
    parts = [
        _text_part(reporting_mta, recipients, note, smtputf8=smtputf8),
        _status_part(
            reporting_mta, original_envelope_id, arrival_date, recipients, smtputf8=smtputf8
        ),
    ]
    if returned is not None:
        parts.append(_original_part(returned, returned_kind, smtputf8=smtputf8))
    chosen = _boundary(boundary, message_id, parts)
    head = _top_headers(
        recipients=recipients,
        reverse_path=reverse_path,
        from_address=from_address,
        message_id=message_id,
        now=now,
        smtputf8=smtputf8,
        boundary=chosen,
        eight_bit=not all(part.isascii() for part in parts),
    )
    delimiter = b"\r\n--" + chosen.encode("ascii")
    body = b"This is a MIME-encapsulated message (RFC 3464 delivery status notification)."
    for part in parts:
        body += delimiter + b"\r\n" + part
    return head + b"\r\n" + body + delimiter + b"--\r\n"


# --- the parts ---------------------------------------------------------------------------


def _returned(
    original: bytes, return_content: ReturnContent, max_original_bytes: int
) -> tuple[bytes | None, ReturnContent, str]:
    """What of *original* goes into the third part, its kind, and the sentence saying so."""
    if return_content not in ("full", "headers"):
        raise ValueError(f"return_content must be 'full' or 'headers', not {return_content!r}")
    if max_original_bytes < 0:
        raise ValueError(f"max_original_bytes must be at least 0, got {max_original_bytes}")
    if return_content == "full" and len(original) <= max_original_bytes:
        return original, "full", "Your message is attached."
    headers = header_section(original)
    limit = f"{max_original_bytes} octets"
    if len(headers) > max_original_bytes:
        return None, "headers", f"Your message is not attached: its header section is over {limit}."
    if return_content == "full":
        note = f"Your message is over {limit}, so only its header section is attached."
    else:
        note = "The header section of your message is attached."
    return headers, "headers", note


def _text_part(
    reporting_mta: str, recipients: Sequence[RecipientStatus], note: str, *, smtputf8: bool
) -> bytes:
    """The human-readable first part (RFC 3464 §1.2, RFC 6522 §3)."""
    paragraphs = [f"This is the mail system at host {reporting_mta}."]
    for action in ACTIONS:
        chosen = [r for r in recipients if r.action == action]
        if not chosen:
            continue
        paragraphs.append(_wrap(_INTRODUCTIONS[action]))
        paragraphs.append("\n".join(_recipient_line(r, smtputf8=smtputf8) for r in chosen))
    paragraphs.append(_wrap(note))
    text = "\n\n".join(paragraphs) + "\n"
    if text.isascii():
        headers = "Content-Type: text/plain; charset=us-ascii\r\n"
        body = text.encode("ascii")
    elif smtputf8:
        headers = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        body = text.encode("utf-8")
    else:  # a non-ASCII address in a 7-bit DSN
        headers = (
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
        )
        body = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    headers += "Content-Description: Notification\r\n"
    return headers.encode("ascii") + b"\r\n" + body.replace(b"\n", b"\r\n")


def _recipient_line(recipient: RecipientStatus, *, smtputf8: bool) -> str:
    """``<addr>: host mx said: 550 5.1.1 ...`` wrapped, for the text part."""
    line = f"<{_clean(str(recipient.final_recipient), utf8=True)}>"
    said = _diagnostic_text(recipient.diagnostic, utf8=smtputf8)
    host = _clean(recipient.remote_mta or "", utf8=smtputf8, limit=255)
    if said and host:
        line += f": host {host} said: {said}"
    elif said:
        line += f": {said}"
    if recipient.will_retry_until is not None:
        line += f" (will be retried until {_date(recipient.will_retry_until)})"
    return _wrap(line, indent="    ")


def _status_part(
    reporting_mta: str,
    original_envelope_id: str | None,
    arrival_date: datetime.datetime,
    recipients: Sequence[RecipientStatus],
    *,
    smtputf8: bool,
) -> bytes:
    """The message/delivery-status part (RFC 3464 §2.1): per-message fields, then one
    block per recipient, each block after an empty line."""
    fields = ""
    if original_envelope_id is not None:
        # Kept as it is (spaces included: the sender matches it, RFC 3461 §4.4), not folded.
        envid = "".join(c if " " <= c <= "~" or c == "\t" else "?" for c in original_envelope_id)
        fields += f"Original-Envelope-Id: {envid[:_MAX_ENVID_FIELD_CHARS]}\r\n"
    fields += _field("Reporting-MTA", f"dns; {reporting_mta}")
    fields += _field("Arrival-Date", _date(arrival_date))
    for recipient in recipients:
        fields += "\r\n" + _recipient_fields(recipient, smtputf8=smtputf8)
    body = fields.encode("utf-8")
    media = "message/global-delivery-status" if smtputf8 else "message/delivery-status"
    headers = f"Content-Type: {media}\r\n"
    if not body.isascii():
        headers += "Content-Transfer-Encoding: 8bit\r\n"
    headers += "Content-Description: Delivery report\r\n"
    return headers.encode("ascii") + b"\r\n" + body


def _recipient_fields(recipient: RecipientStatus, *, smtputf8: bool) -> str:
    """One per-recipient block (RFC 3464 §2.3), in the order of its ABNF."""
    fields = ""
    if recipient.original_recipient is not None:
        addr_type, address = recipient.original_recipient
        if addr_type == "utf-8":  # RFC 6533 §3: unitext only in the global type
            value = f"utf-8; {utf8_address_encode(address, unitext=smtputf8)}"
        else:
            value = f"{addr_type}; {_clean(address, utf8=False)}"
        fields += _field("Original-Recipient", value)
    fields += _field("Final-Recipient", _typed_address(str(recipient.final_recipient), smtputf8))
    fields += f"Action: {recipient.action}\r\n"
    fields += f"Status: {recipient.status}\r\n"
    host = _clean(recipient.remote_mta or "", utf8=smtputf8, limit=255).replace(" ", "")
    if host:
        fields += _field("Remote-MTA", f"dns; {host}")
    said = _diagnostic_text(recipient.diagnostic, utf8=smtputf8)
    if said:
        fields += _field("Diagnostic-Code", f"{_diagnostic_type(recipient)}; {said}")
    if recipient.last_attempt is not None:
        fields += _field("Last-Attempt-Date", _date(recipient.last_attempt))
    if recipient.will_retry_until is not None:
        fields += _field("Will-Retry-Until", _date(recipient.will_retry_until))
    return fields


def _typed_address(address: str, smtputf8: bool) -> str:
    """``rfc822; addr`` for ASCII, else ``utf-8;`` with RFC 6533 §3 escapes."""
    if address.isascii():
        return f"rfc822; {_clean(address, utf8=False)}"
    return f"utf-8; {utf8_address_encode(address, unitext=smtputf8)}"


def _diagnostic_type(recipient: RecipientStatus) -> str:
    if recipient.diagnostic_type is not None:
        return recipient.diagnostic_type
    diagnostic = recipient.diagnostic
    if isinstance(diagnostic, Reply) or (diagnostic and _SMTP_REPLY.match(diagnostic)):
        return "smtp"
    return "X-Trimail"


def _diagnostic_text(diagnostic: Reply | str | None, *, utf8: bool) -> str:
    """The reply as one cleaned line: ``550 5.1.1 No such user``; ``""`` for None."""
    if diagnostic is None:
        return ""
    if isinstance(diagnostic, Reply):
        status = [diagnostic.enhanced_status] if diagnostic.enhanced_status else []
        diagnostic = " ".join([str(diagnostic.code), *status, *diagnostic.text])
    return _clean(diagnostic, utf8=utf8)


def _original_part(returned: bytes, kind: ReturnContent, *, smtputf8: bool) -> bytes:
    """The third part: the original verbatim, or its header section (RFC 6522 §3)."""
    if kind == "full":
        media = "message/global" if smtputf8 else "message/rfc822"
        description = "Content-Description: Original message\r\n"
    else:
        media = "message/global-headers" if smtputf8 else "text/rfc822-headers"
        description = "Content-Description: Original message header section\r\n"
    headers = f"Content-Type: {media}\r\n"
    if not returned.isascii():  # RFC 2046 §5.2.1: 7bit, 8bit or binary only
        headers += "Content-Transfer-Encoding: 8bit\r\n"
    return (headers + description).encode("ascii") + b"\r\n" + returned


def _top_headers(
    *,
    recipients: Sequence[RecipientStatus],
    reverse_path: Mailbox,
    from_address: str,
    message_id: str,
    now: datetime.datetime,
    smtputf8: bool,
    boundary: str,
    eight_bit: bool,
) -> bytes:
    """The DSN's own header section, ending with the CRLF of its last field."""
    if not isinstance(reverse_path, Mailbox) or not reverse_path.domain:
        raise ValueError("a DSN goes to a mailbox with a domain, never to <>")
    to = str(reverse_path)
    if (not smtputf8 and not to.isascii()) or _has_controls(to):
        raise ValueError(f"reverse_path cannot be written in a To field: {to!r}")
    sender = from_address
    if not _MSG_ID.match(sender) or not sender.isascii():
        raise ValueError(f"from_address is not an ASCII addr-spec: {from_address!r}")
    bare_id = message_id[1:-1] if message_id[:1] == "<" and message_id[-1:] == ">" else message_id
    if not _MSG_ID.match(bare_id):
        raise ValueError(f"message_id is not id-left@id-right: {message_id!r}")
    actions = {r.action for r in recipients}
    gravest = "failed" if "failed" in actions else "delayed" if "delayed" in actions else "success"
    lines = [
        f"From: Mail Delivery System <{sender}>\r\n",
        f"To: <{to}>\r\n",
        f"Subject: {_SUBJECTS[gravest]}\r\n",
        f"Date: {_date(now)}\r\n",
        f"Message-ID: <{bare_id}>\r\n",
        "MIME-Version: 1.0\r\n",
        "Auto-Submitted: auto-replied\r\n",  # RFC 3834 §5
        f"Content-Type: multipart/report; report-type="
        f"{'global-delivery-status' if smtputf8 else 'delivery-status'};\r\n",
        f' boundary="{boundary}"\r\n',
    ]
    if eight_bit:  # RFC 2045 §6.4: a multipart holding 8bit parts is 8bit itself
        lines.append("Content-Transfer-Encoding: 8bit\r\n")
    return "".join(lines).encode("utf-8")


def _boundary(given: str | None, message_id: str, parts: Sequence[bytes]) -> str:
    """*given* if it occurs in no part, else one derived from *message_id* that does not."""
    if given is not None:
        if not _BOUNDARY.match(given):
            raise ValueError(f"boundary is not 1-70 bchars (RFC 2046 §5.1.1): {given!r}")
        if any(given.encode("ascii") in part for part in parts):
            raise ValueError("the boundary occurs in the content")
        return given
    for counter in itertools.count():
        digest = hashlib.sha256(f"{message_id}\0{counter}".encode()).hexdigest()[:32]
        candidate = f"=_trimail-dsn-{digest}"  # "=_" never occurs in QP or base64 text
        if not any(candidate.encode("ascii") in part for part in parts):
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


# --- text helpers ------------------------------------------------------------------------


def _clean(text: str, *, utf8: bool, limit: int = MAX_DIAGNOSTIC_CHARS) -> str:
    """Make outside text safe for one header field or text line.

    Control, format and line-separator characters (CR, LF, NEL, U+2028...) become
    spaces, runs of white space one space; non-ASCII becomes ``?`` unless *utf8*; the
    result is cut at *limit* characters.
    """
    out = []
    for char in text:
        if _has_controls(char):
            out.append(" ")
        elif not utf8 and not char.isascii():
            out.append("?")
        else:
            out.append(char)
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 3)].rstrip() + "..."
    return cleaned


def _has_controls(text: str) -> bool:
    """True if *text* holds a control, format or line-separator character."""
    return any(
        unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp")
        for char in text
    )


def _field(name: str, value: str) -> str:
    """``Name: value`` CRLF, folded at spaces to `FOLD_COLUMNS` (RFC 5322 §2.2.3).

    *value* is one line (cleaned); words longer than 200 characters are split.
    """
    words: list[str] = []
    for word in value.split():
        while len(word) > _MAX_WORD_CHARS:
            words.append(word[:_MAX_WORD_CHARS])
            word = word[_MAX_WORD_CHARS:]
        words.append(word)
    lines: list[str] = []
    line = f"{name}:"
    for index, word in enumerate(words):
        if index and len(line) + 1 + len(word) > FOLD_COLUMNS:
            lines.append(line)
            line = f" {word}"
        else:
            line += f" {word}"
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _wrap(text: str, indent: str = "") -> str:
    """Wrap a paragraph of the text part at 76 columns (long words are broken)."""
    return textwrap.fill(
        text,
        width=_TEXT_COLUMNS,
        initial_indent=indent,
        subsequent_indent=indent + "  " if indent else "",
        break_on_hyphens=False,
    )


def _date(when: datetime.datetime) -> str:
    """An RFC 5322 §3.3 date-time, e.g. ``Mon, 02 Jun 2025 10:00:00 +0000``."""
    return email.utils.format_datetime(when)
