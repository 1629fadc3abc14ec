"""What is stored for a password: an argon2id hash (argon2-cffi's defaults, RFC 9106
parameters) for PLAIN, LOGIN, USER/PASS and IMAP LOGIN, and salted SCRAM-SHA-256 keys
(RFC 5802 §3, RFC 7677) for SCRAM. Neither gives the password back.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trimail.sasl import ScramCredentials, derive_credentials

_hasher = PasswordHasher()

MIN_PASSWORD_CHARS = 8
SCRAM_ITERATIONS = 10_000  # PBKDF2 rounds; RFC 7677 §4: at least 4096. Clients pay it too.
SCRAM_SALT_BYTES = 16  # RFC 5802 §5.1 asks for a random per-user salt


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


def scram_credentials(password: str) -> ScramCredentials:
    """Derive SCRAM-SHA-256 keys for *password* with a fresh random salt (RFC 5802 §3).

    ``SCRAM_ITERATIONS`` rounds of PBKDF2 (a few milliseconds of CPU).

    Raises:
        ValueError: SASLprep (RFC 4013) refuses the password (control or private-use
            characters); such a password can still be used with PLAIN.
    """
    return derive_credentials(password, secrets.token_bytes(SCRAM_SALT_BYTES), SCRAM_ITERATIONS)
