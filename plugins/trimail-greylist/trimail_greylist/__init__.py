"""Greylisting for trimail's MX listener (RFC 6647), in the manner of postgrey.

A new (client network, reverse-path, forward-path) triplet gets ``451 4.7.1`` at RCPT
TO; a retry after ``delay_seconds`` passes, and the triplet is then accepted for
``pass_lifetime_seconds`` after each use. Configured by a ``[plugin.greylist]`` table;
without one the plugin is off::

    [plugin.greylist]
    delay_seconds = 300
    whitelist_networks = ["192.0.2.0/24"]

The state lives in ``DATA_DIR/plugins/greylist/greylist.sqlite3``; ``trimail greylist
list|purge|allow`` looks at and manages it.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import TYPE_CHECKING

from trimail.plugins import ConfigTable, PluginContext, hookimpl
from trimail.verdicts import Reject
from trimail_greylist import cli
from trimail_greylist.policy import Clock, Greylist, greylisted_reply
from trimail_greylist.settings import GreylistSettings
from trimail_greylist.store import DB_NAME, GreylistStore, GreylistStoreError, Outcome
from trimail_greylist.triplet import Triplet, make_triplet

if TYPE_CHECKING:
    from trimail.mail.address import Mailbox
    from trimail.mail.envelope import Envelope
    from trimail.server.session_info import SessionInfo

__all__ = [
    "Greylist",
    "GreylistPlugin",
    "GreylistSettings",
    "GreylistStore",
    "GreylistStoreError",
    "Outcome",
    "Triplet",
    "greylisted_reply",
    "make_triplet",
    "plugin",
]

TABLE = "greylist"

log = logging.getLogger("trimail_greylist")


class GreylistPlugin:
    """The plugin object registered by the ``trimail_greylist`` entry point.

    Args:
        clock: the current time in epoch seconds (``time.time``; a fake one in tests).
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self.greylist: Greylist | None = None
        self._warned = threading.Event()

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        """Declare ``[plugin.greylist]`` (validated by trimail when the config is loaded)."""
        return ConfigTable(TABLE, GreylistSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        """Open ``DATA_DIR/plugins/greylist/greylist.sqlite3`` when the table is set.

        Raises:
            GreylistStoreError: the database cannot be opened (names the file and why).
        """
        settings: GreylistSettings | None = context.settings(TABLE)
        if settings is None:
            return
        store = GreylistStore(context.state_dir(TABLE) / DB_NAME)
        self.greylist = Greylist(settings, store, self.clock)

    @hookimpl
    def trimail_shutdown(self, context: PluginContext) -> None:
        """Close the database (*context* is unused)."""
        greylist, self.greylist = self.greylist, None
        if greylist is not None:
            greylist.store.close()

    @hookimpl
    def trimail_smtp_rcpt_to(
        self, session: SessionInfo, envelope: Envelope, forward_path: Mailbox
    ) -> Reject | None:
        """Greylist the triplet of this RCPT TO (RFC 6647 §2.1).

        Returns:
            A 451 4.7.1 Reject for a new triplet or a retry before ``delay_seconds``;
            None for a triplet that passed, or an exempt session, client or path.

        Raises:
            sqlite3.Error: the database failed; the server answers 451 4.3.0.
        """
        greylist = self.greylist
        if greylist is None:  # trimail_startup was not called: fail open, say so once
            if not self._warned.is_set():
                self._warned.set()
                log.warning("greylist: not started (no trimail_startup call); not greylisting")
            return None
        return greylist.judge(session, envelope.reverse_path, forward_path)

    @hookimpl
    def trimail_cli_commands(
        self,
        commands: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        """Add ``trimail greylist list|purge|allow``."""
        cli.add_commands(commands, common)


plugin = GreylistPlugin()
"""The instance the ``trimail_greylist`` entry point registers."""
