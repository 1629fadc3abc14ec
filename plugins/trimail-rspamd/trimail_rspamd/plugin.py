"""The plugin object: settings at start-up, one rspamd scan per received message."""

from __future__ import annotations

import logging
import ssl
import time
from typing import TYPE_CHECKING

from trimail.config.loader import structure_plugin_table
from trimail.plugins import ConfigTable, PluginContext, hookimpl
from trimail.verdicts import MessageVerdict, Reject
from trimail_rspamd.client import Clock, RspamdUnavailable, post_checkv2, request_headers
from trimail_rspamd.headers import unavailable_field
from trimail_rspamd.result import MalformedReply, parse_reply
from trimail_rspamd.settings import TABLE, RspamdSettings, is_loopback
from trimail_rspamd.verdict import R451_UNAVAILABLE, verdict_for

if TYPE_CHECKING:
    from trimail.config.model import Config
    from trimail.mail.envelope import Envelope
    from trimail.server.session_info import SessionInfo

log = logging.getLogger("trimail.rspamd")

SKIPPED_TOO_BIG = "skipped (message too big)"
UNAVAILABLE = "unavailable"


class RspamdPlugin:
    """Asks rspamd about each received message (``[plugin.rspamd]``).

    State: the validated settings, set by `trimail_startup` (or read from the config
    on first use if a host does not call it); nothing else is shared between threads.

    Args:
        clock: monotonic seconds, for the request deadline (tests inject one).
        ssl_context: for ``https://`` URLs; the default verifies certificates.
    """

    def __init__(
        self, *, clock: Clock = time.monotonic, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.clock = clock
        self.ssl_context = ssl_context
        self.settings: RspamdSettings | None = None
        self._config_seen: object = None

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        """Declare ``[plugin.rspamd]``; without that table the plugin is off."""
        return ConfigTable(TABLE, RspamdSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        """Take the validated settings; warn about setups that leak or cannot work.

        Warnings: plain http to a host that is not loopback (the message and any
        password travel in clear); ``timeout_seconds`` not below the server's
        ``plugin_timeout_seconds`` (the server would give up first, with 451 4.3.0
        whatever ``on_error`` says).
        """
        settings = context.settings(TABLE)
        if not isinstance(settings, RspamdSettings):
            return
        self.settings = settings
        self._config_seen = context.config
        endpoint = settings.endpoint
        if endpoint.scheme == "http" and not is_loopback(endpoint.host):
            log.warning(
                "rspamd: %s is plain http to a remote host: mail goes in clear", settings.url
            )
        if settings.timeout_seconds >= context.config.plugin_timeout_seconds:
            log.warning(
                "rspamd: timeout_seconds (%g) should be below plugin_timeout_seconds (%g)",
                settings.timeout_seconds,
                context.config.plugin_timeout_seconds,
            )
        log.info("rspamd: scanning with %s (on_error=%s)", settings.url, settings.on_error)

    @hookimpl
    def trimail_shutdown(self) -> None:
        """Forget the settings (no connection is kept open between messages)."""
        self.settings = None
        self._config_seen = None

    def settings_for(self, config: Config) -> RspamdSettings | None:
        """The settings from start-up, else validated from *config* (once per config)."""
        if self.settings is None or self._config_seen is not config:
            self.settings = structure_plugin_table(config, TABLE, RspamdSettings)
            self._config_seen = config
        return self.settings

    @hookimpl
    def trimail_message_filter(
        self,
        session: SessionInfo,
        envelope: Envelope,
        message: bytes,
        config: Config,
        queue_id: str = "",
    ) -> MessageVerdict | None:
        """Scan *message* with rspamd and map its action (`trimail_rspamd.verdict`).

        Skipped (None): the table is absent, or the client authenticated and
        ``scan_outbound`` is false. Not scanned: a message over ``max_size_bytes``
        (``X-Spamd-Result: skipped (message too big)``).

        Error handling: no usable answer (`RspamdUnavailable`, `MalformedReply`) is
        logged as a warning; ``on_error = "accept"`` delivers the message with
        ``X-Spamd-Result: unavailable``, ``"tempfail"`` answers 451 4.3.0.
        """
        settings = self.settings_for(config)
        if settings is None:
            return None
        if session.authenticated_as is not None and not settings.scan_outbound:
            return None
        if len(message) > settings.max_size_bytes:
            log.info("rspamd: not scanned, %d bytes > max_size_bytes", len(message))
            return MessageVerdict(add_headers=(unavailable_field(SKIPPED_TOO_BIG),))
        try:
            body = post_checkv2(
                settings.endpoint,
                request_headers(session, envelope, settings, queue_id),
                message,
                timeout_seconds=settings.timeout_seconds,
                clock=self.clock,
                ssl_context=self.ssl_context,
            )
            result = parse_reply(body)
        except (RspamdUnavailable, MalformedReply) as exc:
            return self._failed(settings, exc)
        log.info(
            "rspamd: %s, score %.2f / %.2f, from %s",
            result.action.value,
            result.score,
            result.required_score,
            session.peer_host,
        )
        return verdict_for(result, settings)

    def _failed(self, settings: RspamdSettings, exc: Exception) -> MessageVerdict:
        what = "bad answer" if isinstance(exc, MalformedReply) else "unavailable"
        if settings.on_error == "tempfail":
            log.warning("rspamd %s (%s): message refused with 451", what, exc)
            return MessageVerdict(reject=Reject(reply=R451_UNAVAILABLE))
        log.warning("rspamd %s (%s): message accepted unscanned", what, exc)
        return MessageVerdict(add_headers=(unavailable_field(UNAVAILABLE),))
