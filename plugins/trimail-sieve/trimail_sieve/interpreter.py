"""Run a checked script against one message: the tests, the actions and the implicit keep
(RFC 5228 §2.10), imap4flags' internal variable (RFC 5232 §3), reject (RFC 5429),
redirect (RFC 5228 §4.2, RFC 3894 ``:copy``; recorded here, the plugin sends) and
vacation (RFC 5230; only recorded here, `trimail_sieve.vacation` decides and sends).

Pure: no I/O, no clock. A runtime error raises `SieveRuntimeError`; the caller then
does the implicit keep alone (RFC 5228 §2.10.6).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

from trimail_sieve.flags import merge_flags
from trimail_sieve.message import Address, Headers
from trimail_sieve.redirect import LOOP_FIELD, loop_detected
from trimail_sieve.script import (
    AddressTest,
    AllOf,
    AnyOf,
    Command,
    Constant,
    Discard,
    EnvelopeTest,
    ExistsTest,
    FileInto,
    FlagAction,
    HasFlag,
    HeaderTest,
    If,
    Keep,
    Not,
    Redirect,
    RejectAction,
    Script,
    SizeTest,
    Stop,
    Test,
    Vacation,
)


class SieveRuntimeError(Exception):
    """The script failed while running (RFC 5228 §2.10.6): too many actions or redirects,
    actions that exclude each other (reject with keep, fileinto, redirect or vacation,
    RFC 5429 §2.2; two vacations, RFC 5230 §4), or a redirect loop (RFC 5228 §4.2). The
    message is for the log."""


@attrs.frozen(kw_only=True)
class MessageData:
    """What the tests look at.

    Attributes:
        headers: the message's header fields.
        size: the message's size in octets (RFC 5228 §5.9).
        envelope_from: the reverse-path ``local@domain``, ``""`` for ``<>``.
        envelope_to: the forward-path that reached this user (RFC 5228 §5.4).
        user_address: the user's own address (``local@domain``), ``""`` if unknown; with
            *envelope_to*, what a redirect loop field is compared with.
    """

    headers: Headers
    size: int
    envelope_from: str
    envelope_to: str
    user_address: str = ""

    @classmethod
    def from_message(
        cls, message: bytes, *, envelope_from: str, envelope_to: str, user_address: str = ""
    ) -> MessageData:
        """Parse the header section of *message* (RFC 5322 bytes)."""
        return cls(
            headers=Headers.parse(message),
            size=len(message),
            envelope_from=envelope_from,
            envelope_to=envelope_to,
            user_address=user_address,
        )


@attrs.frozen(kw_only=True)
class Delivery:
    """One copy to store: an IMAP mailbox name and the flags of that copy."""

    mailbox: str
    flags: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Outcome:
    """What a run decided.

    Attributes:
        deliveries: copies to store, one per mailbox (RFC 5228 §2.10.3: never two in
            the same mailbox), the implicit keep included; empty when the message is
            discarded or rejected.
        reject: the reject reason (RFC 5429), or None.
        vacation: the vacation action to consider (RFC 5230), or None.
        redirects: forward-paths to send the message on to (RFC 5228 §4.2), each once
            (§2.10.3), in script order.
        implicit_keep: True if the implicit keep was not cancelled (RFC 5228 §2.10.2).
        keep_flags: the imap4flags variable at the end: the flags of the implicit keep
            (RFC 5232 §3), also when it is restored after a failed redirect.
    """

    deliveries: tuple[Delivery, ...] = ()
    reject: str | None = None
    vacation: Vacation | None = None
    redirects: tuple[str, ...] = ()
    implicit_keep: bool = True
    keep_flags: tuple[str, ...] = ()

    def with_implicit_keep(self, mailbox: str) -> Outcome:
        """This outcome with the implicit keep restored into *mailbox* (a redirect that
        could not be sent must not lose the message); unchanged if it was not cancelled.
        """
        if self.implicit_keep:
            return self
        deliveries = list(self.deliveries)
        for index, delivery in enumerate(deliveries):
            if delivery.mailbox == mailbox:  # one copy per mailbox, flags merged
                flags = merge_flags(delivery.flags, self.keep_flags, "addflag")
                deliveries[index] = Delivery(mailbox=mailbox, flags=flags)
                break
        else:
            deliveries.append(Delivery(mailbox=mailbox, flags=self.keep_flags))
        return attrs.evolve(self, deliveries=tuple(deliveries), implicit_keep=True)


MAX_RUN_SECONDS = 5.0  # a run's time budget: then the implicit keep (RFC 5228 §2.10.6)


def run(
    script: Script,
    message: MessageData,
    *,
    default_mailbox: str,
    max_actions: int,
    max_redirects: int = 4,
    max_seconds: float = MAX_RUN_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Run *script* on *message*.

    Args:
        script: a checked script (`trimail_sieve.script.compile_script`).
        message: the message's header fields, size and envelope.
        default_mailbox: where ``keep`` and the implicit keep store (``INBOX``, or what
            the message filters chose, e.g. ``Junk``).
        max_actions: most actions one run may take.
        max_redirects: most distinct redirect addresses one run may send to.
        max_seconds: the time budget of the run (checked before each comparison of
            a value with a key): a script may be small and still slow on a crafted
            message (thousands of header fields, long ``?`` patterns).
        clock: monotonic seconds (injected by tests).

    Returns:
        The decision.

    Raises:
        SieveRuntimeError: see the class; the caller keeps the message (§2.10.6).
    """
    state = _Run(
        message=message,
        default_mailbox=default_mailbox,
        max_actions=max_actions,
        max_redirects=max_redirects,
    )
    deadline = clock() + max_seconds

    def tick() -> None:
        if clock() > deadline:
            raise SieveRuntimeError(f"the script ran longer than {max_seconds:g} s")

    state.tick = tick
    state.block(script.commands)
    return state.outcome()


