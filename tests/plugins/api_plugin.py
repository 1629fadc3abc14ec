"""A plugin used by the tests: one object using every part of the plugin API 1.0.

Loaded with ``plugins = ["tests.plugins.api_plugin:plugin"]`` and a ``[plugin.api_test]``
table. It writes what it sees into its state directory, so tests can read it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import attrs

from trimail.mail.reply import Reply
from trimail.plugins import ConfigTable, PluginContext, QueueEvent, hookimpl
from trimail.verdicts import DeliveryVerdict, Reject


@attrs.frozen(kw_only=True)
class ApiTestSettings:
    slow_seconds: float = attrs.field(default=5.0)
    notice_to: str = ""
    route_domain: str = ""
    route_to: str = ""

    @slow_seconds.validator
    def _positive(self, _attribute: object, value: float) -> None:
        if value <= 0:
            raise ValueError("slow_seconds: must be more than 0")


class ApiTestPlugin:
    def __init__(self) -> None:
        self.settings = ApiTestSettings()
        self.state: Path | None = None
        self.context: PluginContext | None = None

    def _record(self, name: str, item: Any) -> None:
        assert self.state is not None
        with (self.state / name).open("a", encoding="utf-8") as f:
            f.write(json.dumps(item) + "\n")

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        return ConfigTable("api_test", ApiTestSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        self.settings = context.settings("api_test")
        self.context = context
        self.state = context.state_dir("api_test")
        self._record("lifecycle", "startup")

    @hookimpl
    def trimail_shutdown(self) -> None:
        self._record("lifecycle", "shutdown")

    @hookimpl
    def trimail_smtp_connect(self, session: Any) -> Reject | None:
        if session.peer_host == "127.0.0.3":
            raise RuntimeError("a plugin bug at connect time")
        if session.peer_host == "127.0.0.4":  # 450 is no greeting code: sent as 421
            return Reject(reply=Reply(code=450, enhanced_status="4.7.0", text="Later"))
        return None

    @hookimpl
    def trimail_smtp_rcpt_to(self, forward_path: Any) -> Reject | None:
        if forward_path.local_part.startswith("slow"):
            time.sleep(self.settings.slow_seconds)
        return None

    @hookimpl
    def trimail_local_delivery(
        self, forward_path: Any, address: str, account_id: str, message: bytes, mailbox_name: str
    ) -> DeliveryVerdict | None:
        self._record(
            "deliveries",
            {
                "to": str(forward_path),
                "address": address,
                "default": mailbox_name,
                "has_trace": message.startswith(b"Return-Path: "),
            },
        )
        if "filed" in message.decode("latin-1").split("\r\n\r\n")[0]:
            return DeliveryVerdict(
                mailboxes=("Filed", "INBOX"),
                flags=frozenset({"\\Flagged", "$Label1"}),
                flags_by_mailbox={"INBOX": frozenset({"\\Seen"})},
            )
        if address.startswith("dropper@"):
            return DeliveryVerdict(discard=True)
        if address.startswith("busy@"):
            return DeliveryVerdict(
                reject=Reject(reply=Reply(code=451, enhanced_status="4.2.1", text="Busy"))
            )
        if address.startswith("refuser@"):
            return DeliveryVerdict(
                reject=Reject(
                    reply=Reply(code=550, enhanced_status="5.7.1", text="Not wanted here")
                )
            )
        if address.startswith("notifier@") and self.context and self.context.outbox:
            notice = (
                f"From: notifier <{address}>\r\nTo: <{self.settings.notice_to}>\r\n"
                "Subject: you have mail\r\nDate: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
                f"Message-ID: <notice.{time.time_ns()}@example.org>\r\n"
                "Auto-Submitted: auto-generated\r\n\r\nA message came for notifier.\r\n"
            ).encode()
            self.context.outbox.send(
                reverse_path="", recipients=[self.settings.notice_to], message=notice
            )
        return None

    @hookimpl
    def trimail_outbound_route(self, domain: str) -> str | None:
        if domain == self.settings.route_domain:
            return self.settings.route_to
        return None

    @hookimpl
    def trimail_queue_event(self, event: QueueEvent) -> None:
        self._record(
            "events", {"kind": event.kind.value, "to": event.recipient or list(event.recipients)}
        )


plugin = ApiTestPlugin()
