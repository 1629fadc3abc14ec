"""Logins against the auth backend (the user database by default), and where they are
allowed.

Password mechanisms (PLAIN, LOGIN, SCRAM-SHA-256, USER/PASS, IMAP LOGIN) are offered and
accepted only over TLS or from loopback clients: a password, or what an eavesdropper
could attack offline, must never cross a network in clear text (RFC 8314 §3, RFC 2595
§2). Every failed attempt, whatever the mechanism, goes through the same `LoginThrottle`.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import trio

from trimail.plugins import hookimpl
from trimail.sasl import (
    SCRAM_SHA_256,
    SaslError,
    SaslStateError,
    ScramCredentials,
    ScramServer,
    fake_credentials,
)
from trimail.users.db import UserDatabase, UserDatabaseError, UserInfo, normalize_address
from trimail.users.passwords import SCRAM_ITERATIONS, SCRAM_SALT_BYTES, verify_password

if TYPE_CHECKING:
    from trimail.config.model import Config
    from trimail.server.throttle import LoginThrottle

log = logging.getLogger("trimail.auth")

# Compared against when the user does not exist, so that the time taken does not tell
# whether an address has an account.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$3WR41zgCsdLBiEu5pw5Dng$"
    "DfNMdOfB2EKxyMRa7h1dvqZmT1/e0YL0sihL3HTldo4"
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def login_allowed(*, peer_host: str, tls: bool) -> bool:
    """Whether a password login may be offered to this client (TLS or loopback)."""
    return tls or is_loopback(peer_host)


def check_password(users: UserDatabase, username: str, password: str) -> UserInfo | None:
    """Verify a login; blocking (argon2 takes ~50 ms of CPU): run it in a thread.

    Args:
        users: the user database.
        username: the full address, ``user@domain`` (any case).
        password: as the client sent it.

    Returns:
        The user, or None for an unknown user or a wrong password (not told apart).
    """
    try:
        address = normalize_address(username)
    except UserDatabaseError:
        address = ""
    stored = users.password_hash(address) if address else None
    ok = verify_password(stored or _DUMMY_HASH, password)
    if not ok or stored is None:
        return None
    return users.find_user(address)


class AuthBackend(Protocol):
    """What `trimail.hookspecs.trimail_auth_backend` returns."""

    async def verify(self, username: str, password: str) -> str | None:
        """The authenticated user's address, or None (unknown user or wrong password)."""
        ...


@runtime_checkable
class ScramBackend(AuthBackend, Protocol):
    """An `AuthBackend` that can also serve SCRAM-SHA-256 (RFC 5802, RFC 7677).

    Optional: SCRAM-SHA-256 is offered only when the configured backend has
    ``scram_credentials``; other backends get PLAIN and LOGIN only.
    """

    async def scram_credentials(self, username: str) -> tuple[str, ScramCredentials] | None:
        """The user's address and stored SCRAM keys, or None.

        None for an unknown user and for a user without SCRAM keys alike: the server
        then goes on with made-up keys, so the exchange fails like a wrong password.
        """
        ...


def supports_scram(auth: AuthBackend) -> bool:
    """True if *auth* has ``scram_credentials`` (see `ScramBackend`)."""
    return callable(getattr(auth, "scram_credentials", None))


def sasl_mechanisms(auth: AuthBackend, *password_mechanisms: str) -> tuple[str, ...]:
    """The SASL mechanisms to offer where passwords are allowed (TLS or loopback).

    Args:
        auth: the configured backend; SCRAM-SHA-256 is added when it supports it.
        password_mechanisms: what the protocol offers anyway, e.g. ``"PLAIN", "LOGIN"``.
    """
    return (*password_mechanisms, SCRAM_SHA_256) if supports_scram(auth) else password_mechanisms


class UserDatabaseBackend:
    """The built-in backend: argon2id hashes in the user database, checked in a thread.

    Args:
        users: the user database.
    """

    def __init__(self, users: UserDatabase) -> None:
        self.users = users

    async def verify(self, username: str, password: str) -> str | None:
        """See `AuthBackend.verify`; takes ~50 ms of CPU off the event loop."""
        user = await trio.to_thread.run_sync(check_password, self.users, username, password)
        return None if user is None else user.address

    async def scram_credentials(self, username: str) -> tuple[str, ScramCredentials] | None:
        """See `ScramBackend.scram_credentials`; one indexed read, in a thread."""

        def lookup() -> tuple[str, ScramCredentials] | None:
            user = self.users.find_user(username)
            keys = None if user is None else self.users.scram_credentials(user.address)
            return None if user is None or keys is None else (user.address, keys)

        return await trio.to_thread.run_sync(lookup)


@hookimpl(trylast=True)
def trimail_auth_backend(config: Config, users: UserDatabase) -> UserDatabaseBackend:
    """Provide the built-in backend."""
    return UserDatabaseBackend(users)


class LoginBlocked(Exception):
    """Too many failed logins for this address or user name: refuse without checking."""