class _Run:
    def __init__(
        self, *, message: MessageData, default_mailbox: str, max_actions: int, max_redirects: int
    ) -> None:
        self.message = message
        self.default_mailbox = default_mailbox
        self.max_actions = max_actions
        self.max_redirects = max_redirects
        self.redirects: dict[str, str] = {}  # lower-cased address -> address
        self.actions = 0
        self.flags: tuple[str, ...] = ()  # imap4flags' internal variable (RFC 5232 §3)
        self.copies: dict[str, tuple[str, ...]] = {}
        self.implicit_keep = True
        self.kept = False  # keep or fileinto executed (for reject's exclusion)
        self.reject: str | None = None
        self.vacation: Vacation | None = None
        self.tick: Callable[[], None] = lambda: None  # the time budget (see run)

    def outcome(self) -> Outcome:
        if self.reject is not None:
            return Outcome(reject=self.reject, implicit_keep=False)
        if self.implicit_keep:
            self.store(self.default_mailbox, self.flags)
        deliveries = tuple(Delivery(mailbox=m, flags=f) for m, f in self.copies.items())
        return Outcome(
            deliveries=deliveries,
            vacation=self.vacation,
            redirects=tuple(self.redirects.values()),
            implicit_keep=self.implicit_keep,
            keep_flags=self.flags,
        )

    def count(self, what: str) -> None:
        self.actions += 1
        if self.actions > self.max_actions:
            raise SieveRuntimeError(f"more than {self.max_actions} actions ({what})")

    def store(self, mailbox: str, flags: tuple[str, ...]) -> None:
        if mailbox in self.copies:  # RFC 5228 §2.10.3: one copy; RFC 5232: flags merge
            flags = merge_flags(self.copies[mailbox], flags, "addflag")
        self.copies[mailbox] = flags

    # -- commands ----------------------------------------------------------------------

    def block(self, commands: tuple[Command, ...]) -> bool:
        """Run commands in order; True if ``stop`` was reached (RFC 5228 §3.3)."""
        return any(self.command(command) for command in commands)  # stops at the first

    def command(self, command: Command) -> bool:
        if isinstance(command, If):
            for test, body in command.branches:
                if test is None or self.test(test):
                    return self.block(body)
            return False
        if isinstance(command, Stop):
            return True
        self.action(command)
        return False

    def action(self, command: Command) -> None:
        self.count(type(command).__name__.lower())
        if isinstance(command, Keep):
            self.keep(self.default_mailbox, command.flags, cancel=True)
        elif isinstance(command, FileInto):
            self.keep(command.mailbox, command.flags, cancel=not command.copy)
        elif isinstance(command, Discard):
            self.implicit_keep = False  # RFC 5228 §4.4
        elif isinstance(command, Redirect):
            self.redirect(command)
        elif isinstance(command, RejectAction):
            self.do_reject(command.reason)
        elif isinstance(command, Vacation):
            self.do_vacation(command)
        elif isinstance(command, FlagAction):
            self.flags = merge_flags(self.flags, command.flags, command.operation)

    def keep(self, mailbox: str, flags: tuple[str, ...] | None, *, cancel: bool) -> None:
        if self.reject is not None:
            raise SieveRuntimeError("reject cannot be combined with keep or fileinto")
        self.store(mailbox, self.flags if flags is None else flags)
        self.kept = True
        if cancel:
            self.implicit_keep = False  # RFC 5228 §2.10.2, RFC 3894 §3 for :copy

    def redirect(self, command: Redirect) -> None:
        if self.reject is not None:
            raise SieveRuntimeError("reject cannot be combined with redirect (RFC 5429 §2.2)")
        mine = (self.message.user_address, self.message.envelope_to)
        if loop_detected(self.message.headers, mine):  # RFC 5228 §4.2: a loop is an error
            raise SieveRuntimeError(
                f"mail loop: the message already has {LOOP_FIELD} for this user,"
                f" not redirected to <{command.address}> again"
            )
        key = command.address.lower()
        if key not in self.redirects:  # RFC 5228 §2.10.3: the same address once
            if len(self.redirects) >= self.max_redirects:
                raise SieveRuntimeError(f"more than {self.max_redirects} redirects")
            self.redirects[key] = command.address
        if not command.copy:
            self.implicit_keep = False  # RFC 5228 §2.10.2, RFC 3894 §3 for :copy

    def do_reject(self, reason: str) -> None:
        if self.reject is not None:
            raise SieveRuntimeError("reject was executed twice (RFC 5429 §2.2)")
        if self.kept:
            raise SieveRuntimeError("reject cannot be combined with keep or fileinto")
        if self.redirects:
            raise SieveRuntimeError("reject cannot be combined with redirect (RFC 5429 §2.2)")
        if self.vacation is not None:
            raise SieveRuntimeError("reject cannot be combined with vacation (RFC 5429)")
        self.reject = reason
        self.implicit_keep = False

    def do_vacation(self, command: Vacation) -> None:
        if self.vacation is not None:
            raise SieveRuntimeError("vacation was executed twice (RFC 5230 §4)")
        if self.reject is not None:
            raise SieveRuntimeError("reject cannot be combined with vacation (RFC 5429)")
        self.vacation = command

    # -- tests -------------------------------------------------------------------------

    def test(self, test: Test) -> bool:
        if isinstance(test, Constant):
            return test.value
        if isinstance(test, Not):
            return not self.test(test.test)
        if isinstance(test, AllOf):
            return all(self.test(t) for t in test.tests)  # short-circuit, RFC 5228 §5.2
        if isinstance(test, AnyOf):
            return any(self.test(t) for t in test.tests)
        if isinstance(test, SizeTest):
            size = self.message.size
            return size > test.limit if test.over else size < test.limit
        if isinstance(test, ExistsTest):
            return all(self.message.headers.exists(name) for name in test.names)
        if isinstance(test, HeaderTest):
            headers = self.message.headers
            return any(
                test.match.any_value(headers.decoded(name), self.tick) for name in test.names
            )
        if isinstance(test, AddressTest):
            headers = self.message.headers
            return any(
                test.match.any_value(_parts(headers.addresses(name), test.part), self.tick)
                for name in test.names
            )
        if isinstance(test, EnvelopeTest):
            return any(
                test.match.any_value(self.envelope(p, test.part), self.tick) for p in test.parts
            )
        if isinstance(test, HasFlag):
            return test.match.any_value(self.flags, self.tick)
        raise SieveRuntimeError(f"unknown test {type(test).__name__}")  # pragma: no cover

    def envelope(self, name: str, part: str) -> list[str]:
        if name == "from":
            if not self.message.envelope_from:  # RFC 5228 §5.4: <> is "" for any part
                return [""]
            return _parts([Address.parse(self.message.envelope_from)], part)
        return _parts([Address.parse(self.message.envelope_to)], part)


def _parts(addresses: list[Address], part: str) -> list[str]:
    values = (address.part(part) for address in addresses)
    return [value for value in values if value is not None]
