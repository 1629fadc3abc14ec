"""One SMTP connection: bytes <-> `trimail.smtp.ServerConnection` <-> policy and delivery.

The engine judges syntax and sequence; this session answers the policy events (HELO,
MAIL, RCPT, DATA, end of data) with hooks, routing and delivery, and owns the timeouts
(RFC 5321 §4.5.3.2) and the graceful-shutdown behaviour (421 4.3.2 at the next command).
"""

from __future__ import annotations

import base64
import datetime
import logging
import math
import secrets
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import trio

from trimail.config.model import SmtpListenerConfig, SubmissionListenerConfig
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mail.trace import with_protocol
from trimail.sasl import SCRAM_SHA_256, SaslError
from trimail.server.auth import LoginBlocked, ScramLogin, login_allowed, throttled_login
from trimail.server.delivery import (
    R250_RCPT_OK,
    R451_LOCAL_ERROR,
    DeliveryError,
    LocalDelivery,
    RoutedRecipient,
)
from trimail.server.session_info import SessionInfo
from trimail.server.spool import MessageBuffer
from trimail.server.submission import (
    R235_OK,
    R450_RATE_LIMITED,
    R454_BLOCKED,
    R501_BAD_SASL,
    R530_AUTH_REQUIRED,
    R535_BAD,
    R553_FROM_NOT_YOURS,
    R553_NOT_YOUR_ADDRESS,
    SaslExchange,
    SubmissionPolicy,
    from_addresses,
    missing_headers,
)
from trimail.server.transport import SocketTransport, StreamTransport, start_server_tls
from trimail.smtp import (
    NEED_DATA,
    PAUSED,
    Authenticate,
    AuthResponse,
    BadCommand,
    ChunkComplete,
    ConnectionClosed,
    DataCommand,
    Hello,
    Help,
    MailFrom,
    MessageAborted,
    MessageComplete,
    MessageData,
    Noop,
    Quit,
    RcptTo,
    RemoteProtocolError,
    Reset,
    ServerConnection,
    SmtpConfig,
    StartTls,
    Verify,
)
from trimail.users.db import UserInfo

if TYPE_CHECKING:
    from trimail.server.hooks import HookRunner


log = logging.getLogger("trimail.smtp")

RECV_BYTES = 64 * 1024  # one read; DATA is consumed in chunks this large

R250_OK = Reply(code=250, enhanced_status="2.0.0", text="Ok")
R250_SENDER_OK = Reply(code=250, enhanced_status="2.1.0", text="Ok")
R354_GO_AHEAD = Reply(code=354, text="End data with <CR><LF>.<CR><LF>")
R221_BYE = Reply(code=221, enhanced_status="2.0.0", text="Bye")
R220_READY_FOR_TLS = Reply(code=220, enhanced_status="2.0.0", text="Ready to start TLS")


class SessionClosed(Exception):
    """The session is over (peer left, QUIT, fatal error); the stream is to be closed."""


@attrs.define
class ServerContext:
    """What every SMTP session of one listener shares.

    Attributes:
        listener: name, e.g. ``"smtp"``.
        hostname: our name in the greeting.
        config: the listener's limits and timeouts.
        delivery: routing and local delivery.
        hooks: calls the plugins' hooks (in threads, with a timeout).
        spool_dir: where large messages are kept while they arrive.
        tls_context: offered with STARTTLS when set (RFC 3207).
        submission: set on submission listeners (RFC 6409): AUTH required, senders
            checked, no relaying yet.
        shutting_down: set when the server stops accepting; sessions then answer
            421 4.3.2 at their next command boundary (RFC 5321 §3.8).
        idle: cancel scopes of sessions waiting for a command, cancelled at shutdown.
    """

    listener: str
    hostname: str
    config: SmtpListenerConfig
    delivery: LocalDelivery
    hooks: HookRunner
    spool_dir: Path
    tls_context: ssl.SSLContext | None = None
    submission: SubmissionPolicy | None = None
    shutting_down: bool = False
    idle: set[trio.CancelScope] = attrs.field(factory=set)

    def engine_config(self, *, starttls: bool = True) -> SmtpConfig:
        """The sans-IO engine's limits, from the listener config.

        Args:
            starttls: False on implicit-TLS listeners (nothing to upgrade).
        """
        cfg = self.config
        return SmtpConfig(
            hostname=self.hostname,
            max_message_bytes=cfg.max_message_bytes,
            max_recipients=cfg.max_recipients,
            max_bad_commands=cfg.max_bad_commands,
            max_text_line_bytes=cfg.max_text_line_bytes,
            starttls=starttls and self.tls_context is not None,
        )

    def begin_shutdown(self) -> None:
        """Stop sessions at their next command boundary; wake the idle ones now."""
        self.shutting_down = True
        for scope in list(self.idle):
            scope.cancel()


