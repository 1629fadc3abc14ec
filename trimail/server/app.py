"""``trimail serve``: the process, its nursery tree and graceful shutdown.

    trio.run(serve)
    └─ server nursery
       ├─ accept loop "smtp" (sessions in their own handler nursery)
       └─ shutdown watcher (SIGTERM/SIGINT)

Shutdown (STYLE.md §3): stop accepting; sessions answer 421 4.3.2 at their next command
boundary while transactions in flight finish; after ``shutdown.grace_seconds`` the rest
are cancelled.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import attrs
import trio

from trimail.config.model import Config
from trimail.mail.reply import Reply
from trimail.plugins import make_plugin_manager
from trimail.server.delivery import LocalDelivery
from trimail.server.listeners import (
    ConnectionLimiter,
    bound_address,
    open_listeners,
    serve_listeners,
)
from trimail.server.session_info import SessionInfo
from trimail.server.smtp_session import ServerContext, SmtpSession
from trimail.users.db import UserDatabase

log = logging.getLogger("trimail.server")

R421_TOO_MANY = Reply(
    code=421, enhanced_status="4.7.0", text="Too many connections; try again later"
)


@attrs.define
class Server:
    """A running server's parts, for tests and the CLI."""

    config: Config
    smtp: ServerContext
    addresses: dict[str, list[tuple[str, int]]] = attrs.field(factory=dict)
    stop: trio.Event = attrs.field(factory=trio.Event)


async def serve(
    config: Config, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the server until `Server.stop` is set or SIGTERM/SIGINT arrives.

    Args:
        config: validated configuration.
        task_status: receives the `Server` once every listener is bound.

    Raises:
        OSError: a listener cannot be bound or the data directory cannot be created.
        trimail.plugins.PluginError: a plugin fails to load.
    """
    data_dir = Path(config.data_dir)
    (data_dir / "accounts").mkdir(parents=True, exist_ok=True)
    plugins = make_plugin_manager(config)
    store = plugins.hook.trimail_mail_store(config=config)
    users = UserDatabase(data_dir / "users.sqlite3")
    try:
        delivery = LocalDelivery(
            users=users, store=store, plugins=plugins, hostname=config.hostname
        )
        ctx = ServerContext(
            listener="smtp",
            hostname=config.hostname,
            config=config.smtp,
            delivery=delivery,
            plugins=plugins,
        )
        server = Server(config=config, smtp=ctx)
        listeners = await open_listeners(config.smtp.listen)
        server.addresses["smtp"] = [bound_address(lst) for lst in listeners]
        limiter = ConnectionLimiter(
            max_total=config.smtp.max_connections, max_per_ip=config.smtp.max_connections_per_ip
        )

        async def handle(stream: trio.SocketStream, ip: str, port: int, lip: str, lport: int) -> None:
            info = SessionInfo(
                listener="smtp", peer_host=ip, peer_port=port, local_host=lip, local_port=lport
            )
            await SmtpSession(ctx, stream, info).run()

        async def refuse(stream: trio.SocketStream) -> None:
            with trio.move_on_after(5):
                await stream.send_all(b"421 4.7.0 Too many connections; try again later\r\n")

        async with trio.open_nursery() as sessions:
            async with trio.open_nursery() as accepting:
                await accepting.start(
                    lambda task_status: serve_listeners(
                        listeners,
                        handler=handle,
                        refuse=refuse,
                        limiter=limiter,
                        handler_nursery=sessions,
                        task_status=task_status,
                    )
                )
                accepting.start_soon(_watch_signals, server)
                for name, addrs in server.addresses.items():
                    for host, port in addrs:
                        log.info("%s listening on %s port %d", name, host, port)
                task_status.started(server)
                await server.stop.wait()
                log.info("shutting down: no new connections; draining sessions")
                accepting.cancel_scope.cancel()
            ctx.begin_shutdown()
            sessions.cancel_scope.deadline = trio.current_time() + config.shutdown.grace_seconds
        log.info("stopped")
    finally:
        users.close()
        store.close()


async def _watch_signals(server: Server) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            server.stop.set()
            return


def run_server(config: Config) -> None:
    """Run `serve` under Trio until it stops; used by ``trimail serve``.

    Exits the process with status 1 and a one-line message if a listener cannot bind.
    """
    try:
        trio.run(serve, config)
    except OSError as exc:
        print(f"trimail: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
