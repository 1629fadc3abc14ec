"""DSN messages (RFC 3464, RFC 6522, RFC 6533) built by trimail.queue.dsn, read back
with the stdlib email package."""

from __future__ import annotations

import datetime
import email
import email.policy
import re
from email.message import EmailMessage, Message
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.reply import Reply
from trimail.queue.dsn import (
    ACTIONS,
    RecipientStatus,
    build_dsn,
    header_section,
    return_content_for,
)

UTC = datetime.UTC
NOW = datetime.datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
ARRIVAL = datetime.datetime(
    2025, 6, 1, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
)
ORIGINAL = (
    b"Received: from client.example ([192.0.2.1])\r\n"
    b"\tby mx.example.net (trimail) with ESMTP id ABC; Sun, 1 Jun 2025 09:30:00 +0200\r\n"
    b"From: Alice <alice@client.example>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: =?utf-8?q?hello?=\r\n"
    b"Message-ID: <m1@client.example>\r\n"
    b"\r\n"
    b"Hi Bob.\r\n"
    b"..not stuffed\r\n"
    b"--boundary-looking line\r\n"
)
ALICE = Mailbox(local_part="alice", domain="client.example")
BOB = Mailbox(local_part="bob", domain="example.org")


def failed(**changes: Any) -> RecipientStatus:
    values: dict[str, Any] = {
        "final_recipient": BOB,
        "action": "failed",
        "status": "5.1.1",
        "original_recipient": ("rfc822", "Bob@Example.org"),
        "remote_mta": "mx.example.org",
        "diagnostic": Reply(code=550, enhanced_status="5.1.1", text="No such user"),
        "last_attempt": NOW,
    }
    values.update(changes)
    return RecipientStatus(**values)


def dsn(recipients: list[RecipientStatus] | None = None, **changes: Any) -> bytes:
    values: dict[str, Any] = {
        "reporting_mta": "mx.example.net",
        "original_envelope_id": "QQ314159",
        "arrival_date": ARRIVAL,
        "recipients": recipients if recipients is not None else [failed()],
        "original": ORIGINAL,
        "return_content": "full",
        "reverse_path": ALICE,
        "from_address": "MAILER-DAEMON@mx.example.net",
        "message_id": "<ABC.dsn@mx.example.net>",
        "now": NOW,
    }
    values.update(changes)
    return build_dsn(**values)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


def parts(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_parts())  # type: ignore[arg-type]


def status_blocks(part: EmailMessage) -> list[Message]:
    blocks = part.get_payload()
    assert isinstance(blocks, list)
    return [block for block in blocks if isinstance(block, Message)]


def boundary_of(raw: bytes) -> bytes:
    match = re.search(rb'boundary="([^"]+)"', raw)
    assert match is not None
    return match.group(1)


def outside_original(raw: bytes) -> bytes:
    """The DSN with the returned original (if any) cut out."""
    return raw.replace(ORIGINAL, b"").replace(header_section(ORIGINAL), b"")


# --- structure -----------------------------------------------------------------------


