"""The configuration model: one frozen attrs class per component.

Field names carry their units (``_seconds``, ``_bytes``); durations are float seconds as
in Trio. Every field has ``metadata["doc"]``, from which docs/configuration.md is made
(``python -m trimail.config.reference``).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

import attrs


def _lower(value: str) -> str:
    return value.lower() if isinstance(value, str) else value


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name}: must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{attribute.name}: must be greater than 0, got {value!r}")


def _not_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name}: must be 0 or more, got {value!r}")


def _port(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 < value < 65536:
        raise ValueError(f"{attribute.name}: must be a port number from 1 to 65535, got {value}")


def _not_negative_seconds(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name}: must be 0 or more seconds, got {value!r}")


def _listen_address(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: needs at least one HOST:PORT")
    for item in value:
        try:
            parse_listen_address(item)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _one_of(*choices: str) -> Callable[[object, attrs.Attribute[Any], str], None]:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise ValueError(
                f"{attribute.name}: must be one of {', '.join(choices)}; got {value!r}"
            )

    return check


def _listen_addresses_or_none(
    inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    if value:
        _listen_address(inst, attribute, value)


_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def is_hostname(text: str) -> bool:
    """True if *text* is a DNS host name (RFC 1123 §2.1 labels), as SMTP needs."""
    return _HOSTNAME.fullmatch(text) is not None


def _hostname(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value and not is_hostname(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not a host name (letters, digits, '-' and '.')"
        )


def _at_least(minimum: int, why: str) -> Callable[[object, attrs.Attribute[Any], int], None]:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name}: must be at least {minimum} ({why}); got {value}")

    return check


def parse_listen_address(text: str) -> tuple[str, int]:
    """Split ``"host:port"`` or ``"[v6]:port"`` into (host, port).

    Raises:
        ValueError: with a message naming what is wrong.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:2525 or [::1]:2525)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


@attrs.frozen(kw_only=True)
class SmtpListenerConfig:
    """The MX listener: receives mail for the local domains (RFC 5321)."""

    listen: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:2525",),
        converter=tuple,
        validator=_listen_address,
        metadata=_doc("Addresses to listen on, HOST:PORT. Port 25 in production."),
    )
    max_message_bytes: int = attrs.field(
        default=25 * 1024 * 1024,
        validator=_positive,
        metadata=_doc("Largest message accepted, in octets; advertised as SIZE (RFC 1870)."),
    )
    max_recipients: int = attrs.field(
        default=100,
        validator=_positive,
        metadata=_doc(
            "Accepted recipients per transaction; RFC 5321 §4.5.3.1.8 asks for at least 100."
        ),
    )
    max_bad_commands: int = attrs.field(
        default=10,
        validator=_positive,
        metadata=_doc("Bad commands in one session before 421 and close."),
    )
    max_text_line_bytes: int = attrs.field(
        default=1000,
        validator=_at_least(1000, "RFC 5321 §4.5.3.1.6"),
        metadata=_doc("Longest DATA line incl. CRLF (RFC 5321 §4.5.3.1.6: 1000)."),
    )
    max_connections: int = attrs.field(
        default=1000, validator=_positive, metadata=_doc("Concurrent connections in all.")
    )
    max_connections_per_ip: int = attrs.field(
        default=50,
        validator=_positive,
        metadata=_doc("Concurrent connections from one client address; more get 421 4.7.0."),
    )
    command_timeout_seconds: float = attrs.field(
        default=300.0,
        validator=_positive,
        metadata=_doc("Wait for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes)."),
    )
    data_timeout_seconds: float = attrs.field(
        default=300.0,
        validator=_positive,
        metadata=_doc("Wait for the next block of message data (RFC 5321 §4.5.3.2.6, .2.7)."),
    )


@attrs.frozen(kw_only=True)
class SubmissionListenerConfig(SmtpListenerConfig):
    """Submission (RFC 6409): your users send mail; AUTH first, over TLS (RFC 8314)."""

    listen: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:2587",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc("STARTTLS submission addresses, HOST:PORT; 587 in production; [] = off."),
    )
    listen_tls: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:2465",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc("Implicit-TLS submission addresses (RFC 8314); 465 in production."),
    )
    max_messages_per_hour: int = attrs.field(
        default=500,
        validator=_positive,
        metadata=_doc(
            "Messages one user may submit per hour (all workers together); more get "
            "450 4.7.0 until the hour has passed."
        ),
    )
    check_from_header: bool = attrs.field(
        default=True,
        metadata=_doc(
            "Refuse (553 5.7.1) a message whose From: addresses are not the user's own "
            "address or aliases, as the envelope sender always is."
        ),
    )


