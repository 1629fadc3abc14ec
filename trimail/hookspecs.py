"""Hook specifications: the plugin API of trimail (pluggy project name ``trimail``).

This module is the whole, versioned plugin API (`API_VERSION`; each hook says in which
version it came and how it changed). Hooks are plain functions (never ``async def``).
Call sites always pass keyword arguments, so an implementation may accept any subset
of them, and a later API version may add arguments without breaking it.

Threads and time: the hooks that judge or change mail (connection, HELO, MAIL, RCPT,
message and delivery filters, outbound headers and routing, queue events) run in a
worker thread, so they may block (DNS, SQLite, HTTP), and must be thread-safe. Each
call is bounded by ``plugin_timeout_seconds`` (config, 60 s by default).

Errors: a filter hook that raises or runs out of time gets the client a 451 4.3.0
tempfail (the client keeps the message and tries again later), and one log line with
the hook's name (the traceback for an exception); the server and the session go on.
A thread that timed out is abandoned, not killed: its result is ignored.

State: a plugin keeps state (an open database, its settings) on an object registered
as the plugin (an entry point may name a module or an instance), set up in
`trimail_startup` from the `trimail.plugins.PluginContext` it receives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import argparse

    from trimail.config.model import Config
    from trimail.mail.address import Mailbox, ReversePath
    from trimail.mail.envelope import Envelope
    from trimail.mailauth.resolver import Resolver
    from trimail.plugins import ConfigTable, PluginContext, QueueEvent
    from trimail.server.auth import AuthBackend
    from trimail.server.session_info import SessionInfo
    from trimail.storage.api import MailStore
    from trimail.users.db import UserDatabase
    from trimail.verdicts import DeliveryVerdict, MessageVerdict, Reject

hookspec = pluggy.HookspecMarker("trimail")

API_VERSION = (1, 0)
"""The plugin API version (major, minor). A minor version only adds hooks or hook
arguments; a major version changes or removes them."""

# -- start-up and shut-down ------------------------------------------------------------


@hookspec
def trimail_config_table() -> ConfigTable | None:
    """Declare the plugin's config table, ``[plugin.NAME]``.

    Called when the plugins are loaded (``trimail serve``, ``check-config``,
    ``plugins list``), before `trimail_startup`. trimail validates the table with
    cattrs into the attrs class given (unknown keys and wrong types are refused with
    ``plugin.NAME.KEY: reason`` and stop start-up), and refuses a ``[plugin.NAME]``
    table that no loaded plugin declares (a typo, or a plugin that is not installed).
    The validated settings reach the plugin as ``PluginContext.settings(NAME)``.

    Returns:
        A `trimail.plugins.ConfigTable` (table name and attrs class), or None for a
        plugin without settings.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_startup(context: PluginContext) -> None:
    """Set the plugin up: read its settings, open its database, start its clients.

    Called once per worker process, in the main thread before any listener accepts a
    connection and before any other hook below (apart from `trimail_mail_store` and
    `trimail_auth_backend`). It may block briefly. ``trimail serve`` (before it
    starts the workers) and ``trimail check-config`` also call it once, followed by
    `trimail_shutdown`, to show start-up problems as one clear error.

    Args:
        context: settings, the plugin's state directory, the DNS resolver and the
            outbox (`trimail.plugins.PluginContext`).

    Raises:
        Exception: any exception stops start-up; ``trimail serve`` prints the
            plugin's name and the message (use a clear message, e.g. a ConfigError).

    .. versionadded:: 1.0
    """


@hookspec
def trimail_shutdown(context: PluginContext) -> None:
    """Release what `trimail_startup` set up (close databases, stop clients).

    Called once per worker process on a graceful stop, after the listeners closed
    and the sessions ended, in a worker thread, bounded by ``plugin_timeout_seconds``
    (a plugin still busy then is left behind). Exceptions are logged and ignored.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_cli_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add sub-commands to the ``trimail`` command line (e.g. ``trimail greylist``).

    Called once when ``trimail`` builds its argument parser, for plugins installed by
    entry point (config-listed modules are not known yet then). Add parsers with
    ``commands.add_parser(NAME, parents=[common], help=...)`` and give each one
    ``set_defaults(handler=FUNC)``, where ``FUNC(config, args) -> int`` returns the
    exit status; raise `trimail.config.ConfigError` (or print and return 1) for
    errors the operator can act on. A plugin whose commands cannot be added (a name
    that is already taken, an exception) is named in a warning on stderr and its
    commands are left out; the rest of the command line works.

    .. versionadded:: 1.0
    """


# -- storage and authentication -----------------------------------------------------------


