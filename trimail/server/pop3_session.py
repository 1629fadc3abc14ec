"""One POP3 connection: bytes <-> `trimail.pop3.Pop3Connection` <-> the store.

The engine keeps the maildrop view (numbering, sizes, deletion marks) and answers what
it can; this session verifies logins, takes the maildrop lock, reads messages and, at
QUIT only, expunges what was deleted (RFC 1939 §6: never on a dropped connection).
"""

from __future__ import annotations

import logging
import math
import ssl

import attrs
import trio

from trimail.config.model import Pop3ListenerConfig
from trimail.pop3 import (
    NEED_DATA,
    Authenticate,
    ConnectionClosed,
    MaildropEntry,
    Pop3Config,
    Pop3Connection,
    Quit,
    RemoteProtocolError,
    Reply,
    Retrieve,
    SaslAuthenticate,
    SaslResponse,
    StartTls,
)
from trimail.sasl import SaslError
from trimail.server.auth import (
    AuthBackend,
    LoginBlocked,
    ScramLogin,
    login_allowed,
    sasl_mechanisms,
    throttled_login,
)
from trimail.server.session_info import SessionInfo
from trimail.server.throttle import LoginThrottle
from trimail.server.transport import SocketTransport, StreamTransport, start_server_tls
from trimail.storage.api import MaildropLock, MailStore, NoSuchMailbox, StorageError
from trimail.users.db import UserDatabase, UserInfo

log = logging.getLogger("trimail.pop3")

RECV_BYTES = 16 * 1024


class _SessionEnd(Exception):
    """The session is over; close the connection."""


@attrs.define
class Pop3Context:
    """What every POP3 session of one worker shares.

    Attributes:
        hostname: our name in the greeting.
        config: the ``[pop3]`` settings.
        store: the mail store.
        users: the user database (addresses to accounts).
        auth: checks user names and passwords (the ``trimail_auth_backend`` hook).
        throttle: failed-login delays and blocks.
        tls_context: for POP3S, and for STLS (RFC 2595) when *offer_stls*.
        offer_stls: offer STLS on the cleartext listener.
        shutting_down: set at shutdown; idle sessions are told and closed.
        idle: cancel scopes of sessions waiting for a command.
    """

    hostname: str
    config: Pop3ListenerConfig
    store: MailStore
    users: UserDatabase
    auth: AuthBackend
    throttle: LoginThrottle
    tls_context: ssl.SSLContext | None = None
    offer_stls: bool = True
    shutting_down: bool = False
    idle: set[trio.CancelScope] = attrs.field(factory=set)

    def begin_shutdown(self) -> None:
        """Wake idle sessions so they close now; busy ones close after their command."""
        self.shutting_down = True
        for scope in list(self.idle):
            scope.cancel()