async def throttled_login(
    *,
    auth: AuthBackend,
    throttle: LoginThrottle,
    users: UserDatabase,
    peer_host: str,
    username: str,
    password: str,
    protocol: str,
) -> UserInfo | None:
    """Check a login through the auth backend, with failed-login throttling.

    A failure is answered only after the throttle's delay; a success forgets the user
    name's failures. Logs the attempt and outcome, never the password.

    Args:
        protocol: for the log, e.g. ``"POP3"`` or ``"SMTP AUTH"``.

    Returns:
        The local user, or None (unknown user, wrong password, or no local mailbox).

    Raises:
        LoginBlocked: the address or the user name is blocked for now.
    """
    if throttle.blocked(peer_host, username):
        log.warning("%s: %s login for %r refused: too many failures", peer_host, protocol, username)
        raise LoginBlocked
    address = await auth.verify(username, password)
    user = None if address is None else users.find_user(address)
    if user is None:
        log.info("%s: %s login failed for %r", peer_host, protocol, username)
        await trio.sleep(throttle.failed(peer_host, username))
        return None
    throttle.succeeded(peer_host, username)
    log.info("%s: %s login as %s", peer_host, protocol, user.address)
    return user


class ScramLogin:
    """One SCRAM-SHA-256 login on the server side, for any protocol's session.

    Wraps `trimail.sasl.ScramServer` with the backend lookup, made-up keys for unknown
    users (RFC 5802 §9), the failed-login throttle and the logs. Feed it each client
    message, base64-decoded, and send what `step` returns as the protocol's challenge
    (SMTP ``334``, IMAP and POP3 ``+``), until it returns a user or None::

        C: client-first-message  -> step() -> server-first-message
        C: client-final-message  -> step() -> server-final-message (or None: failed)
        C: (empty response)      -> step() -> the UserInfo: logged in

    The server-final-message ``v=...`` goes out as one more challenge whose answer must
    be empty: SMTP (RFC 4954 §4), IMAP (RFC 3501 §6.2.2) and POP3 (RFC 5034 §4) have
    no room for it in their success reply.

    Args:
        auth: the backend; must support `ScramBackend.scram_credentials`.
        throttle: failed-login delays and blocks (shared with password logins).
        users: the user database (authenticated address -> local user; the secret
            for made-up keys).
        peer_host: the client's address, for the throttle and the logs.
        protocol: for the logs, e.g. ``"IMAP AUTHENTICATE"``.
        nonce: the server nonce; by default 24 random printable characters from
            `secrets` (RFC 5802 §5.1 ``r=``). Tests pass a fixed one.
    """

    def __init__(
        self,
        *,
        auth: AuthBackend,
        throttle: LoginThrottle,
        users: UserDatabase,
        peer_host: str,
        protocol: str,
        nonce: str | None = None,
    ) -> None:
        if not isinstance(auth, ScramBackend):
            raise TypeError(f"{type(auth).__name__} has no scram_credentials()")
        self._auth = auth
        self._throttle = throttle
        self._users = users
        self._peer_host = peer_host
        self._protocol = protocol
        self._server = ScramServer(nonce or secrets.token_urlsafe(18))
        self._username = ""
        self._address: str | None = None
        self._user: UserInfo | None = None
        self._steps = 0

    async def step(self, data: bytes) -> bytes | UserInfo | None:
        """Take the client's next message, already base64-decoded.

        Returns:
            Bytes: the next challenge to send. A `UserInfo`: the client is logged in.
            None: the client-final-message failed (wrong password, unknown user, user
            without keys, or malformed; not told apart), counted as a failed login and
            returned only after the throttle's delay; the exchange is over.

        Raises:
            SaslError: a malformed client-first-message, an authorization identity
                other than the user, or a non-empty answer to the server-final-message.
                Not counted as a failed login; the exchange is over.
            LoginBlocked: too many failures for this address or user name.
            SaslStateError: called again after the exchange ended.
        """
        self._steps += 1
        if self._steps == 1:
            return await self._first(data)
        if self._steps == 2:
            return await self._final(data)
        if self._steps == 3 and self._user is not None:
            if data:  # RFC 5802 §5: nothing follows the server-final-message
                raise SaslError("unexpected data after the server-final-message")
            return self._user
        raise SaslStateError("SCRAM exchange already over")

    async def _first(self, data: bytes) -> bytes:
        username, authzid = self._server.first(data)
        if authzid and authzid.lower() != username.lower():
            raise SaslError("authorization identity differs from the user")
        self._username = username
        if self._throttle.blocked(self._peer_host, username):
            log.warning(
                "%s: %s login for %r refused: too many failures",
                self._peer_host,
                self._protocol,
                username,
            )
            raise LoginBlocked
        found = await self._auth.scram_credentials(username)
        if found is None:  # unknown, or no keys: carry on with keys no proof matches
            keys = fake_credentials(
                self._users.scram_secret,
                _lookup_name(username),
                SCRAM_ITERATIONS,
                salt_bytes=SCRAM_SALT_BYTES,
            )
        else:
            self._address, keys = found
        return self._server.challenge(keys)

    async def _final(self, data: bytes) -> bytes | None:
        peer, username, protocol = self._peer_host, self._username, self._protocol
        if self._throttle.blocked(peer, username):  # failures while this one ran
            raise LoginBlocked
        try:
            server_final = self._server.final(data)
        except SaslError:
            server_final = None
        user = None
        if server_final is not None and self._address is not None:
            user = self._users.find_user(self._address)
        if user is None:
            log.info("%s: %s SCRAM login failed for %r", peer, protocol, username)
            await trio.sleep(self._throttle.failed(peer, username))
            return None
        self._throttle.succeeded(peer, username)
        log.info("%s: %s login as %s (SCRAM-SHA-256)", peer, protocol, user.address)
        self._user = user
        return server_final


def _lookup_name(username: str) -> str:
    """*username* as the user database looks it up, so case variants share fake keys."""
    try:
        return normalize_address(username)
    except UserDatabaseError:
        return username.strip().lower()