@attrs.frozen(kw_only=True)
class Pop3ListenerConfig:
    """The POP3 listener: users download (and delete) their mail (RFC 1939)."""

    listen: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:1110",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc(
            "Addresses to listen on, HOST:PORT; [] turns POP3 off. Until TLS lands, logins are "
            "accepted from loopback clients only."
        ),
    )
    listen_tls: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:1995",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc(
            "POP3S: addresses where TLS starts at connect (RFC 8314 §3.3); port 995 in "
            "production; [] turns it off."
        ),
    )
    mailbox_name: str = attrs.field(
        default="INBOX", metadata=_doc("The IMAP mailbox POP3 serves as the maildrop.")
    )
    retr_marks_seen: bool = attrs.field(
        default=True, metadata=_doc("RETR sets \\Seen, so IMAP shows the message as read.")
    )
    max_connections: int = attrs.field(
        default=1000, validator=_positive, metadata=_doc("Concurrent connections in all.")
    )
    max_connections_per_ip: int = attrs.field(
        default=20,
        validator=_positive,
        metadata=_doc("Concurrent connections from one client address."),
    )
    command_timeout_seconds: float = attrs.field(
        default=600.0,
        validator=_positive,
        metadata=_doc(
            "Time for a command, and for a stalled RETR, before the session ends (RFC 1939 "
            "§3 asks for at least 10 minutes; smaller values are allowed, e.g. for tests)."
        ),
    )


@attrs.frozen(kw_only=True)
class ImapListenerConfig:
    """The IMAP listener: users read and file their mail (RFC 3501, RFC 9051)."""

    listen: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:1143",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc(
            "Addresses to listen on, HOST:PORT (port 143 in production, with STARTTLS); "
            "[] turns IMAP off."
        ),
    )
    listen_tls: tuple[str, ...] = attrs.field(
        default=("127.0.0.1:1993",),
        converter=tuple,
        validator=_listen_addresses_or_none,
        metadata=_doc(
            "IMAPS: addresses where TLS starts at connect (RFC 8314 §3.3); port 993 in "
            "production; [] turns it off."
        ),
    )
    max_connections: int = attrs.field(
        default=2000, validator=_positive, metadata=_doc("Concurrent connections in all.")
    )
    max_connections_per_ip: int = attrs.field(
        default=50,
        validator=_positive,
        metadata=_doc(
            "Concurrent connections from one client address (mail clients open several "
            "per account, and households share an address)."
        ),
    )
    max_message_bytes: int = attrs.field(
        default=50 * 1024 * 1024,
        validator=_positive,
        metadata=_doc("Largest message APPEND accepts, in octets (APPENDLIMIT, RFC 7889)."),
    )
    login_timeout_seconds: float = attrs.field(
        default=60.0,
        validator=_positive,
        metadata=_doc("Time a client has to log in before the connection is closed."),
    )
    autologout_seconds: float = attrs.field(
        default=1800.0,
        validator=_positive,
        metadata=_doc(
            "Idle time after login before the session ends (RFC 3501 §5.4 asks for at "
            "least 30 minutes; IDLE clients re-issue IDLE every 29)."
        ),
    )
    idle_poll_seconds: float = attrs.field(
        default=0.5,
        validator=_positive,
        metadata=_doc(
            "How often IDLE checks for changes made by other worker processes (changes "
            "made in the same process are seen at once)."
        ),
    )


@attrs.frozen(kw_only=True)
class TlsConfig:
    """The certificate for STARTTLS (RFC 3207) and, later, implicit-TLS listeners."""

    cert_file: str = attrs.field(
        default="",
        metadata=_doc(
            "PEM certificate chain; empty: a self-signed one is made on first start in "
            "<data_dir>/tls/ (fine for tests, not for the Internet)."
        ),
    )
    key_file: str = attrs.field(
        default="", metadata=_doc("PEM private key for cert_file (required with it).")
    )
    starttls: bool = attrs.field(
        default=True,
        metadata=_doc("Offer STARTTLS on SMTP (RFC 3207) and STLS on POP3 (RFC 2595)."),
    )

    def __attrs_post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("key_file: cert_file and key_file go together")


