"""One IMAP connection: bytes <-> `trimail.imap.ImapConnection` <-> the store.

The engine parses commands and answers pure-protocol errors; this session runs each
command against the store and owns the selected mailbox's `MailboxView`. Commands are
run one at a time, in order (pipelined commands wait in the engine's buffer).

Command handlers live in three modules by subject: this one (connection, login,
SELECT, IDLE, ENABLE ...), `imap_mailboxes` (LIST, STATUS, CREATE, APPEND ...) and
`imap_messages` (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE).
"""

from __future__ import annotations

import bisect
import logging
import math
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

from trimail.config.model import ImapListenerConfig
from trimail.imap import (
    NEED_DATA,
    PAUSED,
    AuthCancelled,
    AuthResponse,
    CommandReceived,
    ConnectionClosed,
    IdleDone,
    ImapConfig,
    ImapConnection,
    LiteralRequest,
    RemoteProtocolError,
    Reply,
    State,
)
from trimail.imap import _commands as C
from trimail.imap._seqset import SequenceSet
from trimail.imap._values import encode_mailbox_name, render_flags
from trimail.sasl import SCRAM_SHA_256, SaslError, parse_plain
from trimail.server import imap_mailboxes, imap_messages
from trimail.server.auth import (
    AuthBackend,
    LoginBlocked,
    ScramLogin,
    login_allowed,
    sasl_mechanisms,
    throttled_login,
)
from trimail.server.imap_errors import CommandFailed
from trimail.server.imap_notify import ChangeNotifier
from trimail.server.imap_view import MailboxView, SyncUpdate, UidListCache
from trimail.server.session_info import SessionInfo
from trimail.server.throttle import LoginThrottle
from trimail.server.transport import SocketTransport, StreamTransport, start_server_tls
from trimail.storage.api import MailStore, NoSuchMailbox, StorageError
from trimail.users.db import UserDatabase, UserInfo

log = logging.getLogger("trimail.imap")

RECV_BYTES = 16 * 1024
FLUSH_BYTES = 64 * 1024  # write buffered responses once they reach this size
IDLE_KEEPALIVE_SECONDS = 120.0  # "* OK Still here" while idling (IMAP-NOTES §5)
SERVER_ID = (("name", "trimail"), ("vendor", "trimail"))
PERMANENT_SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
T = TypeVar("T")


class SessionEnd(Exception):
    """The session is over; close the connection."""


@attrs.define
class ImapContext:
    """What every IMAP session of one worker shares.

    Attributes:
        hostname: our name in the greeting.
        config: the ``[imap]`` settings.
        store: the mail store.
        users: the user database.
        auth: checks user names and passwords (the ``trimail_auth_backend`` hook).
        throttle: failed-login delays and blocks.
        notifier: wakes IDLE sessions on changes.
        tls_context: for IMAPS, and for STARTTLS when *offer_starttls*.
        offer_starttls: offer STARTTLS on the cleartext listener.
        shutting_down: set at shutdown; idle sessions are told ``* BYE`` and closed.
        idle: cancel scopes of sessions waiting for a command.
        uid_lists: recently selected mailboxes' UID lists (fast SELECT).
    """

    hostname: str
    config: ImapListenerConfig
    store: MailStore
    users: UserDatabase
    auth: AuthBackend
    throttle: LoginThrottle
    notifier: ChangeNotifier
    tls_context: ssl.SSLContext | None = None
    offer_starttls: bool = True
    shutting_down: bool = False
    idle: set[trio.CancelScope] = attrs.field(factory=set)
    uid_lists: UidListCache = attrs.field(factory=UidListCache)

    def begin_shutdown(self) -> None:
        """Wake idle sessions so they close now; busy ones close after their command."""
        self.shutting_down = True
        for scope in list(self.idle):
            scope.cancel()


