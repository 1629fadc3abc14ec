"""Plugins that break the rules, for the loading tests (one object per mistake)."""

from __future__ import annotations

from trimail.plugins import hookimpl


class WrongArgument:
    @hookimpl
    def trimail_smtp_mail_from(self, session: object, sender: object) -> None:  # not a hook arg
        return None


class AsyncHook:
    @hookimpl
    async def trimail_smtp_rcpt_to(self, forward_path: object) -> None:
        return None


class TableFails:
    @hookimpl
    def trimail_config_table(self) -> None:
        raise RuntimeError("cannot say")


wrong_argument = WrongArgument()
async_hook = AsyncHook()
table_fails = TableFails()
