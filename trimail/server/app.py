"""``trimail serve``: processes, the nursery tree and graceful shutdown.

    supervisor (binds the listening sockets, forks `Config.workers` workers)
    └─ worker: trio.run(serve)
       └─ server nursery
          ├─ accept loop "smtp" (sessions in their own handler nursery)
          └─ shutdown watcher (SIGTERM/SIGINT)

With one worker the supervisor is the worker (no fork). Workers share the listening
sockets, the connection limits (shared memory) and the data directory (SQLite locking
keeps the indexes consistent across processes).

Shutdown (STYLE.md §3): stop accepting; sessions answer 421 4.3.2 at their next command
boundary while transactions in flight finish; after ``shutdown.grace_seconds`` the rest
are cancelled.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import functools
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from trimail.config.loader import ConfigError
from trimail.config.model import (
    Config,
    ImapListenerConfig,
    Pop3ListenerConfig,
    SmtpListenerConfig,
)
from trimail.plugins import (
    PluginContext,
    PluginError,
    Plugins,
    call_impl,
    make_plugin_manager,
)
from trimail.queue.schedule import RetryPolicy
from trimail.queue.spool import Spool, SpoolError
from trimail.server.delivery import LocalDelivery
from trimail.server.dns import DnsResolver, ThreadResolver
from trimail.server.hooks import HookRunner
from trimail.server.imap_notify import ChangeNotifier
from trimail.server.imap_session import ImapContext, ImapSession
from trimail.server.listeners import (
    ConnectionLimiter,
    bind_sockets,
    bound_address,
    serve_listeners,
)
from trimail.server.outbound import SmtpTransport
from trimail.server.outbox import QueueOutbox
from trimail.server.pop3_session import Pop3Context, Pop3Session
from trimail.server.queue_runner import QueueRunner
from trimail.server.session_info import SessionInfo
from trimail.server.smtp_session import ServerContext, SmtpSession
from trimail.server.spool import clean_spool
from trimail.server.submission import SubmissionPolicy
from trimail.server.throttle import LoginThrottle, SharedCounts
from trimail.server.tls import TlsError, certificate_paths, ensure_certificate, server_context
from trimail.users.db import UserDatabase, UserDatabaseError

log = logging.getLogger("trimail.server")

RESTART_PAUSE_SECONDS = 1.0
FAST_FAILURE_SECONDS = 10.0  # a worker dying this soon after its start failed to start
MAX_FAST_FAILURES = 3
PR_SET_PDEATHSIG = 1  # prctl(2) option, <linux/prctl.h>  # between restarts of a worker that died
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
WORKER_SIGNALS = {*STOP_SIGNALS, signal.SIGHUP}


@attrs.define
class Server:
    """A running worker's parts, for tests and the CLI."""

    config: Config
    contexts: dict[str, ServerContext | Pop3Context | ImapContext]
    queue: QueueRunner | None = None
    hooks: HookRunner | None = None
    stop: trio.Event = attrs.field(factory=trio.Event)


@attrs.define
class BoundListener:
    """One service's listening sockets and its shared connection limits."""

    name: str
    sockets: list[socket.socket]
    limiter: ConnectionLimiter


