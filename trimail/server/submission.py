"""Message submission (RFC 6409): who may send, as whom, and what is added.

Used by the SMTP session on the submission listeners (587 with STARTTLS, 465 with
implicit TLS, RFC 8314): AUTH before MAIL, the reverse-path must be the user's own
address or one of its aliases, local recipients are delivered at once and remote ones
go to the outbound queue, and Message-ID/Date are added when missing
(RFC 6409 §8.1, §8.3).
"""

from __future__ import annotations

import base64
import datetime
import email.parser
import email.policy
import email.utils
import re
import time
from collections.abc import Callable

import attrs

from trimail.mail.address import Mailbox, ReversePath
from trimail.mail.reply import Reply
from trimail.sasl import LOGIN_USERNAME_PROMPT, LoginServer, SaslError, parse_plain
from trimail.server.auth import AuthBackend, sasl_mechanisms
from trimail.server.throttle import LoginThrottle, SharedCounts
from trimail.users.db import Resolution, UserDatabase, UserInfo

HOUR_SECONDS = 3600.0
MECHANISMS = ("PLAIN", "LOGIN")  # password mechanisms: offered over TLS or loopback only
# and SCRAM-SHA-256 (RFC 7677) after them when the auth backend supports it

R530_AUTH_REQUIRED = Reply(code=530, enhanced_status="5.7.0", text="Authentication required")
R553_NOT_YOUR_ADDRESS = Reply(
    code=553, enhanced_status="5.7.1", text="Sender address is not yours (RFC 6409 §6.1)"
)
R235_OK = Reply(code=235, enhanced_status="2.7.0", text="Authentication successful")
R535_BAD = Reply(code=535, enhanced_status="5.7.8", text="Authentication credentials invalid")
R454_BLOCKED = Reply(
    code=454, enhanced_status="4.7.0", text="Too many failed logins; try again later"
)
R501_BAD_SASL = Reply(code=501, enhanced_status="5.5.2", text="Malformed SASL response")

_HEADER_END = re.compile(rb"\r\n\r\n")


@attrs.define
class SubmissionPolicy:
    """What the submission listeners share in one worker.

    Attributes:
        auth: the auth backend (hook ``trimail_auth_backend``).
        throttle: failed-login delays and blocks.
        users: the user database (senders, aliases).
        max_messages_per_hour: per user, across all workers.
        clock: monotonic seconds, the same in every worker.
        sent: messages per user, shared by the workers.
    """

    auth: AuthBackend
    throttle: LoginThrottle
    users: UserDatabase
    max_messages_per_hour: int = 500
    clock: Callable[[], float] = time.monotonic
    sent: SharedCounts = attrs.field(factory=SharedCounts)  # shared by the workers

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """What AUTH offers where passwords are allowed (RFC 4954 §3)."""
        return sasl_mechanisms(self.auth, *MECHANISMS)

    def allow_message(self, user: UserInfo) -> bool:
        """Count one message for *user*; False if over ``max_messages_per_hour``.

        The hour starts at the user's first message and counts in every worker.
        """
        now = self.clock()
        bucket = self.sent.bucket(f"sent:{user.address}")
        if self.sent.count(bucket, now, HOUR_SECONDS) >= self.max_messages_per_hour:
            return False
        self.sent.add(bucket, now, HOUR_SECONDS)
        return True

    def owns(self, user: UserInfo, reverse_path: ReversePath) -> bool:
        """True if *reverse_path* is the user's address or an alias delivering to it."""
        if not isinstance(reverse_path, Mailbox):
            return False
        resolution, accounts = self.users.resolve(reverse_path, catch_all=False)
        return resolution is Resolution.LOCAL and accounts == (user.account_id,)


@attrs.define
class SaslExchange:
    """One AUTH exchange (PLAIN or LOGIN) on the session side of the engine.

    ``step(data)`` takes the decoded client data (None for "no initial response") and
    returns either a 334 challenge to send, or the (username, password) pair.
    """

    mechanism: str
    _login: LoginServer = attrs.field(factory=LoginServer)

    def step(self, data: bytes | None) -> Reply | tuple[str, str]:
        """Advance; raises `SaslError` on malformed client data."""
        if self.mechanism == "PLAIN":
            if data is None:
                return Reply(code=334, text="")  # RFC 4954 §4: empty challenge
            credentials = parse_plain(data)
            if credentials.authzid and credentials.authzid.lower() != (credentials.authcid.lower()):
                raise SaslError("authorization identity differs from the user")
            return credentials.authcid, credentials.password
        # LOGIN: username, then password
        if data is None:
            return _challenge(LOGIN_USERNAME_PROMPT)
        prompt = self._login.step(data)
        if prompt is not None:
            return _challenge(prompt)
        return self._login.credentials


def _challenge(text: bytes) -> Reply:
    return Reply(code=334, text=base64.b64encode(text).decode("ascii"))


R450_RATE_LIMITED = Reply(
    code=450, enhanced_status="4.7.0", text="Too many messages this hour; try again later"
)
R553_FROM_NOT_YOURS = Reply(
    code=553, enhanced_status="5.7.1", text="From: header address is not yours (RFC 6409 §8)"
)


def from_addresses(head: bytes) -> list[Mailbox]:
    """The addresses in the From: field(s) of a header section (RFC 5322 §3.6.2).

    Parsing only reads: the message is never re-serialized. Unparsable entries come
    back as an empty Mailbox so that they never pass an ownership check. Header bytes
    are read as UTF-8 (RFC 6532), so an internationalized address keeps its domain.

    Args:
        head: the header section (or the whole message): pass all of it, a From:
            field after a cut-off would be missed.
    """
    match = _HEADER_END.search(head)
    header = head[: match.end()] if match else head
    text = header.decode("utf-8", errors="replace")
    parsed = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)
    found: list[Mailbox] = []
    for _name, address in email.utils.getaddresses(parsed.get_all("From") or []):
        local, at, domain = address.rpartition("@")
        found.append(
            Mailbox(local_part=local, domain=domain) if at else Mailbox(local_part="", domain="")
        )
    return found


def missing_headers(head: bytes, *, hostname: str, queue_id: str, now: datetime.datetime) -> bytes:
    """Message-ID and Date header fields for a submitted message that lacks them.

    Args:
        head: the start of the message (its header section, or more).
        hostname: for the Message-ID's right-hand side.
        queue_id: unique per message, for the Message-ID's left-hand side.
        now: timezone-aware, for Date.

    Returns:
        The fields to prepend (CRLF-terminated), possibly ``b""`` (RFC 6409 §8.1, §8.3).
    """
    match = _HEADER_END.search(head)
    header = b"\r\n" + (head[: match.start()] if match else head).lower()
    added = b""
    if b"\r\nmessage-id:" not in header:
        added += f"Message-ID: <{queue_id}@{hostname}>\r\n".encode()
    if b"\r\ndate:" not in header:
        added += f"Date: {email.utils.format_datetime(now)}\r\n".encode()
    return added