class Pop3Session:
    """Drive one POP3 connection until QUIT, EOF, timeout or shutdown.

    Args:
        ctx: the shared context.
        stream: the accepted connection.
        info: peer and local addresses.
        implicit_tls: POP3S (RFC 8314 §3.3): the TLS handshake comes first.
    """

    def __init__(
        self,
        ctx: Pop3Context,
        stream: trio.SocketStream,
        info: SessionInfo,
        *,
        implicit_tls: bool = False,
    ) -> None:
        self.ctx = ctx
        self.info = info
        self.stream = stream
        self.implicit_tls = implicit_tls
        self.transport: SocketTransport | StreamTransport = SocketTransport(
            stream, send_stall_seconds=ctx.config.command_timeout_seconds
        )
        self.conn = Pop3Connection(
            Pop3Config(
                auth_allowed=implicit_tls or login_allowed(peer_host=info.peer_host, tls=info.tls),
                stls=ctx.offer_stls and ctx.tls_context is not None and not implicit_tls,
                sasl_mechanisms=sasl_mechanisms(ctx.auth, "PLAIN"),
            )
        )
        self.user: UserInfo | None = None
        self.lock: MaildropLock | None = None
        self.uids: list[int] = []
        self._reads = trio.CancelScope(deadline=math.inf)
        self._command_deadline: float | None = None
        self._scram: ScramLogin | None = None

    async def run(self) -> None:
        """Serve the session; never raises on peer errors."""
        try:
            if self.implicit_tls:
                await self._handshake()
            await self.transport.send_all(
                self.conn.greeting(f"{self.ctx.hostname} POP3 trimail ready")
            )
            with self._reads:
                while True:
                    await self._step()
            if self.ctx.shutting_down:  # woken while idle
                await self.transport.send_all(self.conn.shutdown_data())
            # else the autologout timer: close without a reply and without UPDATE
            # (RFC 1939 §3)
        except _SessionEnd:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("%s: connection lost", self.info.peer_host)
        finally:
            if self.lock is not None:
                self.lock.release()
            await self.transport.aclose()  # TLS: close_notify (RFC 8446 §6.1)

    async def _receive(self) -> None:
        if self.ctx.shutting_down:
            await self.transport.send_all(self.conn.shutdown_data())
            raise _SessionEnd
        if self._command_deadline is None:  # the whole command, not each byte of it
            self._command_deadline = trio.current_time() + self.ctx.config.command_timeout_seconds
        reads = self._reads
        reads.deadline = self._command_deadline
        self.ctx.idle.add(reads)
        try:
            data = await self.transport.receive_some(RECV_BYTES)
        finally:
            self.ctx.idle.discard(reads)
            reads.deadline = math.inf
        self.conn.receive_data(data)

    async def _step(self) -> None:
        try:
            event = self.conn.next_event()
        except RemoteProtocolError as exc:
            await self.transport.send_all(exc.data)
            raise _SessionEnd from None
        if event is NEED_DATA:
            await self._receive()
            return
        self._command_deadline = None
        match event:
            case Reply(data=data):
                await self.transport.send_all(data)
            case Authenticate():
                await self.transport.send_all(await self._login(event))
            case SaslAuthenticate() | SaslResponse():
                await self.transport.send_all(await self._sasl_step(event))
            case Retrieve():
                await self.transport.send_all(await self._retrieve(event))
            case StartTls():
                await self._start_tls()
            case Quit(deleted=deleted):
                await self.transport.send_all(await self._quit(deleted))
                raise _SessionEnd
            case ConnectionClosed():
                raise _SessionEnd  # no UPDATE state: deletions are dropped
            case _:
                raise AssertionError(f"unexpected POP3 event {event!r}")

    async def _start_tls(self) -> None:
        """STLS (RFC 2595 §4): +OK, handshake, then logins are offered."""
        await self.transport.send_all(self.conn.start_tls())
        await self._handshake()
        self.conn.start_tls_done(auth_allowed=True)

    async def _handshake(self) -> None:
        """TLS handshake on the connection; afterwards the transport is the TLS stream."""
        assert self.ctx.tls_context is not None
        transport = await start_server_tls(
            self.stream,
            self.ctx.tls_context,
            timeout_seconds=self.ctx.config.command_timeout_seconds,
        )
        if transport is None:
            log.info("%s: TLS handshake failed", self.info.peer_host)
            raise _SessionEnd
        self.info = attrs.evolve(self.info, tls=True)
        self.transport = transport

    async def _login(self, event: Authenticate) -> bytes:
        try:
            user = await throttled_login(
                auth=self.ctx.auth,
                throttle=self.ctx.throttle,
                users=self.ctx.users,
                peer_host=self.info.peer_host,
                username=event.username,
                password=event.password,
                protocol="POP3",
            )
        except LoginBlocked:
            return self.conn.reject_login("Too many failed logins; try later", code="SYS/TEMP")
        if user is None:
            return self.conn.reject_login("Invalid user name or password")
        return await self._open_maildrop(user)

    async def _sasl_step(self, event: SaslAuthenticate | SaslResponse) -> bytes:
        """One round of AUTH SCRAM-SHA-256 (RFC 5034 §4, RFC 7677).

        No initial response: the empty challenge asks for the client-first-message.
        The server-final-message goes out as a last challenge, answered empty.
        """
        if isinstance(event, SaslAuthenticate):
            self._scram = ScramLogin(
                auth=self.ctx.auth,
                throttle=self.ctx.throttle,
                users=self.ctx.users,
                peer_host=self.info.peer_host,
                protocol="POP3",
            )
            if event.initial_response is None:
                return self.conn.sasl_challenge(b"")
            data = event.initial_response
        else:
            data = event.data
        assert self._scram is not None and event.mechanism == "SCRAM-SHA-256"
        try:
            result = await self._scram.step(data)
        except SaslError as exc:
            return self.conn.reject_login(f"Malformed SCRAM message: {exc}")
        except LoginBlocked:
            return self.conn.reject_login("Too many failed logins; try later", code="SYS/TEMP")
        if isinstance(result, bytes):
            return self.conn.sasl_challenge(result)
        self._scram = None
        if result is None:
            return self.conn.reject_login("Invalid user name or password")
        return await self._open_maildrop(result)

    async def _open_maildrop(self, user: UserInfo) -> bytes:
        """Lock and list the logged-in user's maildrop; answer the login."""
        store, mailbox = self.ctx.store, self.ctx.config.mailbox_name

        def open_maildrop() -> tuple[MaildropLock | None, list[MaildropEntry], list[int]]:
            if not store.account_exists(user.account_id):
                store.create_account(user.account_id)
            lock = store.lock_maildrop(user.account_id)
            if lock is None:
                return None, [], []
            try:
                try:
                    status = store.mailbox_status(user.account_id, mailbox)
                except NoSuchMailbox:  # the configured maildrop: an empty one
                    store.create_mailbox(user.account_id, mailbox)
                    status = store.mailbox_status(user.account_id, mailbox)
                infos = store.list_messages(user.account_id, mailbox)
            except BaseException:
                lock.release()
                raise
            entries = [
                MaildropEntry(size=i.size, unique_id=f"{status.uidvalidity}.{i.uid}") for i in infos
            ]
            return lock, entries, [i.uid for i in infos]

        try:
            lock, entries, uids = await trio.to_thread.run_sync(open_maildrop)
        except StorageError as exc:
            log.error(
                "%s: cannot open the maildrop of %s: %s", self.info.peer_host, user.address, exc
            )
            return self.conn.reject_login("Maildrop unavailable; try later", code="SYS/TEMP")
        if lock is None:
            return self.conn.reject_login("Maildrop in use by another session", code="IN-USE")
        self.user, self.lock, self.uids = user, lock, uids
        log.info("%s: POP3 login %s, %d messages", self.info.peer_host, user.address, len(uids))
        return self.conn.accept_login(entries)

    async def _retrieve(self, event: Retrieve) -> bytes:
        assert self.user is not None
        account, mailbox = self.user.account_id, self.ctx.config.mailbox_name
        uid = self.uids[event.index]
        store = self.ctx.store
        try:
            data = await trio.to_thread.run_sync(store.read_message, account, mailbox, uid)
        except StorageError:
            return self.conn.send_error("The message cannot be read now")
        reply = self.conn.send_message(data)
        if event.top_lines is None and self.ctx.config.retr_marks_seen:
            try:
                await trio.to_thread.run_sync(store.add_flags, account, mailbox, [uid], ["\\Seen"])
            except StorageError:  # the message was sent; \\Seen is a nicety
                log.warning("%s: cannot set \\Seen on UID %d", self.info.peer_host, uid)
        return reply

    async def _quit(self, deleted: tuple[int, ...]) -> bytes:
        if self.user is None or not deleted:
            return self.conn.quit_done(True)
        uids = [self.uids[i] for i in deleted]
        account, mailbox = self.user.account_id, self.ctx.config.mailbox_name
        try:
            removed = await trio.to_thread.run_sync(self.ctx.store.expunge, account, mailbox, uids)
        except StorageError:
            log.exception("%s: expunge at QUIT failed", self.info.peer_host)
            return self.conn.quit_done(False)
        log.info(
            "%s: POP3 %s deleted %d messages", self.info.peer_host, self.user.address, len(removed)
        )
        return self.conn.quit_done(True)