@attrs.define
class Bound:
    """What the supervisor prepares before forking: sockets and shared limits."""

    listeners: dict[str, BoundListener]
    failures: SharedCounts = attrs.field(factory=SharedCounts)  # failed logins, shared
    sent: SharedCounts = attrs.field(factory=SharedCounts)  # submitted messages per user

    @classmethod
    def from_config(cls, config: Config, workers: int) -> Bound:
        """Bind every listener of *config* and make the shared counters.

        Raises:
            OSError: an address cannot be bound (the message names it); nothing stays bound.
        """
        Section = SmtpListenerConfig | Pop3ListenerConfig | ImapListenerConfig
        wanted: list[tuple[str, Section, tuple[str, ...]]] = [
            ("smtp", config.smtp, config.smtp.listen),
            ("pop3", config.pop3, config.pop3.listen),
            ("pop3s", config.pop3, config.pop3.listen_tls),
            ("submission", config.submission, config.submission.listen),
            ("submissions", config.submission, config.submission.listen_tls),
            ("imap", config.imap, config.imap.listen),
            ("imaps", config.imap, config.imap.listen_tls),
        ]
        listeners: dict[str, BoundListener] = {}
        try:
            for name, section, addresses in wanted:
                if not addresses:
                    continue
                limiter = ConnectionLimiter(
                    max_total=section.max_connections,
                    max_per_ip=section.max_connections_per_ip,
                    workers=workers,
                )
                listeners[name] = BoundListener(name, bind_sockets(addresses), limiter)
        except OSError:
            for listener in listeners.values():
                for sock in listener.sockets:
                    sock.close()
            raise
        return cls(listeners, SharedCounts(workers), SharedCounts(workers))

    def log_addresses(self) -> None:
        """Log ``NAME listening on HOST port N`` for each socket (tests wait for it)."""
        for listener in self.listeners.values():
            for sock in listener.sockets:
                host, port = bound_address(sock)
                log.info("%s listening on %s port %d", listener.name, host, port)

    def set_slot(self, slot: int) -> None:
        """In a worker: count connections and failed logins in row *slot*."""
        for listener in self.listeners.values():
            listener.limiter.slot = slot
        self.failures.slot = slot
        self.sent.slot = slot

    def reset_slot(self, slot: int) -> None:
        """In the supervisor: forget the connections of the dead worker in *slot*."""
        for listener in self.listeners.values():
            listener.limiter.reset_slot(slot)

    def close(self) -> None:
        """Close every listening socket."""
        for listener in self.listeners.values():
            for sock in listener.sockets:
                sock.close()


_REFUSALS = {  # what a client over the connection limits is told before the close
    "smtp": b"421 4.7.0 Too many connections; try again later\r\n",
    "pop3": b"-ERR [SYS/TEMP] Too many connections; try again later\r\n",
    "pop3s": b"",  # before the TLS handshake nothing readable can be sent
    "submission": b"421 4.7.0 Too many connections; try again later\r\n",
    "submissions": b"",
    "imap": b"* BYE Too many connections; try again later\r\n",
    "imaps": b"",
}
_IMPLICIT_TLS = {"pop3s": "pop3", "submissions": "submission", "imaps": "imap"}