class ImapSession:
    """Drive one IMAP connection until LOGOUT, EOF, timeout or shutdown.

    Args:
        ctx: the shared context.
        stream: the accepted connection.
        info: peer and local addresses.
        implicit_tls: IMAPS (RFC 8314 §3.3): the TLS handshake comes first.
    """

    def __init__(
        self,
        ctx: ImapContext,
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
            stream, send_stall_seconds=ctx.config.login_timeout_seconds
        )
        self.conn = ImapConnection(
            ImapConfig(
                starttls_available=ctx.tls_context is not None
                and ctx.offer_starttls
                and not implicit_tls,
                max_append_bytes=ctx.config.max_message_bytes,
                extra_capabilities=("BINARY", "MULTIAPPEND"),
                auth_mechanisms=sasl_mechanisms(ctx.auth, "PLAIN"),
            ),
            tls_active=implicit_tls,
            loopback=login_allowed(peer_host=info.peer_host, tls=False),
        )
        self.user: UserInfo | None = None
        self.view: MailboxView | None = None
        self.saved_search: list[int] = []  # UIDs of SEARCH RETURN (SAVE), RFC 5182
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._reads = trio.CancelScope(deadline=math.inf)
        self._command_deadline: float | None = None
        self._pending_auth: tuple[str, str] | None = None  # (tag, mechanism)

    # --- properties ------------------------------------------------------------------

    @property
    def account(self) -> str:
        """The logged-in account id."""
        assert self.user is not None
        return self.user.account_id

    @property
    def store(self) -> MailStore:
        """The mail store."""
        return self.ctx.store

    @property
    def utf8(self) -> bool:
        """UTF-8 names and strings are allowed (UTF8=ACCEPT or IMAP4rev2 enabled)."""
        return bool(self.conn.utf8_names)

    @property
    def rev2(self) -> bool:
        """IMAP4rev2 enabled (RFC 9051 rules)."""
        return bool(self.conn.rev2)

    @property
    def condstore(self) -> bool:
        """CONDSTORE is on: FETCH responses carry MODSEQ (RFC 7162 §3.1)."""
        return "CONDSTORE" in self.conn.enabled or "QRESYNC" in self.conn.enabled

    @property
    def qresync(self) -> bool:
        """QRESYNC is on: VANISHED replaces EXPUNGE (RFC 7162 §3.2.10)."""
        return "QRESYNC" in self.conn.enabled

    # --- output ----------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        """Queue response bytes; `flush` writes them."""
        self._out.append(data)
        self._out_bytes += len(data)

    async def flush(self) -> None:
        """Write the queued responses."""
        if self._out:
            data = b"".join(self._out)
            self._out, self._out_bytes = [], 0
            await self.transport.send_all(data)

    async def maybe_flush(self) -> None:
        """Write the queued responses if they are large (streaming big FETCH results)."""
        if self._out_bytes >= FLUSH_BYTES:
            await self.flush()

    def mailbox_name(self, name: str) -> bytes:
        """A mailbox name as the client reads it (modified UTF-7 unless UTF-8 is on)."""
        return encode_mailbox_name(name, utf8=self.utf8)

    async def thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in a worker thread.

        Raises:
            CommandFailed: ``NO [UNAVAILABLE]`` when the store fails (RFC 5530).
            NoSuchMailbox and other specific errors pass through for the caller.
        """
        try:
            return await trio.to_thread.run_sync(fn, *args)
        except NoSuchMailbox:
            raise
        except StorageError as exc:
            if type(exc) is not StorageError:
                raise
            log.error("%s: store error: %s", self.info.peer_host, exc)
            raise CommandFailed(
                "NO", "Temporary storage failure; try again", "UNAVAILABLE"
            ) from exc

    # --- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the session; never raises on peer errors."""
        try:
            if self.implicit_tls:
                await self._handshake()
            await self.transport.send_all(
                self.conn.greeting(f"{self.ctx.hostname} IMAP4rev2 trimail ready")
            )
            with self._reads:
                while True:
                    await self._step()
            # the read timed out or shutdown woke us while idle
            text = "Server shutting down" if self.ctx.shutting_down else "Autologout; idle too long"
            await self.transport.send_all(self.conn.bye(text))
        except SessionEnd:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("%s: connection lost", self.info.peer_host)
        finally:
            if self.user is not None:
                self.ctx.notifier.unwatch(self.account)
            await self.transport.aclose()  # TLS: close_notify (RFC 8446 §6.1)

    def _timeout(self) -> float:
        if self.conn.state == State.NOT_AUTHENTICATED:
            return self.ctx.config.login_timeout_seconds
        return self.ctx.config.autologout_seconds

    async def receive(self) -> bytes:
        """Read more bytes from the client (with the command/autologout deadline)."""
        if self.ctx.shutting_down:
            await self.flush()
            await self.transport.send_all(self.conn.bye("Server shutting down"))
            raise SessionEnd
        if self._command_deadline is None:
            self._command_deadline = trio.current_time() + self._timeout()
        reads = self._reads
        reads.deadline = self._command_deadline
        self.ctx.idle.add(reads)
        try:
            data = await self.transport.receive_some(RECV_BYTES)
        finally:
            self.ctx.idle.discard(reads)
            reads.deadline = math.inf
        return data

    async def _step(self) -> None:
        try:
            event = self.conn.next_event()
        except RemoteProtocolError as exc:
            await self.flush()
            await self.transport.send_all(exc.data)
            raise SessionEnd from None
        if event is NEED_DATA:
            await self.flush()
            self.conn.receive_data(await self.receive())
            return
        if event is PAUSED:  # pragma: no cover - we always answer before asking again
            raise AssertionError("engine paused with no reply owed")
        self._command_deadline = None
        match event:
            case Reply(data=data):
                self.emit(data)
            case LiteralRequest():
                self.emit(await imap_mailboxes.literal_request(self, event))
            case CommandReceived(tag=tag, command=command):
                await self._run_command(tag, command)
            case AuthResponse(tag=tag, data=data):
                await self._auth_response(tag, data)
            case AuthCancelled(tag=tag, reason=reason):
                self._pending_auth = None
                self.emit(self.conn.complete(tag, "BAD", f"AUTHENTICATE {reason}"))
            case IdleDone():  # pragma: no cover - consumed inside idle()
                raise AssertionError("IdleDone outside IDLE")
            case ConnectionClosed():
                await self.flush()
                raise SessionEnd
            case _:
                raise AssertionError(f"unexpected IMAP event {event!r}")

    async def _run_command(self, tag: str, command: C.Command) -> None:
        handler = _HANDLERS.get(type(command))
        if handler is None:
            handler = imap_mailboxes.HANDLERS.get(type(command)) or imap_messages.HANDLERS.get(
                type(command)
            )
        if handler is None:  # pragma: no cover - the engine only emits known commands
            self.emit(self.conn.complete(tag, "BAD", "Command not implemented"))
            return
        try:
            result = await handler(self, tag, command)
        except CommandFailed as exc:
            if self.view is not None and not isinstance(command, C.Select):
                await self.sync(expunge_ok=False)
            self.emit(self.conn.complete(tag, exc.status, exc.text, exc.code))
            return
        except NoSuchMailbox:
            self.emit(self.conn.complete(tag, "NO", "No such mailbox", "NONEXISTENT"))
            return
        if result is not None:
            self.emit(result)

    def ok(self, tag: str, text: str, code: str | None = None) -> bytes:
        """The tagged OK completion."""
        return self.conn.complete(tag, "OK", text, code)

    # --- sync points (IMAP-NOTES §1) -------------------------------------------------

    async def sync(self, *, expunge_ok: bool) -> None:
        """Report changes to the selected mailbox made since the last sync.

        Args:
            expunge_ok: the running command may report expunges (RFC 3501 §7.4.1).
        """
        view = self.view
        if view is None or self.user is None:
            return
        claim = not view.read_only and not self.rev2
        store, account, name = self.store, self.account, view.name

        def read() -> tuple[Any, int | None]:
            changes = store.changes_since(account, name, view.synced_modseq)
            mark = None
            if claim and changes.uidnext - 1 > (view.uids[-1] if view.uids else 0):
                mark = store.claim_recent(account, name)
            return changes, mark

        try:
            changes, mark = await self.thread(read)
        except NoSuchMailbox:
            if not await self._follow_rename():
                await self._mailbox_vanished()
            await self.sync(expunge_ok=expunge_ok)
            return
        if changes.uidvalidity != view.uidvalidity:
            await self._mailbox_vanished()
            return
        update = view.apply(changes, expunge_ok=expunge_ok, claim_recent=claim, recent_mark=mark)
        if update:
            self.emit_update(update)

    async def _follow_rename(self) -> bool:
        """The selected mailbox's name is gone: find it again by UIDVALIDITY (another
        session renamed it, RFC 3501 §6.3.5 keeps UIDVALIDITY); True if found."""
        view = self.view
        assert view is not None
        boxes = await self.thread(self.store.list_mailboxes, self.account)
        for box in boxes:
            if box.uidvalidity == view.uidvalidity and not box.noselect:
                view.name = box.name
                return True
        return False

    async def _mailbox_vanished(self) -> None:
        """The selected mailbox was deleted or replaced: the session cannot go on."""
        self.emit(self.conn.bye("The selected mailbox was deleted"))
        await self.flush()
        raise SessionEnd

    def emit_update(self, update: SyncUpdate) -> None:
        """Render a `SyncUpdate` in the order of IMAP-NOTES §1."""
        view = self.view
        assert view is not None
        if update.new_keywords:
            self.emit(self.flags_responses())
        if self.qresync and update.vanished:
            self.emit(
                b"* VANISHED " + str(SequenceSet.from_values(update.vanished)).encode() + b"\r\n"
            )
        else:
            for seq in update.expunged_seqs:
                self.emit(b"* %d EXPUNGE\r\n" % seq)
        if update.exists is not None:
            self.emit(b"* %d EXISTS\r\n" % update.exists)
        if update.recent is not None and not self.rev2:
            self.emit(b"* %d RECENT\r\n" % update.recent)
        for seq, item in update.flags:
            parts = [b"UID %d" % item.uid, b"FLAGS " + self.render_flags(item.uid, item.flags)]
            if self.condstore:
                parts.append(b"MODSEQ (%d)" % item.modseq)
            self.emit(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts)))

    def render_flags(self, uid: int, flags: frozenset[str] | set[str]) -> bytes:
        """FLAGS of a message as this session shows them (with ``\\Recent`` for rev1).

        A keyword the client was not told of yet is announced first, with ``* FLAGS``
        and ``* OK [PERMANENTFLAGS]`` (IMAP-NOTES §5): call this before queueing the
        response that carries the result.
        """
        view = self.view
        if view is not None:
            new = [f for f in flags if not f.startswith("\\") and f not in view.keywords]
            if new:
                view.keywords.update(new)
                self.emit(self.flags_responses())
            if uid in view.recent and not self.rev2:
                flags = set(flags) | {"\\Recent"}
        return render_flags(flags)

    def flags_responses(self) -> bytes:
        """``* FLAGS`` and ``* OK [PERMANENTFLAGS]`` for the selected mailbox."""
        view = self.view
        assert view is not None
        keywords = sorted(view.keywords)
        flags = render_flags([*PERMANENT_SYSTEM_FLAGS, *keywords])
        perm = b"()" if view.read_only else render_flags([*PERMANENT_SYSTEM_FLAGS, *keywords])
        if not view.read_only:
            perm = perm[:-1] + b" \\*)"
        return b"* FLAGS %s\r\n* OK [PERMANENTFLAGS %s] Flags permitted\r\n" % (flags, perm)

    # --- TLS -------------------------------------------------------------------------

    async def _handshake(self) -> None:
        assert self.ctx.tls_context is not None
        transport = await start_server_tls(
            self.stream,
            self.ctx.tls_context,
            timeout_seconds=self.ctx.config.login_timeout_seconds,
        )
        if transport is None:
            log.info("%s: TLS handshake failed", self.info.peer_host)
            raise SessionEnd
        self.info = attrs.evolve(self.info, tls=True)
        self.transport = transport

    async def starttls(self, tag: str, _command: C.StartTls) -> None:
        """STARTTLS (RFC 3501 §6.2.1, RFC 2595): OK, handshake, buffered input dropped."""
        if self.ctx.tls_context is None or not self.conn.config.starttls_available:
            raise CommandFailed("BAD", "STARTTLS not available")
        self.emit(self.ok(tag, "Begin TLS negotiation now"))
        await self.flush()
        await self._handshake()
        self.conn.start_tls_done()

    # --- not authenticated -----------------------------------------------------------

    async def login(self, tag: str, command: C.Login) -> bytes:
        """LOGIN (RFC 3501 §6.2.3); the engine refused it already without TLS."""
        return await self._check_login(tag, command.username, command.password, "IMAP LOGIN")

    async def authenticate(self, tag: str, command: C.Authenticate) -> bytes | None:
        """AUTHENTICATE PLAIN (RFC 4616) or SCRAM-SHA-256 (RFC 7677), with or without
        an initial response (SASL-IR, RFC 4959)."""
        mechanism = command.mechanism
        if mechanism not in self.conn.config.auth_mechanisms:
            raise CommandFailed("NO", f"Unsupported mechanism {mechanism}", "CANNOT")
        # the SCRAM exchange of this command; a new AUTHENTICATE starts another
        self._scram: ScramLogin | None = None
        if mechanism == SCRAM_SHA_256:
            self._scram = ScramLogin(
                auth=self.ctx.auth,
                throttle=self.ctx.throttle,
                users=self.ctx.users,
                peer_host=self.info.peer_host,
                protocol="IMAP AUTHENTICATE",
            )
        self._pending_auth = (tag, mechanism)
        if command.initial_response is None:
            self.emit(self.conn.auth_challenge(b""))
        else:
            await self._auth_response(tag, command.initial_response)
        return None

    async def _auth_response(self, tag: str, data: bytes) -> None:
        """The client's next AUTHENTICATE message: a challenge back, or the tagged reply.

        SCRAM's server-final-message goes out as one more challenge, answered by an
        empty line (RFC 3501 §6.2.2 has no success data).
        """
        pending, self._pending_auth = self._pending_auth, None
        try:
            if self._scram is None or pending is None or pending[1] != SCRAM_SHA_256:
                self.emit(await self._plain(tag, data))
                return
            try:
                result = await self._scram.step(data)
            except SaslError:
                raise CommandFailed("BAD", "Malformed SCRAM-SHA-256 message") from None
            except LoginBlocked:
                raise CommandFailed(
                    "NO", "Too many failed logins; try later", "UNAVAILABLE"
                ) from None
            if isinstance(result, bytes):
                self._pending_auth = pending
                self.emit(self.conn.auth_challenge(result))
                return
            self._scram = None
            if result is None:
                raise CommandFailed("NO", "Invalid user name or password", "AUTHENTICATIONFAILED")
            self.emit(await self._check_login(tag, result.address, "", "", verified=result))
        except CommandFailed as exc:
            self.emit(self.conn.complete(tag, exc.status, exc.text, exc.code))

    async def _plain(self, tag: str, message: bytes) -> bytes:
        try:
            creds = parse_plain(message)
        except SaslError:
            raise CommandFailed("BAD", "Malformed PLAIN response") from None
        if creds.authzid and creds.authzid != creds.authcid:
            raise CommandFailed("NO", "Proxy authorization is not allowed", "AUTHORIZATIONFAILED")
        return await self._check_login(tag, creds.authcid, creds.password, "IMAP AUTHENTICATE")

    async def _check_login(
        self,
        tag: str,
        username: str,
        password: str,
        protocol: str,
        *,
        verified: UserInfo | None = None,
    ) -> bytes:
        """Log in with *username* and *password* (LOGIN, AUTHENTICATE PLAIN), or as
        *verified*, a user a SCRAM exchange has authenticated already."""
        user = verified
        if user is None:
            try:
                user = await throttled_login(
                    auth=self.ctx.auth,
                    throttle=self.ctx.throttle,
                    users=self.ctx.users,
                    peer_host=self.info.peer_host,
                    username=username,
                    password=password,
                    protocol=protocol,
                )
            except LoginBlocked:
                raise CommandFailed(
                    "NO", "Too many failed logins; try later", "UNAVAILABLE"
                ) from None
        if user is None:
            raise CommandFailed("NO", "Invalid user name or password", "AUTHENTICATIONFAILED")
        store = self.store

        def open_account() -> None:
            if not store.account_exists(user.account_id):
                store.create_account(user.account_id)

        await self.thread(open_account)
        self.user = user
        self.ctx.notifier.watch(user.account_id)
        caps = " ".join(self.conn.capabilities(authenticated=True))
        return self.ok(tag, "Logged in", f"CAPABILITY {caps}")

    # --- any state -------------------------------------------------------------------

    async def noop(self, tag: str, _command: C.Noop | C.Check) -> bytes:
        """NOOP / CHECK: a sync point (RFC 3501 §6.1.2, §6.4.1)."""
        await self.sync(expunge_ok=True)
        return self.ok(tag, "Done")

    async def logout(self, tag: str, _command: C.Logout) -> None:
        """LOGOUT (RFC 3501 §6.1.3): BYE, tagged OK, close."""
        self.emit(b"* BYE Logging out\r\n")
        self.emit(self.ok(tag, "Logged out"))
        await self.flush()
        raise SessionEnd

    async def id(self, tag: str, command: C.Id) -> bytes:
        """ID (RFC 2971): say who we are."""
        fields = b" ".join(b'"%s" "%s"' % (k.encode(), v.encode()) for k, v in SERVER_ID)
        self.emit(b"* ID (%s)\r\n" % fields)
        if command.params:
            log.info("%s: client ID %s", self.info.peer_host, dict(command.params))
        return self.ok(tag, "ID completed")

    async def namespace(self, tag: str, _command: C.Namespace) -> bytes:
        """NAMESPACE (RFC 2342): one personal namespace, delimiter ``/``."""
        self.emit(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
        return self.ok(tag, "NAMESPACE completed")

    async def enable(self, tag: str, command: C.Enable) -> bytes:
        """ENABLE (RFC 5161): CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4rev2."""
        was_condstore = self.condstore
        self.emit(self.conn.enable(command.capabilities))
        if self.view is not None and self.condstore and not was_condstore:
            modseq = self.view.synced_modseq
            self.emit(b"* OK [HIGHESTMODSEQ %d] CONDSTORE enabled\r\n" % modseq)
        return self.ok(tag, "ENABLE completed")

    # --- SELECT / EXAMINE / CLOSE / UNSELECT -----------------------------------------

    async def select(self, tag: str, command: C.Select) -> bytes:
        """SELECT / EXAMINE (RFC 3501 §6.3.1-2, RFC 7162 §3.1.8, §3.2.5)."""
        if self.view is not None:
            self.view = None
            if self.qresync or self.rev2:  # RFC 7162 §3.2.11, RFC 9051 §6.3.2
                self.emit(b"* OK [CLOSED] Previous mailbox closed\r\n")
        if command.qresync is not None and not self.qresync:
            raise CommandFailed("BAD", "QRESYNC is not enabled")
        if command.condstore:
            self.conn.enable(["CONDSTORE"])
        read_only = isinstance(command, C.Examine)
        claim = not read_only and not self.rev2
        store, account = self.store, self.account

        cache = self.ctx.uid_lists

        def open_mailbox() -> tuple[Any, ...]:
            status = store.mailbox_status(account, command.mailbox)
            key = (account, status.name)
            cached = cache.get(key, status.uidvalidity)
            if cached is None:
                modseq, uids = store.message_uids(account, command.mailbox)
            else:
                changes = store.changes_since(account, command.mailbox, cached[0])
                if changes.uidvalidity != status.uidvalidity:
                    modseq, uids = store.message_uids(account, command.mailbox)
                else:
                    modseq, uids = changes.highestmodseq, cache.updated(cached[1], changes)
            cache.put(key, status.uidvalidity, modseq, uids)
            keywords = store.keywords(account, command.mailbox)
            # \Recent (rev1): claiming writes to the index; only when something is new
            mark = store.claim_recent(account, command.mailbox) if claim and status.recent else None
            unseen = store.first_unseen(account, command.mailbox) if status.unseen else None
            return status, modseq, uids, keywords, mark, unseen  # uids shared: never mutated

        try:
            status, modseq, uids, keywords, mark, unseen = await self.thread(open_mailbox)
        except NoSuchMailbox:
            raise CommandFailed("NO", "No such mailbox", "NONEXISTENT") from None
        view = MailboxView(
            name=status.name,
            uidvalidity=status.uidvalidity,
            uids=uids,
            synced_modseq=modseq,
            read_only=read_only,
            keywords=set(keywords),
        )
        if mark is not None:
            view.recent = set(uids[bisect.bisect_right(uids, mark) :])
        self.view = view
        self.saved_search = []
        self.emit(self.flags_responses())
        self.emit(b"* %d EXISTS\r\n" % view.exists)
        if not self.rev2:
            self.emit(b"* %d RECENT\r\n" % len(view.recent))
            first = None if unseen is None else view.seq_of(unseen)
            if first is not None:  # RFC 3501 §6.3.1 (dropped in rev2)
                self.emit(b"* OK [UNSEEN %d] First unseen\r\n" % first)
        self.emit(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % view.uidvalidity)
        self.emit(b"* OK [UIDNEXT %d] Predicted next UID\r\n" % status.uidnext)
        if self.condstore:
            self.emit(b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % modseq)
        if self.rev2:
            self.emit(b'* LIST () "/" ' + self.mailbox_name(view.name) + b"\r\n")
        if command.qresync is not None:
            await imap_messages.qresync_select(self, command.qresync)
        code = "READ-ONLY" if read_only else "READ-WRITE"
        verb = "EXAMINE" if read_only else "SELECT"
        return self.ok(tag, f"{verb} completed", code)

    async def close(self, tag: str, _command: C.Close) -> bytes:
        """CLOSE (RFC 3501 §6.4.2): expunge \\Deleted silently unless read-only."""
        view = self.view
        assert view is not None
        if not view.read_only:
            await imap_messages.expunge_deleted(self, None, report=False)
        self.view = None
        return self.ok(tag, "CLOSE completed")

    async def unselect(self, tag: str, _command: C.Unselect) -> bytes:
        """UNSELECT (RFC 3691): leave the mailbox without expunging."""
        self.view = None
        return self.ok(tag, "UNSELECT completed")

    # --- IDLE ------------------------------------------------------------------------

    async def idle(self, tag: str, _command: C.Idle) -> bytes:
        """IDLE (RFC 2177): push changes as they land until DONE."""
        notifier, account = self.ctx.notifier, self.account
        self.emit(self.conn.idle_started())
        await self.sync(expunge_ok=True)
        await self.flush()
        deadline = trio.current_time() + self.ctx.config.autologout_seconds

        async def push_changes() -> None:
            while True:
                event = notifier.event(account)
                with trio.move_on_after(IDLE_KEEPALIVE_SECONDS) as keepalive:
                    await event.wait()
                if keepalive.cancelled_caught:
                    self.emit(b"* OK Still here\r\n")
                else:
                    await self.sync(expunge_ok=True)
                await self.flush()

        async with trio.open_nursery() as nursery:  # pushes while waiting for DONE
            nursery.start_soon(push_changes)
            try:
                event = self.conn.next_event()
                while event is NEED_DATA:
                    if self.ctx.shutting_down or trio.current_time() > deadline:
                        raise SessionEnd
                    self._command_deadline = deadline
                    self.conn.receive_data(await self.receive())
                    event = self.conn.next_event()
            except RemoteProtocolError as exc:
                self.emit(exc.data)
                await self.flush()
                raise SessionEnd from None
            finally:
                nursery.cancel_scope.cancel()
        if isinstance(event, Reply):  # the engine refused the line (BAD)
            self.emit(event.data)
            return b""
        if isinstance(event, ConnectionClosed):
            raise SessionEnd
        if not isinstance(event, IdleDone):  # pragma: no cover
            raise AssertionError(f"unexpected event in IDLE: {event!r}")
        self._command_deadline = None
        return self.ok(tag, "IDLE terminated")


_HANDLERS: dict[type[C.Command], Callable[..., Any]] = {
    C.StartTls: ImapSession.starttls,
    C.Login: ImapSession.login,
    C.Authenticate: ImapSession.authenticate,
    C.Noop: ImapSession.noop,
    C.Check: ImapSession.noop,
    C.Logout: ImapSession.logout,
    C.Id: ImapSession.id,
    C.Namespace: ImapSession.namespace,
    C.Enable: ImapSession.enable,
    C.Select: ImapSession.select,
    C.Examine: ImapSession.select,
    C.Close: ImapSession.close,
    C.Unselect: ImapSession.unselect,
    C.Idle: ImapSession.idle,
}