def test_failure_dsn_structure() -> None:
    raw = dsn()
    message = parse(raw)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    assert message["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    assert b"\r\nTo: <alice@client.example>\r\n" in raw
    assert message["To"].addresses[0].addr_spec == "alice@client.example"
    assert message["Subject"] == "Undelivered Mail Returned to Sender"
    assert message["Date"] == "Mon, 02 Jun 2025 10:00:00 +0000"
    assert message["Message-ID"] == "<ABC.dsn@mx.example.net>"
    assert message["MIME-Version"] == "1.0"
    assert message["Auto-Submitted"] == "auto-replied"
    assert "Content-Transfer-Encoding" not in message
    text, status, original = parts(message)
    assert [p.get_content_type() for p in (text, status, original)] == [
        "text/plain",
        "message/delivery-status",
        "message/rfc822",
    ]
    content = text.get_content()
    assert "<bob@example.org>: host mx.example.org said: 550 5.1.1 No such user" in content
    assert "Your message is attached." in content
    per_message, recipient = status_blocks(status)
    assert dict(per_message.items()) == {
        "Original-Envelope-Id": "QQ314159",
        "Reporting-MTA": "dns; mx.example.net",
        "Arrival-Date": "Sun, 01 Jun 2025 09:30:00 +0200",
    }
    assert dict(recipient.items()) == {
        "Original-Recipient": "rfc822; Bob@Example.org",
        "Final-Recipient": "rfc822; bob@example.org",
        "Action": "failed",
        "Status": "5.1.1",
        "Remote-MTA": "dns; mx.example.org",
        "Diagnostic-Code": "smtp; 550 5.1.1 No such user",
        "Last-Attempt-Date": "Mon, 02 Jun 2025 10:00:00 +0000",
    }
    (inner,) = original.iter_parts()
    assert inner["Message-ID"] == "<m1@client.example>"


def test_original_is_returned_byte_for_byte() -> None:
    raw = dsn()
    boundary = boundary_of(raw)
    part_head = b"Content-Type: message/rfc822\r\nContent-Description: Original message\r\n\r\n"
    assert part_head + ORIGINAL + b"\r\n--" + boundary + b"--\r\n" in raw
    assert raw.endswith(b"--" + boundary + b"--\r\n")


def test_original_without_final_line_break_is_kept_exactly() -> None:
    original = b"Subject: x\r\n\r\nno line break at the end"
    raw = dsn(original=original)
    assert b"\r\n\r\n" + original + b"\r\n--" + boundary_of(raw) + b"--\r\n" in raw


def test_headers_only() -> None:
    raw = dsn(return_content="headers")
    *_, returned = parts(parse(raw))
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Hi Bob." not in raw
    assert b"\r\n\r\n" + header_section(ORIGINAL) + b"\r\n--" in raw
    assert "The header section of your message is attached." in parts(parse(raw))[0].get_content()


def test_too_large_original_returns_headers_and_says_so() -> None:
    raw = dsn(max_original_bytes=len(ORIGINAL) - 1)
    text, _status, returned = parts(parse(raw))
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Hi Bob." not in raw
    assert f"over {len(ORIGINAL) - 1} octets" in text.get_content()


def test_too_large_header_section_returns_nothing() -> None:
    raw = dsn(max_original_bytes=10)
    assert [p.get_content_type() for p in parts(parse(raw))] == [
        "text/plain",
        "message/delivery-status",
    ]
    assert b"alice@client.example>\r\nTo: bob" not in raw
    assert "not attached" in parts(parse(raw))[0].get_content()


@pytest.mark.parametrize(
    ("original", "section"),
    [
        (b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", b"A: 1\r\nB: 2\r\n"),
        (b"A: 1\nB: 2\n\nbody", b"A: 1\nB: 2\n"),
        (b"A: 1\r\n", b"A: 1\r\n"),
        (b"\r\nbody", b""),
        (b"", b""),
    ],
)
def test_header_section(original: bytes, section: bytes) -> None:
    assert header_section(original) == section


@pytest.mark.parametrize(
    ("actions", "subject"),
    [
        (["failed"], "Undelivered Mail Returned to Sender"),
        (["delayed", "failed"], "Undelivered Mail Returned to Sender"),
        (["delayed"], "Delayed Mail (still being retried)"),
        (["delivered", "delayed"], "Delayed Mail (still being retried)"),
        (["delivered"], "Successful Mail Delivery Report"),
        (["relayed", "expanded"], "Successful Mail Delivery Report"),
    ],
)
def test_subject_by_gravest_action(actions: list[str], subject: str) -> None:
    recipients = [failed(action=a, status="5.0.0" if a == "failed" else "2.0.0") for a in actions]
    assert parse(dsn(recipients))["Subject"] == subject


def test_delay_dsn() -> None:
    until = NOW + datetime.timedelta(days=4)
    delayed = failed(
        action="delayed",
        status="4.4.1",
        original_recipient=None,
        remote_mta=None,
        diagnostic="connect to mx.example.org[192.0.2.9]:25: Connection refused",
        will_retry_until=until,
    )
    raw = dsn([delayed], return_content=return_content_for(None, "delayed"))
    text, status, returned = parts(parse(raw))
    assert returned.get_content_type() == "text/rfc822-headers"
    _, block = status_blocks(status)
    assert dict(block.items()) == {
        "Final-Recipient": "rfc822; bob@example.org",
        "Action": "delayed",
        "Status": "4.4.1",
        "Diagnostic-Code": "X-Trimail; connect to mx.example.org[192.0.2.9]:25: Connection refused",
        "Last-Attempt-Date": "Mon, 02 Jun 2025 10:00:00 +0000",
        "Will-Retry-Until": "Fri, 06 Jun 2025 10:00:00 +0000",
    }
    assert "will be retried until Fri, 06 Jun 2025" in " ".join(text.get_content().split())


def test_several_recipients_get_one_block_each() -> None:
    carol = Mailbox(local_part="carol", domain="example.org")
    recipients = [failed(), failed(final_recipient=carol, diagnostic="550 5.2.1 disabled")]
    _, status, _ = parts(parse(dsn(recipients)))
    blocks = status_blocks(status)
    assert [b["Final-Recipient"] for b in blocks[1:]] == [
        "rfc822; bob@example.org",
        "rfc822; carol@example.org",
    ]
    assert blocks[2]["Diagnostic-Code"] == "smtp; 550 5.2.1 disabled"


def test_no_envelope_id_no_field() -> None:
    _, status, _ = parts(parse(dsn(original_envelope_id=None)))
    assert "Original-Envelope-Id" not in status_blocks(status)[0]


def test_envelope_id_is_kept_as_it_is() -> None:
    assert b"\r\nOriginal-Envelope-Id: a  b+c\r\n" in dsn(original_envelope_id="a  b+c")
    raw = dsn(original_envelope_id="a\r\nX-Injected: 1")
    assert b"\r\nOriginal-Envelope-Id: a??X-Injected: 1\r\n" in raw


def test_message_id_with_or_without_brackets() -> None:
    assert parse(dsn(message_id="x.1@host"))["Message-ID"] == "<x.1@host>"
    assert parse(dsn(message_id="<x.1@host>"))["Message-ID"] == "<x.1@host>"


def test_deterministic() -> None:
    assert dsn() == dsn()


def test_lines_end_in_crlf_and_are_short() -> None:
    long_reply = Reply(code=550, enhanced_status="5.7.1", text=("word " * 300,) * 3)
    raw = dsn([failed(diagnostic=long_reply)])
    rest = outside_original(raw)
    assert b"\n" not in rest.replace(b"\r\n", b"")
    assert b"\r" not in rest.replace(b"\r\n", b"")
    assert max(len(line) for line in rest.split(b"\r\n")) <= 78
    _, status, _ = parts(parse(raw))
    code = status_blocks(status)[1]["Diagnostic-Code"]
    assert code.startswith("smtp; 550 5.7.1 word word ") and code.endswith("...")
    assert len(code) <= len("smtp; ") + 2000  # cut at MAX_DIAGNOSTIC_CHARS


# --- hostile remote text ----------------------------------------------------------------------

hostile = st.lists(
    st.one_of(
        st.text(),
        st.sampled_from(["\r", "\n", "\r\n", "\x85", "\u2028", "\x00", "\t", ": ", "--"]),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=hostile, host=hostile, lines=st.lists(hostile, min_size=1, max_size=3))
def test_remote_text_cannot_inject_fields(text: str, host: str, lines: list[str]) -> None:
    recipients = [
        failed(diagnostic=text, remote_mta=host),
        failed(diagnostic=Reply(code=550, enhanced_status="5.1.1", text=tuple(lines))),
    ]
    raw = dsn(recipients, return_content="headers")
    rest = outside_original(raw)
    assert b"\n" not in rest.replace(b"\r\n", b"") and b"\r" not in rest.replace(b"\r\n", b"")
    assert rest.isascii()
    assert max(len(line) for line in rest.split(b"\r\n")) <= 998
    message = parse(raw)
    assert sorted(message.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Auto-Submitted",
            "Content-Type",
        ]
    )
    text_part, status, _ = parts(message)
    assert text_part.get_content_type() == "text/plain"
    per_message, first, second = status_blocks(status)
    assert list(per_message.keys()) == ["Original-Envelope-Id", "Reporting-MTA", "Arrival-Date"]
    optional = {"Remote-MTA", "Diagnostic-Code"}
    for block in (first, second):
        keys = [k for k in block if k not in optional]
        assert keys == [
            "Original-Recipient",
            "Final-Recipient",
            "Action",
            "Status",
            "Last-Attempt-Date",
        ]
        assert block["Status"] == "5.1.1"


@settings(max_examples=100, deadline=None)
@given(text=hostile)
def test_remote_text_with_smtputf8_stays_one_field(text: str) -> None:
    raw = dsn([failed(diagnostic=text)], smtputf8=True)
    rest = outside_original(raw)
    assert b"\n" not in rest.replace(b"\r\n", b"") and b"\r" not in rest.replace(b"\r\n", b"")
    rest.decode("utf-8")
    body = rest.split(b"Content-Type: message/global-delivery-status\r\n", 1)[1]
    fields = [line.split(b":", 1)[0] for line in body.split(b"\r\n") if line[:1].isalpha()]
    assert fields.count(b"Diagnostic-Code") <= 1
    assert set(fields) <= {
        b"Content-Transfer-Encoding",
        b"Content-Description",
        b"Original-Envelope-Id",
        b"Reporting-MTA",
        b"Arrival-Date",
        b"Original-Recipient",
        b"Final-Recipient",
        b"Action",
        b"Status",
        b"Remote-MTA",
        b"Diagnostic-Code",
        b"Last-Attempt-Date",
        b"Content-Type",
    }


# --- the boundary ---------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(prefix=st.binary(max_size=40), suffix=st.binary(max_size=40), times=st.integers(1, 3))
def test_boundary_never_occurs_in_the_original(prefix: bytes, suffix: bytes, times: int) -> None:
    original = ORIGINAL
    for _ in range(times):  # plant each boundary trimail would pick in the original
        first = boundary_of(dsn(original=original))
        original = original + prefix + b"\r\n--" + first + b"\r\n" + suffix
    raw = dsn(original=original)
    chosen = boundary_of(raw)
    assert chosen not in original
    assert original in raw
    message = parse(raw)
    assert [p.get_content_type() for p in parts(message)][-1] == "message/rfc822"


def test_given_boundary() -> None:
    raw = dsn(boundary="simple boundary")
    assert b'boundary="simple boundary"' in raw
    assert len(parts(parse(raw))) == 3
    with pytest.raises(ValueError, match="occurs"):
        dsn(boundary="boundary-looking")
    for bad in ("", "x" * 71, "trailing space ", 'quo"te', "bad\r\nline"):
        with pytest.raises(ValueError):
            dsn(boundary=bad)


# --- SMTPUTF8 (RFC 6533) and 8-bit content ------------------------------------------------------

JOERG = Mailbox(local_part="jörg", domain="bücher.example")


def test_global_types_with_smtputf8() -> None:
    original = "Subject: Grüße\r\n\r\nHallo\r\n".encode()
    recipient = failed(
        final_recipient=JOERG,
        original_recipient=("utf-8", "Jörg@Bücher.example"),
        diagnostic=Reply(code=550, enhanced_status="5.1.1", text="Unbekannt: jörg"),
    )
    raw = dsn([recipient], original=original, smtputf8=True, reverse_path=JOERG)
    message = parse(raw)
    assert message.get_param("report-type") == "global-delivery-status"
    assert "\r\nTo: <jörg@bücher.example>\r\n".encode() in raw
    assert message["Content-Transfer-Encoding"] == "8bit"
    text, status, returned = parts(message)
    assert [p.get_content_type() for p in (text, status, returned)] == [
        "text/plain",
        "message/global-delivery-status",
        "message/global",
    ]
    assert text["Content-Transfer-Encoding"] == "8bit"
    said = "<jörg@bücher.example>: host mx.example.org said: 550 5.1.1 Unbekannt: jörg"
    assert said in " ".join(text.get_content().split())
    assert b"\r\nOriginal-Recipient: utf-8; J\xc3\xb6rg@B\xc3\xbccher.example\r\n" in raw
    assert b"\r\nFinal-Recipient: utf-8; j\xc3\xb6rg@b\xc3\xbccher.example\r\n" in raw
    assert b"\r\nDiagnostic-Code: smtp; 550 5.1.1 Unbekannt: j\xc3\xb6rg\r\n" in raw
    assert original in raw
    headers_only = dsn([recipient], original=original, smtputf8=True, return_content="headers")
    assert parts(parse(headers_only))[2].get_content_type() == "message/global-headers"


def test_non_ascii_addresses_without_smtputf8_are_escaped() -> None:
    recipient = failed(final_recipient=JOERG, original_recipient=("utf-8", "Jörg@x"))
    raw = dsn([recipient])
    assert b"\r\nOriginal-Recipient: utf-8; J\\x{F6}rg@x\r\n" in raw
    assert b"\r\nFinal-Recipient: utf-8; j\\x{F6}rg@b\\x{FC}cher.example\r\n" in raw
    assert raw.isascii()
    text = parts(parse(raw))[0]
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert "<jörg@bücher.example>" in text.get_content()
    with pytest.raises(ValueError, match="To field"):
        dsn(reverse_path=JOERG)


def test_eight_bit_original_is_marked() -> None:
    original = b"Subject: x\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    raw = dsn(original=original)
    message = parse(raw)
    assert message["Content-Transfer-Encoding"] == "8bit"
    assert parts(message)[2]["Content-Transfer-Encoding"] == "8bit"
    assert original in raw
    assert dsn().isascii()


# --- what to return, RFC 3461 §4.3 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ret", "action", "expected"),
    [
        (None, "failed", "full"),
        ("FULL", "failed", "full"),
        ("HDRS", "failed", "headers"),
        (None, "delayed", "headers"),
        ("FULL", "delayed", "headers"),
        ("FULL", "delivered", "headers"),
        (None, "relayed", "headers"),
    ],
)
def test_return_content_for(ret: str | None, action: Any, expected: str) -> None:
    assert return_content_for(ret, action) == expected


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"recipients": []},
        {"now": datetime.datetime(2025, 6, 2, 10, 0)},
        {"arrival_date": datetime.datetime(2025, 6, 2, 10, 0)},
        {"reverse_path": NULL_PATH},
        {"reverse_path": Mailbox(local_part="postmaster", domain="")},
        {"reverse_path": Mailbox(local_part="a\r\nBcc: x", domain="example.org")},
        {"reporting_mta": "mx.example.net\r\nX-Injected: 1"},
        {"from_address": "Mailer <daemon@x>"},
        {"message_id": "no at sign"},
        {"message_id": "<a@b>\r\nX: y"},
        {"return_content": "body"},
    ],
)
def test_bad_arguments(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dsn(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "bounced"},
        {"status": "5.1"},
        {"status": "3.0.0"},
        {"status": "5.1.1\r\nX: y"},
        {"original_recipient": ("rfc822", "a\r\nb")},
        {"diagnostic_type": "smtp; x"},
        {"last_attempt": datetime.datetime(2025, 6, 2)},
        {"will_retry_until": datetime.datetime(2025, 6, 2)},
    ],
)
def test_bad_recipient_status(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        failed(**changes)


def test_actions_are_checked_strings() -> None:
    assert [failed(action=str(a)).action for a in ACTIONS] == list(ACTIONS)
