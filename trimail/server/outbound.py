"""Outbound SMTP: hand one domain's recipients of a queue entry to its next hop.

Routing (RFC 5321 §5.1): a per-domain transport from ``[outbound] transports``, else
the relayhost, else the domain's MX records in preference order (an implicit MX when
there are none; a null MX, RFC 7505, or a domain that does not exist fails at once).
Each host's addresses are tried in turn until one holds a session; a session uses
STARTTLS when offered (opportunistic, RFC 7435, falling back to plain text when the
handshake fails), PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN and CHUNKING as the
server offers them, through the sans-IO `trimail.smtp.ClientConnection`.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Sequence

import attrs
import trio

from trimail.config.model import Config, OutboundConfig, is_ip_address, parse_destination
from trimail.mail.address import NULL_PATH
from trimail.mail.dsn import DsnRcptParams, xtext_encode
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.mailauth.resolver import TempError
from trimail.queue.schedule import Outcome, RecipientResult
from trimail.queue.spool import QueuedRecipient, QueueEntry
from trimail.server.dns import DnsResolver, MxStatus
from trimail.server.hooks import HookFailed, HookRunner
from trimail.smtp import (
    NEED_DATA,
    AuthChallenge,
    ClientConfig,
    ClientConnection,
    CommandReply,
    ConnectionClosed,
    EhloResult,
    Extensions,
    Greeting,
    ServiceClosing,
    SmtpProtocolError,
)

log = logging.getLogger("trimail.outbound")

RECEIVE_BYTES = 65536


@attrs.frozen(kw_only=True)
class NextHop:
    """One host to try for a domain.

    Attributes:
        host: host name or IP address.
        port: TCP port.
        relay: the configured relayhost (TLS verified, AUTH when configured).
        implicit_tls: TLS from the first byte (port 465, RFC 8314).
        implicit: the domain has no MX records; this is the domain itself (§5.1).
    """

    host: str
    port: int
    relay: bool = False
    implicit_tls: bool = False
    implicit: bool = False


class _TryNext(Exception):
    """This address did not hold a session; try the next one."""

    def __init__(self, text: str, *, plain_retry: bool = False) -> None:
        super().__init__(text)
        self.plain_retry = plain_retry


class _Failed(Exception):
    """Every recipient gets the same result (e.g. MAIL refused, size over the limit)."""

    def __init__(self, outcome: Outcome, reply: str, status: str) -> None:
        super().__init__(reply)
        self.outcome, self.reply, self.status = outcome, reply, status


def reply_text(reply: Reply) -> str:
    """A reply on one line: ``"550 5.1.1 No such user"`` (for logs and DSNs)."""
    text = " ".join(line for line in reply.text if line)
    parts = [str(reply.code), reply.enhanced_status or "", text]
    return " ".join(p for p in parts if p)


def reply_status(reply: Reply) -> str:
    """The enhanced status of *reply*, or the generic one for its class (RFC 3463)."""
    if reply.enhanced_status:
        return reply.enhanced_status
    return f"{reply.code // 100}.0.0"


def _outcome(reply: Reply, *, rcpt: bool = False) -> Outcome:
    if reply.code < 400:
        return Outcome.DELIVERED
    if rcpt and reply.code == 552:  # RFC 5321 §4.5.3.1.10: "too many recipients"
        return Outcome.TEMPORARY
    return Outcome.TEMPORARY if reply.code < 500 else Outcome.PERMANENT


class SmtpTransport:
    """Delivers queue entries to remote domains over SMTP.

    Args:
        config: the ``[outbound]`` table.
        resolver: DNS for MX and address lookups.
        hostname: our EHLO name.
        relay_password: the relayhost's AUTH password, if configured.
        relay_context: TLS context that verifies the relayhost's certificate.
        hooks: the plugins' hooks (``trimail_outbound_route``), if any.
        server_config: the whole configuration, passed to that hook.
    """

    def __init__(
        self,
        *,
        config: OutboundConfig,
        resolver: DnsResolver,
        hostname: str,
        relay_password: str | None = None,
        relay_context: ssl.SSLContext | None = None,
        hooks: HookRunner | None = None,
        server_config: Config | None = None,
    ) -> None:
        self.hooks = hooks
        self.server_config = server_config
        self.config = config
        self.resolver = resolver
        self.hostname = hostname
        self.relay_password = relay_password
        self.relay_context = relay_context or ssl.create_default_context()
        self.opportunistic_context = ssl.create_default_context()
        self.opportunistic_context.check_hostname = False
        self.opportunistic_context.verify_mode = ssl.CERT_NONE

    async def deliver(
        self,
        entry: QueueEntry,
        domain: str,
        recipients: Sequence[QueuedRecipient],
        message: bytes,
    ) -> list[RecipientResult]:
        """Try *domain*'s next hops once for *recipients*.

        Returns:
            One result per recipient; never raises for network or protocol trouble
            (those become TEMPORARY results naming the cause).
        """
        try:
            hops = await self.route(domain, _envelope(entry, recipients))
        except _Failed as failed:
            return [_result(r, failed.outcome, failed.reply, failed.status) for r in recipients]
        last_error = f"no host for {domain} answered"
        budget = self.config.max_addresses  # RFC 5321 §5.1: a limit on addresses tried
        for hop in hops:
            try:
                addresses = await self._addresses(hop.host)
            except TempError as exc:
                last_error = f"DNS lookup of {hop.host} failed: {exc}"
                continue
            if not addresses:
                last_error = f"{hop.host} has no address (A/AAAA)"
                if hop.implicit:  # no MX and no address: nowhere to send (RFC 5321 §5.1)
                    return [
                        _result(
                            r,
                            Outcome.PERMANENT,
                            f"domain {domain} has no MX and no address",
                            "5.1.2",
                        )
                        for r in recipients
                    ]
                continue
            for address in addresses:
                if budget <= 0:
                    return [_result(r, Outcome.TEMPORARY, last_error, "4.4.1") for r in recipients]
                budget -= 1
                try:
                    return await self._try(hop, address, entry, recipients, message, tls=True)
                except _TryNext as exc:
                    last_error = str(exc)
                    log.info("queue %s: %s", entry.queue_id, exc)
                    if not exc.plain_retry:
                        continue
                try:  # RFC 7435: a failed opportunistic handshake falls back to plain text
                    return await self._try(hop, address, entry, recipients, message, tls=False)
                except _TryNext as exc:
                    last_error = str(exc)
                    log.info("queue %s: %s", entry.queue_id, exc)
        return [_result(r, Outcome.TEMPORARY, last_error, "4.4.1") for r in recipients]

    async def route(self, domain: str, envelope: Envelope | None = None) -> list[NextHop]:
        """The next hops for *domain*, in the order to try them (RFC 5321 §5.1): a
        plugin's choice (``trimail_outbound_route``), else the transports, the
        relayhost, the MX records.

        Raises:
            _Failed: null MX, no such domain (permanent) or DNS trouble or a failed
                routing plugin (temporary).
        """
        config = self.config
        destination = await self._plugin_route(domain, envelope)
        if destination is None:
            destination = config.transports.get(domain)
        relay = False
        if destination is None and config.relayhost:
            destination, relay = config.relayhost, True
        if destination is not None:
            host, port, mx_lookup = parse_destination(destination)
            port = port or (config.port if not relay else 25)
            names = (await self._mx_names(host))[0] if mx_lookup else [host]
            return [
                NextHop(host=name, port=port, relay=relay, implicit_tls=relay and port == 465)
                for name in names
            ]
        names, implicit = await self._mx_names(domain)
        return [NextHop(host=name, port=config.port, implicit=implicit) for name in names]

    async def _plugin_route(self, domain: str, envelope: Envelope | None) -> str | None:
        if self.hooks is None or envelope is None or not self.hooks.has("trimail_outbound_route"):
            return None
        try:
            destination = await self.hooks.call(
                "trimail_outbound_route",
                domain=domain,
                envelope=envelope,
                config=self.server_config,
            )
        except HookFailed:
            raise _Failed(Outcome.TEMPORARY, "the routing plugin failed", "4.3.0") from None
        if destination is None:
            return None
        try:
            parse_destination(destination)
        except (ValueError, TypeError, AttributeError):
            log.error(
                "trimail_outbound_route gave %r for %s: not a destination", destination, domain
            )
            raise _Failed(Outcome.TEMPORARY, "the routing plugin failed", "4.3.0") from None
        return str(destination)

    async def _mx_names(self, domain: str) -> tuple[list[str], bool]:
        """(hosts in preference order, whether that is the implicit MX)."""
        if domain.startswith("[") or is_ip_address(domain):  # an address literal (RFC 5321 §4.1.3)
            literal = domain.strip("[]")
            return [literal.removeprefix("IPv6:").removeprefix("ipv6:")], False
        try:
            result = await self.resolver.mx(domain)
        except TempError as exc:
            reason = f"MX lookup for {domain} failed: {exc}"
            raise _Failed(Outcome.TEMPORARY, reason, "4.4.3") from None
        if result.status is MxStatus.NO_DOMAIN:
            raise _Failed(Outcome.PERMANENT, f"domain {domain} does not exist", "5.1.2")
        if result.status is MxStatus.NULL_MX:
            raise _Failed(
                Outcome.PERMANENT, f"domain {domain} accepts no mail (null MX, RFC 7505)", "5.1.10"
            )
        return [mx.host for mx in result.hosts], result.status is MxStatus.IMPLICIT

    async def _addresses(self, host: str) -> list[str]:
        if is_ip_address(host):
            return [host]
        return await self.resolver.addresses(host)

    async def _try(
        self,
        hop: NextHop,
        address: str,
        entry: QueueEntry,
        recipients: Sequence[QueuedRecipient],
        message: bytes,
        *,
        tls: bool,
    ) -> list[RecipientResult]:
        where = f"{hop.host}[{address}]:{hop.port}"
        try:
            with trio.fail_after(self.config.connect_timeout_seconds):
                stream: trio.abc.Stream = await _connect(address, hop.port)
        except (OSError, trio.TooSlowError) as exc:
            raise _TryNext(f"connect to {where}: {_describe(exc)}") from None
        session = _ClientSession(self, hop, stream, where)
        try:
            return await session.run(entry, recipients, message, tls=tls)
        except _Failed as failed:
            return [
                _result(r, failed.outcome, failed.reply, failed.status, hop.host)
                for r in recipients
            ]
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _TryNext(f"{where}: connection lost: {_describe(exc)}") from None
        except trio.TooSlowError:
            raise _TryNext(f"{where}: timed out {session.waiting_for}") from None
        except SmtpProtocolError as exc:
            raise _TryNext(f"{where}: protocol error: {exc}") from None
        finally:
            with trio.move_on_after(2):
                await session.stream.aclose()


class _ClientSession:
    """One SMTP client session over a stream, driving the sans-IO engine."""

    def __init__(
        self, transport: SmtpTransport, hop: NextHop, stream: trio.abc.Stream, where: str
    ) -> None:
        self.transport = transport
        self.config = transport.config
        self.hop = hop
        self.stream = stream
        self.where = where
        self.conn = ClientConnection(ClientConfig(local_hostname=transport.hostname))
        self.waiting_for = "for the greeting"
        self.extensions = Extensions()

    async def run(
        self,
        entry: QueueEntry,
        recipients: Sequence[QueuedRecipient],
        message: bytes,
        *,
        tls: bool,
    ) -> list[RecipientResult]:
        if self.hop.implicit_tls:
            await self._wrap_tls()
        greeting = await self._event(self.config.connect_timeout_seconds)
        if not isinstance(greeting, Greeting):
            raise _TryNext(f"{self.where} closed the connection before its greeting")
        if greeting.reply.code != 220:
            if greeting.reply.code != 421:  # RFC 5321 §3.1: wait for QUIT, then close
                await self._quit()
            raise _TryNext(f"{self.where} greeted with {reply_text(greeting.reply)}")
        await self._hello()
        if not self.hop.implicit_tls:
            await self._starttls(tls)
        if self.hop.relay and self.transport.relay_password is not None:
            await self._auth()
        return await self._transaction(entry, recipients, message)

    async def _hello(self) -> None:
        self.waiting_for = "for the EHLO reply"
        event = await self._command(self.conn.send_ehlo())
        if isinstance(event, EhloResult) and event.reply.is_positive:
            self.extensions = event.extensions
            return
        if isinstance(event, EhloResult) and event.reply.code == 421:
            raise _TryNext(f"{self.where} closing: {reply_text(event.reply)}")
        event = await self._command(self.conn.send_helo())  # RFC 5321 §3.2: fall back
        if not (isinstance(event, EhloResult) and event.reply.is_positive):
            raise _TryNext(f"{self.where} refused HELO: {_describe_event(event)}")
        self.extensions = event.extensions

    async def _starttls(self, tls: bool) -> None:
        wanted = tls and (self.config.starttls or self.hop.relay)
        if not (wanted and self.extensions.starttls):
            if self.hop.relay and self.config.relayhost_verify:
                raise _TryNext(f"relayhost {self.where} offers no STARTTLS")
            return
        self.waiting_for = "for the STARTTLS reply"
        event = await self._command(self.conn.send_starttls())
        reply = event.reply if isinstance(event, CommandReply) else None
        if reply is None or reply.code != 220:
            if self.hop.relay and self.config.relayhost_verify:
                raise _TryNext(f"relayhost {self.where} refused STARTTLS")
            log.info(
                "%s refused STARTTLS (%s); going on in plain text",
                self.where,
                _describe_event(event),
            )
            return
        await self._wrap_tls()
        self.conn.start_tls_done()
        await self._hello()

    async def _wrap_tls(self) -> None:
        verify = self.hop.relay and self.config.relayhost_verify
        context = self.transport.relay_context if verify else self.transport.opportunistic_context
        server_name = None if is_ip_address(self.hop.host) else self.hop.host
        tls_stream = trio.SSLStream(self.stream, context, server_hostname=server_name)
        self.waiting_for = "for the TLS handshake"
        try:
            with trio.fail_after(self.config.connect_timeout_seconds):
                await tls_stream.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError) as exc:
            raise _TryNext(
                f"{self.where}: TLS handshake failed: {_describe(exc)}", plain_retry=not verify
            ) from None
        self.stream = tls_stream

    async def _auth(self) -> None:
        if not isinstance(self.stream, trio.SSLStream):
            raise _Failed(Outcome.TEMPORARY, f"{self.where}: no TLS for AUTH", "4.7.0")
        if "PLAIN" not in self.extensions.auth:
            raise _Failed(Outcome.TEMPORARY, f"{self.where} offers no AUTH PLAIN", "4.7.0")
        username = self.config.relayhost_username
        secret = f"\0{username}\0{self.transport.relay_password}".encode()
        self.waiting_for = "for the AUTH reply"
        event = await self._command(self.conn.send_auth("PLAIN", secret))
        if isinstance(event, AuthChallenge):
            raise _Failed(Outcome.TEMPORARY, f"{self.where}: unexpected AUTH challenge", "4.7.0")
        if not (isinstance(event, CommandReply) and event.reply.code == 235):
            text = _describe_event(event)
            raise _Failed(Outcome.TEMPORARY, f"relayhost AUTH failed: {text}", "4.7.0")

    async def _transaction(
        self, entry: QueueEntry, recipients: Sequence[QueuedRecipient], message: bytes
    ) -> list[RecipientResult]:
        ext = self.extensions
        if ext.size and len(message) > ext.size:
            raise _Failed(
                Outcome.PERMANENT,
                f"message of {len(message)} octets exceeds {self.hop.host}'s limit of {ext.size}",
                "5.3.4",
            )
        utf8 = entry.smtputf8 and needs_smtputf8(entry, recipients, message)
        if utf8 and not ext.smtputf8:  # RFC 6531 §3.2: no downgrade here
            raise _Failed(Outcome.PERMANENT, f"{self.hop.host} does not support SMTPUTF8", "5.6.7")
        use_bdat = ext.chunking
        mail = self.conn.send_mail(
            entry.reverse_path or NULL_PATH, _mail_parameters(entry, ext, message, utf8=utf8)
        )
        if self.conn.pipelining:  # RFC 2920: MAIL, every RCPT and DATA in one write
            batch = [mail]
            batch += [
                self.conn.send_rcpt(r.forward_path, _rcpt_parameters(r, ext)) for r in recipients
            ]
            if not use_bdat:
                batch.append(self.conn.send_data())
            await self.stream.send_all(b"".join(batch))
            self.waiting_for = "for the pipelined replies"
            replies = [await self._reply(b"", self.config.command_timeout_seconds) for _ in batch]
            mail_reply, rcpt_replies = replies[0], replies[1 : 1 + len(recipients)]
            data_reply = None if use_bdat else replies[-1]
            self._check_mail(mail_reply)
        else:
            self.waiting_for = "for the MAIL reply"
            mail_reply = await self._reply(mail, self.config.command_timeout_seconds)
            self._check_mail(mail_reply)
            self.waiting_for = "for a RCPT reply"
            rcpt_replies = []
            for recipient in recipients:
                command = self.conn.send_rcpt(
                    recipient.forward_path, _rcpt_parameters(recipient, ext)
                )
                rcpt_replies.append(await self._reply(command, self.config.command_timeout_seconds))
            data_reply = None
            if not use_bdat and any(r.is_positive for r in rcpt_replies):
                self.waiting_for = "for the DATA reply"
                data_reply = await self._reply(
                    self.conn.send_data(), self.config.command_timeout_seconds
                )
        results = {
            r.forward_path: _result(
                r, _outcome(reply, rcpt=True), reply_text(reply), reply_status(reply), self.hop.host
            )
            for r, reply in zip(recipients, rcpt_replies, strict=True)
            if not reply.is_positive
        }
        accepted = [r for r in recipients if r.forward_path not in results]
        if not accepted:
            await self._quit()
            return [results[r.forward_path] for r in recipients]
        if use_bdat:
            self.waiting_for = "for the BDAT reply"
            final = await self._reply(
                self.conn.send_bdat(message, last=True), self.config.data_timeout_seconds
            )
        else:
            assert data_reply is not None
            if data_reply.code != 354:
                raise _Failed(
                    _outcome(data_reply), reply_text(data_reply), reply_status(data_reply)
                )
            self.waiting_for = "for the reply to the message content"
            final = await self._reply(
                self.conn.send_message(message), self.config.data_timeout_seconds
            )
        await self._quit()
        for recipient in accepted:
            results[recipient.forward_path] = _result(
                recipient,
                _outcome(final),
                reply_text(final),
                reply_status(final),
                self.hop.host,
                dsn_passed_on=ext.dsn and final.is_positive,
            )
        return [results[r.forward_path] for r in recipients]

    def _check_mail(self, reply: Reply) -> None:
        """MAIL refused: a 421 means try the next host; else every recipient gets it."""
        if reply.is_positive:
            return
        if reply.code == 421:
            raise _TryNext(f"{self.where} closing: {reply_text(reply)}")
        raise _Failed(_outcome(reply), reply_text(reply), reply_status(reply))

    async def _quit(self) -> None:
        with trio.move_on_after(5):
            with contextlib.suppress(OSError, trio.BrokenResourceError, SmtpProtocolError):
                await self._command(self.conn.send_quit())

    async def _command(self, data: bytes) -> object:
        if data:
            await self.stream.send_all(data)
        return await self._event(self.config.command_timeout_seconds)

    async def _reply(self, data: bytes, timeout: float) -> Reply:
        if data:
            await self.stream.send_all(data)
        event = await self._event(timeout)
        if isinstance(event, CommandReply):
            if event.reply.code == 421:  # RFC 5321 §3.8: the server is closing
                raise _TryNext(f"{self.where} closing: {reply_text(event.reply)}")
            return event.reply
        if isinstance(event, ServiceClosing):
            raise _TryNext(f"{self.where} closing: {reply_text(event.reply)}")
        if isinstance(event, ConnectionClosed):
            raise trio.BrokenResourceError("the server closed the connection")
        raise _TryNext(f"{self.where}: unexpected {_describe_event(event)}")

    async def _event(self, timeout: float) -> object:
        with trio.fail_after(timeout):
            while True:
                event = self.conn.next_event()
                if event is not NEED_DATA:
                    return event
                self.conn.receive_data(bytes(await self.stream.receive_some(RECEIVE_BYTES)))


async def _connect(address: str, port: int) -> trio.SocketStream:
    """A TCP connection to one address (errors keep their errno text, e.g.
    "Connection refused", for the queue and the DSN)."""
    family = trio.socket.AF_INET6 if ":" in address else trio.socket.AF_INET
    sock = trio.socket.socket(family, trio.socket.SOCK_STREAM)
    try:
        await sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def _envelope(entry: QueueEntry, recipients: Sequence[QueuedRecipient]) -> Envelope:
    """The envelope of one destination's share of a queue entry, for the routing hook."""
    return Envelope(
        reverse_path=entry.reverse_path or NULL_PATH,
        forward_paths=tuple(r.forward_path for r in recipients),
        parameters=(("BODY", entry.body),) if entry.body else (),
        smtputf8=entry.smtputf8,
    )


