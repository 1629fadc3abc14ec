"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

MIN_PASSWORD_CHARS = 8


def hash_password(password: str) -> str:
    """Hash *password* for storage. Takes ~50 ms of CPU: call it off the event loop.

    Raises:
        ValueError: the password is shorter than `MIN_PASSWORD_CHARS`.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if *password* matches *password_hash*; False for a mismatch or a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