@attrs.frozen(kw_only=True)
class AuthConfig:
    """Failed-login throttling for every protocol that takes a password."""

    failure_delay_seconds: float = attrs.field(
        default=1.0,
        validator=_positive,
        metadata=_doc("Delay before answering a failed login; doubles with each failure."),
    )
    max_delay_seconds: float = attrs.field(
        default=15.0, validator=_positive, metadata=_doc("The longest such delay.")
    )
    block_after_failures: int = attrs.field(
        default=10,
        validator=_positive,
        metadata=_doc(
            "Failures from one address, or for one user name, after which logins are "
            "refused (even with the right password) until the window passes."
        ),
    )
    window_seconds: float = attrs.field(
        default=900.0, validator=_positive, metadata=_doc("How long failures are counted.")
    )


@attrs.frozen(kw_only=True)
class ShutdownConfig:
    """Graceful shutdown on SIGTERM/SIGINT."""

    grace_seconds: float = attrs.field(
        default=30.0,
        validator=_positive,
        metadata=_doc("How long transactions in flight may finish before 421 and close."),
    )


def parse_destination(text: str) -> tuple[str, int | None, bool]:
    """Split a next-hop destination: ``host``, ``host:port``, ``[host]`` or ``[host]:port``.

    As in Postfix, brackets mean "this host, no MX lookup" (RFC 5321 §5.1); without
    them the name's MX records are looked up.

    Returns:
        (host, port or None, mx_lookup).

    Raises:
        ValueError: with a message naming what is wrong.
    """
    host, port_text = text, ""
    if text.startswith("["):
        host, close, rest = text[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not HOST, HOST:PORT, [HOST] or [HOST]:PORT")
        port_text = rest[1:]
        mx_lookup = False
    else:
        if text.count(":") == 1:
            host, _, port_text = text.partition(":")
        mx_lookup = True
    if not host or not (is_hostname(host) or is_ip_address(host)):
        raise ValueError(f"{text!r}: {host!r} is not a host name or IP address")
    if text.endswith(":") or (
        port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)
    ):
        raise ValueError(f"{text!r}: port must be a number from 1 to 65535")
    return (
        host.lower(),
        int(port_text) if port_text else None,
        mx_lookup and not is_ip_address(host),
    )


