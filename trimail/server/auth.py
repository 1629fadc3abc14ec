"""Password logins against the user database, and where they are allowed.

Until TLS lands, logins are accepted only from loopback clients: a password must never
cross a network in clear text (RFC 8314 §3, RFC 2595 §2).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Protocol

import trio

from trimail.plugins import hookimpl
from trimail.users.db import UserDatabase, UserDatabaseError, UserInfo, normalize_address
from trimail.users.passwords import verify_password

if TYPE_CHECKING:
    from trimail.config.model import Config

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