class SmtpSession:
    """Drive one SMTP connection until QUIT, EOF, timeout, shutdown or a fatal error.

    Args:
        ctx: the listener's shared context.
        stream: the connected stream.
        info: the peer and local addresses.
    """

    def __init__(
        self,
        ctx: ServerContext,
        stream: trio.SocketStream,
        info: SessionInfo,
        *,
        implicit_tls: bool = False,
    ) -> None:
        self.ctx = ctx
        self.stream = stream
        self.implicit_tls = implicit_tls
        self.transport: SocketTransport | StreamTransport = SocketTransport(
            stream, send_stall_seconds=ctx.config.command_timeout_seconds
        )
        self.info = info
        self.conn = ServerConnection(ctx.engine_config(starttls=not implicit_tls))
        self.esmtp = False
        self._command_deadline: float | None = None
        self._reads = trio.CancelScope(deadline=math.inf)
        self.content = MessageBuffer(ctx.spool_dir)
        self.user: UserInfo | None = None
        self._sasl: SaslExchange | ScramLogin | None = None
        self._offer_auth()
        self._reset_transaction()

    def _reset_transaction(self) -> None:
        self.mail_from: MailFrom | None = None
        self.recipients: list[RoutedRecipient] = []
        self.content.discard()

    async def run(self) -> None:
        """Greet, then answer events until the session ends. Never raises on peer errors."""
        try:
            if self.implicit_tls:  # RFC 8314 §3.3: TLS first, then SMTP
                await self._handshake()
                self._offer_auth()
            await self._greet()
            # One scope for the whole session: its deadline is set only while a read
            # waits (one scope per read costs more than the reads). Cancelled (timeout,
            # or shutdown of an idle session) it ends the session with a 421.
            with self._reads:
                while True:
                    await self._step()
            if self.ctx.shutting_down:
                await self._send(self.conn.shutdown_reply())
            else:
                await self._send(self.conn.timeout_reply())  # RFC 5321 §4.5.3.2
        except SessionClosed:
            pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("%s: connection lost", self.info.peer_host)
        finally:
            self.content.discard()
            await self.transport.aclose()  # TLS: close_notify (RFC 8446 §6.1)

    async def _send(self, reply: Reply) -> None:
        data = self.conn.send(reply)
        try:
            await self.transport.send_all(data)
        except BaseException:
            self.conn.send_failed()
            raise

    async def _greet(self) -> None:
        reject = await self.ctx.hooks.envelope_filter("trimail_smtp_connect", session=self.info)
        if reject is not None:  # at the greeting only 554 or 421 may refuse (RFC 5321 §3.1)
            reply = reject.reply
            if reply.code not in (421, 554):
                reply = attrs.evolve(reply, code=421 if reply.code < 500 else 554)
            await self._send(reply)
            raise SessionClosed
        await self._send(Reply(code=220, text=f"{self.ctx.hostname} ESMTP trimail"))

    async def _receive(self) -> None:
        in_data = self.conn.in_data
        if self.ctx.shutting_down and not in_data:
            await self._send(self.conn.shutdown_reply())
            raise SessionClosed
        if in_data:  # each block of data within its timeout (RFC 5321 §4.5.3.2.6)
            deadline = trio.current_time() + self.ctx.config.data_timeout_seconds
        else:  # the whole command line within its timeout (§4.5.3.2.7), so a client
            # trickling one byte at a time cannot hold the session for ever
            if self._command_deadline is None:
                self._command_deadline = (
                    trio.current_time() + self.ctx.config.command_timeout_seconds
                )
            deadline = self._command_deadline
        reads = self._reads
        reads.deadline = deadline
        if not in_data:
            self.ctx.idle.add(reads)
        try:
            data = await self.transport.receive_some(RECV_BYTES)
        finally:
            self.ctx.idle.discard(reads)
            reads.deadline = math.inf  # replies and deliveries are never cut short
        self.conn.receive_data(bytes(data))

    async def _step(self) -> None:
        try:
            event = self.conn.next_event()
        except RemoteProtocolError as exc:
            await self._send(exc.reply)
            raise SessionClosed from None
        if event is NEED_DATA:
            await self._receive()
            return
        if event is PAUSED:  # cannot happen: every event is answered before the next
            raise AssertionError("SMTP engine paused with no reply owed")
        self._command_deadline = None
        if self.ctx.shutting_down and not isinstance(
            event, MessageData | MessageComplete | MessageAborted | ChunkComplete
        ):
            await self._send(self.conn.shutdown_reply())
            raise SessionClosed
        await self._dispatch(event)

    async def _dispatch(self, event: object) -> None:
        match event:
            case MessageData(data=data):
                self.content.append(data)
            case Hello():
                await self._hello(event)
            case MailFrom():
                await self._mail_from(event)
            case RcptTo():
                await self._rcpt_to(event)
            case DataCommand():
                await self._send(R354_GO_AHEAD)
            case ChunkComplete(size=size):
                await self._send(
                    Reply(code=250, enhanced_status="2.0.0", text=f"{size} octets received")
                )
            case MessageComplete():
                await self._message_complete()
            case MessageAborted(reply=reply):
                self._reset_transaction()
                await self._send(reply)
            case Reset(reply=reply):
                self._reset_transaction()
                await self._send(reply)
            case (
                Noop(reply=reply)
                | Verify(reply=reply)
                | Help(reply=reply)
                | BadCommand(reply=reply)
            ):
                await self._send(reply)
            case StartTls():
                await self._start_tls()
            case Authenticate(mechanism=mechanism, initial_response=data):
                await self._auth_step(mechanism, data)
            case AuthResponse(data=data):
                await self._auth_step(None, data)
            case Quit():
                await self._send(R221_BYE)
                raise SessionClosed
            case ConnectionClosed():
                raise SessionClosed
            case _:
                raise AssertionError(f"unexpected SMTP event {event!r}")

    def _offer_auth(self) -> None:
        """Submission offers password AUTH over TLS, or to loopback clients only."""
        if self.ctx.submission is not None and self.user is None:
            allowed = login_allowed(peer_host=self.info.peer_host, tls=self.info.tls)
            self.conn.offer_auth(self.ctx.submission.mechanisms if allowed else ())

    async def _auth_step(self, mechanism: str | None, data: bytes | None) -> None:
        """One round of AUTH (RFC 4954): a 334 challenge, or the verdict."""
        policy = self.ctx.submission
        assert policy is not None
        if mechanism == SCRAM_SHA_256:
            self._sasl = ScramLogin(
                auth=policy.auth,
                throttle=policy.throttle,
                users=policy.users,
                peer_host=self.info.peer_host,
                protocol="SMTP AUTH",
            )
        elif mechanism is not None:
            self._sasl = SaslExchange(mechanism=mechanism)
        if isinstance(self._sasl, ScramLogin):
            await self._scram_step(self._sasl, data)
            return
        assert self._sasl is not None
        try:
            result = self._sasl.step(data)
        except SaslError:
            self._sasl = None
            await self._send(R501_BAD_SASL)
            return
        if isinstance(result, Reply):
            await self._send(result)
            return
        self._sasl = None
        username, password = result
        try:
            user = await throttled_login(
                auth=policy.auth,
                throttle=policy.throttle,
                users=policy.users,
                peer_host=self.info.peer_host,
                username=username,
                password=password,
                protocol="SMTP AUTH",
            )
        except LoginBlocked:
            await self._send(R454_BLOCKED)
            return
        if user is None:
            await self._send(R535_BAD)
            return
        await self._authenticated(user)

    async def _scram_step(self, scram: ScramLogin, data: bytes | None) -> None:
        """One round of AUTH SCRAM-SHA-256 (RFC 4954 §4, RFC 7677).

        No initial response: an empty 334 asks for the client-first-message. The
        server-final-message goes out in a last 334, answered by an empty line.
        """
        if data is None:
            await self._send(Reply(code=334, text=""))
            return
        try:
            result = await scram.step(data)
        except SaslError:
            self._sasl = None
            await self._send(R501_BAD_SASL)
            return
        except LoginBlocked:
            self._sasl = None
            await self._send(R454_BLOCKED)
            return
        if isinstance(result, bytes):
            await self._send(Reply(code=334, text=base64.b64encode(result).decode("ascii")))
            return
        self._sasl = None
        if result is None:
            await self._send(R535_BAD)
            return
        await self._authenticated(result)

    async def _authenticated(self, user: UserInfo) -> None:
        self.user = user
        self.info = attrs.evolve(self.info, authenticated_as=user.address)
        await self._send(R235_OK)

    async def _start_tls(self) -> None:
        """STARTTLS (RFC 3207 §4): 220, handshake, then the engine starts over.

        The engine drops whatever plaintext followed the STARTTLS line when the 220 is
        sent (§4.2: command injection defence).
        """
        await self._send(R220_READY_FOR_TLS)
        await self._handshake()
        self.conn.start_tls_done()
        self.esmtp = False
        self._offer_auth()

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
            raise SessionClosed
        self.info = attrs.evolve(self.info, tls=True)
        self.transport = transport

    async def _hello(self, event: Hello) -> None:
        self.info = attrs.evolve(self.info, helo_identity=event.helo_identity)
        reject = await self.ctx.hooks.envelope_filter(
            "trimail_smtp_helo",
            session=self.info,
            helo_identity=event.helo_identity,
        )
        if reject is not None:
            await self._send(reject.reply)
            return
        self._reset_transaction()
        self.esmtp = event.command == "EHLO"
        if self.esmtp:
            await self._send(self.conn.ehlo_reply(self.ctx.hostname))
        else:
            await self._send(Reply(code=250, text=self.ctx.hostname))

    async def _mail_from(self, event: MailFrom) -> None:
        policy = self.ctx.submission
        if policy is not None:
            if self.user is None:  # RFC 6409 §4.3: submission needs authentication
                await self._send(R530_AUTH_REQUIRED)
                return
            if not policy.owns(self.user, event.reverse_path):
                log.info(
                    "%s: %s may not send as <%s>",
                    self.info.peer_host,
                    self.user.address,
                    event.reverse_path,
                )
                await self._send(R553_NOT_YOUR_ADDRESS)
                return
            if not policy.allow_message(self.user):
                log.warning(
                    "%s: %s is over its hourly limit", self.info.peer_host, self.user.address
                )
                await self._send(R450_RATE_LIMITED)
                return
        reject = await self.ctx.hooks.envelope_filter(
            "trimail_smtp_mail_from",
            session=self.info,
            reverse_path=event.reverse_path,
            parameters=event.parameters,
        )
        if reject is not None:
            await self._send(reject.reply)
            return
        self._reset_transaction()
        self.mail_from = event
        await self._send(R250_SENDER_OK)

    def _envelope(self) -> Envelope:
        assert self.mail_from is not None
        return Envelope(
            reverse_path=self.mail_from.reverse_path,
            forward_paths=tuple(r.forward_path for r in self.recipients),
            parameters=self.mail_from.parameters,
            helo_identity=self.info.helo_identity,
            smtputf8=self.mail_from.smtputf8,
        )

    async def _rcpt_to(self, event: RcptTo) -> None:
        routed = self.ctx.delivery.route(
            event.forward_path, authenticated=self.info.authenticated_as is not None
        )
        if isinstance(routed, Reply):
            log.info(
                "%s: RCPT <%s> refused: %d %s",
                self.info.peer_host,
                event.forward_path,
                routed.code,
                routed.enhanced_status,
            )
            await self._send(routed)
            return
        reject = await self.ctx.hooks.envelope_filter(
            "trimail_smtp_rcpt_to",
            session=self.info,
            envelope=self._envelope(),
            forward_path=event.forward_path,
        )
        if reject is not None:
            await self._send(reject.reply)
            return
        self.recipients.append(attrs.evolve(routed, parameters=event.parameters))
        await self._send(R250_RCPT_OK)

    def _from_header_refused(self, policy: SubmissionPolicy, user: UserInfo) -> bool:
        """True if From: names an address that is not the user's (when checked)."""
        config = self.ctx.config
        if not (isinstance(config, SubmissionListenerConfig) and config.check_from_header):
            return False
        addresses = from_addresses(self.content.head())
        refused = any(not policy.owns(user, address) for address in addresses)
        if refused:
            log.info("%s: %s sent a From: that is not theirs", self.info.peer_host, user.address)
        return refused

    async def _message_complete(self) -> None:
        envelope = self._envelope()
        queue_id = secrets.token_hex(6).upper()
        protocol = with_protocol(
            esmtp=self.esmtp,
            tls=self.info.tls,
            authenticated=self.info.authenticated_as is not None,
            smtputf8=envelope.smtputf8,
        )
        added = b""
        policy = self.ctx.submission
        if policy is not None and self.user is not None:
            if self._from_header_refused(policy, self.user):
                self._reset_transaction()
                await self._send(R553_FROM_NOT_YOURS)
                return
            added = missing_headers(  # RFC 6409 §8.1, §8.3
                self.content.head(),
                hostname=self.ctx.hostname,
                queue_id=queue_id,
                now=datetime.datetime.now(datetime.UTC),
            )
        try:
            reject = await self.ctx.delivery.deliver(
                session=self.info,
                envelope=envelope,
                recipients=self.recipients,
                message=self.content,
                queue_id=queue_id,
                protocol=protocol,
                added_headers=added,
            )
        except DeliveryError:
            reply = R451_LOCAL_ERROR
        except Exception:
            log.exception("%s: delivery %s failed", self.info.peer_host, queue_id)
            reply = R451_LOCAL_ERROR
        else:
            if reject is not None:
                reply = reject.reply
            else:
                reply = Reply(code=250, enhanced_status="2.0.0", text=f"Ok: queued as {queue_id}")
                log.info(
                    "%s: accepted %s from=<%s> to=%s size=%d",
                    self.info.peer_host,
                    queue_id,
                    envelope.reverse_path,
                    ",".join(f"<{p}>" for p in envelope.forward_paths),
                    self.content.size,
                )
        self._reset_transaction()
        await self._send(reply)