async def serve(
    config: Config, bound: Bound, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run one worker until `Server.stop` is set or SIGTERM/SIGINT arrives.

    Args:
        config: validated configuration.
        bound: the listening sockets and shared limits.
        task_status: receives the `Server` once it accepts connections.

    Raises:
        trimail.plugins.PluginError: a plugin fails to load or to start.
    """
    data_dir = Path(config.data_dir)
    plugins = make_plugin_manager(config)
    hooks = HookRunner(plugins, config.plugin_timeout_seconds)
    store = plugins.hook.trimail_mail_store(config=config)
    users = UserDatabase(data_dir / "users.sqlite3")
    try:
        tls_context = server_context(*certificate_paths(config))
        dns = DnsResolver(
            nameservers=config.dns.nameservers,
            timeout_seconds=config.dns.timeout_seconds,
            cache_entries=config.dns.cache_entries,
        )
        delivery = LocalDelivery(
            users=users,
            store=store,
            hooks=hooks,
            hostname=config.hostname,
            config=config,
            dns=dns,
        )
        delivery.queue = make_queue_runner(config, delivery, dns)
        context = PluginContext(
            config=config,
            data_dir=data_dir,
            tables=plugins.tables,
            resolver=ThreadResolver(dns, trio.lowlevel.current_trio_token()),
            outbox=QueueOutbox(delivery, trio.lowlevel.current_trio_token()),
        )
        start_plugins(plugins, context)
        auth = plugins.hook.trimail_auth_backend(config=config, users=users)
        throttle = LoginThrottle(config.auth, table=bound.failures)
        contexts: dict[str, ServerContext | Pop3Context | ImapContext] = {
            "smtp": ServerContext(
                listener="smtp",
                hostname=config.hostname,
                config=config.smtp,
                delivery=delivery,
                hooks=hooks,
                spool_dir=data_dir / "spool",
                tls_context=tls_context if config.tls.starttls else None,
            ),
            "submission": ServerContext(
                listener="submission",
                hostname=config.hostname,
                config=config.submission,
                delivery=delivery,
                hooks=hooks,
                spool_dir=data_dir / "spool",
                tls_context=tls_context,  # STARTTLS, and the implicit-TLS listener
                submission=SubmissionPolicy(
                    auth=auth,
                    throttle=throttle,
                    users=users,
                    max_messages_per_hour=config.submission.max_messages_per_hour,
                    sent=bound.sent,
                ),
            ),
            "pop3": Pop3Context(
                hostname=config.hostname,
                config=config.pop3,
                store=store,
                users=users,
                auth=auth,
                throttle=throttle,
                tls_context=tls_context,
                offer_stls=config.tls.starttls,
            ),
            "imap": ImapContext(
                hostname=config.hostname,
                config=config.imap,
                store=store,
                users=users,
                auth=auth,
                throttle=throttle,
                notifier=ChangeNotifier(store, config.imap.idle_poll_seconds),
                tls_context=tls_context,
                offer_starttls=config.tls.starttls,
            ),
        }
        server = Server(config=config, contexts=contexts, queue=delivery.queue, hooks=hooks)
        try:
            await _accept_until_stopped(server, bound, task_status)
        finally:
            await stop_plugins_in_time(plugins, context)
        log.info("stopped")
    finally:
        users.close()
        store.close()


async def _accept_until_stopped(
    server: Server, bound: Bound, task_status: trio.TaskStatus[Server]
) -> None:
    """Accept sessions on every listener until stopped, then drain them (STYLE.md §3)."""

    def handler(name: str) -> Callable[..., Awaitable[None]]:
        ctx = server.contexts[_IMPLICIT_TLS.get(name, name)]
        implicit_tls = name in _IMPLICIT_TLS

        async def handle(
            stream: trio.SocketStream, ip: str, port: int, lip: str, lport: int
        ) -> None:
            info = SessionInfo(
                listener=name, peer_host=ip, peer_port=port, local_host=lip, local_port=lport
            )
            if isinstance(ctx, ServerContext):
                await SmtpSession(ctx, stream, info, implicit_tls=implicit_tls).run()
            elif isinstance(ctx, ImapContext):
                await ImapSession(ctx, stream, info, implicit_tls=implicit_tls).run()
            else:
                await Pop3Session(ctx, stream, info, implicit_tls=implicit_tls).run()

        return handle

    def refuser(name: str) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def refuse(stream: trio.SocketStream) -> None:
            if _REFUSALS[name]:
                with trio.move_on_after(5):
                    await stream.send_all(_REFUSALS[name])

        return refuse

    async with trio.open_nursery() as sessions:
        if server.hooks is not None:
            await sessions.start(server.hooks.run_notifications)
        if server.queue is not None:
            await sessions.start(server.queue.run)
        async with trio.open_nursery() as accepting:
            for name, listener in bound.listeners.items():
                await accepting.start(
                    functools.partial(
                        serve_listeners,
                        listener.sockets,
                        handler=handler(name),
                        refuse=refuser(name),
                        limiter=listener.limiter,
                        handler_nursery=sessions,
                    )
                )
            accepting.start_soon(_watch_signals, server)
            imap = server.contexts.get("imap")
            if isinstance(imap, ImapContext):
                accepting.start_soon(imap.notifier.run)
            task_status.started(server)
            await server.stop.wait()
            log.info("shutting down: no new connections; draining sessions")
            accepting.cancel_scope.cancel()
        for ctx in server.contexts.values():
            ctx.begin_shutdown()
        if server.queue is not None:
            server.queue.begin_shutdown()
        if server.hooks is not None:
            server.hooks.close()
        sessions.cancel_scope.deadline = trio.current_time() + server.config.shutdown.grace_seconds


def start_plugins(plugins: Plugins, context: PluginContext) -> None:
    """Run every ``trimail_startup`` hook, in the Trio thread, before listeners accept.

    Raises:
        PluginError: a plugin's start-up raised (its name and the message).
    """
    for impl in reversed(plugins.hook.trimail_startup.get_hookimpls()):
        try:
            call_impl(impl, context=context)
        except (Exception, SystemExit) as exc:
            log.debug("plugin %s failed to start", impl.plugin_name, exc_info=True)
            raise PluginError(f"plugin {impl.plugin_name}: cannot start: {exc}") from None


def stop_plugins(plugins: Plugins, context: PluginContext) -> None:
    """Run every ``trimail_shutdown`` hook; exceptions are logged and ignored."""
    for impl in plugins.hook.trimail_shutdown.get_hookimpls():
        try:
            call_impl(impl, context=context)
        except (Exception, SystemExit):
            log.exception("plugin %s failed to shut down", impl.plugin_name)


async def stop_plugins_in_time(plugins: Plugins, context: PluginContext) -> None:
    """`stop_plugins` in a worker thread, for at most ``plugin_timeout_seconds``: a
    plugin that hangs at shut-down is left behind (logged) and the worker exits."""
    timeout = context.config.plugin_timeout_seconds
    with trio.CancelScope(shield=True), trio.move_on_after(timeout) as scope:
        await trio.to_thread.run_sync(stop_plugins, plugins, context, abandon_on_cancel=True)
    if scope.cancelled_caught:
        log.error("plugins did not shut down within %g s; stopping without them", timeout)


def relay_password(config: Config) -> str | None:
    """The first line of ``[outbound] relayhost_password_file``, or None if unset.

    Raises:
        ConfigError: the file cannot be read or is empty.
    """
    name = config.outbound.relayhost_password_file
    if not name:
        return None
    try:
        lines = Path(name).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(f"outbound.relayhost_password_file: {name}: {reason}") from None
    if not lines or not lines[0].strip():
        raise ConfigError(f"outbound.relayhost_password_file: {name}: the file is empty")
    return lines[0].strip()


def relay_tls_context(config: Config) -> ssl.SSLContext:
    """The TLS context that verifies the relayhost (``relayhost_ca_file`` or the system CAs).

    Raises:
        ConfigError: the CA file cannot be loaded.
    """
    cafile = config.outbound.relayhost_ca_file or None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"outbound.relayhost_ca_file: {cafile}: {reason}") from None


def make_queue_runner(config: Config, delivery: LocalDelivery, dns: DnsResolver) -> QueueRunner:
    """The outbound queue of this worker: spool, DNS, SMTP transport, retry policy.

    Raises:
        ConfigError: the relayhost password file cannot be read.
    """
    outbound = config.outbound
    password = relay_password(config)
    relay_context = relay_tls_context(config)
    transport = SmtpTransport(
        config=outbound,
        resolver=dns,
        hostname=config.hostname,
        relay_password=password,
        relay_context=relay_context,
        hooks=delivery.hooks,
        server_config=config,
    )
    queue = config.queue
    return QueueRunner(
        spool=Spool(Path(config.data_dir) / "queue"),
        policy=RetryPolicy(
            min_backoff_seconds=queue.min_backoff_seconds,
            max_backoff_seconds=queue.max_backoff_seconds,
            max_age_seconds=queue.max_age_seconds,
            delay_warning_seconds=queue.delay_warning_seconds,
        ),
        transport=transport,
        local=delivery,
        hostname=config.hostname,
        max_deliveries=queue.max_deliveries,
        poll_seconds=queue.poll_seconds,
    )


async def _watch_signals(server: Server) -> None:
    """SIGTERM/SIGINT: stop. SIGHUP: reload the TLS certificate; sessions keep going."""
    with trio.open_signal_receiver(*WORKER_SIGNALS) as signals:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            if signum == signal.SIGHUP:
                _reload_tls(server)
                continue
            server.stop.set()
            return


def _reload_tls(server: Server) -> None:
    """Load the certificate pair again; new handshakes use it, running sessions keep theirs.

    Error handling: a pair that does not load is logged and the old one stays in use.
    """
    try:
        context = server_context(*certificate_paths(server.config))
    except TlsError as exc:
        log.error("TLS certificate not reloaded, the old one stays: %s", exc)
        return
    for ctx in server.contexts.values():
        if ctx.tls_context is not None:
            ctx.tls_context = context
    log.info("TLS certificate reloaded from %s", certificate_paths(server.config)[0])


def worker_count(config: Config) -> int:
    """`Config.workers`, with 0 meaning one per CPU core."""
    return config.workers or os.cpu_count() or 1


class StartupError(Exception):
    """The server cannot start; ``str(err)`` names the file or setting and why."""


def prepare_data_dir(config: Config) -> None:
    """Create the data directories, open the user database once, empty the spool.

    Done once, before any worker starts, so that a broken ``data_dir`` stops start-up
    with one clear message instead of workers failing over and over.

    Raises:
        StartupError: naming ``data_dir`` or the file, and the reason.
    """
    data_dir = Path(config.data_dir)
    try:
        for sub in ("accounts", "spool"):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
        clean_spool(data_dir / "spool")
        Spool(data_dir / "queue").open()
    except SpoolError as exc:
        raise StartupError(f"queue: {exc}") from None
    except OSError as exc:
        raise StartupError(f"data_dir {data_dir}: {exc.strerror or exc}") from None
    try:
        users = UserDatabase(data_dir / "users.sqlite3")
    except UserDatabaseError as exc:
        raise StartupError(str(exc)) from None
    try:
        check_plugins(config, users)
        relay_password(config)
        relay_tls_context(config)
    except (ConfigError, PluginError) as exc:
        raise StartupError(str(exc)) from None
    finally:
        users.close()


def check_plugins(config: Config, users: UserDatabase | None = None) -> None:
    """Load the plugins once, validate their ``[plugin.NAME]`` tables, start and stop them.

    Runs ``trimail_auth_backend``, ``trimail_startup`` (with a context without outbox
    and resolver) and ``trimail_shutdown`` as a worker would, so a bad table stops
    ``trimail serve`` (and ``check-config``) with one clear message instead of a
    traceback in every worker.

    Raises:
        ConfigError: a plugin's table is invalid (``plugin.NAME.KEY: reason``).
        PluginError: a plugin cannot be loaded.
    """
    plugins = make_plugin_manager(config)
    plugins.hook.trimail_auth_backend(config=config, users=users)
    context = PluginContext(config=config, data_dir=Path(config.data_dir), tables=plugins.tables)
    start_plugins(plugins, context)
    stop_plugins(plugins, context)


def run_server(config: Config) -> int:
    """Check the data directory, bind, then run the workers until SIGTERM/SIGINT.

    Used by ``trimail serve``.

    Returns:
        The exit status: 0 after a clean shutdown, 1 if workers failed.

    Raises:
        StartupError: the data directory or user database is unusable.
        OSError: a listener cannot be bound (the message names the address).
    """
    prepare_data_dir(config)
    try:
        ensure_certificate(config, datetime.datetime.now(datetime.UTC))
    except TlsError as exc:
        raise StartupError(f"tls: {exc}") from None
    workers = worker_count(config)
    bound = Bound.from_config(config, workers)
    bound.log_addresses()
    if workers == 1:
        trio.run(serve, config, bound)
        return 0
    return _supervise(config, bound, workers)


def _die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when the supervisor dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: orphans are stopped by hand
        return


def _run_worker(config: Config, bound: Bound, slot: int, parent: int) -> None:
    """In a forked child: run one worker, then leave without running the parent's code."""
    status = 1
    try:
        # Held until _watch_signals listens, so a SIGTERM during start-up is not lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_SIGNALS)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        _die_with_parent()
        if os.getppid() != parent:  # the supervisor died before prctl took effect
            os._exit(1)
        bound.set_slot(slot)
        trio.run(serve, config, bound)
        status = 0
    except BaseException:
        log.exception("worker %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(status)


def _supervise(config: Config, bound: Bound, workers: int) -> int:
    """Fork *workers* workers, restart any that dies, forward SIGTERM/SIGINT to all.

    A worker that dies within `FAST_FAILURE_SECONDS` of its start, `MAX_FAST_FAILURES`
    times in a row, stops the server (exit status 1): restarting it would only repeat
    the failure.
    """
    children: dict[int, tuple[int, float]] = {}  # pid -> (slot, start time)
    stopping = False
    status = 0
    fast_failures = 0

    def stop_all(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def spawn(slot: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            _run_worker(config, bound, slot, parent)
        children[pid] = (slot, time.monotonic())

    def forward_hup(signum: int, _frame: object) -> None:
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGHUP, forward_hup)
    for slot in range(workers):
        spawn(slot)
    log.info("started %d worker processes", workers)
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot, started = children.pop(pid)
        bound.reset_slot(slot)
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:
            status = status or (1 if code else 0)
            continue
        fast = time.monotonic() - started < FAST_FAILURE_SECONDS
        fast_failures = fast_failures + 1 if fast else 0
        if fast_failures >= MAX_FAST_FAILURES:
            log.error("workers keep failing at start-up; stopping (see the errors above)")
            status = 1
            stop_all()
            continue
        log.error("worker %d exited with status %d; starting another", pid, code)
        time.sleep(RESTART_PAUSE_SECONDS)
        if not stopping:
            spawn(slot)
    bound.close()
    log.info("stopped")
    return status