def is_ip_address(text: str) -> bool:
    """True if *text* is an IPv4 or IPv6 address (no brackets, no scope)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _destination(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value:
        try:
            parse_destination(value)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}: {exc}") from None


def _transports(_inst: object, attribute: attrs.Attribute[Any], value: dict[str, str]) -> None:
    for domain, destination in value.items():
        if not is_hostname(domain):
            raise ValueError(f"{attribute.name}: {domain!r} is not a domain name")
        try:
            parse_destination(destination)
        except ValueError as exc:
            raise ValueError(f"{attribute.name}.{domain}: {exc}") from None


def _nameservers(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for item in value:
        host, _port, _mx = parse_destination(item)
        if not is_ip_address(host):
            raise ValueError(f"{attribute.name}: {item!r}: a name server is an IP address")


@attrs.frozen(kw_only=True)
class DnsConfig:
    """The resolver used for MX lookups and the mail-authentication checks."""

    nameservers: tuple[str, ...] = attrs.field(
        default=(),
        converter=tuple,
        validator=_nameservers,
        metadata=_doc(
            "Recursive name servers as IP or [IP]:PORT (e.g. 127.0.0.1 or "
            "[::1]:5353); empty: those of /etc/resolv.conf."
        ),
    )
    timeout_seconds: float = attrs.field(
        default=5.0, validator=_positive, metadata=_doc("How long one lookup may take.")
    )
    cache_entries: int = attrs.field(
        default=10000,
        validator=_not_negative,
        metadata=_doc("Answers kept (for their TTL, at most an hour); 0 turns the cache off."),
    )


@attrs.frozen(kw_only=True)
class QueueConfig:
    """The outbound queue: retries, give-up age and delay notices (RFC 5321 §4.5.4.1)."""

    min_backoff_seconds: float = attrs.field(
        default=300.0, validator=_positive, metadata=_doc("Wait after the first failed attempt.")
    )
    max_backoff_seconds: float = attrs.field(
        default=4000.0,
        validator=_positive,
        metadata=_doc("The wait doubles after each failed attempt, up to this."),
    )
    max_age_seconds: float = attrs.field(
        default=5 * 86400.0,
        validator=_positive,
        metadata=_doc("Give up and send a failure DSN after this long (5 days)."),
    )
    delay_warning_seconds: float = attrs.field(
        default=4 * 3600.0,
        validator=_not_negative_seconds,
        metadata=_doc("Send one delay DSN when a message has waited this long; 0: never."),
    )
    max_deliveries: int = attrs.field(
        default=20, validator=_positive, metadata=_doc("Outbound deliveries in parallel.")
    )
    poll_seconds: float = attrs.field(
        default=1.0,
        validator=_positive,
        metadata=_doc(
            "How often the queue directory is checked for entries added by other "
            "worker processes or changed by `trimail queue`."
        ),
    )

    def __attrs_post_init__(self) -> None:
        if self.min_backoff_seconds > self.max_backoff_seconds:
            raise ValueError("min_backoff_seconds: must not be more than max_backoff_seconds")
        if self.max_backoff_seconds > self.max_age_seconds:
            raise ValueError("max_backoff_seconds: must not be more than max_age_seconds")


@attrs.frozen(kw_only=True)
class OutboundConfig:
    """How queued mail reaches other servers (RFC 5321 §5): MX, relayhost, transports."""

    port: int = attrs.field(
        default=25,
        validator=_port,
        metadata=_doc("Port of remote MX hosts (25; change it only for tests)."),
    )
    max_addresses: int = attrs.field(
        default=5,
        validator=_positive,
        metadata=_doc(
            "Addresses (of all MX hosts together) one delivery attempt connects to at "
            "most, so that a domain with many dead hosts cannot hold the queue."
        ),
    )
    relayhost: str = attrs.field(
        default="",
        validator=_destination,
        metadata=_doc(
            "Send all remote mail through this smarthost: HOST[:PORT] (MX lookup) or "
            "[HOST][:PORT] (no lookup); port 465 means implicit TLS. Empty: direct MX."
        ),
    )
    relayhost_username: str = attrs.field(
        default="", metadata=_doc("AUTH user name for the relayhost (AUTH PLAIN, over TLS).")
    )
    relayhost_password_file: str = attrs.field(
        default="",
        metadata=_doc("File holding the relayhost password (first line); keep it mode 0600."),
    )
    relayhost_ca_file: str = attrs.field(
        default="",
        metadata=_doc("PEM CA bundle for the relayhost's certificate; empty: the system's."),
    )
    relayhost_verify: bool = attrs.field(
        default=True,
        metadata=_doc("Require TLS with a valid certificate for the relayhost's name."),
    )
    transports: dict[str, str] = attrs.field(
        factory=dict,
        validator=_transports,
        metadata=_doc(
            'Per-domain next hops, e.g. { "example.net" = "[10.0.0.5]:25" } (overrides '
            "MX and relayhost for that domain)."
        ),
    )
    starttls: bool = attrs.field(
        default=True,
        metadata=_doc(
            "Use STARTTLS when a remote MX offers it (opportunistic, RFC 3207; no "
            "certificate check, RFC 7435)."
        ),
    )
    connect_timeout_seconds: float = attrs.field(
        default=30.0, validator=_positive, metadata=_doc("TCP connect and greeting timeout.")
    )
    command_timeout_seconds: float = attrs.field(
        default=300.0,
        validator=_positive,
        metadata=_doc("Wait for a reply to a command (RFC 5321 §4.5.3.2: 5 minutes)."),
    )
    data_timeout_seconds: float = attrs.field(
        default=600.0,
        validator=_positive,
        metadata=_doc("Wait for the reply after the message content (§4.5.3.2.6: 10 minutes)."),
    )

    def __attrs_post_init__(self) -> None:
        if self.relayhost_username and not self.relayhost_password_file:
            raise ValueError("relayhost_password_file: needed with relayhost_username")
        if self.relayhost_password_file and not self.relayhost_username:
            raise ValueError("relayhost_username: needed with relayhost_password_file")
        if self.relayhost_username and not self.relayhost:
            raise ValueError("relayhost: relayhost_username is set but there is no relayhost")


_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # one DNS label


def _selector(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _SELECTOR.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not a DKIM selector (one DNS label: letters, "
            "digits, '-'; as `trimail dkim generate --selector` takes)"
        )


def _selectors(_inst: object, attribute: attrs.Attribute[Any], value: dict[str, str]) -> None:
    for domain, selector in value.items():
        if not is_hostname(domain):
            raise ValueError(f"{attribute.name}: {domain!r} is not a domain name (A-labels)")
        if not _SELECTOR.fullmatch(selector):
            raise ValueError(f"{attribute.name}.{domain}: {selector!r} is not a DKIM selector")


@attrs.frozen(kw_only=True)
class MailAuthConfig:
    """SPF, DKIM and DMARC: checks of incoming mail, DKIM signatures on outgoing mail."""

    authserv_id: str = attrs.field(
        default="",
        validator=_hostname,
        metadata=_doc(
            "The authserv-id of Authentication-Results fields (RFC 8601 §2.5); "
            "default: the hostname. Incoming fields claiming it are removed."
        ),
    )
    check_incoming: bool = attrs.field(
        default=True,
        metadata=_doc("Check SPF, DKIM and DMARC of mail arriving on the MX listener."),
    )
    dmarc_reject: str = attrs.field(
        default="reject",
        validator=_one_of("reject", "junk", "deliver"),
        metadata=_doc(
            "What p=reject does to failing mail: reject (550 5.7.1 at end of DATA), "
            "junk (deliver to the Junk mailbox) or deliver."
        ),
    )
    dmarc_quarantine: str = attrs.field(
        default="junk",
        validator=_one_of("junk", "deliver"),
        metadata=_doc("What p=quarantine does to failing mail: junk or deliver."),
    )
    sign_outgoing: bool = attrs.field(
        default=True,
        metadata=_doc(
            "DKIM-sign relayed mail whose From: domain has a key from `trimail dkim "
            "generate` in <data_dir>/dkim/."
        ),
    )
    selector: str = attrs.field(
        default="mail",
        validator=_selector,
        metadata=_doc("The DKIM selector used unless `selectors` names another."),
    )
    selectors: dict[str, str] = attrs.field(
        factory=dict,
        validator=_selectors,
        metadata=_doc('Per-domain DKIM selectors, e.g. { "example.org" = "2026" }.'),
    )


@attrs.frozen(kw_only=True)
class Config:
    """The whole server configuration (a TOML file; every key is optional)."""

    hostname: str = attrs.field(
        default="",
        validator=_hostname,
        metadata=_doc(
            "This host's name in greetings and Received headers; default: the machine's."
        ),
    )
    data_dir: str = attrs.field(
        default="./trimail-data",
        metadata=_doc(
            "Where mailboxes, the user database and the spool live; relative to the "
            "working directory."
        ),
    )
    plugins: tuple[str, ...] = attrs.field(
        default=(),
        converter=tuple,
        metadata=_doc(
            "Extra plugins to load besides entry points: importable module names, or "
            "module:attribute for a plugin object."
        ),
    )
    plugin_timeout_seconds: float = attrs.field(
        default=60.0,
        validator=_positive,
        metadata=_doc(
            "Longest a plugin hook may run (each call); then the client gets 451 4.3.0 "
            "and the log says which hook."
        ),
    )
    workers: int = attrs.field(
        default=0,
        validator=_not_negative,
        metadata=_doc(
            "Worker processes sharing the listeners and the data; 0 means one per CPU core."
        ),
    )
    log_level: str = attrs.field(
        default="info",
        converter=_lower,
        validator=_one_of("debug", "info", "warning", "error"),
        metadata=_doc("debug, info, warning or error."),
    )
    smtp: SmtpListenerConfig = attrs.field(
        factory=SmtpListenerConfig, metadata=_doc("[smtp] table")
    )
    submission: SubmissionListenerConfig = attrs.field(
        factory=SubmissionListenerConfig, metadata=_doc("[submission] table")
    )
    pop3: Pop3ListenerConfig = attrs.field(
        factory=Pop3ListenerConfig, metadata=_doc("[pop3] table")
    )
    imap: ImapListenerConfig = attrs.field(
        factory=ImapListenerConfig, metadata=_doc("[imap] table")
    )
    tls: TlsConfig = attrs.field(factory=TlsConfig, metadata=_doc("[tls] table"))
    auth: AuthConfig = attrs.field(factory=AuthConfig, metadata=_doc("[auth] table"))
    shutdown: ShutdownConfig = attrs.field(
        factory=ShutdownConfig, metadata=_doc("[shutdown] table")
    )
    dns: DnsConfig = attrs.field(factory=DnsConfig, metadata=_doc("[dns] table"))
    mailauth: MailAuthConfig = attrs.field(
        factory=MailAuthConfig, metadata=_doc("[mailauth] table")
    )
    queue: QueueConfig = attrs.field(factory=QueueConfig, metadata=_doc("[queue] table"))
    outbound: OutboundConfig = attrs.field(
        factory=OutboundConfig, metadata=_doc("[outbound] table")
    )
    plugin: dict[str, dict[str, Any]] = attrs.field(
        factory=dict,
        metadata=_doc(
            "[plugin.NAME] tables: settings for plugin NAME, validated against the "
            "table the plugin declares; a table no loaded plugin declares is an error."
        ),
    )