def needs_smtputf8(
    entry: QueueEntry, recipients: Sequence[QueuedRecipient], message: bytes
) -> bool:
    """True if the envelope or the header section has non-ASCII text (RFC 6531 §3.4):
    a client that sent SMTPUTF8 for an all-ASCII message need not have it relayed so."""
    paths = [entry.reverse_path, *(r.forward_path for r in recipients)]
    if any(p is not None and not p.is_ascii for p in paths):
        return True
    end = message.find(b"\r\n\r\n")
    return not (message if end < 0 else message[:end]).isascii()


def _mail_parameters(
    entry: QueueEntry, ext: Extensions, message: bytes, *, utf8: bool
) -> list[tuple[str, str | None]]:
    """MAIL FROM parameters for what the server offers (RFC 1870, 6152, 6531, 3461)."""
    parameters: list[tuple[str, str | None]] = []
    if "SIZE" in ext:
        parameters.append(("SIZE", str(len(message))))
    if ext.eightbitmime and (entry.body == "8BITMIME" or not message.isascii()):
        parameters.append(("BODY", "8BITMIME"))
    if utf8:
        parameters.append(("SMTPUTF8", None))
    if ext.dsn:
        if entry.ret:
            parameters.append(("RET", entry.ret))
        if entry.envid:
            parameters.append(("ENVID", xtext_encode(entry.envid)))
    return parameters


def _rcpt_parameters(recipient: QueuedRecipient, ext: Extensions) -> list[tuple[str, str | None]]:
    if not ext.dsn:
        return []
    return list(
        DsnRcptParams(
            notify=frozenset(recipient.notify) if recipient.notify is not None else None,
            orcpt=recipient.orcpt,
        ).to_parameters()
    )


def _result(
    recipient: QueuedRecipient,
    outcome: Outcome,
    reply: str,
    status: str,
    remote_mta: str | None = None,
    *,
    dsn_passed_on: bool = False,
) -> RecipientResult:
    return RecipientResult(
        forward_path=recipient.forward_path,
        outcome=outcome,
        reply=reply,
        status=status,
        remote_mta=remote_mta,
        dsn_passed_on=dsn_passed_on,
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _describe_event(event: object) -> str:
    reply = getattr(event, "reply", None)
    if isinstance(reply, Reply):
        return reply_text(reply)
    return type(event).__name__
