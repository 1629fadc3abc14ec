"""`SievePlugin`: the hooks. Runs each local user's script at delivery
(`trimail.hookspecs.trimail_local_delivery`) and sends vacation responses and redirected
messages via the outbox.
"""

from __future__ import annotations

import argparse
import collections
import email.utils
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from trimail.mail.reply import Reply
from trimail.plugins import ConfigTable, Outbox, hookimpl
from trimail.verdicts import DeliveryVerdict, Reject
from trimail_sieve import redirect, vacation
from trimail_sieve.interpreter import MessageData, Outcome, SieveRuntimeError, run
from trimail_sieve.script import Script, ScriptError, compile_script
from trimail_sieve.settings import TABLE, SieveSettings
from trimail_sieve.store import FILE_NAME, SieveStore

if TYPE_CHECKING:
    from trimail.mail.address import Mailbox
    from trimail.mail.envelope import Envelope
    from trimail.plugins import PluginContext

log = logging.getLogger("trimail.sieve")

CACHE_SIZE = 256  # compiled scripts kept, by digest of their source
MAX_REASON_CHARS = 200  # reject text in the SMTP reply (a line is at most 512 octets)
DEFAULT_REJECT_TEXT = "Message refused by the recipient's mail filter"
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")


def reject_reply(reason: str) -> Reply:
    """The SMTP reply for ``reject`` (RFC 5429 §2.1.1): 550 5.7.1 with the reason made
    one line of printable ASCII (RFC 5321 §4.2 textstring), at most
    `MAX_REASON_CHARS` characters."""
    text = " ".join(_NOT_PRINTABLE.sub(" ", reason).split())[:MAX_REASON_CHARS]
    return Reply(code=550, enhanced_status="5.7.1", text=text or DEFAULT_REJECT_TEXT)


def _path_text(path: object) -> str:
    local = getattr(path, "local_part", None)
    domain = getattr(path, "domain", None)
    if not local:
        return ""
    return f"{local}@{domain}" if domain else str(local)


