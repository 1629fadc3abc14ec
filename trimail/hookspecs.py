"""Hook specifications: the plugin API of trimail (pluggy project name ``trimail``).

Hooks are synchronous (never ``async def``): a hook that needs I/O returns an object
with ``async`` methods. Call sites always pass keyword arguments, so an implementation
may accept any subset of them. Grouped by lifecycle phase.

Errors: an envelope hook (connect, HELO, MAIL, RCPT) or message filter that raises
gets the client a 451 4.3.0 tempfail (it keeps the message and tries again) and the
traceback goes to the log; the server and the session go on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from trimail.config.model import Config
    from trimail.mail.address import Mailbox, ReversePath
    from trimail.mail.envelope import Envelope
    from trimail.mailauth.resolver import Resolver
    from trimail.server.auth import AuthBackend
    from trimail.server.session_info import SessionInfo
    from trimail.storage.api import MailStore
    from trimail.users.db import UserDatabase
    from trimail.verdicts import MessageVerdict, Reject

hookspec = pluggy.HookspecMarker("trimail")

# -- start-up ------------------------------------------------------------------------


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

    .. versionadded:: 0.1
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

    .. versionadded:: 0.1
    .. versionchanged:: 0.1
        optional ``scram_credentials`` for SCRAM-SHA-256.
    """


# -- connection and envelope filters (SMTP) --------------------------------------------


@hookspec
def trimail_smtp_connect(session: SessionInfo) -> Reject | None:
    """Judge a new SMTP connection before the greeting.

    Called once per connection, on the event loop: keep it fast (no blocking I/O).
    Every implementation runs; the first Reject (in pluggy call order) is used: the
    client is greeted with its reply (554 is usual, RFC 5321 §3.1) and disconnected.

    Args:
        session: the peer address, listener name and TLS/auth state.

    Returns:
        A `trimail.verdicts.Reject`, or None to accept.

    .. versionadded:: 0.1
    """


@hookspec
def trimail_smtp_helo(session: SessionInfo, helo_identity: str) -> Reject | None:
    """Judge the HELO/EHLO argument (RFC 5321 §4.1.1.1, RFC 7208 §2.3).

    Returns:
        A Reject (its reply answers the HELO/EHLO), or None to accept.

    .. versionadded:: 0.1
    """


@hookspec
def trimail_smtp_mail_from(
    session: SessionInfo, reverse_path: ReversePath, parameters: tuple[tuple[str, str | None], ...]
) -> Reject | None:
    """Judge MAIL FROM (RFC 5321 §4.1.1.2). ``reverse_path`` is NULL_PATH for ``<>``.

    Returns:
        A Reject (its reply answers MAIL), or None to accept.

    .. versionadded:: 0.1
    """


@hookspec
def trimail_smtp_rcpt_to(
    session: SessionInfo, envelope: Envelope, forward_path: Mailbox
) -> Reject | None:
    """Judge RCPT TO (RFC 5321 §4.1.1.3) after trimail's own routing accepted it.

    Args:
        session: connection state.
        envelope: the transaction so far (recipients accepted before this one).
        forward_path: the recipient being judged.

    Returns:
        A Reject (its reply answers this RCPT only), or None to accept.

    .. versionadded:: 0.1
    """


# -- message filters (the MDA step) ----------------------------------------------------


@hookspec
def trimail_message_filter(
    session: SessionInfo, envelope: Envelope, message: bytes, config: Config, resolver: Resolver
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

    Returns:
        A `trimail.verdicts.MessageVerdict`, or None for "no opinion".

    .. versionadded:: 0.1
    .. versionchanged:: 0.1
        ``config`` and ``resolver`` arguments.
    """


# -- delivery (outbound) ---------------------------------------------------------------


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

    .. versionadded:: 0.1
    """