@hookspec(firstresult=True)
def trimail_mail_store(config: Config) -> MailStore | None:
    """Return the mail store (storage backend) the server uses.

    Called once at start-up, in the main task. Stops at the first non-None result; the
    built-in SQLite+files store (`trimail.storage`) is registered as a plugin and
    answers last, so a plugin that returns a store replaces it.

    Args:
        config: the validated server configuration.

    Returns:
        An object implementing `trimail.storage.api.MailStore`, or None to defer.

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def trimail_auth_backend(config: Config, users: UserDatabase) -> AuthBackend | None:
    """Return the backend that checks logins: SMTP AUTH on submission, POP3 (USER/PASS
    and AUTH) and IMAP (LOGIN and AUTHENTICATE).

    Called once per worker at start-up. Stops at the first non-None result; the
    built-in backend over the user database (argon2id hashes and SCRAM-SHA-256 keys)
    answers last.

    Args:
        config: the validated server configuration.
        users: the server's user database (a backend may use it or ignore it).

    Returns:
        An object with ``async verify(username: str, password: str) -> str | None``
        that returns the authenticated user's address (``local@domain``, which must be
        a user of the user database to have a mailbox) or None; it must take about
        the same time whether or not the user exists. ``verify`` serves PLAIN, LOGIN,
        USER/PASS and IMAP LOGIN. Or None to defer.

        Optionally the object also has ``async scram_credentials(username: str) ->
        tuple[str, trimail.sasl.ScramCredentials] | None`` (see
        `trimail.server.auth.ScramBackend`): the user's address and stored SCRAM keys
        (salt, iterations, StoredKey, ServerKey; RFC 5802 §3), or None for an unknown
        user or one without keys. Only then is SCRAM-SHA-256 (RFC 7677) offered; the
        server runs the exchange, answers None with made-up keys so that it fails like
        a wrong password, and counts failures in the same login throttle. Backends
        without the method work as before: PLAIN and LOGIN only.

    .. versionadded:: 1.0
    """


# -- connection and envelope filters (SMTP) --------------------------------------------


@hookspec
def trimail_smtp_connect(session: SessionInfo) -> Reject | None:
    """Judge a new SMTP connection before the greeting.

    Called once per connection, in a worker thread, before the 220 greeting (a
    DNS blocklist check belongs here). Every implementation runs; the first Reject
    (in pluggy call order) is used: the client is greeted with its reply and
    disconnected. Only 554 (refused) and 421 (try later) may answer a connection
    (RFC 5321 §3.1): another 5xx code is sent as 554, a 4xx code as 421, and a
    hook that raises or times out gets the client 421 4.3.0.

    Args:
        session: the peer address, listener name and TLS/auth state.

    Returns:
        A `trimail.verdicts.Reject`, or None to accept.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_smtp_helo(session: SessionInfo, helo_identity: str) -> Reject | None:
    """Judge the HELO/EHLO argument (RFC 5321 §4.1.1.1, RFC 7208 §2.3).

    Called for each HELO/EHLO, in a worker thread. Every implementation runs; the
    first Reject is used.

    Returns:
        A Reject (its reply answers the HELO/EHLO), or None to accept.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_smtp_mail_from(
    session: SessionInfo, reverse_path: ReversePath, parameters: tuple[tuple[str, str | None], ...]
) -> Reject | None:
    """Judge MAIL FROM (RFC 5321 §4.1.1.2). ``reverse_path`` is NULL_PATH for ``<>``.

    Called for each MAIL command that trimail's own checks accepted, in a worker
    thread. Every implementation runs; the first Reject is used.

    Args:
        session: connection state (``helo_identity``, ``authenticated_as``).
        reverse_path: a `trimail.mail.address.Mailbox`, or ``NULL_PATH``.
        parameters: the ESMTP parameters, (keyword upper-cased, value or None).

    Returns:
        A Reject (its reply answers MAIL), or None to accept.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_smtp_rcpt_to(
    session: SessionInfo, envelope: Envelope, forward_path: Mailbox
) -> Reject | None:
    """Judge RCPT TO (RFC 5321 §4.1.1.3) after trimail's own routing accepted it.

    Called for each such RCPT command, in a worker thread (greylisting belongs here:
    it sees the whole triplet). Every implementation runs; the first Reject is used.

    Args:
        session: connection state.
        envelope: the transaction so far (recipients accepted before this one).
        forward_path: the recipient being judged.

    Returns:
        A Reject (its reply answers this RCPT only), or None to accept.

    .. versionadded:: 1.0
    """


# -- message filters (the MDA step) ----------------------------------------------------


