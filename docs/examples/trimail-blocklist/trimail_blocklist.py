"""Refuse mail from listed senders: a complete trimail plugin (docs/plugins.md).

[plugin.blocklist]
senders = ["spammer@example.net", "bad.example"]   # addresses or whole domains
reply = "Your mail is not welcome here"
"""

from __future__ import annotations

import attrs

from trimail.mail.address import Mailbox, ReversePath
from trimail.mail.reply import Reply
from trimail.plugins import ConfigTable, PluginContext, hookimpl
from trimail.server.session_info import SessionInfo
from trimail.verdicts import Reject


def _lower(values: list[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values)


@attrs.frozen(kw_only=True)
class BlocklistSettings:
    """The ``[plugin.blocklist]`` table, validated by trimail with cattrs."""

    senders: frozenset[str] = attrs.field(converter=_lower)
    reply: str = "Sender refused by local policy"

    @senders.validator
    def _not_empty(self, _attribute: object, value: frozenset[str]) -> None:
        if not value:
            raise ValueError("senders: list at least one address or domain")


class Blocklist:
    """The plugin: one object, its settings set at start-up."""

    def __init__(self) -> None:
        self.settings: BlocklistSettings | None = None

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        return ConfigTable("blocklist", BlocklistSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        self.settings = context.settings("blocklist")

    @hookimpl
    def trimail_smtp_mail_from(
        self, session: SessionInfo, reverse_path: ReversePath
    ) -> Reject | None:
        if self.settings is None or not isinstance(reverse_path, Mailbox):
            return None  # <> (bounces) is never refused here
        if session.authenticated_as is not None:
            return None  # our own users
        address = reverse_path.normalized()
        domain = address.rpartition("@")[2]
        if address in self.settings.senders or domain in self.settings.senders:
            return Reject(reply=Reply(code=550, enhanced_status="5.7.1", text=self.settings.reply))
        return None


plugin = Blocklist()