class SievePlugin:
    """Per-user Sieve filtering; registered through the ``trimail`` entry point.

    Args:
        clock: seconds since the epoch (tests pass a fake one).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.settings: SieveSettings | None = None
        self.store: SieveStore | None = None
        self.outbox: Outbox | None = None
        self._cache: collections.OrderedDict[bytes, Script | ScriptError] = (
            collections.OrderedDict()
        )
        self._cache_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    @hookimpl
    def trimail_config_table(self) -> ConfigTable:
        """Declare ``[plugin.sieve]`` (see `trimail_sieve.settings.SieveSettings`)."""
        return ConfigTable(TABLE, SieveSettings)

    @hookimpl
    def trimail_startup(self, context: PluginContext) -> None:
        """Open the script database in ``DATA_DIR/plugins/sieve``.

        Raises:
            trimail_sieve.store.StoreError: the database cannot be opened.
        """
        settings = context.settings(TABLE)
        if settings is None:
            return
        self.start(settings, SieveStore(context.state_dir(TABLE) / FILE_NAME), context.outbox)

    def start(self, settings: SieveSettings, store: SieveStore, outbox: Outbox | None) -> None:
        """Set the plugin up without a server (what `trimail_startup` does; for tests)."""
        self.settings, self.store, self.outbox = settings, store, outbox

    @hookimpl
    def trimail_shutdown(self) -> None:
        """Close the database."""
        if self.store is not None:
            self.store.close()
            self.store = None

    @hookimpl
    def trimail_cli_commands(
        self,
        commands: argparse._SubParsersAction[argparse.ArgumentParser],
        common: argparse.ArgumentParser,
    ) -> None:
        """Add ``trimail sieve put|get|delete|list|check``."""
        from trimail_sieve.cli import add_commands

        add_commands(commands, common, clock=self.clock)

    # -- delivery ----------------------------------------------------------------------

    @hookimpl
    def trimail_local_delivery(
        self,
        envelope: Envelope,
        forward_path: Mailbox,
        address: str,
        account_id: str,
        message: bytes,
        mailbox_name: str,
    ) -> DeliveryVerdict | None:
        """Run the user's script on its copy (RFC 5228).

        Returns:
            None when the user has no script (the implicit keep); otherwise where to
            store the copy and with which flags, a discard, or a reject (550 5.7.1).

        Error handling: a broken stored script, a runtime error (a redirect loop, too
        many redirects) or a database error gives the implicit keep and one log line
        (RFC 5228 §2.10.6); a vacation response that cannot be sent is logged; a
        redirect that cannot be sent is logged and the implicit keep restored, so the
        message is never lost; nothing here fails the delivery.
        """
        if self.store is None or self.settings is None:
            return None
        try:
            stored = self.store.get(account_id)
        except Exception as exc:
            log.error("account %s: cannot read the script database: %s", account_id, exc)
            return None
        if stored is None:
            return None
        try:
            data = MessageData.from_message(
                message,
                envelope_from=_path_text(envelope.reverse_path),
                envelope_to=_path_text(forward_path),
                user_address=address,
            )
            outcome = run(
                self.compiled(stored.source),
                data,
                default_mailbox=mailbox_name,
                max_actions=self.settings.max_actions,
                max_redirects=self.settings.max_redirects,
            )
        except (ScriptError, SieveRuntimeError) as exc:
            log.warning("%s: script error, message kept: %s", address, exc)
            return None
        except Exception:  # a bug or a message Python's parsers choke on: still keep it
            log.exception("%s: script failed, message kept", address)
            return None
        if outcome.vacation is not None:
            self.respond(outcome, data, account_id, address, _path_text(forward_path))
        if outcome.redirects and not self.send_on(outcome, message, data, address):
            outcome = outcome.with_implicit_keep(mailbox_name)
        return verdict(outcome, address)

    def compiled(self, source: bytes) -> Script:
        """The checked script for *source*, from a small cache by digest.

        Raises:
            ScriptError: the stored script is broken (e.g. the limits changed).
        """
        assert self.settings is not None
        allow_redirect = self.settings.max_redirects > 0
        key = (
            hashlib.sha256(source).digest()
            + self.settings.max_script_bytes.to_bytes(8)
            + allow_redirect.to_bytes(1)
        )
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is None:
            try:
                cached = compile_script(
                    source,
                    max_bytes=self.settings.max_script_bytes,
                    allow_redirect=allow_redirect,
                )
            except ScriptError as exc:
                cached = exc
            with self._cache_lock:
                self._cache[key] = cached
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        if isinstance(cached, ScriptError):
            raise cached
        return cached

    def send_on(self, outcome: Outcome, message: bytes, data: MessageData, address: str) -> bool:
        """Send *message* on to each of the outcome's redirect addresses (RFC 5228 §4.2),
        one outbox message per address, from the user's own address (``<>`` for a
        message that came with ``<>``), with `trimail_sieve.redirect.LOOP_FIELD` on top.

        Returns:
            True if every redirect was queued; False if any was not (no outbox, the
            outbox refused or failed): the caller then restores the implicit keep.

        Error handling: never raises; each failure is one log line.
        """
        if self.outbox is None:
            log.error("%s: no outbox, redirect not sent, message kept", address)
            return False
        sender = redirect.envelope_sender(data.envelope_from, address)
        try:
            message_id = None
            if not data.headers.exists("message-id"):  # RFC 5322 §3.6.4 SHOULD have one
                message_id = email.utils.make_msgid(domain=address.rpartition("@")[2])
            body = redirect.redirected_message(message, user_address=address, message_id=message_id)
        except Exception:  # a bug: still keep the message
            log.exception("%s: cannot prepare the redirect, message kept", address)
            return False
        sent_all = True
        for recipient in outcome.redirects:
            try:
                queue_id = self.outbox.send(
                    reverse_path=sender, recipients=[recipient], message=body
                )
            except Exception as exc:
                log.error("%s: redirect to <%s> failed, message kept: %s", address, recipient, exc)
                sent_all = False
                continue
            log.info(
                "%s: redirected to <%s> from <%s>, queued as %s",
                address,
                recipient,
                sender,
                queue_id,
            )
        return sent_all

    def respond(
        self, outcome: Outcome, data: MessageData, account_id: str, address: str, to: str
    ) -> None:
        """Send the vacation response if the rules allow (RFC 5230 §4.5, §4.6, §4.2).

        Error handling: never raises; a failure is logged and the claim released.
        """
        action = outcome.vacation
        if action is None or self.store is None or self.settings is None:
            return
        sender = data.envelope_from
        why = vacation.reason_not_to_respond(
            headers=data.headers, sender=sender, user_addresses=[address, to, *action.addresses]
        )
        if why is not None:
            log.info("%s: no vacation response to <%s>: %s", address, sender, why)
            return
        if self.outbox is None:
            log.warning("%s: no outbox, vacation response not sent", address)
            return
        handle = action.handle if action.handle is not None else vacation.default_handle(action)
        period = vacation.period_seconds(
            action,
            min_days=self.settings.vacation_min_days,
            max_days=self.settings.vacation_max_days,
        )
        now = self.clock()
        try:
            previous = self.store.claim_vacation(
                account_id, handle, sender.lower(), now=now, period=period
            )
            if previous is None:
                log.info("%s: already responded to <%s> recently", address, sender)
                return
        except Exception as exc:
            log.error("%s: vacation log unavailable, no response: %s", address, exc)
            return
        try:
            response = vacation.build_response(
                action=action,
                headers=data.headers,
                sender=sender,
                user_address=address,
                now=now,
                aliases=[to],
            )
            queue_id = self.outbox.send(
                reverse_path="", recipients=[response.recipient], message=response.message
            )
        except Exception as exc:
            log.error("%s: vacation response to <%s> failed: %s", address, sender, exc)
            try:
                self.store.release_vacation(account_id, handle, sender.lower(), previous=previous)
            except Exception as again:
                log.error("%s: cannot release the vacation claim: %s", address, again)
            return
        log.info("%s: vacation response to <%s> queued as %s", address, sender, queue_id)


def verdict(outcome: Outcome, address: str) -> DeliveryVerdict:
    """Turn a run's outcome into a `trimail.verdicts.DeliveryVerdict`.

    Each copy gets its own flags (``flags_by_mailbox``: ``fileinto :flags`` on one
    copy, the internal flag variable on another; RFC 5232 §5).
    """
    if outcome.reject is not None:
        return DeliveryVerdict(reject=Reject(reply=reject_reply(outcome.reject)))
    if not outcome.deliveries:
        return DeliveryVerdict(discard=True)
    mailboxes = tuple(dict.fromkeys(d.mailbox for d in outcome.deliveries))
    flags: dict[str, frozenset[str]] = {}
    for d in outcome.deliveries:  # the same mailbox twice: one copy, the flags merged
        flags[d.mailbox] = flags.get(d.mailbox, frozenset()) | frozenset(d.flags)
    if len(set(flags.values())) == 1:  # the usual case: one flag set for every copy
        return DeliveryVerdict(mailboxes=mailboxes, flags=next(iter(flags.values())))
    return DeliveryVerdict(mailboxes=mailboxes, flags_by_mailbox=flags)
