"""Who is greylisted, and the reply they get (RFC 6647)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from trimail.mail.reply import Reply
from trimail.verdicts import Reject
from trimail_greylist.settings import GreylistSettings, normalize_path_pattern, parse_network
from trimail_greylist.store import Decision, GreylistStore, Outcome, Timing, is_allowed
from trimail_greylist.triplet import client_address, make_triplet, path_key, path_matches

if TYPE_CHECKING:
    from trimail.mail.address import Mailbox, ReversePath
    from trimail.server.session_info import SessionInfo

log = logging.getLogger("trimail_greylist")

Clock = Callable[[], float]
"""Returns the current time in seconds since the epoch (``time.time``)."""

MX_LISTENER = "smtp"  # only mail from other servers is greylisted, never submission


def retry_text(seconds: float) -> str:
    """``"5 minutes"``, ``"45 seconds"``: how long to wait, rounded up, for a reply text."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def greylisted_reply(wait_seconds: float) -> Reply:
    """The 451 4.7.1 reply of a greylisted RCPT (RFC 6647 §2.1: a temporary failure,
    so a conforming client retries; RFC 3463 §3.8: X.7.1 delivery not authorized).

    Args:
        wait_seconds: how long until a retry can pass.
    """
    return Reply(
        code=451,
        enhanced_status="4.7.1",
        text=f"Greylisted, please try again in {retry_text(wait_seconds)} (RFC 6647)",
    )


class Greylist:
    """The greylisting policy over a `GreylistStore`: exemptions, decision, reply.

    Args:
        settings: the ``[plugin.greylist]`` table.
        store: the database.
        clock: the current time in epoch seconds (``time.time``; a fake one in tests).
    """

    def __init__(
        self, settings: GreylistSettings, store: GreylistStore, clock: Clock = time.time
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.timing = Timing(
            delay_seconds=settings.delay_seconds,
            retry_window_seconds=settings.retry_window_seconds,
            pass_lifetime_seconds=settings.pass_lifetime_seconds,
            auto_whitelist_after=settings.auto_whitelist_after,
        )
        self._networks = [parse_network(n) for n in settings.whitelist_networks]
        self._recipients = frozenset(
            normalize_path_pattern(p) for p in settings.whitelist_recipients
        )
        self._senders = frozenset(normalize_path_pattern(p) for p in settings.whitelist_senders)
        self._purge_lock = threading.Lock()
        self._next_purge = 0.0

    def exemption(
        self, session: SessionInfo, reverse_path: ReversePath, forward_path: Mailbox
    ) -> str | None:
        """Why this RCPT is never greylisted, or None if it may be.

        Exempt: authenticated sessions and listeners other than the MX (``smtp``)
        (RFC 6409 submission is for the server's own users), loopback clients unless
        ``greylist_loopback``, whitelisted client networks (configured or added with
        ``trimail greylist allow``), forward-paths and reverse-paths. The null
        reverse-path ``<>`` is greylisted like any other (bounces are retried too).

        Returns:
            A short reason for the log (``"authenticated"``, ``"loopback"``...), or None.
        """
        if session.authenticated_as is not None:
            return "authenticated"
        if session.listener != MX_LISTENER:
            return f"listener {session.listener}"
        address = client_address(session.peer_host)
        if address is not None and address.is_loopback and not self.settings.greylist_loopback:
            return "loopback"
        if is_allowed(address, self._networks):
            return "whitelisted network"
        if self._recipients and path_matches(path_key(forward_path), self._recipients):
            return "whitelisted recipient"
        if self._senders and path_matches(path_key(reverse_path), self._senders):
            return "whitelisted sender"
        if is_allowed(address, self.store.allowed()):
            return "allowed network"
        return None

    def decide(
        self, session: SessionInfo, reverse_path: ReversePath, forward_path: Mailbox
    ) -> Decision | None:
        """Greylist one RCPT: None if exempt, else the stored decision.

        Also purges expired rows, at most once per ``purge_interval_seconds`` per process.

        Raises:
            sqlite3.Error: the database failed.
        """
        if self.exemption(session, reverse_path, forward_path) is not None:
            return None
        now = self.clock()
        self._maybe_purge(now)
        triplet = make_triplet(
            session.peer_host,
            reverse_path,
            forward_path,
            ipv4_prefix_length=self.settings.ipv4_prefix_length,
            ipv6_prefix_length=self.settings.ipv6_prefix_length,
        )
        decision = self.store.check(triplet, now, self.timing)
        if decision.outcome in (Outcome.NEW, Outcome.TOO_EARLY):
            log.info(
                "greylisted (%s): %s <%s> -> <%s>",
                decision.outcome.value,
                triplet.network,
                triplet.reverse_path.strip("<>"),
                triplet.forward_path,
            )
        elif decision.outcome is Outcome.PASSED:
            log.info(
                "greylist passed after %.0f s: %s <%s> -> <%s>",
                now - decision.first_seen,
                triplet.network,
                triplet.reverse_path.strip("<>"),
                triplet.forward_path,
            )
        return decision

    def judge(
        self, session: SessionInfo, reverse_path: ReversePath, forward_path: Mailbox
    ) -> Reject | None:
        """The RCPT TO verdict: a 451 4.7.1 Reject while greylisted, else None."""
        decision = self.decide(session, reverse_path, forward_path)
        if decision is None or decision.accepted:
            return None
        return Reject(reply=greylisted_reply(decision.retry_at - self.clock()))

    def _maybe_purge(self, now: float) -> None:
        with self._purge_lock:
            if now < self._next_purge:
                return
            self._next_purge = now + self.settings.purge_interval_seconds
        purged = self.store.purge(now)
        if purged.triplets or purged.clients:
            log.info(
                "greylist: purged %d expired triplets and %d client networks",
                purged.triplets,
                purged.clients,
            )
