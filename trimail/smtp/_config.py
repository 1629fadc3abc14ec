"""Engine configuration: limits and advertised extensions (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs


def _keywords(value: Iterable[str]) -> frozenset[str]:
    return frozenset(k.upper() for k in value)


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


@attrs.frozen(kw_only=True)
class SmtpConfig:
    """Limits and extensions of one `ServerConnection` (units in the field names).

    Attributes:
        hostname: our name, used in the text of 421 replies (RFC 5321 §4.2: "421
            <domain> Service not available"). Never looked up by the engine.
        max_command_line_bytes: longest command line, CRLF included. RFC 5321 §4.5.3.1.4
            sets 512 octets, and RFC 1869 §4.1.2 lets each ESMTP parameter in use
            extend it (SIZE, BODY, SMTPUTF8 together add under 100; AUTH=<mailbox> up
            to 500 more): 2048 covers them with room to spare. Longer lines get
            500 5.5.6 and are discarded without being buffered.
        max_text_line_bytes: longest DATA/BDAT text line, CRLF included and the
            transparency dot not counted (RFC 5321 §4.5.3.1.6: 1000).
        max_message_bytes: largest message content in octets (after dot-unstuffing);
            advertised as ``SIZE n`` (RFC 1870).
        max_recipients: accepted RCPTs per transaction; more get 452 4.5.3 (RFC 5321
            §4.5.3.1.8 requires at least 100).
        max_bad_commands: syntax and sequence errors (500-504, 555) tolerated; the next
            one ends the session with 421 4.7.0.
        smtputf8: advertise and accept SMTPUTF8 (RFC 6531).
        chunking: advertise CHUNKING and accept BDAT (RFC 3030).
        eightbitmime: advertise 8BITMIME and accept BODY=8BITMIME (RFC 6152).
        pipelining: advertise PIPELINING (RFC 2920). The engine always queues pipelined
            commands; this only controls the EHLO keyword.
        enhanced_status_codes: advertise ENHANCEDSTATUSCODES (RFC 2034) and put the
            enhanced status on every reply line; when False it is left out.
        starttls: advertise and accept STARTTLS (RFC 3207) until TLS is active.
        dsn: advertise DSN and accept RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT
            (RFC 3461 §4), syntax-checked by the engine (`trimail.mail.dsn`); the
            driver then owes the notifications they ask for (RFC 3461 §5).
        extra_mail_parameters: MAIL FROM parameter keywords the driver checks itself
            (e.g. ``AUTH`` once AUTH is advertised); others than SIZE, BODY,
            SMTPUTF8 and (with ``dsn``) RET and ENVID get 555 5.5.4.
        extra_rcpt_parameters: RCPT TO parameter keywords the driver checks itself;
            others than (with ``dsn``) NOTIFY and ORCPT get 555 5.5.4.
    """

    hostname: str = "localhost"
    max_command_line_bytes: int = attrs.field(default=2048, validator=_at_least(16))
    max_text_line_bytes: int = attrs.field(default=1000, validator=_at_least(3))
    max_message_bytes: int = attrs.field(default=25 * 1024 * 1024, validator=_at_least(1))
    max_recipients: int = attrs.field(default=100, validator=_at_least(1))
    max_bad_commands: int = attrs.field(default=10, validator=_at_least(0))
    smtputf8: bool = True
    chunking: bool = True
    eightbitmime: bool = True
    pipelining: bool = True
    enhanced_status_codes: bool = True
    starttls: bool = False
    dsn: bool = True
    extra_mail_parameters: frozenset[str] = attrs.field(default=frozenset(), converter=_keywords)
    extra_rcpt_parameters: frozenset[str] = attrs.field(default=frozenset(), converter=_keywords)
