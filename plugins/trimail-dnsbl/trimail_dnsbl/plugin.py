"""The plugin object: trimail's hooks, wired to a `DnsblChecker`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from trimail.plugins import ConfigTable, PluginContext, hookimpl
from trimail.verdicts import MessageVerdict, Reject
from trimail_dnsbl.check import DnsblChecker, DnsblResult
from trimail_dnsbl.replies import header_field, reject_reply
from trimail_dnsbl.settings import TABLE, DnsblSettings

if TYPE_CHECKING:
    from trimail.mail.address import Mailbox
    from trimail.mail.envelope import Envelope
    from trimail.mailauth.resolver import Resolver
    from trimail.server.session_info import SessionInfo

log = logging.getLogger("trimail.dnsbl")

JUNK = "Junk"  # the mailbox "tag" files into (RFC 6154 \\Junk)
MX_LISTENER = "smtp"


class DnsblPlugin:
    """DNS blocklist checks of SMTP clients (RFC 5782), as a trimail plugin.

    State lives on the instance: `trimail_startup` reads ``[plugin.dnsbl]`` and the
    server's resolver; without the table trimail unregisters the plugin (it is inert).

    Args:
        clock: monotonic seconds for the checker's time budget and cache (tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.settings: DnsblSettings | None = None
        self.checker: DnsblChecker | None = None
        self.resolver: Resolver | None = None

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        """Declare ``[plugin.dnsbl]`` (validated by trimail at start-up)."""
        return ConfigTable(TABLE, DnsblSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        """Read the settings and keep the server's resolver (used from worker threads)."""
        settings = context.settings(TABLE)
        if not isinstance(settings, DnsblSettings):
            self.settings = self.checker = self.resolver = None
            return
        self.settings = settings
        self.checker = DnsblChecker(settings, clock=self.clock)
        self.resolver = context.resolver
        if self.resolver is None:  # check-config: not serving
            log.debug("dnsbl: no DNS resolver from the server; only messages are checked")
        if settings.timeout_seconds >= context.config.plugin_timeout_seconds:
            log.warning(
                "dnsbl: timeout_seconds (%g) should be below plugin_timeout_seconds (%g): "
                "else a slow list turns into 451 instead of failing open",
                settings.timeout_seconds,
                context.config.plugin_timeout_seconds,
            )
        if settings.action == "tag" and settings.reject_at == "connect":
            log.warning('dnsbl: reject_at has no effect with action = "tag"')
        where = "connect" if settings.reject_at == "connect" else "RCPT TO"
        log.info(
            "dnsbl: asking %s; %s at score %r%s",
            ", ".join(entry.zone for entry in settings.lists),
            f"reject at {where}" if settings.action == "reject" else "tag",
            settings.threshold,
            " (check_loopback = true: FOR TESTS ONLY)" if settings.check_loopback else "",
        )

    @hookimpl
    def trimail_shutdown(self) -> None:
        """Forget the settings, the cache and the resolver."""
        self.settings = self.checker = self.resolver = None

    def check(self, session: SessionInfo, resolver: Resolver | None = None) -> DnsblResult | None:
        """The lists' verdict on *session*'s client, or None when it is not checked.

        Not checked: other listeners than the MX one (``"smtp"``; submission is for
        our own users), authenticated sessions, and the clients `DnsblChecker.check`
        skips (internal, whitelisted).

        Args:
            session: the connection.
            resolver: the resolver to use; by default the one from `trimail_startup`.
        """
        resolver = resolver if resolver is not None else self.resolver
        if self.checker is None or resolver is None:
            return None
        if session.listener != MX_LISTENER or session.authenticated_as is not None:
            return None
        return self.checker.check(session.peer_host, resolver)

    @hookimpl
    def trimail_smtp_connect(self, session: SessionInfo) -> Reject | None:
        """With ``action = "reject"`` and ``reject_at = "connect"``: greet a blocked
        client with 554 5.7.1 instead of 220 (RFC 5321 §3.1)."""
        settings = self.settings
        if settings is None or settings.action != "reject" or settings.reject_at != "connect":
            return None
        result = self.check(session)
        if result is None or not result.blocked:
            return None
        log.info(
            "dnsbl: [%s] refused at connect (score %r)", result.address, round(result.score, 6)
        )
        return Reject(reply=reject_reply(result))

    @hookimpl
    def trimail_smtp_rcpt_to(
        self, session: SessionInfo, envelope: Envelope, forward_path: Mailbox
    ) -> Reject | None:
        """With ``action = "reject"`` and ``reject_at = "rcpt"``: refuse each RCPT TO
        from a blocked client with 554 5.7.1, except mail to postmaster when
        ``allow_postmaster`` (RFC 5321 §4.5.1)."""
        settings = self.settings
        if settings is None or settings.action != "reject" or settings.reject_at != "rcpt":
            return None
        if settings.allow_postmaster and forward_path.local_part.lower() == "postmaster":
            return None
        result = self.check(session)
        if result is None or not result.blocked:
            return None
        log.info(
            "dnsbl: [%s] refused MAIL FROM:<%s> RCPT TO:<%s> (score %r)",
            result.address,
            envelope.reverse_path,
            forward_path,
            round(result.score, 6),
        )
        return Reject(reply=reject_reply(result))

    @hookimpl
    def trimail_message_filter(
        self, session: SessionInfo, resolver: Resolver
    ) -> MessageVerdict | None:
        """Add ``X-DNSBL`` to a message from a listed client; with ``action = "tag"``
        file it into Junk when the score reaches the threshold.

        With ``action = "reject"`` a message gets here from a listed client only below
        the threshold or to postmaster: it gets the header field, and stays in INBOX.
        """
        settings = self.settings
        if settings is None:
            return None
        result = self.check(session, resolver)  # this thread's resolver, same cache
        if result is None or not result.listings:
            return None
        junk = settings.action == "tag" and result.blocked
        return MessageVerdict(
            add_headers=(header_field(result),), mailbox_name=JUNK if junk else None
        )
