"""Password logins against the user database, and where they are allowed.

Until TLS lands, logins are accepted only from loopback clients: a password must never
cross a network in clear text (RFC 8314 §3, RFC 2595 §2).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Protocol

import trio

from trimail.plugins import hookimpl
from trimail.users.db import UserDatabase, UserDatabaseError, UserInfo, normalize_address
from trimail.users.passwords import verify_password

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