@hookspec
def trimail_message_filter(
    session: SessionInfo,
    envelope: Envelope,
    message: bytes,
    config: Config,
    resolver: Resolver,
    queue_id: str,
) -> MessageVerdict | None:
    """Look at a received message before it is stored (after DATA / BDAT LAST).

    Called once per message (not per recipient) in a worker thread, so it may do
    blocking work (DNS, CPU-heavy checks); it must be thread-safe. Every
    implementation runs; any Reject refuses the message for all recipients (the first
    one's reply is sent); ``add_headers`` from all are prepended, in call order.

    Args:
        session: connection state.
        envelope: reverse-path, accepted forward-paths and parameters.
        message: the message as received (RFC 5322 bytes, CRLF line ends), without
            the trace header fields trimail prepends.
        config: the server configuration.
        resolver: the server's DNS resolver for this thread
            (`trimail.mailauth.resolver.Resolver`: cached, with the configured name
            servers and timeouts; raises TempError on DNS trouble).
        queue_id: the message's id, as in its Received field and the 250 reply
            (hex; for log lines that tie a verdict to the message).

    Returns:
        A `trimail.verdicts.MessageVerdict`, or None for "no opinion".

    .. versionadded:: 1.0
    """


@hookspec(firstresult=True)
def trimail_local_delivery(
    session: SessionInfo,
    envelope: Envelope,
    forward_path: Mailbox,
    address: str,
    account_id: str,
    message: bytes,
    mailbox_name: str,
) -> DeliveryVerdict | None:
    """Decide what becomes of one local user's copy: the per-user filter step
    (Sieve, RFC 5228, belongs here).

    Called once per local account of a received message, after the message filters
    accepted it, in a worker thread, and for queued mail to local users (DSNs, a
    plugin's outbox messages, Sieve redirects; ``session.listener`` is
    ``"internal"``, and the message filters did not run for those). Every account
    of an alias, or several RCPTs to the same user, get one call each (per account,
    not per RCPT). Stops at the first non-None result: one plugin decides for a user.

    Args:
        session: connection state.
        envelope: reverse-path, all forward-paths, parameters.
        forward_path: the RCPT TO path that reached this account (Sieve's envelope
            "to"; for an alias, the alias).
        address: the user's own address (``local@domain``, lower-case domain).
        account_id: the user's account id (hex; safe in a file name).
        message: the message as it will be stored: trace fields (Return-Path,
            Received) and filters' fields (Authentication-Results, spam headers) on
            top, CRLF line ends.
        mailbox_name: where the message filters would store it (``INBOX`` or e.g.
            ``Junk``): the implicit keep.

    Returns:
        A `trimail.verdicts.DeliveryVerdict` (file into mailboxes with flags,
        discard, or reject this user's copy), or None for the implicit keep.

    .. versionadded:: 1.0
    """


# -- delivery (outbound) ---------------------------------------------------------------


@hookspec(firstresult=True)
def trimail_outbound_route(domain: str, envelope: Envelope, config: Config) -> str | None:
    """Choose the next hop for a remote domain before trimail's own routing
    (``[outbound] transports``, then ``relayhost``, then MX records; RFC 5321 §5.1).

    Called once per delivery attempt and destination domain, in a worker thread.
    Stops at the first non-None result.

    Args:
        domain: the recipients' domain (lower case; IDNs as A-labels).
        envelope: the queued message's reverse-path (e.g. to route by sender) and
            parameters; its forward-paths are the recipients in *domain*.
        config: the server configuration.

    Returns:
        A destination in the syntax of ``[outbound] transports`` (``host``,
        ``host:port`` with MX lookup of *host*, ``[host]:port`` without), or None
        to let trimail route.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_outbound_headers(
    envelope: Envelope, message: bytes, config: Config
) -> list[str] | None:
    """Header fields to put on a message before it goes into the outbound queue: the
    DKIM signing hook point (RFC 6376 §5), or any header a relay adds.

    Called once per queued message (not per recipient), in a worker thread, after
    the message filters and the trace fields; the message is final apart from these
    fields, so a signature over it stays valid. Every implementation runs; the fields
    of all are prepended, in call order.

    Args:
        envelope: reverse-path, forward-paths and parameters of the queued copy.
        message: the message as it will be sent (RFC 5322 bytes, CRLF line ends).
        config: the server configuration.

    Returns:
        Complete header fields (``"Name: value"``, folded lines joined with CRLF and
        a space or tab; no trailing CRLF), or None.

    .. versionadded:: 1.0
    """


@hookspec
def trimail_queue_event(event: QueueEvent) -> None:
    """Learn what happened to queued mail (for logs, metrics, webhooks).

    Called in a worker thread after the queue changed: a message was queued (one
    event per message), and after each delivery attempt one event per recipient
    (delivered, deferred, failed, or expired when the give-up age passed). Every
    implementation runs; results are ignored, and an exception or timeout is logged
    and never changes what the queue does.

    Args:
        event: a `trimail.plugins.QueueEvent`.

    .. versionadded:: 1.0
    """
